"""The Spark job operator's local backend (``[atmo] execution = local``).

The notebook runs on the worker with papermill and local PySpark
(:mod:`atmo_provider.local`), so the task holds its worker slot until the notebook ends: a local
run cannot defer. Its results go where an EMR run puts them, and the operator returns the same
shape of result as on EMR.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

    from atmo_provider.operators.spark_job import AtmoSparkJobOperator

__all__ = ["OUTCOME_XCOM_KEY", "run_locally"]

#: XCom key of a local run's outcome, pushed before the task fails so the run record gets it.
OUTCOME_XCOM_KEY = "atmo_local_outcome"


def _download_notebook(operator: AtmoSparkJobOperator, folder: Path) -> Path:
    from atmo_provider.aws.clients import s3_client
    from atmo_provider.aws.retry import call_with_backoff
    from atmo_provider.aws.s3 import parse_s3_uri

    bucket, key = parse_s3_uri(operator.notebook_uri)
    target = folder / PurePosixPath(key).name
    provisioner = operator.provisioner
    client = s3_client(provisioner.aws_conn_id, provisioner.settings.region_name)

    call_with_backoff(
        client.download_file,
        bucket,
        key,
        str(target),
        description=f"downloading notebook {operator.notebook_uri}",
    )
    return target


def run_locally(
    operator: AtmoSparkJobOperator, context: Context, run_date: Any, cancel: threading.Event
) -> dict[str, Any]:
    """Run the operator's notebook here and return ``{"job_flow_id", "step_id", "results_uri"}``.

    ``job_flow_id`` and ``step_id`` are ``None``: no cluster is involved.

    :param operator: the Spark job operator, for its job and settings.
    :param context: the task's context.
    :param run_date: the date naming the results folder.
    :param cancel: set by the operator's ``on_kill`` to stop the notebook and its processes.
    """
    from atmo_provider.local.runner import LocalRunFailed, run_notebook_locally

    settings = operator.provisioner.settings
    bucket = settings.results_bucket(operator.result_visibility)

    with tempfile.TemporaryDirectory(prefix=f"atmo-{operator.identifier}-") as workdir:
        notebook = _download_notebook(operator, Path(workdir))
        operator.log.info(
            "Running notebook %s of Spark job %s on this worker (execution = local)",
            operator.notebook_uri,
            operator.identifier,
        )
        result = run_notebook_locally(
            identifier=operator.identifier,
            notebook_path=notebook,
            run_date=run_date,
            result_bucket=bucket,
            job_timeout_hours=float(operator.job_timeout),
            aws_conn_id=operator.provisioner.aws_conn_id,
            workdir=Path(workdir) / "run",
            cancel=cancel,
        )

    outcome = {
        "status": result.status,
        "reason": result.reason,
        "results_uri": result.results_uri,
        "uploaded_keys": list(result.uploaded_keys),
        "duration_seconds": result.duration_seconds,
    }
    context["ti"].xcom_push(key=OUTCOME_XCOM_KEY, value=outcome)

    if not result.succeeded:
        raise LocalRunFailed(result)

    operator.log.info(
        "Spark job %s ran locally in %.0f s; %d result files in %s",
        operator.identifier,
        result.duration_seconds,
        len(result.uploaded_keys),
        result.results_uri,
    )
    return {"job_flow_id": None, "step_id": None, "results_uri": result.results_uri}
