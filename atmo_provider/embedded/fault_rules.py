"""Wire-level fault rules of the fault-injection proxy: which AWS calls to spoil, and how.

Part of the embedded AWS, a development and test facility. A rule names an AWS action (as
:mod:`atmo_provider.embedded.calls` names it), an effect and the share of matching calls it
applies to; the proxy asks :class:`WireRuleBook` what to do with each request. Unlike the
cluster fault rules of :mod:`atmo_provider.embedded.faults`, these act on single HTTP requests.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

__all__ = ["EFFECTS", "WireRule", "WireRuleBook"]

#: ``throttle``: answer as AWS does when it throttles (not forwarded); ``error500``: answer
#: HTTP 500 (not forwarded); ``drop_after_apply``: forward, then close the connection without
#: an answer; ``delay``: wait ``delay`` seconds, then forward.
EFFECTS = ("throttle", "error500", "drop_after_apply", "delay")


@dataclass(frozen=True)
class WireRule:
    """One way to spoil AWS calls of one action.

    :param action: the AWS action, e.g. ``RunJobFlow`` or ``PutObject``; ``*`` for any.
    :param effect: one of :data:`EFFECTS`.
    :param service: only calls of this service (``emr``, ``s3``); ``None`` for any.
    :param share: the share of matching calls the rule applies to, from 0 to 1.
    :param times: how many calls the rule applies to at most; ``None`` for no limit.
    :param delay: seconds to wait for the ``delay`` effect.
    """

    action: str
    effect: str
    service: str | None = None
    share: float = 1.0
    times: int | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.effect not in EFFECTS:
            raise ValueError(f"effect must be one of {list(EFFECTS)}, got {self.effect!r}")
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"share must lie between 0 and 1, got {self.share!r}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"times must be at least 1 or None, got {self.times!r}")
        if self.delay < 0:
            raise ValueError(f"delay must not be negative, got {self.delay!r}")

    def matches(self, service: str, action: str) -> bool:
        """Tell whether the rule is about calls of ``service`` and ``action``."""
        if self.service is not None and self.service != service:
            return False
        return self.action in ("*", action)


class WireRuleBook:
    """The proxy's rules, their remaining uses and a seeded random source; thread-safe.

    :param seed: the seed of the random source that decides which share of calls is spoiled.
    """

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._entries: list[list[object]] = []

    def set_rules(self, rules: list[WireRule], seed: int | None = None) -> None:
        """Replace every rule; reseed the random source when ``seed`` is given."""
        with self._lock:
            self._entries = [[rule, rule.times] for rule in rules]
            if seed is not None:
                self._rng.seed(seed)

    def clear(self) -> None:
        """Drop every rule."""
        with self._lock:
            self._entries = []

    def decide(self, service: str, action: str) -> WireRule | None:
        """Return the first rule that applies to this call (using it once), or ``None``.

        A matching rule with uses left draws from the random source; when the draw falls
        outside its share, the next matching rule is asked.
        """
        with self._lock:
            for entry in self._entries:
                rule, remaining = entry
                assert isinstance(rule, WireRule)
                if remaining == 0 or not rule.matches(service, action):
                    continue
                if rule.share < 1.0 and self._rng.random() >= rule.share:
                    continue
                if isinstance(remaining, int):
                    entry[1] = remaining - 1
                return rule
        return None
