"""The real-video recall benchmark's scoring (benchmarks/recall.py) on hand-made events and spans,
and the expression prior's intervals (microlens.spot.priorspot)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from microlens.spot.intervals import Interval
from microlens.spot.priorspot import cue_intervals, cue_runs, merge

REPO = Path(__file__).resolve().parents[1]


def _load():
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("microlens_recall_bench", REPO / "benchmarks" / "recall.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


recall = _load()
SPANS = ((0.0, 1.0, "none"), (1.0, 3.0, "happiness"), (3.0, 4.0, "none"), (5.0, 6.0, "anger"),
         (6.0, 8.0, "none"))


def _event(a, b, label, apex=None, score=1.0):
    return {"start_s": a, "end_s": b, "apex_s": (a + b) / 2 if apex is None else apex, "label": label,
            "score": score}


def test_spans_found_missed_and_named_by_the_longest_overlap():
    events = [_event(0.8, 1.2, "sadness"), _event(1.5, 2.9, "happiness")]
    s = recall.score_spans(events, SPANS, recall.covered_labels(["happiness", "repression"]))
    assert (s["spans"], s["found"], s["covered"], s["covered_right"], s["covered_missed"]) == (2, 1, 1, 1, 0)
    assert [x["verdict"] for x in s["span_list"]] == ["right", "missed"]  # anger: not covered, missed


def test_labelled_events_where_the_viewer_sees_none_and_unlabelled_time():
    events = [_event(0.2, 0.6, "happiness"), _event(3.2, 3.6, "uncertain"), _event(4.2, 4.6, "surprise"),
              _event(2.5, 3.5, "happiness", apex=3.2)]
    e = recall.score_events(events, SPANS)
    # the last one's apex is in a none span but it overlaps the smile: not counted as a false alarm
    assert (e["labelled"], e["labelled_where_none"], e["uncertain_where_none"],
            e["labelled_unlabelled_time"]) == (3, 1, 1, 1)


def test_seconds_agree_with_the_log_and_changes_count():
    log = [{"start_s": 0.0, "end_s": 1.0, "label": "neutral"},
           {"start_s": 1.0, "end_s": 3.0, "label": "happiness"},
           {"start_s": 3.0, "end_s": 8.0, "label": "uncertain"}]
    s = recall.score_seconds(log, SPANS, 8.0)
    # second 4 is unlabelled; 5 is anger (uncertain in the log), 6 and 7 none (uncertain)
    assert (s["seconds"], s["agree"], s["uncertain"], s["different"]) == (7, 3, 4, 0)
    assert recall.viewer_changes(SPANS) == 4
    assert recall.fill_none(((1.0, 2.0, "sadness"),), 3.0) == ((0.0, 1.0, "none"), (1.0, 2.0, "sadness"),
                                                                (2.0, 3.0, "none"))


def test_test_part_is_declared_and_large_enough_to_name():
    assert set(recall.TEST) <= {c.name for c in recall.CLIPS if c.spans is not None}


def test_time_without_a_face_is_not_scored():
    spans = recall.fill_none(((0.6, 2.3, "happiness"),), 6.4)
    assert recall.without(spans, ((2.4, 6.4),)) == ((0.0, 0.6, "none"), (0.6, 2.3, "happiness"),
                                                    (2.3, 2.4, "none"))
    assert recall.without(spans, ((0.0, 1.0),))[:2] == ((1.0, 2.3, "happiness"), (2.3, 6.4, "none"))


def test_prior_runs_need_a_clear_reading_and_last_while_likely():
    p = np.array([0.1, 0.6, 0.9, 0.95, 0.7, 0.3, 0.85, 0.4])
    assert cue_runs(np.arange(8) * 0.1, p, 0.8, 0.5, 2) == [(1, 3, 4)]  # the lone 0.85 starts none


def test_prior_interval_at_the_clip_start_and_merge_with_motion():
    times = np.arange(30) / 10.0  # 3 s at 10 fps, every frame read
    cues = np.full((30, 1), 0.1)
    cues[:12, 0] = 0.95  # an expression already on the face in the first frame
    ivs = cue_intervals(times, cues, 0, 0.8, 0.5, 2, np.zeros(30, bool))
    assert len(ivs) == 1 and ivs[0].onset == 0 and ivs[0].offset == 11 and ivs[0].apex > 0
    assert ivs[0].kind == "macro"
    motion = [Interval(5, 6, 8, 0.5, 0.6, 0.8, "micro", 9.0),
              Interval(20, 22, 24, 2.0, 2.2, 2.4, "micro", 7.0)]
    out = merge(ivs, motion, np.zeros(30))
    assert [(iv.onset, iv.score) for iv in out] == [(0, 9.0), (20, 7.0)]


def test_a_movement_inside_a_held_expression_is_its_own():
    """A motion interval at a prior interval's build-up or release is part of that expression; one
    well inside it (a brief movement on a face that smiles throughout) is an expression of its own."""
    times = np.arange(100) / 10.0  # 10 s at 10 fps
    cues = np.full((100, 1), 0.95)  # read as happiness from start to end
    held = cue_intervals(times, cues, 0, 0.8, 0.5, 2, np.zeros(100, bool))
    inner = Interval(40, 42, 44, 4.0, 4.2, 4.4, "micro", 9.0)
    build_up = Interval(0, 2, 3, 0.0, 0.2, 0.3, "micro", 9.0)
    out = merge(held, [build_up, inner], np.zeros(100))
    assert [(iv.kind, iv.onset) for iv in out] == [("macro", 0), ("micro", 40)]


def test_a_held_expression_that_dips_for_one_reading_is_one_run() -> None:
    """``prior_dip``: a class read as held, under ``prior_low`` for one reading, then held again, is
    one run (one expression); two readings under it end the run."""
    t = np.arange(8) * 0.1
    one_dip = np.array([0.9, 0.95, 0.9, 0.4, 0.9, 0.99, 0.9, 0.1])
    assert cue_runs(t, one_dip, 0.8, 0.5, 2, dip=0) == [(0, 1, 2), (4, 5, 6)]
    assert cue_runs(t, one_dip, 0.8, 0.5, 2, dip=1) == [(0, 5, 6)]
    two_dips = np.array([0.9, 0.95, 0.4, 0.3, 0.9, 0.99, 0.9, 0.1])
    assert cue_runs(t, two_dips, 0.8, 0.5, 2, dip=1) == [(0, 1, 1), (4, 5, 6)]
    weak_after = np.array([0.9, 0.95, 0.4, 0.6, 0.7, 0.6, 0.2, 0.1])  # never strong again: not joined
    assert cue_runs(t, weak_after, 0.8, 0.5, 2, dip=1) == [(0, 1, 1)]
