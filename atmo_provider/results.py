"""Where a Spark job run's results go: ``s3://<results bucket>/<identifier>/<run date>/``.

One layout for both execution backends, so that the dashboard, the records and users find a
run's files in the same place whether the notebook ran on EMR or on the worker.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["format_run_date", "result_prefix", "results_uri"]

#: What a run date may look like once written: it becomes one segment of an S3 key.
_RUN_DATE_SEGMENT = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.:+-]*$")


def format_run_date(run_date: str | dt.date | dt.datetime) -> str:
    """Return the run date as written in result keys: ``YYYY-MM-DD`` for a date or datetime.

    A string is used as given, but it must be one key segment.

    :param run_date: the logical date of the run.
    """
    if isinstance(run_date, dt.datetime):
        return run_date.date().isoformat()
    if isinstance(run_date, dt.date):
        return run_date.isoformat()
    text = str(run_date).strip()
    if not _RUN_DATE_SEGMENT.match(text):
        raise ValueError(
            "run date must be a date or a string of letters, digits and '_.:+-' without '/', "
            f"got {run_date!r}"
        )
    return text


def result_prefix(identifier: str, run_date: str | dt.date | dt.datetime) -> str:
    """Return the key prefix of a run's results: ``<identifier>/<run date>/``.

    :param identifier: the job's identifier.
    :param run_date: the logical date of the run.
    """
    return f"{identifier}/{format_run_date(run_date)}/"


def results_uri(bucket: str, identifier: str, run_date: str | dt.date | dt.datetime) -> str:
    """Return ``s3://<bucket>/<identifier>/<run date>/``, the folder of a run's results.

    :param bucket: the public or private results bucket.
    :param identifier: the job's identifier.
    :param run_date: the logical date of the run.
    """
    return f"s3://{bucket}/{result_prefix(identifier, run_date)}"
