"""Training and leave-one-subject-out evaluation of the action-unit detector (:mod:`microlens.recognize.aus`).

Every AU coded on at least ``min_samples`` samples of the chosen source datasets is a target.
Each fold trains FlowNet with one sigmoid output per AU from scratch for a fixed number of epochs
(binary cross-entropy, positives weighted by the training fold's negative / positive ratio) and is
scored once, at the end, on the held-out subject. The decision threshold is 0.5 (``fixed``) or, per
AU, the one with the best F1 on out-of-fold predictions of a subject-disjoint inner cross-validation
over the training subjects only (``inner``). Nothing is chosen on the test subject. Scores: per-AU F1
of the positive class over the pooled test predictions, their mean, 95 % intervals by resampling
test subjects, and two baselines: each AU drawn positive at random with its training fold's rate
(expected F1 over many draws), and every AU always positive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from microlens.errors import UsageError
from microlens.options import option
from microlens.recognize.aus import AU_NAMES, au_name, au_sort_key, au_targets, parse_aus, predict_aus
from microlens.recognize.models import flow_input
from microlens.science.data import Dataset, load_dataset
from microlens.science.metrics import f1_columns, f1_resampled, percentile_interval
from microlens.science.train.protocols import Fold, group_kfold, loso, run_folds

CHECKPOINT_FORMAT = 1
THRESHOLD_GRID = tuple(round(t, 2) for t in np.arange(0.05, 0.951, 0.05))  # inner-CV candidates
PRIOR_DRAWS = 200  # random draws of the prior-rate baseline (its F1 is the mean over them)
RESAMPLES = 2000  # bootstrap resamples of the test subjects
# published figure, quoted (not recomputed)
PUBLISHED = {"MEB (optical-flow networks, positive-class AU F1 across micro-expression datasets), "
             "published": 0.41}


@dataclass(frozen=True)
class AUOptions:
    """What the AU detector is trained on and how (the same in every fold and the final fit)."""

    data: str = option("", "prepared dataset directory (manifest.csv with action_units, flow/)")
    datasets: str = option("casme2", "comma list of source datasets to keep")
    min_samples: int = option(10, "detect every AU coded on at least this many samples")
    epochs: int = option(40, "training epochs (fixed, no early stopping)")
    batch_size: int = option(32, "minibatch size")
    lr: float = option(3e-3, "peak learning rate (AdamW, cosine schedule with warm-up)")
    weight_decay: float = option(1e-3, "AdamW weight decay")
    pos_weight: bool = option(True, "weight each AU's positives by its negative/positive ratio in training")
    augment: bool = option(True, "mirror (u negated) and shift the training flows")
    width: int = option(16, "FlowNet width: channels of its first conv block")
    grid: int = option(4, "FlowNet head: side of its grid of pooled cells")
    cbam: bool = option(True, "CBAM attention in FlowNet")
    seeds: int = option(1, "networks with different seeds, probabilities averaged")
    threshold: str = option("fixed", "decision threshold: fixed 0.5, or per AU by inner CV on training "
                            "subjects", choices=("fixed", "inner"))
    workers: int = option(2, "worker processes (one torch thread each)")
    seed: int = option(0, "random seed")
    subjects: int = option(0, "use only the first N subjects (0 = all); for smoke runs")


def select_aus(codes: tuple[str, ...], min_samples: int) -> tuple[str, ...]:
    """The AUs coded on at least ``min_samples`` of the FACS ``codes``, in numeric order."""
    counts: dict[str, int] = {}
    for c in codes:
        for au in parse_aus(c):
            counts[au] = counts.get(au, 0) + 1
    return tuple(sorted((au for au, n in counts.items() if n >= min_samples), key=au_sort_key))


def model_config(opts: AUOptions, n_aus: int) -> dict[str, Any]:
    """FlowNet with one logit per AU."""
    return {"arch": "flownet", "n_classes": n_aus, "width": opts.width, "grid": opts.grid, "cbam": opts.cbam}


# One function on purpose: the training loop reads top to bottom (as microlens.science.train.loop).
def train_net(x: np.ndarray, y: np.ndarray, opts: AUOptions, seed: int) -> dict[str, Any]:
    """Train FlowNet from scratch on (N, 3, 28, 28) float32 flows ``x`` and (N, A) 0/1 float32 AU
    targets ``y`` for ``opts.epochs`` epochs: AdamW, linear warm-up then cosine decay, binary
    cross-entropy (positives weighted by the negative / positive ratio of ``y`` when asked).
    Returns the member ``{"config", "state_dict"}``."""
    import torch
    from torch.nn import functional as F

    from microlens.recognize.models import build
    from microlens.science.train.loop import AUGMENT

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    config = model_config(opts, y.shape[1])
    model = build(config)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)  # (N, 3, 28, 28), (N, A)
    pos = yt.sum(0)  # (A,)
    pos_weight = (len(yt) - pos) / pos.clamp(min=1) if opts.pos_weight else torch.ones(y.shape[1])
    augment = AUGMENT["flownet"] if opts.augment else None  # mirror (u negated) and shift

    steps_per_epoch = max(1, int(np.ceil(len(xt) / opts.batch_size)))
    total = opts.epochs * steps_per_epoch
    warmup = max(1, total // 10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(1.0, s / total))))
    model.train()
    for _epoch in range(opts.epochs):
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), opts.batch_size):
            idx = order[start : start + opts.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            xb = augment(xt[idx], gen) if augment is not None else xt[idx]
            loss = F.binary_cross_entropy_with_logits(model(xb), yt[idx], pos_weight=pos_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    return {"config": config, "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}


def best_thresholds(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per AU the threshold of THRESHOLD_GRID with the best F1 of (N, A) out-of-fold training
    probabilities against (N, A) targets (ties: the one closest to 0.5) -> (A,) float32."""
    grid = np.asarray(THRESHOLD_GRID)
    f1 = np.stack([f1_columns(y, probs >= t) for t in grid])  # (T, A)
    f1 = np.nan_to_num(f1, nan=-1.0) - 1e-6 * np.abs(grid - 0.5)[:, None]
    return grid[f1.argmax(0)].astype(np.float32)


