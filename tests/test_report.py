"""Report schema, derived views (timeline, stats, log) and every registered writer."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest

from microlens.labels import emoji
from microlens.recognize.event import Event
from microlens.report.types import SCHEMA_VERSION, FaceSummary, Filmstrip, Images, ModelInfo, Reading, Report
from microlens.report.views import NEUTRAL, NO_FACE
from microlens.report.writers import WRITERS, save

LABELS = ("happiness", "surprise", "disgust", "repression", "sadness")
EVIL = 'clip <script>alert("x")</script> & "q".mp4'


def _probs(label: str, conf: float) -> dict[str, float]:
    rest = (1 - conf) / (len(LABELS) - 1)
    return {lab: (conf if lab == label else rest) for lab in LABELS}


def _img(v: int, size: int = 48) -> np.ndarray:
    return np.full((size, size, 3), v, np.uint8)


def make_report(events: tuple[Event, ...] | None = None, source: str = EVIL) -> Report:
    if events is None:
        events = (
            Event(1.2, 1.3, 1.5, "micro", "happiness", 0.7, _probs("happiness", 0.7), score=9.0,
                  onset_frame=36, apex_frame=39, offset_frame=45),
            Event(3.0, 4.0, 5.5, "macro", "surprise", 0.6, _probs("surprise", 0.6), score=12.0),
            Event(5.2, 5.3, 5.4, "micro", "disgust", 0.5, _probs("disgust", 0.5), score=8.0),
        )
    strips = tuple(Filmstrip(i, _img(10), _img(20), _img(30)) for i, e in enumerate(events)
                   if e.kind == "micro")
    return Report(
        source=source, duration_s=8.5, fps=30.0, frames=255, events=events,
        warnings=("a <b>warning</b>",),
        face=FaceSummary(frames_with_face=210, coverage=210 / 255, max_faces=2, chosen="largest of 2",
                         spans=((0.0, 7.0),)),
        model=ModelInfo("casme2", LABELS),
        images=Images(representative=_img(128, 96), representative_s=1.3, representative_kind="micro apex",
                      representative_event=0, filmstrips=strips),
        width=640, height=480, codec="h264", nominal_fps=30.0, timings_s={"face": 1.5})


def test_to_dict_schema_is_json() -> None:
    d = make_report().to_dict()
    assert json.loads(json.dumps(d)) == d  # pure JSON types only
    assert d["schema_version"] == SCHEMA_VERSION == 7
    for key in ("source", "duration_s", "fps", "frames", "face", "model", "events", "timeline", "stats",
                "log", "warnings", "signals", "review"):
        assert key in d
    assert d["source"] == EVIL and d["frames"] == 255 and d["fps"] == 30.0
    assert d["face"]["frames_with_face"] == 210
    assert d["face"]["coverage"] == pytest.approx(210 / 255, abs=1e-4)
    assert d["face"]["chosen"] == "largest of 2" and d["face"]["spans"] == [[0.0, 7.0]]
    assert d["signals"] is None and d["review"] is None and d["events"][0]["review"] is None
    assert d["model"] == {"name": "casme2", "labels": list(LABELS), "macro_recognizer": "", "abstain": True,
                          "appearance_recognizer": "", "talking_abstain": True, "outputs": list(LABELS),
                          "checkpoint": "", "checkpoint_sha256": "", "backend": ""}
    assert d["microlens_version"] == "" and d["created_utc"] == "" and d["settings"] == {}
    ev = d["events"][0]
    for key in ("start_s", "apex_s", "end_s", "kind", "label", "confidence", "probs"):
        assert key in ev
    assert ev["kind"] == "micro" and ev["label"] == "happiness" and set(ev["probs"]) == set(LABELS)
    assert sum(ev["probs"].values()) == pytest.approx(1.0, abs=1e-3)
    assert set(d["stats"]) >= {"emotion_changes", "micro_count", "macro_count", "micro_ratio_percent",
                               "per_label"}
    for row in d["log"]:
        assert set(row) >= {"label", "emoji", "start_s", "end_s", "duration_s"}
    assert d["representative"] == {"time_s": 1.3, "kind": "micro apex", "event": 0}


def test_timeline_states() -> None:
    tl = make_report().timeline()
    assert [r["second"] for r in tl] == list(range(9))  # 8.5 s -> seconds 0..8
    states = [r["state"] for r in tl]
    # 0 neutral; 1 happiness (micro 1.2-1.5); 2 neutral; 3-4 surprise; 5 surprise (score 12 beats the
    # disgust micro at 5.2-5.4, score 8); 6 neutral (face until 7.0); 7-8 no face
    assert states == [NEUTRAL, "happiness", NEUTRAL, "surprise", "surprise", "surprise", NEUTRAL, NO_FACE,
                      NO_FACE]
    assert [r["micro_count"] for r in tl] == [0, 1, 0, 0, 0, 1, 0, 0, 0]
    assert tl[6]["face"] == 1.0 and tl[7]["face"] == 0.0


def test_log_and_stats() -> None:
    r = make_report()
    log = r.log()
    labels = [row["label"] for row in log]
    # the disgust micro lies inside the stronger surprise macro: surprise wins there
    assert labels == [NEUTRAL, "happiness", NEUTRAL, "surprise", NEUTRAL, NO_FACE]
    assert log[0]["start_s"] == 0.0 and log[-1]["end_s"] == 8.5
    assert sum(row["duration_s"] for row in log) == pytest.approx(8.5, abs=1e-3)
    assert log[1] == {"label": "happiness", "emoji": emoji("happiness"), "kind": "micro", "source": "event",
                      "start_s": 1.2, "end_s": 1.5, "duration_s": 0.3}
    for a, b in zip(log[:-1], log[1:], strict=True):
        assert a["end_s"] == b["start_s"] and a["label"] != b["label"]
    st = r.stats()
    assert st["micro_count"] == 2 and st["macro_count"] == 1
    assert st["micro_ratio_percent"] == pytest.approx(100 * 2 / 3, abs=0.05)
    assert st["micro_events"] == 2 and st["macro_events"] == 1 and st["events"] == 3
    assert st["emotion_changes"] == 4  # neutral>happiness>neutral>surprise>neutral
    assert st["per_label"]["disgust"] == {"micro": 1, "macro": 0, "total": 1, "duration_s": 0.2}
    assert st["per_label"]["sadness"]["total"] == 0  # every model label is listed


def test_state_between_events_is_what_the_prior_reads() -> None:
    """Schema 3: between events the timeline and the log show the expression prior's per-second
    reading of the face (a smile held after its event stays happiness, not neutral); seconds it did
    not read stay neutral (source "face"); events keep precedence; no face stays no_face."""
    base = make_report()
    readings = (Reading(0, "neutral", 0.9), Reading(1, "happiness", 0.8), Reading(2, "happiness", 0.95),
                Reading(3, "surprise", 0.7), Reading(6, "sadness", 0.6), Reading(7, "uncertain", 0.4))
    r = Report(**{**base.__dict__, "appearance": readings})
    tl = r.timeline()
    assert [(row["state"], row["source"]) for row in tl] == [
        (NEUTRAL, "appearance"), ("happiness", "event"), ("happiness", "appearance"), ("surprise", "event"),
        ("surprise", "event"), ("surprise", "event"), ("sadness", "appearance"), (NO_FACE, NO_FACE),
        (NO_FACE, NO_FACE)]
    assert tl[1]["appearance"] == "happiness" and tl[1]["appearance_confidence"] == 0.8
    assert tl[4]["appearance"] is None and tl[7]["appearance"] == "uncertain"
    log = r.log()
    assert [(row["label"], row["source"]) for row in log] == [
        (NEUTRAL, "appearance"), ("happiness", "appearance"), ("happiness", "event"),
        ("happiness", "appearance"), ("surprise", "event"), (NEUTRAL, "face"), ("sadness", "appearance"),
        (NO_FACE, NO_FACE)]
    assert (log[1]["start_s"], log[1]["end_s"]) == (1.0, 1.2) and log[3]["end_s"] == 3.0
    assert sum(row["duration_s"] for row in log) == pytest.approx(8.5, abs=1e-3)
    st = r.stats()
    # neutral > happiness (read, event, read) > surprise > sadness: the neutral face between them
    # (5.5-6 s, not read) is shown for under a second, flicker rather than a change (issue 20)
    assert st["emotion_changes"] == 3
    assert st["appearance_seconds"] == {"neutral": 1, "happiness": 2, "surprise": 1, "sadness": 1}
    assert st["micro_count"] == base.stats()["micro_count"]  # events are counted as before


def test_no_events() -> None:
    r = make_report(events=())
    d = r.to_dict()
    assert d["events"] == [] and d["stats"]["micro_ratio_percent"] == 0.0
    assert d["stats"]["emotion_changes"] == 0
    assert {row["state"] for row in d["timeline"]} == {NEUTRAL, NO_FACE}
    assert [row["label"] for row in d["log"]] == [NEUTRAL, NO_FACE]


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("with_events", [True, False])
def test_writer(fmt: str, with_events: bool) -> None:
    r = make_report() if with_events else make_report(events=())
    text = WRITERS[fmt](r)
    assert isinstance(text, str) and text
    n = len(r.events)
    if fmt == "json":
        assert json.loads(text) == r.to_dict()
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == n
        if n:
            assert rows[0]["label"] == "happiness" and float(rows[0]["p_happiness"]) == pytest.approx(0.7)
            assert rows[1]["kind"] == "macro" and float(rows[1]["duration_s"]) == pytest.approx(2.5)
    elif fmt == "timeline":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [int(row["second"]) for row in rows] == list(range(9))
        assert [row["state"] for row in rows] == [row["state"] for row in r.timeline()]
        assert rows[1]["source"] == ("event" if n else "face") and rows[8]["source"] == NO_FACE
        assert rows[0]["appearance"] == "" and float(rows[0]["face"]) == 1.0  # nothing read: empty cell
    elif fmt == "vtt":
        assert text.startswith("WEBVTT\n")
        cues = re.findall(r"^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})$", text, re.M)
        assert len(cues) == n
        if n:
            assert cues[0] == ("00:00:01.200", "00:00:01.500") and "happiness" in text
    elif fmt == "html":
        assert text.startswith("<!DOCTYPE html>")
        assert "<script" not in text and "<link" not in text  # no script, no external stylesheet
        assert not re.search(r'(src|href)="(?!data:)', text)  # every image inline
        assert "&lt;script&gt;" in text and "a &lt;b&gt;warning&lt;/b&gt;" in text  # escaped
        assert "<svg" in text and "Emotion-change log" in text
        assert text.count("data:image/jpeg;base64,") == 1 + 3 * len(r.images.filmstrips)
        assert "Micro ratio" in text


def test_save_is_atomic(tmp_path) -> None:
    r = make_report()
    target = tmp_path / "r.json"
    save(r, target, "json")
    assert json.loads(target.read_text(encoding="utf-8"))["frames"] == 255

    bad = make_report(events=(Event(1.0, 1.1, 1.2, "micro", "not-a-model-label", 0.9, {}),))
    target2 = tmp_path / "bad.csv"
    save(bad, target2, "csv")  # unknown labels are still written
    assert "not-a-model-label" in target2.read_text(encoding="utf-8")

    class Boom(Report):
        def to_dict(self) -> dict:
            raise RuntimeError("boom")

    broken = Boom(**{f: getattr(r, f) for f in r.__dataclass_fields__})
    with pytest.raises(RuntimeError):
        save(broken, tmp_path / "x.json", "json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "r.json"]  # no partial file


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_saved_files_honour_the_umask(tmp_path, umask: int, mode: int) -> None:
    """A report gets the mode any new file gets (0666 less the umask), not mkstemp's 0600 (issue 19)."""
    import os
    import stat

    old = os.umask(umask)
    try:
        save(make_report(), tmp_path / "r.json", "json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == mode


def test_events_while_talking_are_counted_and_written() -> None:
    """An event's talking flag reaches the JSON, the CSV, the statistics and the HTML page."""
    from microlens.report.page import render
    from microlens.report.writers import to_csv, to_vtt

    talking = Event(2.0, 2.1, 2.3, "micro", "uncertain", 0.8, _probs("disgust", 0.8), score=7.0, talking=True,
                    reason="talking")
    rep = make_report(events=(*make_report().events, talking))
    d = rep.to_dict()
    assert [e["talking"] for e in d["events"]] == [False, False, False, True]
    assert d["stats"]["talking_count"] == 1 and d["stats"]["uncertain_count"] == 1
    rows = list(csv.DictReader(io.StringIO(to_csv(rep))))
    assert [r["talking"] for r in rows] == ["0", "0", "0", "1"]
    assert [e["uncertain_reason"] for e in d["events"]] == [None, None, None, "talking"]
    assert [r["uncertain_reason"] for r in rows] == ["", "", "", "talking"]
    page = render(rep)
    assert "Events while talking" in page and "(talking)" in page
    assert to_vtt(rep).count(" · talking") == 1
    low = Event(3.0, 3.1, 3.3, "micro", "uncertain", 0.4, _probs("disgust", 0.4), reason="low_confidence")
    assert "uncertain (low confidence) · micro · 40%" in to_vtt(make_report(events=(low,)))


def test_talking_spans_reach_the_json_timeline_and_statistics() -> None:
    from dataclasses import replace

    from microlens.report.page import render
    from microlens.report.writers import to_timeline_csv

    rep = replace(make_report(), talking=((1.5, 2.25), (6.0, 7.0)))
    d = rep.to_dict()
    assert d["talking"] == [[1.5, 2.25], [6.0, 7.0]]
    assert [r["talking"] for r in d["timeline"]][:8] == [0.0, 0.5, 0.25, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert d["stats"]["talking_seconds"] == 1.75
    rows = list(csv.DictReader(io.StringIO(to_timeline_csv(rep))))
    assert rows[1]["talking"] == "0.5"
    assert "talking 1.50-2.25 s" in render(rep)
    assert make_report().to_dict()["talking"] == []


def test_uncertain_reason_is_a_known_code_on_an_uncertain_event() -> None:
    from microlens.labels import UNCERTAIN, UNCERTAIN_REASONS

    for why in UNCERTAIN_REASONS:
        ev = Event(1.0, 1.1, 1.2, "micro", UNCERTAIN, 0.3, _probs("happiness", 0.3), reason=why)
        assert ev.reason == why
    with pytest.raises(ValueError, match="reason"):
        Event(1.0, 1.1, 1.2, "micro", UNCERTAIN, 0.3, _probs("happiness", 0.3), reason="gut feeling")
    with pytest.raises(ValueError, match="reason"):
        Event(1.0, 1.1, 1.2, "micro", "happiness", 0.9, _probs("happiness", 0.9), reason="low_confidence")


def test_schema_doc_names_the_current_version_and_every_reason() -> None:
    from pathlib import Path

    from microlens.labels import UNCERTAIN_REASONS
    from microlens.report.types import SCHEMA_VERSION

    usage = (Path(__file__).resolve().parents[1] / "docs" / "usage.md").read_text()
    assert f"| `schema_version` | {SCHEMA_VERSION} (" in usage
    row = next(line for line in usage.splitlines() if line.startswith("| `events[]` |"))
    assert all(f"`{why}`" in row for why in UNCERTAIN_REASONS)


def test_emotion_changes_skip_abstention_and_flicker() -> None:
    """Issue 20: an ``uncertain`` span is no state and a state shown between events for under a
    second is flicker; events count however short."""
    from microlens.report.views import emotion_changes

    def row(label: str, a: float, b: float, source: str = "appearance") -> dict:
        return {"label": label, "source": source, "start_s": a, "end_s": b}

    log = [row(NEUTRAL, 0, 2), row("uncertain", 2, 3), row(NEUTRAL, 3, 4), row("sadness", 4, 4.5),
           row(NEUTRAL, 4.5, 6), row("happiness", 6, 6.3, "event"), row(NEUTRAL, 6.3, 8), row(NO_FACE, 8, 9),
           row(NEUTRAL, 9, 10)]
    assert emotion_changes(log) == 2  # neutral > happiness > neutral
    assert emotion_changes([]) == 0


def test_micro_count_skips_abstention_and_flicker() -> None:
    """Issue 20: the micro and macro counts are what a viewer would count: an uncertain event is no
    expression one can name; a micro event repeating the label of one that ended less than a second
    before is that expression again."""
    def ev(a: float, b: float, kind: str, label: str) -> Event:
        return Event(a, (a + b) / 2, b, kind, label, 0.8, _probs("happiness", 0.8))

    events = (ev(0.5, 0.8, "micro", "happiness"), ev(1.2, 1.4, "micro", "happiness"),  # flicker
              ev(3.0, 3.3, "micro", "uncertain"), ev(4.0, 4.3, "micro", "disgust"),
              ev(5.0, 5.3, "micro", "happiness"), ev(6.0, 7.0, "macro", "surprise"),
              ev(6.4, 6.6, "micro", "disgust"), ev(7.5, 8.2, "macro", "uncertain"))
    st = make_report(events=events).stats()
    assert (st["micro_count"], st["macro_count"], st["micro_ratio_percent"]) == (4, 1, 80.0)
    assert (st["micro_events"], st["macro_events"], st["uncertain_count"]) == (6, 2, 2)


def test_events_csv_lists_the_action_units_read_as_present() -> None:
    from microlens.recognize.aus import ActionUnit
    from microlens.report.writers import to_csv

    units = (ActionUnit("AU12", "lip corner puller", 0.91, True),
             ActionUnit("AU6", "cheek raiser", 0.55, True), ActionUnit("AU4", "brow lowerer", 0.10, False))
    ev = Event(1.0, 1.1, 1.3, "micro", "happiness", 0.8, _probs("happiness", 0.8), aus=units)
    rows = list(csv.DictReader(io.StringIO(to_csv(make_report(events=(ev,))))))
    assert rows[0]["aus"] == "AU12 0.91; AU6 0.55"
    assert list(csv.DictReader(io.StringIO(to_csv(make_report(events=())))).fieldnames or []) == \
        list(csv.DictReader(io.StringIO(to_csv(make_report(events=(ev,))))).fieldnames or [])
