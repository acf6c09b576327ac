"""Evaluation protocols: how samples are split into train and test folds.

``loso`` (leave one subject out) and ``holdout`` (a subject-disjoint split) never put a subject on
both sides. ``random`` is the seed's sample-level random split: the same person appears in train
and test, which inflates scores; it exists only to measure that inflation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Fold:
    """One train/test split of sample positions."""

    name: str  # e.g. the held-out subject
    train: np.ndarray  # (Ntr,) int64 sample positions
    test: np.ndarray  # (Nte,) int64 sample positions


def loso(subjects: tuple[str, ...], seed: int = 0) -> list[Fold]:
    """One fold per subject: that subject's samples are the test set."""
    subj = np.asarray(subjects)
    return [Fold(s, np.flatnonzero(subj != s), np.flatnonzero(subj == s)) for s in sorted(set(subjects))]


def holdout(subjects: tuple[str, ...], seed: int = 0, test_fraction: float = 0.2) -> list[Fold]:
    """One subject-disjoint split: about ``test_fraction`` of the subjects are held out."""
    names = sorted(set(subjects))
    rng = np.random.default_rng(seed)
    n_test = max(1, round(len(names) * test_fraction))
    held = set(rng.permutation(names)[:n_test].tolist())
    is_test = np.array([s in held for s in subjects])
    return [Fold("holdout", np.flatnonzero(~is_test), np.flatnonzero(is_test))]


def random_split(subjects: tuple[str, ...], seed: int = 0, test_fraction: float = 0.2) -> list[Fold]:
    """The seed's protocol: a sample-level random split (subjects leak into both sides)."""
    perm = np.random.default_rng(seed).permutation(len(subjects))
    n_test = max(1, round(len(subjects) * test_fraction))
    return [Fold("random", np.sort(perm[n_test:]), np.sort(perm[:n_test]))]


def cross_dataset(subjects: tuple[str, ...], seed: int = 0) -> list[Fold]:
    """One fold per source dataset: train on every other dataset, test on that one (subjects are
    named ``dataset/subject``, as :func:`microlens.science.data.load_dataset` prefixes them)."""
    source = np.asarray([s.split("/", 1)[0] for s in subjects])
    names = sorted(set(source.tolist()))
    return [Fold(d, np.flatnonzero(source != d), np.flatnonzero(source == d)) for d in names]


PROTOCOLS: dict[str, Callable[..., list[Fold]]] = {
    "loso": loso,
    "cross_dataset": cross_dataset,
    "holdout": holdout,
    "random": random_split,
}

# protocols whose folds never share a subject between train and test
SUBJECT_DISJOINT = ("loso", "holdout", "cross_dataset")


def group_kfold(subjects: tuple[str, ...], k: int, seed: int = 0) -> list[Fold]:
    """Subject-disjoint k-fold, used for inner cross-validation on training subjects only."""
    names = np.random.default_rng(seed).permutation(sorted(set(subjects)))
    subj = np.asarray(subjects)
    folds = []
    for i in range(min(k, len(names))):
        held = set(names[i::k].tolist())
        is_test = np.array([s in held for s in subj])
        folds.append(Fold(f"inner{i}", np.flatnonzero(~is_test), np.flatnonzero(is_test)))
    return folds


def run_folds(job: Callable[[Fold], Any], folds: list[Fold], workers: int) -> Iterator[Any]:
    """``job(fold)`` for every fold, in ``workers`` forked processes when there are several (results in
    the order they finish), else one after another in this process."""
    if workers > 1 and len(folds) > 1:
        with get_context("fork").Pool(min(workers, len(folds))) as pool:
            yield from pool.imap_unordered(job, folds)
    else:
        for fold in folds:
            yield job(fold)
