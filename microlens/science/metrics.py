"""Scores as in MEGC: accuracy, UF1 (macro F1) and UAR (mean per-class recall) over pooled test
predictions, the confusion matrix, and its plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from microlens.recognize.recognizer import scaled


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(N,) int true and predicted classes -> (K, K) int64 counts, rows = truth, cols = prediction."""
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return cm


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of correct predictions (0 when there are none)."""
    y_true = np.asarray(y_true)
    return float((y_true == np.asarray(y_pred)).mean()) if len(y_true) else 0.0


def uf1(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    """Unweighted F1: mean over the classes present in ``y_true`` of 2TP / (2TP + FP + FN)."""
    cm = confusion(y_true, y_pred, k)
    tp = np.diag(cm).astype(float)
    denom = 2 * tp + (cm.sum(0) - tp) + (cm.sum(1) - tp)
    present = cm.sum(1) > 0
    return float(np.mean(2 * tp[present] / denom[present])) if present.any() else 0.0


def uar(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    """Unweighted average recall: mean over the classes present in ``y_true`` of TP / support."""
    cm = confusion(y_true, y_pred, k)
    support = cm.sum(1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present])) if present.any() else 0.0


def scores(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> dict:
    """``{"accuracy", "uf1", "uar", "n"}`` for pooled predictions."""
    return {
        "accuracy": round(accuracy(y_true, y_pred), 4),
        "uf1": round(uf1(y_true, y_pred, k), 4),
        "uar": round(uar(y_true, y_pred, k), 4),
        "n": int(len(y_true)),
    }


def _subject_resamples(groups: np.ndarray, resamples: int, seed: int) -> list[np.ndarray]:
    """``resamples`` index arrays, each the samples of len(groups) subjects drawn with replacement."""
    names, inverse = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(names))]
    rng = np.random.default_rng(seed)
    return [np.concatenate([members[g] for g in rng.integers(0, len(names), len(names))])
            for _ in range(resamples)]


def uf1_interval(y_true: np.ndarray, preds: np.ndarray, groups: np.ndarray, k: int,
                 resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """A 95 % interval for the UF1 of (R, N) int predictions of R runs (or (N,) of one) by a
    bootstrap over the test ``groups`` (subjects, the unit the samples are not independent within):
    ``{"uf1", "low", "high"}``, the mean over runs on the full test set and the 2.5 and 97.5
    percentiles of the resampled means."""
    y, p = np.asarray(y_true), np.atleast_2d(preds)  # (N,), (R, N)

    def score(idx: np.ndarray) -> float:
        return float(np.mean([uf1(y[idx], run[idx], k) for run in p]))

    draws = np.array([score(idx) for idx in _subject_resamples(groups, resamples, seed)])
    return {"uf1": round(score(np.arange(len(y))), 4), "low": round(float(np.percentile(draws, 2.5)), 4),
            "high": round(float(np.percentile(draws, 97.5)), 4)}


def f1_columns(y_true: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Multi-label F1 of the positive class: (N, A) 0/1 truth and (N, A) or (R, N, A) 0/1
    predictions of R runs (or random draws) -> (A,) per column 2TP / (2TP + FP + FN), the mean
    over runs; NaN for a column with no positive truth and no positive prediction."""
    y = np.asarray(y_true, bool)
    p = np.asarray(preds, bool).reshape(-1, *y.shape)  # (R, N, A)
    tp, fp, fn = (p & y).sum(1), (p & ~y).sum(1), (~p & y).sum(1)  # (R, A) each
    return _f1_of(tp[None], fp[None], fn[None])[0]


def _f1_of(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """(B, R, A) counts -> (B, A) F1 averaged over R runs (NaN where 2TP + FP + FN is 0)."""
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)
    return f1.mean(1)


def f1_resampled(y_true: np.ndarray, preds: np.ndarray, groups: np.ndarray, resamples: int = 2000,
                 seed: int = 0) -> np.ndarray:
    """The per-column F1 of :func:`f1_columns` on ``resamples`` bootstrap resamples of the test
    ``groups`` (subjects, drawn with replacement, as :func:`uf1_interval`) -> (B, A); the same
    ``seed`` draws the same subjects, so two systems' draws pair up for a margin."""
    y = np.asarray(y_true, bool)
    p = np.asarray(preds, bool).reshape(-1, *y.shape)  # (R, N, A)
    names, inverse = np.unique(np.asarray(groups), return_inverse=True)
    g, (r, _, a) = len(names), p.shape
    # per subject (G, R*A) counts; a resample's counts are the subjects' counts times how often drawn
    onehot = np.eye(g)[inverse]  # (N, G)
    counts = [np.einsum("ng,rna->gra", onehot, c).reshape(g, r * a) for c in (p & y, p & ~y, ~p & y)]
    rng = np.random.default_rng(seed)
    drawn = np.stack([np.bincount(rng.integers(0, g, g), minlength=g)
                      for _ in range(resamples)]).astype(float)  # (B, G) multiplicities
    tp, fp, fn = ((drawn @ c).reshape(resamples, r, a) for c in counts)  # (B, R, A) each
    return _f1_of(tp, fp, fn)


def percentile_interval(draws: np.ndarray) -> tuple[float, float]:
    """The 2.5 and 97.5 percentiles of bootstrap ``draws`` (NaN draws, where a figure was
    undefined in a resample, are left out)."""
    d = np.asarray(draws, float)
    d = d[np.isfinite(d)]
    if not len(d):
        return float("nan"), float("nan")
    return round(float(np.percentile(d, 2.5)), 4), round(float(np.percentile(d, 97.5)), 4)


