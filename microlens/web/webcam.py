"""The webcam WebSocket (/ws/live): binary JPEG frames in, a JSON status every 0.4 s out.

Protocol: the page sends one JPEG frame as a binary message and waits for ``{"type": "ack"}`` before
sending the next, so one frame is in flight and stale frames are dropped in the browser. The ack goes
out when the server takes the frame up for analysis, so the page encodes the next frame meanwhile.
A reporter thread sends ``{"type": "status", ...}`` (see :class:`microlens.live.LiveStatus`) every
``report_every_s``. The text message ``{"action": "save"}`` stops the session and queues its
recording as an analysis (answer ``{"type": "saved", "id", "url"}``); ``{"action": "stop"}`` stops
and discards it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from typing import Any

from flask import Flask, current_app

log = logging.getLogger("microlens.web.webcam")
MAX_SESSIONS = 4  # live sessions at once (each takes a share of the CPU)
_sessions = threading.Semaphore(MAX_SESSIONS)


def init(app: Flask, sock: Any) -> None:
    """Register the /ws/live route."""

    @sock.route("/ws/live")
    def live(ws: Any) -> None:
        if not _sessions.acquire(blocking=False):
            ws.send(json.dumps({"type": "error", "error": "too many live sessions; try again later"}))
            return
        try:
            _session(ws)
        finally:
            _sessions.release()


def _session(ws: Any) -> None:
    from simple_websocket import ConnectionClosed

    from microlens.live import LiveAnalyzer, LiveOptions
    from microlens.web import runtime
    from microlens.web.heap import trim_heap
    from microlens.web.storage import new_id

    rt = runtime(current_app)
    send_lock = threading.Lock()

    def send(obj: dict[str, Any]) -> None:
        with send_lock:
            ws.send(json.dumps(obj))

    record = rt.store.tmp_dir() / f"live-{new_id()}.mp4"
    options = LiveOptions()
    try:
        analyzer = LiveAnalyzer(rt.queue.loader(rt.settings.model), options, record_to=str(record))
    except Exception as e:  # noqa: BLE001 - the page shows the reason
        log.warning("live analysis unavailable: %s", e)
        send({"type": "error", "error": f"live analysis is unavailable: {type(e).__name__}: {e}"})
        record.unlink(missing_ok=True)
        return
    stop = threading.Event()

    def analyser() -> None:
        # spotting and recognition as often as the CPU allows; the reporter never waits for it
        while not stop.is_set():
            began = time.monotonic()
            try:
                analyzer.update()
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("live update failed")
            stop.wait(max(0.05, options.report_every_s - (time.monotonic() - began)))

    def reporter() -> None:
        _raise_priority()  # the 0.4 s tick must not wait behind busy neighbours
        start = time.monotonic()
        k = 1
        while not stop.wait(max(0.0, start + k * options.report_every_s - time.monotonic())):
            k += 1
            try:
                send({"type": "status", "sent": round(time.time(), 3), **analyzer.snapshot().to_dict()})
            except ConnectionClosed:
                return
            except Exception as e:  # noqa: BLE001 - keep the session alive, say what went wrong
                log.exception("live status failed")
                try:
                    send({"type": "error", "error": f"{type(e).__name__}: {e}"})
                except ConnectionClosed:
                    return
            if k < (time.monotonic() - start) / options.report_every_s:
                k = int((time.monotonic() - start) / options.report_every_s) + 1  # skip missed ticks

    inbox: queue.Queue[bytes | None] = queue.Queue()

    def tracker() -> None:
        # the ack goes out when a frame is taken up, so the page encodes the next frame while this
        # one is analysed; the page sends only after an ack, so at most one frame waits here
        while (data := inbox.get()) is not None:
            try:
                send({"type": "ack", "ok": True})
            except ConnectionClosed:
                pass
            try:
                if not analyzer.push_jpeg(data):
                    send({"type": "error", "error": "a frame was not a JPEG image"})
            except ConnectionClosed:
                pass
            except Exception as e:  # noqa: BLE001 - one bad frame must not end the session
                log.exception("live frame failed")
                try:
                    send({"type": "error", "error": f"frame dropped: {type(e).__name__}: {e}"})
                except ConnectionClosed:
                    pass

    thread = threading.Thread(target=reporter, name="live-reporter", daemon=True)
    thread.start()
    worker = threading.Thread(target=analyser, name="live-analyser", daemon=True)
    worker.start()
    frames_thread = threading.Thread(target=tracker, name="live-frames", daemon=True)
    frames_thread.start()
    saved = False
    reason = "closed by the page"
    try:
        while True:
            msg = ws.receive()
            if msg is None:
                reason = "receive timed out"
                break
            if isinstance(msg, bytes | bytearray):
                inbox.put(bytes(msg))
                continue
            try:
                action = json.loads(msg).get("action")
            except (ValueError, AttributeError):
                action = None
            if action == "save":
                reason = "saved"
                inbox.put(None)
                frames_thread.join(timeout=30)
                stop.set()
                thread.join(timeout=5)
                worker.join(timeout=10)
                saved = _save(analyzer, record, send)
                _linger(ws)
                break
            if action == "stop":
                reason = "stopped by the page"
                break
    except ConnectionClosed as e:
        reason = f"connection closed ({e})"
    finally:
        log.info("live session ended: %s; %d frames", reason, analyzer.recorded_frames)
        inbox.put(None)
        frames_thread.join(timeout=30)
        stop.set()
        worker.join(timeout=10)
        analyzer.close()
        if not saved:
            record.unlink(missing_ok=True)
        trim_heap()  # the session's freed frame buffers and face graphs go back to the OS


def _linger(ws: Any, timeout: float = 5.0) -> None:
    """Read until the page closes the socket (or ``timeout``): closing while a frame it sent is still
    unread would reset the connection and could lose our last message."""
    from simple_websocket import ConnectionClosed

    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if ws.receive(timeout=max(0.05, deadline - time.monotonic())) is None:
                return
    except ConnectionClosed:
        return


def _raise_priority() -> None:
    """Give the calling thread a slightly higher CPU priority when allowed (Linux: per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -5)
    except (OSError, AttributeError):
        pass


def _save(analyzer: Any, record: Any, send: Any) -> bool:
    """Finish the recording and queue it as an analysis; tell the page."""
    from microlens.web import runtime
    from microlens.web.api import accept_video
    from microlens.web.errors import ApiError
    from microlens.web.storage import new_id

    path = analyzer.close()
    rt = runtime(current_app)
    if path is None:
        send({"type": "error", "error": "nothing was recorded"})
        return False
    if rt.store.count_active() >= rt.settings.max_queue:
        send({"type": "error", "error": "the queue is full; try again later"})
        return False
    analysis_id = new_id()
    name = time.strftime("webcam-%Y%m%d-%H%M%S.mp4")
    try:
        a = accept_video(analysis_id, None, name, model=rt.settings.model, kind="webcam",
                         source_path=str(record))
    except ApiError as e:
        log.warning("webcam recording not saved: %s", e.message)
        send({"type": "error", "error": e.message})
        return False
    send({"type": "saved", "id": a.id, "url": f"/analyses/{a.id}"})
    log.info("webcam recording saved as analysis %s (%d frames)", a.id, analyzer.recorded_frames)
    return True
