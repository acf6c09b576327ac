"""``microlens train``: cross-validate both streams (+ the STSTNet baseline) and their ensemble
under a protocol, then fit the final model on all samples and save a self-describing checkpoint.

Honest protocol: every fold trains for a fixed number of epochs and is scored once at the end;
nothing (epoch, threshold, ensemble weight) is chosen on the test subject. The ensemble weights
come from an inner cross-validation on the training subjects of the fold (``--weights inner``, the
default and the shipped recipe; ``--weights equal`` averages the streams).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microlens.errors import UsageError
from microlens.labels import Selection, resolve, select
from microlens.options import add_options, option, options_from_args
from microlens.recognize.models import flow_input, model_input
from microlens.recognize.preprocess import EQUALIZERS
from microlens.recognize.recognizer import scaled
from microlens.science.data import Dataset, load_dataset
from microlens.science.metrics import ece, fit_temperature, nll, report, selective, uf1
from microlens.science.train.card import model_card, save_metrics, save_model, save_predictions
from microlens.science.train.loop import LoopOptions, options_dict, predict_proba, train_stream
from microlens.science.train.protocols import PROTOCOLS, Fold, group_kfold, run_folds

CHECKPOINT_FORMAT = 1
WEIGHT_GRID = tuple(round(w, 1) for w in np.linspace(0, 1, 11))  # apex weight candidates


@dataclass(frozen=True)
class TrainOptions:
    """What to train and how to evaluate it."""

    # prepared dataset directory (manifest.csv, apex/, flow/)
    data: str = option("", "prepared dataset directory (manifest.csv + apex/ + flow/)")
    # label set: casme2, megc3 or a comma list
    labels: str = option("casme2", "label set: casme2, megc3 or a comma list like happiness,surprise")
    # evaluation protocol
    protocol: str = option("loso", "evaluation protocol", choices=tuple(PROTOCOLS))
    # output directory
    out: str = option("runs/train", "output directory for metrics.json, PNGs and the checkpoint")
    # model name stored in the checkpoint and used for file names
    name: str = option("", "model name (default: the label-set argument)")
    # restrict to some source datasets of the manifest
    datasets: str = option("", "comma list of source datasets to keep, e.g. casme2 (default: all)")
    # apex-stream network
    apex_arch: str = option(
        "expressionnet",
        "apex network: expressionnet (pretrained FER2013 backbone) or apexnet (small CNN from scratch)",
        choices=("expressionnet", "apexnet"),
    )
    # side of the apex input; 0 = the network's native side
    apex_size: int = option(0, "apex input side in pixels (0: 64 for expressionnet, 32 for apexnet)")
    # RGB instead of gray apex input
    apex_color: bool = option(False, "RGB apex input instead of gray")
    # apex equalisation
    equalization: str = option("none", "apex equalisation", choices=tuple(EQUALIZERS))
    # CBAM attention in both streams
    cbam: bool = option(True, "CBAM attention in both streams")
    # channels of the flow network's first block (doubled in each of the next two)
    flow_width: int = option(16, "flow network width: channels of its first conv block")
    # side of the grid of cells whose pooled features the flow network's head reads (where on the
    # face the motion is); a smaller grid ties the head less to one dataset's framing
    flow_grid: int = option(4, "flow network head: side of its grid of pooled cells")
    # sd in flow pixels of a fixed Gaussian smoothing inside the flow network (train and inference)
    flow_blur: float = option(0.0, "sd (flow pixels) of the Gaussian that smooths flow inputs inside "
                                   "the flow network (0: off)")
    # architectures of the flow stream's members, probabilities averaged
    flow_arch: str = option("flownet", "flow-stream member architecture(s)",
                            choices=("flownet", "flownet+ststnet", "regionlinear", "flownet+regionlinear"))
    # also train the STSTNet baseline
    baseline: bool = option(False, "also train the STSTNet baseline (Liong et al., 2019)")
    # seeds averaged per stream
    seeds: int = option(1, "models per stream with different seeds, probabilities averaged")
    # ensemble weights: inner CV (the shipped models' recipe) or equal
    weights: str = option(
        "inner", "ensemble weights: inner CV on training subjects (one-standard-error rule; the shipped "
        "recipe), or equal",
        choices=("equal", "inner")
    )
    # test-time mirroring of every flow-input stream (the STSTNet baseline too)
    mirror_average: bool = option(True, "average flow-stream probabilities over the input and its mirror")
    # temperature scaling and an abstention threshold, fitted on out-of-fold training predictions
    calibrate: bool = option(
        True, "fit a temperature and an abstention threshold by inner CV on training subjects"
    )
    # the abstention threshold keeps this share of the training subjects' out-of-fold predictions
    coverage: float = option(0.9, "abstain below the confidence that this share of out-of-fold training "
                             "predictions reach")
    # parallel fold workers
    workers: int = option(2, "worker processes (one torch thread each)")
    # synthetic action-unit flows (microlens.science.train.synthflow) added to the flow stream's training set
    # in every fold and the final fit; built from the astronaut, never from the data; 0 = off
    synthetic: int = option(0, "synthetic action-unit flow samples added to the flow stream's training "
                               "set (0: off)")
    # master seed
    seed: int = option(0, "random seed")
    # first N subjects only (smoke runs)
    subjects: int = option(0, "use only the first N subjects (0 = all); for smoke runs")
    # final fit on all samples
    final: bool = option(True, "after the protocol, fit on all samples and save the checkpoint")
    # ONNX export of the final model
    onnx: bool = option(True, "export the final streams to ONNX beside the checkpoint")


INPUT = {"apex": "apex", "flow": "flow", "ststnet": "flow"}  # stream -> model input kind

# data handed to forked workers (set before the pool starts; read-only in workers)
_JOB: dict[str, Any] = {}


# apex network -> its native input side (ExpressionNet's backbone was trained on 64x64 faces)
APEX_SIZE = {"apexnet": 32, "expressionnet": 64}


def streams_of(opts: TrainOptions) -> tuple[str, ...]:
    """The streams to train: apex and flow, plus the STSTNet baseline when asked."""
    return ("apex", "flow", "ststnet") if opts.baseline else ("apex", "flow")


def model_configs(opts: TrainOptions) -> dict[str, list[dict[str, Any]]]:
    """Architecture configs of each stream's members (n_classes is added by the loop)."""
    flow: dict[str, dict[str, Any]] = {
        "flownet": {"arch": "flownet", "cbam": opts.cbam, "width": opts.flow_width, "blur": opts.flow_blur,
                    "grid": opts.flow_grid},
        "ststnet": {"arch": "ststnet"},
        "regionlinear": {"arch": "regionlinear"},
    }
    return {
        "apex": [
            {"arch": "expressionnet"}
            if opts.apex_arch == "expressionnet"
            else {"arch": "apexnet", "in_ch": 3 if opts.apex_color else 1, "cbam": opts.cbam}
        ],
        "flow": [flow[a] for a in opts.flow_arch.split("+")],
        "ststnet": [{"arch": "ststnet"}],
    }


