"""The records: clusters, Spark jobs, their runs, and object permissions.

Tasks write them through :func:`atmo_provider.records.db.session_scope`; the ATMO tab reads
them. New clusters and Spark jobs are saved with ``obj.save(session)`` so that their creator
(and, for Spark jobs, the maintainers role) gets permissions in the same transaction; they are
deleted with ``obj.delete(session)`` so that the permissions go with them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from atmo_provider.records.mixins import (
    CreatedByMixin,
    EditedAtMixin,
    URLActionMixin,
    UTCDateTime,
    created_objects,
    register_created,
    utcnow,
)

if TYPE_CHECKING:
    from atmo_provider.settings import AtmoSettings

__all__ = [
    "ACTIVE_STATUSES",
    "FAILED_STATE_CHANGE_REASONS",
    "FAILED_STATUSES",
    "FINAL_STATUSES",
    "PERMISSIONS",
    "READY_STATUSES",
    "ROUTES",
    "Base",
    "Cluster",
    "ObjectPermission",
    "SparkJob",
    "SparkJobRun",
    "created_clusters",
    "created_spark_job_runs",
    "created_spark_jobs",
]

#: Constraint and index names, stable across backends so that migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STATUS_STARTING = "STARTING"
STATUS_BOOTSTRAPPING = "BOOTSTRAPPING"
STATUS_RUNNING = "RUNNING"
STATUS_WAITING = "WAITING"
STATUS_TERMINATING = "TERMINATING"
STATUS_TERMINATED = "TERMINATED"
STATUS_TERMINATED_WITH_ERRORS = "TERMINATED_WITH_ERRORS"

#: EMR cluster states of a cluster that exists or is about to.
ACTIVE_STATUSES = frozenset(
    {STATUS_STARTING, STATUS_BOOTSTRAPPING, STATUS_RUNNING, STATUS_WAITING, STATUS_TERMINATING}
)
#: EMR cluster states in which a cluster accepts work.
READY_STATUSES = frozenset({STATUS_RUNNING, STATUS_WAITING})
#: EMR cluster states after which nothing changes.
FINAL_STATUSES = frozenset({STATUS_TERMINATED, STATUS_TERMINATED_WITH_ERRORS})
#: EMR cluster states of a cluster that ended with errors.
FAILED_STATUSES = frozenset({STATUS_TERMINATED_WITH_ERRORS})
#: EMR state change reason codes that mean a failure the owner should hear about.
FAILED_STATE_CHANGE_REASONS = frozenset(
    {"INTERNAL_ERROR", "VALIDATION_ERROR", "INSTANCE_FAILURE", "BOOTSTRAP_FAILURE", "STEP_FAILURE"}
)

#: Permission names of :class:`ObjectPermission`.
PERMISSIONS = ("view", "add", "change", "delete")

#: The route table of the ATMO pages: route name -> path template below the app's mount point.
ROUTES = MappingProxyType(
    {
        "clusters-detail": "/clusters/{id}",
        "clusters-extend": "/clusters/{id}/extend",
        "clusters-terminate": "/clusters/{id}/terminate",
        "jobs-detail": "/jobs/{id}",
        "jobs-download": "/jobs/{id}/download",
        "jobs-run": "/jobs/{id}/run",
    }
)


class Base(DeclarativeBase):
    """The declarative base of the records."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Cluster(CreatedByMixin, EditedAtMixin, URLActionMixin, Base):
    """A Spark cluster a user launched on EMR, and what we last heard of it."""

    __tablename__ = "clusters"

    #: Cluster size when none is given.
    DEFAULT_SIZE: ClassVar[int] = 1
    #: Lifetime in hours when none is given.
    DEFAULT_LIFETIME: ClassVar[int] = 8

    url_actions = ["detail", "extend", "terminate"]
    url_prefix = "clusters"
    url_routes = ROUTES

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(100), index=True)
    size: Mapped[int] = mapped_column(Integer, default=DEFAULT_SIZE)
    lifetime: Mapped[int] = mapped_column(Integer, default=DEFAULT_LIFETIME)
    lifetime_extension_count: Mapped[int] = mapped_column(Integer, default=0)
    emr_release: Mapped[str] = mapped_column(String(50))
    ssh_key_fingerprint: Mapped[str] = mapped_column(String(128), default="")
    jobflow_id: Mapped[str | None] = mapped_column(String(50), unique=True)
    task_instance_key: Mapped[str | None] = mapped_column(String(500))
    most_recent_status: Mapped[str] = mapped_column(String(50), default="", index=True)
    status_reason_code: Mapped[str] = mapped_column(String(100), default="")
    status_reason_message: Mapped[str] = mapped_column(Text, default="")
    master_address: Mapped[str] = mapped_column(String(255), default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    expiration_mail_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<Cluster {self.id} {self.identifier!r} {self.jobflow_id or '-'}>"

    @property
    def is_active(self) -> bool:
        """Whether the cluster exists or is about to."""
        return self.most_recent_status in ACTIVE_STATUSES

    @property
    def is_ready(self) -> bool:
        """Whether the cluster waits for work (EMR state WAITING)."""
        return self.most_recent_status == STATUS_WAITING

    @property
    def is_terminated(self) -> bool:
        """Whether the cluster has ended, with or without errors."""
        return self.most_recent_status in FINAL_STATUSES

    @property
    def is_failed(self) -> bool:
        """Whether the cluster ended with errors."""
        return self.most_recent_status in FAILED_STATUSES

    def save(self, session: Session, *, settings: AtmoSettings | None = None) -> Cluster:
        """Save the cluster; a new one expires ``lifetime`` hours from now unless told otherwise.

        :param session: an open session.
        :param settings: unused by clusters; accepted like every record's ``save``.
        """
        if self.expires_at is None:
            lifetime = self.lifetime if self.lifetime is not None else self.DEFAULT_LIFETIME
            self.expires_at = utcnow() + timedelta(hours=lifetime)
        return super().save(session, settings=settings)

    def extend(self, hours: int) -> None:
        """Push the expiry back by ``hours`` and allow a new expiration mail.

        The caller checks the allowed range and that the cluster is active.

        :param hours: how many hours to add.
        """
        self.expires_at = (self.expires_at or utcnow()) + timedelta(hours=hours)
        self.lifetime_extension_count = (self.lifetime_extension_count or 0) + 1
        self.expiration_mail_sent = False


class SparkJob(CreatedByMixin, EditedAtMixin, URLActionMixin, Base):
    """A scheduled Spark job: a notebook run on a transient cluster every interval."""

    __tablename__ = "spark_jobs"
    __table_args__ = (
        CheckConstraint("result_visibility IN ('private', 'public')", name="result_visibility"),
    )

    INTERVAL_DAILY: ClassVar[int] = 24
    INTERVAL_WEEKLY: ClassVar[int] = 24 * 7
    INTERVAL_MONTHLY: ClassVar[int] = 24 * 30
    #: Hours a run may take when none is given.
    DEFAULT_JOB_TIMEOUT: ClassVar[int] = 24
    RESULT_PRIVATE: ClassVar[str] = "private"
    RESULT_PUBLIC: ClassVar[str] = "public"

    url_actions = ["detail", "download", "run"]
    url_prefix = "jobs"
    url_routes = ROUTES

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    spec_file: Mapped[str] = mapped_column(String(1024), default="")
    notebook_path: Mapped[str] = mapped_column(String(1024), default="")
    notebook_uri: Mapped[str] = mapped_column(String(1024), default="")
    result_visibility: Mapped[str] = mapped_column(String(50), default=RESULT_PRIVATE)
    size: Mapped[int] = mapped_column(Integer, default=1)
    interval_in_hours: Mapped[int] = mapped_column(Integer, default=INTERVAL_WEEKLY)
    job_timeout: Mapped[int] = mapped_column(Integer, default=DEFAULT_JOB_TIMEOUT)
    emr_release: Mapped[str] = mapped_column(String(50), default="")
    start_date: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    runs: Mapped[list[SparkJobRun]] = relationship(
        back_populates="spark_job",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="SparkJobRun.id.desc()",
    )

    def __repr__(self) -> str:
        return f"<SparkJob {self.id} {self.identifier!r}>"

    def is_expired(self, at: datetime | None = None) -> bool:
        """Whether the job's end date has passed.

        :param at: the moment to compare with; now when not given.
        """
        return self.end_date is not None and self.end_date <= (at or utcnow())

    def after_create(self, session: Session, settings: AtmoSettings | None) -> None:
        """Give the Spark job maintainers role view permission on the new job."""
        from atmo_provider.records.permissions import grant, maintainer_role_name

        grant(session, "view", self, role=maintainer_role_name(settings))


class SparkJobRun(EditedAtMixin, Base):
    """One run of a Spark job on its own transient cluster."""

    __tablename__ = "spark_job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spark_job_id: Mapped[int] = mapped_column(
        ForeignKey("spark_jobs.id", ondelete="CASCADE"), index=True
    )
    dag_run_id: Mapped[str | None] = mapped_column(String(250))
    jobflow_id: Mapped[str | None] = mapped_column(String(50), unique=True)
    step_id: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(50), default="")
    status_reason_code: Mapped[str] = mapped_column(String(100), default="")
    status_reason_message: Mapped[str] = mapped_column(Text, default="")
    emr_release: Mapped[str] = mapped_column(String(50), default="")
    size: Mapped[int | None] = mapped_column(Integer)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)

    spark_job: Mapped[SparkJob] = relationship(back_populates="runs")

    def __repr__(self) -> str:
        return f"<SparkJobRun {self.id} of job {self.spark_job_id} {self.status or '-'}>"

    @property
    def is_active(self) -> bool:
        """Whether the run's cluster exists or is about to."""
        return self.status in ACTIVE_STATUSES

    @property
    def is_failed(self) -> bool:
        """Whether the run's cluster ended with errors."""
        return self.status in FAILED_STATUSES


