"""The analysis queue on Huey: SQLite storage by default (no server), Redis by URL.

:class:`Queue` holds the Huey instance, its ``analyse(analysis_id)`` task (which runs
:func:`microlens.web.jobs.run_analysis`) and an hourly retention purge, and makes the consumer that
runs the tasks in worker threads.

Nothing is lost on a restart: a queued task stays in the Huey storage, and :meth:`Queue.recover`
re-enqueues analyses that were running in a process that died (or queued but missing from the
queue). A worker claims an analysis atomically before running it, so a task enqueued twice runs once.

Extra workers (other machines share the data directory and use ``MICROLENS_QUEUE_URL=redis://``)::

    MICROLENS_DATA_DIR=/shared/microlens MICROLENS_QUEUE_URL=redis://queue-host:6379/0 \\
        microlens serve --worker-only --workers 2
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

from microlens.web.jobs import Analyzer, get_model, run_analysis
from microlens.web.settings import Settings
from microlens.web.storage import ACTIVE, Store

log = logging.getLogger("microlens.web.queue")

_HEARTBEAT_STALE_S = 120.0  # a running analysis on another host with no update for this long is dead


def _sqlite_huey(settings: Settings, url: str) -> Huey:
    return SqliteHuey("microlens", filename=str(settings.data_dir / "queue.db"), results=False,
                      utc=True)


def _redis_huey(settings: Settings, url: str) -> Huey:
    return RedisHuey("microlens", url=url, results=False, utc=True)


def _memory_huey(settings: Settings, url: str) -> Huey:
    return MemoryHuey("microlens", results=False, utc=True)


QUEUES: dict[str, Callable[[Settings, str], Huey]] = {  # URL scheme -> Huey factory
    "": _sqlite_huey,
    "sqlite": _sqlite_huey,
    "redis": _redis_huey,
    "rediss": _redis_huey,
    "memory": _memory_huey,
}


def _alive(worker: str) -> bool:
    """True when ``host:pid`` is a live process of this host (unknown hosts: assume alive)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    try:  # a killed worker whose parent died too may linger as a zombie nobody reaps
        state = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except (OSError, IndexError):
        pass
    return int(pid) != os.getpid()  # this very process has not started the job yet: it is dead


class _QuietConsumer(Consumer):
    """A Huey consumer embedded in a server: it leaves the host's signal handlers alone."""

    def _set_signal_handlers(self) -> None:
        pass


class Queue:
    """The Huey instance, its analysis task and the store it reports to."""

    def __init__(self, settings: Settings, store: Store, analyzer: Analyzer | None = None,
                 loader: Callable[[str], Any] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.analyzer = analyzer
        self.loader = loader or get_model
        self.stopping = threading.Event()
        scheme = urlparse(settings.queue_url).scheme if settings.queue_url else ""
        if scheme not in QUEUES:
            raise ValueError(f"unsupported MICROLENS_QUEUE_URL scheme {scheme!r}; use one of "
                             f"{', '.join(s for s in QUEUES if s)}")
        self.kind = scheme or "sqlite"
        self.huey = QUEUES[scheme](settings, settings.queue_url)
        self.task = self.huey.task(name="analyse")(self._run)
        self.huey.periodic_task(crontab(minute="17"), name="purge")(self._purge)

    # producer side -----------------------------------------------------------------------------
    def enqueue(self, analysis_id: str) -> None:
        """Put an analysis on the queue."""
        self.task(analysis_id)

    def pending_ids(self) -> set[str]:
        """Analysis ids waiting in the queue storage."""
        out = set()
        for t in self.huey.pending():
            args = getattr(t, "args", None) or ()
            if args:
                out.add(str(args[0]))
        return out

    def backlog(self) -> int:
        """Tasks waiting in the queue storage."""
        return int(self.huey.pending_count())

    def recover(self) -> list[str]:
        """Re-enqueue analyses a dead process left running, or queued ones missing from the queue."""
        pending = self.pending_ids()
        redo = []
        now = time.time()
        for a in self.store.select(limit=100000, statuses=ACTIVE):
            if a.status == "running":
                dead = (not _alive(a.worker)) or (now - a.updated > _HEARTBEAT_STALE_S)
                if not dead:
                    continue
                self.store.update(a.id, status="queued", stage="queued (resumed after restart)",
                                  progress=0.0, worker="")
            elif a.id in pending:
                continue
            redo.append(a.id)
            self.enqueue(a.id)
        if redo:
            log.info("re-enqueued %d analyses after restart: %s", len(redo), ", ".join(redo))
        return redo

    # consumer side -----------------------------------------------------------------------------
    def consumer(self, workers: int | None = None) -> Consumer:
        """A Huey consumer for this queue; ``start()`` it in a host process, ``stop()`` on exit."""
        return _QuietConsumer(self.huey, workers=workers or self.settings.workers, worker_type="thread",
                              periodic=True, initial_delay=0.1, max_delay=1.0, backoff=1.15,
                              check_worker_health=True)

    def drain(self) -> int:
        """Run every task waiting in the queue here and now (tests and one-shot tools)."""
        n = 0
        while True:
            task = self.huey.dequeue()
            if task is None:
                return n
            self.huey.execute(task)
            n += 1

    def _purge(self) -> None:
        n = self.store.purge(self.settings.retention_s)
        if n:
            log.info("retention: deleted %d analyses older than %.1f days", n, self.settings.retention_days)

    def _run(self, analysis_id: str) -> None:
        run_analysis(self.store, analysis_id, analyzer=self.analyzer, loader=self.loader,
                     stopping=self.stopping, max_duration_s=self.settings.max_duration_s)

