"""Create the records tables: clusters, Spark jobs, their runs and object permissions.

Revision ID: 0001
Revises:
Create Date: 2026-12-04 15:48:10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Timestamps are stored in UTC; the models read them back timezone-aware.
TIMESTAMP = sa.DateTime(timezone=True)


def _created_by_columns() -> list[sa.Column]:
    return [
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_by_email", sa.String(length=256), nullable=False),
    ]


def _edited_at_columns() -> list[sa.Column]:
    return [
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("modified_at", TIMESTAMP, nullable=False),
    ]


def _create_clusters() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("lifetime", sa.Integer(), nullable=False),
        sa.Column("lifetime_extension_count", sa.Integer(), nullable=False),
        sa.Column("emr_release", sa.String(length=50), nullable=False),
        sa.Column("ssh_key_fingerprint", sa.String(length=128), nullable=False),
        sa.Column("jobflow_id", sa.String(length=50), nullable=True),
        sa.Column("task_instance_key", sa.String(length=500), nullable=True),
        sa.Column("most_recent_status", sa.String(length=50), nullable=False),
        sa.Column("status_reason_code", sa.String(length=100), nullable=False),
        sa.Column("status_reason_message", sa.Text(), nullable=False),
        sa.Column("master_address", sa.String(length=255), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("expiration_mail_sent", sa.Boolean(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("ready_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        *_created_by_columns(),
        *_edited_at_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_clusters"),
        sa.UniqueConstraint("jobflow_id", name="uq_clusters_jobflow_id"),
    )
    for column in ("created_at", "created_by", "expires_at", "identifier", "most_recent_status"):
        op.create_index(f"ix_clusters_{column}", "clusters", [column])


def _create_spark_jobs() -> None:
    op.create_table(
        "spark_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("spec_file", sa.String(length=1024), nullable=False),
        sa.Column("notebook_path", sa.String(length=1024), nullable=False),
        sa.Column("notebook_uri", sa.String(length=1024), nullable=False),
        sa.Column("result_visibility", sa.String(length=50), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("interval_in_hours", sa.Integer(), nullable=False),
        sa.Column("job_timeout", sa.Integer(), nullable=False),
        sa.Column("emr_release", sa.String(length=50), nullable=False),
        sa.Column("start_date", TIMESTAMP, nullable=False),
        sa.Column("end_date", TIMESTAMP, nullable=True),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        *_created_by_columns(),
        *_edited_at_columns(),
        sa.CheckConstraint(
            "result_visibility IN ('private', 'public')",
            name="ck_spark_jobs_result_visibility",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_spark_jobs"),
        sa.UniqueConstraint("identifier", name="uq_spark_jobs_identifier"),
    )
    for column in ("created_at", "created_by", "start_date"):
        op.create_index(f"ix_spark_jobs_{column}", "spark_jobs", [column])


def _create_spark_job_runs() -> None:
    op.create_table(
        "spark_job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("spark_job_id", sa.Integer(), nullable=False),
        sa.Column("dag_run_id", sa.String(length=250), nullable=True),
        sa.Column("jobflow_id", sa.String(length=50), nullable=True),
        sa.Column("step_id", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("status_reason_code", sa.String(length=100), nullable=False),
        sa.Column("status_reason_message", sa.Text(), nullable=False),
        sa.Column("emr_release", sa.String(length=50), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("scheduled_at", TIMESTAMP, nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("ready_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        *_edited_at_columns(),
        sa.ForeignKeyConstraint(
            ["spark_job_id"],
            ["spark_jobs.id"],
            name="fk_spark_job_runs_spark_job_id_spark_jobs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_spark_job_runs"),
        sa.UniqueConstraint("jobflow_id", name="uq_spark_job_runs_jobflow_id"),
    )
    for column in ("created_at", "spark_job_id"):
        op.create_index(f"ix_spark_job_runs_{column}", "spark_job_runs", [column])


def _create_object_permissions() -> None:
    op.create_table(
        "object_permissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=50), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column("permission", sa.String(length=20), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=True),
        sa.Column("role", sa.String(length=256), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "permission IN ('view', 'add', 'change', 'delete')",
            name="ck_object_permissions_permission",
        ),
        sa.CheckConstraint(
            "(username IS NULL AND role IS NOT NULL) OR (username IS NOT NULL AND role IS NULL)",
            name="ck_object_permissions_one_principal",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_object_permissions"),
    )
    op.create_index(
        "ux_object_permissions_grant",
        "object_permissions",
        [
            "object_type",
            sa.text("coalesce(object_id, 0)"),
            "permission",
            sa.text("coalesce(username, '')"),
            sa.text("coalesce(role, '')"),
        ],
        unique=True,
    )
    op.create_index(
        "ix_object_permissions_user",
        "object_permissions",
        ["username", "object_type", "permission", "object_id"],
    )
    op.create_index(
        "ix_object_permissions_role",
        "object_permissions",
        ["role", "object_type", "permission", "object_id"],
    )
    op.create_index(
        "ix_object_permissions_object", "object_permissions", ["object_type", "object_id"]
    )


def upgrade() -> None:
    """Create the four tables and their indexes."""
    _create_clusters()
    _create_spark_jobs()
    _create_spark_job_runs()
    _create_object_permissions()


def downgrade() -> None:
    """Drop the four tables, with their indexes."""
    for table in ("object_permissions", "spark_job_runs", "spark_jobs", "clusters"):
        op.drop_table(table)
