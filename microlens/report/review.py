"""A person's review of the machine's events: a verdict per event and the events it missed.

For each spotted event the reviewer gives a :class:`Verdict`: ``accept`` (the machine is right),
``reject`` (no such expression) or ``relabel`` (an expression, but another label), each with a
free note. An expression the machine missed is an :class:`Added` event (onset, offset, label, note).
A :class:`Review` holds both; a report carries it (``Report.review``) and every writer shows the
reviewer's verdict beside the machine's.

The *reviewed events* are what the reviewer confirmed: accepted events, relabelled events with
their new label, and added events; rejected and not yet reviewed events are not among them.
:func:`reviewed_report` gives a report of those events, so the timeline, the emotion-change log
and the statistics can be read for the reviewed events as for the machine's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from microlens.labels import UNCERTAIN
from microlens.spot.intervals import MICRO_MAX_S

if TYPE_CHECKING:
    from microlens.recognize.event import Event
    from microlens.report.types import Report

VERDICTS = ("accept", "reject", "relabel")
REVIEWER = "reviewer"  # the recognizer of an added event
EXTRA_LABELS = ("others",)  # labels a reviewer may give besides those the analysis can output
NOTE_MAX = 2000  # characters of a note
LABEL_MAX = 64  # characters of a label


@dataclass(frozen=True)
class Verdict:
    """The reviewer's verdict on machine event number ``event``."""

    event: int  # index into Report.events
    verdict: str  # one of VERDICTS
    label: str = ""  # the new label of a "relabel"; "" otherwise
    note: str = ""
    updated: str = ""  # when it was given, UTC ISO 8601

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"a verdict is one of {', '.join(VERDICTS)}, got {self.verdict!r}")
        if (self.verdict == "relabel") != bool(self.label):
            raise ValueError("a relabel verdict needs a label, and only a relabel has one")


@dataclass(frozen=True)
class Added:
    """An expression the machine missed, marked by the reviewer."""

    id: int  # the reviewer store's id (stable across edits)
    start_s: float  # onset
    end_s: float  # offset
    label: str
    note: str = ""
    updated: str = ""  # UTC ISO 8601

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s) and 0 <= self.start_s < self.end_s):
            raise ValueError(f"an added event needs 0 <= onset < offset, got {self.start_s}-{self.end_s} s")

    @property
    def kind(self) -> str:
        """micro (at most MICRO_MAX_S, the MEGC convention) or macro, as for the machine's events."""
        return "micro" if self.end_s - self.start_s <= MICRO_MAX_S + 1e-9 else "macro"


@dataclass(frozen=True)
class Review:
    """All verdicts and added events of one analysis."""

    verdicts: tuple[Verdict, ...] = ()
    added: tuple[Added, ...] = ()

    def verdict(self, event: int) -> Verdict | None:
        """The verdict on machine event ``event``, or None when it is not reviewed yet."""
        return next((v for v in self.verdicts if v.event == event), None)

    @property
    def empty(self) -> bool:
        """True when nothing was reviewed."""
        return not self.verdicts and not self.added


def review_labels(report: Report) -> tuple[str, ...]:
    """The labels a reviewer can choose: every label the analysis can output, then EXTRA_LABELS
    (never ``uncertain``: a reviewer who is unsure rejects or leaves the event unreviewed)."""
    from microlens.report.views import output_labels

    return tuple(dict.fromkeys(lab for lab in (*output_labels(report), *EXTRA_LABELS) if lab != UNCERTAIN))


def frame_at(report: Report, t: float) -> int:
    """The index of the frame shown at ``t`` seconds (at the report's effective frame rate)."""
    if report.frames <= 0 or report.fps <= 0:
        return -1
    return int(min(max(math.floor(t * report.fps + 1e-6), 0), report.frames - 1))


def added_event(report: Report, a: Added) -> Event:
    """An added event as an :class:`~microlens.report.types.Event` (apex: the middle; confidence 1; no
    probabilities; recognizer ``reviewer``)."""
    from microlens.recognize.event import Event

    mid = (a.start_s + a.end_s) / 2
    return Event(a.start_s, mid, a.end_s, a.kind, a.label, 1.0, {}, 0.0, frame_at(report, a.start_s),
                 frame_at(report, mid), frame_at(report, a.end_s), REVIEWER)


