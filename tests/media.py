"""Small generated media files for robustness tests (video and face stages, and end to end).

Use: ``from media import make_truncated_mp4`` in any test (the ``tests`` folder is on ``sys.path``
through ``tests/conftest.py``, like ``rawdata``; there is deliberately no ``tests/__init__.py``).
Every ``make_*(folder)`` writes its file into ``folder`` (created if needed) once, returns its path
and reuses the file when called again, so a session fixture can share them::

    @pytest.fixture(scope="session")
    def media_dir(tmp_path_factory):
        return tmp_path_factory.mktemp("media")

    def test_x(media_dir):
        path = make_truncated_mp4(media_dir)

Ground truth of each file is in the module constants next to its maker. Everything is small (at most
a few hundred kB; well under a second to make, the 4K clip and the VP8 WebM about 1-2 s) and built
from ``microlens.science.synthetic`` (the public-domain astronaut face) and PyAV; nothing is downloaded.

Files: clean talking face, 1 frame, 4K (2 frames), portrait phone video (rotation 90) and any
rotation, variable-frame-rate WebM (VP8/VP9), a face that leaves and comes back, no face, an MP4
cut in the middle (decodes partly), and the bad inputs in :data:`BAD_INPUTS` (random bytes, MP4
cut before its index, audio only, 0-frame MKV and MP4, empty file).
"""

from __future__ import annotations

import fractions
from pathlib import Path

import cv2
import numpy as np

from microlens.science import synthetic

FPS = 30.0  # frame rate of the generated clips (except the VFR one)


def _out(folder: Path | str, name: str) -> tuple[Path, bool]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    return p, p.is_file() and p.stat().st_size > 0


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth coloured noise background with no face: (height, width, 3) uint8."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    img = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 6, size=img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------- good videos

CLEAN_FRAMES = 45  # 1.5 s at 30 fps, 320x240


def talking_frames(n: int = CLEAN_FRAMES, width: int = 320, height: int = 240) -> list[np.ndarray]:
    """A talking-face-like clip: the astronaut with the mouth opening and closing (about 4 Hz)
    and a slight head sway (+-2 px). n frames (height, width, 3) uint8 RGB."""
    scene = synthetic.astronaut_scene(width, height, face_width=width * 0.35)
    mouth = scene.points["upper_lip"]
    fw = scene.face_box[2] - scene.face_box[0]
    unit = synthetic.bump((height, width), (mouth[0], mouth[1] + 0.06 * fw), 0.12 * fw, 0.0, 1.0)[..., 1]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for i in range(n):
        t = i / FPS
        open_px = np.float32(0.05 * fw * max(0.0, float(np.sin(2 * np.pi * 4 * t))))
        sx = np.float32(2 * np.sin(2 * np.pi * 0.5 * t))  # head sway, px
        sy = np.float32(np.sin(2 * np.pi * 0.3 * t))
        # one remap: mouth opening (output(x) = image(x - field)) plus the head shift
        img = cv2.remap(scene.image, xx - sx, yy - sy - open_px * unit, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT)
        out.append(img)
    return out


def make_clean_face(folder: Path | str) -> Path:
    """A clean talking-face-like H.264 MP4: CLEAN_FRAMES frames, 320x240, 30 fps, face in all."""
    p, done = _out(folder, "clean_face.mp4")
    if not done:
        synthetic.write_video(str(p), talking_frames(), FPS)
    return p


LARGE_MB = 5.0  # at least this many megabytes


def make_large_face(folder: Path | str) -> Path:
    """A real-sized (>= LARGE_MB MB) 640x480 H.264 MP4 of the talking face with camera noise,
    encoded nearly losslessly: 1 s at 30 fps. Its bytes include many CR and LF bytes, which is what
    tripped Werkzeug's form limit on file parts (issue 19)."""
    p, done = _out(folder, "large_face.mp4")
    if not done:
        rng = np.random.default_rng(7)
        frames = [np.clip(f.astype(np.int16) + rng.normal(0, 10, f.shape), 0, 255).astype(np.uint8)
                  for f in talking_frames(30, 640, 480)]
        synthetic.write_video(str(p), frames, FPS, crf=2)
    return p


ONE_FRAME_SIZE = (320, 240)  # width, height


def make_one_frame(folder: Path | str) -> Path:
    """A 1-frame H.264 MP4 with a face (320x240)."""
    p, done = _out(folder, "one_frame.mp4")
    if not done:
        w, h = ONE_FRAME_SIZE
        synthetic.write_video(str(p), [synthetic.astronaut_scene(w, h, w * 0.35).image], FPS)
    return p


UHD_SIZE = (3840, 2160)  # width, height
UHD_FRAMES = 2


