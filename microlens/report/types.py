"""The Report dataclass: what :func:`microlens.analyze.analyze` found in one video.

A :class:`Report` holds the classified events, the face summary, the model and the images the HTML
page shows (numpy arrays, never in the JSON). The per-second timeline, the statistics and the
emotion-change log are derived from those fields by pure functions (:mod:`microlens.report.views`), so
every writer and ``to_dict()`` agree. The writers are in :mod:`microlens.report.writers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microlens.labels import emoji
from microlens.recognize.event import Event
from microlens.report.review import Review, event_review, review_dict
from microlens.report.signals import Signals
from microlens.report.views import change_log, output_labels, stats, timeline
from microlens.report.views import json_round as _r

SCHEMA_VERSION = 7  # 2: events carry "recognizer", labels may be "uncertain"; 3: the state between
# events is what the expression prior reads on the face ("source": "appearance"), not always neutral;
# 4: events say whether the person was talking ("talking"; a micro-model label is then "uncertain");
# 5: an uncertain event says why ("uncertain_reason": low_confidence, neutral_face or talking);
# 6: what produced the report: "microlens_version", "created_utc", every option ("settings"), the
# model's "checkpoint", "checkpoint_sha256", "backend" and "outputs"; 7: the face's "spans", the
# spotter's "signals", a person's "review" and each event's verdict ("review")


@dataclass(frozen=True)
class FaceSummary:
    """Where the analysed face was seen."""

    frames_with_face: int = 0
    coverage: float = 0.0  # frames_with_face / frames
    max_faces: int = 0  # most faces seen in one frame
    chosen: str = ""  # which face was analysed, in words
    spans: tuple[tuple[float, float], ...] = ()  # (start_s, end_s) time spans with the face visible


@dataclass(frozen=True)
class ModelInfo:
    """The recognition model that labelled the events."""

    name: str = ""
    labels: tuple[str, ...] = ()
    macro: str = ""  # the recogniser of macro-expressions: "fer2013", or "micro" (this model)
    abstain: bool = True  # whether low-confidence events are labelled "uncertain"
    appearance: str = ""  # who read the face between events ("fer2013"); "" when nothing was read
    talking_abstain: bool = True  # whether micro-model labels of events while talking are "uncertain"
    # every label the analysis can give a probability for (micro model, then the macro prior's)
    outputs: tuple[str, ...] = ()
    checkpoint: str = ""  # the checkpoint's file name
    sha256: str = ""  # SHA-256 of the checkpoint file (its identity)
    backend: str = ""  # inference backend: onnxruntime or torch


@dataclass(frozen=True)
class Reading:
    """What the expression prior reads on the face in one second of video (no event needed)."""

    second: int  # the second [second, second + 1) of the video
    # its most likely class (mean over the faces scored in that second) where the prior reads it
    # clearly, else "neutral" (no clear expression; microlens.recognize.appearance.read_mean)
    label: str
    confidence: float  # that class's mean probability (for "neutral": the neutral class's)


@dataclass(frozen=True)
class Filmstrip:
    """Onset, apex and offset face crops of one micro-expression, each (H, W, 3) uint8 RGB."""

    event: int  # index into Report.events
    onset: np.ndarray
    apex: np.ndarray
    offset: np.ndarray


@dataclass(frozen=True)
class Images:
    """Pictures for the HTML page (and the web results page); never part of the JSON."""

    representative: np.ndarray | None = None  # (H, W, 3) uint8 RGB zoomed face frame
    representative_s: float = 0.0  # its time in the video
    representative_kind: str = ""  # "micro apex" or "clearest face"
    representative_event: int | None = None  # index into Report.events when it is a micro apex
    filmstrips: tuple[Filmstrip, ...] = ()


@dataclass(frozen=True)
class Report:
    """Everything ``analyze`` found in one video; ``to_dict()`` is the JSON schema in docs/analyze.md."""

    source: str
    duration_s: float
    fps: float  # effective frame rate from the decoded timestamps
    frames: int  # frames decoded
    events: tuple[Event, ...]
    warnings: tuple[str, ...]
    face: FaceSummary = field(default_factory=FaceSummary)
    model: ModelInfo = field(default_factory=ModelInfo)
    images: Images = field(default_factory=Images)
    width: int = 0  # display size after rotation
    height: int = 0
    rotation: int = 0  # degrees applied to the decoded frames
    codec: str = ""
    nominal_fps: float = 0.0  # what the container header claims
    timings_s: dict[str, float] = field(default_factory=dict)  # stage -> seconds spent
    appearance: tuple[Reading, ...] = ()  # per-second readings of the face, seconds with a scored face
    # (start_s, end_s) spans in which the person talks (the spotter's jaw swings), sorted
    talking: tuple[tuple[float, float], ...] = ()
    version: str = ""  # the microlens version that made the report
    created: str = ""  # when the analysis started, UTC ISO 8601 (2025-01-31T14:03:27Z)
    # every option as resolved: "analysis", "face", "spotting" -> field -> value
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    signals: Signals | None = None  # the spotter's motion strength and the prior's reading over time
    review: Review | None = None  # a person's verdicts and added events (microlens.report.review)

    def timeline(self) -> list[dict[str, Any]]:
        """Per-second states, see :func:`timeline`."""
        return timeline(self)

    def log(self) -> list[dict[str, Any]]:
        """The emotion-change log, see :func:`change_log`."""
        return change_log(self)

    def stats(self) -> dict[str, Any]:
        """Counts and ratios, see :func:`stats`."""
        return stats(self)

    def to_dict(self) -> dict:
        """The JSON report, schema_version 7 (plain JSON types only)."""
        img = self.images
        return {
            "schema_version": SCHEMA_VERSION,
            "microlens_version": self.version,
            "created_utc": self.created,
            "source": self.source,
            "duration_s": _r(self.duration_s),
            "fps": _r(self.fps, 2),
            "frames": int(self.frames),
            "video": {"width": int(self.width), "height": int(self.height), "rotation": int(self.rotation),
                      "codec": self.codec, "nominal_fps": _r(self.nominal_fps, 2)},
            "face": {"frames_with_face": int(self.face.frames_with_face),
                     "coverage": _r(self.face.coverage, 4),
                     "max_faces": int(self.face.max_faces), "chosen": self.face.chosen,
                     "spans": [[_r(a), _r(b)] for a, b in self.face.spans]},
            "model": {"name": self.model.name, "labels": list(self.model.labels),
                      "macro_recognizer": self.model.macro, "abstain": self.model.abstain,
                      "talking_abstain": self.model.talking_abstain,
                      "appearance_recognizer": self.model.appearance, "outputs": list(output_labels(self)),
                      "checkpoint": self.model.checkpoint, "checkpoint_sha256": self.model.sha256,
                      "backend": self.model.backend},
            "settings": {k: dict(v) for k, v in self.settings.items()},
            "events": [_event_dict(e) | {"review": event_review(self, i)} for i, e in enumerate(self.events)],
            "talking": [[_r(a), _r(b)] for a, b in self.talking],
            "timeline": self.timeline(),
            "stats": self.stats(),
            "log": self.log(),
            "representative": {"time_s": _r(img.representative_s), "kind": img.representative_kind,
                               "event": img.representative_event},
            "warnings": list(self.warnings),
            "timings_s": {k: _r(v) for k, v in self.timings_s.items()},
            "signals": self.signals.to_dict() if self.signals else None,
            "review": review_dict(self),
        }


def _event_dict(e: Event) -> dict[str, Any]:
    return {"start_s": _r(e.start_s), "apex_s": _r(e.apex_s), "end_s": _r(e.end_s),
            "duration_s": _r(e.duration_s), "kind": e.kind, "label": e.label,
            "emoji": emoji(e.label), "confidence": _r(e.confidence, 4),
            "probs": {k: _r(v, 4) for k, v in e.probs.items()}, "score": _r(e.score, 2),
            "recognizer": e.recognizer, "talking": e.talking, "uncertain_reason": e.reason or None,
            "leaning": e.leaning or None,
            "aus": [a.to_dict() for a in e.aus],
            "frames": {"onset": e.onset_frame, "apex": e.apex_frame, "offset": e.offset_frame}}