def preprocessing(opts: TrainOptions) -> dict[str, Any]:
    """The input recipe recorded in the checkpoint and applied again at inference."""
    return {
        "apex_size": opts.apex_size or APEX_SIZE[opts.apex_arch],
        "apex_color": opts.apex_color,
        "equalization": opts.equalization,
        "apex_input": "RGB 224x224 face crop at the apex, equalised, resized (INTER_AREA), /127.5-1",
        "flow_input": "28x28 (u, v, strain) uint8 image / 255",
        "flow_mirror_average": opts.mirror_average,
    }


def best_weight(y: np.ndarray, p_apex: np.ndarray, p_flow: np.ndarray, k: int,
                subjects: tuple[str, ...], resamples: int = 200) -> float:
    """The apex weight of w*apex + (1-w)*flow from out-of-fold training predictions (N, K), by the
    one-standard-error rule: the smallest weight in WEIGHT_GRID whose UF1 is within one standard
    error of the best weight's. The standard error is the spread of the best weight's UF1 over
    ``resamples`` bootstrap resamples of the training ``subjects`` (N,). Training data only."""
    mixed = [(w * p_apex + (1 - w) * p_flow).argmax(1) for w in WEIGHT_GRID]  # each (N,)
    scores = np.array([uf1(y, pred, k) for pred in mixed])
    best = int(np.argmax(scores))
    groups = np.asarray(subjects)
    names = np.unique(groups)
    members = [np.flatnonzero(groups == g) for g in names]
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(resamples):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])
        boot.append(uf1(y[idx], mixed[best][idx], k))
    se = float(np.std(boot))
    return float(WEIGHT_GRID[int(np.flatnonzero(scores >= scores[best] - se)[0])])