def reviewed_event(e: Event, v: Verdict | None) -> Event | None:
    """The machine event ``e`` after its verdict ``v``: as it is when accepted, with the new label
    when relabelled; None when rejected or not reviewed."""
    if v is None or v.verdict == "reject":
        return None
    if v.verdict == "accept":
        return e
    return dataclasses.replace(e, label=v.label, reason="", leaning="")


def reviewed_events(report: Report) -> tuple[Event, ...]:
    """The events the reviewer confirmed (accepted, relabelled, added), by onset."""
    review = report.review or Review()
    kept = [reviewed_event(e, review.verdict(i)) for i, e in enumerate(report.events)]
    out = [e for e in kept if e is not None] + [added_event(report, a) for a in review.added]
    return tuple(sorted(out, key=lambda e: (e.start_s, e.end_s)))


def reviewed_report(report: Report) -> Report:
    """The report with the reviewed events in place of the machine's (for its timeline, log and
    statistics)."""
    return dataclasses.replace(report, events=reviewed_events(report))


def counts(report: Report) -> dict[str, int]:
    """How many machine events were accepted, rejected, relabelled or not reviewed yet, and how
    many events the reviewer added."""
    review = report.review or Review()
    got = [review.verdict(i) for i in range(len(report.events))]
    names = {"accept": "accepted", "reject": "rejected", "relabel": "relabelled"}
    out = dict.fromkeys(names.values(), 0)
    for g in got:
        if g is not None:
            out[names[g.verdict]] += 1
    return {**out, "unreviewed": sum(1 for g in got if g is None), "added": len(review.added)}


def event_review(report: Report, i: int) -> dict[str, Any] | None:
    """The JSON of machine event ``i``'s verdict: ``verdict``, ``label`` (the label after review:
    the machine's when accepted, the new one when relabelled, null when rejected), ``note``,
    ``updated_utc``; None when it is not reviewed."""
    v = report.review.verdict(i) if report.review else None
    if v is None:
        return None
    label = {"accept": report.events[i].label, "relabel": v.label}.get(v.verdict)
    return {"verdict": v.verdict, "label": label, "note": v.note, "updated_utc": v.updated}


def added_dict(report: Report, a: Added) -> dict[str, Any]:
    """The JSON of one added event."""
    e = added_event(report, a)
    return {"id": a.id, "start_s": round(a.start_s, 3), "end_s": round(a.end_s, 3),
            "duration_s": round(a.end_s - a.start_s, 3), "kind": a.kind, "label": a.label,
            "note": a.note, "updated_utc": a.updated,
            "frames": {"onset": e.onset_frame, "apex": e.apex_frame, "offset": e.offset_frame}}


def review_dict(report: Report) -> dict[str, Any] | None:
    """The report's JSON ``review``: ``counts`` (:func:`counts`), ``labels`` (the reviewer's label
    set), ``added`` events and ``stats``, the statistics of the reviewed events; None without a
    review."""
    if report.review is None:
        return None
    from microlens.report.views import stats

    return {"counts": counts(report), "labels": list(review_labels(report)),
            "added": [added_dict(report, a) for a in report.review.added],
            "stats": stats(reviewed_report(report))}


def verdict_words(report: Report, i: int) -> str:
    """Machine event ``i``'s verdict in words for captions and tables: "accepted", "rejected",
    "relabelled: sadness", "" when not reviewed; the note after " - "."""
    v = report.review.verdict(i) if report.review else None
    if v is None:
        return ""
    words = {"accept": "accepted", "reject": "rejected"}.get(v.verdict, f"relabelled: {v.label}")
    return words + (f" - {v.note}" if v.note else "")


__all__ = ["EXTRA_LABELS", "LABEL_MAX", "NOTE_MAX", "REVIEWER", "VERDICTS", "Added", "Review", "Verdict",
           "added_dict", "added_event", "counts", "event_review", "frame_at", "review_dict", "review_labels",
           "reviewed_event", "reviewed_events", "reviewed_report", "verdict_words"]
