"""Fault rules of the embedded AWS: validation and matching against new clusters."""

from __future__ import annotations

import pytest

from atmo_provider.embedded.faults import FaultBook, FaultRule


def test_rule_applies_to_a_cluster_whose_name_contains_its_substring():
    rule = FaultRule(name_contains="job-nightly", fault="step_failed")

    assert rule.applies_to("atmo-dev-job-nightly-report", asks_spot=False)
    assert not rule.applies_to("atmo-dev-cluster-alice", asks_spot=False)


def test_spot_rule_applies_only_to_clusters_asking_for_spot():
    rule = FaultRule(name_contains="alice", fault="spot_capacity_refused")

    assert rule.applies_to("atmo-dev-cluster-alice", asks_spot=True)
    assert not rule.applies_to("atmo-dev-cluster-alice", asks_spot=False)


def test_unknown_fault_is_refused_with_the_allowed_names():
    with pytest.raises(ValueError, match="fault must be one of .*bootstrap_failure"):
        FaultRule(name_contains="x", fault="meteor_strike")


def test_times_below_one_is_refused():
    with pytest.raises(ValueError, match="times must be a whole number >= 1, got 0"):
        FaultRule(name_contains="x", fault="no_log_uri", times=0)


def test_empty_substring_is_refused():
    with pytest.raises(ValueError, match="name_contains must be a non-empty substring"):
        FaultRule(name_contains="", fault="no_log_uri")


def test_rule_from_dict_refuses_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown fault rule keys \['colour'\]"):
        FaultRule.from_dict({"name_contains": "x", "fault": "no_log_uri", "colour": "red"})


def test_rule_reports_its_own_code_and_message_over_the_defaults():
    rule = FaultRule(
        name_contains="x", fault="terminated_with_errors", code="VALIDATION_ERROR", message="bad"
    )

    assert (rule.reason_code, rule.reason_message) == ("VALIDATION_ERROR", "bad")


def test_rule_falls_back_to_the_fault_defaults():
    rule = FaultRule(name_contains="x", fault="bootstrap_failure")

    assert rule.reason_code == "BOOTSTRAP_FAILURE"
    assert "bootstrap action" in rule.reason_message


def test_rule_is_used_up_after_its_times():
    book = FaultBook()
    book.add(FaultRule(name_contains="alice", fault="bootstrap_failure", times=2))

    taken = [bool(book.take("cluster-alice", asks_spot=False)) for _ in range(3)]

    assert taken == [True, True, False]
    assert book.rules() == []


def test_take_attaches_one_rule_per_fault_and_keeps_the_other_for_later():
    book = FaultBook()
    book.add(FaultRule(name_contains="alice", fault="step_failed", code="first"))
    book.add(FaultRule(name_contains="alice", fault="step_failed", code="second"))
    book.add(FaultRule(name_contains="alice", fault="no_log_uri"))

    first = book.take("cluster-alice", asks_spot=False)
    second = book.take("cluster-alice", asks_spot=False)

    assert sorted(first) == ["no_log_uri", "step_failed"]
    assert first["step_failed"].code == "first"
    assert second["step_failed"].code == "second"


def test_take_leaves_rules_of_other_clusters_untouched():
    book = FaultBook()
    book.add(FaultRule(name_contains="bob", fault="no_log_uri"))

    assert book.take("cluster-alice", asks_spot=False) == {}
    assert book.rules() == [
        {
            "name_contains": "bob",
            "fault": "no_log_uri",
            "times": 1,
            "code": None,
            "message": None,
            "remaining": 1,
        }
    ]