class ObjectPermission(Base):
    """A permission of a user or a role on one object, or on every object of a type.

    ``object_type`` is the table name of the model (``clusters``, ``spark_jobs``);
    ``object_id`` NULL means every object of that type (e.g. ``add``: may create one).
    Exactly one of ``username`` and ``role`` is set.
    """

    __tablename__ = "object_permissions"
    __table_args__ = (
        CheckConstraint("permission IN ('view', 'add', 'change', 'delete')", name="permission"),
        CheckConstraint(
            "(username IS NULL AND role IS NOT NULL) OR (username IS NOT NULL AND role IS NULL)",
            name="one_principal",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[int | None] = mapped_column(Integer)
    permission: Mapped[str] = mapped_column(String(20))
    username: Mapped[str | None] = mapped_column(String(256))
    role: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        who = f"user {self.username}" if self.username else f"role {self.role}"
        what = self.object_id if self.object_id is not None else "*"
        return f"<ObjectPermission {self.permission} on {self.object_type} {what} for {who}>"


# One row per grant; NULLs are folded so that the uniqueness holds on every backend.
Index(
    "ux_object_permissions_grant",
    ObjectPermission.object_type,
    func.coalesce(ObjectPermission.object_id, 0),
    ObjectPermission.permission,
    func.coalesce(ObjectPermission.username, ""),
    func.coalesce(ObjectPermission.role, ""),
    unique=True,
)
# "ids of type T the user (or one of these roles) may view": the dashboard queries.
Index(
    "ix_object_permissions_user",
    ObjectPermission.username,
    ObjectPermission.object_type,
    ObjectPermission.permission,
    ObjectPermission.object_id,
)
Index(
    "ix_object_permissions_role",
    ObjectPermission.role,
    ObjectPermission.object_type,
    ObjectPermission.permission,
    ObjectPermission.object_id,
)
# Every permission on one object: deleting it, cleaning up.
Index("ix_object_permissions_object", ObjectPermission.object_type, ObjectPermission.object_id)


def _select_created_spark_job_runs(username: str):
    return (
        select(SparkJobRun)
        .join(SparkJob, SparkJobRun.spark_job_id == SparkJob.id)
        .where(SparkJob.created_by == username)
        .order_by(SparkJobRun.created_at.desc(), SparkJobRun.id.desc())
    )


# A run is created by the scheduler; it counts as created by the owner of its job.
register_created("spark_job_runs", _select_created_spark_job_runs)


def created_clusters(session: Session, username: str) -> list[Cluster]:
    """Return the clusters ``username`` launched, newest first.

    :param session: an open session.
    :param username: the Airflow username.
    """
    return created_objects(session, username, "clusters")


def created_spark_jobs(session: Session, username: str) -> list[SparkJob]:
    """Return the Spark jobs ``username`` created, newest first.

    :param session: an open session.
    :param username: the Airflow username.
    """
    return created_objects(session, username, "spark_jobs")


def created_spark_job_runs(session: Session, username: str) -> list[SparkJobRun]:
    """Return the runs of the Spark jobs ``username`` created, newest first.

    :param session: an open session.
    :param username: the Airflow username.
    """
    return created_objects(session, username, "spark_job_runs")
