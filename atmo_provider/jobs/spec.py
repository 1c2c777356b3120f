"""Spark job spec files: one YAML file per scheduled notebook, checked field by field.

A spec names the notebook to run, how often and on how big a cluster. Loading never raises for
a bad file: it returns the valid specs and one :class:`SpecError` per problem, so that one
broken file cannot hide the other jobs. Parsing is plain Python on a per-process cache keyed by
each file's modification time, because the DAG processor re-reads the folder at every parse.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from atmo_provider.validation.patterns import EMAIL_RE, IDENTIFIER_RE, OWNER_RE

log = logging.getLogger(__name__)

__all__ = [
    "INTERVAL_HOURS",
    "JobSpec",
    "SpecError",
    "default_jobs_folder",
    "load_job_specs",
    "parse_job_spec",
]

#: Run intervals a spec may name, in hours (ATMO's daily, weekly and 30-day monthly).
INTERVAL_HOURS = {"daily": 24, "weekly": 168, "monthly": 720}

#: Largest cluster a scheduled job may use.
MAX_JOB_SIZE = 30

#: Longest a job's notebook may run, in hours.
MAX_JOB_TIMEOUT = 24

#: File name endings of spec files.
SPEC_SUFFIXES = (".yaml", ".yml")

#: File name endings a notebook may have.
NOTEBOOK_SUFFIXES = (".ipynb", ".json")


_REQUIRED = (
    "identifier",
    "owner",
    "owner_email",
    "description",
    "notebook",
    "interval",
    "start_date",
)
_OPTIONAL = (
    "size",
    "timeout",
    "end_date",
    "result_visibility",
    "emr_release",
    "paused",
)
_KNOWN = _REQUIRED + _OPTIONAL

#: Parsed YAML per path: (mtime_ns, size, document or the YAML error's text).
_yaml_cache: dict[str, tuple[int, int, Any, str | None]] = {}


class SpecError(NamedTuple):
    """One problem of one spec file.

    :param file: path of the spec file.
    :param field: the field at fault, or None when the file as a whole is unreadable.
    :param message: what is wrong and what is allowed.
    """

    file: str
    field: str | None
    message: str

    def __str__(self) -> str:
        if self.field is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}: {self.field}: {self.message}"


@dataclass(frozen=True)
class JobSpec:
    """A valid Spark job spec."""

    #: Unique name of the job, part of its DAG id ``atmo_job_<identifier>``.
    identifier: str
    #: User the job belongs to.
    owner: str
    #: Where mail about the job goes.
    owner_email: str
    #: What the job does, shown as the DAG's documentation.
    description: str
    #: Absolute path of the notebook file.
    notebook_path: str
    #: ``daily``, ``weekly`` or ``monthly``.
    interval: str
    #: Start of the schedule, in UTC; runs happen every interval from here.
    start_date: datetime.datetime
    #: Path of the spec file this job comes from.
    source_file: str
    #: Number of nodes of the job's cluster.
    size: int = 1
    #: Hours the notebook may run before the cluster is terminated.
    timeout: int = MAX_JOB_TIMEOUT
    #: No runs after this moment, in UTC.
    end_date: datetime.datetime | None = None
    #: ``public`` or ``private``: which results bucket the notebook writes to.
    result_visibility: str = "private"
    #: EMR release, or None for the configured default.
    emr_release: str | None = None
    #: Whether the DAG starts paused when first seen; None for Airflow's default.
    paused: bool | None = None

    @property
    def interval_hours(self) -> int:
        """The run interval in hours."""
        return INTERVAL_HOURS[self.interval]

    @property
    def dag_id(self) -> str:
        """The id of the DAG that runs this job."""
        return f"atmo_job_{self.identifier}"


class _Problems:
    """Collects a file's field errors so that one pass reports all of them."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[SpecError] = []

    def add(self, field: str | None, message: str) -> None:
        self.errors.append(SpecError(self.file, field, message))


