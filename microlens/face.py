"""Stage 2, face: detect, track and align one face per frame with an offline model (mediapipe 0.10.21).

OWNER: video+face helper. Interface is fixed; bodies to implement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microlens.options import option
from microlens.video import Frame

CROP_SIZE = 224  # side of the aligned face crop, the same framing as the training apex images


@dataclass(frozen=True)
class FaceOptions:
    """How faces are found and which one is analysed."""

    # which face to analyse when several are present: largest, central, or an index by size order
    face: str = option("largest", "face to analyse: largest, central, or 0,1,2... by size")
    # minimum detector confidence for a face to count
    min_confidence: float = option(0.5, "minimum face detector confidence")
    # extra border around the landmark box, as a fraction of its size
    margin: float = option(0.15, "border around the face box, fraction of its size")


@dataclass(frozen=True)
class FaceFrame:
    """The analysed face in one frame."""

    index: int  # frame index in the video
    time_s: float  # frame time
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    crop: np.ndarray  # (CROP_SIZE, CROP_SIZE, 3) uint8 RGB, aligned: eyes level, fixed scale
    landmarks: np.ndarray  # (K, 2) float32 landmark positions in crop pixels
    n_faces: int  # faces seen in this frame


@dataclass(frozen=True)
class FaceTrack:
    """Summary of the face over the whole video."""

    n_frames: int  # frames seen
    frames_with_face: int  # frames where the analysed face was found
    coverage: float  # frames_with_face / n_frames
    max_faces: int  # most faces seen in one frame
    chosen: str  # which face was analysed, in words (e.g. "largest of 2")
    boxes: np.ndarray  # (n_frames, 4) float32 x0,y0,x1,y1; NaN where no face


def locate(image: np.ndarray, options: FaceOptions | None = None) -> np.ndarray | None:
    """Find the face to analyse in a still (H, W, 3) uint8 RGB image and return the (2, 3) float64
    affine that maps image pixels to the aligned CROP_SIZE crop (eyes level, fixed scale), or None."""
    raise NotImplementedError


def crop(image: np.ndarray, affine: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Apply an alignment affine from :func:`locate`: (H, W, 3) -> (size, size, 3) uint8."""
    raise NotImplementedError


class FaceTracker:
    """Streaming face tracker: call it on each frame in order, then read ``track()``."""

    def __init__(self, options: FaceOptions | None = None) -> None:
        raise NotImplementedError

    def __call__(self, frame: Frame) -> FaceFrame | None:
        """The analysed face in ``frame``, or None when there is none (never invented)."""
        raise NotImplementedError

    def track(self) -> FaceTrack:
        """Summary of all frames seen so far."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the detector."""
        raise NotImplementedError
