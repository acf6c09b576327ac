"""The original video on the results page, in a form every browser plays, in step with the report.

Browsers play H.264 (yuv420p) in MP4 everywhere, and little else for sure: AVI, MPEG-4 part 2,
HEVC, a WebM from MediaRecorder (no index, so no seeking), 4:4:4 H.264 do not play or do not seek
in some. The job (results.py) keeps an upload that already plays as it is, and otherwise transcodes
it once with PyAV into ``results/<id>/original.mp4`` (H.264, at most 720 px, no sound), with the
frame times the analysis decoded, so the page's timeline and the video agree to the frame.
Everything stays inside the data directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("microlens.web.original")

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"  # FFmpeg's name of the MP4/QuickTime demuxer
VIDEO_CODECS = ("h264",)
PIXEL_FORMATS = ("yuv420p", "yuvj420p")
AUDIO_CODECS = ("aac", "mp3")
MAX_SIDE = 720  # the transcoded video's longer side
NAME = "original.mp4"


def playable(path: Path) -> bool:
    """True when browsers play ``path`` as it is and its first frame is at time 0 (as the report's
    times are): MP4 with H.264 4:2:0 video and AAC or MP3 sound, if any."""
    import av

    try:
        with av.open(str(path)) as c:
            if c.format.name != MP4 or not c.streams.video:
                return False
            v = c.streams.video[0]
            fmt = v.codec_context.format
            rate = float(v.average_rate or 30)
            start = float((v.start_time or 0) * v.time_base) if v.time_base else 0.0
            audio_ok = all(a.codec_context.name in AUDIO_CODECS for a in c.streams.audio)
            return (v.codec_context.name in VIDEO_CODECS and fmt is not None and fmt.name in PIXEL_FORMATS
                    and abs(start) < 0.5 / max(rate, 1.0) and audio_ok)
    except Exception:  # noqa: BLE001 - anything the decoder cannot read is not playable as it is
        return False


def transcode(source: Path, target: Path) -> None:
    """Write ``source`` as browser-playable H.264 MP4 at ``target`` (at most MAX_SIDE px, each frame
    at the time the analysis decoded it; no sound). Raises on failure and leaves no partial file."""
    from microlens.video.decode import frames, open_clip
    from microlens.video.writer import VideoWriter

    clip = open_clip(str(source))
    with VideoWriter(str(target), clip.nominal_fps or 30.0, crf=23) as w, frames(clip, MAX_SIDE) as stream:
        for f in stream:
            w.write(f.image, time_s=f.time_s)


def prepare(source: Path, out: Path) -> str:
    """Make the original video playable for the results page: "upload" when the upload plays as it
    is, NAME when it was transcoded into ``out``, "" when neither worked (the page then shows the
    face video only)."""
    if playable(source):
        return "upload"
    try:
        transcode(source, out / NAME)
        return NAME
    except Exception as e:  # noqa: BLE001 - the review page falls back to the face video
        log.warning("could not transcode %s for the browser: %s", source.name, e)
        (out / NAME).unlink(missing_ok=True)
        return ""


def original_file(store: Any, a: Any, probe: bool = True) -> Path | None:
    """The file to serve as analysis ``a``'s original video (always video/mp4), or None. An
    analysis made before the original was kept has no word on it in its summary: its upload is
    probed, unless ``probe`` is False (listings of many analyses)."""
    made = store.result_dir(a.id) / NAME
    if made.is_file():
        return made
    upload = store.upload_path(a.id)
    said = a.summary_dict().get("original")
    if upload.is_file() and (said == "upload" or (said is None and probe and playable(upload))):
        return upload  # said is None: an analysis made before the original was kept
    return None


__all__ = ["NAME", "original_file", "playable", "prepare", "transcode"]
