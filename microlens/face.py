"""Stage 2, face: detect, track and align one face per frame with an offline model (mediapipe 0.10.21).

Models (tflite files inside the mediapipe wheel, Apache-2.0, nothing downloads at run time):
``solutions.face_mesh`` (468 landmarks, with its own short-range BlazeFace detector) and, for small or
far faces, ``solutions.face_detection`` with the full-range model.

Alignment: a similarity transform (scale, rotation, shift; no shear) fitted by least squares from 13
rigid landmarks (eye corners, nose bridge and tip, nostrils) to :data:`TEMPLATE`, the median position
of the same landmarks in the MEGC2019 training apex crops (CASME II + SMIC, 307 images). A crop
therefore has the training framing: eyes level at y ~ 62 px, about 122 px apart, roughly forehead to
chin. Mouth and chin are left out of the fit so that expressions do not move the crop.

Landmarks keep mediapipe's 468-point face-mesh indexing (see :data:`REGIONS` for the indices of
brows, eyes, nose and mouth). Image-left is the subject's right: 33 is the outer corner of the eye on
the image's left, 263 the outer corner of the other eye.
"""

from __future__ import annotations

import array
import contextlib
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from microlens.errors import UsageError
from microlens.options import option
from microlens.video import Frame

CROP_SIZE = 224  # side of the aligned face crop, the same framing as the training apex images

# Face-mesh indices of the rigid points used for alignment, and where they sit in a CROP_SIZE crop.
TEMPLATE_IDS = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 98, 327)
# (13, 2) x, y in crop pixels: median over the 307 MEGC2019 apex crops mediapipe landmarks, after
# similarity Procrustes, rescaled so that locate() on an apex crop is the identity (median scale 1).
TEMPLATE = np.array([
    [22.6, 60.7], [75.9, 63.6], [144.8, 63.6], [197.4, 60.6],  # eye corners: outer, inner, inner, outer
    [111.0, 56.2], [111.0, 68.2], [111.1, 79.0], [111.1, 89.1],  # nose bridge
    [111.4, 99.9], [111.5, 113.0], [111.5, 122.6],  # nose tip
    [78.3, 127.0], [143.6, 126.6],  # nostrils
], dtype=np.float64)

