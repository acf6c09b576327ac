"""Action units per event: FACS code parsing, multi-label F1 with subject-resampled intervals, the
LOSO training of the AU detector end to end on a generated dataset, the shipped detector
(weights_only, shape, card), and the AUs of an event in a report of a generated clip."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_analyze import write_micro_clip
from test_cli_analyze import model_name  # noqa: F401 - the shared model fixture
from test_data import make_prepared

from microlens.errors import UsageError
from microlens.recognize.aus import (
    AU_NAMES,
    AU_PATH,
    ActionUnit,
    au_targets,
    aus_text,
    load_aus,
    parse_aus,
    read_au_checkpoint,
)
from microlens.science.metrics import f1_columns, f1_resampled, percentile_interval
from microlens.science.train.aucard import save_au_model
from microlens.science.train.aus import AUOptions, best_thresholds, select_aus, train_aus

# the AUs every CASME II AU with at least 10 samples (issue 23), in numeric order
CASME2_AUS = ["AU1", "AU2", "AU4", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU17"]
# generated samples: emotion -> the FACS code written in the manifest (sides and intensity vary)
CODES = {"happiness": "12", "surprise": "1+L2", "disgust": "4+R10C"}


def test_parse_aus_merges_sides_and_skips_junk() -> None:
    assert parse_aus("4+L10") == {"AU4", "AU10"}
    assert parse_aus("R12+15") == {"AU12", "AU15"}
    assert parse_aus(" 1 + 2 ") == {"AU1", "AU2"} and parse_aus("12C") == {"AU12"}
    assert parse_aus("") == frozenset() and parse_aus("?+x") == frozenset()
    assert au_targets(["4+L10", "", "10"], ("AU4", "AU10")).tolist() == [[1, 1], [0, 0], [0, 1]]
    assert select_aus(("4", "L4", "12", "4+12", "1"), 2) == ("AU4", "AU12")


def test_f1_columns_and_subject_bootstrap() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.random((60, 3)) < 0.3, rng.random((60, 3)) < 0.4
    want = [2 * (y[:, a] & p[:, a]).sum() / (y[:, a].sum() + p[:, a].sum()) for a in range(3)]
    assert f1_columns(y, p) == pytest.approx(want)
    # runs: the mean of each run's F1; a column never positive nor predicted is undefined (NaN)
    assert f1_columns(y, np.stack([p, p])) == pytest.approx(want)
    assert np.isnan(f1_columns(np.zeros((4, 1)), np.zeros((4, 1)))[0])
    groups = np.repeat(np.arange(12), 5)
    draws = f1_resampled(y, p, groups, resamples=300)
    assert draws.shape == (300, 3)
    for a in range(3):
        low, high = percentile_interval(draws[:, a])
        assert low <= want[a] <= high
    # a single subject: every resample is that subject, so no spread
    assert np.allclose(f1_resampled(y, p, np.zeros(60), resamples=5), want)


def test_best_thresholds_from_training_predictions() -> None:
    y = np.array([[1], [1], [0], [0]], np.float32)
    probs = np.array([[0.3], [0.35], [0.1], [0.2]], np.float32)  # positives at 0.3 and up, below 0.5
    # 0.25 and 0.3 both separate them (F1 1); a tie goes to the threshold closest to 0.5
    assert best_thresholds(y, probs)[0] == pytest.approx(0.3)


def make_au_data(root: Path) -> Path:
    """A tiny prepared dataset (3 subjects) whose flow encodes the class, with FACS codes per class."""
    data = make_prepared(root, subjects=3, per_class=4, classes=tuple(CODES))
    rows = list(csv.DictReader((data / "manifest.csv").open()))
    for r in rows:
        r["action_units"] = CODES[r["emotion"]]
    with (data / "manifest.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return data


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    data = make_au_data(tmp_path_factory.mktemp("aus") / "data")
    opts = AUOptions(data=str(data), datasets="syn", min_samples=3, epochs=15, workers=1,
                     threshold="inner")
    return train_aus(opts)


def test_loso_end_to_end_on_generated_data(trained: dict) -> None:
    m = trained["metrics"]
    assert m["aus"] == ["AU1", "AU2", "AU4", "AU10", "AU12"] and m["folds"] == 3 and m["n"] == 36
    for system in ("detector", "prior_rate", "always_positive"):
        s = m[system]
        assert len(s["f1"]) == len(s["interval"]) == 5
        for v, (low, high) in zip(s["f1"], s["interval"], strict=True):
            assert low - 1e-9 <= v <= high + 1e-9
        assert s["mean_interval"][0] - 1e-9 <= s["mean"] <= s["mean_interval"][1] + 1e-9
    assert m["per_au"]["AU10"] == {**m["per_au"]["AU10"], "name": "upper lip raiser", "positives": 12,
                                   "subjects_with": 3}
    # the always-positive F1 is 2P / (P + N) exactly; the class is in the flow, so the detector learns
    assert m["always_positive"]["f1"][0] == pytest.approx(2 * 12 / (12 + 36), abs=1e-4)
    assert m["detector"]["mean"] > m["prior_rate"]["mean"] + 0.3
    assert m["margin_vs_prior_rate"]["interval"][0] > 0
    # each held-out subject was predicted by a fold that never saw it
    pred = trained["predictions"]
    assert pred["probs"].shape == (36, 5) and set(pred["subject"]) == {"syn/s00", "syn/s01", "syn/s02"}


def test_checkpoint_round_trip(trained: dict, tmp_path: Path) -> None:
    ckpt = trained["checkpoint"]
    paths = save_au_model(ckpt, tmp_path)
    assert [p.name for p in paths] == ["aus.pt", "aus.md"]
    raw = torch.load(str(paths[0]), map_location="cpu", weights_only=True)  # plain data only
    assert raw["aus"] == ckpt["aus"] and raw["provenance"]["au_counts"]["AU12"] == 12
    det = load_aus(paths[0])
    probs = det.predict(np.zeros((2, 28, 28, 3), np.uint8) + 128)
    assert probs.shape == (2, 5) and probs.dtype == np.float32 and ((0 <= probs) & (probs <= 1)).all()
    assert "| AU12 | lip corner puller | 12 (3) |" in paths[1].read_text()
    with pytest.raises(UsageError, match=r"\(N, 28, 28, 3\)"):
        det.predict(np.zeros((2, 32, 32, 3), np.uint8))


def test_bad_input_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "x.pt").write_text("not a checkpoint")
    with pytest.raises(UsageError, match="not a microlens AU checkpoint"):
        read_au_checkpoint(tmp_path / "x.pt")
    with pytest.raises(UsageError, match="no such AU model file"):
        read_au_checkpoint(tmp_path / "missing.pt")
    data = make_au_data(tmp_path / "data")
    with pytest.raises(UsageError, match="no action unit is coded on 99"):
        train_aus(AUOptions(data=str(data), datasets="syn", min_samples=99), final=False)


def test_shipped_detector() -> None:
    assert AU_PATH.is_file() and AU_PATH.stat().st_size < 1_000_000
    det = load_aus()  # torch.load(weights_only=True) inside
    assert list(det.aus) == CASME2_AUS and list(det.names) == [AU_NAMES[a] for a in CASME2_AUS]
    m = det.card["metrics"]
    assert m["protocol"] == "loso" and m["subjects"] == 24 and m["n"] == 145
    assert all(m["per_au"][a]["positives"] >= 10 for a in CASME2_AUS)
    assert "AU4 brow lowerer" in det.card["card"] and det.card["provenance"]["datasets"] == ["casme2"]
    rng = np.random.default_rng(0)
    flow = rng.integers(0, 256, (3, 28, 28, 3), dtype=np.uint8)
    units = det.read(flow)
    assert len(units) == 3 and all(len(u) == 11 for u in units)
    assert [x.p for x in units[0]] == sorted((x.p for x in units[0]), reverse=True)
    assert all(x.present == (x.p >= det.thresholds[det.aus.index(x.au)]) for x in units[0])


def test_aus_text() -> None:
    a, b = ActionUnit("AU4", "brow lowerer", 0.81, True), ActionUnit("AU7", "lid tightener", 0.3, False)
    assert aus_text((a, b)) == "AU4 brow lowerer 0.81"
    assert aus_text((b,)) == "none (AU7 lid tightener 0.30)" and aus_text(()) == "-"
    assert a.to_dict() == {"au": "AU4", "name": "brow lowerer", "p": 0.81, "present": True}


def test_events_of_a_generated_clip_carry_aus(tmp_path: Path, model_name: str) -> None:  # noqa: F811
    from microlens.analyze import analyze
    from microlens.report.writers import to_html

    report = analyze(str(write_micro_clip(tmp_path / "smile.mp4")), model=model_name)
    assert report.events, "the generated clip's micro smile was not spotted"
    d = json.loads(json.dumps(report.to_dict()))
    for ev in d["events"]:
        assert [a["au"] for a in sorted(ev["aus"], key=lambda a: a["au"])] == sorted(CASME2_AUS)
        assert all(set(a) == {"au", "name", "p", "present"} and 0 <= a["p"] <= 1 for a in ev["aus"])
        assert [a["p"] for a in ev["aus"]] == sorted((a["p"] for a in ev["aus"]), reverse=True)
    assert "<th>action units</th>" in to_html(report)
    assert aus_text(report.events[0].aus) in to_html(report)
