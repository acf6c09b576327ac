"""Spotted expression intervals: the :class:`Interval` type both spotters return and the checks and
run finding they share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microlens.errors import UsageError

MICRO_MAX_S = 0.5  # MEGC convention: an interval of at most 0.5 s is a micro-expression


@dataclass(frozen=True)
class Interval:
    """One spotted expression."""

    onset: int  # frame index
    apex: int  # frame index
    offset: int  # frame index
    onset_s: float
    apex_s: float
    offset_s: float
    kind: str  # "micro" (offset_s - onset_s <= MICRO_MAX_S) or "macro"
    score: float  # peak motion strength, arbitrary units, larger is stronger
    # the person was talking during it or within SpotOptions.talk_gap_s of it (jaw swings)
    talking: bool = False


def segments(valid: np.ndarray) -> list[tuple[int, int]]:
    """Runs [a, b) of True in a (T,) bool array."""
    d = np.diff(np.concatenate([[0], valid.astype(np.int8), [0]]))
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True)]


def check_series(times: np.ndarray, motion: np.ndarray, width: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Frame times (T,) and per-frame features (T, F) as float64, or a UsageError when their shapes
    disagree, F is not ``width`` (None: any) or the times are not finite and increasing."""
    times = np.asarray(times, np.float64)
    motion = np.asarray(motion, np.float64)
    if motion.ndim == 1:
        motion = motion[:, None]
    if times.ndim != 1 or motion.ndim != 2 or len(times) != len(motion):
        raise UsageError(f"spot: times (T,) and motion (T, F) disagree: {times.shape} vs {motion.shape}")
    if width is not None and motion.shape[1] != width:
        raise UsageError(f"spot: motion must have {width} features per frame, got {motion.shape[1]}")
    if not np.all(np.isfinite(times)) or (len(times) > 1 and np.any(np.diff(times) <= 0)):
        raise UsageError("spot: frame times must be finite and increasing")
    return times, motion