def fit(train: np.ndarray, test: np.ndarray | None) -> dict[str, Any]:
    """Train every stream on samples ``train`` (and choose the ensemble weight by inner CV on them
    when asked); return the members and, when ``test`` is given, its probabilities per stream."""
    import torch

    torch.set_num_threads(1)
    X, y, k = _JOB["X"], _JOB["y"], _JOB["k"]
    opts: TrainOptions = _JOB["opts"]
    loop: LoopOptions = _JOB["loop"]
    configs = model_configs(opts)

    def train_members(stream: str, idx: np.ndarray) -> list[dict[str, Any]]:
        xs, ys = X[INPUT[stream]][idx], y[idx]
        if stream == "flow" and len(_JOB["synthetic"][1]):  # synthetic action-unit flows (M, 3, 28, 28), (M,)
            xs, ys = np.concatenate([xs, _JOB["synthetic"][0]]), np.concatenate([ys, _JOB["synthetic"][1]])
        return [
            train_stream(xs, ys, k, config, loop, seed=opts.seed + 1000 * s)
            for config in configs[stream]
            for s in range(opts.seeds)
        ]

    def mirrored(stream: str) -> bool:
        return opts.mirror_average and INPUT[stream] == "flow"

    weight = 0.5
    calibration: dict[str, Any] = {"temperature": 1.0, "threshold": 0.0}
    subjects = tuple(_JOB["subjects"][i] for i in train)
    if len(set(subjects)) < 2 and (opts.weights == "inner" or opts.calibrate):
        # an inner CV needs two training subjects: keep equal weights and no calibration
        calibration["fitted_on"] = "not fitted: fewer than two training subjects"
    elif opts.weights == "inner" or opts.calibrate:
        # out-of-fold predictions on the training subjects only (subject-disjoint inner folds)
        oof = {s: np.zeros((len(train), k), np.float32) for s in ("apex", "flow")}
        for inner in group_kfold(subjects, 3, seed=opts.seed):
            tr, te = train[inner.train], train[inner.test]
            for s in oof:
                oof[s][inner.test] = predict_proba(train_members(s, tr), X[INPUT[s]][te], mirrored(s))
        if opts.weights == "inner":
            weight = best_weight(y[train], oof["apex"], oof["flow"], k, subjects)
        if opts.calibrate:
            calibration = calibration_of(y[train], weight * oof["apex"] + (1 - weight) * oof["flow"],
                                         opts.coverage)

    members = {s: train_members(s, train) for s in _JOB["streams"]}
    out: dict[str, Any] = {"members": members, "weight": weight, "calibration": calibration}
    if test is not None:
        out["probs"] = {s: predict_proba(m, X[INPUT[s]][test], mirrored(s)) for s, m in members.items()}
    return out


def calibration_of(y: np.ndarray, oof: np.ndarray, coverage: float) -> dict[str, Any]:
    """Temperature (minimum NLL) and abstention threshold (the confidence that a ``coverage`` share
    of the calibrated predictions reach) from out-of-fold ensemble probabilities (N, K) of training
    samples with classes ``y`` (N,)."""
    t = fit_temperature(y, oof)
    conf = scaled(oof, t).max(1)
    return {
        "temperature": round(t, 4),
        "threshold": round(float(np.quantile(conf, 1.0 - coverage)), 4),
        "coverage_target": coverage,
        "n_out_of_fold": int(len(y)),
        "fitted_on": "out-of-fold predictions of a 3-fold subject-disjoint inner CV on training subjects",
    }


def _fold_job(fold: Fold) -> tuple[Fold, dict[str, np.ndarray], float, dict[str, Any]]:
    res = fit(fold.train, fold.test)
    return fold, res["probs"], res["weight"], res["calibration"]


def cross_validate(
    folds: list[Fold], n: int, workers: int, progress: Callable[[str, float], None]
) -> tuple[dict[str, np.ndarray], list[float], np.ndarray]:
    """Run every fold (in ``workers`` processes); pooled (N, K) test probabilities per stream,
    with 'ensemble' added, the ensemble weight used in each fold, and per test sample its fold's
    calibration as (N, 2) float64 (temperature, threshold)."""
    k = _JOB["k"]
    probs = {s: np.zeros((n, k), np.float32) for s in _JOB["streams"]}
    probs["ensemble"] = np.zeros((n, k), np.float32)
    tested = np.zeros(n, bool)
    cal = np.tile([1.0, 0.0], (n, 1))  # (N, 2) temperature, threshold
    weights: list[float] = []
    done = 0

    def collect(fold: Fold, p: dict[str, np.ndarray], w: float, c: dict[str, Any]) -> None:
        nonlocal done
        for s, v in p.items():
            probs[s][fold.test] = v
        probs["ensemble"][fold.test] = w * p["apex"] + (1 - w) * p["flow"]
        tested[fold.test] = True
        cal[fold.test] = (c["temperature"], c["threshold"])
        weights.append(w)
        done += 1
        progress(f"fold {done}/{len(folds)}", done / len(folds))

    progress(f"fold 0/{len(folds)}", 0.0)
    for res in run_folds(_fold_job, folds, workers):
        collect(*res)
    keep = np.flatnonzero(tested)
    return {s: p[keep] for s, p in probs.items()}, weights, cal[keep]


