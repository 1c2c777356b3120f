"""The Spark jobs' DAGs in Airflow's metadata database, as the ATMO tab uses them.

The tab runs inside Airflow's API server, which may use Airflow's own database (task code may
not). Every Spark job ``foo`` has the DAG ``atmo_job_foo``; the tab reads whether it is paused
and when it runs next, triggers a run with Airflow's ``trigger_dag`` and pauses or resumes it
through ``DagModel.is_paused``. Each method opens one short session of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["AirflowDags", "DagInfo", "DagNotInAirflow", "job_dag_id"]

log = logging.getLogger(__name__)

#: DAG ids of Spark jobs are this prefix and the job's identifier.
JOB_DAG_PREFIX = "atmo_job_"


def job_dag_id(identifier: str) -> str:
    """Return the id of the DAG that runs the Spark job ``identifier``.

    :param identifier: the job's identifier.
    """
    return f"{JOB_DAG_PREFIX}{identifier}"


class DagNotInAirflow(LookupError):
    """The DAG of a Spark job is not (or no longer) in Airflow's database."""


@dataclass(frozen=True)
class DagInfo:
    """What the tab shows about a job's DAG.

    :param dag_id: the DAG id.
    :param is_paused: the DAG is paused: the scheduler starts no run.
    :param next_run: when the scheduler creates the next run, if it is scheduled.
    :param has_active_run: a run is queued or running.
    """

    dag_id: str
    is_paused: bool
    next_run: datetime | None = None
    has_active_run: bool = False


class AirflowDags:
    """Read and change the Spark jobs' DAGs in Airflow's metadata database."""

    def infos(self, dag_ids: Iterable[str]) -> dict[str, DagInfo]:
        """Return what the tab shows about each DAG in ``dag_ids`` Airflow knows, by id.

        Two queries whatever the number of DAGs: one on the DAG table, one on active runs.

        :param dag_ids: DAG ids; unknown ones are left out of the result.
        """
        from airflow.models import DagModel, DagRun
        from airflow.utils.session import create_session
        from airflow.utils.state import DagRunState
        from sqlalchemy import select

        wanted = sorted(set(dag_ids))
        if not wanted:
            return {}

        with create_session() as session:
            rows = session.execute(
                select(
                    DagModel.dag_id,
                    DagModel.is_paused,
                    DagModel.next_dagrun_create_after,
                ).where(DagModel.dag_id.in_(wanted))
            ).all()
            active = set(
                session.scalars(
                    select(DagRun.dag_id)
                    .where(
                        DagRun.dag_id.in_(wanted),
                        DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]),
                    )
                    .distinct()
                )
            )

        return {
            dag_id: DagInfo(
                dag_id=dag_id,
                is_paused=bool(is_paused),
                next_run=None if is_paused else next_run,
                has_active_run=dag_id in active,
            )
            for dag_id, is_paused, next_run in rows
        }

    def info(self, dag_id: str) -> DagInfo | None:
        """Return what the tab shows about ``dag_id``; ``None`` when Airflow has no such DAG.

        :param dag_id: the DAG id.
        """
        return self.infos([dag_id]).get(dag_id)

    def trigger(self, dag_id: str, username: str) -> str:
        """Start a manual run of ``dag_id`` for ``username``; return its run id.

        :param dag_id: the DAG id.
        :param username: the user who asked, recorded as the run's triggering user.
        """
        from airflow.api.common.trigger_dag import trigger_dag
        from airflow.exceptions import DagNotFound
        from airflow.utils.session import create_session
        from airflow.utils.types import DagRunTriggeredByType

        try:
            with create_session() as session:
                run = trigger_dag(
                    dag_id,
                    triggered_by=DagRunTriggeredByType.UI,
                    triggering_user_name=username,
                    session=session,
                )
                run_id = run.run_id if run is not None else ""
        except DagNotFound as exc:
            raise DagNotInAirflow(dag_id) from exc

        log.info("User %s triggered the run %s of DAG %s", username, run_id, dag_id)
        return run_id

    def set_paused(self, dag_id: str, paused: bool, username: str) -> None:
        """Pause or resume ``dag_id``.

        :param dag_id: the DAG id.
        :param paused: pause when true, resume when false.
        :param username: the user who asked, for the log.
        """
        from airflow.models import DagModel
        from airflow.utils.session import create_session
        from sqlalchemy import update

        with create_session() as session:
            changed = session.execute(
                update(DagModel).where(DagModel.dag_id == dag_id).values(is_paused=paused)
            ).rowcount
        if not changed:
            raise DagNotInAirflow(dag_id)

        log.info("User %s %s DAG %s", username, "paused" if paused else "resumed", dag_id)
