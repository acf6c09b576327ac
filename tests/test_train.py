"""`microlens train` and `microlens evaluate` end to end through the CLI on a synthetic prepared
dataset, the checkpoint contents, the metrics schema, bad input; a short real-data smoke run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from test_data import make_prepared

import microlens.cli.main as cli
from microlens.science.metrics import uf1

# the from-scratch apex CNN at 16 px keeps these runs short; the default apex network has its own test
FAST = ["--epochs", "12", "--apex-arch", "apexnet", "--apex-size", "16", "--workers", "1", "--no-onnx"]
SCHEMA = {"accuracy", "uf1", "uar", "n", "skipped", "labels", "confusion", "per_dataset", "streams"}


def core_main(argv: list[str]) -> int:
    """cli.main with only the science-core commands registered (other stages may be absent)."""
    mine = {k: v for k, v in cli.COMMANDS.items() if k in ("train", "evaluate", "models")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "COMMANDS", mine)
        return cli.main(argv)


@pytest.fixture
def main():
    return core_main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One LOSO run with the baseline, shared by the tests below."""
    root = tmp_path_factory.mktemp("train")
    data = make_prepared(root / "data", subjects=3, per_class=4, extra=("others", "fear"))
    out = root / "out"
    code = core_main(
        [
            "train",
            "--data",
            str(data),
            "--labels",
            "happiness,surprise,disgust,sadness",
            "--out",
            str(out),
            "--baseline",
            "--name",
            "syn",
            *FAST,
        ]
    )
    assert code == 0
    return data, out


def check_schema(m: dict, streams: set[str]) -> None:
    assert SCHEMA <= set(m)
    k = len(m["labels"])
    assert len(m["confusion"]) == k and all(len(r) == k for r in m["confusion"])
    assert sum(map(sum, m["confusion"])) == m["n"]
    assert set(m["streams"]) == streams
    for s in m["streams"].values():
        assert {"accuracy", "uf1", "uar", "n", "confusion", "per_dataset"} <= set(s)
    for d in [m, *m["per_dataset"].values(), *m["streams"].values()]:
        low, high = d["uf1_interval"]  # 95 %, test subjects resampled
        assert low <= d["uf1"] + 1e-9 and d["uf1"] <= high + 1e-9
    for d in m["per_dataset"].values():
        assert set(d) == {"accuracy", "uf1", "uar", "n", "uf1_interval"}


def test_train_loso_learns_and_writes_everything(trained):
    _, out = trained
    m = json.loads((out / "metrics.json").read_text())
    check_schema(m, {"apex", "flow", "ststnet"})
    assert m["labels"] == ["happiness", "surprise", "disgust"]  # sadness: no samples -> dropped
    assert m["dropped"] == {"others": 3, "fear": 3}
    assert m["n"] == 36 and m["folds"] == 3 and m["protocol"] == "loso"
    assert m["uf1"] > 0.6  # the classes are encoded in both images: unseen subjects are recognised
    for name in ("confusion_ensemble.png", "confusion_apex.png", "confusion_flow.png", "syn.md"):
        assert (out / name).is_file()
    card = (out / "syn.md").read_text()
    low, high = m["uf1_interval"]
    assert f"{m['uf1']:.3f} ({low:.2f}-{high:.2f})" in card and "95 % intervals" in card
    # every held-out prediction, and the scores recomputed from it match metrics.json
    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == m["n"] and len({r["sample_id"] for r in rows}) == m["n"]
    assert {"sample_id", "subject", "dataset", "true", "ensemble_pred", "flow_p_happiness"} <= set(rows[0])
    labels = m["labels"]
    y = np.array([labels.index(r["true"]) for r in rows])
    for stream, block in [("ensemble", m), *m["streams"].items()]:
        pred = np.array([labels.index(r[f"{stream}_pred"]) for r in rows])
        assert round(uf1(y, pred, len(labels)), 4) == block["uf1"]
        probs = np.array([[float(r[f"{stream}_p_{lab}"]) for lab in labels] for r in rows])
        assert np.allclose(probs.sum(1), 1, atol=1e-3)
    ckpt = torch.load(out / "syn.pt", weights_only=True)
    assert ckpt["labels"] == m["labels"] and ckpt["metrics"]["uf1"] == m["uf1"]
    assert set(ckpt["streams"]) == {"apex", "flow", "ststnet"}
    flow = ckpt["streams"]["flow"][0]
    assert flow["config"]["width"] == 16 and flow["state_dict"]["features.0.0.weight"].shape[0] == 16
    assert ckpt["preprocessing"]["apex_size"] == 16
    assert ckpt["provenance"]["samples"] == 36 and len(ckpt["provenance"]["manifest_sha256"]) == 64
    assert len(ckpt["provenance"]["subjects"]) == 3
    assert ckpt["training"]["protocol"] == "loso" and ckpt["training"]["epochs"] == 12
    assert "research use only" in ckpt["card"]


