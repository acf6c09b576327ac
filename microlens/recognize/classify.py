"""The recognition pass of an analysis: each spotted interval -> a classified :class:`Event`.

The face video written by the tracking pass is decoded once more; at each interval's apex the
onset->apex flow image is built from the lossless crop store with :func:`microlens.face.flow.flow_image`
(exactly the training recipe; an H.264 round trip changed the flow images measurably, see
docs/usage.md) and the apex input (from the same store where it keeps one, else the face video's
crop) plus the flow go to the recogniser in bounded batches. The same
pass picks the filmstrip crops of the strongest micro-expressions and the representative face frame.

:func:`classify_batch` is the one place where the recogniser's output becomes Events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from microlens.labels import TALKING, UNCERTAIN
from microlens.recognize.event import Event

if TYPE_CHECKING:
    from microlens.face.store import CropStore
    from microlens.recognize.recognizer import Decision, Recognizer
    from microlens.spot.intervals import Interval

BATCH = 32  # events per recogniser call
Tick = Callable[[float], None]  # called every 50 frames with the pass's fraction done (0..1)


@dataclass(frozen=True)
class Recognised:
    """What the recognition pass found."""

    events: list[Event]  # one per interval, in interval order
    filmstrips: dict[int, dict[str, np.ndarray]]  # interval -> role -> (S, S, 3) uint8 thumbnail
    representative: np.ndarray | None  # (224, 224, 3) uint8 face crop at the representative frame


def _flow_for(store: CropStore, iv: Interval) -> np.ndarray:
    """(28, 28, 3) uint8 onset->apex flow image from the lossless gray crops (training recipe)."""
    from microlens.face.flow import flow_image

    pair = store.pair(iv.onset, iv.apex)  # apex re-framed with the onset's alignment, as in training
    if pair is None:  # pragma: no cover - intervals lie inside face segments
        raise RuntimeError(f"no face crop stored for interval frames {iv.onset}-{iv.apex}")
    return flow_image(*pair)


def _thumb(img: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _wanted_frames(intervals: list[Interval], strips: set[int]) -> dict[int, list[tuple[int, str]]]:
    """Frame -> [(interval, role)]: every apex; onset and offset of the filmstrip intervals."""
    want: dict[int, list[tuple[int, str]]] = {}
    for k, iv in enumerate(intervals):
        want.setdefault(iv.apex, []).append((k, "apex"))
        if k in strips:
            want.setdefault(iv.onset, []).append((k, "onset"))
            want.setdefault(iv.offset, []).append((k, "offset"))
    return want


def recognise(face_path: str, intervals: list[Interval], store: CropStore, rec: Recognizer,
              rep_index: int, *, thumb_size: int, max_filmstrips: int, tick: Tick,
              macro: str = "fer2013", abstain: bool = True, talking_abstain: bool = True) -> Recognised:
    """Pass 2 over the face video: classify each interval at its apex (bounded batches), collect the
    filmstrip crops of the ``max_filmstrips`` strongest micro-expressions (``thumb_size`` px) and the
    frame ``rep_index``. ``tick(fraction)`` may raise to stop the pass (cancel)."""
    from microlens.video.decode import frames, open_clip

    micro = [k for k, iv in enumerate(intervals) if iv.kind == "micro"]
    strips = set(sorted(micro, key=lambda k: -intervals[k].score)[:max_filmstrips])
    want = _wanted_frames(intervals, strips)
    filmstrips: dict[int, dict[str, np.ndarray]] = {k: {} for k in strips}
    events: dict[int, Event] = {}
    pending: list[tuple[int, Interval, np.ndarray, np.ndarray]] = []  # (k, interval, apex crop, flow)
    representative: np.ndarray | None = None

    def flush() -> None:
        if pending:
            batch = [(iv, apex, flow) for _, iv, apex, flow in pending]
            found = classify_batch(rec, batch, macro=macro, abstain=abstain, talking_abstain=talking_abstain)
            events.update(zip([k for k, *_ in pending], found, strict=True))
            pending.clear()

    last = max(list(want) + [rep_index])
    if intervals or rep_index >= 0:
        stream = frames(open_clip(face_path))
        try:
            for fr in stream:
                if fr.index % 50 == 0:
                    tick(min(fr.index / max(last, 1), 1.0))
                if fr.index == rep_index:
                    representative = fr.image
                for k, role in want.get(fr.index, ()):
                    if role == "apex":
                        iv = intervals[k]
                        # the lossless apex input where the store keeps it, else the face video's crop
                        apex = store.apex(iv.apex) if store.apex_size > 0 else None
                        pending.append((k, iv, fr.image if apex is None else apex, _flow_for(store, iv)))
                    if k in strips:
                        filmstrips[k][role] = _thumb(fr.image, thumb_size)
                if len(pending) >= BATCH:
                    flush()
                if fr.index >= last:
                    break
        finally:
            stream.close()
        flush()
    missing = [iv.apex for k, iv in enumerate(intervals) if k not in events]
    if missing:  # pragma: no cover - the face video has every frame of the source
        raise RuntimeError(f"frame {missing[0]} of the face video could not be read")
    return Recognised([events[k] for k in range(len(intervals))], filmstrips, representative)


def classify_batch(rec: Recognizer, batch: list[tuple[Interval, np.ndarray, np.ndarray]], *,
                   macro: str = "fer2013", abstain: bool = True, talking_abstain: bool = True) -> list[Event]:
    """The one place where recognition becomes Events: ``batch`` holds (interval, apex crop
    (224, 224, 3) uint8, onset->apex flow image (28, 28, 3) uint8). Micro-expressions are labelled
    by the micro model, macro-expressions by the full-expression prior (``macro``, see
    :func:`microlens.recognize.recognizer.label_events`); a label is ``uncertain`` below the recogniser's
    calibrated threshold (when ``abstain``), and so is a micro-model label of an interval spotted
    while the person talks (when ``talking_abstain``, see :func:`talking_label`). Every event also
    gets the action units the AU detector reads on the same flow image (:mod:`microlens.recognize.aus`)."""
    from microlens.recognize.aus import load_aus
    from microlens.recognize.recognizer import label_events

    flows = np.stack([f for _, _, f in batch])  # (N, 28, 28, 3) uint8
    decisions = label_events(rec, [iv.kind for iv, _, _ in batch], np.stack([a for _, a, _ in batch]),
                             flows, macro=macro, abstain=abstain)
    units = load_aus().read(flows)  # per event its action units, most probable first
    events = []
    for (iv, _, _), d, aus in zip(batch, decisions, units, strict=True):
        label = talking_label(d.label, d.recognizer, iv.talking, talking_abstain, d.confidence)
        reason = uncertain_reason(label, d, iv.talking, talking_abstain)
        events.append(Event(start_s=iv.onset_s, apex_s=iv.apex_s, end_s=iv.offset_s, kind=iv.kind,
                            label=label, confidence=d.confidence, probs=d.probs, score=float(iv.score),
                            onset_frame=iv.onset, apex_frame=iv.apex, offset_frame=iv.offset,
                            recognizer=d.recognizer, talking=iv.talking, reason=reason,
                            leaning=d.best if label == UNCERTAIN else "", aus=aus))
    return events


def uncertain_reason(label: str, decision: Decision, talking: bool, talking_abstain: bool = True) -> str:
    """Why an event's ``label`` (after :func:`talking_label`) is UNCERTAIN: TALKING when the talking
    rule applies (it decides whatever the confidence), else the recogniser's ``decision.reason``;
    "" for a labelled event."""
    if label != UNCERTAIN:
        return ""
    rule = _talking_rule(decision.recognizer, talking, talking_abstain, decision.label, decision.confidence)
    return TALKING if rule else decision.reason


# While the person talks, a label of the full-expression prior is kept from this confidence on. A
# talking mouth gives half-smiles the prior reads as happiness at 0.90-0.91 (two events where the
# viewer sees none); of 24 events it labelled while talking over an emotion a viewer sees, 21 read
# 0.93-1.0 (the other three 0.56-0.82, two inside a smile another event names). Chosen on the
# development part of benchmarks/recall.py, which holds few such cases: labelled events where the
# viewer sees none 3/33 -> 1/28 at 0.92 (named right unchanged, 25/38); 1/26 at 0.95 (named right
# 23/38).
TALKING_PRIOR_MIN_PROB = 0.92


def talking_label(label: str, recognizer: str, talking: bool, talking_abstain: bool = True,
                  confidence: float = 1.0) -> str:
    """``label`` or ``uncertain``: the micro model's label of an expression spotted while the person
    talks is not trusted (it reads the whole face's flow, learnt from lab faces that never speak, and
    lip articulation looks like a lip press); the full-expression prior reads the face's appearance
    at the apex, so a smile while talking keeps its label when the prior is at least
    TALKING_PRIOR_MIN_PROB ``confidence`` of it."""
    return UNCERTAIN if _talking_rule(recognizer, talking, talking_abstain, label, confidence) else label


def _talking_rule(recognizer: str, talking: bool, talking_abstain: bool, label: str = "",
                  confidence: float = 1.0) -> bool:
    """Whether the talking rule withholds this recogniser's ``label`` while talking: always the micro
    model's, the prior's under TALKING_PRIOR_MIN_PROB ``confidence``."""
    if not (talking and talking_abstain):
        return False
    return recognizer.startswith("micro:") or (label != UNCERTAIN and confidence < TALKING_PRIOR_MIN_PROB)