def margin_interval(y_true: np.ndarray, preds_a: np.ndarray, preds_b: np.ndarray, groups: np.ndarray,
                    k: int, resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """How sure the UF1 margin of system A over system B is: a paired bootstrap over the test
    ``groups`` (subjects). ``preds_a`` and ``preds_b`` are (R, N) int predictions of R runs (seeds)
    on the same N samples; each resample draws subjects with replacement and scores the mean over
    runs of UF1(A) - UF1(B).

    Returns ``{"margin", "low", "high", "p_below_zero"}``: the margin on the full test set, the
    2.5 and 97.5 percentiles of the resampled margins, and the share of resamples where A is not
    above B."""
    y = np.asarray(y_true)
    a, b = np.atleast_2d(preds_a), np.atleast_2d(preds_b)  # (R, N) each
    if a.shape != b.shape or a.shape[1] != len(y):
        raise ValueError(f"predictions {a.shape} and {b.shape} must both be (runs, {len(y)})")

    def margin(idx: np.ndarray) -> float:
        runs = zip(a[:, idx], b[:, idx], strict=True)
        return float(np.mean([uf1(y[idx], pa, k) - uf1(y[idx], pb, k) for pa, pb in runs]))

    draws = np.array([margin(idx) for idx in _subject_resamples(groups, resamples, seed)])
    return {"margin": round(margin(np.arange(len(y))), 4), "low": round(float(np.percentile(draws, 2.5)), 4),
            "high": round(float(np.percentile(draws, 97.5)), 4),
            "p_below_zero": round(float(np.mean(draws <= 0)), 4)}


TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(8.0), 81))  # the temperature search grid


def nll(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean negative log-likelihood of (N,) int classes under (N, K) probabilities."""
    p = np.clip(np.asarray(probs, np.float64)[np.arange(len(y_true)), np.asarray(y_true)], 1e-12, 1.0)
    return float(-np.log(p).mean()) if len(p) else 0.0


def fit_temperature(y_true: np.ndarray, probs: np.ndarray) -> float:
    """The temperature in TEMPERATURES minimising the NLL of ``probs`` (N, K) for ``y_true`` (N,)."""
    losses = [nll(y_true, scaled(probs, t)) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def ece(y_true: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |accuracy - confidence| averaged over ``bins`` equal-width
    confidence bins, weighted by their share of the N samples."""
    probs = np.asarray(probs, np.float64)
    if not len(probs):
        return 0.0
    conf, pred = probs.max(1), probs.argmax(1)
    hit = (pred == np.asarray(y_true)).astype(float)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return float(sum(abs(hit[which == b].mean() - conf[which == b].mean()) * (which == b).mean()
                     for b in range(bins) if (which == b).any()))


def selective(y_true: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, k: int) -> dict:
    """Scores when samples whose top probability is below their threshold abstain: ``coverage``
    (fraction answered) and accuracy / UF1 / UAR over the answered ones. probs (N, K) calibrated,
    thresholds (N,) (one per sample: each fold has its own)."""
    probs = np.asarray(probs, np.float64)
    kept = probs.max(1) >= np.asarray(thresholds) if len(probs) else np.zeros(0, bool)
    y, pred = np.asarray(y_true)[kept], probs.argmax(1)[kept] if len(probs) else np.zeros(0, np.int64)
    return {"coverage": round(float(kept.mean()) if len(kept) else 0.0, 4), **scores(y, pred, k)}


def report(
    y_true: np.ndarray,
    probs: dict[str, np.ndarray],
    labels: tuple[str, ...],
    datasets: tuple[str, ...] | list[str],
    skipped: int = 0,
    subjects: tuple[str, ...] | list[str] | None = None,
) -> dict:
    """The metrics JSON: ensemble figures at the top level, each stream under "streams".

    ``probs`` maps stream name ('ensemble', 'apex', 'flow', 'ststnet') -> (N, K) probabilities.
    With the (N,) ``subjects`` every UF1, overall and per dataset, also gets its 95 % interval by
    resampling the subjects (``uf1_interval``: [low, high], see :func:`uf1_interval`).
    """
    k = len(labels)
    ds = np.asarray(datasets)
    groups = None if subjects is None else np.asarray(subjects)

    def with_interval(out: dict, pred: np.ndarray, keep: np.ndarray) -> dict:
        if groups is not None and keep.any():
            b = uf1_interval(y_true[keep], pred[keep], groups[keep], k)
            out["uf1_interval"] = [b["low"], b["high"]]
        return out

    def block(p: np.ndarray) -> dict:
        pred = p.argmax(1) if len(p) else np.zeros(0, np.int64)
        out = with_interval(scores(y_true, pred, k), pred, np.ones(len(pred), bool))
        out["confusion"] = confusion(y_true, pred, k).tolist()
        out["per_dataset"] = {str(d): with_interval(scores(y_true[ds == d], pred[ds == d], k), pred, ds == d)
                              for d in sorted(set(ds))}
        return out

    top = block(probs["ensemble"])
    result = {
        "accuracy": top["accuracy"],
        "uf1": top["uf1"],
        **({"uf1_interval": top["uf1_interval"]} if "uf1_interval" in top else {}),
        "uar": top["uar"],
        "n": top["n"],
        "skipped": int(skipped),
        "labels": list(labels),
        "confusion": top["confusion"],
        "per_dataset": top["per_dataset"],
        "streams": {
            name: {**block(p), "labels": list(labels)} for name, p in probs.items() if name != "ensemble"
        },
    }
    return result


def plot_confusion(
    cm: np.ndarray | list, labels: tuple[str, ...] | list[str], path: str | Path, title: str = ""
) -> Path:
    """Write a confusion-matrix PNG (rows = truth, row-normalised colours, counts printed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels)), dpi=100)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                color="white" if norm[i, j] > 0.5 else "black",
                fontsize=9,
            )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