def test_evaluate_maps_and_skips(trained, main, capsys):
    data, out = trained
    assert main(["evaluate", "--model", str(out / "syn.pt"), "--data", str(data)]) == 0
    m = json.loads(capsys.readouterr().out)
    check_schema(m, {"apex", "flow"})
    assert m["skipped"] == 6 and m["n"] == 36  # 'others' and 'fear' are outside the model's labels
    assert m["accuracy"] > 0.8  # evaluated on its own training data


@pytest.mark.parametrize("protocol", ["holdout", "random"])
def test_other_protocols(tmp_path, main, protocol):
    data = make_prepared(tmp_path / "d", subjects=5, per_class=2)
    out = tmp_path / "o"
    args = [
        "train",
        "--data",
        str(data),
        "--labels",
        "casme2",
        "--protocol",
        protocol,
        "--out",
        str(out),
        "--no-final",
        *FAST,
    ]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    check_schema(m, {"apex", "flow"})
    assert m["protocol"] == protocol and m["folds"] == 1 and 0 < m["n"] < 30


def test_bad_input_one_line_exit_2(tmp_path, main, capsys):
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("microlens: error:") and "\n" not in err
    data = make_prepared(tmp_path / "d", subjects=2, per_class=1)
    assert main(["train", "--data", str(data), "--labels", "joy", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown label set" in err and "\n" not in err
    assert main(["evaluate", "--model", "no-such-model", "--data", str(data)]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(data / "manifest.csv"), "--data", str(data)]) == 2
    assert "not a microlens checkpoint" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--apex-size", "16", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "expressionnet reads 64x64 gray faces" in err and "\n" not in err
    assert main(["train", "--data", str(data), "--flow-width", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--flow-width must be at least 1" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--flow-grid", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--flow-grid must be at least 1" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--flow-blur", "-1", "--out", str(tmp_path / "o")]) == 2
    assert "--flow-blur must be 0 (off) or positive" in capsys.readouterr().err


def test_flow_members_of_two_architectures_with_blur(tmp_path, main):
    """--flow-arch flownet+ststnet trains one member of each; --flow-blur reaches FlowNet's config;
    the checkpoint loads and scores through the shipped loader."""
    from microlens.recognize.recognizer import load_model

    data = make_prepared(tmp_path / "d", subjects=3, per_class=1)
    out = tmp_path / "o"
    args = ["train", "--data", str(data), "--out", str(out), "--protocol", "holdout",
            "--name", "two", "--flow-arch", "flownet+ststnet", "--flow-blur", "1", *FAST, "--epochs", "2"]
    assert main(args) == 0
    ckpt = torch.load(out / "two.pt", weights_only=True)
    configs = [m["config"] for m in ckpt["streams"]["flow"]]
    assert [c["arch"] for c in configs] == ["flownet", "ststnet"] and configs[0]["blur"] == 1.0
    pred = load_model(str(out / "two.pt")).predict(np.zeros((2, 224, 224, 3), np.uint8),
                                                   np.zeros((2, 28, 28, 3), np.uint8))
    assert pred.flow.shape == (2, len(ckpt["labels"])) and np.allclose(pred.flow.sum(1), 1, atol=1e-5)


@pytest.mark.shared
def test_real_data_smoke(shared_data, tmp_path, main):
    """A few CASME II subjects, few epochs, flow-stream features: above-chance UF1 under LOSO."""
    out = tmp_path / "o"
    args = [
        "train",
        "--data",
        str(shared_data / "megc2019"),
        "--labels",
        "megc3",
        "--datasets",
        "casme2",
        "--subjects",
        "8",
        "--epochs",
        "30",
        "--batch-size",
        "8",
        "--out",
        str(out),
        "--no-final",
        "--workers",
        "2",
    ]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] > 30 and m["folds"] == 8
    assert m["streams"]["flow"]["uf1"] > 1 / 3 + 0.1  # chance is about 1/3 for 3 classes


