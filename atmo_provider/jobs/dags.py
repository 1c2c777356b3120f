"""The DAG of one Spark job spec: record the run, upload the notebook, run it, record the end.

Each spec becomes the DAG ``atmo_job_<identifier>``, run every interval from the spec's start
date:

* ``record_run`` (a setup task) writes the job's record from the spec (its owner gets view,
  change and delete, the maintainers role view, when it is new) and a ``PENDING`` run for the
  DAG run, scheduled at its logical date;
* ``upload_notebook`` and ``run_spark_job`` do the work;
* ``record_outcome`` (the teardown of ``record_run``: it runs once the others are done, whether
  they failed or not, and its own result does not decide the DAG run's) describes the run's
  cluster and stores its state, times and EMR's reason, then alerts the owner once if the run
  failed.

A DAG file imports this module at every parse, so it stays cheap: no AWS or database library
is imported here, the task callables import what they need when they run, and building a DAG
makes no call outside the process.
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, DeltaTriggerTimetable

from atmo_provider.operators.spark_job import AtmoSparkJobOperator, AtmoUploadNotebookOperator
from atmo_provider.retry_policy import FullJitterRetryPolicy

if TYPE_CHECKING:
    from typing import Any

    from atmo_provider.jobs.spec import JobSpec, SpecError
    from atmo_provider.settings import AtmoSettings

log = logging.getLogger(__name__)

__all__ = ["STARTUP_MARGIN", "build_job_dag", "build_job_dags", "record_outcome", "record_run"]

#: Time the run task gets on top of the job's timeout, for the cluster to start and stop.
STARTUP_MARGIN = datetime.timedelta(minutes=45)

#: How often a failed task of a job is tried again.
JOB_TASK_RETRIES = 2


def _doc_md(spec: JobSpec) -> str:
    rows = [
        ("Owner", f"{spec.owner} ({spec.owner_email})"),
        ("Notebook", f"`{spec.notebook_path}`"),
        ("Runs", f"{spec.interval}, from {spec.start_date:%Y-%m-%d %H:%M} UTC"),
        ("Cluster size", str(spec.size)),
        ("Timeout", f"{spec.timeout} h"),
        ("Results", spec.result_visibility),
        ("Spec file", f"`{spec.source_file}`"),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"{spec.description}\n\n| | |\n| --- | --- |\n{table}\n"


def build_job_dag(spec: JobSpec, settings: AtmoSettings) -> DAG:
    """Build the DAG that runs ``spec``'s notebook every interval.

    The schedule is a :class:`~airflow.sdk.DeltaTriggerTimetable`: a run starts at
    ``start_date``, then every interval after the previous one, and missed runs are not made
    up (``catchup=False``), like ATMO's scheduler. At most one run is active at a time.

    # Limitation: with catchup off, a start date in the past gives a first run as soon as the
    # DAG appears and the later runs follow that one, not ``start_date + k * interval``; a
    # future start date is kept exactly. Airflow has no built-in timetable that skips missed
    # runs and stays on the start date's grid.

    :param spec: a valid job spec.
    :param settings: the provider's settings (the EMR release default, the AWS connection).
    """
    default_args = {
        "owner": spec.owner,
        "retries": JOB_TASK_RETRIES,
        "retry_policy": FullJitterRetryPolicy(),
    }
    first_line = spec.description.splitlines()[0] if spec.description else spec.identifier
    dag = DAG(
        dag_id=spec.dag_id,
        description=first_line[:200],
        schedule=DeltaTriggerTimetable(datetime.timedelta(hours=spec.interval_hours)),
        start_date=spec.start_date,
        end_date=spec.end_date,
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        tags=["atmo", "spark-job"],
        doc_md=_doc_md(spec),
        is_paused_upon_creation=spec.paused,
    )

    with dag:
        start = PythonOperator(
            task_id="record_run", python_callable=record_run, op_kwargs={"spec": spec}
        )
        upload = AtmoUploadNotebookOperator(
            task_id="upload_notebook",
            identifier=spec.identifier,
            notebook_path=spec.notebook_path,
            aws_conn_id=settings.aws_conn_id,
        )
        run = AtmoSparkJobOperator(
            task_id="run_spark_job",
            identifier=spec.identifier,
            owner=spec.owner,
            owner_email=spec.owner_email,
            notebook_uri=upload.output,
            size=spec.size,
            job_timeout=spec.timeout,
            result_visibility=spec.result_visibility,
            emr_release=spec.emr_release or settings.default_emr_release,
            aws_conn_id=settings.aws_conn_id,
            execution_timeout=datetime.timedelta(hours=spec.timeout) + STARTUP_MARGIN,
        )
        finish = PythonOperator(
            task_id="record_outcome", python_callable=record_outcome, op_kwargs={"spec": spec}
        )
        start >> upload >> run >> finish.as_teardown(setups=start)
    return dag


def _scheduled_at(dag_run: Any) -> datetime.datetime | None:
    return getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)


def record_run(spec: JobSpec, **context: Any) -> int:
    """Write the job's record from ``spec`` and a ``PENDING`` run of this DAG run; return its id.

    :param spec: the job's spec.
    """
    from atmo_provider.records.db import session_scope
    from atmo_provider.records.writes import records_engine, start_job_run, upsert_spark_job
    from atmo_provider.settings import get_settings

    settings = get_settings()
    dag_run = context["dag_run"]
    with session_scope(records_engine(settings)) as session:
        job = upsert_spark_job(session, spec, settings)
        return start_job_run(session, job, dag_run.run_id, _scheduled_at(dag_run)).id


def record_outcome(spec: JobSpec, **context: Any) -> str:
    """Describe the run's cluster, store how it ended and alert the owner once if it failed.

    The cluster is the one ``run_spark_job`` recorded for its links (it does so right after the
    launch, before it waits); without one, the notebook ran on the worker (``[atmo] execution =
    local``, whose outcome the operator pushed) or the run failed before a cluster was launched.

    :param spec: the job's spec.
    """
    from atmo_provider.links import LINK_XCOM_KEY
    from atmo_provider.operators.local_run import OUTCOME_XCOM_KEY
    from atmo_provider.records.db import session_scope
    from atmo_provider.records.models import SparkJobRun
    from atmo_provider.records.writes import (
        finish_job_run,
        record_step_outcome,
        records_engine,
    )
    from atmo_provider.settings import get_settings
    from atmo_provider.sync.jobs import alert_failed_run

    settings = get_settings()
    ti = context["ti"]
    run_id = ti.xcom_pull(task_ids="record_run")
    link = ti.xcom_pull(task_ids="run_spark_job", key=LINK_XCOM_KEY) or {}
    result = ti.xcom_pull(task_ids="run_spark_job") or {}
    notebook_uri = ti.xcom_pull(task_ids="upload_notebook")
    local_outcome = ti.xcom_pull(task_ids="run_spark_job", key=OUTCOME_XCOM_KEY) or {}
    jobflow_id = result.get("job_flow_id") or link.get("job_flow_id")

    description = details = None
    if jobflow_id:
        from atmo_provider.provisioners import SparkJobProvisioner

        provisioner = SparkJobProvisioner(settings)
        description = provisioner.describe(jobflow_id)
        if description["state"] in ("TERMINATED", "TERMINATED_WITH_ERRORS"):
            details = provisioner.step_failure_details(jobflow_id)

    with session_scope(records_engine(settings)) as session:
        run = session.get(SparkJobRun, run_id)
        if notebook_uri:
            run.spark_job.notebook_uri = notebook_uri
        finish_job_run(
            session,
            run,
            description,
            step_id=result.get("step_id"),
            succeeded=bool(result),
            no_cluster_reason=_no_cluster_reason(local_outcome, run.dag_run_id),
        )
        if details is not None:
            record_step_outcome(
                run, details["step_state"], details["step_message"] or details["step_reason"]
            )
        failed = run.is_failed or not result
        if failed:
            alert_failed_run(session, run, settings)
        return run.status


def _no_cluster_reason(local_outcome: dict[str, Any], dag_run_id: str) -> str:
    if local_outcome.get("reason"):
        return f"The notebook run on the worker ended {local_outcome.get('status')}: " + str(
            local_outcome["reason"]
        )
    return (
        "No cluster was launched: the notebook upload or the launch failed; see the task logs "
        f"of DAG run {dag_run_id}"
    )


def build_job_dags(
    specs: list[JobSpec], errors: list[SpecError], settings: AtmoSettings
) -> dict[str, DAG]:
    """Build one DAG per spec and log each spec error; a failing spec never stops the others.

    :param specs: valid specs from :func:`~atmo_provider.jobs.spec.load_job_specs`.
    :param errors: the problems of the invalid specs, logged here.
    :param settings: the provider's settings.
    :return: the DAGs by DAG id.
    """
    for error in errors:
        log.error(
            "Spark job spec %s skipped: %s: %s", error.file, error.field or "file", error.message
        )

    dags: dict[str, DAG] = {}
    for spec in specs:
        try:
            dags[spec.dag_id] = build_job_dag(spec, settings)
        except Exception:
            log.exception(
                "Spark job spec %s skipped: its DAG could not be built", spec.source_file
            )
    return dags