# data handed to forked workers (set before the pool starts; read-only in workers)
_JOB: dict[str, Any] = {}


def fit(train: np.ndarray, test: np.ndarray | None) -> dict[str, Any]:
    """Train on samples ``train`` (thresholds by inner CV on them when asked) -> {"members",
    "thresholds" (A,)} and, with ``test``, its (M, A) probabilities "probs"."""
    import torch

    torch.set_num_threads(1)
    x, y, opts = _JOB["x"], _JOB["y"], _JOB["opts"]

    def members(idx: np.ndarray) -> list[dict[str, Any]]:
        return [train_net(x[idx], y[idx], opts, opts.seed + 1000 * s) for s in range(opts.seeds)]

    thresholds = np.full(y.shape[1], 0.5, np.float32)
    subjects = tuple(_JOB["subjects"][i] for i in train)
    if opts.threshold == "inner" and len(set(subjects)) >= 2:
        oof = np.zeros((len(train), y.shape[1]), np.float32)
        for inner in group_kfold(subjects, 3, seed=opts.seed):  # subject-disjoint, training subjects only
            oof[inner.test] = predict_aus(members(train[inner.train]), x[train[inner.test]])
        thresholds = best_thresholds(y[train], oof)
    out: dict[str, Any] = {"members": members(train), "thresholds": thresholds}
    if test is not None:
        out["probs"] = predict_aus(out["members"], x[test])
    return out


def _fold_job(fold: Fold) -> tuple[Fold, np.ndarray, np.ndarray]:
    res = fit(fold.train, fold.test)
    return fold, res["probs"], res["thresholds"]


def cross_validate(folds: list[Fold], n: int, workers: int,
                   progress: Callable[[str, float], None]) -> dict[str, np.ndarray]:
    """Run every fold (in ``workers`` processes) -> per sample its held-out (N, A) "probs", its
    fold's (N, A) "thresholds" and its fold's training AU rates "rates" (N, A)."""
    y = _JOB["y"]
    out = {k: np.zeros((n, y.shape[1]), np.float32) for k in ("probs", "thresholds", "rates")}
    done = 0

    def collect(fold: Fold, probs: np.ndarray, thresholds: np.ndarray) -> None:
        nonlocal done
        out["probs"][fold.test] = probs
        out["thresholds"][fold.test] = thresholds
        out["rates"][fold.test] = y[fold.train].mean(0)
        done += 1
        progress(f"fold {done}/{len(folds)}", done / len(folds))

    for res in run_folds(_fold_job, folds, workers):
        collect(*res)
    return out


def _summary(full: np.ndarray, draws: np.ndarray) -> dict[str, Any]:
    """Per-AU F1 (A,) with its (B, A) bootstrap draws -> {"f1": [A], "interval": [[low, high]] * A,
    "mean": mean F1 over the AUs, "mean_interval": [low, high]}."""
    return {"f1": [round(float(v), 4) for v in full],
            "interval": [list(percentile_interval(draws[:, a])) for a in range(draws.shape[1])],
            "mean": round(float(np.nanmean(full)), 4),
            "mean_interval": list(percentile_interval(np.nanmean(draws, axis=1)))}


