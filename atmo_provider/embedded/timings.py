"""How long the embedded AWS keeps an EMR cluster or step in each state.

Part of the embedded AWS, a development and test facility; production talks to real EMR with the
same provider code, and real EMR takes minutes where these timings take seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["LifecycleTimings"]


@dataclass(frozen=True)
class LifecycleTimings:
    """Seconds a cluster or a step stays in each state before the lifecycle driver moves it on.

    :param starting: a cluster's time in STARTING.
    :param bootstrapping: a cluster's time in BOOTSTRAPPING.
    :param step_pending: a step's time in PENDING once it is next in line.
    :param step_running: a step's time in RUNNING.
    :param terminating: a cluster's time in TERMINATING.
    :param idle_timeout_factor: multiplies an auto-termination ``IdleTimeout`` (EMR allows no
        less than 60 seconds) so that tests see idle clusters end in a fraction of a second.
    """

    #: Seconds in STARTING (EC2 provisioning on real EMR).
    starting: float = 2.0
    #: Seconds in BOOTSTRAPPING (bootstrap actions on real EMR).
    bootstrapping: float = 2.0
    #: Seconds a step waits in PENDING once the steps before it are done.
    step_pending: float = 1.0
    #: Seconds a step runs.
    step_running: float = 3.0
    #: Seconds in TERMINATING.
    terminating: float = 2.0
    #: Factor applied to auto-termination idle timeouts.
    idle_timeout_factor: float = 1.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{field.name} must be a number of seconds >= 0, got {value!r}")

    @classmethod
    def fast(cls) -> LifecycleTimings:
        """Timings for tests: every state lasts a fraction of a second."""
        return cls(
            starting=0.3,
            bootstrapping=0.3,
            step_pending=0.2,
            step_running=0.4,
            terminating=0.3,
            idle_timeout_factor=0.01,
        )

    @classmethod
    def demo(cls) -> LifecycleTimings:
        """Timings for a person watching the UI: each state lasts a few seconds."""
        return cls(
            starting=6.0,
            bootstrapping=6.0,
            step_pending=3.0,
            step_running=10.0,
            terminating=4.0,
            idle_timeout_factor=1.0,
        )

    @classmethod
    def preset(cls, name: str) -> LifecycleTimings:
        """Return the preset called ``fast`` or ``demo``."""
        presets = {"fast": cls.fast, "demo": cls.demo}
        if name not in presets:
            raise ValueError(f"timings preset must be one of {sorted(presets)}, got {name!r}")
        return presets[name]()

    def to_dict(self) -> dict[str, float]:
        """Return the timings as a JSON-ready mapping."""
        return dataclasses.asdict(self)

    def replace(self, **changes: float) -> LifecycleTimings:
        """Return a copy with some timings changed; unknown names are refused."""
        known = {field.name for field in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown timings {unknown}; allowed: {sorted(known)}")
        return dataclasses.replace(self, **changes)
