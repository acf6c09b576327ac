"""Stage 3a, the motion meter: per-frame facial deformation from aligned face crops.

:class:`MotionMeter` turns each aligned face crop into a per-region *deformation*: the crop is
reduced to a brightness-normalised gray image of WORK_SIZE px (lighting flicker cancels), dense
optical flow (Farneback) is computed against a key frame that is renewed every ``key_s`` seconds at
a calm moment (so blinks are never frozen into it), a robust (Tukey-weighted) affine fitted to the
flow over the whole face is subtracted (head translation, rotation, scale and crop jitter do not
count), and the remaining flow is averaged in facial regions placed from the landmarks (brows,
glabella, eyes, nose, cheeks, mouth corners, lips, chin). Chaining the key frames gives each
region's displacement since the start, in crop pixels. :mod:`microlens.spot.spotting` cuts intervals
from these trajectories.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import cv2
import numpy as np

from microlens.face.track import CROP_SIZE, FaceFrame

if TYPE_CHECKING:
    from microlens.spot.options import SpotOptions

WORK_SIZE = 112  # side of the gray image the flow is computed on (crop pixels / 2)
# Farneback: pyramid scale, levels, window, iterations, poly_n, poly_sigma, flags
_FARNEBACK = (0.5, 3, 11, 3, 5, 1.1, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)
_BOX = 0.09  # side of a region's averaging box, fraction of the crop side

Flow = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (key, gray) (S, S) uint8 -> (S, S, 2) float32


def _farneback() -> Flow:
    return lambda ref, gray: cv2.calcOpticalFlowFarneback(ref, gray, None, *_FARNEBACK)  # type: ignore[call-overload]


def _dis(preset: int) -> Callable[[], Flow]:
    def make() -> Flow:
        dis = cv2.DISOpticalFlow_create(preset)  # type: ignore[attr-defined]  # one per meter (buffers)
        return lambda ref, gray: dis.calc(ref, gray, None)
    return make


# dense flow algorithms the meter can use, by name (benchmarks/motionflow.py compares them)
FLOWS: dict[str, Callable[[], Flow]] = {
    "farneback": _farneback,
    "farneback-2iter": lambda: lambda ref, gray: cv2.calcOpticalFlowFarneback(  # type: ignore[call-overload]
        ref, gray, None, 0.5, 3, 11, 2, 5, 1.1, cv2.OPTFLOW_FARNEBACK_GAUSSIAN),
    "farneback-box": lambda: lambda ref, gray: cv2.calcOpticalFlowFarneback(  # type: ignore[call-overload]
        ref, gray, None, 0.5, 3, 11, 3, 5, 1.1, 0),
    "dis-ultrafast": _dis(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST),
    "dis-fast": _dis(cv2.DISOPTICAL_FLOW_PRESET_FAST),
    "dis-medium": _dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM),
}
FLOW = "farneback"  # the meter's default

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
# region groups the spotter treats specially: blinks (eyes vs brows), talking (jaw, mouth)
EYES = ("eye_l", "eye_r")
BROWS = ("brow_l", "brow_r", "brow_in_l", "brow_in_r", "glabella")
JAW = ("lip_low", "chin")
MOUTH = ("mouth_l", "mouth_r", "lip_up", "lip_low", "chin", "cheek_l", "cheek_r")
EXPRESSIVE = tuple(r for r in REGIONS if r not in EYES)

# Fallback region centres (fraction of the crop side) for crops without landmarks: the mean layout
# of an aligned frontal face (eyes level at ~0.4 of the height).
_DEFAULT_CENTRES: dict[str, tuple[float, float]] = {  # microlens.face.track framing (MEGC apex crops)
    "brow_l": (0.10, 0.09), "brow_r": (0.89, 0.08), "brow_in_l": (0.35, 0.09),
    "brow_in_r": (0.64, 0.09), "glabella": (0.49, 0.12), "eye_l": (0.24, 0.26),
    "eye_r": (0.76, 0.25), "nose": (0.49, 0.50), "cheek_l": (0.14, 0.54), "cheek_r": (0.86, 0.53),
    "mouth_l": (0.29, 0.76), "mouth_r": (0.71, 0.76), "lip_up": (0.50, 0.73),
    "lip_low": (0.50, 0.84), "chin": (0.50, 0.93),
}


def normalised_gray(crop: np.ndarray) -> np.ndarray:
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

    def __init__(self, options: SpotOptions | None = None, flow: str | None = None) -> None:
        if options is None:
            from microlens.spot.options import SpotOptions

            options = SpotOptions()
        self.options = options
        self._flow = FLOWS[flow or FLOW]()
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
        gray = normalised_gray(face.crop)
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
        flow = self._flow(self._ref, gray)  # (WORK_SIZE, WORK_SIZE, 2)
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
