"""Run a Spark job's notebook on this machine, as the local execution backend does.

Papermill executes the notebook on a Jupyter kernel of this Python environment, in a process
group of its own; the notebook gets a local Spark session from
:func:`atmo_provider.local.spark.get_spark`, whose driver is a JVM started by the kernel. The
executed notebook and every file the notebook wrote to its ``output_dir`` are then stored under
``s3://<results bucket>/<identifier>/<run date>/``, where an EMR run puts its results.

A local run holds its worker slot for as long as the notebook runs: it cannot defer to the
triggerer the way the EMR path waits for its cluster, because the work happens in this worker.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atmo_provider.local.environment import RunFolder
from atmo_provider.local.execution import PapermillExecution
from atmo_provider.local.failures import find_failed_cell
from atmo_provider.local.results import (
    ResultUploader,
    format_run_date,
    iter_result_files,
    result_prefix,
)

__all__ = ["LocalRunFailed", "LocalRunResult", "format_hours", "run_notebook_locally"]

log = logging.getLogger(__name__)

#: Names papermill injects that ``extra_parameters`` may not replace.
RESERVED_PARAMETERS = frozenset(
    {"identifier", "run_date", "result_bucket", "result_prefix", "output_dir"}
)


@dataclass(frozen=True)
class LocalRunResult:
    """What became of a local run.

    :param status: ``success``, ``failed`` or ``timed_out``.
    :param reason: why the run did not succeed, ``None`` when it did.
    :param results_uri: ``s3://<bucket>/<identifier>/<run date>/``.
    :param uploaded_keys: the keys stored under the results bucket, executed notebook included.
    :param duration_seconds: wall time from the start of papermill to the end of the uploads.
    :param peak_memory_bytes: the largest resident memory of papermill, the kernel and the JVM
        together, sampled twice a second; ``None`` when no sample was taken.
    """

    status: str
    reason: str | None
    results_uri: str
    uploaded_keys: tuple[str, ...]
    duration_seconds: float
    peak_memory_bytes: int | None = None

    @property
    def succeeded(self) -> bool:
        """Whether the notebook ran to its end and its results are stored."""
        return self.status == "success"

    def raise_for_status(self) -> None:
        """Raise :class:`LocalRunFailed` unless the run succeeded."""
        if not self.succeeded:
            raise LocalRunFailed(self)


class LocalRunFailed(RuntimeError):
    """A local run failed or timed out.

    :param result: the run's result; its ``reason`` is the message.
    """

    def __init__(self, result: LocalRunResult) -> None:
        super().__init__(result.reason or f"local run ended with status {result.status}")
        self.result = result


def format_hours(hours: float) -> str:
    """Write a duration given in hours for a sentence: "1 hour", "0.001 hours (3.6 seconds)".

    :param hours: the duration, in hours.
    """
    number = f"{hours:.6f}".rstrip("0").rstrip(".")
    text = f"{number} hour" if hours == 1 else f"{number} hours"
    if hours < 1:
        minutes = hours * 60
        if minutes >= 1:
            text += f" ({minutes:.4g} minutes)"
        else:
            text += f" ({minutes * 60:.4g} seconds)"
    return text


def _check_arguments(identifier: str, job_timeout_hours: float, extra: dict[str, Any]) -> None:
    if not identifier or "/" in identifier:
        raise ValueError(f"identifier must be a non-empty name without '/', got {identifier!r}")
    if not job_timeout_hours > 0:
        raise ValueError(f"job_timeout_hours must be a positive number, got {job_timeout_hours}")
    clash = sorted(RESERVED_PARAMETERS & set(extra))
    if clash:
        raise ValueError(
            f"extra_parameters may not set {', '.join(clash)}: the runner injects "
            f"{', '.join(sorted(RESERVED_PARAMETERS))} itself"
        )


def _write_parameters(folder: RunFolder, parameters: dict[str, Any]) -> None:
    import yaml

    folder.parameters_file.write_text(yaml.safe_dump(parameters), encoding="utf-8")


def _failure_reason(outcome: str, code: int, executed: Path, tail, timeout_hours: float) -> str:
    if outcome == "timed_out":
        return f"timed out after {format_hours(timeout_hours)}"
    if outcome == "cancelled":
        return "stopped before the notebook finished: the task was killed"

    failure = find_failed_cell(executed)
    if failure is not None:
        return failure.describe()

    last = next((line.strip() for line in reversed(tail) if line.strip()), "no output")
    return (
        f"papermill exited with code {code} before any cell failed: {last} "
        "(its whole output is in the task log)"
    )


def run_notebook_locally(
    *,
    identifier: str,
    notebook_path: str | Path,
    run_date: str | dt.date | dt.datetime,
    result_bucket: str,
    job_timeout_hours: float,
    aws_conn_id: str | None,
    workdir: str | Path | None = None,
    extra_parameters: dict[str, Any] | None = None,
    cancel: threading.Event | None = None,
) -> LocalRunResult:
    """Execute a job's notebook here and store its results in the results bucket.

    The notebook gets the parameters ``identifier``, ``run_date`` (as in the result keys),
    ``result_bucket``, ``result_prefix`` (``<identifier>/<run date>/``) and ``output_dir`` (a
    fresh local folder; every file written there is uploaded), plus ``extra_parameters``.

    After a failure or a timeout the executed notebook, as far as it ran, and the files already
    in ``output_dir`` are uploaded all the same, so that the output of the cells is not lost.

    :param identifier: the job's identifier.
    :param notebook_path: the local notebook file.
    :param run_date: the run's logical date; a date or datetime is written ``YYYY-MM-DD``.
    :param result_bucket: the public or private results bucket.
    :param job_timeout_hours: how long the notebook may run, in hours.
    :param aws_conn_id: the Airflow connection used to upload the results.
    :param workdir: a folder for the run's files, kept afterwards; by default a temporary
        folder, removed afterwards.
    :param extra_parameters: more notebook parameters; may not replace the ones above.
    :param cancel: an event that stops the run when set, e.g. from an operator's ``on_kill``.
    :raises AtmoValidationError: when the notebook file is not an acceptable notebook; nothing
        is started or uploaded then.
    """
    from atmo_provider.notebooks import validate_notebook

    extra = dict(extra_parameters or {})
    _check_arguments(identifier, job_timeout_hours, extra)
    notebook = Path(notebook_path).resolve()
    validate_notebook(notebook)
    run_date_text = format_run_date(run_date)

    own_workdir = workdir is None
    root = Path(tempfile.mkdtemp(prefix=f"atmo-local-{identifier}-")) if own_workdir else None
    folder = RunFolder(root or Path(workdir).resolve()).create()
    try:
        return _run_in_folder(
            identifier=identifier,
            notebook=notebook,
            folder=folder,
            run_date=run_date_text,
            result_bucket=result_bucket,
            job_timeout_hours=job_timeout_hours,
            aws_conn_id=aws_conn_id,
            extra=extra,
            cancel=cancel,
        )
    finally:
        if own_workdir:
            shutil.rmtree(folder.root, ignore_errors=True)


def _run_in_folder(
    *,
    identifier: str,
    notebook: Path,
    folder: RunFolder,
    run_date: str,
    result_bucket: str,
    job_timeout_hours: float,
    aws_conn_id: str | None,
    extra: dict[str, Any],
    cancel: threading.Event | None,
) -> LocalRunResult:
    prefix = result_prefix(identifier, run_date)
    parameters = {
        **extra,
        "identifier": identifier,
        "run_date": run_date,
        "result_bucket": result_bucket,
        "result_prefix": prefix,
        "output_dir": str(folder.output_dir),
    }
    _write_parameters(folder, parameters)
    executed = folder.executed_dir / f"{notebook.stem}.ipynb"
    uploader = ResultUploader(aws_conn_id=aws_conn_id, bucket=result_bucket, prefix=prefix)
    started = time.monotonic()

    log.info(
        "Running notebook %s of job %s locally, timeout %s, results to %s",
        notebook.name,
        identifier,
        format_hours(job_timeout_hours),
        uploader.uri,
    )
    execution = PapermillExecution(identifier, folder, notebook, executed)
    outcome, code = execution.run(job_timeout_hours * 3600, cancel)
    peak = execution.peak_memory_bytes

    if outcome == "exited" and code == 0:
        status, reason = "success", None
    else:
        status = "timed_out" if outcome == "timed_out" else "failed"
        reason = _failure_reason(outcome, code, executed, execution.tail, job_timeout_hours)
        log.error("Job %s: %s", identifier, reason)

    keys, upload_error = _upload_results(uploader, folder, executed)
    if upload_error is not None:
        problem = f"results could not be stored in {uploader.uri}: {upload_error}"
        log.error("Job %s: %s", identifier, problem)
        if status == "success":
            status, reason = "failed", problem
        else:
            reason = f"{reason}; {problem}"

    duration = time.monotonic() - started
    log.info(
        "Job %s ended with status %s after %.1f s; %d files in %s",
        identifier,
        status,
        duration,
        len(keys),
        uploader.uri,
    )
    return LocalRunResult(
        status=status,
        reason=reason,
        results_uri=uploader.uri,
        uploaded_keys=tuple(keys),
        duration_seconds=duration,
        peak_memory_bytes=peak,
    )


def _upload_results(
    uploader: ResultUploader, folder: RunFolder, executed: Path
) -> tuple[list[str], str | None]:
    """Upload the executed notebook, then each output file; return the keys and any error.

    The notebook goes first and a failed file does not stop the others, so that as much as
    can be stored is stored.
    """
    files = list(iter_result_files(folder.output_dir))
    if executed.is_file():
        if any(name == executed.name for _path, name in files):
            log.warning(
                "Output file %s has the executed notebook's name; the notebook replaces it",
                executed.name,
            )
            files = [(path, name) for path, name in files if name != executed.name]
        files.insert(0, (executed, executed.name))

    keys: list[str] = []
    errors: list[str] = []
    for path, name in files:
        try:
            keys.append(uploader.upload(path, name))
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    if errors:
        return keys, "; ".join(errors)
    return keys, None