# Face-mesh landmark indices per facial region (image-left / image-right as seen in the crop).
REGIONS: dict[str, tuple[int, ...]] = {
    "brow_left": (70, 63, 105, 66, 107, 46, 53, 52, 65, 55),
    "brow_right": (300, 293, 334, 296, 336, 276, 283, 282, 295, 285),
    "eye_left": (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    "eye_right": (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
    "nose": (168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 327, 129, 358),
    "mouth": (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
              78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191),
    "chin": (152, 148, 176, 149, 150, 377, 400, 378, 379),
}
N_LANDMARKS = 468
MAX_FACES = 4  # faces tracked per frame (n_faces and max_faces saturate here)


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


# ---------------------------------------------------------------------------------------- geometry

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


def align_affine(landmarks: np.ndarray) -> np.ndarray:
    """(2, 3) affine from image pixels to the CROP_SIZE crop, from face-mesh landmarks (468, 2) px."""
    return similarity(landmarks[list(TEMPLATE_IDS)], TEMPLATE)


def transform(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to points (N, 2)."""
    return np.asarray(points, np.float64) @ affine[:, :2].T + affine[:, 2]


def crop(image: np.ndarray, affine: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Apply an alignment affine from :func:`locate`: (H, W, 3) -> (size, size, 3) uint8.

    The affine is defined for a CROP_SIZE crop; other sizes give the same framing, rescaled.
    Pixels outside the image are black (never invented).
    """
    m = np.asarray(affine, np.float64)
    if size != CROP_SIZE:
        m = m * (size / CROP_SIZE)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def _box(points: np.ndarray, margin: float, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    h, w = shape[:2]
    return (float(max(0.0, x0 - mx)), float(max(0.0, y0 - my)),
            float(min(w, x1 + mx)), float(min(h, y1 + my)))


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# ------------------------------------------------------------------------------------- face choice

def _area(p: np.ndarray) -> float:
    span = p.max(0) - p.min(0)
    return float(span[0] * span[1])


def _by_size(faces: list[np.ndarray]) -> list[int]:
    return sorted(range(len(faces)), key=lambda i: -_area(faces[i]))


def _pick_largest(faces: list[np.ndarray], shape: tuple[int, ...]) -> int | None:
    return _by_size(faces)[0] if faces else None


def _pick_central(faces: list[np.ndarray], shape: tuple[int, ...]) -> int | None:
    if not faces:
        return None
    c = np.array([shape[1] / 2, shape[0] / 2])
    return min(range(len(faces)), key=lambda i: float(np.linalg.norm(faces[i].mean(0) - c)))


PICKERS = {"largest": _pick_largest, "central": _pick_central}


def _picker(choice: str) -> Any:
    """The face-choice function for FaceOptions.face: largest, central or an index by size."""
    choice = str(choice).strip().lower()
    if choice in PICKERS:
        return PICKERS[choice]
    if choice.isdigit():
        k = int(choice)

        def pick_index(faces: list[np.ndarray], shape: tuple[int, ...]) -> int | None:
            order = _by_size(faces)
            return order[k] if k < len(order) else None

        return pick_index
    raise UsageError(f"--face must be largest, central or a number (0 = largest), not {choice!r}")


def describe_choice(choice: str, max_faces: int) -> str:
    """Which face was analysed, in words, e.g. 'largest of 2 faces'."""
    if max_faces == 0:
        return "no face found"
    choice = str(choice).strip().lower()
    more = f"{max_faces}+" if max_faces >= MAX_FACES else str(max_faces)
    if max_faces == 1 and choice in PICKERS:
        return "the only face"
    if choice == "largest":
        return f"largest of {more} faces"
    if choice == "central":
        return f"most central of {more} faces"
    return f"face #{choice} by size (0 = largest) of {more} faces"


# ---------------------------------------------------------------------------------------- models

@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment: mediapipe's C++ graph threads log
    start-up warnings there that would clutter the CLI's one-line messages."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _Models:
    """Lazily built mediapipe graphs (not thread-safe: callers hold ``lock``)."""

    def __init__(self, min_confidence: float, video: bool) -> None:
        self.min_confidence = min_confidence
        self.video = video
        self.lock = threading.Lock()
        self._mesh: Any = None
        self._crop_mesh: Any = None
        self._detector: Any = None
        self._warm: set[int] = set()  # graphs that ran once

    def mesh(self) -> Any:
        """Face mesh on whole frames (video mode tracks between frames)."""
        if self._mesh is None:
            from mediapipe.python.solutions import face_mesh

            # video mode tracks one face (tracking several makes mediapipe re-detect on every frame,
            # twice the cost); other faces come from the periodic full-range detection
            self._mesh = face_mesh.FaceMesh(static_image_mode=not self.video,
                                            max_num_faces=1 if self.video else MAX_FACES,
                                            refine_landmarks=False,
                                            min_detection_confidence=self.min_confidence,
                                            min_tracking_confidence=0.5)
        return self._mesh

    def crop_mesh(self) -> Any:
        """Face mesh in still mode, for face regions cut out around a full-range detection."""
        if self._crop_mesh is None:
            from mediapipe.python.solutions import face_mesh

            self._crop_mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                 refine_landmarks=False,
                                                 min_detection_confidence=min(self.min_confidence, 0.3))
        return self._crop_mesh

    def detector(self) -> Any:
        """Full-range BlazeFace (small and far faces)."""
        if self._detector is None:
            from mediapipe.python.solutions import face_detection

            self._detector = face_detection.FaceDetection(model_selection=1,
                                                          min_detection_confidence=self.min_confidence)
        return self._detector

    def process(self, graph: Any, image: np.ndarray) -> Any:
        """``graph.process(image)``; the first call per graph starts its threads, quietly."""
        if id(graph) in self._warm:
            return graph.process(image)
        with _stderr_silenced():
            res = graph.process(image)
        self._warm.add(id(graph))
        return res

    def close(self) -> None:
        self._warm.clear()
        for m in (self._mesh, self._crop_mesh, self._detector):
            if m is not None:
                m.close()
        self._mesh = self._crop_mesh = self._detector = None


def _mesh_faces(models: _Models, mesh: Any, image: np.ndarray) -> list[np.ndarray]:
    """All faces' landmarks (468, 2) in image pixels."""
    h, w = image.shape[:2]
    res = models.process(mesh, image)
    out = []
    for lms in res.multi_face_landmarks or []:
        p = np.array([(lm.x * w, lm.y * h) for lm in lms.landmark], dtype=np.float64)
        out.append(p[:N_LANDMARKS])
    return out


def _roi_face(models: _Models, image: np.ndarray, box: tuple[float, float, float, float],
              enlarge: float = 2.2) -> np.ndarray | None:
    """Landmarks (468, 2) image px of the face in a square cut-out around ``box``, upscaled to
    256 px so that face mesh sees a small or far face large; None when it finds none."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = enlarge * max(box[2] - box[0], box[3] - box[1], 8.0)
    s = 256.0 / side
    m = np.array([[s, 0, 128 - s * cx], [0, s, 128 - s * cy]])
    cut = cv2.warpAffine(image, m, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    found = _mesh_faces(models, models.crop_mesh(), cut)
    return (found[0] - m[:, 2]) / s if found else None


def _is_new(pts: np.ndarray, faces: list[np.ndarray], shape: tuple[int, ...]) -> bool:
    box = _box(pts, 0.0, shape)
    return all(_iou(box, _box(q, 0.0, shape)) < 0.3 for q in faces)


def _add_far_faces(models: _Models, image: np.ndarray, faces: list[np.ndarray]) -> list[np.ndarray]:
    """``faces`` plus the faces the full-range detector sees and face mesh on the whole frame
    missed (small or far faces), landmarked in an upscaled cut-out; at most MAX_FACES."""
    h, w = image.shape[:2]
    res = models.process(models.detector(), image)
    out = list(faces)
    for det in res.detections or []:
        if len(out) >= MAX_FACES:
            break
        bb = det.location_data.relative_bounding_box
        box = (bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h)
        if not all(_iou(box, _box(q, 0.0, image.shape)) < 0.3 for q in out):
            continue  # already landmarked
        pts = _roi_face(models, image, box)
        if pts is not None and _is_new(pts, out, image.shape):
            out.append(pts)
    return out


_STILL: dict[float, _Models] = {}
_STILL_LOCK = threading.Lock()


_STILL_PID = [os.getpid()]


def _still_models(min_confidence: float) -> _Models:
    """Still-image graphs, built once per process (a forked worker builds its own)."""
    with _STILL_LOCK:
        if _STILL_PID[0] != os.getpid():  # inherited through fork: the graph threads are gone
            _STILL.clear()
            _STILL_PID[0] = os.getpid()
        if min_confidence not in _STILL:
            _STILL[min_confidence] = _Models(min_confidence, video=False)
        return _STILL[min_confidence]


def landmarks(image: np.ndarray, options: FaceOptions | None = None) -> np.ndarray | None:
    """The chosen face's landmarks (468, 2) float64 in image pixels of a still (H, W, 3) uint8 RGB
    (or (H, W) grey) image, or None when there is no face."""
    opts = options or FaceOptions()
    pick = _picker(opts.face)
    if image.ndim == 2:  # grey (e.g. SAMM): mediapipe wants RGB
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    models = _still_models(float(opts.min_confidence))
    with models.lock:
        faces = _add_far_faces(models, image, _mesh_faces(models, models.mesh(), image))
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


def _pose(affine: np.ndarray) -> np.ndarray:
    """Affine (image -> crop) as [cx/F, cy/F, log F, angle]: crop centre in the image, in units of
    the face size F (image pixels per crop side), so the filter is scale-independent."""
    a, b = affine[0, 0], affine[1, 0]
    s = math.hypot(a, b)
    inv = cv2.invertAffineTransform(affine)
    c = inv[:, :2] @ np.array([CROP_SIZE / 2, CROP_SIZE / 2]) + inv[:, 2]
    f = CROP_SIZE / s
    return np.array([c[0] / f, c[1] / f, math.log(f), math.atan2(b, a)])


def _affine(pose: np.ndarray) -> np.ndarray:
    f = math.exp(pose[2])
    s = CROP_SIZE / f
    cx, cy = pose[0] * f, pose[1] * f
    ca, sa = s * math.cos(pose[3]), s * math.sin(pose[3])
    m = np.array([[ca, -sa, 0.0], [sa, ca, 0.0]])
    m[:, 2] = np.array([CROP_SIZE / 2, CROP_SIZE / 2]) - m[:, :2] @ np.array([cx, cy])
    return m


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
        self._pick = _picker(self.options.face)
        self._models = _Models(float(self.options.min_confidence), video=True)
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
            faces = _mesh_faces(self._models, self._models.mesh(), image)
            n_mesh = len(faces)  # faces[:n_mesh] come from the whole-frame mesh
            if self._roi is not None:
                pts = _roi_face(self._models, image, self._roi, enlarge=1.8)
                if pts is not None and _is_new(pts, faces, image.shape):
                    faces.append(pts)
            if not faces or t - self._last_detect >= self.DETECT_EVERY_S or t < self._last_detect:
                self._last_detect = t
                faces = _add_far_faces(self._models, image, faces)
                self._detected = len(faces)
        return faces, n_mesh

    def _choose(self, faces: list[np.ndarray], shape: tuple[int, ...]) -> int | None:
        i = self._pick(faces, shape)
        if i is None or self._prev_box is None or len(faces) < 2:
            return i
        # keep following the same face while it is nearly as good a choice (no flicker between two)
        boxes = [_box(f, 0.0, shape) for f in faces]
        j = max(range(len(faces)), key=lambda k: _iou(boxes[k], self._prev_box or boxes[k]))
        if j != i and _iou(boxes[j], self._prev_box) > 0.3 and _area(faces[j]) >= 0.8 * _area(faces[i]):
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
        self._roi = _box(pts, 0.0, image.shape) if i >= n_mesh else None
        box = _box(pts, float(self.options.margin), image.shape)
        raw = align_affine(pts)
        switched = self._prev_box is None or _iou(_box(pts, 0.0, image.shape), self._prev_box) < 0.1
        if switched or frame.time_s - self._last_t > self.RESET_GAP_S:
            self._filter.reset()
        pose = _pose(raw)
        if self._filter.x is not None:  # unwrap the angle next to the filtered one
            pose[3] = self._filter.x[3] + (pose[3] - self._filter.x[3] + math.pi) % (2 * math.pi) - math.pi
        m = _affine(self._filter(pose, frame.time_s))
        self._prev_box = _box(pts, 0.0, image.shape)
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
