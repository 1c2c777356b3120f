"""Full-jitter exponential backoff.

A retry waits a uniformly random time between zero and an exponentially growing ceiling, so
clients that failed together do not retry together (see "Exponential Backoff And Jitter" on the
AWS Architecture Blog). Used for task retries and for throttled AWS calls.
"""

from __future__ import annotations

import random

__all__ = ["ExpoBackoffFullJitter", "backoff"]


class ExpoBackoffFullJitter:
    """Fully jittered exponential backoff: a delay in ``[0, min(cap, base * 2**n)]``.

    :param base: the ceiling for the first retry (``n = 0``), in seconds.
    :param cap: the largest ceiling, in seconds.
    :param rng: the random source; a :class:`random.Random` of its own for reproducible tests.
    """

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        if base < 0 or cap < 0:
            raise ValueError(f"base and cap must not be negative, got base={base}, cap={cap}")
        self.base = base
        self.cap = cap
        self._rng = rng or random

    def expo(self, n: int) -> float:
        """Return the ceiling for retry number ``n``: ``min(cap, base * 2**n)``.

        Python integers do not overflow, but a float of ``2**n`` would for large ``n``; the
        comparison is done on the exponent so that ``n = 10_000`` costs nothing.
        """
        if n < 0:
            raise ValueError(f"retry number must not be negative, got {n}")
        if self.base == 0:
            return 0.0

        # base * 2**n >= cap  <=>  2**n >= cap / base; past 1,100 doublings any finite cap is hit.
        if n >= 1100 or self.base * 2.0**n >= self.cap:
            return float(self.cap)

        return float(self.base * 2.0**n)

    def backoff(self, n: int) -> float:
        """Return a uniformly random delay in ``[0, expo(n)]`` for retry number ``n``."""
        return self._rng.uniform(0, self.expo(n))


def backoff(n: int, cap: float = 3600, base: float = 1) -> float:
    """Return a fully jittered backoff delay in seconds for retry number ``n``.

    :param n: how many retries happened before this one (0 for the first retry).
    :param cap: the largest delay, in seconds.
    :param base: the ceiling of the first retry, in seconds.
    """
    return ExpoBackoffFullJitter(base, cap).backoff(n)
