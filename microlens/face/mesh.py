"""Finding faces and their landmarks in a frame with an offline model (mediapipe 0.10.21).

Models (tflite files inside the mediapipe wheel, Apache-2.0, nothing downloads at run time):
``solutions.face_mesh`` (468 landmarks, with its own short-range BlazeFace detector) and, for small or
far faces, ``solutions.face_detection`` with the full-range model, whose faces are landmarked in an
upscaled cut-out. Also which face to analyse when there are several (:data:`PICKERS`).

Landmarks keep mediapipe's 468-point face-mesh indexing (see :data:`REGIONS` for the indices of
brows, eyes, nose and mouth). Image-left is the subject's right: 33 is the outer corner of the eye on
the image's left, 263 the outer corner of the other eye.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from microlens.errors import UsageError

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


# ------------------------------------------------------------------------------------------ boxes

def face_box(points: np.ndarray, margin: float, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """Box x0, y0, x1, y1 around points (N, 2), grown by ``margin`` of its size, inside the image."""
    x0, y0 = points.min(0)
    x1, y1 = points.max(0)
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    h, w = shape[:2]
    return (float(max(0.0, x0 - mx)), float(max(0.0, y0 - my)),
            float(min(w, x1 + mx)), float(min(h, y1 + my)))


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two boxes x0, y0, x1, y1."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# ------------------------------------------------------------------------------------- face choice

def area(p: np.ndarray) -> float:
    """Area of the bounding box of points (N, 2)."""
    span = p.max(0) - p.min(0)
    return float(span[0] * span[1])


def by_size(faces: list[np.ndarray]) -> list[int]:
    """Indices of faces (landmarks (468, 2) each), largest first."""
    return sorted(range(len(faces)), key=lambda i: -area(faces[i]))


def _pick_largest(faces: list[np.ndarray], shape: tuple[int, ...]) -> int | None:
    return by_size(faces)[0] if faces else None


def _pick_central(faces: list[np.ndarray], shape: tuple[int, ...]) -> int | None:
    if not faces:
        return None
    c = np.array([shape[1] / 2, shape[0] / 2])
    return min(range(len(faces)), key=lambda i: float(np.linalg.norm(faces[i].mean(0) - c)))


PICKERS = {"largest": _pick_largest, "central": _pick_central}


def picker(choice: str) -> Any:
    """The face-choice function for FaceOptions.face: largest, central or an index by size."""
    choice = str(choice).strip().lower()
    if choice in PICKERS:
        return PICKERS[choice]
    if choice.isdigit():
        k = int(choice)

        def pick_index(faces: list[np.ndarray], shape: tuple[int, ...]) -> int | None:
            order = by_size(faces)
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


class Models:
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
        """Release the graphs."""
        self._warm.clear()
        for m in (self._mesh, self._crop_mesh, self._detector):
            if m is not None:
                m.close()
        self._mesh = self._crop_mesh = self._detector = None


def mesh_faces(models: Models, mesh: Any, image: np.ndarray) -> list[np.ndarray]:
    """All faces' landmarks (468, 2) in image pixels."""
    h, w = image.shape[:2]
    res = models.process(mesh, image)
    out = []
    for lms in res.multi_face_landmarks or []:
        p = np.array([(lm.x * w, lm.y * h) for lm in lms.landmark], dtype=np.float64)
        out.append(p[:N_LANDMARKS])
    return out


def roi_face(models: Models, image: np.ndarray, box: tuple[float, float, float, float],
              enlarge: float = 2.2) -> np.ndarray | None:
    """Landmarks (468, 2) image px of the face in a square cut-out around ``box``, upscaled to
    256 px so that face mesh sees a small or far face large; None when it finds none."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = enlarge * max(box[2] - box[0], box[3] - box[1], 8.0)
    s = 256.0 / side
    m = np.array([[s, 0, 128 - s * cx], [0, s, 128 - s * cy]])
    cut = cv2.warpAffine(image, m, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    found = mesh_faces(models, models.crop_mesh(), cut)
    return (found[0] - m[:, 2]) / s if found else None


def is_new(pts: np.ndarray, faces: list[np.ndarray], shape: tuple[int, ...]) -> bool:
    box = face_box(pts, 0.0, shape)
    return all(iou(box, face_box(q, 0.0, shape)) < 0.3 for q in faces)


def add_far_faces(models: Models, image: np.ndarray, faces: list[np.ndarray]) -> list[np.ndarray]:
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
        if not all(iou(box, face_box(q, 0.0, image.shape)) < 0.3 for q in out):
            continue  # already landmarked
        pts = roi_face(models, image, box)
        if pts is not None and is_new(pts, out, image.shape):
            out.append(pts)
    return out


_STILL: dict[float, Models] = {}
_STILL_LOCK = threading.Lock()
_STILL_PID = [os.getpid()]


def still_models(min_confidence: float) -> Models:
    """Still-image graphs, built once per process (a forked worker builds its own)."""
    with _STILL_LOCK:
        if _STILL_PID[0] != os.getpid():  # inherited through fork: the graph threads are gone
            _STILL.clear()
            _STILL_PID[0] = os.getpid()
        if min_confidence not in _STILL:
            _STILL[min_confidence] = Models(min_confidence, video=False)
        return _STILL[min_confidence]
