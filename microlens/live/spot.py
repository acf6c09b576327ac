"""The live analyzer's step: spot expressions in the frame history and classify them.

:class:`LiveSpotter` spots intervals in the recent history (:func:`microlens.spot.spotting.spot`) and
classifies the latest window (onset = its first face frame, apex = its frame of strongest motion;
by the macro recogniser when the expression under way has lasted over 0.5 s);
:class:`EventCollector` classifies every newly finished micro- or macro-expression into a
:class:`LiveEvent`. :func:`classify` is the one place where the live recogniser is called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from microlens.labels import emoji
from microlens.recognize.classify import talking_label, uncertain_reason

if TYPE_CHECKING:
    from microlens.live.buffer import AlignedCrop


@dataclass(frozen=True)
class LiveEvent:
    """A spotted expression in the live stream."""

    start_s: float  # stream time, seconds from the first frame
    apex_s: float
    end_s: float
    kind: str  # "micro" or "macro"
    label: str  # a class, or "uncertain"
    emoji: str
    confidence: float
    recognizer: str = ""  # "micro:MODEL" or "macro:fer2013"
    talking: bool = False  # spotted while the person talked (a micro label is then "uncertain")
    reason: str = ""  # why the label is "uncertain" (labels.UNCERTAIN_REASONS), "" when labelled
    leaning: str = ""  # the class the recogniser leaned towards when the label is "uncertain"


@dataclass(frozen=True)
class View:
    """The latest analysis of the window."""

    t: float = 0.0
    active: bool = False
    label: str = ""
    confidence: float = 0.0
    probs: dict[str, float] = field(default_factory=dict)
    motion: float = 0.0
    talking: bool = False  # the person is talking (the spotter's jaw swings reach the latest moment)


@dataclass(frozen=True)
class Look:
    """One step's result: the window's view, the spotted intervals and whether the spotter is warm."""

    view: View
    intervals: list[Any]  # microlens.spot.spotting.Interval, times in stream seconds
    warm: bool


def classify(model: Any, onset: AlignedCrop, apex: AlignedCrop, kind: str = "micro") -> Any:
    """The :class:`microlens.recognize.recognizer.Decision` for one expression of ``kind`` from its onset and
    apex crops: the apex re-framed with the onset's alignment for the flow (the training geometry),
    then :func:`microlens.recognize.recognizer.label_events` (macro-expressions by the full-expression prior,
    'uncertain' below the calibrated threshold)."""
    from microlens.face.flow import flow_image, realign
    from microlens.recognize.recognizer import label_events

    flow = flow_image(onset.image, realign(apex.image, apex.affine, onset.affine))  # (28, 28, 3)
    return label_events(model, [kind], apex.image[None], flow[None])[0]


def magnitude(motion: np.ndarray) -> np.ndarray:
    """(T, R) features -> (T,) motion relative to the history's median pose (NaN where no face)."""
    if motion.size == 0:
        return np.zeros(len(motion))
    ok = np.isfinite(motion).all(axis=1)
    out = np.full(len(motion), np.nan)
    if ok.any():
        ref = np.median(motion[ok], axis=0)
        out[ok] = np.linalg.norm(motion[ok] - ref, axis=1)
    return out


