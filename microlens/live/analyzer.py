"""Live analysis of a frame stream (the webcam page): push frames as they arrive, read a status.

Frames are captured continuously (15 fps or more) and pushed one by one: each is face-tracked and
turned into motion features at once (:class:`microlens.face.track.FaceTracker`,
:class:`microlens.spot.motion.MotionMeter`). Every ``report_every_s`` (0.4 s) :meth:`LiveAnalyzer.status`
spots expressions in the recent history (:func:`microlens.spot.spotting.spot`, its baseline on the faces
the FER2013 prior reads as neutral, as in ``analyze``), classifies the latest
~1 s window (onset = its first face frame, apex = its frame of strongest motion) and every newly
finished micro- or macro-expression with the loaded Recognizer, and keeps a running log and stats.
While no expression is under way, the state is what the FER2013 prior reads on the latest faces
(as in the report's timeline between events; ``source`` says which), not a blanket "neutral".
Sampling one frame every 0.4 s, as the seed did, cannot catch a micro-expression of under 0.5 s;
reporting every 0.4 s on continuously captured frames can.

The parts: :class:`~microlens.live.buffer.FrameHistory` (the recent frames, counters and the
recording), :class:`~microlens.live.spot.LiveSpotter` and :class:`~microlens.live.spot.EventCollector`
(spot and classify), and :class:`_StateLog` here (the emotion-change log of the status).

Optionally every frame is also written to an H.264 recording (:class:`microlens.video.decode.VideoWriter`,
real frame times), which can be analysed afterwards like an upload.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from microlens.labels import emoji
from microlens.live.buffer import FrameHistory
from microlens.live.spot import EventCollector, LiveEvent, LiveSpotter, View
from microlens.options import option
from microlens.report.views import NO_FACE, emotion_changes, expression_counts


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
    # between expressions the state is what the prior reads on the faces of this last stretch
    read_s: float = option(0.5, "faces read for the state between expressions, last seconds")
    # the spotting baseline sits on the faces the prior reads as neutral, as in `analyze`
    neutral_baseline: bool = option(True, "spotting baseline on the faces FER2013 reads as neutral")
    # a micro-model label while the person talks is "uncertain", as in `analyze --talking-abstain`
    talking_abstain: bool = option(True, "label micro-expressions while the person talks 'uncertain'")


@dataclass(frozen=True)
class LiveStatus:
    """What the page shows at one report tick."""

    seq: int  # tick number, increases by one per status
    t: float  # stream time of the latest frame, seconds
    frames: int  # frames received
    fps: float  # frames received per second over the last 2 s
    face: bool  # a face is in the latest frame
    active: bool  # an expression is under way in the window
    state: str  # the emotion label, what the prior reads on the face, "no face" or "warming up"
    source: str  # "event" (an expression under way), "appearance" (read on the face), "no face", "warming up"
    emoji: str
    label: str  # the recogniser's top label on the window
    confidence: float  # its probability
    probs: dict[str, float]  # label -> probability on the window
    motion: float  # facial motion in the window, 0..1 relative to the session's peak
    talking: bool  # the person is talking now (jaw swings); a micro label is then "uncertain"
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


class _StateLog:
    """The emotion-change log: one entry per run of the same state (label, emoji, start, end, duration).

    A state that lasted less than ``MIN_S`` (it changed again before the stream time moved on, as
    when no frame came between two status ticks) is dropped and its time goes to the entry before
    it, so the log lists no rows of 0.0 s; :meth:`listed` leaves out the entry just opened, which
    has not lasted yet either."""

    MIN_S = 0.05  # shorter than this shows as 0.0 s on the page

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, state: str, t: float, source: str = "") -> None:
        """The state at stream time ``t`` (``source`` as in the status: "event", "appearance", ...):
        extends the latest entry or closes it and opens a new one."""
        t = round(t, 2)
        last = self.entries[-1] if self.entries else None
        if last is not None and last["label"] != state and t - last["start_s"] < self.MIN_S:
            self.entries.pop()  # it never lasted: the entry before it runs on
        if self.entries:
            e = self.entries[-1]
            e["end_s"] = t
            e["duration_s"] = round(t - e["start_s"], 2)
            if e["label"] == state:
                return
        self.entries.append({"label": state, "emoji": _emoji(state), "start_s": t, "end_s": t,
                             "duration_s": 0.0, "_source": source})

    def listed(self, n: int) -> tuple[dict[str, Any], ...]:
        """Copies of the last ``n`` entries that have lasted at least ``MIN_S``."""
        return tuple({k: v for k, v in e.items() if k != "_source"} for e in self.entries[-n:]
                     if e["duration_s"] >= self.MIN_S)

    def changes(self) -> int:
        """Emotion changes so far, counted as the report counts them (:func:`microlens.report.views.
        emotion_changes`: warming up, no face and ``uncertain`` are no state, and a state read
        between events for under a second is flicker)."""
        rows = [{"label": NO_FACE if e["label"] == "no face" else e["label"], "source": e["_source"],
                 "start_s": e["start_s"], "end_s": e["end_s"]}
                for e in self.entries if e["label"] != "warming up"]
        return emotion_changes(rows)


class LiveAnalyzer:
    """Streaming analyzer: ``push`` frames from one thread, ``status`` from another."""

    def __init__(self, model: Any, options: LiveOptions | None = None, record_to: str | None = None,
                 face_options: Any = None, spot_options: Any = None) -> None:
        from microlens.face.track import FaceTracker
        from microlens.spot.motion import MotionMeter

        self.model = model
        self.options = options or LiveOptions()
        self._tracker = FaceTracker(face_options)
        self._meter = MotionMeter(spot_options)
        self._frames = FrameHistory(self.options.history_s, record_to)  # its own lock (push vs the rest)
        self._spotter = LiveSpotter(model, self.options.window_s, self.options.warmup_s, spot_options,
                                    talking_abstain=self.options.talking_abstain)
        self._state_lock = threading.Lock()  # guards the view, events and log (update vs snapshot)
        self._view = View()
        self._events = EventCollector(model, talking_abstain=self.options.talking_abstain)
        self._log = _StateLog()
        self._reading: tuple[str, float] | None = None  # what the prior reads on the latest faces
        self._prior: Any = None  # microlens.recognize.recognizer.ExpressionPrior, made on first use
        # frame time -> the prior's (7,) class probabilities for the faces read so far (each read once)
        self._read_faces: dict[float, np.ndarray] = {}
        self._t0: float | None = None
        self._seq = 0

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
        from microlens.video.decode import Frame

        now = time.monotonic()
        if t is None:
            if self._t0 is None:
                self._t0 = now
            t = now - self._t0
        h, w = image.shape[:2]
        if max(h, w) > self.options.max_side:
            s = self.options.max_side / max(h, w)
            image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        t = self._frames.next_time(t)
        frame = Frame(index=self._frames.frames, time_s=float(t), image=image)
        face = self._tracker(frame)
        motion = np.asarray(self._meter(face), dtype=np.float32)  # (R,)
        self._frames.add(image, t, motion, face, now)

    # output ------------------------------------------------------------------------------------
    def status(self) -> LiveStatus:
        """Spot, classify and report in one call (:meth:`update` then :meth:`snapshot`)."""
        self.update()
        return self.snapshot()

    def update(self) -> None:
        """The heavy part: spot expressions in the history and classify the latest window and every
        newly finished expression. Call it as often as the CPU allows (a thread of its own)."""
        times, motion, crops = self._frames.window()  # (T,), (T, R), T crops
        if len(times) < 3 or crops[-1] is None:
            with self._state_lock:
                self._view = View()
            return
        reading = self._read(times, crops)
        self._read_faces = {t: v for t, v in self._read_faces.items() if t >= times[0]}
        neutral = shown = cue = None
        if self._prior is not None:  # (T,) each, NaN: face not read; the readings start intervals too
            from microlens.recognize.appearance import cues, expressive, neutral_probability

            unread = np.full(len(self._prior.classes), np.nan)
            probs = np.stack([self._read_faces.get(float(t), unread) for t in times])  # (T, 7)
            cue = cues(probs)  # (T, K)
            if self.options.neutral_baseline:
                neutral = neutral_probability(probs, self._prior.classes)
                shown = expressive(probs, self._prior.classes)
        look = self._spotter.look(times, motion, crops, neutral, shown, cue)
        with self._state_lock:
            self._view = look.view
            self._reading = reading
            if look.warm:
                self._events.collect(look.intervals, times, crops, look.view.t)

    def snapshot(self) -> LiveStatus:
        """The light part: the status for one report tick from the latest :meth:`update`."""
        c = self._frames.counts()
        with self._state_lock:
            v = self._view
            self._seq += 1
            if not c.frames or c.kept < 3:
                state = source = "warming up"
            elif not c.face:
                state = source = "no face"
            elif v.active and v.label:
                state, source = v.label, "event"
            elif self._reading is not None:
                state, source = self._reading[0], "appearance"
            else:
                state, source = "neutral", "face"
            self._log.add(state, c.t, source)
            new = self._events.take_new()
            events = list(self._events.events)
            micro, macro = expression_counts(events)  # as the report counts them (views.stats)
            micro_events = sum(e.kind == "micro" for e in events)
            stats = {
                "frames": c.frames,
                "seconds": round(c.t, 2),
                "face_coverage_percent": round(100.0 * c.faces / c.frames, 1) if c.frames else 0.0,
                "micro_count": micro,
                "macro_count": macro,
                "micro_ratio_percent": round(100.0 * micro / (micro + macro), 1) if micro + macro else 0.0,
                "micro_events": micro_events,
                "macro_events": len(events) - micro_events,
                "emotion_changes": self._log.changes(),
                "per_label": dict(self._events.per_label),
            }
            n = self.options.log_size
            probs = v.probs or dict.fromkeys(self.model.labels, 0.0)
            face = c.face
            return LiveStatus(
                seq=self._seq, t=round(c.t, 3), frames=c.frames, fps=round(c.fps, 1), face=face,
                active=v.active and face, state=state, source=source, emoji=_emoji(state),
                label=v.label if face else "",
                confidence=round(v.confidence, 3) if face else 0.0,
                probs={k: round(float(p), 3) for k, p in probs.items()}, motion=round(v.motion, 3),
                talking=bool(v.talking and face),
                new_events=new, log=self._log.listed(n),
                events=tuple(events[-n:]), stats=stats)

    def _read(self, times: np.ndarray, crops: list[Any]) -> tuple[str, float] | None:
        """What the prior reads on up to 4 faces of the last ``read_s`` seconds (None: no face);
        a face read at an earlier update is not scored again, and every read face's probabilities
        are kept for the spotting baseline."""
        from microlens.recognize.appearance import read_mean
        from microlens.recognize.recognizer import ExpressionPrior

        recent = [(float(t), c.image) for t, c in zip(times, crops, strict=True)
                  if c is not None and t >= times[-1] - self.options.read_s]
        if not recent:
            return None
        if self._prior is None:
            self._prior = ExpressionPrior(tuple(self.model.labels))
        pick = [recent[i] for i in np.linspace(0, len(recent) - 1, min(4, len(recent))).round().astype(int)]
        new = [(t, img) for t, img in pick if t not in self._read_faces]
        if new:
            probs = self._prior.predict_classes(np.stack([img for _, img in new]))  # (K, 7)
            self._read_faces.update(zip([t for t, _ in new], probs, strict=True))
        return read_mean(np.stack([self._read_faces[t] for t, _ in pick]), self._prior.classes)

    def close(self) -> str | None:
        """Stop: release the tracker and finish the recording; its path, or None."""
        if not self._frames.close():  # already closed
            return self._frames.recording_path
        self._tracker.close()
        return self._frames.recording_path if self._frames.recorded_frames else None

    @property
    def recorded_frames(self) -> int:
        """Frames written to the recording so far."""
        return self._frames.recorded_frames


def _emoji(state: str) -> str:
    return {"no face": "🚫", "warming up": "⏳"}.get(state) or emoji(state)


__all__ = ["LiveAnalyzer", "LiveEvent", "LiveOptions", "LiveStatus"]
