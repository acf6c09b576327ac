"""Optical flow: the STSTNet recipe shared by `prepare` (training data) and `analyze` (inference).

Recipe (Liong et al., 2019, as in ../shared/data/megc2019): grayscale onset and apex face crops,
TV-L1 flow from onset to apex, optical strain from the flow's spatial derivatives, each of
(u, v, strain) resized to 28x28 and min-max normalised to 0..255 per sample. Channel order in the
image: R = u (right positive), G = v (down positive), B = strain.
"""

from __future__ import annotations

import cv2
import numpy as np

FLOW_SIZE = 28  # side of the flow image fed to FlowNet / STSTNet
WORK_SIZE = 128  # side the face crops are resized to before TV-L1


def _gray(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB or (H, W) uint8 -> (size, size) uint8 gray."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    if g.shape != (size, size):
        g = cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA)
    return g


def tvl1(onset: np.ndarray, apex: np.ndarray, size: int = WORK_SIZE) -> np.ndarray:
    """TV-L1 optical flow from onset to apex: (size, size, 2) float32 (u, v) in pixels of ``size``."""
    algo = cv2.optflow.DualTVL1OpticalFlow_create(nscales=3, warps=3, epsilon=0.02)  # type: ignore[attr-defined]
    return algo.calc(_gray(onset, size), _gray(apex, size), None)


def strain(flow: np.ndarray) -> np.ndarray:
    """Optical strain magnitude of a (H, W, 2) flow: (H, W) float32, non-negative."""
    u, v = flow[..., 0], flow[..., 1]
    uy, ux = np.gradient(u)
    vy, vx = np.gradient(v)
    exy = 0.5 * (uy + vx)
    return np.sqrt(ux**2 + vy**2 + 2 * exy**2).astype(np.float32)


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-12:
        return np.zeros_like(x, dtype=np.uint8)
    return np.round((x - lo) / (hi - lo) * 255).astype(np.uint8)


def realign(crop: np.ndarray, affine: np.ndarray, target: np.ndarray, crop_size: int = 224) -> np.ndarray:
    """Re-frame a face crop made with ``affine`` as if it had been made with ``target`` (both (2, 3)
    frame pixels -> ``crop_size`` crop pixels): (S, S) or (S, S, 3) uint8 -> the same shape, for any
    side S (the affines are rescaled). Training crops onset and apex with ONE affine (the onset's,
    see :func:`microlens.science.prepare.prepare_sample`); a video tracker aligns every frame on its own, and
    that per-frame alignment follows the moving brows and mouth and so hides part of the motion. The
    apex crop re-framed with the onset's affine restores the training geometry. When either affine
    is unknown (NaN) the crop is returned as it is."""
    if not (np.isfinite(affine).all() and np.isfinite(target).all()):
        return crop
    side = crop.shape[0]
    scale = np.diag([side / crop_size, side / crop_size, 1.0])  # crop_size px -> side px
    a = np.vstack([np.asarray(affine, np.float64), [0, 0, 1]])
    t = np.vstack([np.asarray(target, np.float64), [0, 0, 1]])
    rel = scale @ t @ np.linalg.inv(a) @ np.linalg.inv(scale)  # crop(affine) px -> crop(target) px
    return cv2.warpAffine(crop, rel[:2], (side, side), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def flow_image(onset: np.ndarray, apex: np.ndarray, size: int = FLOW_SIZE) -> np.ndarray:
    """The training recipe: onset and apex face crops -> (size, size, 3) uint8 (u, v, strain)."""
    f = tvl1(onset, apex)
    s = strain(f)
    chans = [cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in (f[..., 0], f[..., 1], s)]
    return np.stack([_minmax(c) for c in chans], axis=-1)
