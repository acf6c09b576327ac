"""The frame-difference baseline spotter the spotting benchmark compares against.

:class:`BaselineMeter` measures block-wise frame differences of the normalised gray face crop
against the frame ~``lag_s`` before; :func:`spot_baseline` thresholds them on robust z. No head
motion, blink or talking handling: the classic frame/feature-difference spotting feature.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields

import cv2
import numpy as np

from microlens.errors import UsageError
from microlens.face.track import FaceFrame
from microlens.options import option
from microlens.spot.intervals import MICRO_MAX_S, Interval, check_series, segments
from microlens.spot.motion import normalised_gray

BASELINE_GRID = 6  # the face crop is cut into BASELINE_GRID x BASELINE_GRID blocks


@dataclass(frozen=True)
class BaselineOptions:
    """The frame-difference baseline spotter's parameters, in seconds."""

    # the difference is taken against the frame this long before
    lag_s: float = option(0.2, "frame-difference lag, seconds")
    # a frame is active when its most changed block exceeds this many robust z units
    threshold: float = option(3.0, "activity threshold, robust z units")
    # active runs closer than this are merged
    merge_gap_s: float = option(0.3, "merge runs closer than this, seconds")
    # shortest interval kept
    min_duration_s: float = option(0.08, "shortest interval kept, seconds")

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise UsageError(f"baseline option {f.name} must be a non-negative number, got {v!r}")


class BaselineMeter:
    """Per-frame mean absolute difference of the normalised gray face crop against the frame
    ``lag_s`` before, in each of BASELINE_GRID^2 blocks (the classic frame/feature-difference
    spotting feature, with no head-motion or blink handling). Returns (BASELINE_GRID**2,) float32."""

    def __init__(self, options: BaselineOptions | None = None) -> None:
        self.options = options or BaselineOptions()
        self._past: deque[tuple[float, np.ndarray]] = deque()

    def __call__(self, face: FaceFrame | None) -> np.ndarray:
        """(BASELINE_GRID**2,) float32 block differences for this frame; NaN where there is no face."""
        n = BASELINE_GRID
        if face is None:
            self._past.clear()
            return np.full(n * n, np.nan, np.float32)
        g = normalised_gray(face.crop).astype(np.float32)
        t = float(face.time_s)
        self._past.append((t, g))
        while len(self._past) > 1 and self._past[1][0] <= t - self.options.lag_s:
            self._past.popleft()
        t0, g0 = self._past[0]
        if t - t0 < 0.5 * self.options.lag_s:
            return np.zeros(n * n, np.float32)
        d = cv2.resize(np.abs(g - g0), (n, n), interpolation=cv2.INTER_AREA)  # (n, n) block means
        return d.reshape(-1).astype(np.float32)


def spot_baseline(times: np.ndarray, diff: np.ndarray,
                  options: BaselineOptions | None = None) -> list[Interval]:
    """Baseline intervals from frame times (T,) and BaselineMeter values (T, B): the most changed
    block's robust z-score (per block median/MAD) above the threshold; runs are shifted back by
    half the lag (the difference lags the motion) and merged when close."""
    o = options or BaselineOptions()
    times, diff = check_series(times, diff, BASELINE_GRID**2)
    out: list[Interval] = []
    for lo, hi in segments(np.all(np.isfinite(diff), axis=1)):
        t, x = times[lo:hi], diff[lo:hi]
        if len(t) < 3:
            continue
        med = np.median(x, axis=0)
        mad = np.maximum(1.4826 * np.median(np.abs(x - med), axis=0), 1e-3)
        z = np.max((x - med) / mad, axis=1)  # (T,)
        runs: list[list[int]] = []
        for a, b in segments(z > o.threshold):
            if runs and t[a] - t[runs[-1][1] - 1] <= o.merge_gap_s:
                runs[-1][1] = b
            else:
                runs.append([a, b])
        for a, b in runs:
            ia = int(np.argmin(np.abs(t - (t[a] - o.lag_s / 2))))
            ib = int(np.argmin(np.abs(t - (t[b - 1] - o.lag_s / 2))))
            if t[ib] - t[ia] < o.min_duration_s:
                continue
            ip = a + int(np.argmax(z[a:b]))
            kind = "micro" if t[ib] - t[ia] <= MICRO_MAX_S else "macro"
            out.append(Interval(lo + ia, lo + ip, lo + ib, float(t[ia]), float(t[ip]), float(t[ib]),
                                kind, round(float(z[ip]), 3)))
    return out
