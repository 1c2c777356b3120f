"""The local execution backend: a Spark job's notebook run on this machine with papermill.

:func:`run_notebook_locally` runs the notebook and stores its results where an EMR run would;
notebooks get their Spark session from :func:`atmo_provider.local.spark.get_spark`.
"""

from __future__ import annotations

from atmo_provider.local.runner import LocalRunFailed, LocalRunResult, run_notebook_locally

__all__ = ["LocalRunFailed", "LocalRunResult", "run_notebook_locally"]
