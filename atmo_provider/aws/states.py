"""Names of EMR's cluster and step states, grouped the way the operators decide on them."""

from __future__ import annotations

__all__ = [
    "ALIVE_STATES",
    "ENDING_STATES",
    "FAILED_REASON_CODES",
    "FAILED_STATES",
    "READY_STATES",
    "STEP_FAILED_STATES",
    "STEP_FINAL_STATES",
    "STEP_SUCCESS_STATE",
    "TERMINAL_STATES",
]

#: States of a cluster that is starting or usable: one we may reuse instead of launching.
ALIVE_STATES = frozenset({"STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"})

#: States in which a cluster accepts work (ATMO's "ready").
READY_STATES = frozenset({"RUNNING", "WAITING"})

#: States of a cluster that is going away or gone; it will never become ready again.
ENDING_STATES = frozenset({"TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"})

#: States a cluster never leaves.
TERMINAL_STATES = frozenset({"TERMINATED", "TERMINATED_WITH_ERRORS"})

#: Final states that mean the cluster failed.
FAILED_STATES = frozenset({"TERMINATED_WITH_ERRORS"})

#: Reason codes of a cluster's state change that mean it failed rather than was stopped.
FAILED_REASON_CODES = frozenset(
    {"INTERNAL_ERROR", "VALIDATION_ERROR", "INSTANCE_FAILURE", "BOOTSTRAP_FAILURE", "STEP_FAILURE"}
)

#: The state of a step that did its work.
STEP_SUCCESS_STATE = "COMPLETED"

#: States a step never leaves.
STEP_FINAL_STATES = frozenset({"COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED"})

#: Final states of a step that did not finish its work.
STEP_FAILED_STATES = STEP_FINAL_STATES - {STEP_SUCCESS_STATE}
