"""Scores as in MEGC: accuracy, UF1 (macro F1) and UAR (mean per-class recall) over pooled test
predictions, the confusion matrix, and its plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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


def report(
    y_true: np.ndarray,
    probs: dict[str, np.ndarray],
    labels: tuple[str, ...],
    datasets: tuple[str, ...] | list[str],
    skipped: int = 0,
) -> dict:
    """The metrics JSON: ensemble figures at the top level, each stream under "streams".

    ``probs`` maps stream name ('ensemble', 'apex', 'flow', 'ststnet') -> (N, K) probabilities.
    """
    k = len(labels)
    ds = np.asarray(datasets)

    def block(p: np.ndarray) -> dict:
        pred = p.argmax(1) if len(p) else np.zeros(0, np.int64)
        out = scores(y_true, pred, k)
        out["confusion"] = confusion(y_true, pred, k).tolist()
        out["per_dataset"] = {str(d): scores(y_true[ds == d], pred[ds == d], k) for d in sorted(set(ds))}
        return out

    top = block(probs["ensemble"])
    result = {
        "accuracy": top["accuracy"],
        "uf1": top["uf1"],
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
