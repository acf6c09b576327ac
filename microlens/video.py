"""Stage 1, video: probe and stream-decode any common container with real timestamps.

OWNER: video+face helper. Interface is fixed; bodies to implement.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from microlens.errors import VideoError  # noqa: F401  (raised by this module)


@dataclass(frozen=True)
class Clip:
    """What the container says about a video, after a probe that decoded at least one frame."""

    source: str  # path as given
    width: int  # display width after rotation
    height: int  # display height after rotation
    rotation: int  # degrees clockwise applied to decoded frames (0, 90, 180, 270)
    nominal_fps: float  # from the header; may be bogus (browser WebM)
    duration_s: float  # header estimate, 0.0 when unknown
    codec: str


@dataclass(frozen=True)
class Frame:
    """One decoded frame, rotated upright."""

    index: int  # 0-based decode order
    time_s: float  # presentation time from the packet timestamps, starting at 0
    image: np.ndarray  # (H, W, 3) uint8 RGB


def open_clip(path: str) -> Clip:
    """Probe ``path`` and decode one frame; raise VideoError with the reason when it is not a video."""
    raise NotImplementedError


def frames(clip: Clip, max_side: int | None = None) -> Iterator[Frame]:
    """Stream frames in order; memory does not grow with the video's length.

    ``max_side`` downsizes frames whose longer side exceeds it (keeps aspect). Raises VideoError if
    the stream breaks before any frame; a truncated tail ends the iteration with what was decoded.
    """
    raise NotImplementedError
