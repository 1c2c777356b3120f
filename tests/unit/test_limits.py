"""Per-user cluster limits, counted from the records: active clusters and their total size."""

from __future__ import annotations

import pytest

from atmo_provider.errors import AtmoValidationError
from atmo_provider.limits import check_launch_limits, user_usage
from atmo_provider.records.db import dispose_engines, engine_from_url, session_scope
from atmo_provider.records.migrate import migrate_engine
from atmo_provider.records.models import Cluster
from atmo_provider.settings import AtmoSettings

LIMITS = AtmoSettings(max_active_clusters_per_user=2, max_total_size_per_user=10)


@pytest.fixture
def session(tmp_path):
    engine = engine_from_url(f"sqlite:///{tmp_path / 'atmo.db'}")
    migrate_engine(engine)
    with session_scope(engine) as session:
        yield session
    dispose_engines()


def add_cluster(session, owner: str, size: int, status: str = "WAITING") -> None:
    Cluster(
        identifier="c",
        created_by=owner,
        emr_release="6.15.0",
        size=size,
        most_recent_status=status,
    ).save(session)


def test_usage_counts_only_the_users_active_clusters(session):
    add_cluster(session, "ada", 3)
    add_cluster(session, "ada", 4, status="BOOTSTRAPPING")
    add_cluster(session, "ada", 5, status="TERMINATED")
    add_cluster(session, "bob", 6)

    usage = user_usage(session, "ada")

    assert (usage.active_clusters, usage.total_size) == (2, 7)


def test_launch_within_the_limits_passes(session):
    add_cluster(session, "ada", 3)

    assert check_launch_limits(session, "ada", 7, LIMITS).active_clusters == 1


def test_launch_over_the_active_cluster_limit_is_refused_naming_the_limit(session):
    add_cluster(session, "ada", 1)
    add_cluster(session, "ada", 1)

    with pytest.raises(AtmoValidationError) as refused:
        check_launch_limits(session, "ada", 1, LIMITS)

    assert refused.value.field == "owner"
    assert "ada has 2 active cluster(s)" in refused.value.message
    assert "max_active_clusters_per_user is 2" in refused.value.message


def test_launch_over_the_total_size_limit_is_refused_naming_the_limit(session):
    add_cluster(session, "ada", 8)

    with pytest.raises(AtmoValidationError) as refused:
        check_launch_limits(session, "ada", 3, LIMITS)

    assert refused.value.field == "size"
    assert "max_total_size_per_user is 10" in refused.value.message
    assert "at most 2 node(s), got 3" in refused.value.message


def test_terminated_clusters_do_not_count(session):
    for _ in range(3):
        add_cluster(session, "ada", 9, status="TERMINATED_WITH_ERRORS")

    assert check_launch_limits(session, "ada", 10, LIMITS).active_clusters == 0


def test_exempt_user_passes_over_the_limits(session):
    add_cluster(session, "maintainer", 10)
    add_cluster(session, "maintainer", 10)
    settings = AtmoSettings(
        max_active_clusters_per_user=2,
        max_total_size_per_user=10,
        limit_exempt_users=("maintainer",),
    )

    usage = check_launch_limits(session, "maintainer", 30, settings)

    assert usage.total_size == 20


def test_zero_turns_a_limit_off(session):
    for _ in range(4):
        add_cluster(session, "ada", 30)
    settings = AtmoSettings(max_active_clusters_per_user=0, max_total_size_per_user=0)

    assert check_launch_limits(session, "ada", 30, settings).active_clusters == 4


def test_limits_are_read_from_the_atmo_section():
    settings = AtmoSettings.from_mapping(
        {
            "max_active_clusters_per_user": "3",
            "max_total_size_per_user": "40",
            "limit_exempt_users": "ada, bob",
        }
    )

    assert settings.max_active_clusters_per_user == 3
    assert settings.max_total_size_per_user == 40
    assert settings.limit_exempt_users == ("ada", "bob")
