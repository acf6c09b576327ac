"""Live analysis of a frame stream (the webcam page): push frames as they arrive, read a status.

Frames are captured continuously (15 fps or more) and pushed one by one: each is face-tracked and
turned into motion features at once (:class:`microlens.face.FaceTracker`,
:class:`microlens.spotting.MotionMeter`). Every ``report_every_s`` (0.4 s) :meth:`LiveAnalyzer.status`
spots expressions in the recent history (:func:`microlens.spotting.spot`), classifies the latest
~1 s window (onset = its first face frame, apex = its frame of strongest motion) and every newly
finished micro- or macro-expression with the loaded Recognizer, and keeps a running log and stats.
Sampling one frame every 0.4 s, as the seed did, cannot catch a micro-expression of under 0.5 s;
reporting every 0.4 s on continuously captured frames can.

Optionally every frame is also written to an H.264 recording (:class:`microlens.video.VideoWriter`,
real frame times), which can be analysed afterwards like an upload.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from microlens.labels import emoji
from microlens.options import option
from microlens.video import VideoWriter


@dataclass(frozen=True)
class LiveOptions:
    """How the live analyzer windows and reports."""

    # the recogniser looks at the latest window of this length
    window_s: float = option(1.0, "recognition window, seconds")
    # the page gets a status this often
    report_every_s: float = option(0.4, "status period, seconds")
    # frames kept for spotting (the spotter's baseline needs a few seconds)
    history_s: float = option(6.0, "frames kept for spotting, seconds")
    # frames larger than this (longer side, px) are downsized before tracking
    max_side: int = option(640, "largest frame side analysed, pixels")
    # no expression is reported before the spotter has seen this much video
    warmup_s: float = option(1.5, "history needed before expressions are reported, seconds")
    # log entries kept in the status
    log_size: int = option(50, "log entries returned in a status")


@dataclass(frozen=True)
class LiveEvent:
    """A spotted expression in the live stream."""

    start_s: float  # stream time, seconds from the first frame
    apex_s: float
    end_s: float
    kind: str  # "micro" or "macro"
    label: str
    emoji: str
    confidence: float


@dataclass(frozen=True)
class LiveStatus:
    """What the page shows at one report tick."""

    seq: int  # tick number, increases by one per status
    t: float  # stream time of the latest frame, seconds
    frames: int  # frames received
    fps: float  # frames received per second over the last 2 s
    face: bool  # a face is in the latest frame
    active: bool  # an expression is under way in the window
    state: str  # "neutral", "no face", "warming up" or the emotion label
    emoji: str
    label: str  # the recogniser's top label on the window
    confidence: float  # its probability
    probs: dict[str, float]  # label -> probability on the window
    motion: float  # facial motion in the window, 0..1 relative to the session's peak
    new_events: tuple[LiveEvent, ...]  # spotted since the previous status
    log: tuple[dict[str, Any], ...]  # emotion-change log: label, emoji, start_s, end_s, duration_s
    events: tuple[LiveEvent, ...]  # all spotted expressions, newest last (at most log_size)
    stats: dict[str, Any]  # frames, face_coverage_percent, micro_count, macro_count, ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["new_events"] = [asdict(e) for e in self.new_events]
        d["events"] = [asdict(e) for e in self.events]
        d["log"] = list(self.log)
        return d


@dataclass(frozen=True)
class _View:
    """The latest analysis of the window."""

    t: float = 0.0
    active: bool = False
    label: str = ""
    confidence: float = 0.0
    probs: dict[str, float] = field(default_factory=dict)
    motion: float = 0.0


@dataclass
class _Buffer:
    times: deque = field(default_factory=deque)  # (T,) seconds
    motion: deque = field(default_factory=deque)  # (T,) of (R,) float32 features
    crops: deque = field(default_factory=deque)  # (T,) of (224, 224, 3) uint8 or None


class LiveAnalyzer:
    """Streaming analyzer: ``push`` frames from one thread, ``status`` from another."""

    def __init__(self, model: Any, options: LiveOptions | None = None, record_to: str | None = None,
                 face_options: Any = None, spot_options: Any = None) -> None:
        from microlens.face import FaceTracker
        from microlens.spotting import MotionMeter

        self.model = model
        self.options = options or LiveOptions()
        self._tracker = FaceTracker(face_options)
        self._meter = MotionMeter(spot_options)
        self._spot_options = spot_options
        self._recording = VideoWriter(record_to, fps=30.0) if record_to else None
        self._lock = threading.Lock()  # guards the frame buffer (push vs update/snapshot)
        self._state_lock = threading.Lock()  # guards the view, events and log (update vs snapshot)
        self._view = _View()
        self._buf = _Buffer()
        self._t0: float | None = None
        self._index = 0
        self._faces = 0
        self._arrivals: deque = deque()
        self._seq = 0
        self._peak = 1e-6
        self._events: list[LiveEvent] = []
        self._last_event_apex = -1.0
        self._new: list[LiveEvent] = []
        self._log: list[dict[str, Any]] = []
        self._per_label: dict[str, int] = {}
        self._closed = False

    # input -------------------------------------------------------------------------------------
    def push_jpeg(self, data: bytes, t: float | None = None) -> bool:
        """Decode a JPEG (or PNG) and push it; False when the bytes are not an image."""
        arr = np.frombuffer(data, dtype=np.uint8)
        bgr = cv2.imdecode(arr, cv2.IMREAD_COLOR) if arr.size else None
        if bgr is None:
            return False
        self.push(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t)
        return True

    def push(self, image: np.ndarray, t: float | None = None) -> None:
        """Analyse one (H, W, 3) uint8 RGB frame shown at ``t`` seconds (default: arrival time)."""
        from microlens.video import Frame

        now = time.monotonic()
        if t is None:
            if self._t0 is None:
                self._t0 = now
            t = now - self._t0
        h, w = image.shape[:2]
        if max(h, w) > self.options.max_side:
            s = self.options.max_side / max(h, w)
            image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        if self._buf.times and t <= self._buf.times[-1]:
            t = self._buf.times[-1] + 1e-3
        frame = Frame(index=self._index, time_s=float(t), image=image)
        face = self._tracker(frame)
        motion = np.asarray(self._meter(face), dtype=np.float32)  # (R,)
        with self._lock:
            if self._closed:
                return
            if self._recording is not None:
                self._recording.write(image, float(t))
            self._index += 1
            self._faces += face is not None
            b = self._buf
            b.times.append(float(t))
            b.motion.append(motion)
            b.crops.append(face.crop if face is not None else None)
            while b.times and b.times[0] < t - self.options.history_s:
                b.times.popleft()
                b.motion.popleft()
                b.crops.popleft()
            self._arrivals.append(now)
            while self._arrivals and self._arrivals[0] < now - 2.0:
                self._arrivals.popleft()

    # output ------------------------------------------------------------------------------------
    def status(self) -> LiveStatus:
        """Spot, classify and report in one call (:meth:`update` then :meth:`snapshot`)."""
        self.update()
        return self.snapshot()

    def update(self) -> None:
        """The heavy part: spot expressions in the history and classify the latest window and every
        newly finished expression. Call it as often as the CPU allows (a thread of its own)."""
        with self._lock:
            times = np.array(self._buf.times, dtype=np.float64)  # (T,)
            motion = np.stack(list(self._buf.motion)) if self._buf.motion else np.zeros((0, 1), np.float32)
            crops = list(self._buf.crops)
        if len(times) < 3 or crops[-1] is None:
            with self._state_lock:
                self._view = _View()
            return
        t = float(times[-1])
        intervals = self._spot(times, motion)
        win = times >= t - self.options.window_s
        warm = bool(t - times[0] >= self.options.warmup_s)
        active = warm and any(iv.offset_s >= t - self.options.window_s for iv in intervals)
        mag = _magnitude(motion)  # (T,)
        level = 0.0
        if np.isfinite(mag[win]).any():
            self._peak = max(self._peak, float(np.nanmax(mag)))
            level = float(np.nanmax(mag[win]) / self._peak)
        probs = self._classify_window(times, mag, crops, win) or {}
        label = max(probs, key=lambda k: probs[k]) if probs else ""
        with self._state_lock:
            self._view = _View(t=t, active=bool(active), label=label, confidence=probs.get(label, 0.0),
                               probs=probs, motion=min(level, 1.0))
            if warm:
                self._collect(intervals, times, crops, t)

    def snapshot(self) -> LiveStatus:
        """The light part: the status for one report tick from the latest :meth:`update`."""
        with self._lock:
            frames, faces = self._index, self._faces
            arrivals = list(self._arrivals)
            t = float(self._buf.times[-1]) if self._buf.times else 0.0
            face = bool(self._buf.crops) and self._buf.crops[-1] is not None
            n_hist = len(self._buf.times)
        fps = (len(arrivals) - 1) / max(arrivals[-1] - arrivals[0], 1e-6) if len(arrivals) > 1 else 0.0
        with self._state_lock:
            v = self._view
            self._seq += 1
            if not frames or n_hist < 3:
                state = "warming up"
            elif not face:
                state = "no face"
            elif v.active and v.label:
                state = v.label
            else:
                state = "neutral"
            self._log_state(state, t)
            new, self._new = tuple(self._new), []
            events = list(self._events)
            micro = sum(e.kind == "micro" for e in events)
            stats = {
                "frames": frames,
                "seconds": round(t, 2),
                "face_coverage_percent": round(100.0 * faces / frames, 1) if frames else 0.0,
                "micro_count": micro,
                "macro_count": len(events) - micro,
                "micro_ratio_percent": round(100.0 * micro / len(events), 1) if events else 0.0,
                "emotion_changes": max(0, sum(1 for e in self._log if e["label"] != "warming up") - 1),
                "per_label": dict(self._per_label),
            }
            n = self.options.log_size
            probs = v.probs or dict.fromkeys(self.model.labels, 0.0)
            return LiveStatus(
                seq=self._seq, t=round(t, 3), frames=frames, fps=round(fps, 1), face=face,
                active=v.active and face, state=state, emoji=_emoji(state), label=v.label if face else "",
                confidence=round(v.confidence, 3) if face else 0.0,
                probs={k: round(float(p), 3) for k, p in probs.items()}, motion=round(v.motion, 3),
                new_events=new, log=tuple(dict(e) for e in self._log[-n:]), events=tuple(events[-n:]),
                stats=stats)

    def close(self) -> str | None:
        """Stop: release the tracker and finish the recording; its path, or None."""
        with self._lock:
            if self._closed:
                return self._recording.path if self._recording else None
            self._closed = True
            if self._recording is not None:
                self._recording.close()
        self._tracker.close()
        return self._recording.path if self._recording and self._recording.frames else None

    @property
    def recorded_frames(self) -> int:
        """Frames written to the recording so far."""
        return self._recording.frames if self._recording else 0

    # internals ---------------------------------------------------------------------------------
    def _spot(self, times: np.ndarray, motion: np.ndarray) -> list[Any]:
        from microlens.spotting import spot

        try:
            return list(spot(times, motion, self._spot_options))
        except (ValueError, IndexError):
            return []

    def _predict(self, onset: np.ndarray, apex: np.ndarray) -> dict[str, float]:
        from microlens.flow import flow_image

        flow = flow_image(onset, apex)  # (28, 28, 3)
        pred = self.model.predict(apex[None], flow[None])
        return {lab: float(p) for lab, p in zip(pred.labels, pred.probs[0], strict=True)}

    def _classify_window(self, times: np.ndarray, mag: np.ndarray, crops: list[np.ndarray | None],
                         win: np.ndarray) -> dict[str, float] | None:
        idx = [i for i in np.flatnonzero(win) if crops[i] is not None]
        if len(idx) < 2:
            return None
        onset = idx[0]
        scores = np.array([mag[i] if np.isfinite(mag[i]) else -1.0 for i in idx])
        apex = idx[int(np.argmax(scores))]
        if apex == onset:
            apex = idx[-1]
        return self._predict(crops[onset], crops[apex])  # type: ignore[arg-type]

    def _collect(self, intervals: list[Any], times: np.ndarray, crops: list[np.ndarray | None],
                 t: float) -> None:
        """Classify intervals that ended since the last report and add them to the event list."""
        for iv in sorted(intervals, key=lambda iv: iv.apex_s):
            if iv.apex_s <= self._last_event_apex + 0.2 or iv.offset_s > t - 0.1:
                continue
            i0 = int(np.searchsorted(times, iv.onset_s - 1e-6))
            ia = int(np.searchsorted(times, iv.apex_s - 1e-6))
            i0, ia = min(i0, len(crops) - 1), min(ia, len(crops) - 1)
            if crops[i0] is None or crops[ia] is None or i0 == ia:
                continue
            probs = self._predict(crops[i0], crops[ia])  # type: ignore[arg-type]
            lab = max(probs, key=lambda k: probs[k])
            ev = LiveEvent(start_s=round(float(iv.onset_s), 3), apex_s=round(float(iv.apex_s), 3),
                           end_s=round(float(iv.offset_s), 3), kind=str(iv.kind), label=lab,
                           emoji=emoji(lab), confidence=round(probs[lab], 3))
            self._events.append(ev)
            self._new.append(ev)
            self._per_label[lab] = self._per_label.get(lab, 0) + 1
            self._last_event_apex = float(iv.apex_s)

    def _log_state(self, state: str, t: float) -> None:
        if self._log and self._log[-1]["label"] == state:
            e = self._log[-1]
            e["end_s"] = round(t, 2)
            e["duration_s"] = round(t - e["start_s"], 2)
            return
        if self._log:
            self._log[-1]["end_s"] = round(t, 2)
            self._log[-1]["duration_s"] = round(t - self._log[-1]["start_s"], 2)
        self._log.append({"label": state, "emoji": _emoji(state), "start_s": round(t, 2),
                          "end_s": round(t, 2), "duration_s": 0.0})


def _emoji(state: str) -> str:
    return {"no face": "🚫", "warming up": "⏳"}.get(state) or emoji(state)


def _magnitude(motion: np.ndarray) -> np.ndarray:
    """(T, R) features -> (T,) motion relative to the history's median pose (NaN where no face)."""
    if motion.size == 0:
        return np.zeros(len(motion))
    ok = np.isfinite(motion).all(axis=1)
    out = np.full(len(motion), np.nan)
    if ok.any():
        ref = np.median(motion[ok], axis=0)
        out[ok] = np.linalg.norm(motion[ok] - ref, axis=1)
    return out
