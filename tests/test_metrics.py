"""MEGC scores on hand-computed cases, the metrics JSON shape, the confusion plot."""

from __future__ import annotations

import numpy as np
import pytest

from microlens.science.metrics import accuracy, confusion, plot_confusion, report, uar, uf1


def test_scores_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, 1, 1, 2, 2])
    assert confusion(y, p, 3).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert accuracy(y, p) == pytest.approx(4 / 6)
    # F1: class0 2*2/(4+0+1)=0.8, class1 2/(2+1+1)=0.5, class2 2/(2+1+0)=2/3
    assert uf1(y, p, 3) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert uar(y, p, 3) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # a class absent from the truth does not count
    assert uar(np.array([0, 0]), np.array([0, 1]), 3) == pytest.approx(0.5)


def test_report_schema(tmp_path):
    y = np.array([0, 1, 1, 0])
    probs = {s: np.eye(2, dtype=np.float32)[[0, 1, 0, 0]] for s in ("ensemble", "apex", "flow")}
    m = report(y, probs, ("a", "b"), ["d1", "d1", "d2", "d2"], skipped=3)
    for key in ("accuracy", "uf1", "uar", "n", "skipped", "labels", "confusion", "per_dataset", "streams"):
        assert key in m
    assert m["skipped"] == 3 and m["n"] == 4 and m["labels"] == ["a", "b"]
    assert set(m["per_dataset"]) == {"d1", "d2"} and m["per_dataset"]["d1"]["accuracy"] == 1.0
    assert set(m["streams"]) == {"apex", "flow"}
    for s in m["streams"].values():
        assert {"accuracy", "uf1", "uar", "n", "confusion", "per_dataset"} <= set(s)
    png = plot_confusion(m["confusion"], m["labels"], tmp_path / "c.png", "t")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_margin_interval_is_a_paired_subject_bootstrap():
    from microlens.science.metrics import margin_interval

    rng = np.random.default_rng(0)
    y = np.tile([0, 1, 2], 40)  # (120,) 3 classes
    groups = np.repeat(np.arange(20), 6)  # 20 subjects of 6 samples
    good = np.where(rng.random((3, 120)) < 0.9, y, (y + 1) % 3)  # 3 runs, about 90 % right
    poor = np.where(rng.random((3, 120)) < 0.6, y, (y + 1) % 3)  # about 60 % right
    clear = margin_interval(y, good, poor, groups, 3, resamples=300)
    assert 0.2 < clear["margin"] < 0.4 and clear["low"] > 0.1 and clear["p_below_zero"] == 0.0
    assert clear["low"] <= clear["margin"] <= clear["high"]
    alike = np.where(rng.random((3, 120)) < 0.9, y, (y + 1) % 3)  # as good, other errors
    tie = margin_interval(y, good, alike, groups, 3, resamples=300)
    assert abs(tie["margin"]) < 0.06 and tie["low"] < tie["margin"] < tie["high"]
    assert tie["p_below_zero"] > 0.0 and tie["low"] < clear["low"]  # no clear winner
    assert margin_interval(y, good, good, groups, 3, resamples=50)["margin"] == 0.0
    with pytest.raises(ValueError, match="runs"):
        margin_interval(y, good, poor[:2], groups, 3)


def test_uf1_interval_brackets_the_score_and_narrows_with_more_subjects():
    from microlens.science.metrics import uf1_interval

    rng = np.random.default_rng(1)

    def run(subjects: int) -> dict:
        y = np.tile([0, 1, 2], 2 * subjects)  # 6 samples per subject
        pred = np.where(rng.random(len(y)) < 0.8, y, (y + 1) % 3)
        return uf1_interval(y, pred, np.repeat(np.arange(subjects), 6), 3, resamples=400)

    few, many = run(10), run(80)
    for r in (few, many):
        assert r["low"] < r["uf1"] < r["high"] and 0.6 < r["uf1"] < 0.95
    assert many["high"] - many["low"] < few["high"] - few["low"]
