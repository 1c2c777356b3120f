"""Object permissions: what creators, roles and strangers may do with a record."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from atmo_provider.records.db import session_scope
from atmo_provider.records.models import Cluster, ObjectPermission, SparkJob
from atmo_provider.records.permissions import (
    DEFAULT_MAINTAINER_ROLE,
    PermissionMigrator,
    add_permission_required,
    change_permission_required,
    delete_permission_required,
    get_object_or_none,
    grant,
    has_permission,
    permission_required,
    revoke,
    view_permission_required,
    viewable_ids,
)

MAINTAINERS = [DEFAULT_MAINTAINER_ROLE]


def _grants(engine, obj) -> set[tuple]:
    with session_scope(engine) as session:
        rows = session.scalars(
            select(ObjectPermission).where(
                ObjectPermission.object_type == obj.__tablename__,
                ObjectPermission.object_id == obj.id,
            )
        )
        return {(row.permission, row.username, row.role) for row in rows}


def test_creator_gets_view_change_delete_on_save(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice")

    assert _grants(records_engine, cluster) == {
        ("view", "alice", None),
        ("change", "alice", None),
        ("delete", "alice", None),
    }


def test_saving_an_existing_record_again_grants_nothing_new(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice")

    with session_scope(records_engine) as session:
        cluster = session.get(Cluster, cluster.id)
        cluster.created_by = "bob"
        cluster.save(session)

    assert {user for _perm, user, _role in _grants(records_engine, cluster)} == {"alice"}


def test_creator_permissions_roll_back_with_the_record(records_engine):
    with pytest.raises(RuntimeError), session_scope(records_engine) as session:
        Cluster(identifier="foo", created_by="alice", emr_release="6.15.0").save(session)
        raise RuntimeError("the launch failed")

    with session_scope(records_engine) as session:
        assert session.scalars(select(ObjectPermission)).all() == []


def test_other_users_have_no_permission_on_a_cluster(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice")

    with session_scope(records_engine) as session:
        assert not has_permission(session, "bob", [], "view", cluster)


def test_maintainers_role_may_view_a_new_spark_job(records_engine, make_job):
    job = make_job(created_by="alice")

    with session_scope(records_engine) as session:
        assert has_permission(session, "carol", MAINTAINERS, "view", job)
        assert not has_permission(session, "carol", MAINTAINERS, "change", job)
        assert not has_permission(session, "carol", MAINTAINERS, "delete", job)


def test_maintainers_role_loses_view_when_the_job_is_deleted(records_engine, make_job):
    job = make_job(created_by="alice")

    with session_scope(records_engine) as session:
        session.get(SparkJob, job.id).delete(session)

    assert _grants(records_engine, job) == set()


def test_get_object_or_none_returns_a_permitted_object(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice")

    with session_scope(records_engine) as session:
        found = get_object_or_none(session, Cluster, "view", "alice", [], id=cluster.id)

    assert found is not None and found.id == cluster.id


def test_get_object_or_none_returns_none_for_a_missing_object(records_engine, make_cluster):
    make_cluster(created_by="alice")

    with session_scope(records_engine) as session:
        assert get_object_or_none(session, Cluster, "view", "alice", [], id=999_999) is None


def test_get_object_or_none_returns_none_for_a_forbidden_object(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice")

    with session_scope(records_engine) as session:
        assert get_object_or_none(session, Cluster, "view", "bob", [], id=cluster.id) is None


def test_role_grant_lets_a_member_view(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice")
    with session_scope(records_engine) as session:
        grant(session, "view", cluster, role="Ops")

    with session_scope(records_engine) as session:
        assert has_permission(session, "bob", ["Viewer", "Ops"], "view", cluster)
        assert not has_permission(session, "bob", ["Viewer"], "view", cluster)


def test_model_wide_grant_covers_every_object(records_engine, make_cluster):
    first, second = make_cluster(created_by="alice"), make_cluster(created_by="dave")
    with session_scope(records_engine) as session:
        grant(session, "view", Cluster, role="Admin")

    with session_scope(records_engine) as session:
        assert has_permission(session, "bob", ["Admin"], "view", first)
        assert has_permission(session, "bob", ["Admin"], "view", second)
        assert has_permission(session, "bob", ["Admin"], "view", Cluster)
        assert not has_permission(session, "alice", [], "view", Cluster)


def test_grant_twice_keeps_one_row_and_reports_it_is_not_new(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice")

    with session_scope(records_engine) as session:
        first = grant(session, "view", cluster, role="Ops")
        second = grant(session, "view", cluster, role="Ops")

    assert (first, second) == (True, False)
    assert ("view", None, "Ops") in _grants(records_engine, cluster)
    assert len(_grants(records_engine, cluster)) == 4


def test_revoke_takes_the_permission_away(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice")

    with session_scope(records_engine) as session:
        assert revoke(session, "change", cluster, user="alice")
        assert not revoke(session, "change", cluster, user="alice")

    with session_scope(records_engine) as session:
        assert not has_permission(session, "alice", [], "change", cluster)
        assert has_permission(session, "alice", [], "view", cluster)


def test_grant_needs_exactly_one_of_user_and_role(records_engine, make_cluster):
    cluster = make_cluster()

    with session_scope(records_engine) as session, pytest.raises(ValueError, match="exactly"):
        grant(session, "view", cluster, user="bob", role="Ops")


def test_unknown_permission_is_refused_with_the_allowed_names(records_engine, make_cluster):
    cluster = make_cluster()

    with session_scope(records_engine) as session, pytest.raises(ValueError, match="view, add"):
        grant(session, "edit", cluster, user="bob")


def test_viewable_ids_lists_own_and_role_granted_objects(records_engine, make_cluster):
    own = make_cluster(created_by="alice")
    shared = make_cluster(created_by="dave")
    make_cluster(created_by="dave")
    with session_scope(records_engine) as session:
        grant(session, "view", session.get(Cluster, shared.id), role="Ops")

    with session_scope(records_engine) as session:
        mine = set(session.scalars(viewable_ids("alice", [], Cluster)))
        with_roles = set(session.scalars(viewable_ids("alice", ["Ops"], Cluster)))

    assert mine == {own.id}
    assert with_roles == {own.id, shared.id}


def test_viewable_ids_work_as_a_subquery(records_engine, make_job):
    own = make_job(created_by="alice")
    make_job(created_by="dave")

    with session_scope(records_engine) as session:
        jobs = session.scalars(
            select(SparkJob).where(SparkJob.id.in_(viewable_ids("alice", [], SparkJob)))
        ).all()
        everything = session.scalars(
            select(SparkJob).where(SparkJob.id.in_(viewable_ids("carol", MAINTAINERS, SparkJob)))
        ).all()

    assert [job.id for job in jobs] == [own.id]
    assert len(everything) == 2


@pytest.mark.parametrize(
    ("factory", "perm"),
    [
        (view_permission_required, "view"),
        (change_permission_required, "change"),
        (delete_permission_required, "delete"),
        (add_permission_required, "add"),
    ],
)
def test_permission_required_variants_check_their_permission(
    records_engine, make_cluster, factory, perm
):
    cluster = make_cluster(created_by="alice")
    check = factory(Cluster)
    with session_scope(records_engine) as session:
        grant(session, perm, cluster, user="bob")

    with session_scope(records_engine) as session:
        assert check(session, "bob", [], id=cluster.id).id == cluster.id
        assert check(session, "erin", [], id=cluster.id) is None


def test_permission_required_applies_its_fixed_lookup(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice", identifier="bar")
    bar_only = permission_required("view", Cluster, identifier="bar")
    baz_only = permission_required("view", Cluster, identifier="baz")

    with session_scope(records_engine) as session:
        assert bar_only(session, "alice", [], id=cluster.id) is not None
        assert baz_only(session, "alice", [], id=cluster.id) is None


def test_permission_migrator_assigns_to_every_existing_owner(records_engine, make_cluster):
    first, second = make_cluster(created_by="alice"), make_cluster(created_by="dave")
    migrator = PermissionMigrator(Cluster, "add", user_field="created_by")

    with session_scope(records_engine) as session:
        assert migrator.assign(session) == 2
        assert migrator.assign(session) == 0

    with session_scope(records_engine) as session:
        assert has_permission(session, "alice", [], "add", first)
        assert has_permission(session, "dave", [], "add", second)
        assert not has_permission(session, "alice", [], "add", second)


def test_permission_migrator_removes_what_it_assigned(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice")
    migrator = PermissionMigrator(Cluster, "add", user_field="created_by", group="Ops")
    with session_scope(records_engine) as session:
        migrator.assign(session)

    with session_scope(records_engine) as session:
        assert migrator.remove(session) == 2

    with session_scope(records_engine) as session:
        assert not has_permission(session, "alice", ["Ops"], "add", cluster)
        assert has_permission(session, "alice", [], "view", cluster)


def test_permission_migrator_group_backfills_maintainers_view(records_engine, make_job):
    job = make_job(created_by="alice")
    with session_scope(records_engine) as session:
        revoke(session, "view", job, role=DEFAULT_MAINTAINER_ROLE)

    with session_scope(records_engine) as session:
        PermissionMigrator(SparkJob, "view", group=DEFAULT_MAINTAINER_ROLE).assign(session)

    with session_scope(records_engine) as session:
        assert has_permission(session, "carol", MAINTAINERS, "view", job)


def test_permission_migrator_remove_spares_other_users(records_engine, make_cluster):
    cluster = make_cluster(created_by="alice")
    with session_scope(records_engine) as session:
        grant(session, "view", cluster, user="bob")

    with session_scope(records_engine) as session:
        PermissionMigrator(Cluster, "view", user_field="created_by").remove(session)

    with session_scope(records_engine) as session:
        assert not has_permission(session, "alice", [], "view", cluster)
        assert has_permission(session, "bob", [], "view", cluster)
