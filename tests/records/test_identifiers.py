"""next_field_value: a free identifier, counted up when the wanted one is taken."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from atmo_provider.records.db import session_scope
from atmo_provider.records.identifiers import next_field_value
from atmo_provider.records.models import Cluster


def _next(engine, value: str, **kwargs) -> str:
    with session_scope(engine) as session:
        return next_field_value(Cluster, "identifier", value, session=session, **kwargs)


def test_a_free_value_is_returned_unchanged(records_engine, make_cluster):
    make_cluster(identifier="bar")

    assert _next(records_engine, "foo") == "foo"


def test_a_taken_value_gets_the_counter_two(records_engine, make_cluster):
    make_cluster(identifier="foo")

    assert _next(records_engine, "foo") == "foo-2"


def test_the_counter_goes_up_past_taken_values(records_engine, make_cluster):
    make_cluster(identifier="foo")
    make_cluster(identifier="foo-2")

    assert _next(records_engine, "foo") == "foo-3"


def test_an_existing_counter_in_the_wanted_value_is_replaced(records_engine, make_cluster):
    make_cluster(identifier="foo-7")

    assert _next(records_engine, "foo-7") == "foo-2"


def test_counted_values_are_cut_to_max_length(records_engine, make_cluster):
    make_cluster(identifier="abcdefghij")

    assert _next(records_engine, "abcdefghij", max_length=10) == "abcdefgh-2"


def test_a_longer_counter_cuts_the_base_further(records_engine, make_cluster):
    make_cluster(identifier="abcdefghij")
    for number in range(2, 10):
        make_cluster(identifier=f"abcdefgh-{number}")

    assert _next(records_engine, "abcdefghij", max_length=10) == "abcdefg-10"


def test_a_cut_does_not_leave_a_doubled_separator(records_engine, make_cluster):
    make_cluster(identifier="abcdefg-hij")

    assert _next(records_engine, "abcdefg-hij", max_length=10) == "abcdefg-2"


def test_start_and_separator_are_honoured(records_engine, make_cluster):
    make_cluster(identifier="foo")

    assert _next(records_engine, "foo", start=5, separator="_") == "foo_5"


def test_like_wildcards_in_the_value_are_taken_literally(records_engine, make_cluster):
    make_cluster(identifier="a_b")
    make_cluster(identifier="axb-2")

    assert _next(records_engine, "a_b") == "a_b-2"


def test_queryset_limits_where_clashes_count(records_engine, make_cluster):
    make_cluster(identifier="foo", created_by="alice")
    bobs = select(Cluster).where(Cluster.created_by == "bob")

    assert _next(records_engine, "foo", queryset=bobs) == "foo"


def test_max_length_too_short_for_the_counter_is_refused(records_engine, make_cluster):
    make_cluster(identifier="foo")

    with pytest.raises(ValueError, match="max_length 2"):
        _next(records_engine, "foo", max_length=2)


def test_one_query_finds_the_next_value(records_engine, make_cluster):
    for identifier in ("foo", "foo-2", "foo-3", "foo-4"):
        make_cluster(identifier=identifier)
    statements = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(records_engine, "before_cursor_execute", count)
    try:
        assert _next(records_engine, "foo") == "foo-5"
    finally:
        event.remove(records_engine, "before_cursor_execute", count)
    assert len(statements) == 1
