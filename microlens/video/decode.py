"""Stage 1, video: probe and stream-decode any common container with real timestamps.

Decoding uses PyAV (FFmpeg). Frame times come from the decoded presentation timestamps, never from
the header frame rate, because browser MediaRecorder WebM files report bogus fps and frame counts.
Phone videos are turned upright from their display matrix (or an old-style ``rotate`` tag), and
:class:`Clip` reports the display size. :class:`VideoWriter` (:mod:`microlens.video.writer`, importable
from here) encodes browser-playable H.264.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from microlens.errors import VideoError
from microlens.video.frametimes import FrameClock
from microlens.video.writer import VideoWriter as VideoWriter  # re-exported: the writing side

log = logging.getLogger(__name__)

# Below this effective frame rate a micro-expression (0.2-0.5 s) spans too few frames to spot well.
MIN_SPOTTING_FPS = 25.0


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
    # container format name as FFmpeg knows it (e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm")
    container: str = ""
    # frame count the header claims, 0 when unknown (may be bogus, like nominal_fps)
    nominal_frames: int = 0
    start_time_s: float = 0.0  # the first frame's decoded presentation time: time 0 of the frames


@dataclass(frozen=True)
class Frame:
    """One decoded frame, rotated upright."""

    index: int  # 0-based decode order
    time_s: float  # presentation time from the packet timestamps, starting at 0
    image: np.ndarray  # (H, W, 3) uint8 RGB


def _av() -> Any:
    import av  # imported lazily: no FFmpeg initialisation at import time

    # Leave av.logging at its default (None: FFmpeg logs ignored). Setting a level installs a Python
    # log callback that deadlocks at exit with threaded decoding (seen with PyAV 18.1).
    return av


def _clockwise(frame_rotation: int, stream_meta: dict[str, str]) -> int:
    """Clockwise degrees to turn a decoded frame upright, from the frame's display matrix
    (``VideoFrame.rotation`` is counter-clockwise) or an old-style ``rotate`` tag."""
    deg = -int(frame_rotation)
    if deg == 0 and stream_meta.get("rotate", "").lstrip("-").isdigit():
        deg = int(stream_meta["rotate"])
    return int(round(deg / 90.0)) * 90 % 360


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn (H, W, 3) ``rotation`` degrees clockwise."""
    if rotation == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))


def _ffmsg(err: Exception) -> str:
    """FFmpeg's own reason without the errno and path clutter."""
    return str(getattr(err, "strerror", None) or err)


def _why_unreadable(path: str, err: Exception) -> str:
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) == 0:
        return "the file is empty"
    if isinstance(err, _av().EOFError):
        return ("the file ends before any video data: an empty, 0-frame or truncated video "
                f"(FFmpeg: {_ffmsg(err)})")
    if head[4:8] == b"ftyp":
        return ("it looks like an MP4/MOV file but cannot be parsed: it is truncated or corrupt "
                f"(FFmpeg: {_ffmsg(err)})")
    return f"not a video file or an unsupported format (FFmpeg: {_ffmsg(err)})"


def _open_container(path: str) -> Any:
    av = _av()
    if not os.path.exists(path):
        raise VideoError(f"{path}: file not found")
    if os.path.isdir(path):
        raise VideoError(f"{path}: is a folder, not a video file")
    try:
        return av.open(path, "r")
    except av.FFmpegError as e:
        raise VideoError(f"{path}: {_why_unreadable(path, e)}") from None
    except OSError as e:  # permissions and the like
        raise VideoError(f"{path}: cannot be read ({e.strerror or e})") from None


# FFmpeg demuxers and decoders that render text files (ANSI art, .txt, .nfo, binary text) as
# pictures: FFmpeg accepts a plain text file as a "video", which is never what a user means
TEXT_FORMATS = frozenset({"tty", "bin", "adf", "idf", "xbin"})
TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})


