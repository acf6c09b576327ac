"""Stage 5, report: the Report dataclass and one writer per output format.

A :class:`Report` holds what :func:`microlens.analyze.analyze` found in one video: the classified
events, the face summary, the model and the images the HTML page shows (numpy arrays, never in the
JSON). The per-second timeline, the statistics and the emotion-change log are derived from those
fields by pure functions, so every writer and ``to_dict()`` agree.

Writers are registered in :data:`WRITERS` (format name -> ``writer(report) -> str``); :func:`save`
writes one atomically (a temporary file in the target folder, then a rename), so a failure never
leaves a partial file behind.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microlens.errors import OutputError
from microlens.labels import TALKING, UNCERTAIN, UNCERTAIN_REASONS, emoji, reason_words

SCHEMA_VERSION = 5  # 2: events carry "recognizer", labels may be "uncertain"; 3: the state between
# events is what the expression prior reads on the face ("source": "appearance"), not always neutral;
# 4: events say whether the person was talking ("talking"; a micro-model label is then "uncertain");
# 5: an uncertain event says why ("uncertain_reason": low_confidence, neutral_face or talking)
NEUTRAL = "neutral"  # timeline/log state of a visible face without an event when nothing was read
NO_FACE = "no_face"  # timeline/log state while no face is visible


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


@dataclass(frozen=True)
class Reading:
    """What the expression prior reads on the face in one second of video (no event needed)."""

    second: int  # the second [second, second + 1) of the video
    label: str  # its most likely class (mean over the faces scored in that second), or "uncertain"
    confidence: float  # that class's mean probability


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
        """The JSON report, schema_version 5 (plain JSON types only)."""
        img = self.images
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "duration_s": _r(self.duration_s),
            "fps": _r(self.fps, 2),
            "frames": int(self.frames),
            "video": {"width": int(self.width), "height": int(self.height), "rotation": int(self.rotation),
                      "codec": self.codec, "nominal_fps": _r(self.nominal_fps, 2)},
            "face": {"frames_with_face": int(self.face.frames_with_face),
                     "coverage": _r(self.face.coverage, 4),
                     "max_faces": int(self.face.max_faces), "chosen": self.face.chosen},
            "model": {"name": self.model.name, "labels": list(self.model.labels),
                      "macro_recognizer": self.model.macro, "abstain": self.model.abstain,
                      "talking_abstain": self.model.talking_abstain,
                      "appearance_recognizer": self.model.appearance},
            "events": [_event_dict(e) for e in self.events],
            "talking": [[_r(a), _r(b)] for a, b in self.talking],
            "timeline": self.timeline(),
            "stats": self.stats(),
            "log": self.log(),
            "representative": {"time_s": _r(img.representative_s), "kind": img.representative_kind,
                               "event": img.representative_event},
            "warnings": list(self.warnings),
            "timings_s": {k: _r(v) for k, v in self.timings_s.items()},
        }


def _r(x: float, nd: int = 3) -> float:
    """Round for JSON; non-finite numbers become 0.0 (JSON has no NaN)."""
    x = float(x)
    return round(x, nd) if math.isfinite(x) else 0.0


def _event_dict(e: Event) -> dict[str, Any]:
    return {"start_s": _r(e.start_s), "apex_s": _r(e.apex_s), "end_s": _r(e.end_s),
            "duration_s": _r(e.duration_s), "kind": e.kind, "label": e.label,
            "emoji": emoji(e.label), "confidence": _r(e.confidence, 4),
            "probs": {k: _r(v, 4) for k, v in e.probs.items()}, "score": _r(e.score, 2),
            "recognizer": e.recognizer, "talking": e.talking, "uncertain_reason": e.reason or None,
            "frames": {"onset": e.onset_frame, "apex": e.apex_frame, "offset": e.offset_frame}}


# derived views -------------------------------------------------------------------------------
def _strength(e: Event) -> tuple[float, float]:
    """Order of precedence when events overlap: spotting strength, then confidence."""
    return (e.score, e.confidence)


def _covered(spans: tuple[tuple[float, float], ...], a: float, b: float) -> float:
    """Fraction of [a, b) covered by ``spans`` (sorted, not overlapping): the face's, or talking."""
    if b <= a or not spans:
        return 0.0
    i = max(0, bisect.bisect_right(spans, (a, math.inf)) - 1)  # the last span starting at or before a
    got = 0.0
    while i < len(spans) and spans[i][0] < b:
        s0, s1 = spans[i]
        got += max(0.0, min(b, s1) - max(a, s0))
        i += 1
    return min(1.0, got / (b - a))


def _n_seconds(report: Report) -> int:
    return max(1, math.ceil(report.duration_s - 1e-9)) if report.frames > 0 else 0


