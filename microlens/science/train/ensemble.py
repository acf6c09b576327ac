"""The two-stream ensemble's weight and calibration, fitted on out-of-fold predictions of training
subjects only, and how the calibration and abstention did on the held-out ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from microlens.recognize.recognizer import scaled
from microlens.science.metrics import ece, fit_temperature, nll, selective, uf1

WEIGHT_GRID = tuple(round(w, 1) for w in np.linspace(0, 1, 11))  # apex weight candidates


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
