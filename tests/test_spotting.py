"""Spotting on short synthetic aligned-crop sequences with known motions (no ../shared needed)."""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from microlens.errors import UsageError
from microlens.face.track import CROP_SIZE, FaceFrame
from microlens.science.synthetic import astronaut_scene, bump, warp
from microlens.spot import baseline as baseline_spotter
from microlens.spot import motion as motion_meter
from microlens.spot import spotting

Field = Callable[[float], np.ndarray | None]  # time -> (224, 224, 2) displacement or None


def make_face() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut as an aligned 224 crop (eyes level) and its 468 face_mesh landmarks in it."""
    import mediapipe as mp

    scene = astronaut_scene(640, 480, face_width=150.0).image
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as fm:
        res = fm.process(scene)
    lm = np.array([(p.x * 640, p.y * 480) for p in res.multi_face_landmarks[0].landmark[:468]])
    le, re = lm[[33, 133]].mean(axis=0), lm[[362, 263]].mean(axis=0)
    s = 0.30 * CROP_SIZE / float(np.linalg.norm(re - le))
    ang = math.atan2(re[1] - le[1], re[0] - le[0])
    m = np.array([[s * math.cos(ang), s * math.sin(ang), 0.0], [-s * math.sin(ang), s * math.cos(ang), 0.0]])
    m[:, 2] = np.array([CROP_SIZE / 2, 0.36 * CROP_SIZE]) - m[:, :2] @ ((le + re) / 2)
    crop = cv2.warpAffine(scene, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR)
    return crop, (lm @ m[:, :2].T + m[:, 2]).astype(np.float32)


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    """The aligned astronaut crop and its landmarks (see make_face)."""
    return make_face()


def rise_fall(t: float, onset: float, apex: float, offset: float, hold: float = 0.0) -> float:
    """0..1 smooth onset -> apex (-> hold) -> offset profile."""

    def sm(x: float) -> float:
        x = min(max(x, 0.0), 1.0)
        return x * x * (3 - 2 * x)

    if t <= onset or t >= offset:
        return 0.0
    if t <= apex:
        return sm((t - onset) / (apex - onset))
    if t <= apex + hold:
        return 1.0
    return sm((offset - t) / (offset - apex - hold))


def run(
    face: tuple[np.ndarray, np.ndarray],
    fps: float,
    duration: float,
    *,
    field: Field | None = None,
    affine: Callable[[float], np.ndarray] | None = None,
    gain: Callable[[int], float] | None = None,
    present: Callable[[float], bool] | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, list[spotting.Interval]]:
    """Render the crop sequence, measure it with MotionMeter and spot. Returns times, motion, intervals."""
    crop, lm = face
    rng = np.random.default_rng(seed)
    meter = motion_meter.MotionMeter()
    times, motion = [], []
    for i in range(int(round(duration * fps))):
        t = i / fps
        img = crop
        f = field(t) if field is not None else None
        if f is not None:
            img = warp(img, f)
        if affine is not None:
            img = cv2.warpAffine(img, affine(t), (CROP_SIZE, CROP_SIZE), borderMode=cv2.BORDER_REFLECT)
        out = img.astype(np.float32) * (gain(i) if gain is not None else 1.0)
        out = np.clip(out + rng.normal(0, 1.5, out.shape), 0, 255).astype(np.uint8)
        ff = FaceFrame(i, t, (0.0, 0.0, 1.0, 1.0), out, lm, 1) if present is None or present(t) else None
        times.append(t)
        motion.append(meter(ff))
    tt, mm = np.array(times), np.array(motion)
    return tt, mm, spotting.spot(tt, mm)


def _animate(unit: np.ndarray, amp: float, onset: float, apex: float, offset: float, hold: float) -> Field:
    """A displacement field (H, W, 2) of unit shape ``unit`` scaled by ``amp`` px along the
    onset -> apex -> offset profile; None outside the motion."""

    def f(t: float) -> np.ndarray | None:
        w = float(rise_fall(float(t), onset, apex, offset, hold))
        return np.asarray(unit, np.float32) * np.float32(amp * w) if w > 0 else None

    return f


def brows_up(
    face: tuple[np.ndarray, np.ndarray],
    amp: float,
    onset: float,
    apex: float,
    offset: float,
    hold: float = 0.0,
) -> Field:
    """Both brows lifted by ``amp`` px at the apex."""
    _, lm = face
    shape = (CROP_SIZE, CROP_SIZE)
    unit = np.sum(
        [bump(shape, tuple(lm[list(idx)].mean(axis=0)), 13.0, 0.0, -1.0)
         for idx in ((70, 63, 105, 66, 107), (300, 293, 334, 296, 336))],
        axis=0,
    )  # (H, W, 2)
    return _animate(unit, amp, onset, apex, offset, hold)


def smile(
    face: tuple[np.ndarray, np.ndarray],
    amp: float,
    onset: float,
    apex: float,
    offset: float,
    hold: float = 0.0,
) -> Field:
    """Mouth corners pulled up and out by ``amp`` px at the apex."""
    _, lm = face
    shape = (CROP_SIZE, CROP_SIZE)
    unit = bump(shape, tuple(lm[61]), 11.0, -0.5, -1.0) + bump(shape, tuple(lm[291]), 11.0, 0.5, -1.0)

    return _animate(unit, amp, onset, apex, offset, hold)


def test_micro_expression_is_spotted_as_micro(face):
    _, _, iv = run(face, 30.0, 5.0, field=brows_up(face, 3.0, 2.0, 2.15, 2.35))
    assert len(iv) == 1, iv
    (i,) = iv
    assert i.kind == "micro"
    assert abs(i.onset_s - 2.0) <= 0.1 and abs(i.apex_s - 2.15) <= 0.1 and abs(i.offset_s - 2.35) <= 0.1
    assert i.onset < i.apex < i.offset and i.score > 0
    assert all(type(v) is int for v in (i.onset, i.apex, i.offset))  # JSON-serialisable


def test_macro_expression_is_spotted_as_macro(face):
    _, _, iv = run(face, 25.0, 7.0, field=smile(face, 5.0, 2.0, 2.5, 4.5, hold=1.5))
    assert len(iv) == 1, iv
    (i,) = iv
    assert i.kind == "macro"
    assert abs(i.onset_s - 2.0) <= 0.2 and abs(i.offset_s - 4.5) <= 0.3 and 2.2 <= i.apex_s <= 4.2


def test_head_motion_alone_is_not_spotted(face):
    def affine(t: float) -> np.ndarray:  # shift 6 px and turn 3 degrees, then come back
        w = rise_fall(t, 1.0, 1.4, 3.0, hold=1.0)
        m = cv2.getRotationMatrix2D((112.0, 100.0), 3.0 * w, 1.0 + 0.03 * w)
        m[:, 2] += np.array([6.0 * w, -4.0 * w])
        return m

    _, _, iv = run(face, 30.0, 4.0, affine=affine)
    assert iv == []


def test_blink_alone_is_not_spotted(face):
    _, lm = face
    shape = (CROP_SIZE, CROP_SIZE)
    lids = bump(shape, tuple(lm[[159, 158, 160]].mean(axis=0)), 7.0, 0.0, 10.0) + bump(
        shape, tuple(lm[[386, 385, 387]].mean(axis=0)), 7.0, 0.0, 10.0
    )

    def blink(t: float) -> np.ndarray | None:  # upper lids down 10 px and back, twice
        w = rise_fall(t, 1.5, 1.57, 1.75) + rise_fall(t, 3.0, 3.06, 3.2)
        return lids * np.float32(w) if w > 0 else None

    times, motion, iv = run(face, 30.0, 4.5, field=blink)
    assert iv == []
    # the blinks do move the brow regions: without the blink mask they would be spotted
    assert len(spotting.spot(times, motion, spotting.SpotOptions(blink_ratio=1000.0))) >= 1


def test_lighting_flicker_alone_is_not_spotted(face):
    g = np.random.default_rng(3).uniform(0.88, 1.12, 200)
    _, _, iv = run(face, 30.0, 4.0, gain=lambda i: float(g[i]) if 30 <= i < 90 else 1.0)
    assert iv == []


def test_talking_alone_is_not_spotted(face):
    _, lm = face
    shape = (CROP_SIZE, CROP_SIZE)
    jaw = (bump(shape, tuple(lm[[14, 17]].mean(axis=0)), 14.0, 0.0, 1.0)
           + bump(shape, tuple(lm[[18, 200]].mean(axis=0)), 20.0, 0.0, 1.0))

    def talk(t: float) -> np.ndarray | None:  # the jaw opens 5 px, 4 times a second, for 2.5 s
        if not 1.0 < t < 3.5:
            return None
        return jaw * np.float32(5.0 * (0.5 - 0.5 * math.cos(2 * math.pi * 4.0 * (t - 1.0))))
    times, motion, iv = run(face, 30.0, 4.5, field=talk)
    assert iv == []
    assert len(spotting.spot(times, motion, spotting.SpotOptions(talk_swings=1000))) >= 1  # unmasked


def test_a_brow_flash_while_talking_is_spotted_and_marked_talking(face):
    _, lm = face
    shape = (CROP_SIZE, CROP_SIZE)
    jaw = (bump(shape, tuple(lm[[14, 17]].mean(axis=0)), 14.0, 0.0, 1.0)
           + bump(shape, tuple(lm[[18, 200]].mean(axis=0)), 20.0, 0.0, 1.0))
    brows = brows_up(face, 3.0, 2.2, 2.35, 2.5)  # a 0.3 s brow flash

    def talk_and_flash(t: float) -> np.ndarray | None:  # talking from 1 to 3.5 s, the flash inside it
        f = brows(t)
        if 1.0 < t < 3.5:
            j = jaw * np.float32(5.0 * (0.5 - 0.5 * math.cos(2 * math.pi * 4.0 * (t - 1.0))))
            f = j if f is None else f + j
        return f

    times, motion, iv = run(face, 30.0, 4.5, field=talk_and_flash)
    assert len(iv) == 1 and iv[0].kind == "micro" and iv[0].talking, iv
    same, spans = spotting.spot_talking(times, motion)
    assert same == iv and len(spans) == 1, spans
    assert spans[0][0] <= 1.5 and spans[0][1] >= 3.0  # the talking, 1-3.5 s
    times, motion, quiet = run(face, 30.0, 4.5, field=brows)  # the same flash without speech
    assert len(quiet) == 1 and not quiet[0].talking, quiet
    assert spotting.spot_talking(times, motion)[1] == ()


def test_same_motion_at_25_and_60_fps_gives_the_same_interval(face):
    f = brows_up(face, 3.0, 1.5, 1.7, 1.9)
    _, _, a = run(face, 25.0, 3.5, field=f)
    _, _, b = run(face, 60.0, 3.5, field=f)
    assert len(a) == 1 and len(b) == 1, (a, b)
    assert a[0].kind == b[0].kind == "micro"
    for k in ("onset_s", "apex_s", "offset_s"):
        assert abs(getattr(a[0], k) - getattr(b[0], k)) <= 0.07, (a, b)
    assert b[0].onset > a[0].onset  # frame indices differ, seconds agree


def test_no_face_frames_never_produce_an_interval(face):
    times, motion, iv = run(
        face, 30.0, 3.0, field=brows_up(face, 4.0, 1.0, 1.2, 1.4), present=lambda t: False
    )
    assert iv == [] and np.isnan(motion).all()
    # the face is missing around the expression: nothing is invented there
    _, motion, iv = run(
        face, 30.0, 5.0, field=smile(face, 5.0, 2.0, 2.3, 3.0), present=lambda t: not 1.8 <= t <= 3.2
    )
    assert np.isnan(motion[60:90]).all()
    assert all(i.offset_s < 1.8 or i.onset_s > 3.2 for i in iv), iv


def test_nan_rows_break_intervals(face):
    times, motion, iv = run(face, 30.0, 8.0, field=smile(face, 5.0, 2.0, 2.4, 6.0, hold=3.0))
    assert len(iv) == 1 and iv[0].kind == "macro"
    motion = motion.copy()
    motion[120:125] = np.nan  # the face is lost for 5 frames around t = 4.1 s
    for i in spotting.spot(times, motion):
        assert not (i.onset < 120 and i.offset >= 125), i


def test_motion_meter_features_shape_and_rigid_invariance(face):
    crop, lm = face
    meter = motion_meter.MotionMeter()
    a = meter(FaceFrame(0, 0.0, (0, 0, 1, 1), crop, lm, 1))
    shifted = cv2.warpAffine(
        crop, np.float32([[1, 0, 3], [0, 1, -2]]), (CROP_SIZE, CROP_SIZE), borderMode=cv2.BORDER_REFLECT
    )
    b = meter(FaceFrame(1, 0.04, (0, 0, 1, 1), shifted, lm, 1))
    assert a.shape == b.shape == (spotting.N_FEATURES,) and a.dtype == np.float32
    assert np.abs(b).max() < 0.5  # a rigid shift of 3 px is not a deformation
    c = meter(None)
    assert np.isnan(c).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"peak_z": -1.0},
        {"edge_fraction": 1.5},
        {"baseline_s": 0.0},
        {"min_duration_s": 5.0, "max_duration_s": 1.0},
        {"key_s": float("nan")},
        {"edge_z": 9.0, "peak_z": 5.0},
        {"smooth_s": "x"},
    ],
)
def test_bad_options_raise_usage_error(kwargs):
    with pytest.raises(UsageError):
        spotting.SpotOptions(**kwargs)


def test_bad_arrays_raise_usage_error():
    with pytest.raises(UsageError):
        spotting.spot(np.arange(10.0), np.zeros((9, spotting.N_FEATURES)))
    with pytest.raises(UsageError):
        spotting.spot(np.arange(10.0), np.zeros((10, 3)))
    with pytest.raises(UsageError):
        spotting.spot(np.zeros(10), np.zeros((10, spotting.N_FEATURES)))
    with pytest.raises(UsageError):
        spotting.spot(np.array([0.0, np.nan, 1.0]), np.zeros((3, spotting.N_FEATURES)))
    assert spotting.spot(np.zeros(0), np.zeros((0, spotting.N_FEATURES))) == []


def test_baseline_spots_a_strong_motion_and_ignores_no_face(face):
    crop, lm = face
    f = smile(face, 8.0, 2.0, 2.2, 2.45)
    bm = baseline_spotter.BaselineMeter()
    rng = np.random.default_rng(1)
    times = np.arange(0, 5, 1 / 30)
    diff = []
    for i, t in enumerate(times):
        d = f(t)
        img = warp(crop, d) if d is not None else crop
        img = np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)
        diff.append(bm(FaceFrame(i, t, (0, 0, 1, 1), img, lm, 1)))
    iv = baseline_spotter.spot_baseline(times, np.array(diff))
    assert any(i.onset_s <= 2.2 <= i.offset_s for i in iv), iv
    nothing = np.full((len(times), baseline_spotter.BASELINE_GRID**2), np.nan)
    assert baseline_spotter.spot_baseline(times, nothing) == []


def test_interval_at_the_start_of_a_face_segment_is_dropped() -> None:
    """Motion that is already under way when the face appears has no observed onset: not spotted.
    The same motion one second later, after neutral frames, is spotted."""
    from microlens.spot.motion import N_FEATURES
    from microlens.spot.spotting import spot

    rng = np.random.default_rng(0)
    times = np.arange(300) / 30.0  # (T,) 10 s at 30 fps
    motion = rng.normal(0, 0.02, (300, N_FEATURES)).astype(np.float32)  # (T, R) crop px
    bumpy = np.sin(np.pi * np.clip(np.arange(12) / 11, 0, 1))[:, None] * 2.0  # a 0.4 s motion
    early = motion.copy()
    early[0:12] += bumpy
    assert all(iv.onset > 0 for iv in spot(times, early))
    late = motion.copy()
    late[150:162] += bumpy
    got = spot(times, late)
    assert len(got) == 1 and 140 <= got[0].onset <= 152 and got[0].kind == "micro"


def test_expression_filling_most_of_a_short_clip_needs_the_rest_frames(face):
    """A smile held over most of a 3 s clip is the clip's median, so a median baseline misses it;
    with each frame's neutral probability (here the truth; the expression prior in analyze) the
    baseline sits on the frames at rest and the smile is one macro interval. Frames scored only
    now and then (NaN between) are interpolated."""
    onset, apex, offset, hold = 0.6, 0.9, 2.6, 1.4
    times, motion, plain = run(face, 25.0, 3.2, field=smile(face, 5.0, onset, apex, offset, hold=hold))
    assert not any(iv.onset_s <= 1.5 <= iv.offset_s and iv.offset_s - iv.onset_s > 1.2 for iv in plain), plain
    neutral = np.array([1.0 if rise_fall(t, onset, apex, offset, hold) == 0 else 0.0 for t in times])
    sparse = neutral.copy()
    sparse[np.arange(len(times)) % 3 != 0] = np.nan  # (T,) one frame in three scored
    for p in (neutral, sparse):
        got = spotting.spot(times, motion, neutral=p)
        assert len(got) == 1, got
        (iv,) = got
        # the offset may run on: after a 3.5 px smile the motion meter keeps ~0.3 px of drift, which
        # is several noise units of the (clean, synthetic) rest frames
        assert iv.kind == "macro" and abs(iv.onset_s - onset) <= 0.2 and iv.offset_s >= offset - 0.3
        assert apex <= iv.apex_s <= offset
    # no frame at rest (every frame expressive, or never scored): the median baseline, as without
    for p in (np.zeros(len(times)), np.full(len(times), np.nan)):
        assert spotting.spot(times, motion, neutral=p) == plain
    # with the prior's expression readings too: the smile fills 2 s of the 3.2 s clip (over half), so
    # the rest frames make the baseline; where the faces outside the rest frames do not read as an
    # expression (a moving, talking face with a few still moments), the median is kept
    shown = 1.0 - neutral
    assert spotting.spot(times, motion, neutral=neutral, expressive=shown) == spotting.spot(
        times, motion, neutral=neutral)
    assert spotting.spot(times, motion, neutral=neutral, expressive=np.zeros(len(times))) == plain
    assert spotting.spot(times, motion, neutral=neutral, expressive=np.full(len(times), np.nan)) != plain
    assert spotting.spot(times, motion, spotting.SpotOptions(rest_expressive=0.0), neutral=neutral,
                         expressive=np.zeros(len(times))) != plain  # 0: rest frames wherever enough


def test_rest_frames_in_a_running_window() -> None:
    """In a clip longer than the baseline window, a 3 s hold inside a 4 s window shifts the running
    median; the windowed median of the rest frames does not, and the hold is one interval. With
    expression readings, the rest frames are used in the windows the hold fills (over half)."""
    from microlens.spot.motion import N_FEATURES, REGIONS
    from microlens.spot.options import SpotOptions
    from microlens.spot.spotting import spot

    rng = np.random.default_rng(0)
    times = np.arange(450) / 30.0  # (T,) 15 s at 30 fps
    motion = rng.normal(0, 0.05, (450, N_FEATURES)).astype(np.float32)  # (T, R) crop px
    hold = np.clip(np.minimum(np.arange(90) / 6, (89 - np.arange(90)) / 6), 0, 1)  # (90,) 3 s, 0.2 s ramps
    brow = 2 * list(REGIONS).index("brow_l") + 1  # vertical motion of the left brow
    motion[180:270, brow] -= 1.5 * hold
    opts = SpotOptions(baseline_s=4.0)
    neutral = np.ones(450)
    neutral[180:270] = 0.0
    got = spot(times, motion, opts, neutral)
    assert len(got) == 1 and abs(got[0].onset_s - 6.0) <= 0.2 and abs(got[0].offset_s - 9.0) <= 0.2, got
    assert not any(abs(iv.onset_s - 6.0) <= 0.2 and abs(iv.offset_s - 9.0) <= 0.2
                   for iv in spot(times, motion, opts)), spot(times, motion, opts)
    # (the hold fills 20 % of the clip, so the noise scale now comes from all frames: another score)
    gated = spot(times, motion, opts, neutral, 1.0 - neutral)
    assert len(gated) == 1, gated
    assert abs(gated[0].onset_s - 6.0) <= 0.2 and abs(gated[0].offset_s - 9.0) <= 0.2, gated


def test_bad_neutral_raises_usage_error() -> None:
    with pytest.raises(UsageError):
        spotting.spot(np.arange(10.0), np.zeros((10, spotting.N_FEATURES)), neutral=np.zeros(9))
    with pytest.raises(UsageError):
        spotting.spot(np.arange(10.0), np.zeros((10, spotting.N_FEATURES)), expressive=np.zeros(11))
    with pytest.raises(UsageError):
        spotting.SpotOptions(rest_prob=0.0)
    with pytest.raises(UsageError):
        spotting.SpotOptions(rest_expressive=1.5)
