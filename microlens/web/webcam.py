"""The webcam WebSocket (/ws/live): binary JPEG frames in, a JSON status every 0.4 s out.

Protocol: the page sends one JPEG frame as a binary message and waits for ``{"type": "ack"}`` before
sending the next, so one frame is in flight and stale frames are dropped in the browser. The ack goes
out when the server takes the frame up for analysis, so the page encodes the next frame meanwhile.
A reporter thread sends ``{"type": "status", ...}`` (see :class:`microlens.live.analyzer.LiveStatus`) every
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
from pathlib import Path
from typing import Any

from flask import Flask, current_app, request
from simple_websocket import ConnectionClosed

from microlens.web.heap import trim_heap

log = logging.getLogger("microlens.web.webcam")
MAX_SESSIONS = 4  # live sessions at once (each takes a share of the CPU)
_sessions = threading.Semaphore(MAX_SESSIONS)


def init(app: Flask, sock: Any) -> None:
    """Register the /ws/live route."""

    @app.before_request
    def _websocket_only() -> None:
        if request.path == "/ws/live" and request.headers.get("Upgrade", "").lower() != "websocket":
            from microlens.web.errors import ApiError

            raise ApiError(400, "/ws/live is a WebSocket: open it with a WebSocket client "
                           "(Upgrade: websocket), as the webcam page does")

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
    """Run one live session on ``ws``: open the analyzer (or say why not), then :class:`_Session`."""
    from microlens.live.analyzer import LiveAnalyzer, LiveOptions
    from microlens.web.context import runtime
    from microlens.web.storage import new_id

    rt = runtime(current_app)
    record = rt.store.tmp_dir() / f"live-{new_id()}.mp4"
    # the page's switch: ?talking_abstain=0 keeps the micro model's labels while the person talks
    options = LiveOptions(talking_abstain=request.args.get("talking_abstain", "1") != "0")
    try:
        analyzer = LiveAnalyzer(rt.queue.loader(rt.settings.model), options, record_to=str(record))
    except Exception as e:  # noqa: BLE001 - the page shows the reason
        log.warning("live analysis unavailable: %s", e)
        reason = f"live analysis is unavailable: {type(e).__name__}: {e}"
        ws.send(json.dumps({"type": "error", "error": reason}))
        record.unlink(missing_ok=True)
        return
    _Session(ws, analyzer, options.report_every_s, record).run()


class _Session:
    """One live connection: the analyzer, its recording, and three threads that share the socket.

    The receive loop (the request's thread) hands frames to the tracker thread, which acks each as it
    takes it up and pushes it to the analyzer; the analyser thread runs spotting and recognition as
    often as the CPU allows; the reporter thread sends the status every ``every_s``.
    """

    def __init__(self, ws: Any, analyzer: Any, every_s: float, record: Path) -> None:
        self.ws = ws
        self.analyzer = analyzer
        self.every_s = every_s
        self.record = record
        self.stop = threading.Event()
        self.inbox: queue.Queue[bytes | None] = queue.Queue()  # JPEG frames; None ends the tracker
        self.send_lock = threading.Lock()
        self.reporter = threading.Thread(target=self._report, name="live-reporter", daemon=True)
        self.analyser = threading.Thread(target=self._analyse, name="live-analyser", daemon=True)
        self.tracker = threading.Thread(target=self._track, name="live-frames", daemon=True)

    def run(self) -> None:
        """Serve the page until it stops or saves the session or the socket closes; then clean up."""
        for thread in (self.reporter, self.analyser, self.tracker):
            thread.start()
        saved = False
        reason = "closed by the page"
        try:
            reason = self._receive()
            if reason == "saved":
                saved = self._save()
        except ConnectionClosed as e:
            reason = f"connection closed ({e})"
        finally:
            self._close(reason, saved)

    def send(self, obj: dict[str, Any]) -> None:
        """Send one JSON message (the threads take turns)."""
        with self.send_lock:
            self.ws.send(json.dumps(obj))

    def _try_send(self, obj: dict[str, Any]) -> bool:
        """Send ``obj``; False when the page has gone."""
        try:
            self.send(obj)
        except ConnectionClosed:
            return False
        return True

    def _receive(self) -> str:
        """Take the page's messages until it saves or stops the session; return why it ended."""
        while True:
            msg = self.ws.receive()
            if msg is None:
                return "receive timed out"
            if isinstance(msg, bytes | bytearray):
                self.inbox.put(bytes(msg))
                continue
            action = _action(msg)
            if action == "save":
                return "saved"
            if action == "stop":
                return "stopped by the page"

    def _analyse(self) -> None:
        """Spotting and recognition as often as the CPU allows; the reporter never waits for it."""
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                self.analyzer.update()
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("live update failed")
            self.stop.wait(max(0.05, self.every_s - (time.monotonic() - began)))

    def _report(self) -> None:
        """Send the status on a fixed ``every_s`` grid, skipping ticks missed, until stopped."""
        _raise_priority()  # the 0.4 s tick must not wait behind busy neighbours
        start = time.monotonic()
        k = 1
        while not self.stop.wait(max(0.0, start + k * self.every_s - time.monotonic())):
            k += 1
            try:
                self.send({"type": "status", "sent": round(time.time(), 3),
                           **self.analyzer.snapshot().to_dict()})
            except ConnectionClosed:
                return
            except Exception as e:  # noqa: BLE001 - keep the session alive, say what went wrong
                log.exception("live status failed")
                if not self._try_send({"type": "error", "error": f"{type(e).__name__}: {e}"}):
                    return
            if k < (time.monotonic() - start) / self.every_s:
                k = int((time.monotonic() - start) / self.every_s) + 1  # skip missed ticks

    def _track(self) -> None:
        """Ack and push each received frame. The ack goes out when a frame is taken up, so the page
        encodes the next frame while this one is analysed; the page sends only after an ack, so at
        most one frame waits in the inbox."""
        while (data := self.inbox.get()) is not None:
            self._try_send({"type": "ack", "ok": True})
            self._push(data)

    def _push(self, data: bytes) -> None:
        """Give one JPEG frame to the analyzer; tell the page when it was dropped."""
        try:
            if not self.analyzer.push_jpeg(data):
                self.send({"type": "error", "error": "a frame was not a JPEG image"})
        except ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001 - one bad frame must not end the session
            log.exception("live frame failed")
            self._try_send({"type": "error", "error": f"frame dropped: {type(e).__name__}: {e}"})

    def _save(self) -> bool:
        """Let every frame sent be analysed, stop the threads, queue the recording, wait for the page
        to close; True when the recording became an analysis."""
        self.inbox.put(None)
        self.tracker.join(timeout=30)
        self.stop.set()
        self.reporter.join(timeout=5)
        self.analyser.join(timeout=10)
        saved = _save(self.analyzer, self.record, self.send)
        _linger(self.ws)
        return saved

    def _close(self, reason: str, saved: bool) -> None:
        """Stop the threads, close the analyzer, drop an unsaved recording and give memory back."""
        log.info("live session ended: %s; %d frames", reason, self.analyzer.recorded_frames)
        self.inbox.put(None)
        self.tracker.join(timeout=30)
        self.stop.set()
        self.analyser.join(timeout=10)
        self.analyzer.close()
        if not saved:
            self.record.unlink(missing_ok=True)
        trim_heap()  # the session's freed frame buffers and face graphs go back to the OS


def _action(msg: str) -> Any:
    """The ``action`` of a text message ({"action": "save" | "stop"}), None when there is none."""
    try:
        return json.loads(msg).get("action")
    except (ValueError, AttributeError):
        return None


def _linger(ws: Any, timeout: float = 5.0) -> None:
    """Read until the page closes the socket (or ``timeout``): closing while a frame it sent is still
    unread would reset the connection and could lose our last message."""
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
    from microlens.web.api import accept_video
    from microlens.web.context import runtime
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
        # the recording is analysed with the live page's talking switch
        live = getattr(analyzer, "options", None)
        options = {"talking_abstain": False} if live is not None and not live.talking_abstain else {}
        a = accept_video(analysis_id, None, name, model=rt.settings.model, kind="webcam",
                         source_path=str(record), options=options)
    except ApiError as e:
        log.warning("webcam recording not saved: %s", e.message)
        send({"type": "error", "error": e.message})
        return False
    send({"type": "saved", "id": a.id, "url": f"/analyses/{a.id}"})
    log.info("webcam recording saved as analysis %s (%d frames)", a.id, analyzer.recorded_frames)
    return True
