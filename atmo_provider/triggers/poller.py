"""One EMR poll per AWS connection and region, shared by every cluster wait of a triggerer.

A triggerer process runs many :class:`~atmo_provider.triggers.cluster.AtmoClusterStateTrigger`
at once. Instead of one DescribeCluster per trigger per poll, the triggers of one
``(aws_conn_id, region_name)`` register the job flow ids they wait on with one
:class:`EmrStatePoller`. Its single asyncio task calls ListClusters once per poll interval
(pages of 50, ``CreatedAfter`` = the oldest registered cluster's creation time minus
:data:`CREATED_AFTER_MARGIN`) and hands each waiting trigger its cluster's summary from that
answer. A cluster missing from the listing is described with one DescribeCluster. When the last
trigger leaves, the task stops.

This is a cache of EMR's answers inside one triggerer process and one event loop, never state
shared between tasks: nothing in it outlives the triggers that registered, and a trigger moved
to another triggerer simply registers there. Blocking boto3 calls run in worker threads
(``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

__all__ = ["CREATED_AFTER_MARGIN", "EmrStatePoller", "Watch", "shared_poller"]

log = logging.getLogger(__name__)

#: Subtracted from the oldest creation time so that ``CreatedAfter`` (exclusive) keeps it.
CREATED_AFTER_MARGIN = timedelta(minutes=1)

# Per-process cache of pollers, one set per running event loop (a triggerer has one loop).
_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, EmrStatePoller]] = (
    weakref.WeakKeyDictionary()
)
_TOKENS = itertools.count(1)


@dataclass
class Watch:
    """One trigger's registration: its cluster, and the answers waiting for it.

    Each answer is ``(description, listed)``: the normalized cluster and whether it came from
    the shared ListClusters (a summary: no tags, log URI or master address), or an exception
    when the cluster could not be read.
    """

    job_flow_id: str
    created_after: datetime
    interval: float
    token: int = field(default_factory=lambda: next(_TOKENS))
    answers: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    async def next_answer(self) -> tuple[dict[str, Any], bool]:
        """Wait for the next answer about the cluster; raise the error if reading it failed."""
        answer = await self.answers.get()
        if isinstance(answer, BaseException):
            raise answer
        return answer


def shared_poller(aws_conn_id: str | None, region_name: str | None) -> EmrStatePoller:
    """Return this event loop's poller of ``(aws_conn_id, region_name)``, making it if needed.

    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: the clusters' region; ``None`` for the connection's region.
    """
    loop = asyncio.get_running_loop()
    pollers = _POLLERS.setdefault(loop, {})
    key = (aws_conn_id, region_name)
    poller = pollers.get(key)
    if poller is None:
        poller = EmrStatePoller(aws_conn_id, region_name)
        pollers[key] = poller
    return poller


class EmrStatePoller:
    """Poll ListClusters once per interval for every cluster registered by the waiting triggers.

    Use :func:`shared_poller` to get the one of a connection and region; build one directly
    only in tests.

    :param aws_conn_id: the Airflow AWS connection.
    :param region_name: the clusters' region; ``None`` for the connection's region.
    """

    def __init__(self, aws_conn_id: str | None, region_name: str | None) -> None:
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self._watches: dict[int, Watch] = {}
        self._task: asyncio.Task[None] | None = None
        self._emr: Any = None

    @property
    def emr(self) -> Any:
        """The :class:`~atmo_provider.aws.emr.EmrClusters` of this connection and region."""
        if self._emr is None:
            from atmo_provider.aws.emr import EmrClusters

            self._emr = EmrClusters(self.aws_conn_id, self.region_name)
        return self._emr

    @property
    def watched(self) -> set[str]:
        """The job flow ids some trigger is waiting on."""
        return {watch.job_flow_id for watch in self._watches.values()}

    @property
    def running(self) -> bool:
        """Whether the poll task is alive."""
        return self._task is not None and not self._task.done()

    async def register(
        self, job_flow_id: str, interval: float, created_after: datetime | None = None
    ) -> Watch:
        """Start serving ``job_flow_id`` and return the trigger's :class:`Watch`.

        Without ``created_after`` the cluster is described once to learn its creation time;
        that description is the watch's first answer.

        :param job_flow_id: the cluster the trigger waits on.
        :param interval: the trigger's poll interval; the poller uses the shortest one.
        :param created_after: a moment at or before the cluster's creation.
        :raises Exception: the DescribeCluster error when the creation time could not be read.
        """
        first = None
        if created_after is None:
            first = await asyncio.to_thread(self.emr.describe, job_flow_id)
            created_after = first["creation_datetime"]

        watch = Watch(job_flow_id, created_after, interval)
        if first is not None:
            watch.answers.put_nowait((first, False))
        self._watches[watch.token] = watch
        log.debug("Cluster %s joins the shared EMR poll of %s", job_flow_id, self._key_text())
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._poll_forever())
        return watch

    def unregister(self, watch: Watch) -> None:
        """Stop serving ``watch``; stop the poll task once no trigger is left."""
        if self._watches.pop(watch.token, None) is None:
            return

        log.debug(
            "Cluster %s leaves the shared EMR poll of %s", watch.job_flow_id, self._key_text()
        )
        if not self._watches:
            self._forget()
            if self._task is not None and not self._task.done():
                self._task.cancel()
            self._task = None

    async def poll_once(self) -> None:
        """List the clusters once and send each watch its cluster's state."""
        watches = list(self._watches.values())
        if not watches:
            return

        # Limitation: the listing holds every cluster of the region created since the oldest
        # waited one, so other clusters launched meanwhile add pages beyond ceil(N/50).
        since = min(watch.created_after for watch in watches) - CREATED_AFTER_MARGIN
        try:
            listed = await asyncio.to_thread(self.emr.list, since)
        except Exception as exc:
            log.warning(
                "Listing the clusters of %s failed (%s); describing each waited cluster",
                self._key_text(),
                exc,
            )
            listed = []
        by_id = {cluster["jobflow_id"]: cluster for cluster in listed}

        missing = sorted({w.job_flow_id for w in watches if w.job_flow_id not in by_id})
        described = await asyncio.gather(
            *(asyncio.to_thread(self.emr.describe, job_flow_id) for job_flow_id in missing),
            return_exceptions=True,
        )
        fallback = dict(zip(missing, described, strict=True))

        for watch in watches:
            if watch.job_flow_id in by_id:
                watch.answers.put_nowait((by_id[watch.job_flow_id], True))
            else:
                watch.answers.put_nowait(self._described(watch, fallback[watch.job_flow_id]))

    def _described(self, watch: Watch, answer: Any) -> Any:
        if isinstance(answer, BaseException):
            return RuntimeError(f"Could not describe cluster {watch.job_flow_id}: {answer}")
        return (answer, False)

    async def _poll_forever(self) -> None:
        while self._watches:
            interval = min(watch.interval for watch in self._watches.values())
            await asyncio.sleep(interval)
            try:
                await self.poll_once()
            except Exception as exc:
                log.exception("The shared EMR poll of %s failed", self._key_text())
                for watch in self._watches.values():
                    watch.answers.put_nowait(RuntimeError(f"The shared EMR poll failed: {exc}"))

        self._forget()

    def _forget(self) -> None:
        try:
            pollers = _POLLERS.get(asyncio.get_running_loop(), {})
        except RuntimeError:
            return
        key = (self.aws_conn_id, self.region_name)
        if pollers.get(key) is self:
            del pollers[key]

    def _key_text(self) -> str:
        return f"connection {self.aws_conn_id} in {self.region_name or 'its default region'}"
