"""Background analysis jobs on Huey: SQLite storage by default (no server), Redis by URL.

One task, ``analyse(analysis_id)``, runs :func:`microlens.analyze.analyze` on an upload and writes
the reports, the face video, the representative frame and one filmstrip per micro-expression into
the analysis' result folder. Status and progress go to the analyses database (storage.py), which
is what the API reads.

Nothing is lost on a restart: a queued task stays in the Huey storage, and :meth:`Queue.recover`
re-enqueues analyses that were running in a process that died (or queued but missing from the
queue). A worker claims an analysis atomically before running it, so a task enqueued twice runs once.

Extra workers (other machines share the data directory and use ``MICROLENS_QUEUE_URL=redis://``)::

    MICROLENS_DATA_DIR=/shared/microlens MICROLENS_QUEUE_URL=redis://queue-host:6379/0 \\
        microlens serve --worker-only --workers 2
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

from microlens.web.settings import Settings
from microlens.web.storage import ACTIVE, Store

log = logging.getLogger("microlens.web.jobs")

Analyzer = Callable[..., Any]  # microlens.analyze.analyze's signature
REPORT_FORMATS = ("json", "csv", "vtt", "html")
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

_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def get_model(name: str) -> Any:
    """The Recognizer ``name``, loaded once per process and shared by jobs and the live page."""
    with _MODELS_LOCK:
        if name not in _MODELS:
            from microlens import load_model

            _MODELS[name] = load_model(name)
        return _MODELS[name]


def _load_libc() -> Any:
    """glibc, or None elsewhere (musl, macOS): only glibc keeps freed pages the way trim_heap undoes."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC: list[Any] = []  # [glibc or None], looked up on first use (nothing happens at import)


def trim_heap() -> bool:
    """Give the heap pages an analysis freed back to the OS (glibc ``malloc_trim(0)``); False where
    there is no glibc.

    An analysis makes and frees hundreds of MB of native buffers (decoded frames, face crops, the
    mediapipe graphs' tensors, the H.264 encoder). glibc's dynamic mmap threshold rises after the first
    large free, so later large buffers come from the heap, and glibc only returns the heap's top to the
    OS: the freed pages behind a live block stay in the process. Measured in-process (one worker
    thread, 2 s clip, 12 jobs): Python heap flat at 26.4 MB, malloc in-use flat at 178 MB, malloc free
    but kept 30 -> 153 MB, RSS 517 -> 658 MB; with this call after each job RSS stays at 494-505 MB.
    It takes milliseconds and touches free pages only, so concurrent work is unaffected.
    """
    if not _LIBC:
        _LIBC.append(_load_libc())
    libc = _LIBC[0]
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def worker_name() -> str:
    """``host:pid`` of this process, stored with running analyses."""
    return f"{socket.gethostname()}:{os.getpid()}"


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


class Cancelled(Exception):
    """Raised inside a job when it was cancelled or the process is shutting down."""


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


def run_analysis(store: Store, analysis_id: str, *, analyzer: Analyzer | None = None,
                 loader: Callable[[str], Any] | None = None, stopping: threading.Event | None = None,
                 max_duration_s: float = 0.0) -> str:
    """Run one queued analysis to its end; return its final status ('' when it was not claimable)."""
    row = store.claim(analysis_id, worker_name())
    if row is None:
        return ""
    stopping = stopping or threading.Event()
    out = store.result_dir(analysis_id)
    out.mkdir(parents=True, exist_ok=True)
    last = {"progress": 0.0, "cancel": 0.0}

    def progress(stage: str, frac: float) -> None:
        now = time.monotonic()
        if now - last["progress"] >= 0.25 or frac >= 1.0:
            last["progress"] = now
            store.update(analysis_id, stage=str(stage), progress=float(max(0.0, min(1.0, frac))))

    def cancel() -> bool:
        if stopping.is_set():
            return True
        now = time.monotonic()
        if now - last["cancel"] < 0.5:
            return False
        last["cancel"] = now
        return store.cancel_requested(analysis_id)

    try:
        if analyzer is None:
            from microlens.analyze import analyze as real_analyze

            analyzer = real_analyze
        model = (loader or get_model)(row.model)
        progress("loading", 0.0)
        report = analyzer(str(store.upload_path(analysis_id)), model=model, progress=progress,
                          cancel=cancel, face_video=str(out / "face.mp4"))
        if cancel() or stopping.is_set():
            raise Cancelled()
        progress("writing reports", 0.97)
        summary = write_results(report, out, store.upload_path(analysis_id))
        if max_duration_s and float(summary.get("duration_s") or 0) > max_duration_s:
            raise _TooLong(f"the video lasts {summary['duration_s']:.0f} s; the limit is "
                           f"{max_duration_s:.0f} s")
        store.update(analysis_id, status="done", stage="done", progress=1.0, error=None,
                     finished=time.time(), summary=json.dumps(summary),
                     duration_s=float(summary.get("duration_s") or row.duration_s))
        return "done"
    except BaseException as e:  # noqa: BLE001 - every failure becomes a status, never a lost job
        if stopping.is_set():
            # the server is stopping: give the job back so a restart runs it again
            store.update(analysis_id, status="queued", stage="queued (server restarting)", progress=0.0,
                         worker="")
            return "queued"
        if store.cancel_requested(analysis_id) or isinstance(e, Cancelled):
            store.update(analysis_id, status="cancelled", stage="cancelled", finished=time.time())
            _clear(out)
            return "cancelled"
        store.update(analysis_id, status="failed", stage="failed", error=_reason(e), finished=time.time())
        if not isinstance(e, Exception):
            raise
        log.warning("analysis %s failed: %s", analysis_id, _reason(e))
        return "failed"
    finally:
        trim_heap()  # without this the server's RSS grows by MBs with every job (see trim_heap)


