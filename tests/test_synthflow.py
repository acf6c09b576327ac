"""Synthetic action-unit flows: right motion in the right place, labels mapped onto each label set,
learnable, and added to the flow stream's training set only when asked."""

from __future__ import annotations

import numpy as np
import pytest

from microlens.science.train import synthflow
from microlens.science.train.loop import LoopOptions, predict_proba, train_stream
from microlens.science.train.run import synthetic_samples


def test_lip_corner_puller_moves_the_mouth_corners_up_and_out():
    _, points = synthflow._face()  # (468, 2) crop pixels
    field = synthflow._field(("AU12",), 3.0, "both", points, np.random.default_rng(0))  # (224, 224, 2)
    for idx, outward in ((61, -1), (291, 1)):  # the face's left corner is at smaller x
        x, y = np.round(points[idx]).astype(int)
        dx, dy = field[y, x]
        assert dy < -1.0 and np.sign(dx) == outward, (idx, dx, dy)
    brow = np.round(points[107]).astype(int)
    assert np.abs(field[brow[1], brow[0]]).max() < 0.1  # the brows stay still


def test_one_sided_movement_stays_on_its_side():
    _, points = synthflow._face()
    field = synthflow._field(("AU12",), 3.0, "left", points, np.random.default_rng(0))
    left, right = np.round(points[61]).astype(int), np.round(points[291]).astype(int)
    assert np.abs(field[left[1], left[0]]).max() > 1.0
    assert np.abs(field[right[1], right[0]]).max() < 0.1


def test_generate_is_balanced_and_reproducible():
    flows, emotions = synthflow.generate(10, seed=3)
    assert flows.shape == (10, 28, 28, 3) and flows.dtype == np.uint8
    assert sorted(set(emotions)) == sorted(synthflow.EMOTION_UNITS)
    assert all(emotions.count(e) == 2 for e in synthflow.EMOTION_UNITS)
    again, _ = synthflow.generate(10, seed=3)
    other, _ = synthflow.generate(10, seed=4)
    assert np.array_equal(flows, again) and not np.array_equal(flows, other)
    assert synthflow.generate(0)[0].shape == (0, 28, 28, 3)


@pytest.mark.parametrize("labels, expected", [
    (("negative", "positive", "surprise"), [1, 2, 0, 0, 0]),  # MEGC: disgust, repression, sadness negative
    (("happiness", "surprise", "disgust", "repression"), [0, 1, 2, 3]),  # sadness not in the set: left out
])
def test_synthetic_samples_follow_the_label_set(labels, expected):
    x, y = synthetic_samples(5, 0, labels)
    assert x.shape == (len(expected), 3, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.tolist() == expected
    empty_x, empty_y = synthetic_samples(0, 0, labels)
    assert empty_x.shape == (0, 3, 28, 28) and empty_y.shape == (0,)


def test_action_units_are_learnable_from_the_flow_images():
    """A FlowNet trained on synthetic flows labels new ones (another seed) far above chance (0.2):
    the flow recipe keeps what tells the action units apart."""
    names = tuple(synthflow.EMOTION_UNITS)
    train_flows, train_emotions = synthflow.generate(150, seed=0)
    test_flows, test_emotions = synthflow.generate(50, seed=1)
    to_x = lambda f: f.transpose(0, 3, 1, 2).astype(np.float32) / 255.0  # noqa: E731
    y = np.array([names.index(e) for e in train_emotions], np.int64)
    member = train_stream(to_x(train_flows), y, len(names), {"arch": "flownet", "cbam": True},
                          LoopOptions(epochs=15), seed=0)
    pred = predict_proba([member], to_x(test_flows)).argmax(1)
    accuracy = float((pred == np.array([names.index(e) for e in test_emotions])).mean())
    assert accuracy > 0.6, accuracy


def test_train_adds_them_to_the_flow_stream_only(tmp_path, monkeypatch):
    from test_data import make_prepared

    import microlens.science.train.run as run

    data = make_prepared(tmp_path / "data", subjects=3, per_class=3,
                         classes=("happiness", "surprise", "disgust"))
    seen: list[tuple[str, int]] = []
    real = run.train_stream

    def spy(x, y, k, config, opts, seed=0):
        seen.append((config["arch"], len(x)))
        return real(x, y, k, config, opts, seed)

    monkeypatch.setattr(run, "train_stream", spy)
    opts = run.TrainOptions(data=str(data), labels="happiness,surprise,disgust", protocol="loso",
                            apex_arch="apexnet", apex_size=16, baseline=True, workers=1, calibrate=False,
                            synthetic=10, onnx=False)
    out = run.train(opts, LoopOptions(epochs=2))
    final = {arch: n for arch, n in seen[-3:]}  # the final fit on all 27 samples, after the folds
    assert final == {"apexnet": 27, "flownet": 27 + 6, "ststnet": 27}  # 6 of 10: no repression, sadness
    assert "6 synthetic action-unit flows" in out["checkpoint"]["provenance"]["synthetic"]
    assert out["checkpoint"]["training"]["synthetic"] == 10
    # the model card of an uncalibrated checkpoint says so (it used to raise KeyError)
    assert "None (training ran with --no-calibrate)" in out["checkpoint"]["card"]