def _video_stream(container: Any, path: str) -> Any:
    """The first real video stream (cover art in music files does not count); text files that FFmpeg
    would draw as a picture (its tty demuxer, ansi codec) are not videos."""
    av = _av()
    fmt = str(getattr(container.format, "name", ""))
    text = {c.codec_context.name for c in container.streams.video} & TEXT_CODECS
    if fmt in TEXT_FORMATS or text:
        raise VideoError(f"{path}: not a video file: it is text (FFmpeg would draw it as a picture "
                         f"with its {fmt} reader{', codec ' + ', '.join(sorted(text)) if text else ''})")
    cover = av.stream.Disposition.attached_pic
    videos = [s for s in container.streams.video if not (s.disposition & cover)]
    if not videos:
        kinds = sorted({s.type for s in container.streams if not (s.disposition & cover)})
        if "audio" in kinds:
            raise VideoError(f"{path}: audio only, the file has no video stream")
        if not kinds:
            raise VideoError(f"{path}: the file holds no video frames (an empty, 0-frame video)")
        raise VideoError(f"{path}: the file has no video stream (streams: {', '.join(kinds)})")
    stream = videos[0]
    stream.thread_type = "AUTO"  # frame + slice threading in the decoder
    return stream


def _first_frame(container: Any, stream: Any, path: str) -> Any:
    """The first decodable frame, or VideoError saying why there is none."""
    av = _av()
    packets = 0
    try:
        for packet in container.demux(stream):
            if packet.size:
                packets += 1
            for frame in packet.decode():
                return frame
    except av.FFmpegError as e:
        if packets:
            raise VideoError(f"{path}: no frame could be decoded, the file is truncated or corrupt "
                             f"(FFmpeg: {_ffmsg(e)})") from None
        raise VideoError(f"{path}: the video stream cannot be read, the file is truncated or corrupt "
                         f"(FFmpeg: {_ffmsg(e)})") from None
    if packets == 0:
        raise VideoError(f"{path}: the video stream has no frames (0-frame video)")
    raise VideoError(f"{path}: no frame could be decoded from {packets} packets "
                     "(truncated or corrupt file)")


def open_clip(path: str) -> Clip:
    """Probe ``path`` and decode one frame; raise VideoError with the reason when it is not a video."""
    path = str(path)
    container = _open_container(path)
    try:
        stream = _video_stream(container, path)
        first = _first_frame(container, stream, path)
        rotation = _clockwise(first.rotation, dict(stream.metadata))
        w, h = first.width, first.height
        if rotation in (90, 270):
            w, h = h, w
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        return Clip(source=path, width=int(w), height=int(h), rotation=rotation,
                    nominal_fps=float(rate) if rate else 0.0, duration_s=max(duration, 0.0),
                    codec=str(stream.codec_context.name), container=str(container.format.name),
                    nominal_frames=int(stream.frames or 0), start_time_s=float(first.time or 0.0))
    finally:
        container.close()


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) shrunk to fit ``max_side`` on the longer side (keeps aspect, even sizes kept
    >= 2); unchanged when ``max_side`` is None or already large enough."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    s = max_side / max(width, height)
    return max(2, int(round(width * s))), max(2, int(round(height * s)))


