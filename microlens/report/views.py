"""The derived views of a :class:`~microlens.report.types.Report`: the per-second timeline, the
emotion-change log and the statistics, pure functions of the report's fields (so every writer and
``Report.to_dict()`` agree). :mod:`microlens.report.types` re-exports them."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from microlens.labels import UNCERTAIN, emoji

if TYPE_CHECKING:
    from microlens.recognize.event import Event
    from microlens.report.types import Reading, Report

NEUTRAL = "neutral"  # timeline/log state of a visible face without an event when nothing was read
NO_FACE = "no_face"  # timeline/log state while no face is visible


def json_round(x: float, nd: int = 3) -> float:
    """Round for JSON; non-finite numbers become 0.0 (JSON has no NaN)."""
    x = float(x)
    return round(x, nd) if math.isfinite(x) else 0.0


_r = json_round


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
    prior reads on it in that second (``source`` "appearance": a class it reads clearly, else
    ``neutral``), or ``neutral`` when nothing was read (``source`` "face"); else ``no_face``.
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
    rows = _fold_slivers(rows, max(0.05, 1.5 / report.fps if report.fps > 0 else 0.0), report.events)
    for r in rows:
        r["duration_s"] = _r(r["end_s"] - r["start_s"])
        r["start_s"], r["end_s"] = _r(r["start_s"]), _r(r["end_s"])
    return rows


def _fold_slivers(rows: list[dict[str, Any]], min_s: float, events: tuple[Event, ...]
                  ) -> list[dict[str, Any]]:
    """Fold log spans shorter than ``min_s`` (about a frame) into a neighbour. Where a second of
    the prior's readings, a face span and an event begin or end a frame apart, the cuts leave
    one-frame spans that the pages would list as rows of 0.0 s. A neighbour that is not an event
    takes the span first (event rows keep their own bounds), then one with the same label, then the
    earlier one; a whole event is never folded, however short. Rows stay contiguous, and
    neighbours of the same state that meet are merged."""
    def whole_event(r: dict[str, Any]) -> bool:
        return r["source"] == "event" and any(
            abs(e.start_s - r["start_s"]) < 1e-6 and abs(e.end_s - r["end_s"]) < 1e-6 for e in events)

    out: list[dict[str, Any]] = []
    for k, r in enumerate(rows):
        nxt = rows[k + 1] if k + 1 < len(rows) else None
        prev = out[-1] if out else None
        if r["end_s"] - r["start_s"] < min_s and (prev or nxt) and not whole_event(r):
            near = [n for n in (prev, nxt) if n is not None]
            to = max(near, key=lambda n: (n["source"] != "event", n["label"] == r["label"], n is prev))
            if to is prev:
                to["end_s"] = r["end_s"]
            else:
                to["start_s"] = r["start_s"]
            continue
        if prev and prev["label"] == r["label"] and prev["source"] == r["source"]:
            prev["end_s"] = r["end_s"]
            continue
        out.append(r)
    return out


FLICKER_S = 1.0  # between events, a state the log shows for less than this is flicker, not a change


def emotion_changes(log: list[dict[str, Any]]) -> int:
    """Changes of state along the emotion-change ``log`` (:func:`change_log` rows) as a viewer would
    count them: spans without a face and ``uncertain`` spans are skipped (an abstention is no
    state), consecutive spans of one state are one, and a state shown between events for less than
    FLICKER_S in all is flicker (a reading that flickers), except the state the video starts in.
    On the development part of benchmarks/recall.py the count's total absolute difference from the
    viewer's was 30 over 15 clips without that exception, 25 with it."""
    runs: list[list[Any]] = []  # [state, seconds shown, shown by an event]
    for r in log:
        if r["label"] in (NO_FACE, UNCERTAIN):
            continue
        shown, event = r["end_s"] - r["start_s"], r["source"] == "event"
        if runs and runs[-1][0] == r["label"]:
            runs[-1][1] += shown
            runs[-1][2] = runs[-1][2] or event
        else:
            runs.append([r["label"], shown, event])
    seen: list[str] = []
    for k, (state, shown, event) in enumerate(runs):
        if k > 0 and not event and shown < FLICKER_S - 1e-6:
            continue
        if not seen or seen[-1] != state:
            seen.append(state)
    return max(len(seen) - 1, 0)


