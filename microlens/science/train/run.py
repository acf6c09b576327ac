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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from microlens.errors import UsageError
from microlens.labels import Selection, resolve, select
from microlens.options import add_options, options_from_args
from microlens.recognize.models import flow_input, model_input
from microlens.science.data import Dataset, load_dataset
from microlens.science.metrics import report
from microlens.science.train.card import model_card, save_metrics, save_model, save_predictions
from microlens.science.train.ensemble import abstention_metrics, best_weight, calibration_of
from microlens.science.train.loop import LoopOptions, options_dict, predict_proba, train_stream
from microlens.science.train.protocols import PROTOCOLS, Fold, group_kfold, run_folds
from microlens.science.train.recipe import INPUT, TrainOptions, model_configs, preprocessing, streams_of

CHECKPOINT_FORMAT = 1


# data handed to forked workers (set before the pool starts; read-only in workers)
_JOB: dict[str, Any] = {}


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


def check_options(opts: TrainOptions, loop: LoopOptions) -> None:
    """UsageError with one line for options no run can use."""
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


def selected_samples(opts: TrainOptions, labels: tuple[str, ...]) -> tuple[Dataset, Selection]:
    """The samples of ``opts.data`` that the run trains on (source datasets, first subjects, classes of
    ``labels`` with samples) and their selection; UsageError when too few classes or subjects remain."""
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
    return ds, sel


def train(
    opts: TrainOptions,
    loop: LoopOptions,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Run the protocol and the final fit. Returns ``{"metrics", "checkpoint", "selection", "dataset",
    "predictions"}``; ``predictions`` holds every tested sample's id, subject, dataset, true class
    ``y`` (N,) and each stream's held-out probabilities ``probs`` (N, K). Writes nothing (see
    :func:`run`)."""
    check_options(opts, loop)
    progress = progress or (lambda stage, frac: None)
    labels = resolve(opts.labels)
    ds, sel = selected_samples(opts, labels)
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
    metrics = protocol_metrics(opts, ds, sel, tested, probs, weights, cal, len(folds), cv_seconds)

    checkpoint = None
    if opts.final:
        progress("final fit", frac_cv)
        final = fit(np.arange(len(ds)), None)
        progress("final fit", 1.0)
        checkpoint = checkpoint_of(final, opts, loop, labels, ds, sel, prep, metrics)
    predictions = {
        "sample_id": [ds.sample_ids[i] for i in tested], "subject": [ds.subjects[i] for i in tested],
        "dataset": [ds.datasets[i] for i in tested], "y": sel.targets[tested], "probs": probs,
    }
    return {"metrics": metrics, "checkpoint": checkpoint, "selection": sel, "dataset": ds,
            "predictions": predictions}


def protocol_metrics(opts: TrainOptions, ds: Dataset, sel: Selection, tested: np.ndarray,
                     probs: dict[str, np.ndarray], weights: list[float], cal: np.ndarray, folds: int,
                     seconds: float) -> dict[str, Any]:
    """The metrics of the protocol (``folds`` folds, ``seconds`` long): the scores of the held-out
    probabilities ``probs`` (N, K) per stream of samples ``tested`` (N,), the ensemble weights used,
    and with calibration how it and abstention did under each fold's ``cal`` (N, 2)."""
    y_test = sel.targets[tested]
    metrics = report(y_test, probs, sel.labels, [ds.datasets[i] for i in tested],
                     subjects=[ds.subjects[i] for i in tested])
    metrics["protocol"] = opts.protocol
    metrics["folds"] = folds
    metrics["ensemble_weights"] = {"apex_mean": round(float(np.mean(weights)), 3), "mode": opts.weights}
    if opts.calibrate:
        metrics["abstention"] = abstention_metrics(
            y_test, probs["ensemble"], cal, len(sel.labels), [ds.datasets[i] for i in tested]
        )
    metrics["dropped"] = sel.dropped
    metrics["notes"] = list(sel.notes)
    metrics["seconds"] = round(seconds, 1)
    return metrics


def checkpoint_of(final: dict[str, Any], opts: TrainOptions, loop: LoopOptions, labels: tuple[str, ...],
                  ds: Dataset, sel: Selection, prep: dict[str, Any], metrics: dict[str, Any]
                  ) -> dict[str, Any]:
    """The self-describing checkpoint of the final fit ``final`` (see :func:`fit`) with its model card:
    streams, ensemble weights, calibration, input recipe, options, provenance and the protocol's
    ``metrics``."""
    w = final["weight"]
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "name": opts.name or opts.labels,
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
    return checkpoint


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