def _readings(report: Report) -> dict[int, Reading]:
    return {r.second: r for r in report.appearance}


def _face_in_second(report: Report, k: int) -> float:
    """Fraction of second ``[k, k+1)`` (cut at the end of the video) with the face visible."""
    return _covered(report.face.spans, float(k), min(k + 1.0, max(report.duration_s, k + 1e-6)))


def timeline(report: Report) -> list[dict[str, Any]]:
    """One row per second ``[k, k+1)`` of the video. ``state`` is the label of the strongest event
    overlapping that second (``source`` "event"); else, with the face visible, what the expression
    prior reads on it in that second (``source`` "appearance": a class, ``neutral`` or
    ``uncertain``), or ``neutral`` when nothing was read (``source`` "face"); else ``no_face``.
    ``appearance`` / ``appearance_confidence`` give the prior's reading of the second whatever the
    events (null without one); ``micro_count`` counts micro-expressions whose apex falls in that
    second; ``face`` is the fraction of the second with the face visible, ``talking`` the fraction
    in which the person talks."""
    readings = _readings(report)
    rows = []
    for k in range(_n_seconds(report)):
        a, b = float(k), float(k + 1)
        over = [e for e in report.events if e.start_s < b and e.end_s >= a]
        face = _face_in_second(report, k)
        read = readings.get(k)
        if over:
            state, source = max(over, key=_strength).label, "event"
        elif face <= 0:
            state, source = NO_FACE, NO_FACE
        elif read is not None:
            state, source = read.label, "appearance"
        else:
            state, source = NEUTRAL, "face"
        micro = sum(1 for e in report.events if e.kind == "micro" and a <= e.apex_s < b)
        talk = _covered(report.talking, a, b)
        rows.append({"second": k, "state": state, "source": source,
                     "appearance": None if read is None else read.label,
                     "appearance_confidence": None if read is None else _r(read.confidence, 4),
                     "micro_count": micro, "face": round(face, 2), "talking": round(talk, 2)})
    return rows


def change_log(report: Report) -> list[dict[str, Any]]:
    """The emotion-change log: consecutive spans of one state over the whole video, at the events'
    own precision and, between events, at the one-second precision of the expression prior's
    readings. States are event labels (the strongest event wins where events overlap; ``source``
    "event"), between events what the prior reads on the face (``source`` "appearance"; ``neutral``
    with ``source`` "face" when nothing was read) and ``no_face`` where no face is visible.
    Adjacent spans of the same state and source are merged. Each row: label, emoji, kind
    (micro/macro for an event, else null), source, start_s, end_s, duration_s."""
    end = max(report.duration_s, max((e.end_s for e in report.events), default=0.0))
    if end <= 0:
        return []
    readings = _readings(report)
    cuts = {0.0, end}
    if readings:
        cuts.update(float(k) for k in range(1, math.ceil(end)))
    for s0, s1 in report.face.spans:
        cuts.update((min(max(s0, 0.0), end), min(max(s1, 0.0), end)))
    for e in report.events:
        cuts.update((min(max(e.start_s, 0.0), end), min(max(e.end_s, 0.0), end)))
    points = sorted(cuts)
    rows: list[dict[str, Any]] = []
    for a, b in zip(points[:-1], points[1:], strict=True):
        if b - a < 1e-6:
            continue
        mid = (a + b) / 2
        over = [e for e in report.events if e.start_s <= mid < e.end_s]
        kind = None
        if over:
            best = max(over, key=_strength)
            label, kind, source = best.label, best.kind, "event"
        elif _covered(report.face.spans, a, b) < 0.5:
            label, source = NO_FACE, NO_FACE
        elif (read := readings.get(math.floor(mid))) is not None:
            label, source = read.label, "appearance"
        else:
            label, source = NEUTRAL, "face"
        if rows and rows[-1]["label"] == label and rows[-1]["source"] == source:
            rows[-1]["end_s"] = b
            continue
        rows.append({"label": label, "emoji": emoji(label) if label != NO_FACE else "",
                     "kind": kind, "source": source, "start_s": a, "end_s": b})
    for r in rows:
        r["duration_s"] = _r(r["end_s"] - r["start_s"])
        r["start_s"], r["end_s"] = _r(r["start_s"]), _r(r["end_s"])
    return rows


