"""Inference: ONNX export agrees with torch for every registered model, load_model on a trained
checkpoint with both backends, the shipped models and `microlens models`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_data import make_prepared
from test_train import core_main

from microlens.recognize.models import MODELS, build
from microlens.recognize.recognizer import (
    DEFAULT_MODEL,
    Prediction,
    _stream_module,
    available_models,
    export_onnx,
    load_model,
    read_checkpoint,
)

ort = pytest.importorskip("onnxruntime")
PREP = {"apex_size": 24, "apex_color": False, "equalization": "none", "flow_mirror_average": True}
APEX_SIDE = {"expressionnet": 64}  # architectures with a fixed apex input side (others: PREP's)


# every registered architecture with its defaults, and FlowNet with its in-model blur
ONNX_CASES = [(arch, {}) for arch in sorted(MODELS)] + [("flownet", {"blur": 1.0})]


@pytest.mark.parametrize(("arch", "extra"), ONNX_CASES, ids=[f"{a}{e or ''}" for a, e in ONNX_CASES])
def test_onnx_matches_torch(arch, extra, tmp_path):
    """Each registered architecture exports to one ONNX file whose output equals torch's to 1e-5."""
    torch.manual_seed(0)
    member = {
        "config": {"arch": arch, "n_classes": 3, **extra},
        "state_dict": build({"arch": arch, "n_classes": 3, **extra}).state_dict(),
    }
    stream = "apex" if MODELS[arch].stream == "apex" else "flow"
    other = "flow" if stream == "apex" else "apex"
    side = build({"arch": "flownet" if other == "flow" else "apexnet", "n_classes": 3})
    side_px = APEX_SIDE.get(arch, PREP["apex_size"])
    ckpt = {
        "name": "t",
        "preprocessing": {**PREP, "apex_size": side_px},
        "streams": {
            stream: [member],
            other: [
                {
                    "config": {"arch": "flownet" if other == "flow" else "apexnet", "n_classes": 3},
                    "state_dict": side.state_dict(),
                }
            ],
        },
    }
    paths = export_onnx(ckpt, tmp_path)
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)
    x = (
        np.random.default_rng(0)
        .random((5, 1, side_px, side_px) if stream == "apex" else (5, 3, 28, 28))
        .astype(np.float32)
    )
    sess = ort.InferenceSession(str(tmp_path / f"t.{stream}.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x})[0]
    with torch.no_grad():
        want = _stream_module(ckpt, stream)(torch.from_numpy(x)).numpy()
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("rec")
    data = make_prepared(root / "data", subjects=2, per_class=2)
    out = root / "out"
    assert (
        core_main(
            [
                "train",
                "--data",
                str(data),
                "--labels",
                "happiness,surprise,disgust",
                "--out",
                str(out),
                "--name",
                "tiny",
                "--epochs",
                "3",
                "--workers",
                "1",
                "--seeds",
                "2",
                "--equalization",
                "clahe",
            ]
        )
        == 0
    )
    return out / "tiny.pt"


def test_backends_agree(checkpoint):
    rng = np.random.default_rng(1)
    apex = rng.integers(0, 255, (4, 224, 224, 3), dtype=np.uint8)
    flow = rng.integers(0, 255, (4, 28, 28, 3), dtype=np.uint8)
    a, b = load_model(str(checkpoint), backend="onnxruntime"), load_model(str(checkpoint), backend="torch")
    assert (a.backend, b.backend) == ("onnxruntime", "torch")
    assert load_model(str(checkpoint)).backend == "onnxruntime"
    pa, pb = a.predict(apex, flow), b.predict(apex, flow)
    assert isinstance(pa, Prediction) and pa.labels == ("happiness", "surprise", "disgust")
    assert pa.probs.shape == (4, 3) and pa.probs.dtype == np.float32
    np.testing.assert_allclose(pa.probs.sum(1), 1.0, atol=1e-5)
    for f in ("probs", "apex", "flow"):
        np.testing.assert_allclose(getattr(pa, f), getattr(pb, f), atol=1e-5)
    assert a.card["preprocessing"]["equalization"] == "clahe" and "streams" not in a.card
    assert a.predict(apex[:0], flow[:0]).probs.shape == (0, 3)


def test_checkpoint_is_weights_only(checkpoint):
    ckpt = torch.load(checkpoint, weights_only=True)
    assert len(ckpt["streams"]["apex"]) == 2  # two seeds
    assert read_checkpoint(checkpoint)["name"] == "tiny"


def test_shipped_models():
    names = available_models()
    if not names:
        pytest.skip("no shipped models in microlens/assets yet")
    assert DEFAULT_MODEL in names and "megc3" in names
    assert load_model("megc3").labels == ("negative", "positive", "surprise")
    model = load_model()
    assert model.labels[:4] == ("happiness", "surprise", "disgust", "repression")
    assert "research use only" in model.card["card"]
    assert model.card["metrics"]["protocol"] == "loso"
    p = model.predict(np.zeros((2, 224, 224, 3), np.uint8), np.zeros((2, 28, 28, 3), np.uint8))
    assert p.probs.shape == (2, len(model.labels))


def test_models_command(capsys):
    if not available_models():
        pytest.skip("no shipped models in microlens/assets yet")
    assert core_main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(available_models())
    assert all(r["licence"] == "research use only" and r["uf1"] is not None for r in rows)
    assert core_main(["models"]) == 0
    assert "(default)" in capsys.readouterr().out


def test_an_uncertain_decision_says_why() -> None:
    """decide: below the threshold is low_confidence, an ignored class on top is neutral_face, a
    label has no reason; the FER2013 prior decides on its seven classes with the same reasons."""
    from microlens.labels import UNCERTAIN
    from microlens.recognize.recognizer import ExpressionPrior, decide

    labels = ("happiness", "neutral", "surprise")
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.2, 0.7, 0.1]])
    got = decide(probs, labels, 0.5, "t", ignore=("neutral",))
    assert [(d.label, d.reason) for d in got] == [("happiness", ""), (UNCERTAIN, "low_confidence"),
                                                  (UNCERTAIN, "neutral_face")]
    assert got[2].best == "happiness"  # the best class that is not ignored
    prior = ExpressionPrior()
    fer = np.zeros((3, 7), np.float32)
    fer[0, prior.classes.index("happiness")] = 0.9
    fer[1, prior.classes.index("surprise")] = 0.4  # the top class, under MACRO_MIN_PROB once spread
    fer[2, prior.classes.index("neutral")] = 0.8
    fer += (1 - fer.sum(1, keepdims=True)) / 7
    assert [d.reason for d in prior.decide_classes(fer)] == ["", "low_confidence", "neutral_face"]
    plain = prior.decide_classes(fer, abstain=False)  # no abstention: every event named, no reasons
    assert [(d.label, d.reason) for d in plain] == [("happiness", ""), ("surprise", ""), ("neutral", "")]