class LiveSpotter:
    """Spots the history and classifies its latest ``window_s`` seconds; expressions count once the
    history spans ``warmup_s``. Keeps the session's motion peak (the view's motion is relative).
    With ``talking_abstain`` a micro-model label while the person talks is "uncertain"."""

    def __init__(self, model: Any, window_s: float, warmup_s: float, spot_options: Any = None, *,
                 talking_abstain: bool = True) -> None:
        self.model = model
        self.window_s, self.warmup_s = window_s, warmup_s
        self._spot_options = spot_options
        self.talking_abstain = talking_abstain
        self._peak = 1e-6

    def look(self, times: np.ndarray, motion: np.ndarray, crops: list[AlignedCrop | None],
             neutral: np.ndarray | None = None, expressive: np.ndarray | None = None,
             cues: np.ndarray | None = None) -> Look:
        """Analyse the history: times (T,) seconds (T >= 1), motion (T, R), the T face crops and,
        optionally, each face's neutral probability and whether it shows an expression (T,) each
        (NaN: not read), which put the spotting baseline on the faces at rest where expressions
        fill the window (:func:`microlens.spot.spotting.spot`), and the expression prior's readings
        (T, K) that start intervals as in ``analyze`` (:func:`microlens.recognize.appearance.cues`)."""
        t = float(times[-1])
        intervals, talking = self._spot(times, motion, neutral, expressive, cues)
        win = times >= t - self.window_s  # (T,) bool
        warm = bool(t - times[0] >= self.warmup_s)
        recent = [iv for iv in intervals if iv.offset_s >= t - self.window_s]
        active = warm and bool(recent)
        # an expression under way for longer than a micro-expression is read as a macro-expression
        kind = str(max(recent, key=lambda iv: iv.apex_s).kind) if recent else "micro"
        mag = magnitude(motion)  # (T,)
        level = 0.0
        if np.isfinite(mag[win]).any():
            self._peak = max(self._peak, float(np.nanmax(mag)))
            level = float(np.nanmax(mag[win]) / self._peak)
        d = self._classify_window(mag, crops, win, kind)
        # talking now: a talking span reaches the last quarter second (a swing is found at its extreme)
        now_talking = warm and any(b >= t - 0.25 for _, b in talking)
        label = (talking_label(d.label, d.recognizer, now_talking, self.talking_abstain, d.confidence)
                 if d else "")
        view = View(t=t, active=bool(active), label=label,
                    confidence=d.confidence if d else 0.0, probs=d.probs if d else {}, motion=min(level, 1.0),
                    talking=now_talking)
        return Look(view, intervals, warm)

    def _spot(self, times: np.ndarray, motion: np.ndarray, neutral: np.ndarray | None,
              expressive: np.ndarray | None, cues: np.ndarray | None = None
              ) -> tuple[list[Any], tuple[tuple[float, float], ...]]:
        """The intervals spotted in the history and the spans in which the person talks."""
        from microlens.spot.spotting import spot_talking

        try:
            intervals, talking = spot_talking(times, motion, self._spot_options, neutral, expressive, cues)
        except (ValueError, IndexError):
            return [], ()
        return list(intervals), talking

    def _classify_window(self, mag: np.ndarray, crops: list[AlignedCrop | None], win: np.ndarray,
                         kind: str) -> Any:
        idx = [i for i in np.flatnonzero(win) if crops[i] is not None]
        if len(idx) < 2:
            return None
        onset = idx[0]
        scores = np.array([mag[i] if np.isfinite(mag[i]) else -1.0 for i in idx])
        apex = idx[int(np.argmax(scores))]
        if apex == onset:
            apex = idx[-1]
        return classify(self.model, crops[onset], crops[apex], kind)  # type: ignore[arg-type]


class EventCollector:
    """The session's expressions: each spotted interval, once finished, classified into a LiveEvent
    (with ``talking_abstain``, a micro-model label while the person talks is "uncertain")."""

    def __init__(self, model: Any, *, talking_abstain: bool = True) -> None:
        self.model = model
        self.talking_abstain = talking_abstain
        self.events: list[LiveEvent] = []  # all, oldest first
        self.per_label: dict[str, int] = {}
        self._new: list[LiveEvent] = []  # since the last take_new()
        self._last_apex = -1.0

    def collect(self, intervals: list[Any], times: np.ndarray, crops: list[AlignedCrop | None],
                t: float) -> None:
        """Classify intervals that ended since the last report and add them to the event list. The
        history is re-spotted at every update, so an expression already reported can come back with
        other bounds (its end cut early at first, say); an interval overlapping a reported event is
        that expression again and is skipped, as the offline spotter merges overlapping spans."""
        for iv in sorted(intervals, key=lambda iv: iv.apex_s):
            if iv.apex_s <= self._last_apex + 0.2 or iv.offset_s > t - 0.1:
                continue
            if any(iv.onset_s < ev.end_s and iv.offset_s > ev.start_s for ev in self.events[-20:]):
                continue
            i0 = int(np.searchsorted(times, iv.onset_s - 1e-6))
            ia = int(np.searchsorted(times, iv.apex_s - 1e-6))
            i0, ia = min(i0, len(crops) - 1), min(ia, len(crops) - 1)
            if crops[i0] is None or crops[ia] is None or i0 == ia:
                continue
            d = classify(self.model, crops[i0], crops[ia], str(iv.kind))  # type: ignore[arg-type]
            lab = talking_label(d.label, d.recognizer, bool(iv.talking), self.talking_abstain, d.confidence)
            ev = LiveEvent(start_s=round(float(iv.onset_s), 3), apex_s=round(float(iv.apex_s), 3),
                           end_s=round(float(iv.offset_s), 3), kind=str(iv.kind), label=lab,
                           emoji=emoji(lab), confidence=round(d.confidence, 3), recognizer=d.recognizer,
                           talking=bool(iv.talking),
                           reason=uncertain_reason(lab, d, bool(iv.talking), self.talking_abstain),
                           leaning=d.best if lab == "uncertain" else "")
            self.events.append(ev)
            self._new.append(ev)
            self.per_label[lab] = self.per_label.get(lab, 0) + 1
            self._last_apex = float(iv.apex_s)

    def take_new(self) -> tuple[LiveEvent, ...]:
        """The events collected since the previous call."""
        new, self._new = tuple(self._new), []
        return new