class FrameStream:
    """An iterator of :class:`Frame` that decodes lazily; see :func:`frames`.

    After (or during) iteration, ``warnings`` holds human-readable problems met (e.g. a truncated
    tail) and ``decoded`` the number of frames produced. ``close()`` releases the file early.
    """

    def __init__(self, clip: Clip, max_side: int | None,
                 window: tuple[float, float] | None = None) -> None:
        self.clip = clip
        self.max_side = max_side
        self.window = window  # (start_s, end_s): only the frames in [start_s, end_s), video times
        self.warnings: list[str] = []  # problems met while decoding, for the report
        self.decoded = 0  # frames yielded so far
        self._gen: Generator[Frame, None, None] = self._run()

    def __iter__(self) -> FrameStream:
        return self

    def __next__(self) -> Frame:
        return next(self._gen)

    def close(self) -> None:
        """Stop decoding and close the file."""
        self._gen.close()

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _run(self) -> Generator[Frame, None, None]:
        av = _av()
        clip = self.clip
        container = _open_container(clip.source)
        try:
            stream = _video_stream(container, clip.source)
            # target size in the decoder's (unrotated) orientation
            dw, dh = scaled_size(clip.width, clip.height, self.max_side)
            if clip.rotation in (90, 270):
                dw, dh = dh, dw
            usable = 0 < clip.nominal_fps < 1000
            step = 1.0 / clip.nominal_fps if usable else 1.0 / 30
            clock = FrameClock(step, usable)  # repeated or backward timestamps are repaired, counted
            start, end = self.window or (0.0, float("inf"))
            if self.window is not None:  # times stay the whole video's: from its first frame
                clock = FrameClock(step, usable, origin=clip.start_time_s)
                if start > 0:  # to the key frame before start; the frames before start are dropped
                    container.seek(int((start + clip.start_time_s) / stream.time_base), stream=stream)
            last_t = 0.0
            try:
                for frame in container.decode(stream):
                    t = clock(None if frame.time is None else float(frame.time))
                    if t < start - 1e-6:
                        continue
                    if t >= end - 1e-6:
                        break
                    last_t = t
                    if (frame.width, frame.height) == (dw, dh):
                        img = frame.to_ndarray(format="rgb24")
                    else:
                        img = frame.reformat(width=dw, height=dh, format="rgb24",
                                             interpolation="AREA").to_ndarray()
                    img = _upright(img, clip.rotation)
                    yield Frame(index=self.decoded, time_s=t, image=img)
                    self.decoded += 1
            except av.FFmpegError as e:
                if self.decoded == 0:
                    raise VideoError(f"{clip.source}: no frame could be decoded, the file is truncated "
                                     f"or corrupt (FFmpeg: {_ffmsg(e)})") from None
                msg = (f"decoding stopped after {self.decoded} frames ({last_t:.2f} s): "
                       f"the file is truncated or corrupt (FFmpeg: {_ffmsg(e)})")
                log.warning("%s: %s", clip.source, msg)
                self.warnings.append(msg)
            if self.decoded == 0:
                raise VideoError(f"{clip.source}: the video stream has no decodable frames")
            span = last_t + step
            # header counts of browser WebM are unreliable: only trust them in other containers
            trusted = "matroska" not in clip.container and "webm" not in clip.container
            short_time = clip.duration_s > 0 and span < 0.9 * clip.duration_s - 0.1
            short_count = trusted and clip.nominal_frames > 0 and self.decoded < 0.9 * clip.nominal_frames - 1
            if not self.warnings and self.window is None and (short_time or short_count):
                msg = (f"only {self.decoded} frames ({span:.2f} s) of the {clip.nominal_frames or '?'} "
                       f"frames ({clip.duration_s:.2f} s) the header announces could be decoded: "
                       "the file is probably truncated")
                log.warning("%s: %s", clip.source, msg)
                self.warnings.append(msg)
            self.warnings += clock.warnings()
        finally:
            container.close()


def frames(clip: Clip, max_side: int | None = None, window: tuple[float, float] | None = None) -> FrameStream:
    """Stream frames in order; memory does not grow with the video's length.

    ``window`` (start_s, end_s) streams only the frames in that time segment (seeking to the key
    frame before it); their times count from the video's first frame as in a whole run, their
    indices from the segment's first frame (:mod:`microlens.segments`).

    ``max_side`` downsizes frames whose longer side exceeds it (keeps aspect). Raises VideoError if
    the stream breaks before any frame; a truncated tail ends the iteration with what was decoded
    (and a message in the returned stream's ``warnings``). Times come from the decoded timestamps,
    start at 0 and strictly increase: repeated timestamps and backward jumps (joined recordings) are
    repaired with the header's frame rate and named in ``warnings`` (:mod:`microlens.video.frametimes`).
    """
    return FrameStream(clip, max_side, window)


def effective_fps(times: np.ndarray | list[float]) -> float:
    """Mean frame rate from decoded frame times (seconds): (n - 1) / span; 0.0 for < 2 frames."""
    t = np.asarray(times, dtype=np.float64)  # (n,)
    if t.size < 2 or t[-1] <= t[0]:
        return 0.0
    return float((t.size - 1) / (t[-1] - t[0]))


def fps_warning(fps: float) -> str | None:
    """A warning for the report when ``fps`` is too low to spot micro-expressions, else None."""
    if fps <= 0:
        return None
    if fps < MIN_SPOTTING_FPS:
        n = 0.5 * fps
        return (f"the effective frame rate is {fps:.1f} fps: a micro-expression (under 0.5 s) spans "
                f"at most {n:.0f} frames, so short ones may be missed; film at "
                f"{MIN_SPOTTING_FPS:.0f} fps or more (ideally 60-200)")
    return None