def scores(y: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, rates: np.ndarray,
           subjects: tuple[str, ...], aus: tuple[str, ...], seed: int = 0) -> dict[str, Any]:
    """The LOSO figures of pooled held-out (N, A) ``probs`` against (N, A) targets ``y``: per AU and
    on average, the detector (``probs >= thresholds``), the prior-rate baseline (each AU drawn
    positive with its fold's training ``rates``, PRIOR_DRAWS draws) and the always-positive
    baseline, each with 95 % intervals by resampling the test ``subjects`` (the same resamples for
    all three, so the margin over the prior-rate baseline is paired)."""
    groups = np.asarray(subjects)
    pred = probs >= thresholds  # (N, A)
    prior = np.random.default_rng(seed).random((PRIOR_DRAWS, *y.shape)) < rates  # (R, N, A)
    always = np.ones_like(pred)
    systems = {"detector": pred, "prior_rate": prior, "always_positive": always}
    full = {k: f1_columns(y, p) for k, p in systems.items()}
    draws = {k: f1_resampled(y, p, groups, RESAMPLES, seed) for k, p in systems.items()}
    margin = np.nanmean(draws["detector"], 1) - np.nanmean(draws["prior_rate"], 1)  # (B,)
    yb = y.astype(bool)
    per_au = {
        au: {"name": au_name(au), "positives": int(yb[:, a].sum()),
             "subjects_with": len(set(groups[yb[:, a]].tolist())),
             "predicted_positive": int(pred[:, a].sum()), "true_positive": int((pred & yb)[:, a].sum()),
             "prior_rate": round(float(yb[:, a].mean()), 4)}
        for a, au in enumerate(aus)}
    return {
        "aus": list(aus), "n": int(len(y)), "subjects": len(set(subjects)), "per_au": per_au,
        **{k: _summary(full[k], draws[k]) for k in systems},
        "margin_vs_prior_rate": {"margin": round(float(np.nanmean(full["detector"]) - np.nanmean(
            full["prior_rate"])), 4), "interval": list(percentile_interval(margin)),
            "p_below_zero": round(float(np.mean(margin <= 0)), 4)},
        "prior_draws": PRIOR_DRAWS, "resamples": RESAMPLES, "published": PUBLISHED,
    }


def prepare(opts: AUOptions) -> tuple[Dataset, tuple[str, ...], np.ndarray]:
    """The dataset (source datasets and smoke-run subjects kept), the AU list and (N, A) targets."""
    if not opts.data:
        raise UsageError("a prepared dataset directory is required (--data DIR)")
    keep = tuple(d.strip() for d in opts.datasets.split(",") if d.strip())
    ds = load_dataset(opts.data, datasets=keep)
    if opts.subjects > 0:
        first = set(sorted(set(ds.subjects))[: opts.subjects])
        ds = ds.subset(np.array([i for i, s in enumerate(ds.subjects) if s in first], np.int64))
    aus = select_aus(ds.action_units, opts.min_samples)
    if not aus:
        raise UsageError(f"no action unit is coded on {opts.min_samples} or more samples in {opts.data}")
    if len(set(ds.subjects)) < 2:
        raise UsageError("leave-one-subject-out needs at least two subjects")
    return ds, aus, au_targets(ds.action_units, aus)


def train_aus(opts: AUOptions, progress: Callable[[str, float], None] | None = None,
              final: bool = True) -> dict[str, Any]:
    """LOSO evaluation, then (``final``) the fit on all samples -> {"metrics", "checkpoint"
    (None without ``final``), "predictions"}. Writes nothing."""
    progress = progress or (lambda stage, frac: None)
    ds, aus, y = prepare(opts)
    _JOB.update(x=flow_input(ds.flow), y=y, opts=opts, subjects=ds.subjects)
    t0 = time.time()
    folds = loso(ds.subjects)
    cv = cross_validate(folds, len(ds), opts.workers, progress)
    metrics = scores(y, cv["probs"], cv["thresholds"], cv["rates"], ds.subjects, aus, opts.seed)
    metrics.update(protocol="loso", folds=len(folds), seconds=round(time.time() - t0, 1),
                   threshold=opts.threshold,
                   mean_threshold=[round(float(v), 3) for v in cv["thresholds"].mean(0)])
    predictions = {"sample_id": list(ds.sample_ids), "subject": list(ds.subjects), "y": y, **cv}
    checkpoint = None
    if final:
        progress("final fit", 1.0)
        checkpoint = checkpoint_of(opts, ds, aus, y, fit(np.arange(len(ds)), None), metrics)
    return {"metrics": metrics, "checkpoint": checkpoint, "predictions": predictions}


def checkpoint_of(opts: AUOptions, ds: Dataset, aus: tuple[str, ...], y: np.ndarray, res: dict[str, Any],
                  metrics: dict[str, Any]) -> dict[str, Any]:
    """The self-describing checkpoint of the final fit ``res`` on all of ``ds`` ((N, A) targets
    ``y``): config in the members, AU list and names, thresholds, preprocessing, training options,
    data provenance, the LOSO ``metrics`` and the model card."""
    from microlens.science.train.aucard import au_card

    ckpt = {
        "format": CHECKPOINT_FORMAT, "name": "aus", "aus": list(aus), "names": [AU_NAMES[a] for a in aus],
        "thresholds": [float(t) for t in res["thresholds"]], "members": res["members"],
        "preprocessing": {"flow_input": "28x28 (u, v, strain) uint8 onset->apex flow image / 255 "
                          "(microlens.face.flow.flow_image, the micro recogniser's input)",
                          "flow_mirror_average": True, "output": "sigmoid per AU"},
        "training": asdict(opts),
        "provenance": {**ds.provenance(),
                       "au_counts": {au: int(y[:, a].sum()) for a, au in enumerate(aus)},
                       "au_rule": f"every AU coded on at least {opts.min_samples} samples; L/R sides "
                                  "merged (L10 counts as AU10)"},
        "metrics": metrics,
    }
    ckpt["card"] = au_card(ckpt)
    return ckpt
