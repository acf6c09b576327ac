"""Stage 3, spotting: find expression intervals (onset, apex, offset) from facial motion over time.

Method (all parameters in seconds, so results do not depend on the frame rate):

1. :class:`~microlens.spot.motion.MotionMeter` (module :mod:`microlens.spot.motion`) turns each aligned face
   crop into per-region displacements since the start, in crop pixels, with head motion removed
   (brows, glabella, eyes, nose, cheeks, mouth corners, lips, chin).
2. :func:`spot` resamples those trajectories on a uniform time grid, subtracts a running-median
   baseline (``baseline_s``; when the caller gives each frame's probability of a neutral face, the
   median of the frames at rest, so an expression that fills most of the window is not taken for
   the neutral face), scales each region by its robust noise (MAD), suppresses the brow
   regions during blinks (eye regions moving much more than the brows) and the mouth regions while
   the jaw oscillates (talking), takes the strongest region per instant, and cuts intervals around
   peaks above ``peak_z``: onset and offset are where the signal falls back to ``edge_fraction``
   of the peak and then down the slope (never below ``edge_z``). Intervals of at most MICRO_MAX_S
   are "micro", longer ones "macro".

:class:`BaselineMeter` and :func:`spot_baseline` (module :mod:`microlens.spot.baseline`) are the simple
frame-difference spotter the benchmark compares against; this module re-exports them, the motion
meter's names and :class:`~microlens.spot.intervals.Interval`, so callers import from one place.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from microlens.errors import UsageError
from microlens.spot.intervals import MICRO_MAX_S, Interval, check_series, segments
from microlens.spot.motion import (
    BROWS,
    EXPRESSIVE,
    EYES,
    JAW,
    MOUTH,
    N_FEATURES,
    REGIONS,
)
from microlens.spot.options import SpotOptions

GRID_RATE = 50.0  # Hz, the uniform time grid spot() works on



def _interp_columns(at: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """(len(at), F) float64: each column of ``fp`` (N, F) interpolated from ``xp`` (N,) at ``at``,
    filled column by column (no list of columns beside the result: a long video's grid is large)."""
    out = np.empty((len(at), fp.shape[1]))
    for j in range(fp.shape[1]):
        out[:, j] = np.interp(at, xp, fp[:, j])
    return out


# A level of (G, F) samples as knots (values, step): the (K, F) values at every step-th sample,
# interpolated in between and held after the last; step 0: one (1, F) row for every sample.
Knots = tuple[np.ndarray, int]
_ROWS = 4096  # decimated samples per nanmedian call (its copies of the windows stay small)


def _subtract(x: np.ndarray, level: Knots) -> None:
    """``x`` (G, F) minus the ``level`` (:data:`Knots`), in place, column by column: no (G, F)
    array of the level (a long video's grid is large)."""
    values, step = level
    if step == 0:
        x -= values[0]
        return
    gi = np.arange(len(x))
    for j in range(x.shape[1]):
        x[:, j] -= np.interp(gi, gi[::step], values[:, j])


def _running_median(x: np.ndarray, n: int) -> Knots:
    """Running median of (G, F) along axis 0 over ``n`` samples (whole-run median if shorter)."""
    if len(x) <= n:
        return np.median(x, axis=0)[None], 0
    n = n | 1
    step = max(1, n // 25)  # median on a decimated grid, then interpolate: fast for long windows
    return ndimage.median_filter(x[::step], size=(max(3, (n // step) | 1), 1), mode="nearest"), step


def _baseline(x: np.ndarray, n: int, rest: np.ndarray | None, min_rest: float,
              allow: np.ndarray | None = None) -> Knots:
    """The neutral level of (G, F) on the grid: the running median over ``n`` samples of the frames
    at rest (``rest`` (G,) bool) where the window holds at least ``min_rest`` of them and is centred
    on an ``allow`` sample ((G,) bool, default all), elsewhere (and when ``rest`` is None) the running
    median of all samples (:func:`_running_median`)."""
    plain = _running_median(x, n)
    if rest is None or not rest.any():
        return plain
    if allow is None:
        allow = np.ones(len(x), bool)
    if len(x) <= n:  # one window: the whole segment
        if rest.sum() < min_rest or not allow.any():
            return plain
        return np.median(x[rest], axis=0)[None], 0
    n = n | 1
    step = max(1, n // 25)
    half = max(1, (n // step) // 2)
    xs = np.where(rest[::step, None], x[::step], np.nan)  # (Gs, F), NaN where not at rest
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(xs, ((half, half), (0, 0)), constant_values=np.nan), 2 * half + 1, axis=0)  # (Gs, F, W)
    count = np.isfinite(windows[:, 0, :]).sum(axis=1) * step  # (Gs,) rest samples per window
    enough = (count >= min_rest) & allow[::step]
    masked = np.zeros_like(xs)
    rows = np.flatnonzero(enough)  # every such window holds a rest sample (min_rest > 0): no all-NaN median
    for a in range(0, len(rows), _ROWS):
        masked[rows[a:a + _ROWS]] = np.nanmedian(windows[rows[a:a + _ROWS]], axis=2)
    # plain's knots are on the same decimated grid (same n and step): (Gs, F)
    return np.where(enough[:, None], masked, plain[0]), step


def _mad(dev: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """(F,) median absolute deviation of each column of ``dev`` (G, F), of its ``rows`` (G,) bool
    only when given; column by column, so that no (G, F) temporaries are made."""
    out = np.empty(dev.shape[1])
    for j in range(dev.shape[1]):
        col = dev[:, j] if rows is None else dev[rows, j]
        out[j] = np.median(np.abs(col - np.median(col)))
    return out


def _largest(d: np.ndarray, regions: list[int], s: np.ndarray | None = None,
             off: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """(G,) the largest motion of the ``regions`` (indices into R) at each sample of ``d`` (G, R, 2):
    in crop pixels, or in robust z with the noise scale ``s`` (R, 2); a region of ``off`` counts 0
    where its (G,) bool mask is on. Region by region: no (G, R) array (a long video's grid is large)."""
    out: np.ndarray | None = None
    for i in regions:
        dx, dy = (d[:, i, 0], d[:, i, 1]) if s is None else (d[:, i, 0] / s[i, 0], d[:, i, 1] / s[i, 1])
        v = np.hypot(dx, dy)
        if off and i in off:
            v[off[i]] = 0.0
        out = v if out is None else np.maximum(out, v, out=out)
    assert out is not None, "no regions"
    return out


def _mask_runs(mask: np.ndarray, pad: int) -> np.ndarray:
    """Widen True runs of a (G,) mask by ``pad`` samples on each side."""
    if pad <= 0 or not mask.any():
        return mask
    return ndimage.binary_dilation(mask, iterations=pad)


def _talking(jaw: np.ndarray, o: SpotOptions) -> np.ndarray:
    """(G,) bool: spans where the jaw signal (G,) crop px oscillates (talking). The swing size is
    absolute (talk_px): a noise scale measured on a clip full of speech would hide the speech."""
    prom = o.talk_px
    up, _ = signal.find_peaks(jaw, prominence=prom)
    down, _ = signal.find_peaks(-jaw, prominence=prom)
    ext = np.sort(np.concatenate([up, down]))
    mask = np.zeros(len(jaw), bool)
    if len(ext) < o.talk_swings:
        return mask
    gap = o.talk_gap_s * GRID_RATE
    start = 0
    for i in range(1, len(ext) + 1):
        if i == len(ext) or ext[i] - ext[i - 1] > gap:
            if i - start >= o.talk_swings:
                mask[ext[start]:ext[i - 1] + 1] = True
            start = i
    return _mask_runs(mask, int(round(o.talk_pad_s * GRID_RATE)))


def _rest(grid: np.ndarray, times: np.ndarray, neutral: np.ndarray | None,
          o: SpotOptions) -> np.ndarray | None:
    """(G,) bool frames at rest on the grid, from per-frame neutral probabilities (T,) (NaN: not
    measured; interpolated between measured frames); None without any measurement."""
    if neutral is None:
        return None
    ok = np.isfinite(neutral)
    if not ok.any():
        return None
    return np.interp(grid, times[ok], neutral[ok]) >= o.rest_prob


def _expressive(grid: np.ndarray, times: np.ndarray, expressive: np.ndarray | None) -> np.ndarray | None:
    """(G,) per-frame ``expressive`` (T,) in {0, 1} on the grid (NaN: not measured; interpolated
    between measured frames); None without any measurement."""
    if expressive is None:
        return None
    ok = np.isfinite(expressive)
    return np.interp(grid, times[ok], expressive[ok]) if ok.any() else None


def strength(motion: np.ndarray, times: np.ndarray, options: SpotOptions | None = None,
             neutral: np.ndarray | None = None, expressive: np.ndarray | None = None) -> np.ndarray:
    """The combined expression strength on the uniform grid of one face segment.

    ``motion`` (T, N_FEATURES) finite, ``times`` (T,) increasing seconds, ``neutral`` (T,) optional
    probability that each frame's face is neutral (NaN: not measured), which puts the baseline on
    the frames at rest, and ``expressive`` (T,) optional 1 where the face shows an expression, 0
    where not (NaN: not measured), which limits that to where expressions fill at least
    ``rest_expressive`` of the baseline window. Returns (G, 3) rows of (grid time, robust z strength
    with head motion, blinks and talking suppressed, 1.0 where the person talks else 0.0).
    """
    o = options or SpotOptions()
    grid = np.arange(times[0], times[-1] + 1e-9, 1.0 / GRID_RATE)  # (G,)
    x = _interp_columns(grid, times, motion)  # (G, F)
    rest, min_rest = _rest(grid, times, neutral, o), o.rest_min_s * GRID_RATE
    n = int(round(o.baseline_s * GRID_RATE))
    e = _expressive(grid, times, expressive)  # (G,) or None
    allow = None  # (G,) where the plain median breaks down: expressions fill enough of the window
    if e is not None:
        share = e.mean() if len(e) <= n else ndimage.uniform_filter1d(e, n | 1, mode="nearest")
        allow = np.broadcast_to(share >= o.rest_expressive, e.shape)
    dev = x  # (G, F) the motion minus its baseline, in place (a long video's grid is large)
    _subtract(dev, _baseline(x, n, rest, min_rest, allow))
    # robust noise scale (MAD), at rest when the rest frames are known and expressions fill at least
    # rest_expressive of the segment: such an expression would otherwise be counted as noise
    at_rest = rest is not None and rest.sum() >= min_rest and (
        e is None or float(e.mean()) >= o.rest_expressive)
    sig = np.maximum(1.4826 * _mad(dev, rest if at_rest else None), o.noise_floor_px)  # (F,)
    r = len(REGIONS)
    d = dev.reshape(len(grid), r, 2)
    s = sig.reshape(r, 2)
    idx = {n: i for i, n in enumerate(REGIONS)}
    eyes, brows = [idx[e] for e in EYES], [idx[b] for b in BROWS]
    # a blink moves the eye regions much more than the brows (a brow raise moves both alike)
    blink = (_largest(d, eyes) > o.blink_ratio * _largest(d, brows)) & (_largest(d, eyes, s) > o.peak_z)
    blink = _mask_runs(blink, int(round(o.blink_pad_s * GRID_RATE)))
    jaw_ch = [2 * idx[j] + 1 for j in JAW]  # vertical jaw motion
    jaw = dev[:, jaw_ch].mean(axis=1)
    talk = _talking(ndimage.gaussian_filter1d(jaw, 0.02 * GRID_RATE), o)
    # the strongest region, the brows at 0 during blinks and the mouth while the person talks
    off = {i: blink for i in brows} | {idx[m]: talk for m in MOUTH}
    strength = _largest(d, [idx[e] for e in EXPRESSIVE], s, off)
    del x, dev, d  # (G, F): no longer needed
    if o.smooth_s > 0:
        strength = ndimage.gaussian_filter1d(strength, o.smooth_s * GRID_RATE)
    return np.stack([grid, strength, talk.astype(np.float64)], axis=1)


def _cut(grid: np.ndarray, s: np.ndarray, threshold: float, fraction: float, floor: float,
         merge_gap: float) -> list[tuple[float, float, float, float]]:
    """Intervals (onset_s, apex_s, offset_s, peak) from s (G,): each run above ``threshold`` is
    widened to where s falls back to max(floor, fraction * its peak), then further down the slope
    while s keeps decreasing and stays above ``floor``; overlapping ones merge."""
    spans: list[list[float]] = []
    for a0, b0 in segments(s > threshold):
        p = a0 + int(np.argmax(s[a0:b0]))
        level = max(floor, fraction * float(s[p]))
        a, b = a0, b0 - 1
        while a > 0 and s[a - 1] > level:
            a -= 1
        while a > 0 and floor < s[a - 1] < s[a]:  # then down the slope to the floor
            a -= 1
        while b < len(s) - 1 and s[b + 1] > level:
            b += 1
        while b < len(s) - 1 and floor < s[b + 1] < s[b]:
            b += 1
        spans.append([grid[a], grid[p], grid[b], float(s[p])])
    merged: list[list[float]] = []
    for sp in spans:
        if merged and sp[0] - merged[-1][2] <= merge_gap:
            m = merged[-1]
            if sp[3] > m[3]:
                m[1], m[3] = sp[1], sp[3]
            m[2] = max(m[2], sp[2])
        else:
            merged.append(sp)
    return [(a, p, b, v) for a, p, b, v in merged]


def _intervals(times: np.ndarray, lo: int, spans: list[tuple[float, float, float, float]],
               o: SpotOptions, grid: np.ndarray, talk: np.ndarray) -> list[Interval]:
    """Snap grid spans to frame indices/times of the segment starting at row ``lo``; an interval is
    marked talking when the talking mask ``talk`` (G,) bool on ``grid`` (G,) is on within
    ``talk_gap_s`` of it (a pause between words is still speech)."""
    out = []
    for a, p, b, v in spans:
        if not o.min_duration_s <= b - a <= o.max_duration_s:
            continue
        ia, ip, ib = (lo + int(np.argmin(np.abs(times - t))) for t in (a, p, b))
        if ia == lo:
            # no neutral frame was seen before this onset: the face segment starts inside it (and
            # the tracker and the key frame are still settling), so the onset cannot be observed
            continue
        ta, tp, tb = (float(times[i - lo]) for i in (ia, ip, ib))
        kind = "micro" if tb - ta <= MICRO_MAX_S else "macro"
        near = (grid >= a - o.talk_gap_s) & (grid <= b + o.talk_gap_s)
        out.append(Interval(ia, ip, ib, ta, tp, tb, kind, round(v, 3), bool(talk[near].any())))
    return out


def spot(times: np.ndarray, motion: np.ndarray, options: SpotOptions | None = None,
         neutral: np.ndarray | None = None, expressive: np.ndarray | None = None) -> list[Interval]:
    """Intervals from frame times (T,) seconds and motion features (T, R) (NaN rows = no face).

    ``motion`` comes from :class:`MotionMeter` (R = N_FEATURES). Frame indices in the intervals
    are row indices. A NaN row (no face) ends any interval; segments shorter than 0.5 s are skipped, and
    so is an interval that starts on a segment's first frame (its onset was not observed).
    ``neutral`` (T,), optional: each frame's probability of a neutral face (NaN where not measured),
    from the expression prior; the baseline is then the median of the frames at rest (SpotOptions
    ``rest_prob``, ``rest_min_s``). ``expressive`` (T,), optional: 1 where the prior reads an
    expression on the face, 0 where not (NaN: not measured); the rest frames are then used only
    where expressions fill at least ``rest_expressive`` of the baseline window.
    """
    return spot_talking(times, motion, options, neutral, expressive)[0]


def spot_talking(times: np.ndarray, motion: np.ndarray, options: SpotOptions | None = None,
                 neutral: np.ndarray | None = None, expressive: np.ndarray | None = None,
                 cues: np.ndarray | None = None) -> tuple[list[Interval], tuple[tuple[float, float], ...]]:
    """:func:`spot`, and the time spans (start_s, end_s) in which the person talks (the jaw swings
    of SpotOptions ``talk_px``, ``talk_swings``, ``talk_gap_s``, widened by ``talk_pad_s``), from
    the same pass. ``cues`` (T, K), optional: the expression prior's probabilities of the classes
    that start an interval (NaN rows: not read; :func:`microlens.spot.priorspot.combine`)."""
    from microlens.spot.priorspot import combine

    o = options or SpotOptions()
    given = motion
    times, motion = check_series(times, motion, N_FEATURES)
    if isinstance(given, np.ndarray) and given.dtype == np.float32:
        motion = given  # the motion meter's features: the grid interpolation widens them exactly
    for name, arr in (("neutral", neutral), ("expressive", expressive)):
        if arr is not None and np.shape(arr) != times.shape:
            raise UsageError(f"{name} must have one value per frame {times.shape}, got {np.shape(arr)}")
    if cues is not None and (np.ndim(cues) != 2 or len(cues) != len(times)):
        raise UsageError(f"cues must be (T, K) with T = {len(times)} frames, got {np.shape(cues)}")
    neutral = None if neutral is None else np.asarray(neutral, np.float64)
    expressive = None if expressive is None else np.asarray(expressive, np.float64)
    out: list[Interval] = []
    talking: list[tuple[float, float]] = []
    for lo, hi in segments(np.all(np.isfinite(motion), axis=1)):
        t = times[lo:hi]
        if len(t) < 3 or t[-1] - t[0] < 0.5:
            continue
        gs = strength(motion[lo:hi], t, o, None if neutral is None else neutral[lo:hi],
                      None if expressive is None else expressive[lo:hi])  # (G, 3)
        spans = _cut(gs[:, 0], gs[:, 1], o.peak_z, o.edge_fraction, o.edge_z, o.merge_gap_s)
        talk = gs[:, 2] > 0.5  # (G,)
        found = _intervals(t, lo, spans, o, gs[:, 0], talk)
        if cues is not None and o.prior_count > 0:
            found = combine(found, t, lo, np.asarray(cues[lo:hi], np.float64), gs, o.talk_gap_s,
                            o.prior_high, o.prior_low, int(o.prior_count), int(o.prior_dip))
        out.extend(found)
        talking.extend((float(gs[a, 0]), float(gs[b - 1, 0]) + 1.0 / GRID_RATE) for a, b in segments(talk))
    return out, tuple(talking)


__all__ = ["GRID_RATE", "spot", "spot_talking", "strength"]
