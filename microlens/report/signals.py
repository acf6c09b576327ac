"""The signals behind the spotted events, for a reviewer: why was this flagged?

Two per-frame series go into the report (``Report.signals``, JSON ``signals``), downsampled so that
a long video stays small:

* ``motion``: the expression strength the motion spotter thresholds (:func:`microlens.spot.spotting.strength`:
  per-region facial motion with head motion removed, against the neutral baseline, in robust z units;
  blinks and talking suppressed), taken at each frame; an interval needs a peak above
  ``SpotOptions.peak_z`` (``threshold``);
* ``prior``: what the expression prior (FER2013) reads on the face: the probability of the most
  likely of the classes whose readings start an interval (:data:`microlens.spot.priorspot.CUE_CLASSES`),
  with that class (``prior_class``, an index into ``prior_labels``); an interval needs
  ``SpotOptions.prior_high`` on ``prior_count`` readings in a row.

Each point covers ``frames_per_point`` consecutive frames and keeps their maximum (so a brief peak
survives the downsampling); a point without a face (or without a reading) is null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from microlens.spot.intervals import segments

MAX_POINTS = 3000  # a longer video gets several frames per point


@dataclass(frozen=True)
class Signals:
    """Downsampled per-frame series of one analysis (see the module's docstring)."""

    times: tuple[float, ...]  # (P,) seconds: the first frame of each point
    motion: tuple[float | None, ...]  # (P,) robust z, None where no face was measured
    prior: tuple[float | None, ...]  # (P,) probability, None where the prior read no face
    prior_class: tuple[int | None, ...]  # (P,) index into prior_labels, None with prior
    prior_labels: tuple[str, ...]  # the classes whose readings start an interval, report vocabulary
    threshold: float  # SpotOptions.peak_z: the motion level a peak must pass
    prior_high: float  # SpotOptions.prior_high: the prior level that starts an interval
    frames_per_point: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON form."""
        def r(v: float | None, nd: int) -> float | None:
            return None if v is None else round(float(v), nd)

        return {"frames_per_point": self.frames_per_point, "threshold": round(self.threshold, 3),
                "prior_high": round(self.prior_high, 3), "prior_labels": list(self.prior_labels),
                "times": [round(t, 3) for t in self.times], "motion": [r(v, 2) for v in self.motion],
                "prior": [r(v, 3) for v in self.prior], "prior_class": list(self.prior_class)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Signals:
        """The inverse of :meth:`to_dict`."""
        return Signals(tuple(d["times"]), tuple(d["motion"]), tuple(d["prior"]), tuple(d["prior_class"]),
                       tuple(d["prior_labels"]), float(d["threshold"]), float(d["prior_high"]),
                       int(d.get("frames_per_point", 1)))


def motion_strength(times: np.ndarray, motion: np.ndarray, options: Any,
                    neutral: np.ndarray | None = None, expressive: np.ndarray | None = None) -> np.ndarray:
    """(T,) the spotter's expression strength at each frame (robust z; NaN without a face or in a
    face segment too short to spot), from the same per-segment computation as
    :func:`microlens.spot.spotting.spot_talking` (frame ``times`` (T,), ``motion`` (T, F), the optional
    per-frame ``neutral`` and ``expressive`` (T,) of the prior)."""
    from microlens.spot.spotting import strength

    out = np.full(len(times), np.nan)
    for lo, hi in segments(np.all(np.isfinite(motion), axis=1)):
        t = times[lo:hi]
        if len(t) < 3 or t[-1] - t[0] < 0.5:
            continue
        gs = strength(motion[lo:hi], t, options, None if neutral is None else neutral[lo:hi],
                      None if expressive is None else expressive[lo:hi])  # (G, 3)
        out[lo:hi] = np.interp(t, gs[:, 0], gs[:, 1])
    return out


def _pool(x: np.ndarray, k: int) -> list[float | None]:
    """Max of each run of ``k`` values of ``x`` (T,), None where a run has no finite value."""
    out: list[float | None] = []
    for a in range(0, len(x), k):
        run = x[a:a + k]
        ok = np.isfinite(run)
        out.append(float(run[ok].max()) if ok.any() else None)
    return out


def build(times: np.ndarray, motion: np.ndarray, options: Any, neutral: np.ndarray | None,
          expressive: np.ndarray | None, probs: np.ndarray, labels: tuple[str, ...]) -> Signals:
    """The report's :class:`Signals` from the tracking pass: frame ``times`` (T,), region ``motion``
    (T, F), the spotting ``options`` (SpotOptions), the prior's ``neutral`` / ``expressive`` (T,)
    (None when the baseline does not use them) and its probabilities ``probs`` (T, 7) in FER2013
    order with NaN rows where no face was scored, named ``labels`` (7,) in the report's vocabulary."""
    from microlens.recognize.expression import FER_CLASSES
    from microlens.spot.priorspot import CUE_CLASSES

    times = np.asarray(times, np.float64)
    k = max(1, -(-len(times) // MAX_POINTS))  # frames per point
    # float32 motion as it is (no (T, F) float64 copy): the grid interpolation widens it exactly
    z = motion_strength(times, np.asarray(motion), options, neutral, expressive)
    cols = [FER_CLASSES.index(c) for c in CUE_CLASSES]
    cue = np.asarray(probs)[:, cols].astype(np.float64)  # (T, K)
    read = np.all(np.isfinite(cue), axis=1)  # (T,)
    filled = np.where(read[:, None], cue, -1.0)  # (T, K)
    best = np.where(read, filled.max(axis=1), np.nan)  # (T,)
    which = filled.argmax(axis=1)  # (T,)
    prior = _pool(best, k)
    classes: list[int | None] = []
    for a in range(0, len(times), k):
        run = best[a:a + k]
        classes.append(int(which[a + int(np.nanargmax(run))]) if np.isfinite(run).any() else None)
    return Signals(tuple(float(t) for t in times[::k]), tuple(_pool(z, k)), tuple(prior), tuple(classes),
                   tuple(labels[c] for c in cols), float(options.peak_z), float(options.prior_high), k)


__all__ = ["MAX_POINTS", "Signals", "build", "motion_strength"]