class _TooLong(Exception):
    pass


def _reason(e: BaseException) -> str:
    """A one-line reason for the user: our own errors as they are, others with their type."""
    from microlens.errors import MicrolensError

    if isinstance(e, MicrolensError | _TooLong):
        return str(e) or type(e).__name__
    if isinstance(e, NotImplementedError):
        return "the analysis pipeline is not available in this installation"
    return f"internal error: {type(e).__name__}: {e}"[:500]


def _clear(folder: Path) -> None:
    for p in folder.glob("*"):
        p.unlink(missing_ok=True)


# results ---------------------------------------------------------------------------------------
def write_results(report: Any, out: Path, source: Path) -> dict[str, Any]:
    """Write report.<fmt> for every format, face.jpg and micro-<n>.jpg; return the summary."""
    from microlens.report import WRITERS, save

    for fmt in REPORT_FORMATS:
        if fmt in WRITERS:
            save(report, out / f"report.{fmt}", fmt)
    d = report.to_dict()
    events = d.get("events") or []
    micros = [e for e in events if e.get("kind") == "micro"]
    stats = d.get("stats") or {}
    images = getattr(report, "images", None)
    rep_t = float(getattr(images, "representative_s", 0.0) or 0.0)
    try:
        if images is not None and images.representative is not None:
            _save_images(images, report.events, out)
        else:
            video = out / "face.mp4" if (out / "face.mp4").is_file() else source
            make_images(video, out, rep_t, micros)
    except Exception as e:  # noqa: BLE001 - images are a nicety; the report stands without them
        log.warning("could not make result images: %s", e)
    return {
        "duration_s": float(d.get("duration_s") or 0.0),
        "events": len(events),
        "micro_count": int(stats.get("micro_count", len(micros))),
        "macro_count": int(stats.get("macro_count", len(events) - len(micros))),
        "emotion_changes": int(stats.get("emotion_changes", 0)),
        "micro_ratio_percent": float(stats.get("micro_ratio_percent", 0.0)),
        "representative_s": rep_t,
        "face_video": (out / "face.mp4").is_file(),
    }


def _jpeg(path: Path, image: np.ndarray, quality: int = 90) -> None:
    import cv2

    cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, quality])


def _zoom(image: np.ndarray, side: int = 448) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    s = side / max(h, w)
    interp = cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
    return cv2.resize(image, (round(w * s), round(h * s)), interpolation=interp)


def _strip(trio: list[np.ndarray]) -> np.ndarray:
    """Three face images side by side, 160 px wide each: (h, 480, 3)."""
    import cv2

    tiles = [cv2.resize(t, (160, round(160 * t.shape[0] / t.shape[1])), interpolation=cv2.INTER_AREA)
             for t in trio]
    h = min(t.shape[0] for t in tiles)
    return np.concatenate([t[:h] for t in tiles], axis=1)


def _save_images(images: Any, events: Any, out: Path) -> None:
    """face.jpg and micro-<n>.jpg from the Report's own images (n counts micro events in order)."""
    _jpeg(out / "face.jpg", _zoom(images.representative))
    micro_index: dict[int, int] = {}
    for i, e in enumerate(events):
        if e.kind == "micro":
            micro_index[i] = len(micro_index)
    for fs in images.filmstrips:
        n = micro_index.get(fs.event)
        if n is not None:
            _jpeg(out / f"micro-{n}.jpg", _strip([fs.onset, fs.apex, fs.offset]), 88)


def _grab(video: Path, times: list[float], max_side: int = 480) -> list[np.ndarray | None]:
    """The decoded frames nearest to each of ``times`` (one streaming pass)."""
    from microlens.video import frames, open_clip

    order = sorted(range(len(times)), key=lambda i: times[i])
    out: list[np.ndarray | None] = [None] * len(times)
    k = 0
    prev = None
    for f in frames(open_clip(str(video)), max_side=max_side):
        while k < len(order) and f.time_s >= times[order[k]]:
            i = order[k]
            if prev is not None and abs(prev.time_s - times[i]) < abs(f.time_s - times[i]):
                out[i] = prev.image
            else:
                out[i] = f.image
            k += 1
        if k >= len(order):
            break
        prev = f
    while k < len(order) and prev is not None:
        out[order[k]] = prev.image
        k += 1
    return out


def make_images(video: Path, out: Path, rep_t: float, micros: list[dict[str, Any]]) -> None:
    """face.jpg and micro-<n>.jpg decoded from a video, for reports that carry no images."""
    times = [rep_t]
    for e in micros:
        times += [float(e["start_s"]), float(e["apex_s"]), float(e["end_s"])]
    imgs = _grab(video, times)
    if imgs[0] is not None:
        _jpeg(out / "face.jpg", _zoom(imgs[0]))
    for n in range(len(micros)):
        trio = imgs[1 + 3 * n: 4 + 3 * n]
        if all(t is not None for t in trio):
            _jpeg(out / f"micro-{n}.jpg", _strip([t for t in trio if t is not None]), 88)
