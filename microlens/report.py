"""Stage 5, report: the Report dataclass and one writer per output format.

A :class:`Report` holds what :func:`microlens.analyze.analyze` found in one video: the classified
events, the face summary, the model and the images the HTML page shows (numpy arrays, never in the
JSON). The per-second timeline, the statistics and the emotion-change log are derived from those
fields by pure functions (:mod:`microlens.views`, importable from here), so every writer and
``to_dict()`` agree.

Writers are registered in :data:`WRITERS` (format name -> ``writer(report) -> str``); :func:`save`
writes one atomically (a temporary file in the target folder, then a rename), so a failure never
leaves a partial file behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microlens.aus import ActionUnit
from microlens.errors import OutputError
from microlens.labels import TALKING, UNCERTAIN, UNCERTAIN_REASONS, emoji, reason_words
from microlens.review import Review, added_event, event_review, review_dict, reviewed_report, verdict_words
from microlens.signals import Signals
from microlens.views import NEUTRAL as NEUTRAL  # re-exported: the states of the derived views
from microlens.views import NO_FACE as NO_FACE
from microlens.views import change_log, stats, timeline
from microlens.views import json_round as _r

SCHEMA_VERSION = 7  # 2: events carry "recognizer", labels may be "uncertain"; 3: the state between
# events is what the expression prior reads on the face ("source": "appearance"), not always neutral;
# 4: events say whether the person was talking ("talking"; a micro-model label is then "uncertain");
# 5: an uncertain event says why ("uncertain_reason": low_confidence, neutral_face or talking);
# 6: what produced the report: "microlens_version", "created_utc", every option ("settings"), the
# model's "checkpoint", "checkpoint_sha256", "backend" and "outputs"; 7: the face's "spans", the
# spotter's "signals", a person's "review" and each event's verdict ("review")


@dataclass(frozen=True)
class Event:
    """One spotted and classified expression."""

    start_s: float
    apex_s: float
    end_s: float
    kind: str  # "micro" or "macro"
    label: str  # a class, or "uncertain" when the recogniser was not confident enough
    confidence: float  # calibrated probability of the most likely class
    probs: dict[str, float]  # class -> calibrated probability
    score: float = 0.0  # spotting peak strength (robust z units); larger is stronger
    onset_frame: int = -1  # frame indices in the video (decode order)
    apex_frame: int = -1
    offset_frame: int = -1
    recognizer: str = ""  # which recogniser labelled it: "micro:MODEL" or "macro:fer2013"
    talking: bool = False  # spotted while the person talked (a micro label is then "uncertain")
    reason: str = ""  # why the label is "uncertain": one of labels.UNCERTAIN_REASONS; "" when labelled
    leaning: str = ""  # the class the recogniser leaned towards when the label is "uncertain", else ""
    aus: tuple[ActionUnit, ...] = ()  # action units read on the onset->apex flow, most probable first

    def __post_init__(self) -> None:
        if self.reason and (self.reason not in UNCERTAIN_REASONS or self.label != UNCERTAIN):
            raise ValueError(f"an event's reason must be one of {UNCERTAIN_REASONS} and only on an "
                             f"{UNCERTAIN!r} label, got reason {self.reason!r} on {self.label!r}")

    @property
    def duration_s(self) -> float:
        """Onset to offset, seconds."""
        return self.end_s - self.start_s


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
    # clearly, else "neutral" (no clear expression; microlens.appearance.read_mean)
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
    review: Review | None = None  # a person's verdicts and added events (microlens.review)

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


# writers ---------------------------------------------------------------------------------------
def to_json(report: Report) -> str:
    """The JSON report (UTF-8 text, emoji kept)."""
    return json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n"


def output_labels(report: Report) -> tuple[str, ...]:
    """Every label the report's analysis can give a probability for (``ModelInfo.outputs``: the same
    for every video analysed with one model and macro recogniser), then any other label an event
    has a probability for (reports built without ``outputs``)."""
    seen = [*report.model.outputs, *report.model.labels, *(k for e in report.events for k in e.probs)]
    return tuple(dict.fromkeys(seen))


CSV_COLUMNS = ("event", "kind", "label", "confidence", "start_s", "apex_s", "end_s", "duration_s",
               "onset_frame", "apex_frame", "offset_frame", "score", "recognizer", "talking",
               "uncertain_reason", "review", "review_label", "review_note", "aus")
# ... then p_<label> for every label of output_labels(). "aus": the action units read as present,
# "AU4 0.81; AU7 0.62" (empty when none is present)


def to_csv(report: Report) -> str:
    """One row per event: times, frame indices (0-based, in decode order), kind, label, confidence
    and one probability column per label the analysis can output, so that the columns are the same
    for every video analysed with the same model and macro recogniser (0 where the event's
    recogniser gives that label no probability). The review columns give the reviewer's verdict
    (accept, reject, relabel; "added" on the rows of events the reviewer added, after the machine's)
    with the label after review and the note; "aus" lists the action units read as present with their
    probabilities ("AU4 0.81; AU7 0.62")."""
    labels = output_labels(report)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*CSV_COLUMNS, *(f"p_{lab}" for lab in labels)])
    for i, e in enumerate(report.events):
        w.writerow([i, e.kind, e.label, f"{e.confidence:.4f}", f"{e.start_s:.3f}", f"{e.apex_s:.3f}",
                    f"{e.end_s:.3f}", f"{e.duration_s:.3f}", e.onset_frame, e.apex_frame, e.offset_frame,
                    f"{e.score:.2f}", e.recognizer, int(e.talking), e.reason, *_review_cells(report, i),
                    "; ".join(f"{a.au} {a.p:.2f}" for a in e.aus if a.present)]
                   + [f"{e.probs.get(lab, 0.0):.4f}" for lab in labels])
    for k, a in enumerate(report.review.added if report.review else ()):
        e = added_event(report, a)
        w.writerow([len(report.events) + k, e.kind, "", "", f"{e.start_s:.3f}", f"{e.apex_s:.3f}",
                    f"{e.end_s:.3f}", f"{e.duration_s:.3f}", e.onset_frame, e.apex_frame, e.offset_frame, "",
                    e.recognizer, "", "", "added", a.label, a.note, ""] + [""] * len(labels))
    return buf.getvalue()


def _review_cells(report: Report, i: int) -> list[str]:
    """The CSV's review, review_label, review_note of machine event ``i`` (empty when not reviewed)."""
    r = event_review(report, i)
    return ["", "", ""] if r is None else [r["verdict"], r["label"] or "", r["note"]]


def to_timeline_csv(report: Report) -> str:
    """One row per second (:func:`timeline`): second, state, source, appearance, its confidence,
    micro_count, face, talking, then reviewed_state (the state with the reviewed events, empty
    without a review); for lining the video up with other signals recorded at the same time."""
    cols = ["second", "state", "source", "appearance", "appearance_confidence", "micro_count", "face",
            "talking"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*cols, "reviewed_state"])
    reviewed = timeline(reviewed_report(report)) if report.review else None
    for k, row in enumerate(timeline(report)):
        w.writerow(["" if row[c] is None else row[c] for c in cols]
                   + [reviewed[k]["state"] if reviewed else ""])
    return buf.getvalue()


