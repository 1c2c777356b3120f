"""Full-jitter backoff: bounds, spread and large retry numbers."""

from __future__ import annotations

import random
import statistics

import pytest

from atmo_provider.backoff import ExpoBackoffFullJitter, backoff


def test_ceiling_doubles_from_base_until_cap():
    policy = ExpoBackoffFullJitter(base=1, cap=60)

    assert [policy.expo(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


@pytest.mark.parametrize("n", [0, 1, 5, 11, 12, 30])
def test_delay_stays_between_zero_and_ceiling(n):
    policy = ExpoBackoffFullJitter(base=1, cap=3600, rng=random.Random(n))

    delays = [policy.backoff(n) for _ in range(500)]

    assert min(delays) >= 0
    assert max(delays) <= min(3600, 2**n)


def test_delays_spread_over_the_whole_range():
    policy = ExpoBackoffFullJitter(base=1, cap=100, rng=random.Random(7))

    delays = [policy.backoff(10) for _ in range(2000)]

    assert min(delays) < 10
    assert max(delays) > 90
    assert 40 < statistics.mean(delays) < 60


def test_retry_number_ten_thousand_gives_the_cap_without_overflow():
    policy = ExpoBackoffFullJitter(base=1, cap=3600, rng=random.Random(1))

    assert policy.expo(10_000) == 3600
    assert 0 <= policy.backoff(10_000) <= 3600


def test_module_function_uses_cap_for_large_retry_numbers():
    delays = [backoff(10_000, cap=5) for _ in range(200)]

    assert all(0 <= delay <= 5 for delay in delays)


def test_zero_base_never_waits():
    assert ExpoBackoffFullJitter(base=0, cap=10).backoff(50) == 0


def test_negative_retry_number_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        ExpoBackoffFullJitter(base=1, cap=10).expo(-1)


def test_negative_base_or_cap_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        ExpoBackoffFullJitter(base=-1, cap=10)