def make_4k(folder: Path | str) -> Path:
    """A 3840x2160 H.264 MP4 of UHD_FRAMES frames with a face about 1/4 of the width."""
    p, done = _out(folder, "uhd_4k.mp4")
    if not done:
        w, h = UHD_SIZE
        img = synthetic.astronaut_scene(w, h, face_width=900).image
        synthetic.write_video(str(p), [img] * UHD_FRAMES, FPS, crf=30)
    return p


PORTRAIT_SIZE = (240, 320)  # display width, height (upright); stored as 320x240 landscape
PORTRAIT_ROTATION = 90  # degrees clockwise in the display matrix, as a phone held upright writes
PORTRAIT_FRAMES = 10


def portrait_upright() -> np.ndarray:
    """The upright (320, 240, 3) portrait image that the rotated phone video should decode to."""
    w, h = PORTRAIT_SIZE
    img = synthetic.astronaut_scene(w, h, face_width=w * 0.45).image.copy()
    img[:16, :16] = (255, 0, 0)  # red marker at the top-left corner of the upright picture
    return img


def make_portrait(folder: Path | str) -> Path:
    """A phone-style portrait video: frames stored landscape 320x240 (the picture turned 90 degrees
    counter-clockwise) with a display matrix saying 'rotate 90 clockwise'. Decodes upright to
    :func:`portrait_upright`."""
    p, done = _out(folder, "portrait_rot90.mp4")
    if not done:
        stored = np.ascontiguousarray(np.rot90(portrait_upright(), k=1))  # (240, 320, 3)
        synthetic.write_video(str(p), [stored] * PORTRAIT_FRAMES, FPS, rotation=PORTRAIT_ROTATION)
    return p


def make_rotated(folder: Path | str, rotation: int) -> Path:
    """Like :func:`make_portrait` with any display rotation (0, 90, 180, 270 clockwise), in a MOV."""
    p, done = _out(folder, f"rotated_{rotation}.mov")
    if not done:
        stored = np.ascontiguousarray(np.rot90(portrait_upright(), k=rotation // 90))
        synthetic.write_video(str(p), [stored] * 3, FPS, rotation=rotation)
    return p


# Irregular frame times (s) like a browser MediaRecorder: jitter, a dropped stretch, a burst.
VFR_TIMES = (0.0, 0.031, 0.069, 0.1, 0.133, 0.2, 0.234, 0.266, 0.3, 0.4, 0.5, 0.533, 0.55, 0.567,
             0.6, 0.633, 0.7, 0.733, 0.8, 0.9)


def make_vfr_webm(folder: Path | str, codec: str = "libvpx") -> Path:
    """A variable-frame-rate WebM (VP8 by default, or 'libvpx-vp9') with frames at VFR_TIMES and a
    talking face; its header fps (30) does not describe the real timing."""
    p, done = _out(folder, f"vfr_{codec}.webm")
    if not done:
        frames = talking_frames(len(VFR_TIMES))
        synthetic.write_video(str(p), frames, FPS, codec=codec, times=VFR_TIMES)
    return p


# Face leaves and comes back: 320x240 window over a 2-part canvas (face | texture).
LEAVES_FRAMES = 48
LEAVES_SIZE = (320, 240)


def _leaves_offsets() -> list[int]:
    """Window x offset per frame: 12 frames on the face, slide out over 6, 12 away, slide back
    over 6, 12 on the face."""
    w = LEAVES_SIZE[0]
    away = 2 * w
    slide = [int(round(away * k / 6)) for k in range(1, 6)]
    return [0] * 12 + slide + [away] * 13 + slide[::-1] + [0] * 13


LEAVES_PRESENT = tuple(range(0, 12)) + tuple(range(35, 48))  # frames with the whole face in view
LEAVES_ABSENT = tuple(range(17, 30))  # frames with no face at all


def make_face_leaves(folder: Path | str) -> Path:
    """A face that leaves the frame and comes back (camera pans to a face-free wall and back).
    Whole face in frames LEAVES_PRESENT, no face at all in frames LEAVES_ABSENT; the frames
    between are partial views during the pans."""
    p, done = _out(folder, "face_leaves.mp4")
    if not done:
        w, h = LEAVES_SIZE
        face = synthetic.astronaut_scene(w, h, face_width=w * 0.35).image
        canvas = np.hstack([face, texture(2 * w, h, seed=3)])  # (h, 3w, 3)
        offsets = _leaves_offsets()
        assert len(offsets) == LEAVES_FRAMES
        frames = [np.ascontiguousarray(canvas[:, x: x + w]) for x in offsets]
        synthetic.write_video(str(p), frames, FPS)
    return p


NO_FACE_FRAMES = 20


def make_no_face(folder: Path | str) -> Path:
    """A 320x240 H.264 MP4 of a slowly drifting texture, with no face."""
    p, done = _out(folder, "no_face.mp4")
    if not done:
        tex = texture(400, 300, seed=1)
        frames = [np.ascontiguousarray(tex[i: i + 240, i: i + 320]) for i in range(NO_FACE_FRAMES)]
        synthetic.write_video(str(p), frames, FPS)
    return p


# ------------------------------------------------------------------------------------ bad inputs

def make_random_bytes(folder: Path | str) -> Path:
    """64 kB of random bytes named .mp4."""
    p, done = _out(folder, "random.mp4")
    if not done:
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 65536, dtype=np.uint8).tobytes())
    return p


