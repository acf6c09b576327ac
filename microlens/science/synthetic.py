"""Synthetic face video with known ground truth, for tests and benchmarks.

A real public-domain face (``skimage.data.astronaut()``) is placed on a frame and warped by smooth
displacement bumps centred on facial regions, so every motion's place, size and timing is known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

# Landmarks of the astronaut's face in the 512x512 skimage image (mediapipe face_mesh, rounded).
ASTRONAUT_POINTS: dict[str, tuple[float, float]] = {
    "left_eye": (195.2, 100.9),
    "right_eye": (255.8, 104.3),
    "left_brow": (198.8, 86.9),
    "right_brow": (253.0, 90.7),
    "mouth_left": (201.8, 139.2),
    "mouth_right": (245.0, 141.0),
    "upper_lip": (223.5, 143.2),
    "nose": (223.4, 130.0),
    "chin": (221.3, 177.4),
    "forehead": (226.3, 71.7),
}
ASTRONAUT_FACE_BOX = (179.0, 71.0, 271.0, 178.0)  # x0, y0, x1, y1 in the 512x512 image


@dataclass(frozen=True)
class Scene:
    """A still frame with a face and where its landmarks are."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    points: dict[str, tuple[float, float]]  # landmark name -> (x, y) in image pixels
    face_box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels


def astronaut_scene(width: int = 640, height: int = 480, face_width: float = 160.0,
                    center: tuple[float, float] | None = None) -> Scene:
    """The astronaut scaled so the face is ``face_width`` px wide, its face centred at ``center``."""
    from skimage import data

    src = data.astronaut()  # (512, 512, 3) uint8
    x0, y0, x1, y1 = ASTRONAUT_FACE_BOX
    s = face_width / (x1 - x0)
    cx, cy = center if center is not None else (width / 2, height / 2)
    fx, fy = (x0 + x1) / 2, (y0 + y1) / 2
    m = np.array([[s, 0, cx - s * fx], [0, s, cy - s * fy]], dtype=np.float64)
    img = cv2.warpAffine(src, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def tf(p: tuple[float, float]) -> tuple[float, float]:
        return (float(s * p[0] + m[0, 2]), float(s * p[1] + m[1, 2]))

    pts = {k: tf(v) for k, v in ASTRONAUT_POINTS.items()}
    a, b = tf((x0, y0)), tf((x1, y1))
    return Scene(img, pts, (a[0], a[1], b[0], b[1]))


def bump(shape: tuple[int, int], center: tuple[float, float], radius: float,
         dx: float, dy: float) -> np.ndarray:
    """A smooth Gaussian displacement field (H, W, 2) float32 peaking at (dx, dy) px at ``center``."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = np.exp(-((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / (2 * radius**2))
    return np.stack([g * dx, g * dy], axis=-1).astype(np.float32)


def warp(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """Move content by ``field`` (H, W, 2): output(x) = image(x - field(x)) (approximate forward warp)."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(image, xx - field[..., 0], yy - field[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


def write_video(path: str, frames: Iterable[np.ndarray], fps: float, *, codec: str = "libx264",
                times: Iterable[float] | None = None, rotation: int = 0, crf: int = 18) -> None:
    """Encode RGB frames (H, W, 3) uint8 with PyAV. ``times`` gives variable frame times in seconds;
    ``rotation`` stores display-rotation metadata (degrees) as a phone does."""
    import fractions

    import av

    tb = fractions.Fraction(1, 1000)
    pix = "yuv420p"
    with av.open(path, "w") as out:
        stream: Any = None  # the video stream, made at the first frame
        tit = iter(times) if times is not None else None
        for i, img in enumerate(frames):
            if stream is None:
                rate = fractions.Fraction(fps).limit_denominator(1000)
                stream = out.add_stream(codec, rate=rate)
                stream.width, stream.height = img.shape[1] // 2 * 2, img.shape[0] // 2 * 2
                stream.pix_fmt = pix
                if codec in ("libx264", "h264"):
                    stream.options = {"crf": str(crf), "preset": "veryfast"}
                elif codec.startswith("libvpx"):  # constant quality, fast (default is ~50x slower)
                    stream.options = {"crf": str(min(63, crf + 12)), "b": "2M", "deadline": "realtime",
                                      "cpu-used": "8"}
                stream.codec_context.time_base = tb
                if rotation:  # display matrix (FFmpeg >= 7 ignores a "rotate" tag when muxing)
                    stream.set_display_rotation(-rotation)  # PyAV takes counter-clockwise degrees
            img = img[: stream.height, : stream.width]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            t = next(tit) if tit is not None else i / fps
            frame.pts = int(round(t * 1000))
            frame.time_base = tb
            for pkt in stream.encode(frame):
                out.mux(pkt)
        if stream is not None:
            for pkt in stream.encode():
                out.mux(pkt)
