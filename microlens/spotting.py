"""Stage 3, spotting: find expression intervals (onset, apex, offset) from facial motion over time.

Method (all parameters in seconds, so results do not depend on the frame rate):

1. :class:`MotionMeter` turns each aligned face crop into a per-region *deformation*: the crop is
   reduced to a brightness-normalised gray image of WORK_SIZE px (lighting flicker cancels), dense
   optical flow (Farneback) is computed against a key frame that is renewed every ``key_s``
   seconds at a calm moment (so blinks are never frozen into it), a robust (Tukey-weighted)
   affine fitted to the flow over the whole face is subtracted (head translation, rotation, scale
   and crop jitter do not count), and the remaining flow is averaged in facial regions placed from
   the landmarks (brows, glabella, eyes, nose, cheeks, mouth corners, lips, chin). Chaining the
   key frames gives each region's displacement since the start, in crop pixels.
2. :func:`spot` resamples those trajectories on a uniform time grid, subtracts a running-median
   baseline (``baseline_s``), scales each region by its robust noise (MAD), suppresses the brow
   regions during blinks (eye regions moving much more than the brows) and the mouth regions while
   the jaw oscillates (talking), takes the strongest region per instant, and cuts intervals around
   peaks above ``peak_z``: onset and offset are where the signal falls back to ``edge_fraction``
   of the peak and then down the slope (never below ``edge_z``). Intervals of at most MICRO_MAX_S
   are "micro", longer ones "macro".

:class:`BaselineMeter` and :func:`spot_baseline` are the simple frame-difference spotter the
benchmark compares against.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields

import cv2
import numpy as np
from scipy import ndimage, signal

from microlens.errors import UsageError
from microlens.face import CROP_SIZE, FaceFrame
from microlens.options import option

MICRO_MAX_S = 0.5  # MEGC convention: an interval of at most 0.5 s is a micro-expression
WORK_SIZE = 112  # side of the gray image the flow is computed on (crop pixels / 2)
# Farneback: pyramid scale, levels, window, iterations, poly_n, poly_sigma, flags
_FARNEBACK = (0.5, 3, 11, 3, 5, 1.1, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)
GRID_RATE = 50.0  # Hz, the uniform time grid spot() works on
_BOX = 0.09  # side of a region's averaging box, fraction of the crop side

# Facial regions as mediapipe face_mesh (468-point) landmark indices; a region's centre is the mean
# of its points, shifted by the offset (fraction of the crop side). Image left/right, not subject's.
REGIONS: dict[str, tuple[tuple[int, ...], tuple[float, float]]] = {
    "brow_l": ((70, 63, 105), (0.0, -0.02)),
    "brow_r": ((300, 293, 334), (0.0, -0.02)),
    "brow_in_l": ((66, 107, 55), (0.0, -0.02)),
    "brow_in_r": ((296, 336, 285), (0.0, -0.02)),
    "glabella": ((9, 107, 336), (0.0, 0.0)),
    "eye_l": ((159, 145), (0.0, 0.0)),
    "eye_r": ((386, 374), (0.0, 0.0)),
    "nose": ((48, 278, 4), (0.0, -0.015)),
    "cheek_l": ((50, 205), (0.0, 0.0)),
    "cheek_r": ((280, 425), (0.0, 0.0)),
    "mouth_l": ((61,), (0.0, 0.0)),
    "mouth_r": ((291,), (0.0, 0.0)),
    "lip_up": ((0, 13), (0.0, 0.0)),
    "lip_low": ((14, 17), (0.0, 0.0)),
    "chin": ((18, 200), (0.0, 0.0)),
}
REGION_NAMES = tuple(REGIONS)
N_FEATURES = 2 * len(REGIONS)  # (dx, dy) per region, crop pixels
_EYES = ("eye_l", "eye_r")
_BROWS = ("brow_l", "brow_r", "brow_in_l", "brow_in_r", "glabella")
_JAW = ("lip_low", "chin")
_MOUTH = ("mouth_l", "mouth_r", "lip_up", "lip_low", "chin", "cheek_l", "cheek_r")
_EXPRESSIVE = tuple(r for r in REGIONS if r not in _EYES)

# Fallback region centres (fraction of the crop side) for crops without landmarks: the mean layout
# of an aligned frontal face (eyes level at ~0.4 of the height).
_DEFAULT_CENTRES: dict[str, tuple[float, float]] = {  # microlens.face framing (MEGC apex crops)
    "brow_l": (0.10, 0.09), "brow_r": (0.89, 0.08), "brow_in_l": (0.35, 0.09),
    "brow_in_r": (0.64, 0.09), "glabella": (0.49, 0.12), "eye_l": (0.24, 0.26),
    "eye_r": (0.76, 0.25), "nose": (0.49, 0.50), "cheek_l": (0.14, 0.54), "cheek_r": (0.86, 0.53),
    "mouth_l": (0.29, 0.76), "mouth_r": (0.71, 0.76), "lip_up": (0.50, 0.73),
    "lip_low": (0.50, 0.84), "chin": (0.50, 0.93),
}


@dataclass(frozen=True)
class SpotOptions:
    """Spotting parameters, in seconds so results do not depend on the frame rate."""

    # the optical-flow key frame is renewed this often; motion is chained across key frames
    key_s: float = option(0.5, "optical-flow key frame renewal period, seconds")
    # a key frame is only renewed when no region moved more than calm_px over this window
    calm_s: float = option(0.15, "window of the calm test before a key-frame renewal, seconds")
    # ... this many crop pixels (a displacement, not a time)
    calm_px: float = option(0.3, "largest region motion over calm_s for a key-frame renewal, crop px")
    # landmarks placing the regions are smoothed over this time constant
    landmark_smooth_s: float = option(0.5, "landmark smoothing time constant, seconds")
    # the neutral baseline of each region is the running median over this window
    baseline_s: float = option(10.0, "running-median baseline window, seconds")
    # the combined signal is smoothed by a Gaussian of this sigma
    smooth_s: float = option(0.03, "signal smoothing (Gaussian sigma), seconds")
    # a peak must reach this many robust noise units (MAD) above the baseline
    peak_z: float = option(6.0, "expression peak threshold, robust z units")
    # onset/offset: where the signal falls back to this fraction of the peak
    edge_fraction: float = option(0.5, "onset/offset level, fraction of the peak")
    # ... but never below this z level
    edge_z: float = option(3.0, "lowest onset/offset level, robust z units")
    # noise below this displacement (crop px) is not trusted (still, clean videos)
    noise_floor_px: float = option(0.04, "smallest noise scale, crop pixels")
    # blink: eye regions move this many times more than the brows; brows are then ignored
    blink_ratio: float = option(2.0, "eye/brow motion ratio that marks a blink")
    # the blink mask is widened by this much on each side
    blink_pad_s: float = option(0.1, "blink mask widening, seconds")
    # a jaw swing (lower lip and chin, up or down) counts when it is at least this large
    talk_px: float = option(1.5, "smallest jaw swing counted as talking, crop px")
    # talking: at least this many jaw swings, each within talk_gap_s of the previous one
    talk_swings: int = option(4, "jaw swings that make a talking span")
    # longest pause between jaw swings inside one talking span
    talk_gap_s: float = option(0.6, "longest gap between jaw swings while talking, seconds")
    # the talking mask is widened by this much on each side
    talk_pad_s: float = option(0.3, "talking mask widening, seconds")
    # intervals closer than this are merged
    merge_gap_s: float = option(0.06, "merge intervals closer than this, seconds")
    # shortest interval kept
    min_duration_s: float = option(0.08, "shortest interval kept, seconds")
    # longest interval kept (longer ones are drifts, not expressions)
    max_duration_s: float = option(6.0, "longest interval kept, seconds")

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                raise UsageError(f"spotting option {f.name} must be a finite number, got {v!r}")
            if v < 0 or (v == 0 and f.name not in ("smooth_s", "blink_pad_s", "talk_pad_s",
                                                   "merge_gap_s", "min_duration_s", "noise_floor_px")):
                raise UsageError(f"spotting option {f.name} must be positive, got {v!r}")
        if not 0 < self.edge_fraction < 1:
            raise UsageError(f"edge_fraction must be in (0, 1), got {self.edge_fraction}")
        if self.min_duration_s >= self.max_duration_s:
            raise UsageError("min_duration_s must be smaller than max_duration_s")
        if self.edge_z >= self.peak_z:
            raise UsageError("edge_z must be smaller than peak_z")


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


def _normalised_gray(crop: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB crop -> (WORK_SIZE, WORK_SIZE) uint8 gray with fixed mean and contrast."""
    g = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    g = cv2.resize(g, (WORK_SIZE, WORK_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    c = g[WORK_SIZE // 6: -WORK_SIZE // 6, WORK_SIZE // 6: -WORK_SIZE // 6]  # face centre
    mean, std = float(c.mean()), float(c.std()) + 1e-3
    return np.clip((g - mean) * (45.0 / std) + 128.0, 0, 255).astype(np.uint8)


def region_centres(landmarks: np.ndarray | None, size: int = CROP_SIZE) -> np.ndarray:
    """Region centres (R, 2) in pixels of a ``size`` crop from (468, 2) crop-pixel landmarks
    (mediapipe face_mesh order); the default aligned-face layout when landmarks are missing."""
    if landmarks is None or landmarks.ndim != 2 or landmarks.shape[0] < 468:
        return np.array([_DEFAULT_CENTRES[r] for r in REGIONS], np.float64) * size
    lm = np.asarray(landmarks, np.float64) * (size / CROP_SIZE)
    return np.array([lm[list(idx)].mean(axis=0) + np.array(off) * size
                     for idx, off in REGIONS.values()], np.float64)


def _affine_fit(pts: np.ndarray, vec: np.ndarray, iters: int = 4) -> np.ndarray:
    """Robust (Tukey IRLS) affine motion model: pts (N, 2), flow vec (N, 2) -> (3, 2) coefficients."""
    a = np.column_stack([pts, np.ones(len(pts))])  # (N, 3)
    w = np.ones(len(pts))
    coef = np.zeros((3, 2))
    for _ in range(iters):
        sw = np.sqrt(w)[:, None]
        coef = np.linalg.lstsq(a * sw, vec * sw, rcond=None)[0]
        r = np.linalg.norm(vec - a @ coef, axis=1)
        c = 4.685 * max(1.4826 * float(np.median(r)), 0.02)
        w = np.where(r < c, (1 - (r / c) ** 2) ** 2, 0.0)
        if w.sum() < 6:
            break
    return coef


class MotionMeter:
    """Streaming per-frame motion features from aligned face crops (head motion and blinks removed).

    Call it on every frame in order (``None`` where there is no face); each call returns the
    (N_FEATURES,) float32 vector of region displacements (dx, dy per region of REGION_NAMES, crop
    pixels, relative to the start of the current face segment), NaN where there is no face.
    """

    def __init__(self, options: SpotOptions | None = None) -> None:
        self.options = options or SpotOptions()
        self._ref: np.ndarray | None = None  # (WORK_SIZE, WORK_SIZE) uint8 key frame
        self._ref_t = 0.0
        self._ref_disp = np.zeros((len(REGIONS), 2))  # displacement at the key frame, work px
        self._centres: np.ndarray | None = None  # (R, 2) smoothed region centres, work px
        self._last_t = 0.0
        self._recent: deque[tuple[float, np.ndarray]] = deque()  # (time, local motion) since the key
        half = _BOX * WORK_SIZE / 2
        self._half = int(round(half))

    def _reset(self) -> None:
        self._ref = None
        self._centres = None
        self._recent.clear()
        self._ref_disp = np.zeros((len(REGIONS), 2))

    def __call__(self, face: FaceFrame | None) -> np.ndarray:
        """Feature vector (R,) float32 for this frame; NaN where there is no face."""
        if face is None or face.crop is None or face.crop.size == 0:
            self._reset()
            return np.full(N_FEATURES, np.nan, np.float32)
        gray = _normalised_gray(face.crop)
        scale = WORK_SIZE / face.crop.shape[1]
        centres = region_centres(face.landmarks, face.crop.shape[1]) * scale
        t = float(face.time_s)
        if self._ref is None:
            self._ref, self._ref_t, self._centres, self._last_t = gray, t, centres, t
            return np.zeros(N_FEATURES, np.float32)
        assert self._centres is not None
        a = 1.0 - math.exp(-max(t - self._last_t, 1e-3) / max(self.options.landmark_smooth_s, 1e-3))
        self._centres = self._centres + a * (centres - self._centres)
        self._last_t = t
        flow = cv2.calcOpticalFlowFarneback(self._ref, gray, None, *_FARNEBACK)  # type: ignore[call-overload]  # (WORK_SIZE, WORK_SIZE, 2)
        local = self._local(flow)  # (R, 2) work px since the key frame
        disp = self._ref_disp + local
        self._recent.append((t, local))
        while len(self._recent) > 1 and self._recent[1][0] <= t - self.options.calm_s:
            self._recent.popleft()
        t0, old = self._recent[0]
        moved = float(np.max(np.linalg.norm(local - old, axis=1))) / scale  # crop px over calm_s
        if (t - self._ref_t >= self.options.key_s and t - t0 >= 0.8 * self.options.calm_s
                and moved < self.options.calm_px):
            self._ref, self._ref_t, self._ref_disp = gray, t, disp
            self._recent.clear()
        return (disp.reshape(-1) / scale).astype(np.float32)

    def _local(self, flow: np.ndarray) -> np.ndarray:
        """Region mean flow minus the robust affine (head) motion: (R, 2) work pixels."""
        assert self._centres is not None
        c = self._centres
        x0, y0 = np.maximum(c.min(axis=0) - WORK_SIZE * 0.06, 0)
        x1, y1 = np.minimum(c.max(axis=0) + WORK_SIZE * 0.06, WORK_SIZE)
        n = 10
        box = flow[int(y0):int(math.ceil(y1)), int(x0):int(math.ceil(x1))]
        cells = cv2.resize(box, (n, n), interpolation=cv2.INTER_AREA).reshape(-1, 2)  # (n*n, 2)
        gx = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
        gy = y0 + (np.arange(n) + 0.5) * (y1 - y0) / n
        pts = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
        coef = _affine_fit(pts, cells.astype(np.float64))
        h = self._half
        out = np.empty((len(c), 2))
        for i, (cx, cy) in enumerate(c):
            xa, ya = int(round(cx)) - h, int(round(cy)) - h
            xa, ya = min(max(xa, 0), WORK_SIZE - 2 * h), min(max(ya, 0), WORK_SIZE - 2 * h)
            out[i] = flow[ya:ya + 2 * h, xa:xa + 2 * h].reshape(-1, 2).mean(axis=0)
        model = np.column_stack([c, np.ones(len(c))]) @ coef
        return out - model


def _segments(valid: np.ndarray) -> list[tuple[int, int]]:
    """Runs [a, b) of True in a (T,) bool array."""
    d = np.diff(np.concatenate([[0], valid.astype(np.int8), [0]]))
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True)]


def _running_median(x: np.ndarray, n: int) -> np.ndarray:
    """Running median of (G, F) along axis 0 over ``n`` samples (whole-run median if shorter)."""
    if len(x) <= n:
        return np.broadcast_to(np.median(x, axis=0), x.shape)
    n = n | 1
    step = max(1, n // 25)  # median on a decimated grid, then interpolate: fast for long windows
    xs = x[::step]
    med = ndimage.median_filter(xs, size=(max(3, (n // step) | 1), 1), mode="nearest")
    gi = np.arange(len(x))
    return np.stack([np.interp(gi, gi[::step], med[:, j]) for j in range(x.shape[1])], axis=1)


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


def strength(motion: np.ndarray, times: np.ndarray, options: SpotOptions | None = None) -> np.ndarray:
    """The combined expression strength on the uniform grid of one face segment.

    ``motion`` (T, N_FEATURES) finite, ``times`` (T,) increasing seconds. Returns (G, 2) rows of
    (grid time, robust z strength) with head motion, blinks and talking suppressed.
    """
    o = options or SpotOptions()
    grid = np.arange(times[0], times[-1] + 1e-9, 1.0 / GRID_RATE)  # (G,)
    x = np.stack([np.interp(grid, times, motion[:, j]) for j in range(motion.shape[1])], axis=1)
    dev = x - _running_median(x, int(round(o.baseline_s * GRID_RATE)))  # (G, F)
    sig = 1.4826 * np.median(np.abs(dev - np.median(dev, axis=0)), axis=0)
    sig = np.maximum(sig, o.noise_floor_px)  # (F,)
    r = len(REGIONS)
    d = dev.reshape(len(grid), r, 2)
    s = sig.reshape(r, 2)
    z = np.hypot(d[..., 0] / s[:, 0], d[..., 1] / s[:, 1])  # (G, R)
    px = np.hypot(d[..., 0], d[..., 1])  # (G, R) crop pixels
    idx = {n: i for i, n in enumerate(REGIONS)}
    brows = np.array([idx[b] for b in _BROWS])
    mouth = np.array([idx[m] for m in _MOUTH])
    # a blink moves the eye regions much more than the brows (a brow raise moves both alike)
    eye = np.max(px[:, [idx[e] for e in _EYES]], axis=1)
    eye_z = np.max(z[:, [idx[e] for e in _EYES]], axis=1)
    brow = np.max(px[:, [idx[b] for b in _BROWS]], axis=1)
    blink = (eye > o.blink_ratio * brow) & (eye_z > o.peak_z)
    blink = _mask_runs(blink, int(round(o.blink_pad_s * GRID_RATE)))
    z[np.ix_(blink, brows)] = 0.0
    jaw_ch = [2 * idx[j] + 1 for j in _JAW]  # vertical jaw motion
    jaw = dev[:, jaw_ch].mean(axis=1)
    talk = _talking(ndimage.gaussian_filter1d(jaw, 0.02 * GRID_RATE), o)
    z[np.ix_(talk, mouth)] = 0.0
    strength = np.max(z[:, [idx[e] for e in _EXPRESSIVE]], axis=1)
    if o.smooth_s > 0:
        strength = ndimage.gaussian_filter1d(strength, o.smooth_s * GRID_RATE)
    return np.stack([grid, strength], axis=1)


def _cut(grid: np.ndarray, s: np.ndarray, threshold: float, fraction: float, floor: float,
         merge_gap: float) -> list[tuple[float, float, float, float]]:
    """Intervals (onset_s, apex_s, offset_s, peak) from s (G,): each run above ``threshold`` is
    widened to where s falls back to max(floor, fraction * its peak), then further down the slope
    while s keeps decreasing and stays above ``floor``; overlapping ones merge."""
    spans: list[list[float]] = []
    for a0, b0 in _segments(s > threshold):
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
               o: SpotOptions) -> list[Interval]:
    """Snap grid spans to frame indices/times of the segment starting at row ``lo``."""
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
        out.append(Interval(ia, ip, ib, ta, tp, tb, kind, round(v, 3)))
    return out


def _check(times: np.ndarray, motion: np.ndarray, width: int | None) -> tuple[np.ndarray, np.ndarray]:
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


def spot(times: np.ndarray, motion: np.ndarray, options: SpotOptions | None = None) -> list[Interval]:
    """Intervals from frame times (T,) seconds and motion features (T, R) (NaN rows = no face).

    ``motion`` comes from :class:`MotionMeter` (R = N_FEATURES). Frame indices in the intervals
    are row indices. A NaN row (no face) ends any interval; segments shorter than 0.5 s are skipped, and
    so is an interval that starts on a segment's first frame (its onset was not observed).
    """
    o = options or SpotOptions()
    times, motion = _check(times, motion, N_FEATURES)
    out: list[Interval] = []
    for lo, hi in _segments(np.all(np.isfinite(motion), axis=1)):
        t = times[lo:hi]
        if len(t) < 3 or t[-1] - t[0] < 0.5:
            continue
        gs = strength(motion[lo:hi], t, o)
        spans = _cut(gs[:, 0], gs[:, 1], o.peak_z, o.edge_fraction, o.edge_z, o.merge_gap_s)
        out.extend(_intervals(t, lo, spans, o))
    return out


# ---------------------------------------------------------------------------------------------
# Baseline: block-wise frame difference against the frame ~lag_s before, thresholded on robust z.

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
        g = _normalised_gray(face.crop).astype(np.float32)
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
    times, diff = _check(times, diff, BASELINE_GRID**2)
    out: list[Interval] = []
    for lo, hi in _segments(np.all(np.isfinite(diff), axis=1)):
        t, x = times[lo:hi], diff[lo:hi]
        if len(t) < 3:
            continue
        med = np.median(x, axis=0)
        mad = np.maximum(1.4826 * np.median(np.abs(x - med), axis=0), 1e-3)
        z = np.max((x - med) / mad, axis=1)  # (T,)
        runs: list[list[int]] = []
        for a, b in _segments(z > o.threshold):
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
