"""What importing ``atmo_provider.operators`` adds to ``import airflow.sdk``, as every DAG pays.

Each sample is a fresh interpreter that imports ``airflow.sdk`` and then, timed on its own,
the second import, in CPU time of the process (the other load on a shared machine inflates it
much less than wall time). ``atmo_provider.operators`` itself is an empty package, so the timed
import takes its operator modules and the cluster sensor too. A baseline sample times
``PythonOperator`` of the standard provider after ``airflow.sdk`` (an import most DAG files
make anyway) for reference; the two kinds of samples alternate and medians are compared.
"""

from __future__ import annotations

import json
import sys

from benchmarks import main, median, row, run_python

__all__ = ["run"]

NAME = "import"

#: Interpreters per variant, by size.
REPEATS = {"smoke": 3, "full": 8}

_TIMED = """
import json, sys, time
w0, c0 = time.perf_counter(), time.process_time()
import airflow.sdk
w1, c1 = time.perf_counter(), time.process_time()
{second}
w2, c2 = time.perf_counter(), time.process_time()
heavy = sorted(m for m in ("boto3", "botocore", "pandas", "pyspark") if m in sys.modules)
print(json.dumps({{"sdk": c1 - c0, "extra": c2 - c1, "extra_wall": w2 - w1, "heavy": heavy}}))
"""

#: The package itself is empty; what a DAG imports are its modules, so all of them are timed.
_OURS = (
    "import atmo_provider.operators, atmo_provider.operators.cluster, "
    "atmo_provider.operators.spark_job, atmo_provider.operators.local_run, "
    "atmo_provider.sensors.cluster"
)
_BASELINE = "from airflow.providers.standard.operators.python import PythonOperator"


def _sample(second: str) -> dict:
    return json.loads(
        run_python(_TIMED.format(second=second), timeout=120).strip().splitlines()[-1]
    )


def run(size: str) -> list[dict]:
    """Measure the extra import time of the operators; return the rows.

    :param size: ``smoke`` or ``full``.
    """
    ours, ours_wall, baseline, sdk, heavy = [], [], [], [], set()
    for _ in range(REPEATS[size]):
        sample = _sample(_OURS)
        ours.append(sample["extra"] * 1000)
        ours_wall.append(sample["extra_wall"] * 1000)
        sdk.append(sample["sdk"] * 1000)
        heavy.update(sample["heavy"])
        baseline.append(_sample(_BASELINE)["extra"] * 1000)

    extra = median(ours)
    rows = [
        row(
            NAME,
            "import atmo_provider.operators (+ modules) after airflow.sdk, CPU ms (median)",
            extra,
            median(baseline),
            "ours < 50 ms",
            extra < 50,
            f"{len(ours)} fresh interpreters each, interleaved; process CPU time (wall "
            f"median {median(ours_wall):.0f} ms on a loaded machine); modules: operators.cluster,"
            f" spark_job, local_run, sensors.cluster; peer = PythonOperator after airflow.sdk "
            f"(reference, no target); airflow.sdk itself {median(sdk):.0f} CPU ms",
        ),
        row(
            NAME,
            "heavy modules loaded by import atmo_provider.operators",
            float(len(heavy)),
            None,
            "none of boto3, botocore, pandas, pyspark",
            not heavy,
            ", ".join(sorted(heavy)) or "none loaded",
        ),
    ]
    return rows


if __name__ == "__main__":
    sys.exit(main(run))
