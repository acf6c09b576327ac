"""Stage 2, face: detect, track and align one face per frame into CROP_SIZE crops.

The stage is three modules: :mod:`microlens.face.mesh` finds faces and their 468 face-mesh landmarks
(mediapipe 0.10.21, offline) and picks the face to analyse; :mod:`microlens.face.align` maps landmarks to
the crop with the training framing (MEGC2019 apex crops: brows to chin); this module puts them
together for still images (:func:`locate`, :func:`landmarks`) and video (:class:`FaceTracker`, with
the alignment smoothed over time). The names other modules use are importable from here.
"""

from __future__ import annotations

import array
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from microlens.errors import UsageError
from microlens.face.align import (
    ASPECT,
    CROP_SIZE,
    TEMPLATE,
    TEMPLATE_IDS,
    affine_of,
    align_affine,
    crop,
    framed,
    pose_of,
    rigid_affine,
    similarity,
    transform,
)
from microlens.face.mesh import (
    MAX_FACES,
    N_LANDMARKS,
    PICKERS,
    REGIONS,
    Models,
    add_far_faces,
    area,
    describe_choice,
    face_box,
    iou,
    is_new,
    mesh_faces,
    picker,
    roi_face,
    still_models,
)
from microlens.options import check_numbers, option
from microlens.video.decode import Frame

__all__ = ["ASPECT", "CROP_SIZE", "MAX_FACES", "N_LANDMARKS", "PICKERS", "REGIONS", "TEMPLATE",
           "TEMPLATE_IDS", "FaceFrame", "FaceOptions", "FaceTrack", "FaceTracker", "align_affine",
           "crop", "describe_choice", "landmarks", "locate", "similarity", "transform"]


@dataclass(frozen=True)
class FaceOptions:
    """How faces are found and which one is analysed."""

    # which face to analyse when several are present: largest, central, or an index by size order
    face: str = option("largest", "face to analyse: largest, central, or 0,1,2... by size")
    # minimum detector confidence for a face to count
    min_confidence: float = option(0.5, "minimum face detector confidence (0..1)")
    # extra border around the landmark box, as a fraction of its size
    margin: float = option(0.15, "border around the face box, fraction of its size (0..1)")

    def __post_init__(self) -> None:
        check_numbers(self)
        picker(self.face)  # UsageError unless largest, central or a number
        if not 0 <= self.min_confidence <= 1:
            raise UsageError(f"min_confidence (--min-confidence) must be in 0..1, got {self.min_confidence}")
        if not 0 <= self.margin <= 1:
            raise UsageError(f"margin (--margin) must be in 0..1, got {self.margin}")


@dataclass(frozen=True)
class FaceFrame:
    """The analysed face in one frame."""

    index: int  # frame index in the video
    time_s: float  # frame time
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels
    crop: np.ndarray  # (CROP_SIZE, CROP_SIZE, 3) uint8 RGB, aligned: eyes level, fixed scale
    landmarks: np.ndarray  # (K, 2) float32 landmark positions in crop pixels
    n_faces: int  # faces seen in this frame (small far faces: as of the last detection, < 1 s ago)
    # (2, 3) float64 affine frame pixels -> crop pixels used for ``crop`` (smoothed over time)
    affine: np.ndarray = field(default_factory=lambda: np.full((2, 3), np.nan))


@dataclass(frozen=True)
class FaceTrack:
    """Summary of the face over the whole video."""

    n_frames: int  # frames seen
    frames_with_face: int  # frames where the analysed face was found
    coverage: float  # frames_with_face / n_frames
    max_faces: int  # most faces seen in one frame
    chosen: str  # which face was analysed, in words (e.g. "largest of 2")
    boxes: np.ndarray  # (n_frames, 4) float32 x0,y0,x1,y1; NaN where no face


def landmarks(image: np.ndarray, options: FaceOptions | None = None) -> np.ndarray | None:
    """The chosen face's landmarks (468, 2) float64 in image pixels of a still (H, W, 3) uint8 RGB
    (or (H, W) grey) image, or None when there is no face."""
    opts = options or FaceOptions()
    pick = picker(opts.face)
    if image.ndim == 2:  # grey (e.g. SAMM): mediapipe wants RGB
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    models = still_models(float(opts.min_confidence))
    with models.lock:
        faces = add_far_faces(models, image, mesh_faces(models, models.mesh(), image))
    i = pick(faces, image.shape)
    return None if i is None else faces[i]


def locate(image: np.ndarray, options: FaceOptions | None = None) -> np.ndarray | None:
    """Find the face to analyse in a still (H, W, 3) uint8 RGB image and return the (2, 3) float64
    affine that maps image pixels to the aligned CROP_SIZE crop (eyes level, fixed scale), or None.

    A (H, W) grey image works too. Thread-safe; the models are built on first use in each process.
    """
    lms = landmarks(image, options)
    return None if lms is None else align_affine(lms)


# -------------------------------------------------------------------------------------- smoothing

