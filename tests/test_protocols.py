"""Protocols: LOSO and holdout never share a subject between train and test; random does."""

from __future__ import annotations

import numpy as np
import pytest

from microlens.science.train.protocols import PROTOCOLS, SUBJECT_DISJOINT, group_kfold

SUBJECTS = tuple(f"d/s{i % 7}" for i in range(60))


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_folds_partition(name):
    folds = PROTOCOLS[name](SUBJECTS, seed=1)
    assert folds
    for f in folds:
        assert len(np.intersect1d(f.train, f.test)) == 0
        assert len(f.train) + len(f.test) == len(SUBJECTS)


@pytest.mark.parametrize("name", SUBJECT_DISJOINT)
def test_no_subject_on_both_sides(name):
    subj = np.array(SUBJECTS)
    for f in PROTOCOLS[name](SUBJECTS, seed=3):
        assert not set(subj[f.train]) & set(subj[f.test]), f.name


def test_loso_tests_every_sample_once():
    folds = PROTOCOLS["loso"](SUBJECTS)
    assert len(folds) == 7
    assert np.array_equal(np.sort(np.concatenate([f.test for f in folds])), np.arange(len(SUBJECTS)))


def test_random_split_leaks_subjects():
    """The seed's random split is kept only to measure its inflation: it mixes subjects."""
    subj = np.array(SUBJECTS)
    (f,) = PROTOCOLS["random"](SUBJECTS, seed=0)
    assert set(subj[f.train]) & set(subj[f.test])


def test_inner_folds_are_subject_disjoint():
    subj = np.array(SUBJECTS)
    folds = group_kfold(SUBJECTS, 3, seed=0)
    assert len(folds) == 3
    for f in folds:
        assert not set(subj[f.train]) & set(subj[f.test])
