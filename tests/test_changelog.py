"""The emotion-change log lists no rows of 0.0 s: neither the report's (results page) nor the live
session's (webcam page)."""

from __future__ import annotations

import pytest
from test_report import _probs, make_report

from microlens.recognize.event import Event
from microlens.report.types import FaceSummary, Reading, Report
from microlens.report.views import NEUTRAL, NO_FACE


def _report(events: tuple[Event, ...], readings: tuple[Reading, ...], spans: tuple[tuple[float, float], ...],
            duration: float, fps: float) -> Report:
    base = make_report(events=events)
    face = FaceSummary(frames_with_face=int(fps * duration), coverage=1.0, max_faces=1, chosen="largest of 1",
                       spans=spans)
    return Report(**{**base.__dict__, "appearance": readings, "face": face, "duration_s": duration,
                     "fps": fps, "frames": int(round(duration * fps))})


def _check(log: list[dict], duration: float) -> None:
    assert all(row["duration_s"] >= 0.05 for row in log), [r for r in log if r["duration_s"] < 0.05]
    for a, b in zip(log[:-1], log[1:], strict=True):
        assert a["end_s"] == b["start_s"] and (a["label"], a["source"]) != (b["label"], b["source"])
    assert log[0]["start_s"] == 0.0 and log[-1]["end_s"] == pytest.approx(duration, abs=1e-3)


def test_report_log_folds_one_frame_spans() -> None:
    """As measured on a real 24 fps clip: an event starting one frame after a second's cut (1.0417)
    left a 0.042 s row of the prior's reading; a face span ending one frame after an event left a
    0.033 s row (30 fps). Both are folded into a neighbour that is not an event; events keep their
    bounds."""
    smile = Event(1.0417, 2.0, 4.125, "macro", "happiness", 0.8, _probs("happiness", 0.8), score=9.0)
    readings = tuple(Reading(k, lab, 0.9) for k, lab in enumerate(
        ["neutral", "happiness", "happiness", "happiness", "happiness", "neutral", "neutral"]))
    r = _report((smile,), readings, ((0.0, 7.0),), 7.0, 24.0)
    log = r.log()
    _check(log, 7.0)
    assert [(row["label"], row["source"]) for row in log] == [
        (NEUTRAL, "appearance"), ("happiness", "event"), ("happiness", "appearance"), (NEUTRAL, "appearance")]
    assert (log[1]["start_s"], log[1]["end_s"]) == (1.042, 4.125)  # the event's own bounds
    assert log[0]["end_s"] == 1.042  # the neutral second runs on to the event

    tail = Event(0.4333, 1.0, 2.3667, "macro", "happiness", 0.8, _probs("happiness", 0.8), score=9.0)
    r = _report((tail,), (Reading(0, "neutral", 0.9), Reading(1, "happiness", 0.9),
                          Reading(2, "happiness", 0.9)), ((0.0, 2.4),), 6.4, 30.0)
    log = r.log()
    _check(log, 6.4)
    assert [(row["label"], row["source"]) for row in log] == [
        (NEUTRAL, "appearance"), ("happiness", "event"), (NO_FACE, NO_FACE)]
    assert log[1]["end_s"] == 2.367 and log[2]["start_s"] == 2.367


def test_report_log_keeps_a_short_whole_event() -> None:
    """A whole event is listed however short (a 0.04 s micro-expression spotted with a lowered
    min_duration_s); only leftovers of cuts are folded."""
    blink = Event(2.0, 2.02, 2.04, "micro", "surprise", 0.7, _probs("surprise", 0.7), score=9.0)
    r = _report((blink,), (), ((0.0, 5.0),), 5.0, 50.0)
    log = r.log()
    assert [(row["label"], row["duration_s"]) for row in log] == [
        (NEUTRAL, 2.0), ("surprise", 0.04), (NEUTRAL, 2.96)]


def test_live_log_lists_no_zero_length_rows() -> None:
    from microlens.live.analyzer import _StateLog

    log = _StateLog()
    # status ticks: (stream time, state); at 2.0 the stream stalls and the state flickers
    for t, state in [(0.0, "warming up"), (0.4, "neutral"), (0.8, "neutral"), (1.2, "happiness"),
                     (1.6, "happiness"), (2.0, "neutral"), (2.0, "surprise"), (2.0, "neutral"),
                     (2.4, "neutral"), (2.8, "sadness")]:
        log.add(state, t, "event" if state == "happiness" else "appearance")
        listed = log.listed(50)
        assert all(e["duration_s"] >= 0.05 for e in listed), (t, state, listed)
        for a, b in zip(listed[:-1], listed[1:], strict=True):
            assert a["end_s"] == b["start_s"] and a["label"] != b["label"]
    assert [(e["label"], e["start_s"], e["end_s"]) for e in log.listed(50)] == [
        ("warming up", 0.0, 0.4), ("neutral", 0.4, 1.2), ("happiness", 1.2, 2.0), ("neutral", 2.0, 2.8)]
    assert log.entries[-1]["label"] == "sadness"  # just opened: listed once it has lasted
    # neutral (the first state) > happiness (an event); neutral for 0.8 s between events is flicker,
    # and so is sadness until the reading has lasted a second (views.emotion_changes, issue 20)
    assert log.changes() == 1
    log.add("sadness", 3.9, "appearance")
    assert log.changes() == 2 and "_source" not in log.listed(50)[-1]