def stats(report: Report) -> dict[str, Any]:
    """Counts over the whole video.

    * ``emotion_changes``: label changes between consecutive entries of the emotion-change log,
      ignoring spans without a face (neutral -> happiness -> neutral is 2 changes; a happiness event
      followed by a face the prior still reads as happiness is none);
    * ``micro_count`` / ``macro_count``: events of each kind;
    * ``micro_ratio_percent``: micro events / all events * 100 (0 when there are no events);
    * ``uncertain_count``: events no recogniser was confident about (label ``uncertain``), also
      counted in ``micro_count`` / ``macro_count`` and listed under ``per_label``;
    * ``talking_count``: events spotted while the person talked (``Event.talking``);
    * ``talking_seconds``: seconds in which the person talks (``Report.talking``);
    * ``per_recognizer``: events labelled by each recogniser;
    * ``per_label``: for every label of the model (and any other label seen), the micro and macro
      counts, their total and the summed event duration in seconds;
    * ``appearance_seconds``: seconds with the face visible, per label the expression prior read.
    """
    seen = [r["label"] for r in change_log(report) if r["label"] != NO_FACE]
    changes = sum(1 for p, q in zip(seen[:-1], seen[1:], strict=True) if p != q)
    micro = sum(1 for e in report.events if e.kind == "micro")
    macro = len(report.events) - micro
    per: dict[str, dict[str, Any]] = {}
    for lab in list(report.model.labels) + [e.label for e in report.events]:
        per.setdefault(lab, {"micro": 0, "macro": 0, "total": 0, "duration_s": 0.0})
    for e in report.events:
        p = per[e.label]
        p["micro" if e.kind == "micro" else "macro"] += 1
        p["total"] += 1
        p["duration_s"] = _r(p["duration_s"] + e.duration_s)
    total = micro + macro
    by_rec: dict[str, int] = {}
    for e in report.events:
        by_rec[e.recognizer] = by_rec.get(e.recognizer, 0) + 1
    return {"emotion_changes": changes, "micro_count": micro, "macro_count": macro,
            "micro_ratio_percent": _r(100.0 * micro / total, 1) if total else 0.0,
            "events": total, "uncertain_count": sum(1 for e in report.events if e.label == UNCERTAIN),
            "talking_count": sum(1 for e in report.events if e.talking),
            "talking_seconds": _r(sum(b - a for a, b in report.talking), 2), "per_recognizer": by_rec,
            "per_label": per, "appearance_seconds": _count_readings(report)}


def _count_readings(report: Report) -> dict[str, int]:
    """Label -> seconds with the face visible that the prior read as that label."""
    out: dict[str, int] = {}
    for r in report.appearance:
        if r.second < _n_seconds(report) and round(_face_in_second(report, r.second), 2) > 0:
            out[r.label] = out.get(r.label, 0) + 1
    return out


# writers ---------------------------------------------------------------------------------------
def to_json(report: Report) -> str:
    """The JSON report (UTF-8 text, emoji kept)."""
    return json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n"


def to_csv(report: Report) -> str:
    """One row per event: times, kind, label, confidence and one probability column per label."""
    # the model's classes, then any other class a recogniser gave probabilities for (the macro prior)
    labels = list(dict.fromkeys([*report.model.labels, *(k for e in report.events for k in e.probs)]))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["event", "kind", "label", "confidence", "start_s", "apex_s", "end_s", "duration_s",
                "score", "recognizer", "talking", "uncertain_reason"] + [f"p_{lab}" for lab in labels])
    for i, e in enumerate(report.events):
        w.writerow([i, e.kind, e.label, f"{e.confidence:.4f}", f"{e.start_s:.3f}", f"{e.apex_s:.3f}",
                    f"{e.end_s:.3f}", f"{e.duration_s:.3f}", f"{e.score:.2f}", e.recognizer,
                    int(e.talking), e.reason]
                   + [f"{e.probs.get(lab, 0.0):.4f}" for lab in labels])
    return buf.getvalue()


def to_timeline_csv(report: Report) -> str:
    """One row per second (:func:`timeline`): second, state, source, appearance, its confidence,
    micro_count, face, talking; for lining the video up with other signals recorded at the same time."""
    cols = ["second", "state", "source", "appearance", "appearance_confidence", "micro_count", "face",
            "talking"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in timeline(report):
        w.writerow(["" if row[c] is None else row[c] for c in cols])
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
        out += [f"event-{i}", f"{_vtt_time(e.start_s)} --> {_vtt_time(end)}",
                text.replace("-->", "→"), ""]
    return "\n".join(out)


def to_html(report: Report) -> str:
    """The self-contained HTML page (see :func:`microlens.page.render`)."""
    from microlens.page import render

    return render(report)


Writer = Callable[[Report], str]
WRITERS: dict[str, Writer] = {"json": to_json, "csv": to_csv, "timeline": to_timeline_csv, "vtt": to_vtt,
                              "html": to_html}
EXTENSIONS: dict[str, str] = {"json": ".json", "csv": ".csv", "timeline": ".timeline.csv", "vtt": ".vtt",
                              "html": ".html"}


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