def _vtt_time(t: float) -> str:
    ms = int(round(max(t, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_vtt(report: Report) -> str:
    """WebVTT captions to lay over the video: one cue per event, at the event's own times, e.g.
    ``😊 happiness · micro · 72%`` (``· talking`` added when the person was talking; an uncertain
    event's other reason in brackets: ``uncertain (low confidence)``)."""
    out = ["WEBVTT", "", "NOTE microlens emotion captions; a prediction is not proof of what a person feels",
           ""]
    for i, e in enumerate(report.events):
        end = max(e.end_s, e.start_s + 0.001)
        why = f" ({reason_words(e.reason)})" if e.reason and e.reason != TALKING else ""
        text = f"{emoji(e.label)} {e.label}{why} · {e.kind} · {e.confidence * 100:.0f}%"
        text += " · talking" if e.talking else ""
        text += f" · reviewer: {verdict_words(report, i)}" if verdict_words(report, i) else ""
        out += [f"event-{i}", f"{_vtt_time(e.start_s)} --> {_vtt_time(end)}",
                text.replace("-->", "→"), ""]
    for a in report.review.added if report.review else ():
        text = f"{emoji(a.label)} {a.label} · {a.kind} · added by the reviewer"
        text += f" - {a.note}" if a.note else ""
        out += [f"added-{a.id}", f"{_vtt_time(a.start_s)} --> {_vtt_time(a.end_s)}",
                text.replace("-->", "→"), ""]
    return "\n".join(out)


def to_html(report: Report) -> str:
    """The self-contained HTML page (see :func:`microlens.page.render`)."""
    from microlens.page import render

    return render(report)


def to_eaf(report: Report) -> str:
    """An ELAN annotation file (see :func:`microlens.exports.to_eaf`)."""
    from microlens.exports import to_eaf as eaf

    return eaf(report)


def to_boris(report: Report) -> str:
    """A BORIS tabular-events table (see :func:`microlens.exports.to_boris`)."""
    from microlens.exports import to_boris as boris

    return boris(report)


Writer = Callable[[Report], str]
WRITERS: dict[str, Writer] = {"json": to_json, "csv": to_csv, "timeline": to_timeline_csv, "vtt": to_vtt,
                              "html": to_html, "eaf": to_eaf, "boris": to_boris}
EXTENSIONS: dict[str, str] = {"json": ".json", "csv": ".csv", "timeline": ".timeline.csv", "vtt": ".vtt",
                              "html": ".html", "eaf": ".eaf", "boris": ".boris.tsv"}


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (/proc on Linux:
    changing it, even briefly, would race with other threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file in the same folder, then a rename.
    The file gets the mode an ordinary new file gets (0666 less the umask), not mkstemp's 0600.
    Raises OutputError (exit 5) when it cannot be written (no such folder, no permission, disk full)."""
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent or ".")
    except OSError as e:
        raise OutputError(f"{p}: cannot write the file ({e.strerror or e})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OutputError(f"{p}: cannot write the file ({e.strerror or e})") from None
        raise


def save(report: Report, path: str | os.PathLike[str], fmt: str = "json") -> None:
    """Render ``report`` with ``WRITERS[fmt]`` and write it atomically to ``path``."""
    save_text(path, WRITERS[fmt](report))
