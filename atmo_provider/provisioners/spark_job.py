"""The provisioner of scheduled Spark jobs: a transient cluster whose one step runs a notebook."""

from __future__ import annotations

import gzip
import logging
import zlib
from datetime import date, datetime
from typing import Any

from atmo_provider.aws.clients import s3_client
from atmo_provider.aws.retry import call_with_backoff, error_code
from atmo_provider.aws.s3 import join_s3_uri, parse_s3_uri
from atmo_provider.errors import AtmoValidationError
from atmo_provider.provisioners.base import TASK_INSTANCE_TAG, Provisioner
from atmo_provider.results import format_run_date, results_uri

__all__ = ["STEP_NAME", "SparkJobProvisioner"]

log = logging.getLogger(__name__)

#: Name of the step that runs the job's notebook.
STEP_NAME = "RunNotebookStep"

#: How much of a failed step's stderr goes into the task's error, at most.
STDERR_TAIL_LINES = 40
STDERR_TAIL_CHARS = 6000

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})


def _tail(text: str) -> str:
    lines = text.rstrip("\n").splitlines()[-STDERR_TAIL_LINES:]
    return "\n".join(lines)[-STDERR_TAIL_CHARS:]


class SparkJobProvisioner(Provisioner):
    """Run a Spark job's notebook on a cluster that terminates once its step is done."""

    #: EMR writes these clusters' logs under ``s3://<log_bucket>/jobs/``.
    log_dir = "jobs"

    #: Job clusters are named ``atmo-<environment>-job-...`` and tagged ``Type=job``.
    name_component = "job"

    def run_params(
        self,
        user_username: str,
        user_email: str,
        identifier: str,
        emr_release: str,
        size: int,
        notebook_uri: str,
        job_timeout: int,
        is_public: bool,
        task_instance_tag: str | None = None,
        run_date: date | None = None,
    ) -> dict[str, Any]:
        """Return the RunJobFlow parameters of a job's transient cluster.

        :param user_username: the owner's user name.
        :param user_email: the owner's email.
        :param identifier: the job's identifier.
        :param emr_release: the EMR release, e.g. ``6.15.0``.
        :param size: the number of nodes.
        :param notebook_uri: ``s3://`` URI of the notebook to run.
        :param job_timeout: hours after which the bootstrap's watchdog ends the cluster.
        :param is_public: write results to the public data bucket instead of the private one.
        :param task_instance_tag: the ``atmo:task-instance`` tag value, if launched by a task.
        :param run_date: the date naming the results folder (``--run-date``); ``None`` to let
            the step use the day it starts, in UTC.
        """
        bucket = self.settings.spark_emr_bucket
        data_bucket = self.settings.results_bucket("public" if is_public else "private")
        params = self.job_flow_params(user_username, user_email, identifier, emr_release, size)
        params["Instances"]["KeepJobFlowAliveWhenNoSteps"] = False
        params["BootstrapActions"] = [
            {
                "Name": "setup-telemetry-spark-job",
                "ScriptBootstrapAction": {
                    "Path": f"s3://{bucket}/bootstrap/telemetry.sh",
                    "Args": ["--timeout", str(job_timeout * 60)],
                },
            }
        ]
        params["Steps"] = [
            {
                "Name": STEP_NAME,
                "ActionOnFailure": "TERMINATE_CLUSTER",
                "HadoopJarStep": {
                    "Jar": self.script_runner_jar(),
                    "Args": [
                        f"s3://{bucket}/steps/batch.sh",
                        "--job-name",
                        identifier,
                        "--notebook",
                        notebook_uri,
                        "--data-bucket",
                        data_bucket,
                        *(["--run-date", format_run_date(run_date)] if run_date else []),
                    ],
                },
            }
        ]
        if task_instance_tag is not None:
            params["Tags"].append({"Key": TASK_INSTANCE_TAG, "Value": task_instance_tag})
        return params

    def script_runner_jar(self) -> str:
        """Return the region's ``script-runner.jar``, which runs a script stored in S3."""
        region = self.settings.region_name
        return f"s3://{region}.elasticmapreduce/libs/script-runner/script-runner.jar"

    def run(
        self,
        user_username: str,
        user_email: str,
        identifier: str,
        emr_release: str,
        size: int,
        notebook_uri: str,
        job_timeout: int,
        is_public: bool,
        task_instance_tag: str | None = None,
        created_after: datetime | None = None,
        run_date: date | None = None,
    ) -> str:
        """Launch the job's cluster (or find the one this task instance launched); return its id.

        :param user_username: the owner's user name.
        :param user_email: the owner's email.
        :param identifier: the job's identifier.
        :param emr_release: the EMR release, e.g. ``6.15.0``.
        :param size: the number of nodes.
        :param notebook_uri: ``s3://`` URI of the notebook to run.
        :param job_timeout: hours after which the bootstrap's watchdog ends the cluster.
        :param is_public: write results to the public data bucket instead of the private one.
        :param task_instance_tag: the ``atmo:task-instance`` tag value; a live cluster with it
            is reused instead of launching another.
        :param created_after: look for that cluster among those created after this moment.
        :param run_date: the date naming the results folder; ``None`` for the step's start day.
        """
        params = self.run_params(
            user_username,
            user_email,
            identifier,
            emr_release,
            size,
            notebook_uri,
            job_timeout,
            is_public,
            run_date=run_date,
        )
        launch = self.launch(
            params, task_instance_tag=task_instance_tag, created_after=created_after
        )
        return launch.jobflow_id

    def check_notebook(self, notebook_uri: str) -> None:
        """Make sure the notebook object ``notebook_uri`` exists (HeadObject) before a launch.

        :raises AtmoValidationError: when the URI is not ``s3://bucket/key`` or no such
            object exists.
        """
        try:
            bucket, key = parse_s3_uri(notebook_uri)
        except ValueError as exc:
            raise AtmoValidationError("notebook_uri", str(exc)) from None
        if not key or key.endswith("/"):
            raise AtmoValidationError(
                "notebook_uri", f"must name a notebook object, got the prefix {notebook_uri!r}"
            )

        client = s3_client(self.aws_conn_id, self.settings.region_name)
        try:
            call_with_backoff(
                client.head_object, Bucket=bucket, Key=key, description=f"look at {notebook_uri}"
            )
        except Exception as exc:
            if error_code(exc) in _MISSING_CODES:
                raise AtmoValidationError(
                    "notebook_uri",
                    f"{notebook_uri} does not exist; upload the notebook first "
                    "(AtmoUploadNotebookOperator)",
                ) from None
            raise

    def results_uri(self, identifier: str, is_public: bool, run_date: date) -> str:
        """Return ``s3://<data bucket>/<identifier>/<YYYY-MM-DD>/``, where a run's results go.

        :param identifier: the job's identifier.
        :param is_public: the job writes to the public data bucket.
        :param run_date: the run's date: the ``--run-date`` given, else the step's start (UTC).
        """
        bucket = self.settings.results_bucket("public" if is_public else "private")
        return results_uri(bucket, identifier, run_date)

    def notebook_step(self, jobflow_id: str) -> dict[str, Any] | None:
        """Describe the step running the notebook on ``jobflow_id``; ``None`` if it has none."""
        steps = [step for step in self.emr.list_steps(jobflow_id) if step["name"] == STEP_NAME]
        if not steps:
            return None
        return self.emr.describe_step(jobflow_id, steps[-1]["step_id"])

    def step_log_uri(self, cluster: dict[str, Any], step_id: str) -> str | None:
        """Return where EMR puts the logs of step ``step_id``, or ``None`` without a LogUri."""
        if not cluster.get("log_uri"):
            return None
        return join_s3_uri(cluster["log_uri"], cluster["jobflow_id"], "steps", step_id) + "/"

    def read_log_tail(self, uri: str) -> str | None:
        """Return the last lines of the (gzip-compressed) log at ``uri``, ``None`` if absent.

        EMR copies step logs to S3 every few minutes, so a log may not be there yet.
        """
        bucket, key = parse_s3_uri(uri)
        client = s3_client(self.aws_conn_id, self.settings.region_name)
        try:
            response = call_with_backoff(
                client.get_object, Bucket=bucket, Key=key, description=f"read log {uri}"
            )
        except Exception as exc:
            if error_code(exc) in _MISSING_CODES:
                log.info("No log at %s yet (%s)", uri, error_code(exc))
                return None
            raise

        data = response["Body"].read()
        if key.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error):
                log.warning("The log %s is not valid gzip; showing it as stored", uri)
        return _tail(data.decode("utf-8", errors="replace"))

    def step_failure_details(self, jobflow_id: str) -> dict[str, Any]:
        """Collect what EMR says about the end of job cluster ``jobflow_id`` and its step.

        Returns the cluster's state and reason, the notebook step's state and failure details,
        where the logs are, and the tail of the step's ``stderr`` when EMR copied it to S3.
        """
        cluster = self.describe(jobflow_id)
        step = self.notebook_step(jobflow_id)
        details: dict[str, Any] = {
            "jobflow_id": jobflow_id,
            "cluster_state": cluster["state"],
            "reason_code": cluster["state_change_reason_code"],
            "reason_message": cluster["state_change_reason_message"],
            "log_uri": (
                join_s3_uri(cluster["log_uri"], jobflow_id) + "/" if cluster["log_uri"] else None
            ),
            "cluster_creation_datetime": cluster["creation_datetime"],
            "step_id": None,
            "step_state": None,
            "step_start_datetime": None,
            "step_reason": None,
            "step_message": None,
            "step_log_uri": None,
            "stderr_log_uri": None,
            "stderr_tail": None,
        }
        if step is None:
            return details

        step_log_uri = self.step_log_uri(cluster, step["step_id"])
        details.update(
            step_id=step["step_id"],
            step_state=step["state"],
            step_start_datetime=step["start_datetime"],
            step_reason=step["failure_reason"],
            step_message=step["failure_message"] or step["state_change_reason_message"],
            step_log_uri=step_log_uri,
        )
        stderr_uri = step["failure_log_file"] or step_log_uri
        if stderr_uri and stderr_uri.endswith("/"):
            stderr_uri = join_s3_uri(stderr_uri, "stderr.gz")
        if stderr_uri:
            details["stderr_log_uri"] = stderr_uri
            try:
                details["stderr_tail"] = self.read_log_tail(stderr_uri)
            except Exception as exc:
                # The failure report must not fail for want of its log.
                log.warning("Could not read %s: %s", stderr_uri, exc)
        return details
