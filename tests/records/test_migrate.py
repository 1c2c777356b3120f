"""Schema migrations: they build what the models describe, and running them again is a no-op."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from atmo_provider.records.db import engine_from_url, session_scope
from atmo_provider.records.migrate import (
    VERSION_TABLE,
    current_revision,
    head_revision,
    migrate_engine,
)
from atmo_provider.records.models import Base, ObjectPermission

# SQLite cannot reflect the expression index that makes grants unique; it is tested by behaviour.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*expression-based index '?ux_object_permissions_grant"
)


def _schema(engine) -> dict[str, list]:
    inspector = inspect(engine)
    return {
        table: sorted(index["name"] for index in inspector.get_indexes(table))
        for table in inspector.get_table_names()
    }


def test_migration_creates_every_table_and_the_version_table(records_engine):
    tables = set(inspect(records_engine).get_table_names())

    assert tables == set(Base.metadata.tables) | {VERSION_TABLE}
    assert current_revision(records_engine) == head_revision()


def test_migrating_twice_changes_nothing(records_engine):
    before = _schema(records_engine)

    assert migrate_engine(records_engine) == head_revision()

    assert _schema(records_engine) == before
    assert current_revision(records_engine) == head_revision()


def test_migrated_schema_matches_the_models(records_engine):
    with records_engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


@pytest.mark.parametrize(
    "principal", [{"username": "alice"}, {"role": "Ops"}], ids=["user", "role"]
)
@pytest.mark.parametrize("object_id", [7, None], ids=["object", "model-wide"])
def test_the_database_refuses_a_duplicate_grant(records_engine, principal, object_id):
    row = {"object_type": "clusters", "object_id": object_id, "permission": "view", **principal}
    with session_scope(records_engine) as session:
        session.add(ObjectPermission(**row))

    with pytest.raises(IntegrityError), session_scope(records_engine) as session:
        session.add(ObjectPermission(**row))


def test_the_database_refuses_a_grant_to_nobody(records_engine):
    with pytest.raises(IntegrityError), session_scope(records_engine) as session:
        session.add(ObjectPermission(object_type="clusters", object_id=1, permission="view"))


def test_a_new_database_has_no_revision(tmp_path):
    engine = engine_from_url(f"sqlite:///{tmp_path}/new.db")

    assert current_revision(engine) is None