def make_truncated_mp4(folder: Path | str, keep: float = 0.5) -> Path:
    """A normal MP4 (index 'moov' at the end, as cameras and ffmpeg write it) cut to ``keep`` of its
    size: no index, so no frame can be decoded (a VideoError)."""
    p, done = _out(folder, f"truncated_{int(keep * 100)}.mp4")
    if not done:
        full = p.with_suffix(".full.mp4")
        synthetic.write_video(str(full), talking_frames(30), FPS)
        data = full.read_bytes()
        full.unlink()
        p.write_bytes(data[: int(len(data) * keep)])
    return p


TRUNCATED_TAIL_FRAMES = 60  # frames encoded before the cut


def make_truncated_tail(folder: Path | str, keep: float = 0.6) -> Path:
    """A 'faststart' MP4 (index first, as web uploads are) whose data is cut to ``keep`` of the
    file: the first frames decode, the tail is missing (decoding ends early with a warning)."""
    import av

    p, done = _out(folder, f"truncated_tail_{int(keep * 100)}.mp4")
    if not done:
        full = p.with_suffix(".full.mp4")
        frames = talking_frames(TRUNCATED_TAIL_FRAMES)
        with av.open(str(full), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            s = out.add_stream("libx264", rate=int(FPS))
            s.width, s.height = frames[0].shape[1], frames[0].shape[0]
            s.pix_fmt = "yuv420p"
            s.options = {"crf": "20", "preset": "veryfast", "g": "10"}
            for i, img in enumerate(frames):
                f = av.VideoFrame.from_ndarray(img, format="rgb24")
                f.pts = i
                f.time_base = fractions.Fraction(1, int(FPS))
                for pkt in s.encode(f):
                    out.mux(pkt)
            for pkt in s.encode():
                out.mux(pkt)
        data = full.read_bytes()
        full.unlink()
        p.write_bytes(data[: int(len(data) * keep)])
    return p


def make_audio_only(folder: Path | str) -> Path:
    """An MP4 (.m4a content named .mp4) with one AAC audio stream (1 s of a 440 Hz tone), no video."""
    import av

    p, done = _out(folder, "audio_only.mp4")
    if not done:
        rate = 44100
        with av.open(str(p), "w", format="mp4") as out:
            s = out.add_stream("aac", rate=rate)
            s.layout = "mono"
            t = np.arange(rate) / rate
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]  # (1, n)
            n = 1024
            for i in range(0, tone.shape[1], n):
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, i: i + n]), format="fltp",
                                                layout="mono")
                fr.sample_rate = rate
                fr.pts = i
                for pkt in s.encode(fr):
                    out.mux(pkt)
            for pkt in s.encode():
                out.mux(pkt)
    return p


def make_zero_frame(folder: Path | str, ext: str = "mkv") -> Path:
    """A container with a video stream (H.264, 320x240) but no frames."""
    import av

    p, done = _out(folder, f"zero_frames.{ext}")
    if not done:
        with av.open(str(p), "w") as out:
            s = out.add_stream("libx264", rate=int(FPS))
            s.width, s.height = 320, 240
            s.pix_fmt = "yuv420p"
            out.start_encoding()  # write the header of a stream that never gets a packet
    return p


def make_zero_frame_mp4(folder: Path | str) -> Path:
    """An MP4 whose H.264 video track never got a frame."""
    return make_zero_frame(folder, "mp4")


def make_empty_file(folder: Path | str) -> Path:
    """A 0-byte file named .mp4."""
    p = Path(folder) / "empty.mp4"
    Path(folder).mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"")
    return p


BAD_INPUTS = {  # name -> maker: files that open_clip must reject with a VideoError
    "random_bytes": make_random_bytes,
    "truncated_mp4": make_truncated_mp4,
    "audio_only": make_audio_only,
    "zero_frames": make_zero_frame,
    "zero_frames_mp4": make_zero_frame_mp4,
    "empty": make_empty_file,
}