def abstention_metrics(y: np.ndarray, ens: np.ndarray, cal: np.ndarray, k: int,
                       datasets: list[str]) -> dict[str, Any]:
    """How calibration and abstention did on the held-out samples: NLL and ECE before and after
    each fold's temperature, and the selective scores under each fold's threshold (overall and per
    dataset). ens (N, K) raw ensemble probabilities; cal (N, 2) temperature, threshold."""
    calibrated = scaled(ens, cal[:, :1]) if len(ens) else ens  # (N, K), each sample its fold's T
    ds = np.asarray(datasets)
    return {
        "nll": {"raw": round(nll(y, ens), 4), "calibrated": round(nll(y, calibrated), 4)},
        "ece": {"raw": round(ece(y, ens), 4), "calibrated": round(ece(y, calibrated), 4)},
        "temperature_mean": round(float(cal[:, 0].mean()), 3) if len(cal) else 1.0,
        "threshold_mean": round(float(cal[:, 1].mean()), 3) if len(cal) else 0.0,
        "selective": selective(y, calibrated, cal[:, 1], k),
        "selective_per_dataset": {
            str(d): selective(y[ds == d], calibrated[ds == d], cal[ds == d, 1], k) for d in sorted(set(ds))
        },
    }


def synthetic_samples(n: int, seed: int, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic action-unit flows mapped onto ``labels`` (the training label set, in its
    order): model inputs (M, 3, 28, 28) float32 and class indices (M,) int64, M <= n (samples whose
    emotion is not in the set are left out)."""
    if n <= 0:
        return np.zeros((0, 3, 28, 28), np.float32), np.zeros(0, np.int64)
    from microlens.labels import TO_MEGC
    from microlens.science.train import synthflow

    flows, emotions = synthflow.generate(n, seed)
    sel = select(emotions, [TO_MEGC[e] for e in emotions], labels, drop_empty=False)
    return flow_input(flows[sel.indices]), sel.targets


def subset_for(ds: Dataset, opts: TrainOptions) -> Dataset:
    """The first ``opts.subjects`` subjects (in sorted order), or all."""
    if opts.subjects <= 0:
        return ds
    keep = set(sorted(set(ds.subjects))[: opts.subjects])
    return ds.subset(np.array([i for i, s in enumerate(ds.subjects) if s in keep], dtype=np.int64))


def train(
    opts: TrainOptions,
    loop: LoopOptions,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Run the protocol and the final fit. Returns ``{"metrics", "checkpoint", "selection", "dataset",
    "predictions"}``; ``predictions`` holds every tested sample's id, subject, dataset, true class
    ``y`` (N,) and each stream's held-out probabilities ``probs`` (N, K). Writes nothing (see
    :func:`run`)."""
    if not opts.data:
        raise UsageError("--data DIR is required")
    for flag, value in (("--seeds", opts.seeds), ("--epochs", loop.epochs), ("--flow-width", opts.flow_width),
                        ("--flow-grid", opts.flow_grid)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    if opts.flow_blur < 0:
        raise UsageError("--flow-blur must be 0 (off) or positive")
    if opts.apex_arch == "expressionnet" and (opts.apex_color or opts.apex_size not in (0, 64)):
        raise UsageError("--apex-arch expressionnet reads 64x64 gray faces: drop --apex-color / --apex-size")
    progress = progress or (lambda stage, frac: None)
    labels = resolve(opts.labels)
    keep_ds = tuple(d.strip() for d in opts.datasets.split(",") if d.strip())
    ds = subset_for(load_dataset(opts.data, datasets=keep_ds), opts)
    sel: Selection = select(ds.emotions, ds.megc_classes, labels)
    if len(sel.labels) < 2:
        raise UsageError(
            f"label set {opts.labels!r} leaves fewer than two classes with samples in {opts.data}"
        )
    ds = ds.subset(sel.indices)
    if len(set(ds.subjects)) < 2 and opts.protocol != "random":
        raise UsageError("the protocol needs at least two subjects")
    prep = preprocessing(opts)
    t0 = time.time()
    X = {kind: model_input(kind, ds.apex, ds.flow, prep) for kind in ("apex", "flow")}
    _JOB.update(
        synthetic=synthetic_samples(opts.synthetic, opts.seed, sel.labels),
        X=X,
        y=sel.targets,
        k=len(sel.labels),
        opts=opts,
        loop=loop,
        streams=streams_of(opts),
        subjects=ds.subjects,
    )
    folds = PROTOCOLS[opts.protocol](ds.subjects, opts.seed)
    folds = [f for f in folds if len(f.test) and len(f.train)]
    tested = np.sort(np.concatenate([f.test for f in folds]))
    frac_cv = 0.85 if opts.final else 1.0
    probs, weights, cal = cross_validate(folds, len(ds), opts.workers, lambda s, f: progress(s, f * frac_cv))
    cv_seconds = time.time() - t0
    y_test = sel.targets[tested]
    metrics = report(y_test, probs, sel.labels, [ds.datasets[i] for i in tested],
                     subjects=[ds.subjects[i] for i in tested])
    metrics["protocol"] = opts.protocol
    metrics["folds"] = len(folds)
    metrics["ensemble_weights"] = {"apex_mean": round(float(np.mean(weights)), 3), "mode": opts.weights}
    if opts.calibrate:
        metrics["abstention"] = abstention_metrics(
            y_test, probs["ensemble"], cal, len(sel.labels), [ds.datasets[i] for i in tested]
        )
    metrics["dropped"] = sel.dropped
    metrics["notes"] = list(sel.notes)
    metrics["seconds"] = round(cv_seconds, 1)

    checkpoint = None
    if opts.final:
        progress("final fit", frac_cv)
        final = fit(np.arange(len(ds)), None)
        progress("final fit", 1.0)
        name = opts.name or opts.labels
        w = final["weight"]
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "name": name,
            "labels": list(sel.labels),
            "streams": final["members"],
            "ensemble": {"apex": w, "flow": round(1 - w, 4)},
            "calibration": final["calibration"],
            "preprocessing": prep,
            "training": {**asdict(opts), **options_dict(loop), "label_set": list(labels)},
            "provenance": {
                **ds.provenance(),
                "selection": {"counts": sel.counts(), "dropped": sel.dropped, "notes": list(sel.notes)},
                "synthetic": (
                    f"{len(_JOB['synthetic'][1])} synthetic action-unit flows (science.train.synthflow, "
                    f"skimage's astronaut, seed {opts.seed}) added to the flow stream's training set"
                    if opts.synthetic else "none"),
            },
            "metrics": metrics,
        }
        checkpoint["card"] = model_card(checkpoint)
    predictions = {
        "sample_id": [ds.sample_ids[i] for i in tested], "subject": [ds.subjects[i] for i in tested],
        "dataset": [ds.datasets[i] for i in tested], "y": y_test, "probs": probs,
    }
    return {"metrics": metrics, "checkpoint": checkpoint, "selection": sel, "dataset": ds,
            "predictions": predictions}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train both streams and their ensemble under a protocol",
        description=__doc__.splitlines()[0],
    )
    add_options(p, TrainOptions)
    add_options(p, LoopOptions)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """CLI entry: train, write outputs, print a summary line per stream."""
    from microlens.progress import progress_bar

    opts = options_from_args(TrainOptions, args)
    loop = options_from_args(LoopOptions, args)
    with progress_bar(f"train {opts.labels} {opts.protocol}") as bar:
        result = train(opts, loop, bar)
    save_metrics(result["metrics"], Path(opts.out))
    save_predictions(result["predictions"], result["selection"].labels, Path(opts.out))
    if result["checkpoint"] is not None:
        save_model(result["checkpoint"], Path(opts.out), opts.onnx)
    m = result["metrics"]
    sel = result["selection"]
    print(
        f"labels: {', '.join(sel.labels)}; samples {sum(sel.counts().values())}; dropped {sel.dropped or 0}"
        + (f"; {'; '.join(sel.notes)}" if sel.notes else "")
    )
    print(
        f"{'stream':10s} {'acc':>6s} {'UF1':>6s} {'UAR':>6s}   "
        f"({m['protocol']}, {m['folds']} folds, n={m['n']})"
    )
    for name, v in [("ensemble", m), *m["streams"].items()]:
        print(f"{name:10s} {v['accuracy']:6.3f} {v['uf1']:6.3f} {v['uar']:6.3f}")
    print(f"wrote {opts.out}/metrics.json and {opts.out}/predictions.csv")
    return 0
