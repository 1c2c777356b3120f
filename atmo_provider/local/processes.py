"""Watch and stop the processes of one local notebook run: papermill, its kernel, Spark's JVM.

Papermill runs in a session and process group of its own; Jupyter starts the kernel in another
one, and PySpark starts the driver JVM in the kernel's group. A run is therefore a tree of
process groups, not one: :class:`ProcessTree` remembers every process it has seen below the
root, so it can measure their memory together and, at the end, stop every one of them, even
those that the death of their parent has moved to another parent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable

import psutil

__all__ = ["ProcessTree"]

log = logging.getLogger(__name__)

#: How many rounds of "suspend what is new" before giving up on a tree that keeps forking.
_FREEZE_ROUNDS = 20


def _alive(process: psutil.Process) -> bool:
    """Tell whether ``process`` still runs; a zombie waiting for its parent does not."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _wait_until_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Poll until no process of ``processes`` runs or ``timeout`` passes; return the living.

    ``psutil.wait_procs`` is not used: it would reap our own child behind ``subprocess``'s
    back, and it waits for zombies whose new parent has not reaped them yet.
    """
    deadline = time.monotonic() + timeout
    while True:
        still = [process for process in processes if _alive(process)]
        if not still or time.monotonic() >= deadline:
            return still
        time.sleep(0.05)


class ProcessTree:
    """The processes started for one run, remembered from the root down.

    :param root_pid: the process this object was asked to watch: papermill, started in a
        session of its own.
    """

    def __init__(self, root_pid: int) -> None:
        self.root = psutil.Process(root_pid)
        #: Every process seen in the tree, by pid; ``psutil.Process`` also remembers its start
        #: time, so a pid reused by an unrelated process is never taken for one of ours.
        self.seen: dict[int, psutil.Process] = {root_pid: self.root}
        #: The largest sum of resident memory of the tree over the samples taken, in bytes.
        self.peak_rss_bytes = 0

    def refresh(self) -> list[psutil.Process]:
        """Add the current descendants of every known live process; return the live ones."""
        frontier = [process for process in self.seen.values() if _alive(process)]
        while frontier:
            found = []
            for process in frontier:
                try:
                    children = process.children()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                for child in children:
                    if child.pid not in self.seen:
                        self.seen[child.pid] = child
                        found.append(child)
            frontier = found
        return [process for process in self.seen.values() if _alive(process)]

    def sample_memory(self) -> int:
        """Measure the resident memory of the live tree now, keep the peak, and return it.

        # Limitation: a sum of RSS counts pages shared between processes (libraries mapped by
        # the kernel and papermill, both Pythons) more than once, so it overstates a little.
        """
        total = 0
        for process in self.refresh():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += process.memory_info().rss
        self.peak_rss_bytes = max(self.peak_rss_bytes, total)
        return total

    def survivors(self) -> list[psutil.Process]:
        """Return the processes of the tree that still run."""
        return self.refresh()

    def kill(self, grace_seconds: float = 10.0) -> list[int]:
        """Stop every process of the tree with SIGKILL; return the pids that were still running.

        The tree is first frozen (SIGSTOP, repeated until no new process appears) so that no
        process can start another one between the listing and the kill. Then each process
        group led by one of our processes gets SIGKILL, and every process on its own as well.

        :param grace_seconds: how long to wait for the killed processes to disappear.
        """
        live = self._freeze()
        if not live:
            return []

        own_group = os.getpgrp()
        groups = set()
        for process in live:
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError, PermissionError):
                pgid = os.getpgid(process.pid)
                if pgid != own_group and pgid in self.seen:
                    groups.add(pgid)
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        self._signal_each(live, signal.SIGKILL)

        still = _wait_until_gone(live, grace_seconds)
        if still:
            log.error(
                "Processes %s did not stop after SIGKILL",
                ", ".join(str(process.pid) for process in still),
            )
        return sorted(process.pid for process in live)

    def _freeze(self) -> list[psutil.Process]:
        frozen: dict[int, psutil.Process] = {}
        for _round in range(_FREEZE_ROUNDS):
            new = [process for process in self.refresh() if process.pid not in frozen]
            if not new:
                break
            self._signal_each(new, signal.SIGSTOP)
            frozen.update((process.pid, process) for process in new)
        return [process for process in frozen.values() if _alive(process)]

    @staticmethod
    def _signal_each(processes: Iterable[psutil.Process], signum: int) -> None:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                process.send_signal(signum)
