"""Fault rules of the embedded AWS: which new EMR clusters fail, and how.

Part of the embedded AWS, a development and test facility; production talks to real EMR with the
same provider code. A rule names a fault and a substring of the cluster ``Name``; when a cluster
is created, every rule whose substring it contains (and that has uses left) is attached to it,
and the lifecycle driver plays the fault out. Matching is pure and lives here; the driver only
asks :meth:`FaultBook.take`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["FAULTS", "FaultBook", "FaultRule"]

#: Fault name -> (default reason code, default message). For ``step_failed`` the code is the
#: step's ``FailureDetails.Reason``; EMR says "Unknown Error" when it finds no root cause.
FAULTS: dict[str, tuple[str | None, str | None]] = {
    "bootstrap_failure": (
        "BOOTSTRAP_FAILURE",
        "On the master instance, bootstrap action 1 returned a non-zero exit code",
    ),
    "terminated_with_errors": (
        "INTERNAL_ERROR",
        "The cluster could not start because of an internal error",
    ),
    "step_failed": ("Unknown Error", "The step script exited with status 1"),
    "step_cancelled": (None, "Cancelled by user request"),
    "no_log_uri": (None, None),
    # EMR reports capacity it cannot get as an INTERNAL_ERROR state change reason whose
    # ErrorDetails carry the specific code (INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ, or
    # INTERNAL_ERROR_SPOT_NO_CAPACITY_PRIMARY when the master itself asked for Spot).
    "spot_capacity_refused": (
        "INTERNAL_ERROR",
        "Amazon EC2 has insufficient Spot capacity for the requested instance types "
        "in the requested Availability Zone",
    ),
}

_RULE_KEYS = ("name_contains", "fault", "times", "code", "message")


@dataclass(frozen=True)
class FaultRule:
    """One fault to play on clusters whose name contains a substring.

    :param name_contains: the substring of the cluster ``Name`` the rule applies to.
    :param fault: one of :data:`FAULTS`.
    :param times: how many clusters the rule applies to before it is used up.
    :param code: the reason code to report instead of the fault's default.
    :param message: the reason message to report instead of the fault's default.
    """

    name_contains: str
    fault: str
    times: int = 1
    code: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name_contains, str) or not self.name_contains:
            raise ValueError("name_contains must be a non-empty substring of the cluster name")
        if self.fault not in FAULTS:
            raise ValueError(f"fault must be one of {sorted(FAULTS)}, got {self.fault!r}")
        if isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1:
            raise ValueError(f"times must be a whole number >= 1, got {self.times!r}")
        for name in ("code", "message"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string or absent, got {value!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """Build a rule from its JSON form, refusing unknown keys."""
        if not isinstance(data, dict):
            raise ValueError(f"a fault rule must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_RULE_KEYS))
        if unknown:
            raise ValueError(f"unknown fault rule keys {unknown}; allowed: {list(_RULE_KEYS)}")
        if "name_contains" not in data or "fault" not in data:
            raise ValueError("a fault rule needs name_contains and fault")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Return the rule in its JSON form."""
        return dataclasses.asdict(self)

    @property
    def reason_code(self) -> str | None:
        """The reason code to report: the rule's own, else the fault's default."""
        return self.code if self.code is not None else FAULTS[self.fault][0]

    @property
    def reason_message(self) -> str | None:
        """The reason message to report: the rule's own, else the fault's default."""
        return self.message if self.message is not None else FAULTS[self.fault][1]

    def applies_to(self, cluster_name: str, *, asks_spot: bool) -> bool:
        """Tell whether the rule fits a new cluster.

        :param cluster_name: the ``Name`` given to RunJobFlow.
        :param asks_spot: whether any instance group of the cluster asks for SPOT; a
            ``spot_capacity_refused`` rule passes over clusters that do not.
        """
        if self.name_contains not in (cluster_name or ""):
            return False
        return asks_spot or self.fault != "spot_capacity_refused"


class FaultBook:
    """The fault rules in the order they were added, each with the number of uses left.

    Not thread-safe: its owner serialises access.
    """

    def __init__(self) -> None:
        self._entries: list[list[Any]] = []

    def add(self, rule: FaultRule) -> None:
        """Add a rule after the existing ones."""
        self._entries.append([rule, rule.times])

    def clear(self) -> None:
        """Drop every rule."""
        self._entries.clear()

    def rules(self) -> list[dict[str, Any]]:
        """Return the rules that still have uses left, in their JSON form with ``remaining``."""
        return [
            {**rule.to_dict(), "remaining": remaining}
            for rule, remaining in self._entries
            if remaining > 0
        ]

    def take(self, cluster_name: str, *, asks_spot: bool) -> dict[str, FaultRule]:
        """Attach faults to a new cluster and use each attached rule once.

        The first fitting rule of each fault name wins; later rules for the same fault keep
        their uses.

        :param cluster_name: the ``Name`` given to RunJobFlow.
        :param asks_spot: whether any instance group of the cluster asks for SPOT.
        :return: fault name -> the rule that applies.
        """
        taken: dict[str, FaultRule] = {}
        for entry in self._entries:
            rule, remaining = entry
            if remaining <= 0 or rule.fault in taken:
                continue
            if rule.applies_to(cluster_name, asks_spot=asks_spot):
                taken[rule.fault] = rule
                entry[1] = remaining - 1
        self._entries = [entry for entry in self._entries if entry[1] > 0]
        return taken
