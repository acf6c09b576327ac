"""Exports for the annotation tools researchers code video with: ELAN and BORIS.

* :func:`to_eaf`: an ELAN annotation document (EAF, written with pympi-ling) with the tiers
  ``machine events``, ``reviewed events``, ``per-second state``, ``talking``, ``reviewer verdicts``
  and ``reviewer notes`` (:data:`TIERS`; events that overlap go to an overflow tier such as
  ``machine events 2``), linked to the analysed video by its name.
* :func:`to_boris`: BORIS's tabular events (tab-separated): one row per START and STOP of a state
  event, with BORIS's columns Time, Media file path, Total length, FPS, Subject, Behavior,
  Behavioral category, Comment, Status. The machine's events are the subject ``machine``, the
  reviewed events the subject ``reviewer``; the behavior is the emotion label, the behavioral
  category micro, macro or talking.
"""

from __future__ import annotations

import csv
import io
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING

from microlens.report.review import Review, reviewed_event, reviewed_events, verdict_words

if TYPE_CHECKING:
    from microlens.recognize.event import Event
    from microlens.report.types import Report

TIERS = ("machine events", "reviewed events", "per-second state", "talking", "reviewer verdicts",
         "reviewer notes")
BORIS_COLUMNS = ("Time", "Media file path", "Total length", "FPS", "Subject", "Behavior",
                 "Behavioral category", "Comment", "Status")


def _ms(t: float) -> int:
    return int(round(max(t, 0.0) * 1000))


def _event_value(e: Event) -> str:
    return f"{e.label} ({e.kind})"


def _spans(report: Report) -> dict[str, list[tuple[float, float, str]]]:
    """(start_s, end_s, value) of every tier."""
    machine = [(e.start_s, e.end_s, f"{e.label} ({e.kind}, {e.confidence * 100:.0f}%)")
               for e in report.events]
    reviewed = [(e.start_s, e.end_s, f"{e.label} ({e.kind})") for e in reviewed_events(report)]
    review = report.review or Review()
    verdicts, notes = [], []
    for v in review.verdicts:
        if v.event < len(report.events):
            e = report.events[v.event]
            verdicts.append((e.start_s, e.end_s, {"accept": "accepted", "reject": "rejected"}.get(
                v.verdict, f"relabelled: {v.label}")))
            notes += [(e.start_s, e.end_s, v.note)] if v.note else []
    verdicts += [(a.start_s, a.end_s, "added") for a in review.added]
    notes += [(a.start_s, a.end_s, a.note) for a in review.added if a.note]
    state = [(float(r["second"]), min(r["second"] + 1.0, report.duration_s), str(r["state"]))
             for r in report.timeline()]
    return {"machine events": machine, "reviewed events": reviewed, "per-second state": state,
            "talking": [(a, b, "talking") for a, b in report.talking], "reviewer verdicts": verdicts,
            "reviewer notes": notes}


def _lanes(spans: list[tuple[float, float, str]]) -> list[list[tuple[int, int, str]]]:
    """Millisecond spans laid out on as few lanes as needed so that none overlaps another of its
    lane (an ELAN tier cannot hold overlapping annotations): the first lane is the tier, the
    others its overflow tiers ("machine events 2", ...). Empty spans are left out."""
    lanes: list[list[tuple[int, int, str]]] = []
    for a, b, v in sorted((_ms(a), _ms(b), v) for a, b, v in spans):
        if b <= a:
            continue
        lane = next((ln for ln in lanes if ln[-1][1] <= a), None)
        if lane is None:
            lanes.append(lane := [])
        lane.append((a, b, v))
    return lanes or [[]]


def to_eaf(report: Report) -> str:
    """The report as an ELAN document (EAF 3.0 XML text): one tier per entry of :data:`TIERS`,
    times in milliseconds; the media descriptor names the analysed video (ELAN asks where it is
    when it is not next to the file)."""
    from xml.etree import ElementTree

    from pympi import Elan

    eaf = Elan.Eaf(author="microlens")
    eaf.remove_tier("default")
    name = Path(report.source).name or "video"
    eaf.add_linked_file(name, relpath=f"./{name}", mimetype=mimetypes.guess_type(name)[0] or "video/mp4")
    for tier, spans in _spans(report).items():
        for k, lane in enumerate(_lanes(spans)):
            name = tier if k == 0 else f"{tier} {k + 1}"
            eaf.add_tier(name)
            for a, b, value in lane:
                eaf.add_annotation(name, a, b, value)
    doc = Elan.to_adocument(eaf, True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(doc, encoding="unicode") + "\n"


def _with_note(words: str, note: str) -> str:
    return words + (f" - {note}" if note else "")


def _boris_rows(report: Report) -> list[tuple[float, str, str, str, str, str]]:
    """(time, subject, behavior, category, comment, status) of every START and STOP."""
    bouts: list[tuple[float, float, str, str, str, str]] = []
    for i, e in enumerate(report.events):
        words = verdict_words(report, i)
        comment = "; ".join(c for c in (f"confidence {e.confidence:.2f}", e.recognizer,
                                         f"reviewer: {words}" if words else "") if c)
        bouts.append((e.start_s, e.end_s, "machine", e.label, e.kind, comment))
    review = report.review or Review()
    for i, e in enumerate(report.events):
        v, kept = review.verdict(i), reviewed_event(e, review.verdict(i))
        if v is not None and kept is not None:
            words = "accepted" if v.verdict == "accept" else "relabelled"
            bouts.append((e.start_s, e.end_s, "reviewer", kept.label, e.kind, _with_note(words, v.note)))
    bouts += [(a.start_s, a.end_s, "reviewer", a.label, a.kind, _with_note("added by the reviewer", a.note))
              for a in review.added]
    bouts += [(a, b, "machine", "talking", "talking", "") for a, b in report.talking]
    rows = []
    for key in sorted({(s, b) for _, _, s, b, _, _ in bouts}):  # one subject and behavior at a time:
        mine = sorted(x for x in bouts if (x[2], x[3]) == key)  # a START must be paired before the next
        end = -1.0
        for a, b, subject, behavior, category, comment in mine:
            a = max(a, end + 0.001)
            if b <= a:
                continue
            rows += [(a, subject, behavior, category, comment, "START"),
                     (b, subject, behavior, category, "", "STOP")]
            end = b
    return sorted(rows, key=lambda r: (r[0], r[5] == "START"))


def to_boris(report: Report) -> str:
    """BORIS tabular events (tab-separated, a header row of :data:`BORIS_COLUMNS`): each event is a
    state event with a START and a STOP row, in time order (a STOP before a START at the same time);
    bouts of one subject and behavior never overlap, as BORIS requires (a bout that would start
    before the previous one stopped starts just after it)."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(BORIS_COLUMNS)
    for t, subject, behavior, category, comment, status in _boris_rows(report):
        w.writerow([f"{t:.3f}", report.source, f"{report.duration_s:.3f}", f"{report.fps:.2f}", subject,
                    behavior,
                    category, comment, status])
    return buf.getvalue()


__all__ = ["BORIS_COLUMNS", "TIERS", "to_boris", "to_eaf"]
