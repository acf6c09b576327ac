"""Synthetic action-unit flows: extra training samples for the flow stream, from neither dataset.

A real public-domain face (``skimage.data.astronaut()``), aligned into the training framing, is
warped by smooth displacement bumps placed on its face-mesh landmarks the way FACS describes an
action unit (AU12 pulls the lip corners up and out, AU1+2 raise the brows, AU9 wrinkles the nose,
...). Each onset/apex pair then goes through the one shared flow recipe
(:func:`microlens.face.flow.flow_image`), so the samples are built exactly as inference builds its
inputs. Each sample is labelled with the emotion its action units are coded as in CASME II
(happiness: AU12 with or without AU6; surprise: AU1+2 with or without AU26; disgust: AU9 or AU10,
alone or with AU4; repression: AU14, AU17 or AU24; sadness: AU1+4 or AU15), and nuisances that
real clips have (residual head motion, blinks, one-sided movement, framing, gamma, sensor noise,
JPEG) are drawn at random. Nothing here depends on CASME II or SMIC, so adding these samples to
every training fold leaks nothing across subjects or datasets.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from microlens.face import align
from microlens.face.flow import flow_image
from microlens.science.synthetic import bump, warp

# action unit -> (face-mesh index, dx, dy) unit displacements in crop pixels; dx "in" / "out" is
# toward / away from the face's vertical midline
ACTION_UNITS: dict[str, tuple[tuple[int, float | str, float], ...]] = {
    "AU1": ((107, 0, -1), (336, 0, -1)),  # inner brow raiser
    "AU2": ((70, 0, -1), (300, 0, -1), (105, 0, -0.8), (334, 0, -0.8)),  # outer brow raiser
    "AU4": ((107, "in", 0.7), (336, "in", 0.7), (105, 0, 0.6), (334, 0, 0.6)),  # brow lowerer
    "AU6": ((117, 0, -0.8), (346, 0, -0.8), (145, 0, -0.5), (374, 0, -0.5)),  # cheek raiser
    "AU9": ((98, 0, -1), (327, 0, -1), (6, 0, 0.3)),  # nose wrinkler
    "AU10": ((37, 0, -1), (267, 0, -1), (0, 0, -0.8)),  # upper lip raiser
    "AU12": ((61, "out", -0.7), (291, "out", -0.7)),  # lip corner puller
    "AU14": ((61, "in", 0), (291, "in", 0)),  # dimpler
    "AU15": ((61, 0, 1), (291, 0, 1)),  # lip corner depressor
    "AU17": ((18, 0, -1), (152, 0, -0.7)),  # chin raiser
    "AU24": ((13, 0, 0.6), (14, 0, -0.6)),  # lip presser
    "AU26": ((14, 0, 1), (152, 0, 1), (17, 0, 1)),  # jaw drop
    "AU45": ((159, 0, 1), (386, 0, 1)),  # blink (a nuisance, never a class)
}
# emotion -> the action-unit combinations drawn for it (CASME II's coding of its emotions)
EMOTION_UNITS: dict[str, tuple[tuple[str, ...], ...]] = {
    "happiness": (("AU12",), ("AU12", "AU6")),
    "surprise": (("AU1", "AU2"), ("AU1", "AU2", "AU26")),
    "disgust": (("AU9",), ("AU10",), ("AU9", "AU4"), ("AU4", "AU10")),
    "repression": (("AU14",), ("AU24",), ("AU17",), ("AU17", "AU24")),
    "sadness": (("AU1", "AU4"), ("AU15",), ("AU1", "AU4", "AU15")),
}


@lru_cache(maxsize=1)
def _face() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut's aligned (224, 224, 3) uint8 crop and its (468, 2) landmarks in crop pixels."""
    from skimage import data

    from microlens.face.track import landmarks

    image = data.astronaut()  # (512, 512, 3) uint8
    lms = landmarks(image)
    if lms is None:  # the face is found in every mediapipe build tried; say so if not
        raise RuntimeError("synthflow: mediapipe found no face in skimage's astronaut image")
    affine = align.align_affine(lms)
    return align.crop(image, affine), align.transform(lms[:, :2], affine)


