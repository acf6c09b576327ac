"""Writing video: :class:`VideoWriter` encodes browser-playable H.264 MP4 (the face-crop video, the
live page's recordings). Reading is :mod:`microlens.video.decode`, which re-exports this class."""

from __future__ import annotations

import fractions
import os
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from microlens.errors import OutputError


class VideoWriter:
    """Encode RGB frames to a browser-playable H.264 MP4 (libx264, yuv420p, faststart).

    The file is written under a temporary name and renamed on a clean :meth:`close`, so an error
    never leaves a partial output behind. Use as a context manager::

        with VideoWriter("face.mp4", fps=30) as w:
            w.write(image)               # (H, W, 3) uint8 RGB; size fixed by the first frame
            w.write(image, time_s=0.07)  # optional real time for variable frame rates
    """

    def __init__(self, path: str, fps: float, *, crf: int = 23, preset: str = "veryfast",
                 threads: int = 0) -> None:
        self.path = str(path)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.crf = crf
        self.preset = preset
        self.threads = threads  # x264 threads, 0 = automatic (1 is best for small crops beside other work)
        base, ext = os.path.splitext(self.path)
        self._tmp = f"{base}.partial{ext or '.mp4'}"
        self._container: Any = None
        self._stream: Any = None
        self._size: tuple[int, int] | None = None  # (w, h), even
        self._last_pts = -1
        self.frames = 0  # frames written

    def _start(self, image: np.ndarray) -> None:
        import av

        h, w = image.shape[:2]
        self._size = (max(2, w // 2 * 2), max(2, h // 2 * 2))
        self._container = av.open(self._tmp, "w", format="mp4", options={"movflags": "+faststart"})
        rate = fractions.Fraction(self.fps).limit_denominator(1001)
        s = self._container.add_stream("libx264", rate=rate)
        s.width, s.height = self._size
        s.pix_fmt = "yuv420p"
        s.options = {"crf": str(self.crf), "preset": self.preset}
        if self.threads > 0:
            s.options = dict(s.options, threads=str(self.threads))
        s.codec_context.time_base = fractions.Fraction(1, 1000)
        self._stream = s

    def write(self, image: np.ndarray, time_s: float | None = None) -> None:
        """Append one (H, W, 3) uint8 RGB frame; other sizes are resized to the first frame's.
        Raises OutputError (and drops the partial file) when the file cannot be written."""
        try:
            self._write(image, time_s)
        except OSError as e:
            self.abort()
            raise OutputError(f"{self.path}: cannot write the video ({e.strerror or e})") from None

    def _write(self, image: np.ndarray, time_s: float | None) -> None:
        import av

        if self._container is None:
            self._start(image)
        assert self._size is not None
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint8), format="rgb24")
        t = time_s if time_s is not None else self.frames / self.fps
        pts = max(int(round(t * 1000)), self._last_pts + 1)
        self._last_pts = pts
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, 1000)
        for pkt in self._stream.encode(frame):
            self._container.mux(pkt)
        self.frames += 1

    def close(self) -> None:
        """Flush, finish the file and move it into place (nothing is written for 0 frames)."""
        if self._container is None:
            return
        try:
            for pkt in self._stream.encode():
                self._container.mux(pkt)
            self._container.close()
            self._container = None
            os.replace(self._tmp, self.path)
        except OSError as e:
            self.abort()
            raise OutputError(f"{self.path}: cannot write the video ({e.strerror or e})") from None
        except Exception:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop the partial file."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - closing a broken file; we delete it anyway
                pass
            self._container = None
        if os.path.exists(self._tmp):
            os.remove(self._tmp)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
