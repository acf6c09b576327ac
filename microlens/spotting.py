"""Stage 3, spotting: find expression intervals (onset, apex, offset) from facial motion over time.

OWNER: spotting helper. Interface is fixed; bodies to implement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microlens.face import FaceFrame
from microlens.options import option

MICRO_MAX_S = 0.5  # MEGC convention: an interval of at most 0.5 s is a micro-expression


@dataclass(frozen=True)
class SpotOptions:
    """Spotting parameters, in seconds so results do not depend on the frame rate."""

    # placeholder fields; the spotting helper defines the real ones
    min_duration_s: float = option(0.1, "shortest interval kept, seconds")
    max_duration_s: float = option(4.0, "longest interval kept, seconds")


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


class MotionMeter:
    """Streaming per-frame motion features from aligned face crops (head motion and blinks removed)."""

    def __init__(self, options: SpotOptions | None = None) -> None:
        raise NotImplementedError

    def __call__(self, face: FaceFrame | None) -> np.ndarray:
        """Feature vector (R,) float32 for this frame; NaN where there is no face."""
        raise NotImplementedError


def spot(times: np.ndarray, motion: np.ndarray, options: SpotOptions | None = None) -> list[Interval]:
    """Intervals from frame times (T,) seconds and motion features (T, R) (NaN rows = no face)."""
    raise NotImplementedError
