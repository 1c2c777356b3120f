"""What the ``airflow atmo`` commands do; declared in :mod:`atmo_provider.cli.definition`.

Output goes to standard output for people and scripts; a failure exits with status 1 and a
sentence saying what went wrong.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.utils.cli import suppress_logs_and_warning
from airflow.utils.providers_configuration_loader import providers_configuration_loaded

from atmo_provider.settings import AtmoSettings, get_settings

if TYPE_CHECKING:
    from atmo_provider.jobs.spec import JobSpec, SpecError

__all__ = ["clusters_list", "clusters_terminate", "jobs_validate"]

#: How far back ``clusters list`` looks when no ``--created-after`` is given.
DEFAULT_LIST_WINDOW = datetime.timedelta(days=7)

_FINAL_STATES = ("TERMINATED", "TERMINATED_WITH_ERRORS")


def _fail(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(1)


def _jobs_folder(args: argparse.Namespace, settings: AtmoSettings) -> Path:
    from airflow.configuration import conf

    from atmo_provider.jobs.spec import default_jobs_folder

    if args.folder:
        return Path(args.folder)
    return default_jobs_folder(settings.jobs_folder, conf.get("core", "dags_folder"))


def _notebook_errors(specs: list[JobSpec]) -> tuple[list[JobSpec], list[SpecError]]:
    """Check each spec's notebook content, which DAG parsing skips to stay cheap."""
    from atmo_provider.errors import AtmoValidationError
    from atmo_provider.jobs.spec import SpecError
    from atmo_provider.notebooks import validate_notebook

    valid: list[JobSpec] = []
    errors: list[SpecError] = []
    for spec in specs:
        try:
            validate_notebook(spec.notebook_path)
        except AtmoValidationError as exc:
            errors.append(SpecError(spec.source_file, "notebook", exc.message))
        else:
            valid.append(spec)
    return valid, errors


@providers_configuration_loaded
def jobs_validate(args: argparse.Namespace) -> None:
    """Check the spec files of a folder and their notebooks; print each problem, exit 1 if any."""
    from atmo_provider.jobs.spec import load_job_specs

    settings = get_settings()
    folder = _jobs_folder(args, settings)
    if not folder.is_dir():
        _fail(f"{folder}: no such folder of Spark job specs")

    specs, errors = load_job_specs(folder, settings.emr_releases)
    specs, notebook_errors = _notebook_errors(specs)
    errors = sorted(errors + notebook_errors, key=lambda error: error.file)
    for error in errors:
        print(error)

    valid = f"{len(specs)} spec{'' if len(specs) == 1 else 's'} valid"
    if errors:
        _fail(f"{valid}, {len(errors)} problem{'' if len(errors) == 1 else 's'} in {folder}")
    print(f"{valid} in {folder}")


def _parse_created_after(value: str | None) -> datetime.datetime:
    if not value:
        return datetime.datetime.now(datetime.timezone.utc) - DEFAULT_LIST_WINDOW
    try:
        moment = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        _fail(
            f"--created-after must be an ISO date or date-time such as 2024-05-01, got {value!r}"
        )
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def _cluster_row(cluster: dict[str, Any]) -> dict[str, Any]:
    created = cluster.get("creation_datetime")
    return {
        "jobflow_id": cluster.get("jobflow_id"),
        "name": cluster.get("name"),
        "state": cluster.get("state"),
        "created": created.isoformat() if created else None,
        "reason": cluster.get("state_change_reason_message") or "",
    }


def _name_prefix(settings: AtmoSettings) -> str:
    return f"atmo-{settings.environment}-"


@suppress_logs_and_warning
@providers_configuration_loaded
def clusters_list(args: argparse.Namespace) -> None:
    """List this environment's clusters (names ``atmo-<environment>-...``), newest first."""
    from atmo_provider.provisioners import ClusterProvisioner

    settings = get_settings()
    created_after = _parse_created_after(args.created_after)

    clusters = ClusterProvisioner(settings).list(created_after=created_after)
    rows = [
        _cluster_row(cluster)
        for cluster in clusters
        if (cluster.get("name") or "").startswith(_name_prefix(settings))
    ]

    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return

    from airflow.cli.simple_table import AirflowConsole

    AirflowConsole().print_as(data=rows, output="table")


@providers_configuration_loaded
def clusters_terminate(args: argparse.Namespace) -> None:
    """Terminate one of this environment's clusters and say what happened."""
    from atmo_provider.provisioners import ClusterProvisioner

    settings = get_settings()
    provisioner = ClusterProvisioner(settings)
    jobflow_id = args.job_flow_id

    try:
        cluster = provisioner.describe(jobflow_id)
    except Exception as exc:
        _fail(f"Cannot describe cluster {jobflow_id}: {exc}")

    name = cluster.get("name") or ""
    if not name.startswith(_name_prefix(settings)):
        _fail(
            f"Cluster {jobflow_id} ({name!r}) is not an ATMO cluster of environment "
            f"{settings.environment!r}; not terminated"
        )
    if cluster.get("state") in _FINAL_STATES:
        print(f"Cluster {jobflow_id} ({name}) is already {cluster['state']}; nothing to do")
        return

    provisioner.stop(jobflow_id)
    state = provisioner.describe(jobflow_id).get("state")
    print(
        f"Cluster {jobflow_id} ({name}) was {cluster.get('state')}; termination requested, "
        f"now {state}"
    )
