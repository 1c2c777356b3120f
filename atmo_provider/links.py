"""Extra links of ATMO's tasks: the EMR console page, the S3 logs and the Spark history server.

Every task that launches or watches a cluster records it with :func:`persist_cluster_link`: on
the operator, where the links read it when the task ends, and in an XCom under
:data:`LINK_XCOM_KEY`, from which :func:`restore_cluster_link` brings it back after a deferral.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

from atmo_provider.aws.s3 import console_url, join_s3_uri

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

__all__ = [
    "LINK_XCOM_KEY",
    "EmrClusterLogsLink",
    "EmrConsoleLink",
    "SparkHistoryLink",
    "persist_cluster_link",
    "restore_cluster_link",
]

#: XCom key of ``{"job_flow_id", "region_name", "log_uri"}`` for the links of a task.
LINK_XCOM_KEY = "atmo_emr_cluster"


def persist_cluster_link(
    context: Context, job_flow_id: str, region_name: str | None, log_uri: str | None
) -> None:
    """Record the cluster a task works on, for its extra links.

    :param context: the task's context.
    :param job_flow_id: the cluster's job flow id.
    :param region_name: the cluster's region.
    :param log_uri: the cluster's ``LogUri``, if it has one.
    """
    info = {"job_flow_id": job_flow_id, "region_name": region_name, "log_uri": log_uri}
    task = context.get("task")
    if task is not None:
        task.atmo_cluster_link = info
    context["ti"].xcom_push(key=LINK_XCOM_KEY, value=info)


def restore_cluster_link(context: Context) -> dict[str, Any] | None:
    """Bring back the cluster a task recorded before it deferred; return it, if any."""
    ti = context.get("ti")
    info = ti.xcom_pull(key=LINK_XCOM_KEY) if ti is not None else None
    task = context.get("task")
    if task is not None and isinstance(info, dict):
        task.atmo_cluster_link = info
    return info if isinstance(info, dict) else None


def _quote(value: str) -> str:
    return quote(value, safe="")


class _ClusterLink(BaseOperatorLink):
    """A link built from the cluster a task recorded with :func:`persist_cluster_link`."""

    name: ClassVar[str] = ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """Return the link for the task that ran ``operator``, ``""`` if it has no cluster.

        Called by the task runner when the task ends; the URL it returns is what the UI shows.
        """
        info = getattr(operator, "atmo_cluster_link", None)
        if not isinstance(info, dict) or not info.get("job_flow_id"):
            return ""
        return self.format_link(info)

    def format_link(self, info: dict[str, Any]) -> str:
        """Build the URL from the recorded ``info``; ``""`` when it cannot be built."""
        raise NotImplementedError


def _console_region(info: dict[str, Any]) -> str:
    return _quote(info.get("region_name") or "us-west-2")


class EmrConsoleLink(_ClusterLink):
    """The cluster's page in the EMR console."""

    name: ClassVar[str] = "EMR cluster"

    def format_link(self, info: dict[str, Any]) -> str:
        """Return the EMR console URL of the recorded cluster."""
        region = _console_region(info)
        jobflow_id = _quote(info["job_flow_id"])
        return (
            f"https://console.aws.amazon.com/emr/home?region={region}#/clusterDetails/{jobflow_id}"
        )


class EmrClusterLogsLink(_ClusterLink):
    """The S3 console listing of the cluster's logs (``<LogUri>/<job flow id>/``)."""

    name: ClassVar[str] = "EMR logs"

    def format_link(self, info: dict[str, Any]) -> str:
        """Return the S3 console URL of the recorded cluster's logs, ``""`` without a LogUri."""
        if not info.get("log_uri"):
            return ""
        prefix = join_s3_uri(info["log_uri"], info["job_flow_id"]) + "/"
        return console_url(prefix, info.get("region_name"))


# Limitation: the persistent Spark history server is reached through the console's application
# UI tab; a direct URL needs a presigned session from CreatePersistentAppUI.
class SparkHistoryLink(_ClusterLink):
    """The cluster's application user interfaces in the EMR console, Spark history included."""

    name: ClassVar[str] = "Spark history"

    def format_link(self, info: dict[str, Any]) -> str:
        """Return the EMR console URL of the recorded cluster's application user interfaces."""
        region = _console_region(info)
        jobflow_id = _quote(info["job_flow_id"])
        return (
            f"https://console.aws.amazon.com/emr/home?region={region}"
            f"#/clusterDetails/{jobflow_id}?tab=applications"
        )