def expression_counts(events: Sequence[Any]) -> tuple[int, int]:
    """(micro, macro) expressions as a viewer would count them among ``events`` (anything with
    ``kind``, ``label``, ``start_s``, ``apex_s``, ``end_s``; the report's or the live page's): an
    ``uncertain`` event is an abstention, not an expression one can name, and is not counted; a micro
    event of the same label as an earlier one that ended less than FLICKER_S before it is that
    expression again (flicker). (A movement at the build-up or release of an expression the prior
    reads is already part of it: :func:`microlens.spot.priorspot.merge`.)"""
    sure = [e for e in events if e.label != UNCERTAIN]
    micro, ended = 0, dict[str, float]()  # label -> end of its latest micro event
    for e in sorted((e for e in sure if e.kind == "micro"), key=lambda e: e.start_s):
        last = ended.get(e.label)
        ended[e.label] = e.end_s
        if last is None or e.start_s - last >= FLICKER_S:
            micro += 1
    return micro, sum(1 for e in sure if e.kind != "micro")


def stats(report: Report) -> dict[str, Any]:
    """Counts over the whole video.

    * ``emotion_changes``: changes of state along the emotion-change log as a viewer counts them
      (:func:`emotion_changes`: neutral -> happiness -> neutral is 2 changes; a happiness event
      followed by a face the prior still reads as happiness is none; ``uncertain`` and flicker are none);
    * ``micro_count`` / ``macro_count``: micro- and macro-expressions as a viewer counts them
      (:func:`expression_counts`: labelled events only, a micro event repeating the one just
      before is not another expression);
    * ``micro_ratio_percent``: micro_count / (micro_count + macro_count) * 100 (0 without any);
    * ``micro_events`` / ``macro_events``: every spotted event of each kind, uncertain ones too;
    * ``uncertain_count``: events no recogniser was confident about (label ``uncertain``), also
      counted in ``micro_events`` / ``macro_events`` and listed under ``per_label``;
    * ``talking_count``: events spotted while the person talked (``Event.talking``);
    * ``talking_seconds``: seconds in which the person talks (``Report.talking``);
    * ``per_recognizer``: events labelled by each recogniser;
    * ``per_label``: for every label of the model (and any other label seen), the micro and macro
      counts, their total and the summed event duration in seconds;
    * ``appearance_seconds``: seconds with the face visible, per label the expression prior read.
    """
    changes = emotion_changes(change_log(report))
    micro, macro = expression_counts(report.events)
    micro_events = sum(1 for e in report.events if e.kind == "micro")
    per: dict[str, dict[str, Any]] = {}
    for lab in list(report.model.labels) + [e.label for e in report.events]:
        per.setdefault(lab, {"micro": 0, "macro": 0, "total": 0, "duration_s": 0.0})
    for e in report.events:
        p = per[e.label]
        p["micro" if e.kind == "micro" else "macro"] += 1
        p["total"] += 1
        p["duration_s"] = _r(p["duration_s"] + e.duration_s)
    by_rec: dict[str, int] = {}
    for e in report.events:
        by_rec[e.recognizer] = by_rec.get(e.recognizer, 0) + 1
    return {"emotion_changes": changes, "micro_count": micro, "macro_count": macro,
            "micro_ratio_percent": _r(100.0 * micro / (micro + macro), 1) if micro + macro else 0.0,
            "micro_events": micro_events, "macro_events": len(report.events) - micro_events,
            "events": len(report.events),
            "uncertain_count": sum(1 for e in report.events if e.label == UNCERTAIN),
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


def output_labels(report: Report) -> tuple[str, ...]:
    """Every label the report's analysis can give a probability for (``ModelInfo.outputs``: the same
    for every video analysed with one model and macro recogniser), then any other label an event
    has a probability for (reports built without ``outputs``)."""
    seen = [*report.model.outputs, *report.model.labels, *(k for e in report.events for k in e.probs)]
    return tuple(dict.fromkeys(seen))
