"""The working folder of a local run and the environment its processes see.

Everything a run writes stays in its working folder: Jupyter's runtime files and kernel spec,
IPython's profile, matplotlib's cache, temporary files and Spark's scratch space. The user's home
is neither read for configuration nor written to, and removing the folder removes every trace.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from atmo_provider.local.spark import DEFAULT_DRIVER_MEMORY, LOOPBACK

__all__ = ["KERNEL_NAME", "RunFolder"]

#: The kernel name papermill is asked for. The kernel spec of that name in the run's own Jupyter
#: path runs this Python (``sys.executable``), so a ``python3`` kernel registered elsewhere on
#: the machine, for another Python, is never picked.
KERNEL_NAME = "python3"


@dataclass(frozen=True)
class RunFolder:
    """The layout of a run's working folder.

    :param root: the folder; created with its subfolders by :meth:`create`.
    """

    root: Path

    @property
    def output_dir(self) -> Path:
        """Where the notebook writes its result files; each one is uploaded."""
        return self.root / "output"

    @property
    def executed_dir(self) -> Path:
        """Where papermill writes the executed notebook, cell by cell."""
        return self.root / "executed"

    @property
    def notebook_cwd(self) -> Path:
        """The notebook's working directory: scratch files written there are not uploaded."""
        return self.root / "cwd"

    @property
    def parameters_file(self) -> Path:
        """The YAML file of the parameters papermill injects."""
        return self.root / "parameters.yaml"

    @property
    def log_file(self) -> Path:
        """What papermill, the kernel and Spark printed."""
        return self.root / "papermill.log"

    @property
    def jupyter_dir(self) -> Path:
        """Jupyter's data, runtime and configuration folders, and the kernel spec."""
        return self.root / "jupyter"

    def create(self) -> RunFolder:
        """Create the folder layout and the kernel spec; return ``self``.

        Output and executed notebook of an earlier run in the same folder are removed first,
        so that they cannot be uploaded as this run's results.
        """
        for stale in (self.output_dir, self.executed_dir):
            if stale.exists():
                shutil.rmtree(stale)
        for folder in (
            self.output_dir,
            self.executed_dir,
            self.notebook_cwd,
            self.jupyter_dir / "runtime",
            self.jupyter_dir / "config",
            self.root / "ipython",
            self.root / "matplotlib",
            self.root / "tmp",
            self.root / "spark-local",
        ):
            folder.mkdir(parents=True, exist_ok=True)
        self._write_kernel_spec()
        return self

    def _write_kernel_spec(self) -> None:
        spec_dir = self.jupyter_dir / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True, exist_ok=True)
        # Output written straight to the file descriptors (the JVM's log) goes to papermill's
        # output, which the runner relays to the task log; capturing it into the notebook as
        # well would log each of those lines twice.
        spec = {
            "argv": [
                sys.executable,
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}",
                "--IPKernelApp.capture_fd_output=False",
            ],
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "metadata": {"debugger": False},
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")

    def child_environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Return the environment of papermill and, through it, of the kernel and Spark.

        :param base: the environment to start from; this process's environment by default.
        """
        source = os.environ if base is None else base
        # Airflow's settings, connections and variables are the worker's, not the notebook's.
        # Limitation: this is no sandbox; the notebook runs as the worker's user and can read
        # whatever that user can read.
        env = {
            name: value
            for name, value in source.items()
            if not name.startswith(("AIRFLOW", "_AIRFLOW"))
        }
        env.update(
            {
                # Our folder comes first in Jupyter's search path, so our kernel spec wins.
                "JUPYTER_PATH": str(self.jupyter_dir),
                "JUPYTER_DATA_DIR": str(self.jupyter_dir),
                "JUPYTER_RUNTIME_DIR": str(self.jupyter_dir / "runtime"),
                "JUPYTER_CONFIG_DIR": str(self.jupyter_dir / "config"),
                "JUPYTER_PLATFORM_DIRS": "1",
                "IPYTHONDIR": str(self.root / "ipython"),
                "MPLCONFIGDIR": str(self.root / "matplotlib"),
                "MPLBACKEND": "Agg",
                "TMPDIR": str(self.root / "tmp"),
                "SPARK_LOCAL_DIRS": str(self.root / "spark-local"),
                "SPARK_LOCAL_IP": LOOPBACK,
                # Read by PySpark when it starts the driver JVM, and placed after a session
                # builder's own settings, so a notebook that builds its session without
                # get_spark() still runs locally, on the loopback interface, without a web UI.
                "PYSPARK_SUBMIT_ARGS": " ".join(
                    [
                        "--master 'local[*]'",
                        f"--driver-memory {DEFAULT_DRIVER_MEMORY}",
                        f"--conf spark.driver.host={LOOPBACK}",
                        f"--conf spark.driver.bindAddress={LOOPBACK}",
                        "--conf spark.ui.enabled=false",
                        "pyspark-shell",
                    ]
                ),
                "PYSPARK_PYTHON": sys.executable,
                "PYSPARK_DRIVER_PYTHON": sys.executable,
                "PYTHONUNBUFFERED": "1",
            }
        )
        # A gateway of a Spark session in this process must not be shared with the notebook.
        env.pop("PYSPARK_GATEWAY_PORT", None)
        env.pop("PYSPARK_GATEWAY_SECRET", None)
        return env