class _OneEuro:
    """One-euro low-pass filter (Casiez et al. 2012) on a vector, with real time steps: strong
    smoothing when still (jitter), little lag when moving fast."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx = np.zeros(0)
        self.t = 0.0

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        if self.x is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x
        dt = t - self.t
        dx = (x - self.x) / dt
        self.dx = self.dx + self._alpha(self.d_cutoff, dt) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        self.x = self.x + self._alpha(cutoff, dt) * (x - self.x)
        self.t = t
        return self.x

    def reset(self) -> None:
        self.x = None


# ---------------------------------------------------------------------------------------- tracker

class FaceTracker:
    """Streaming face tracker: call it on each frame in order, then read ``track()``.

    Face mesh runs in video mode on the whole frame and tracks one face (landmark tracking between
    frames, re-detection when lost). Every DETECT_EVERY_S, and on every frame without a face, the
    full-range detector looks for the other faces and for small or far faces that face mesh misses;
    such a face, when chosen, is then followed in an upscaled cut-out around its last position.
    The alignment affine is smoothed with a one-euro filter over real time so that landmark jitter
    does not look like facial motion while real head motion is followed with little lag
    (benchmarks/face_stability.py).

    Not fork-safe once used (mediapipe graph threads): start worker processes with "spawn".
    """

    # one-euro parameters on the pose: Hz, and Hz per (face sizes or radians) per second
    MIN_CUTOFF = 3.0
    BETA = 30.0
    RESET_GAP_S = 0.5  # face missing longer than this: start the smoothing afresh
    DETECT_EVERY_S = 1.0  # full-range detection period while a face is found (new/small faces)

    def __init__(self, options: FaceOptions | None = None) -> None:
        self.options = options or FaceOptions()
        self._pick = picker(self.options.face)
        self._models = Models(float(self.options.min_confidence), video=True)
        self._filter = _OneEuro(self.MIN_CUTOFF, self.BETA)
        self._boxes = array.array("f")  # x0, y0, x1, y1 per frame seen, NaN without a face
        self._found = 0
        self._max_faces = 0
        self._prev_box: tuple[float, float, float, float] | None = None
        self._last_t = -1e9
        self._roi: tuple[float, float, float, float] | None = None  # small chosen face's last box
        self._last_detect = -1e9  # time of the last full-range detection
        self._detected = 0  # faces seen at the last full-range detection

    def _faces(self, image: np.ndarray, t: float) -> tuple[list[np.ndarray], int]:
        """Candidate faces: face mesh on the whole frame (tracked), the small chosen face in its
        cut-out, and every DETECT_EVERY_S (or while none) the full-range detector's extra faces."""
        with self._models.lock:
            faces = mesh_faces(self._models, self._models.mesh(), image)
            n_mesh = len(faces)  # faces[:n_mesh] come from the whole-frame mesh
            if self._roi is not None:
                pts = roi_face(self._models, image, self._roi, enlarge=1.8)
                if pts is not None and is_new(pts, faces, image.shape):
                    faces.append(pts)
            if not faces or t - self._last_detect >= self.DETECT_EVERY_S or t < self._last_detect:
                self._last_detect = t
                faces = add_far_faces(self._models, image, faces)
                self._detected = len(faces)
        return faces, n_mesh

    def _choose(self, faces: list[np.ndarray], shape: tuple[int, ...]) -> int | None:
        i = self._pick(faces, shape)
        if i is None or self._prev_box is None or len(faces) < 2:
            return i
        # keep following the same face while it is nearly as good a choice (no flicker between two)
        boxes = [face_box(f, 0.0, shape) for f in faces]
        j = max(range(len(faces)), key=lambda k: iou(boxes[k], self._prev_box or boxes[k]))
        if j != i and iou(boxes[j], self._prev_box) > 0.3 and area(faces[j]) >= 0.8 * area(faces[i]):
            return j
        return i

    def __call__(self, frame: Frame) -> FaceFrame | None:
        """The analysed face in ``frame``, or None when there is none (never invented)."""
        image = frame.image
        if image.dtype != np.uint8 or not image.flags.c_contiguous:
            image = np.ascontiguousarray(image, dtype=np.uint8)
        faces, n_mesh = self._faces(image, frame.time_s)
        # faces seen; small untracked faces count from the last detection (< DETECT_EVERY_S old)
        n_faces = max(len(faces), self._detected) if faces else 0
        self._max_faces = max(self._max_faces, n_faces)
        i = self._choose(faces, image.shape)
        if i is None:
            self._boxes.extend((math.nan,) * 4)
            self._prev_box = self._roi = None
            return None
        pts = faces[i]  # (468, 2) image px
        self._roi = face_box(pts, 0.0, image.shape) if i >= n_mesh else None
        box = face_box(pts, float(self.options.margin), image.shape)
        raw = rigid_affine(pts)  # smoothed as a similarity, then framed
        switched = self._prev_box is None or iou(face_box(pts, 0.0, image.shape), self._prev_box) < 0.1
        if switched or frame.time_s - self._last_t > self.RESET_GAP_S:
            self._filter.reset()
        pose = pose_of(raw)
        if self._filter.x is not None:  # unwrap the angle next to the filtered one
            pose[3] = self._filter.x[3] + (pose[3] - self._filter.x[3] + math.pi) % (2 * math.pi) - math.pi
        m = framed(affine_of(self._filter(pose, frame.time_s)))
        self._prev_box = face_box(pts, 0.0, image.shape)
        self._last_t = frame.time_s
        self._found += 1
        self._boxes.extend(box)
        return FaceFrame(index=frame.index, time_s=frame.time_s, box=box, crop=crop(image, m),
                         landmarks=transform(pts, m).astype(np.float32), n_faces=n_faces, affine=m)

    def track(self) -> FaceTrack:
        """Summary of all frames seen so far."""
        n = len(self._boxes) // 4
        boxes = np.frombuffer(self._boxes, dtype=np.float32).reshape(n, 4).copy()  # (n_frames, 4)
        return FaceTrack(n_frames=n, frames_with_face=self._found,
                         coverage=self._found / n if n else 0.0, max_faces=self._max_faces,
                         chosen=describe_choice(self.options.face, self._max_faces), boxes=boxes)

    def close(self) -> None:
        """Release the detector."""
        self._models.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