def _field(units: tuple[str, ...], amplitude: float, side: str, points: np.ndarray,
           rng: np.random.Generator) -> np.ndarray:
    """Displacement field (224, 224, 2) float32 of ``units``; ``side`` is both, left or right."""
    size = align.CROP_SIZE
    mid = size / 2
    field = np.zeros((size, size, 2), np.float32)
    for unit in units:
        a, radius = amplitude * rng.uniform(0.7, 1.3), rng.uniform(9, 18)
        for idx, dx, dy in ACTION_UNITS[unit]:
            x, y = points[idx]
            left = x < mid
            if (side == "left" and not left) or (side == "right" and left):
                continue
            ux = (0.7 if left else -0.7) * {"in": 1, "out": -1}[dx] if isinstance(dx, str) else dx
            field += bump((size, size), (x, y), radius, a * ux, a * dy)
    return field


def sample(emotion: str, rng: np.random.Generator) -> np.ndarray:
    """One synthetic onset->apex flow image (28, 28, 3) uint8 of ``emotion`` (a key of EMOTION_UNITS)."""
    crop, points = _face()
    size = align.CROP_SIZE
    combos = EMOTION_UNITS[emotion]
    units = combos[int(rng.integers(len(combos)))]
    side = str(rng.choice(["both", "both", "both", "left", "right"]))
    field = _field(units, rng.uniform(1.0, 4.0), side, points, rng)  # (224, 224, 2) crop px
    if rng.random() < 0.2:
        field += _field(("AU45",), rng.uniform(1.0, 4.0), "both", points, rng)
    # residual head motion between onset and apex: a small shift, rotation and scale
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - size / 2
    rot, scale = np.deg2rad(rng.normal(0, 0.5)), rng.normal(0, 0.005)
    field[..., 0] += rng.normal(0, 0.7) - rot * yy + scale * xx
    field[..., 1] += rng.normal(0, 0.7) + rot * xx + scale * yy
    # framing and exposure of this "subject": the same for onset and apex
    m = np.asarray(cv2.getRotationMatrix2D((size / 2, size / 2), rng.normal(0, 2), rng.uniform(0.93, 1.07)),
                   np.float64)  # (2, 3)
    m[:, 2] += rng.normal(0, 4, 2)
    base = cv2.warpAffine(crop, m, (size, size), borderMode=cv2.BORDER_REFLECT)
    base = np.clip(255 * (base / 255.0) ** rng.uniform(0.8, 1.2), 0, 255)
    moved = warp(base.astype(np.float32), cv2.warpAffine(field, m, (size, size)) * float(np.hypot(*m[0, :2])))
    quality = int(rng.integers(60, 96))

    def camera(im: np.ndarray) -> np.ndarray:  # sensor noise, then JPEG
        im8 = np.clip(im + rng.normal(0, 1.5, im.shape), 0, 255).astype(np.uint8)
        encoded = cv2.imencode(".jpg", im8, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), np.uint8)

    onset, apex = camera(base), camera(moved)
    if rng.random() < 0.5:  # a mirror-image face
        onset, apex = onset[:, ::-1], apex[:, ::-1]
    return flow_image(np.ascontiguousarray(onset), np.ascontiguousarray(apex))


def generate(n: int, seed: int = 0) -> tuple[np.ndarray, tuple[str, ...]]:
    """``n`` synthetic flow images (n, 28, 28, 3) uint8 and their emotions, the emotions of
    EMOTION_UNITS in turn (equal counts up to one)."""
    rng = np.random.default_rng(seed)
    names = tuple(EMOTION_UNITS)
    emotions = tuple(names[i % len(names)] for i in range(n))
    flows = np.stack([sample(e, rng) for e in emotions]) if n else np.zeros((0, 28, 28, 3), np.uint8)
    return flows, emotions
