"""Declaration of the ``airflow atmo`` commands, registered through the provider's ``cli`` entry.

Airflow builds its parser from these declarations at every CLI start, so this module only
declares: the commands' code is imported when one of them runs.
"""

from __future__ import annotations

from airflow.cli.cli_config import (
    ARG_VERBOSE,
    ActionCommand,
    Arg,
    GroupCommand,
    lazy_load_command,
)

__all__ = ["get_atmo_cli_commands"]

_COMMANDS = "atmo_provider.cli.commands"
_RECORDS = "atmo_provider.cli.records_commands"

ARG_JOBS_FOLDER = Arg(
    ("folder",),
    help="Folder of the spec files (default: \\[atmo] jobs_folder, else jobs/ in the DAG folder)",
    nargs="?",
    default=None,
)
ARG_CREATED_AFTER = Arg(
    ("--created-after",),
    help="Only clusters created after this ISO date or date-time, in UTC (default: all "
    "records; 7 days ago with --from-emr)",
    default=None,
)
ARG_OUTPUT = Arg(
    ("-o", "--output"),
    help="Output format (default: table)",
    choices=("table", "json"),
    default="table",
)
ARG_CONN_ID = Arg(
    ("--conn-id",),
    help="Airflow connection of the records database (default: \\[atmo] records_conn_id)",
    default=None,
)
ARG_USER = Arg(
    ("--user",),
    help="Act as this Airflow user, with the permissions the ATMO tab would give them "
    "(default: no permission check)",
    default=None,
)
ARG_STATE = Arg(
    ("--state",),
    help="Which clusters: active, terminated, failed or all (default: active)",
    choices=("active", "terminated", "failed", "all"),
    default="active",
)
ARG_FROM_EMR = Arg(
    ("--from-emr",),
    help="List the clusters EMR knows (names atmo-<environment>-...) instead of the records",
    action="store_true",
)
ARG_CLUSTER = Arg(("cluster",), help="The cluster's record id (e.g. 12) or job flow id")
ARG_CLUSTER_TO_TERMINATE = Arg(
    ("job_flow_id",),
    help="The cluster's record id (e.g. 12) or job flow id (e.g. j-2AXXXXXXGAPLF)",
)
ARG_HOURS = Arg(
    ("--hours",),
    help="Hours to add to the cluster's lifetime, within \\[atmo] min_cluster_lifetime and "
    "max_cluster_lifetime (2 to 24 by default)",
    required=True,
)
ARG_IDENTIFIER = Arg(("identifier",), help="The Spark job's identifier")
ARG_ALL_JOBS = Arg(
    ("--all",),
    help="Include the jobs whose spec file is gone",
    action="store_true",
)

JOBS_COMMANDS = (
    ActionCommand(
        name="validate",
        help="Check every Spark job spec file of a folder",
        description="Check every *.yaml and *.yml spec of the folder; print each problem as "
        "'file: field: message' and exit with status 1 if there is any.",
        func=lazy_load_command(f"{_COMMANDS}.jobs_validate"),
        args=(ARG_JOBS_FOLDER,),
    ),
    ActionCommand(
        name="list",
        help="List the Spark jobs and their latest runs",
        description="List the Spark job records, newest start date first, with the state of "
        "each job's latest run.",
        func=lazy_load_command(f"{_RECORDS}.jobs_list"),
        args=(ARG_USER, ARG_ALL_JOBS, ARG_OUTPUT, ARG_CONN_ID, ARG_VERBOSE),
    ),
    ActionCommand(
        name="run",
        help="Run a Spark job now",
        description="Trigger a run of the job's DAG atmo_job_<identifier>, if its last run "
        "has finished.",
        func=lazy_load_command(f"{_RECORDS}.jobs_run"),
        args=(ARG_IDENTIFIER, ARG_USER, ARG_CONN_ID),
    ),
)

CLUSTERS_COMMANDS = (
    ActionCommand(
        name="list",
        help="List the clusters of this ATMO environment",
        description="List the cluster records, newest first; with --from-emr, the EMR "
        "clusters whose name starts with atmo-<environment>-.",
        func=lazy_load_command(f"{_RECORDS}.clusters_list"),
        args=(
            ARG_USER,
            ARG_STATE,
            ARG_CREATED_AFTER,
            ARG_FROM_EMR,
            ARG_OUTPUT,
            ARG_CONN_ID,
            ARG_VERBOSE,
        ),
    ),
    ActionCommand(
        name="extend",
        help="Extend an active cluster's lifetime",
        description="Push the cluster's expiry back by --hours; its owner is warned again "
        "before the new expiry.",
        func=lazy_load_command(f"{_RECORDS}.clusters_extend"),
        args=(ARG_CLUSTER, ARG_HOURS, ARG_USER, ARG_CONN_ID),
    ),
    ActionCommand(
        name="terminate",
        help="Terminate a cluster",
        description="Terminate the active cluster with the given record id or job flow id; "
        "a job flow id without a record is terminated if it is a cluster of this "
        "environment.",
        func=lazy_load_command(f"{_RECORDS}.clusters_terminate"),
        args=(ARG_CLUSTER_TO_TERMINATE, ARG_USER, ARG_CONN_ID),
    ),
)

DB_COMMANDS = (
    ActionCommand(
        name="migrate",
        help="Create or upgrade the tables of the ATMO records",
        description="Run the provider's own migrations against the records database; safe to "
        "run again.",
        func=lazy_load_command("atmo_provider.cli.db_commands.db_migrate"),
        args=(ARG_CONN_ID,),
    ),
)


def get_atmo_cli_commands() -> list[GroupCommand]:
    """Return the ``atmo`` command group for Airflow's CLI."""
    return [
        GroupCommand(
            name="atmo",
            help="Manage ATMO Spark clusters and Spark jobs",
            subcommands=(
                GroupCommand(
                    name="jobs", help="Spark jobs and their spec files", subcommands=JOBS_COMMANDS
                ),
                GroupCommand(name="clusters", help="Clusters", subcommands=CLUSTERS_COMMANDS),
                GroupCommand(name="db", help="The records database", subcommands=DB_COMMANDS),
            ),
        )
    ]
