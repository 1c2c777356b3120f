"""The EMR lifecycle the embedded AWS plays on top of moto.

Part of the embedded AWS, a development and test facility; production talks to real EMR with the
same provider code. moto's clusters are WAITING from the start and its steps run forever. Here
each cluster created through the embedded AWS is adopted at RunJobFlow and then moved on by a
driver thread, one transition per tick, after the delays of :class:`LifecycleTimings`:

- STARTING -> BOOTSTRAPPING -> WAITING, then RUNNING while a step runs;
- steps PENDING -> RUNNING -> COMPLETED, one at a time in the order they were added;
- a cluster without ``KeepJobFlowAliveWhenNoSteps`` ends once its steps are done
  (TERMINATING -> TERMINATED, ALL_STEPS_COMPLETED);
- a failed step applies its ``ActionOnFailure``; TerminateJobFlows passes through TERMINATING;
- a WAITING cluster idle for its auto-termination ``IdleTimeout`` ends;
- fault rules (:mod:`atmo_provider.embedded.faults`) make clusters and steps fail.

The clusters adopted can live in any moto account and region; the driver holds a reference to
each, so it never scans moto's global state (and never touches clusters made with ``mock_aws``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.core.utils import utcnow

from atmo_provider.embedded.emr_models import LifecycleCluster, adopt_cluster, adopt_step
from atmo_provider.embedded.faults import FaultBook, FaultRule
from atmo_provider.embedded.timings import LifecycleTimings

__all__ = ["ClusterLife", "EmrLifecycle", "Ending", "LifecycleDriver", "LifecycleTimings"]

log = logging.getLogger(__name__)

#: States a cluster never leaves.
FINAL_STATES = frozenset({"TERMINATED", "TERMINATED_WITH_ERRORS"})
_UNFINISHED_STEPS = ("PENDING", "RUNNING")
_TERMINATE_ACTIONS = frozenset({"TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"})


@dataclass(frozen=True)
class Ending:
    """The final state and reason a TERMINATING cluster will end with."""

    state: str
    code: str | None
    message: str | None
    error_details: tuple[dict[str, Any], ...] = ()


USER_REQUEST = Ending("TERMINATED", "USER_REQUEST", "Terminated by user request")
ALL_STEPS_COMPLETED = Ending("TERMINATED", "ALL_STEPS_COMPLETED", "Steps completed")
STEP_FAILURE = Ending("TERMINATED_WITH_ERRORS", "STEP_FAILURE", "Shut down as step failed")
# Limitation: the wording of an auto-termination after idling is ours, not checked against EMR.
IDLE_TIMEOUT = Ending(
    "TERMINATED", "ALL_STEPS_COMPLETED", "Cluster was idle longer than its auto-termination policy"
)


@dataclass
class ClusterLife:
    """What the driver knows of one adopted cluster."""

    #: The moto cluster, adopted as a :class:`LifecycleCluster`.
    cluster: LifecycleCluster
    #: Fault name -> rule, attached at creation.
    faults: dict[str, FaultRule]
    #: ``KeepJobFlowAliveWhenNoSteps`` of the cluster.
    keep_alive: bool
    #: Auto-termination ``IdleTimeout`` in seconds, if any.
    idle_timeout: int | None
    #: The state the driver gave the cluster (moto's own writes are undone against it).
    state: str
    #: Clock time the current state began.
    phase_started: float
    #: Clock time the next step became due or the running step began.
    step_clock: float = 0.0
    #: Clock time the cluster became idle, while WAITING without steps.
    idle_since: float | None = None
    #: How the cluster ends, once TERMINATING.
    ending: Ending | None = None


class EmrLifecycle:
    """The clusters adopted by one embedded AWS, their fault rules and timings.

    Every public method takes :attr:`lock`, which the EMR request handling also holds while moto
    works, so no request sees a cluster half-way through a transition.

    :param timings: the delays of each state.
    :param clock: a monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(
        self, timings: LifecycleTimings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lock = threading.RLock()
        self.timings = timings
        self.faults = FaultBook()
        self._clock = clock
        self._lives: dict[str, ClusterLife] = {}

    def adopt(self, cluster: Any, *, idle_timeout: int | None = None) -> ClusterLife:
        """Take over a cluster moto has just created and put it in STARTING.

        :param cluster: the moto cluster.
        :param idle_timeout: the auto-termination ``IdleTimeout`` of RunJobFlow, if any.
        """
        with self.lock:
            cluster = adopt_cluster(cluster)
            faults = self.faults.take(cluster.name, asks_spot=cluster.asks_spot)
            if "no_log_uri" in faults:
                cluster.log_uri = None
            life = ClusterLife(
                cluster=cluster,
                faults=faults,
                keep_alive=bool(cluster.keep_job_flow_alive_when_no_steps),
                idle_timeout=idle_timeout,
                state="STARTING",
                phase_started=self._clock(),
            )
            self._lives[cluster.id] = life
            log.info(
                "Cluster %s (%s) is STARTING with %d step(s); faults: %s",
                cluster.id,
                cluster.name,
                len(cluster.steps),
                ", ".join(sorted(faults)) or "none",
            )
            return life

    def get(self, cluster_id: str) -> ClusterLife | None:
        """Return the life of an adopted cluster, or None."""
        with self.lock:
            return self._lives.get(cluster_id)

    def set_idle_timeout(self, cluster_id: str, idle_timeout: int | None) -> None:
        """Change (or with None, remove) the auto-termination idle timeout of a cluster."""
        with self.lock:
            life = self._lives[cluster_id]
            life.idle_timeout = idle_timeout

    def steps_added(self, cluster_id: str, steps: Iterable[Any]) -> None:
        """Adopt steps moto has just added to a cluster and undo moto's state change."""
        with self.lock:
            life = self._lives[cluster_id]
            was_idle = life.state == "WAITING" and self._next_step(life) is None
            for step in steps:
                adopt_step(step)
            life.cluster.state = life.state
            if was_idle:
                life.step_clock = self._clock()
                life.idle_since = None

    def request_termination(self, cluster_id: str) -> None:
        """Start terminating a cluster on a user's request; an ending cluster is left alone."""
        with self.lock:
            life = self._lives[cluster_id]
            if life.state in FINAL_STATES or life.state == "TERMINATING":
                return
            self._begin_ending(life, self._clock(), USER_REQUEST)

    def tick(self) -> None:
        """Move every adopted cluster on by at most one transition."""
        with self.lock:
            now = self._clock()
            for cluster_id, life in list(self._lives.items()):
                backend_clusters = life.cluster.emr_backend.clusters
                if backend_clusters.get(cluster_id) is not life.cluster:
                    # moto's state was reset (by mock_aws, for instance): forget the cluster.
                    del self._lives[cluster_id]
                    continue
                if life.state not in FINAL_STATES:
                    self._advance(life, now)

    def _advance(self, life: ClusterLife, now: float) -> None:
        elapsed = now - life.phase_started
        timings = self.timings
        if life.state == "STARTING" and elapsed >= timings.starting:
            if "spot_capacity_refused" in life.faults:
                self._begin_ending(life, now, self._spot_ending(life))
            else:
                self._set_state(life, now, "BOOTSTRAPPING", "Running bootstrap actions")
        elif life.state == "BOOTSTRAPPING" and elapsed >= timings.bootstrapping:
            rule = life.faults.get("bootstrap_failure") or life.faults.get(
                "terminated_with_errors"
            )
            if rule is not None:
                ending = Ending("TERMINATED_WITH_ERRORS", rule.reason_code, rule.reason_message)
                self._begin_ending(life, now, ending)
            else:
                life.cluster.ready_datetime = utcnow()
                self._set_state(life, now, "WAITING", "Cluster ready to run steps.")
                life.step_clock = now
                life.idle_since = now
        elif life.state in ("WAITING", "RUNNING"):
            self._advance_steps(life, now)
        elif life.state == "TERMINATING" and elapsed >= timings.terminating:
            self._finish(life)

    def _advance_steps(self, life: ClusterLife, now: float) -> None:
        step = self._next_step(life)
        if step is None:
            self._when_no_steps(life, now)
            return

        life.idle_since = None
        elapsed = now - life.step_clock
        is_first = step is life.cluster.steps[0]
        if step.state == "PENDING":
            if elapsed < self.timings.step_pending:
                return
            life.step_clock = now
            if is_first and "step_cancelled" in life.faults:
                self._end_step(step, "CANCELLED", life.faults["step_cancelled"].reason_message)
                return
            step.state = "RUNNING"
            step.start_date_time = utcnow()
            log.info("Step %s (%s) of cluster %s is RUNNING", step.id, step.name, life.cluster.id)
            if life.state != "RUNNING":
                self._set_state(life, now, "RUNNING", "Running step")
            return

        if elapsed < self.timings.step_running:
            return
        life.step_clock = now
        if is_first and "step_failed" in life.faults:
            self._fail_step(life, step, life.faults["step_failed"], now)
        else:
            self._end_step(step, "COMPLETED", None)

    def _when_no_steps(self, life: ClusterLife, now: float) -> None:
        if not life.keep_alive:
            self._begin_ending(life, now, ALL_STEPS_COMPLETED)
            return

        if life.state != "WAITING":
            self._set_state(life, now, "WAITING", "Cluster ready after last step completed.")
        if life.idle_since is None:
            life.idle_since = now
        if life.idle_timeout is not None:
            idle_limit = life.idle_timeout * self.timings.idle_timeout_factor
            if now - life.idle_since >= idle_limit:
                self._begin_ending(life, now, IDLE_TIMEOUT)

    def _fail_step(self, life: ClusterLife, step: Any, rule: FaultRule, now: float) -> None:
        details = {"Reason": rule.reason_code or "Unknown Error"}
        if rule.reason_message:
            details["Message"] = rule.reason_message
        if life.cluster.log_uri:
            base = life.cluster.log_uri.rstrip("/")
            details["LogFile"] = f"{base}/{life.cluster.id}/steps/{step.id}/stderr.gz"
        step.atmo_failure_details = details
        self._end_step(step, "FAILED", None)

        action = step.action_on_failure
        if action in _TERMINATE_ACTIONS:
            self._begin_ending(life, now, STEP_FAILURE)
        elif action == "CANCEL_AND_WAIT":
            self._cancel_unfinished_steps(life, "Cancelled because an earlier step failed")

    def _begin_ending(self, life: ClusterLife, now: float, ending: Ending) -> None:
        self._cancel_unfinished_steps(life, "Cancelled because the cluster is shutting down")
        life.ending = ending
        life.cluster.atmo_error_details = ending.error_details
        self._set_state(life, now, "TERMINATING", ending.message, ending.code)

    def _finish(self, life: ClusterLife) -> None:
        ending = life.ending or USER_REQUEST
        cluster = life.cluster
        cluster.end_datetime = utcnow()
        for group in cluster.instance_groups:
            group.state = "ENDED"
            group.end_date_time = cluster.end_datetime
        self._set_state(life, self._clock(), ending.state, ending.message, ending.code)

    def _set_state(
        self,
        life: ClusterLife,
        now: float,
        state: str,
        message: str | None,
        code: str | None = None,
    ) -> None:
        log.info(
            "Cluster %s (%s) moved %s -> %s%s",
            life.cluster.id,
            life.cluster.name,
            life.state,
            state,
            f" ({code}: {message})" if code else "",
        )
        life.state = state
        life.phase_started = now
        life.cluster.state = state
        life.cluster.last_state_change_reason = message
        life.cluster.atmo_reason_code = code

    def _end_step(self, step: Any, state: str, message: str | None) -> None:
        step.state = state
        step.end_date_time = utcnow()
        step.last_state_change_reason = message
        log.info("Step %s (%s) is %s", step.id, step.name, state)

    def _cancel_unfinished_steps(self, life: ClusterLife, message: str) -> None:
        for step in life.cluster.steps:
            if step.state in _UNFINISHED_STEPS:
                self._end_step(step, "CANCELLED", message)

    @staticmethod
    def _next_step(life: ClusterLife) -> Any | None:
        return next((s for s in life.cluster.steps if s.state in _UNFINISHED_STEPS), None)

    @staticmethod
    def _spot_ending(life: ClusterLife) -> Ending:
        rule = life.faults["spot_capacity_refused"]
        cluster = life.cluster
        error_code = (
            "INTERNAL_ERROR_SPOT_NO_CAPACITY_PRIMARY"
            if cluster.master_asks_spot
            else "INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ"
        )
        spot_types = sorted(
            {g.instance_type for g in cluster.instance_groups if g.market == "SPOT"}
        )
        detail = {
            "ErrorCode": error_code,
            "ErrorMessage": rule.reason_message or "",
            "ErrorData": [
                {
                    "instance-types": ",".join(spot_types),
                    "availability-zone": cluster.availability_zone or "",
                }
            ],
        }
        return Ending("TERMINATED_WITH_ERRORS", rule.reason_code, rule.reason_message, (detail,))


class LifecycleDriver:
    """A daemon thread that ticks an :class:`EmrLifecycle` every ``interval`` seconds.

    :param lifecycle: the lifecycle to tick.
    :param interval: seconds between two ticks.
    """

    def __init__(self, lifecycle: EmrLifecycle, interval: float = 0.1) -> None:
        self.lifecycle = lifecycle
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start ticking."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="emr-lifecycle", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop ticking and wait for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.lifecycle.tick()
            except Exception:
                # A broken tick must not stop the lifecycle of the other clusters.
                log.exception("EMR lifecycle tick failed")
