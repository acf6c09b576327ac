"""Face alignment: the affine that maps a face's landmarks into the CROP_SIZE crop, and the crop.

The crop has the framing of the MEGC2019 training apex crops (CASME II + SMIC, 224x224), which the
recognition models learn from: brows at about 0.13 of the height, eye centres at about 0.28 and
0.22 / 0.77 of the width, lower lip at 0.79, chin point (face-mesh 152) at the bottom edge (1.0).
Those crops are squashed vertically compared with a face's own proportions (probably taller-than-wide
face boxes resized to a square): mediapipe landmarks put the chin 0.72 crop sides below the eyes for
0.55 between the eyes in the training crops, but about 0.80 for 0.51 in a similarity
(shape-preserving) crop of our real clips, for every face measured. So the alignment is

    crop = squash(ASPECT) o similarity(rigid landmarks -> TEMPLATE unsquashed)

a least-squares similarity (scale, rotation, shift) from 13 rigid landmarks (eye corners, nose
bridge and tip, nostrils) to :data:`TEMPLATE` stretched by 1 / ASPECT, followed by the vertical
scale ASPECT: eyes level, fixed scale, the training framing. Mouth, jaw and brows are left out of the
fit so that expressions do not move the crop. TEMPLATE and ASPECT are measured by
``benchmarks/crop_framing.py`` (key landmarks of our crops of real clips fitted onto the training
crops' medians; results in benchmarks/results/crop_framing.json).

A face's pose (crop centre, size, roll) can be smoothed over time with :func:`pose_of` /
:func:`affine_of` on the similarity part, then framed with :func:`framed`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

CROP_SIZE = 224  # side of the aligned face crop, the same framing as the training apex images

# Face-mesh indices of the rigid points used for alignment, and where they sit in a CROP_SIZE crop.
TEMPLATE_IDS = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 98, 327)
# (13, 2) x, y in crop pixels (training framing)
TEMPLATE = np.array([
    [17.5, 64.0], [72.6, 66.4], [143.9, 66.4], [198.4, 63.9],  # eye corners: outer, inner, inner, outer
    [109.0, 60.3], [109.0, 70.0], [109.1, 78.7], [109.1, 86.8],  # nose bridge
    [109.4, 95.5], [109.5, 106.0], [109.5, 113.8],  # nose tip
    [75.1, 117.4], [142.7, 117.0],  # nostrils
], dtype=np.float64)
# vertical scale of the training crops relative to the face's own proportions (x scale 1)
ASPECT = 0.778


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (scale, rotation, shift) mapping points src (N, 2) onto dst (N, 2),
    as a (2, 3) float64 affine."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    n = float((a**2).sum()) or 1e-12
    c = float((a * b).sum()) / n
    s = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / n
    m = np.array([[c, -s], [s, c]])
    t = md - m @ ms
    return np.hstack([m, t[:, None]])


def rigid_affine(landmarks: np.ndarray) -> np.ndarray:
    """(2, 3) similarity from image pixels to the unsquashed crop (the crop before :func:`framed`),
    fitted from face-mesh landmarks (468, 2) px."""
    return similarity(landmarks[list(TEMPLATE_IDS)], TEMPLATE / [1.0, ASPECT])


def framed(rigid: np.ndarray) -> np.ndarray:
    """The crop affine (2, 3) from a :func:`rigid_affine` similarity: scaled vertically by ASPECT."""
    return np.asarray(rigid, np.float64) * np.array([[1.0], [ASPECT]])


def align_affine(landmarks: np.ndarray) -> np.ndarray:
    """(2, 3) affine from image pixels to the CROP_SIZE crop, from face-mesh landmarks (468, 2) px."""
    return framed(rigid_affine(landmarks))


def transform(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to points (N, 2)."""
    return np.asarray(points, np.float64) @ affine[:, :2].T + affine[:, 2]


def crop(image: np.ndarray, affine: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Apply an alignment affine (from ``microlens.face.track.locate``): (H, W, 3) -> (size, size, 3) uint8.

    The affine is defined for a CROP_SIZE crop; other sizes give the same framing, rescaled.
    Pixels outside the image are black (never invented).
    """
    m = np.asarray(affine, np.float64)
    if size != CROP_SIZE:
        m = m * (size / CROP_SIZE)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def roll_degrees(affine: np.ndarray) -> float:
    """Rotation (degrees, counter-clockwise in the image) that an alignment affine undoes."""
    rigid = np.asarray(affine, np.float64) / np.array([[1.0], [ASPECT]])
    return math.degrees(math.atan2(rigid[1, 0], rigid[0, 0]))


def pose_of(rigid: np.ndarray) -> np.ndarray:
    """Similarity (image -> unsquashed crop) as [cx/F, cy/F, log F, angle]: crop centre in the image,
    in units of the face size F (image pixels per crop side), so a filter on it is scale-free."""
    a, b = rigid[0, 0], rigid[1, 0]
    s = math.hypot(a, b)
    inv = cv2.invertAffineTransform(rigid)
    c = inv[:, :2] @ np.array([CROP_SIZE / 2, CROP_SIZE / 2]) + inv[:, 2]
    f = CROP_SIZE / s
    return np.array([c[0] / f, c[1] / f, math.log(f), math.atan2(b, a)])


def affine_of(pose: np.ndarray) -> np.ndarray:
    """The similarity (2, 3) of a :func:`pose_of` pose."""
    f = math.exp(pose[2])
    s = CROP_SIZE / f
    cx, cy = pose[0] * f, pose[1] * f
    ca, sa = s * math.cos(pose[3]), s * math.sin(pose[3])
    m = np.array([[ca, -sa, 0.0], [sa, ca, 0.0]])
    m[:, 2] = np.array([CROP_SIZE / 2, CROP_SIZE / 2]) - m[:, :2] @ np.array([cx, cy])
    return m