def test_evaluate_frameless_dir_and_megc_mapping(trained, tmp_path, main, capsys):
    """A directory with only apex/, flow/ and a manifest without frames evaluates; an MEGC model maps
    fine emotions onto its classes."""
    _, out = trained
    data = make_prepared(tmp_path / "d", subjects=2, per_class=2, frames=False, extra=("others",))
    assert main(["evaluate", "--model", str(out / "syn.pt"), "--data", str(data)]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["n"] == 12 and m["skipped"] == 2
    ckpt = torch.load(out / "syn.pt", weights_only=True)
    ckpt["labels"] = ["positive", "surprise", "negative"]  # happiness, surprise, disgust -> MEGC
    ckpt["name"] = "synmegc"
    torch.save(ckpt, tmp_path / "synmegc.pt")
    assert main(["evaluate", "--model", str(tmp_path / "synmegc.pt"), "--data", str(data)]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["labels"] == ["positive", "surprise", "negative"] and m["n"] == 12 and m["skipped"] == 2
    assert m["dropped"] == {"others": 2}


def _onehot_noise(y, k, right, rng):
    """(N, K) probabilities that put 0.8 on the true class for a ``right`` share of samples, else on
    a random wrong class."""
    import numpy as np

    p = np.full((len(y), k), 0.2 / (k - 1), np.float32)
    hit = rng.random(len(y)) < right
    pred = np.where(hit, y, (y + rng.integers(1, k, len(y))) % k)
    p[np.arange(len(y)), pred] = 0.8
    return p


def test_ensemble_weight_one_standard_error_rule():
    """A stream at chance gets no weight; a stream that is clearly better gets most of it."""
    import numpy as np

    from microlens.science.train.run import best_weight

    rng = np.random.default_rng(3)
    k, n = 3, 240
    y = rng.integers(0, k, n)
    subjects = tuple(f"s{i % 12:02d}" for i in range(n))
    good, chance = _onehot_noise(y, k, 0.85, rng), _onehot_noise(y, k, 1 / k, rng)
    assert best_weight(y, chance, good, k, subjects) == 0.0
    assert best_weight(y, good, chance, k, subjects) >= 0.6
    # ties within the noise go to the flow stream: two equally good streams give a small weight
    other = _onehot_noise(y, k, 0.85, rng)
    assert best_weight(y, other, good, k, subjects) <= 0.5


@pytest.mark.filterwarnings("error")
def test_two_subjects_loso_skips_the_inner_fit(tmp_path, main):
    # each LOSO fold trains on one subject, too few for an inner CV: nothing may be fitted on an
    # empty split (that gave NaN features and a torch warning), and the results stay finite
    data = make_prepared(tmp_path / "d", subjects=2, per_class=2)
    args = ["train", "--data", str(data), "--labels", "happiness,surprise,disgust", "--out",
            str(tmp_path / "o"), "--weights", "inner", *FAST]
    assert main(args) == 0
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["folds"] == 2 and m["ensemble_weights"]["apex_mean"] == 0.5
    assert all(np.isfinite(s["uf1"]) for s in m["streams"].values())


def test_loso_with_two_workers_is_reproducible(tmp_path):
    """The same options give the same pooled predictions, ensemble weights and calibration twice,
    with folds spread over two worker processes (what the benchmarks' figures rely on)."""
    from microlens.science.train.loop import LoopOptions
    from microlens.science.train.run import TrainOptions, train

    data = make_prepared(tmp_path / "d", subjects=4, per_class=2)
    opts = TrainOptions(data=str(data), labels="casme2", apex_arch="apexnet", apex_size=16, final=False,
                        weights="inner", calibrate=True, workers=2, onnx=False)
    first, second = (train(opts, LoopOptions(epochs=3))["metrics"] for _ in range(2))
    assert first["confusion"] == second["confusion"] and first["uf1"] == second["uf1"]
    assert first["streams"]["flow"]["confusion"] == second["streams"]["flow"]["confusion"]
    assert first["ensemble_weights"] == second["ensemble_weights"]
    assert first["abstention"] == second["abstention"]


def test_train_defaults_to_the_shipped_inner_cv_weights() -> None:
    """`microlens train` without --weights uses the shipped recipe's inner-CV ensemble weights (issue 19)."""
    from microlens.options import options_from_args
    from microlens.science.train.run import TrainOptions

    parser = cli.build_parser()
    args = parser.parse_args(["train", "--data", "d", "--labels", "megc3", "--protocol", "loso"])
    assert args.weights == "inner"
    assert options_from_args(TrainOptions, args).weights == "inner"
    assert parser.parse_args(["train", "--data", "d", "--weights", "equal"]).weights == "equal"
