"""Execute a notebook with papermill in a child process group and watch it to its end.

The child's output (papermill's log of the cells, the kernel's and the JVM's messages) is copied
line by line to the task log and to the run's log file. The run ends when papermill exits, when
its time is up or when it is cancelled; in every case no process of the run is left behind.
"""

from __future__ import annotations

import collections
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

from atmo_provider.local.environment import KERNEL_NAME, RunFolder
from atmo_provider.local.processes import ProcessTree

__all__ = ["PapermillExecution"]

log = logging.getLogger(__name__)

#: Seconds between two looks at the running tree (exit, timeout, cancel, memory).
_POLL_SECONDS = 0.5

#: How many lines of papermill's output are kept for a failure reason.
_TAIL_LINES = 20

#: Seconds to let the kernel and the JVM go away on their own after papermill exits.
_EXIT_GRACE_SECONDS = 10.0

#: Seconds papermill waits for the kernel to start.
_KERNEL_START_SECONDS = 120


def _relay_output(stream, identifier: str, log_file: Path, tail: collections.deque) -> None:
    """Copy the child's output to the task log and to ``log_file``, keeping the last lines."""
    with log_file.open("a", encoding="utf-8") as copy:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip()
            copy.write(line + "\n")
            tail.append(line)
            log.info("[%s] %s", identifier, line)


class PapermillExecution:
    """One papermill process and everything below it, watched until it ends.

    :param identifier: the job's identifier, for the log.
    :param folder: the run's working folder, parameters file written.
    :param notebook: the notebook to execute.
    :param executed: where papermill writes the executed notebook.
    """

    def __init__(self, identifier: str, folder: RunFolder, notebook: Path, executed: Path):
        self.identifier = identifier
        self.folder = folder
        self.command = [
            sys.executable,
            "-m",
            "papermill",
            str(notebook),
            str(executed),
            "--parameters_file",
            str(folder.parameters_file),
            "--kernel",
            KERNEL_NAME,
            "--cwd",
            str(folder.notebook_cwd),
            "--no-progress-bar",
            "--log-output",
            "--log-level",
            "INFO",
            "--start-timeout",
            str(_KERNEL_START_SECONDS),
        ]
        #: The last lines of the child's output.
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        #: The processes of the run, once papermill has started.
        self.tree: ProcessTree | None = None

    @property
    def peak_memory_bytes(self) -> int | None:
        """The largest resident memory of the run's processes together, if it was sampled."""
        if self.tree is None or not self.tree.peak_rss_bytes:
            return None
        return self.tree.peak_rss_bytes

    def run(self, timeout_seconds: float, cancel: threading.Event | None) -> tuple[str, int]:
        """Run papermill until it exits, the timeout passes or ``cancel`` is set.

        Return ``("exited", returncode)``, ``("timed_out", -9)`` or ``("cancelled", -9)``.
        Whatever happens, including an exception in this thread, no process of the run is
        left behind.
        """
        process = subprocess.Popen(
            self.command,
            cwd=self.folder.notebook_cwd,
            env=self.folder.child_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.info("Started papermill (pid %d) for job %s", process.pid, self.identifier)
        relay = threading.Thread(
            target=_relay_output,
            args=(process.stdout, self.identifier, self.folder.log_file, self.tail),
            name=f"atmo-local-{self.identifier}-output",
            daemon=True,
        )
        relay.start()
        self.tree = ProcessTree(process.pid)
        deadline = time.monotonic() + timeout_seconds
        outcome = None
        try:
            while outcome is None:
                self.tree.sample_memory()
                try:
                    returncode = process.wait(timeout=_POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    if cancel is not None and cancel.is_set():
                        outcome = ("cancelled", -9)
                    elif time.monotonic() >= deadline:
                        outcome = ("timed_out", -9)
                else:
                    outcome = ("exited", returncode)
        finally:
            exited = outcome is not None and outcome[0] == "exited"
            self._stop_everything(process, relay, papermill_exited=exited)
        return outcome

    def _stop_everything(self, process, relay: threading.Thread, papermill_exited: bool) -> None:
        if papermill_exited:
            # Papermill shuts its kernel down, and the JVM follows the kernel; give them time.
            deadline = time.monotonic() + _EXIT_GRACE_SECONDS
            while self.tree.survivors() and time.monotonic() < deadline:
                time.sleep(0.1)

        killed = self.tree.kill()
        if killed:
            log.warning(
                "Killed the processes of job %s that were still running: %s",
                self.identifier,
                ", ".join(map(str, killed)),
            )
        try:
            process.wait(timeout=_EXIT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("Papermill (pid %d) of job %s did not stop", process.pid, self.identifier)
        relay.join(timeout=5)
        if relay.is_alive():
            # Limitation: a process that escaped the tree still holds the output pipe; the
            # relay thread stays blocked on it, and closing the pipe under it would block too.
            log.warning("The output of job %s is still held open by a process", self.identifier)
        elif process.stdout is not None:
            process.stdout.close()
