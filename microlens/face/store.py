"""Per-video scratch storage of an analysis: a work folder, the H.264 face video and the crop store.

The tracking pass writes every frame's aligned face crop to the face video (the web results page
shows it) and losslessly to a :class:`CropStore`: the 128x128 gray image the flow recipe starts
from and, where the recognisers allow it, the small RGB apex input (the crop area-resized to the
recognisers' input side, what :func:`microlens.recognize.models.apex_input` makes of it first), both
PNG-compressed. The recognisers so read exactly the inputs they would get from the original crop,
not an H.264 copy (whose bytes, with the bundled libx264, can even differ between runs).
:class:`Scratch` owns the temporary work folder these live in (``microlens-work-<pid>-*`` in the
system temp folder) and removes it when the analysis ends; folders left by a process that was
killed are swept by the next analysis. A caller can put the work folder elsewhere (``work_dir``:
the web app keeps everything inside its data directory).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

import cv2
import numpy as np

WORK_PREFIX = "microlens-work-"  # + "<pid>-": temporary folders of analyses in progress
# lossless PNG, fastest zlib level with Huffman coding only: on face crops 0.85 ms and 27.8 kB a frame
# (gray input + apex input) against 1.13 ms and 28.3 kB with the default strategy (issue 22)
_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


class CropStore:
    """Lossless on-disk store (PNG) of each face frame's (128, 128) uint8 gray flow input and, when
    ``apex_size`` > 0, its (apex_size, apex_size, 3) uint8 RGB apex input (the 224 px crop resized
    with INTER_AREA, as :func:`microlens.recognize.models.apex_input` does before anything else)."""

    def __init__(self, folder: str, apex_size: int = 0) -> None:
        fd, self.path = tempfile.mkstemp(prefix="microlens-crops-", suffix=".bin", dir=folder)
        self._f = os.fdopen(fd, "w+b")
        self.apex_size = apex_size
        # per frame and image (gray, then the apex input when kept): byte offset, -1 without a face
        self._offsets = array("q")
        self._sizes = array("i")
        self._affines = array("d")  # per frame: the 6 numbers of its (2, 3) alignment affine

    @property
    def _per_frame(self) -> int:
        return 2 if self.apex_size > 0 else 1

    def _put(self, image: np.ndarray | None) -> None:
        if image is None:
            self._offsets.append(-1)
            self._sizes.append(0)
            return
        ok, buf = cv2.imencode(".png", image, _PNG)
        if not ok:  # pragma: no cover
            raise RuntimeError("PNG encoding failed")
        self._f.seek(0, os.SEEK_END)
        self._offsets.append(self._f.tell())
        self._sizes.append(len(buf))
        self._f.write(buf.tobytes())

    def _read(self, j: int) -> np.ndarray | None:
        if j < 0 or j >= len(self._offsets) or self._offsets[j] < 0:
            return None
        self._f.seek(self._offsets[j])
        data = np.frombuffer(self._f.read(self._sizes[j]), np.uint8)
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)

    def add(self, gray: np.ndarray | None, affine: np.ndarray | None = None,
            crop: np.ndarray | None = None) -> None:
        """Append one frame: its (128, 128) uint8 gray image, the (2, 3) affine (frame pixels ->
        224 px crop) it was cropped with and its (224, 224, 3) uint8 RGB crop (for the apex input;
        needed when ``apex_size`` > 0), or None without a face."""
        self._affines.extend(np.full(6, np.nan) if affine is None else np.asarray(affine, np.float64).ravel())
        self._put(gray)
        if self.apex_size > 0:
            if gray is not None and crop is None:
                raise ValueError("this store keeps apex inputs: add() needs the crop")
            # (S, S, 3) RGB; PNG keeps the bytes, so it reads back in the same channel order
            self._put(None if gray is None or crop is None else cv2.resize(
                crop, (self.apex_size, self.apex_size), interpolation=cv2.INTER_AREA))

    def get(self, i: int) -> np.ndarray | None:
        """Frame ``i``'s (128, 128) uint8 gray image; None without a face or out of range."""
        return self._read(self._per_frame * i) if i >= 0 else None

    def apex(self, i: int) -> np.ndarray | None:
        """Frame ``i``'s (apex_size, apex_size, 3) uint8 RGB apex input; None without a face, out of
        range, or when the store keeps no apex inputs."""
        return self._read(2 * i + 1) if self.apex_size > 0 and i >= 0 else None

    def affine(self, i: int) -> np.ndarray:
        """Frame ``i``'s (2, 3) float64 alignment affine (NaN when unknown)."""
        return np.asarray(self._affines[6 * i : 6 * i + 6], np.float64).reshape(2, 3)

    def pair(self, onset: int, apex: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The (128, 128) uint8 gray onset and apex crops, the apex re-framed with the onset's
        alignment (:func:`microlens.face.flow.realign`, the training geometry); None without a face."""
        from microlens.face.flow import realign

        a, b = self.get(onset), self.get(apex)
        if a is None or b is None:
            return None
        return a, realign(b, self.affine(apex), self.affine(onset))

    def close(self) -> None:
        """Close and delete the store's file."""
        self._f.close()
        Path(self.path).unlink(missing_ok=True)


class FaceSink:
    """Writes each frame's face crop to the face video and its flow and apex inputs to the crop
    store, and measures the face's sharpness (inline: a background writer thread gained nothing
    measurable on the shared 2-core machine)."""

    def __init__(self, writer: Any, store: CropStore, blank: np.ndarray) -> None:
        self.writer, self.store, self.blank = writer, store, blank
        self.sharp = array("f")  # per frame: Laplacian variance of the face, NaN without a face
        self.busy_s = 0.0  # seconds spent writing

    def put(self, crop: np.ndarray | None, time_s: float, affine: np.ndarray | None = None) -> None:
        """Write one frame: the (224, 224, 3) uint8 face crop and its (2, 3) alignment affine, or
        None without a face."""
        from microlens.face import flow
        t0 = time.perf_counter()
        try:
            if crop is None:
                self.writer.write(self.blank, time_s=time_s)
                self.store.add(None)
                self.sharp.append(math.nan)
            else:
                self.writer.write(crop, time_s=time_s)
                gray = flow._gray(crop, flow.WORK_SIZE)  # (128, 128) uint8, the flow recipe's input
                self.store.add(gray, affine, crop)
                self.sharp.append(float(cv2.Laplacian(gray, cv2.CV_32F).var()))
        finally:
            self.busy_s += time.perf_counter() - t0


def _face_writer(path: str, fps: float, crf: int) -> Any:
    """The H.264 face-crop video writer, with one x264 thread: frames are small, and x264's frame
    threads cost more than they save beside face tracking on two cores (measured 1.6 vs 3.2 ms)."""
    from microlens.video.writer import VideoWriter

    return VideoWriter(path, fps=fps, crf=crf, threads=1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep_stale_work(parent: str | None = None) -> None:
    """Remove temporary folders left in ``parent`` (default: the system temp folder) by analyses
    whose process died (killed mid-analysis)."""
    for d in Path(parent or tempfile.gettempdir()).glob(f"{WORK_PREFIX}*"):
        pid = d.name[len(WORK_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


class Scratch:
    """One analysis's scratch storage: sweeps stale work folders, then makes its own work folder, the
    face video writer (``face_video`` when the caller keeps it, else a file in the work folder) and
    the crop store (keeping apex inputs of side ``apex_size`` when > 0). The work folder goes in
    ``work_dir`` (the web app: DATA_DIR/tmp), else in the system temp folder. :meth:`close` removes
    everything but a kept face video of a finished analysis."""

    def __init__(self, face_video: str | None, fps: float, crf: int, apex_size: int = 0,
                 work_dir: str | None = None) -> None:
        sweep_stale_work(work_dir)
        self.folder = tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=work_dir)
        self.kept_video = face_video
        self.face_path = face_video or os.path.join(self.folder, "face.mp4")
        self.writer = _face_writer(self.face_path, fps, crf)
        self.store = CropStore(self.folder, apex_size)
        self.video_finished = False

    def finish_video(self) -> None:
        """Close the face video (every frame written)."""
        self.writer.close()
        self.video_finished = True

    def close(self, ok: bool) -> None:
        """Remove the work folder; when the analysis failed (``ok`` False) also the face video: no
        partial result, the kept face video goes with the report."""
        if not ok:
            self.writer.abort()
            if self.kept_video and self.video_finished:
                Path(self.kept_video).unlink(missing_ok=True)
        self.store.close()
        for p in Path(self.folder).glob("*"):
            p.unlink(missing_ok=True)
        os.rmdir(self.folder)
