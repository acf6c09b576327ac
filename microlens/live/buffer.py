"""The live analyzer's frame history: what the push thread hands to the update and status threads.

:class:`FrameHistory` keeps the frame times, motion features and face crops of the last
``history_s`` seconds (what the spotter looks at), counts frames and faces, remembers arrival
times (the fps shown on the page) and writes every frame to the optional H.264 recording. One lock
guards it all: ``add`` runs on the push thread, ``window`` and ``counts`` on the others.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from microlens.video.writer import VideoWriter

if TYPE_CHECKING:
    from microlens.face.track import FaceFrame


@dataclass(frozen=True)
class Counts:
    """The history's counters at one moment (what a status needs besides the analysis)."""

    frames: int  # frames received
    faces: int  # ... of them with a face
    fps: float  # frames received per second over the last 2 s
    t: float  # stream time of the latest frame, seconds (0 before the first)
    face: bool  # a face is in the latest frame
    kept: int  # frames in the history


@dataclass(frozen=True)
class AlignedCrop:
    """A face crop and the alignment it was made with."""

    image: np.ndarray  # (224, 224, 3) uint8 RGB
    affine: np.ndarray  # (2, 3) float64 frame pixels -> crop pixels


class FrameHistory:
    """Recent frames of a live stream, thread-safe, plus the recording (``record_to``) of all."""

    def __init__(self, history_s: float, record_to: str | None = None) -> None:
        self.history_s = history_s
        self._recording = VideoWriter(record_to, fps=30.0) if record_to else None
        self._lock = threading.Lock()
        self._times: deque[float] = deque()  # (T,) seconds
        self._motion: deque[np.ndarray] = deque()  # (T,) of (R,) float32 features
        self._crops: deque[AlignedCrop | None] = deque()  # (T,) face crops, None without a face
        self._index = 0
        self._faces = 0
        self._arrivals: deque[float] = deque()  # monotonic arrival times over the last 2 s
        self._closed = False

    @property
    def frames(self) -> int:
        """Frames received (the index of the next frame)."""
        return self._index

    def next_time(self, t: float) -> float:
        """``t``, or just after the latest frame's time when it is not later (times must increase)."""
        if self._times and t <= self._times[-1]:
            t = self._times[-1] + 1e-3
        return t

    def add(self, image: np.ndarray, t: float, motion: np.ndarray, face: FaceFrame | None,
            now: float) -> None:
        """Keep one frame: the (H, W, 3) uint8 image (recorded only), its time ``t`` (s), its (R,)
        float32 motion features, its face (None without one) and its arrival time ``now``."""
        with self._lock:
            if self._closed:
                return
            if self._recording is not None:
                self._recording.write(image, float(t))
            self._index += 1
            self._faces += face is not None
            self._times.append(float(t))
            self._motion.append(motion)
            self._crops.append(AlignedCrop(face.crop, face.affine) if face is not None else None)
            while self._times and self._times[0] < t - self.history_s:
                self._times.popleft()
                self._motion.popleft()
                self._crops.popleft()
            self._arrivals.append(now)
            while self._arrivals and self._arrivals[0] < now - 2.0:
                self._arrivals.popleft()

    def window(self) -> tuple[np.ndarray, np.ndarray, list[AlignedCrop | None]]:
        """A copy of the history: times (T,) float64, motion (T, R) float32 ((0, 1) when empty) and
        the T face crops (None without a face)."""
        with self._lock:
            times = np.array(self._times, dtype=np.float64)  # (T,)
            motion = np.stack(list(self._motion)) if self._motion else np.zeros((0, 1), np.float32)
            crops = list(self._crops)
        return times, motion, crops

    def counts(self) -> Counts:
        """The counters now."""
        with self._lock:
            frames, faces = self._index, self._faces
            arrivals = list(self._arrivals)
            t = float(self._times[-1]) if self._times else 0.0
            face = bool(self._crops) and self._crops[-1] is not None
            kept = len(self._times)
        fps = (len(arrivals) - 1) / max(arrivals[-1] - arrivals[0], 1e-6) if len(arrivals) > 1 else 0.0
        return Counts(frames=frames, faces=faces, fps=fps, t=t, face=face, kept=kept)

    def close(self) -> bool:
        """Stop taking frames and finish the recording; False when it was already closed."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            if self._recording is not None:
                self._recording.close()
        return True

    @property
    def recording_path(self) -> str | None:
        """Where the recording goes, or None without one."""
        return self._recording.path if self._recording else None

    @property
    def recorded_frames(self) -> int:
        """Frames written to the recording so far."""
        return self._recording.frames if self._recording else 0