def default_jobs_folder(settings_folder: str, dags_folder: str | os.PathLike) -> Path:
    """Return the folder of spec files: the configured one, else ``jobs/`` in the DAG folder.

    :param settings_folder: ``[atmo] jobs_folder``, possibly empty.
    :param dags_folder: the folder of the DAG files.
    """
    if settings_folder:
        return Path(settings_folder)
    return Path(dags_folder) / "jobs"


def _read_yaml(path: Path) -> tuple[Any, str | None]:
    import yaml

    stat = path.stat()
    key = str(path)
    cached = _yaml_cache.get(key)
    if cached is not None and cached[0] == stat.st_mtime_ns and cached[1] == stat.st_size:
        return cached[2], cached[3]

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as handle:
            document, error = yaml.load(handle, Loader=loader), None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        document, error = None, f"is not valid YAML: {exc}".replace("\n", " ")

    _yaml_cache[key] = (stat.st_mtime_ns, stat.st_size, document, error)
    return document, error


def _whole_number(
    problems: _Problems, data: dict, field: str, low: int, high: int, unit: str
) -> int | None:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.add(field, f"must be a whole number from {low} to {high}{unit}, got {value!r}")
        return None
    return value


def _date(problems: _Problems, field: str, value: object) -> datetime.datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            value = None
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = datetime.datetime.combine(value, datetime.time())
    if not isinstance(value, datetime.datetime):
        problems.add(
            field, "must be an ISO date or date-time in UTC, e.g. 2024-05-01 or 2024-05-01T06:00"
        )
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def _text(
    problems: _Problems, data: dict, field: str, pattern: re.Pattern, allowed: str
) -> str | None:
    value = data.get(field)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        problems.add(field, f"must be {allowed}, got {value!r}")
        return None
    return value


