"""One analysis job: ``run_analysis(store, analysis_id)`` runs :func:`microlens.analyze.analyze` on an
upload and writes the reports, the face video, the representative frame and one filmstrip per
micro-expression into the analysis' result folder (results.py). Status and progress go to the
analyses database (storage.py), which is what the API reads. The queue that runs jobs is queue.py.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from microlens.web.heap import trim_heap
from microlens.web.results import write_results
from microlens.web.storage import Store

log = logging.getLogger("microlens.web.jobs")

Analyzer = Callable[..., Any]  # microlens.analyze.analyze's signature

_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def get_model(name: str) -> Any:
    """The Recognizer ``name``, loaded once per process and shared by jobs and the live page."""
    with _MODELS_LOCK:
        if name not in _MODELS:
            from microlens import load_model

            _MODELS[name] = load_model(name)
        return _MODELS[name]


def worker_name() -> str:
    """``host:pid`` of this process, stored with running analyses."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Cancelled(Exception):
    """Raised inside a job when it was cancelled or the process is shutting down."""


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
    progress, cancel = _callbacks(store, analysis_id, stopping)
    try:
        if analyzer is None:
            from microlens.analyze import analyze as real_analyze

            analyzer = real_analyze
        model = (loader or get_model)(row.model)
        progress("loading", 0.0)
        report = analyzer(str(store.upload_path(analysis_id)), model=model, progress=progress,
                          cancel=cancel, face_video=str(out / "face.mp4"), work_dir=str(store.work_dir()),
                          source_name=row.filename, **row.options_dict())
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
        status = _record_failure(store, analysis_id, row.filename, out, e, stopping)
        if status == "failed" and not isinstance(e, Exception):
            raise
        return status
    finally:
        trim_heap()  # without this the server's RSS grows by MBs with every job (see trim_heap)


def _callbacks(store: Store, analysis_id: str,
               stopping: threading.Event) -> tuple[Callable[[str, float], None], Callable[[], bool]]:
    """The job's ``progress(stage, frac)`` and ``cancel()`` for the analyzer: progress written to the
    database at most every 0.25 s (and always at the end), the cancel flag read at most every 0.5 s
    (``stopping`` answers at once)."""
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

    return progress, cancel


def _record_failure(store: Store, analysis_id: str, filename: str, out: Path, e: BaseException,
                    stopping: threading.Event) -> str:
    """Store what became of a job that raised ``e``; return its status: 'queued' (the server is
    stopping), 'cancelled' (its results in ``out`` cleared) or 'failed' (with a reason for the
    user; logged when ``e`` is an Exception, the caller re-raises the others)."""
    if stopping.is_set():
        # the server is stopping: give the job back so a restart runs it again
        store.update(analysis_id, status="queued", stage="queued (server restarting)", progress=0.0,
                     worker="")
        return "queued"
    if store.cancel_requested(analysis_id) or isinstance(e, Cancelled):
        store.update(analysis_id, status="cancelled", stage="cancelled", finished=time.time())
        _clear(out)
        return "cancelled"
    # the user sees their file's name, never the server's paths
    shown = {str(store.upload_path(analysis_id)): filename, str(store.root): "DATA_DIR"}
    store.update(analysis_id, status="failed", stage="failed", error=_reason(e, shown),
                 finished=time.time())
    if isinstance(e, Exception):
        log.warning("analysis %s failed: %s", analysis_id, _reason(e))
    return "failed"


class _TooLong(Exception):
    pass


def _reason(e: BaseException, shown: dict[str, str] | None = None) -> str:
    """A one-line reason for the user: our own errors as they are, others with their type; each
    key of ``shown`` (a server path) in it is replaced by its value (the upload's file name)."""
    from microlens.errors import MicrolensError

    if isinstance(e, MicrolensError | _TooLong):
        text = str(e) or type(e).__name__
    elif isinstance(e, NotImplementedError):
        text = "the analysis pipeline is not available in this installation"
    else:
        text = f"internal error: {type(e).__name__}: {e}"
    for path, name in (shown or {}).items():
        text = text.replace(path, name)
    return text[:500]


def _clear(folder: Path) -> None:
    for p in folder.glob("*"):
        p.unlink(missing_ok=True)


