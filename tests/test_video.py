"""Stage 1, video: probing, clear errors, real timestamps, rotation, downsizing, truncation, writer."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
from media import (
    BAD_INPUTS,
    CLEAN_FRAMES,
    FPS,
    PORTRAIT_FRAMES,
    PORTRAIT_SIZE,
    UHD_FRAMES,
    UHD_SIZE,
    VFR_TIMES,
    make_4k,
    make_clean_face,
    make_one_frame,
    make_portrait,
    make_rotated,
    make_truncated_tail,
    make_vfr_webm,
    portrait_upright,
    talking_frames,
)

from microlens.errors import VideoError
from microlens.science import synthetic
from microlens.video import decode as video


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


REASONS = {  # bad input -> words the VideoError message must contain
    "random_bytes": "not a video file",
    "truncated_mp4": "truncated",
    "audio_only": "audio only",
    "zero_frames": "0-frame",
    "zero_frames_mp4": "0-frame",
    "empty": "empty",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_a_clear_video_error(media_dir: Path, name: str) -> None:
    path = BAD_INPUTS[name](media_dir)
    with pytest.raises(VideoError) as err:
        video.open_clip(str(path))
    msg = str(err.value)
    assert REASONS[name] in msg, msg
    assert str(path) in msg
    assert "\n" not in msg and "Traceback" not in msg
    assert err.value.exit_code == 3


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="file not found"):
        video.open_clip(str(tmp_path / "nope.mp4"))
    with pytest.raises(VideoError, match="folder"):
        video.open_clip(str(tmp_path))


def test_clean_clip_frames_and_times(media_dir: Path) -> None:
    clip = video.open_clip(str(make_clean_face(media_dir)))
    assert (clip.width, clip.height, clip.rotation) == (320, 240, 0)
    assert clip.codec == "h264"
    assert abs(clip.nominal_fps - FPS) < 0.5
    frames = list(video.frames(clip))
    assert len(frames) == CLEAN_FRAMES
    assert [f.index for f in frames] == list(range(CLEAN_FRAMES))
    times = np.array([f.time_s for f in frames])
    assert times[0] == 0.0
    np.testing.assert_allclose(times, np.arange(CLEAN_FRAMES) / FPS, atol=2e-3)
    assert abs(video.effective_fps(times) - FPS) < 0.1
    img = frames[10].image
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    # decoded pixels are the encoded RGB picture (lossy codec: small mean error)
    assert np.abs(img.astype(int) - talking_frames()[10].astype(int)).mean() < 6


def test_one_frame_video(media_dir: Path) -> None:
    clip = video.open_clip(str(make_one_frame(media_dir)))
    frames = list(video.frames(clip))
    assert len(frames) == 1 and frames[0].time_s == 0.0
    assert video.effective_fps([f.time_s for f in frames]) == 0.0


def test_portrait_rotation_is_applied(media_dir: Path) -> None:
    clip = video.open_clip(str(make_portrait(media_dir)))
    assert clip.rotation == 90
    assert (clip.width, clip.height) == PORTRAIT_SIZE  # display size, portrait
    frames = list(video.frames(clip))
    assert len(frames) == PORTRAIT_FRAMES
    img = frames[0].image
    assert img.shape == (PORTRAIT_SIZE[1], PORTRAIT_SIZE[0], 3)
    up = portrait_upright()
    assert np.abs(img.astype(int) - up.astype(int)).mean() < 6
    r, g, b = img[:12, :12].reshape(-1, 3).mean(0)  # the red marker is top-left once upright
    assert r > 180 and g < 80 and b < 80


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_every_rotation_decodes_upright(media_dir: Path, rotation: int) -> None:
    clip = video.open_clip(str(make_rotated(media_dir, rotation)))
    assert clip.rotation == rotation
    assert (clip.width, clip.height) == PORTRAIT_SIZE
    img = next(iter(video.frames(clip))).image
    assert np.abs(img.astype(int) - portrait_upright().astype(int)).mean() < 6


def test_old_style_rotate_tag_is_read() -> None:
    assert video._clockwise(0, {"rotate": "90"}) == 90
    assert video._clockwise(-90, {}) == 90  # display matrix: 90 degrees counter-clockwise negative
    assert video._clockwise(90, {}) == 270
    assert video._clockwise(180, {}) == 180


@pytest.mark.parametrize("codec", ["libvpx", "libvpx-vp9"])
def test_vfr_webm_keeps_real_times(media_dir: Path, codec: str) -> None:
    clip = video.open_clip(str(make_vfr_webm(media_dir, codec)))
    assert clip.codec in ("vp8", "vp9", "libvpx", "libvpx-vp9")
    times = [f.time_s for f in video.frames(clip)]
    np.testing.assert_allclose(times, VFR_TIMES, atol=1.5e-3)
    span = VFR_TIMES[-1] - VFR_TIMES[0]
    assert abs(video.effective_fps(times) - (len(VFR_TIMES) - 1) / span) < 0.1


def test_4k_is_downsized(media_dir: Path) -> None:
    clip = video.open_clip(str(make_4k(media_dir)))
    assert (clip.width, clip.height) == UHD_SIZE
    frames = list(video.frames(clip, max_side=960))
    assert len(frames) == UHD_FRAMES
    assert frames[0].image.shape == (540, 960, 3)
    full = next(iter(video.frames(clip)))
    assert full.image.shape == (UHD_SIZE[1], UHD_SIZE[0], 3)


def test_max_side_keeps_small_frames_and_rotation(media_dir: Path) -> None:
    clip = video.open_clip(str(make_portrait(media_dir)))
    img = next(iter(video.frames(clip, max_side=160))).image
    assert img.shape == (160, 120, 3)  # portrait stays portrait
    assert video.scaled_size(320, 240, None) == (320, 240)
    assert video.scaled_size(320, 240, 640) == (320, 240)
    assert video.scaled_size(3840, 2160, 1280) == (1280, 720)


def test_truncated_tail_ends_cleanly_with_a_warning(media_dir: Path) -> None:
    clip = video.open_clip(str(make_truncated_tail(media_dir)))
    stream = video.frames(clip)
    frames = list(stream)
    assert 5 < len(frames) < 60
    assert np.all(np.diff([f.time_s for f in frames]) > 0)
    assert stream.warnings and "truncated" in stream.warnings[0]


def test_streaming_does_not_keep_frames(tmp_path: Path) -> None:
    """Memory stays flat: decoding 5x more frames does not use more Python-tracked memory."""
    frame = synthetic.astronaut_scene(320, 240, 100).image

    def peak(n: int) -> int:
        path = tmp_path / f"long{n}.mp4"
        synthetic.write_video(str(path), (np.roll(frame, i, axis=1) for i in range(n)), FPS)
        clip = video.open_clip(str(path))
        tracemalloc.start()
        count = sum(1 for _ in video.frames(clip))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == n
        return top

    small, large = peak(30), peak(150)
    assert large < small * 1.5 + 2 * frame.nbytes  # one frame in flight, not 150


def test_early_close_releases_the_file(media_dir: Path) -> None:
    clip = video.open_clip(str(make_clean_face(media_dir)))
    with video.frames(clip) as stream:
        first = next(stream)
    assert first.index == 0
    with pytest.raises(StopIteration):
        next(stream)


def test_fps_warning() -> None:
    assert video.fps_warning(30.0) is None
    msg = video.fps_warning(15.0)
    assert msg is not None and "15.0 fps" in msg


def test_video_writer_roundtrip(tmp_path: Path) -> None:
    out = tmp_path / "face.mp4"
    imgs = talking_frames(12, 225, 161)  # odd sizes are cropped to even for yuv420p
    with video.VideoWriter(str(out), fps=25) as w:
        for img in imgs:
            w.write(img)
    assert not list(tmp_path.glob("*.partial*"))
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
    clip = video.open_clip(str(out))
    assert (clip.width, clip.height) == (224, 160)
    times = [f.time_s for f in video.frames(clip)]
    np.testing.assert_allclose(times, np.arange(12) / 25, atol=2e-3)


def test_video_writer_leaves_nothing_on_error(tmp_path: Path) -> None:
    out = tmp_path / "face.mp4"
    with pytest.raises(RuntimeError):
        with video.VideoWriter(str(out), fps=30) as w:
            w.write(np.zeros((64, 64, 3), np.uint8))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


# broken timestamps (issue 19) --------------------------------------------------------------------
def _packets(n: int, fps: int, fmt: str, path: Path, pts: list[int] | None = None) -> Path:
    """Encode ``n`` face frames (H.264, no B-frames) into ``fmt``; ``pts`` overrides each packet's
    pts and dts (in frames) as written."""
    images = talking_frames(n)
    out = av.open(str(path), "w", format=fmt)
    s = out.add_stream("libx264", rate=fps)
    s.width, s.height, s.pix_fmt = images[0].shape[1], images[0].shape[0], "yuv420p"
    s.options = {"bf": "0"}
    packets = []
    for i, img in enumerate(images):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        packets += list(s.encode(frame))
    packets += list(s.encode())
    for i, p in enumerate(packets):
        if pts is not None:
            p.pts = p.dts = pts[i]
        out.mux(p)
    out.close()
    return path


def _times(path: Path) -> tuple[np.ndarray, list[str]]:
    stream = video.frames(video.open_clip(str(path)))
    times = np.array([f.time_s for f in stream])  # (n,)
    return times, stream.warnings


@pytest.mark.parametrize("fmt", ["matroska", "mp4"])
def test_all_equal_timestamps_fall_back_to_the_nominal_rate(tmp_path: Path, fmt: str) -> None:
    """Every frame at the same time: all frames kept, 1/fps apart, and a warning (issue 19)."""
    n, fps = 40, 25
    path = _packets(n, fps, fmt, tmp_path / f"equal.{fmt}", pts=[0] * n)
    times, warnings = _times(path)
    assert len(times) == n
    step = 1 / fps if fmt == "matroska" else 1 / 30  # the mp4 header's rate is unusable here: 30 fps
    assert np.allclose(np.diff(times), step)
    assert times[-1] + step == pytest.approx(n * step)
    assert any("timestamps are unusable" in w for w in warnings), warnings
    assert not any("truncated" in w for w in warnings)


def test_joined_mpegts_continues_after_the_backward_jump(tmp_path: Path) -> None:
    """Two MPEG-TS recordings joined byte for byte (both clocks start again): the second half keeps
    its spacing after the first instead of being squeezed into milliseconds, with a warning."""
    n, fps = 30, 30
    a = _packets(n, fps, "mpegts", tmp_path / "a.ts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes(a.read_bytes() * 2)
    times, warnings = _times(joined)
    assert len(times) == 2 * n
    assert np.allclose(np.diff(times), 1 / fps, atol=1e-3)  # no squeeze, no gap
    assert times[-1] + 1 / fps == pytest.approx(2 * n / fps, abs=1e-3)
    assert any("jump back" in w and f"frame {n}" in w for w in warnings), warnings


def test_frame_clock_keeps_real_times_and_repairs_repeats() -> None:
    """Sound timestamps are kept as they are (variable rate too); a repeated one is placed one frame
    period on; a frame without a timestamp too."""
    from microlens.video.frametimes import FrameClock

    clock = FrameClock(0.04)
    got = [clock(t) for t in (10.0, 10.04, 10.1, 10.1, 10.2, None, 10.3)]
    assert got == pytest.approx([0.0, 0.04, 0.1, 0.14, 0.2, 0.24, 0.3])
    assert clock.repeated == 2 and clock.jumps == []
    assert clock.warnings() == ["2 of 7 frames repeat the previous frame's timestamp (or have none): each "
                                "was placed one frame (1/25.00 s) after the previous one"]
    sound = FrameClock(1 / 30)
    assert [sound(t) for t in (0.0, 0.03, 0.07, 0.2)] == pytest.approx([0.0, 0.03, 0.07, 0.2])
    assert sound.warnings() == []