def _notebook(problems: _Problems, folder: Path, value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.add("notebook", "must be the path of a notebook file relative to the spec file")
        return None

    relative = os.path.normpath(value.strip())
    if os.path.isabs(relative) or relative == ".." or relative.startswith(".." + os.sep):
        problems.add(
            "notebook", f"must be a path inside the folder of the spec file, got {value!r}"
        )
        return None
    if not relative.endswith(NOTEBOOK_SUFFIXES):
        problems.add("notebook", f"must end with .ipynb or .json, got {value!r}")
        return None

    path = folder / relative
    if not path.is_file():
        problems.add("notebook", f"file {value!r} not found next to the spec ({path})")
        return None
    return str(path.absolute())


def _schedule(problems: _Problems, data: dict) -> dict[str, Any]:
    interval = data["interval"]
    if interval not in INTERVAL_HOURS:
        problems.add("interval", f"must be one of daily, weekly, monthly, got {interval!r}")

    start_date = _date(problems, "start_date", data["start_date"])
    end_date = None
    if data.get("end_date") is not None:
        end_date = _date(problems, "end_date", data["end_date"])
        if start_date and end_date and end_date <= start_date:
            problems.add(
                "end_date",
                f"must be after start_date {start_date.isoformat()}, got {end_date.isoformat()}",
            )

    timeout = _whole_number(
        problems, {"timeout": MAX_JOB_TIMEOUT, **data}, "timeout", 1, MAX_JOB_TIMEOUT, " hours"
    )
    return {
        "interval": interval,
        "start_date": start_date,
        "end_date": end_date,
        "timeout": timeout,
    }


def _cluster_options(
    problems: _Problems, data: dict, emr_releases: tuple[str, ...] | None
) -> dict[str, Any]:
    size = _whole_number(problems, {"size": 1, **data}, "size", 1, MAX_JOB_SIZE, "")

    visibility = data.get("result_visibility", "private")
    if visibility not in ("public", "private"):
        problems.add("result_visibility", f"must be public or private, got {visibility!r}")

    emr_release = data.get("emr_release")
    if emr_release is not None:
        emr_release = str(emr_release)
        if emr_releases is not None and emr_release not in emr_releases:
            problems.add(
                "emr_release", f"must be one of {', '.join(emr_releases)}, got {emr_release!r}"
            )

    paused = data.get("paused")
    if paused is not None and not isinstance(paused, bool):
        problems.add("paused", f"must be true or false, got {paused!r}")
    return {
        "size": size,
        "result_visibility": visibility,
        "emr_release": emr_release,
        "paused": paused,
    }


def parse_job_spec(
    path: str | os.PathLike, data: Any, emr_releases: tuple[str, ...] | None = None
) -> tuple[JobSpec | None, list[SpecError]]:
    """Check the document of one spec file and build its :class:`JobSpec`.

    :param path: the spec file, for error messages and to find the notebook.
    :param data: the file's parsed YAML.
    :param emr_releases: the releases a spec may name; None to accept any.
    :return: the spec, or None and every problem found.
    """
    problems = _Problems(str(path))
    if not isinstance(data, dict):
        problems.add(None, f"must be a mapping of fields ({', '.join(_REQUIRED)}, ...)")
        return None, problems.errors

    for field in sorted(set(map(str, data)) - set(_KNOWN)):
        problems.add(field, f"unknown field; known fields: {', '.join(_KNOWN)}")
    for field in _REQUIRED:
        if data.get(field) in (None, ""):
            problems.add(field, "is required")
    if problems.errors:
        return None, problems.errors

    identity = {
        "identifier": _text(
            problems, data, "identifier", IDENTIFIER_RE, "1 to 100 lowercase letters, digits or -"
        ),
        "owner": _text(problems, data, "owner", OWNER_RE, "1 to 100 letters, digits or . _ @ + -"),
        "owner_email": _text(problems, data, "owner_email", EMAIL_RE, "an email address"),
        "description": data["description"],
        "notebook_path": _notebook(problems, Path(path).parent, data["notebook"]),
    }
    if not isinstance(identity["description"], str):
        problems.add("description", f"must be text, got {type(data['description']).__name__}")

    schedule = _schedule(problems, data)
    options = _cluster_options(problems, data, emr_releases)

    if problems.errors:
        return None, problems.errors
    identity["description"] = identity["description"].strip()
    return JobSpec(**identity, **schedule, **options, source_file=str(path)), []


def load_job_specs(
    folder: str | os.PathLike, emr_releases: tuple[str, ...] | None = None
) -> tuple[list[JobSpec], list[SpecError]]:
    """Load every ``*.yaml`` and ``*.yml`` spec of ``folder`` (not its subfolders).

    Files are read in name order; when two specs share an identifier, the later file is the
    one in error.

    :param folder: the folder of spec files; a missing folder holds no specs.
    :param emr_releases: the releases a spec may name; None to accept any.
    :return: the valid specs and the problems of the others.
    """
    folder = Path(folder)
    try:
        entries = sorted(
            entry.name
            for entry in os.scandir(folder)
            if entry.name.endswith(SPEC_SUFFIXES) and entry.is_file()
        )
    except FileNotFoundError:
        log.info("No Spark job specs: folder %s does not exist", folder)
        return [], []

    specs: list[JobSpec] = []
    errors: list[SpecError] = []
    seen: dict[str, str] = {}
    for name in entries:
        path = folder / name
        document, yaml_error = _read_yaml(path)
        if yaml_error is not None:
            errors.append(SpecError(str(path), None, yaml_error))
            continue

        spec, spec_errors = parse_job_spec(path, document, emr_releases)
        errors.extend(spec_errors)
        if spec is None:
            continue

        if spec.identifier in seen:
            errors.append(
                SpecError(
                    str(path),
                    "identifier",
                    f"{spec.identifier!r} is already used by {seen[spec.identifier]}; "
                    "identifiers must be unique",
                )
            )
            continue
        seen[spec.identifier] = str(path)
        specs.append(spec)

    return specs, errors
