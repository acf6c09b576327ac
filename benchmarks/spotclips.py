"""Ground-truth clips for the spotting benchmark: a real face texture with injected facial motions.

A still face (the astronaut from skimage, or one frame of the shared webcam clip, upscaled) is
animated by smooth displacement bumps placed on its mediapipe landmarks. Expressions (micro:
0.12-0.45 s, macro: 1-4 s) have onset -> apex -> offset profiles with known times. Distractors
that must NOT be spotted: blinks, head translation/rotation/scale (whole-image affine), talking
(oscillating jaw and lower lip), lighting flicker and slow illumination changes, sensor noise.
Everything is drawn from a seeded numpy Generator, so a ClipSpec always renders the same video.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

WEBCAM_CLIP = "videos/kphotoalbum-demo-movie.avi"  # relative to the shared data folder
WIDTH, HEIGHT = 640, 480

# action -> [(landmark indices, unit direction (dx, dy), bump radius)]; direction and radius in
# face widths. Image left/right.
ACTIONS: dict[str, list[tuple[tuple[int, ...], tuple[float, float], float]]] = {
    "brows_up": [((70, 63, 105, 66, 107), (0.0, -1.0), 0.09), ((300, 293, 334, 296, 336), (0.0, -1.0), 0.09)],
    "frown": [((66, 107), (0.7, 0.6), 0.07), ((296, 336), (-0.7, 0.6), 0.07)],
    "smile": [((61,), (-0.5, -1.0), 0.07), ((291,), (0.5, -1.0), 0.07)],
    "mouth_down": [((61,), (0.0, 1.0), 0.07), ((291,), (0.0, 1.0), 0.07)],
    "smirk": [((291,), (0.6, -1.0), 0.07)],
    "nose_wrinkle": [((48,), (0.0, -1.0), 0.06), ((278,), (0.0, -1.0), 0.06), ((4,), (0.0, -0.5), 0.05)],
    "lip_press": [((0, 13), (0.0, 0.8), 0.06), ((14, 17), (0.0, -0.8), 0.06)],
    "chin_raise": [((152, 199), (0.0, -1.0), 0.09), ((17,), (0.0, -0.5), 0.06)],
}
BLINK = [((159, 158, 160), (0.0, 1.0), 0.035), ((386, 385, 387), (0.0, 1.0), 0.035),
         ((145,), (0.0, -0.3), 0.03), ((374,), (0.0, -0.3), 0.03)]
BLINK_AMP = 0.03  # upper-lid travel at a full blink, face widths
TALK = [((14, 17), (0.0, 1.0), 0.07), ((152, 199), (0.0, 1.0), 0.1), ((61,), (0.15, 0.3), 0.06),
        ((291,), (-0.15, 0.3), 0.06)]


@dataclass(frozen=True)
class Texture:
    """A still face frame and its mediapipe face_mesh landmarks."""

    name: str
    image: np.ndarray  # (HEIGHT, WIDTH, 3) uint8 RGB
    landmarks: np.ndarray  # (468, 2) float64 image pixels
    face_width: float  # px, landmark 234 to 454


@dataclass(frozen=True)
class ClipSpec:
    """One benchmark clip: which texture, frame rate, length and random seed."""

    name: str
    texture: str  # "astronaut" or "webcam"
    fps: float
    duration_s: float
    seed: int


@dataclass(frozen=True)
class Event:
    """A ground-truth expression."""

    kind: str  # "micro" or "macro"
    action: str  # key of ACTIONS
    onset_s: float
    apex_s: float
    offset_s: float
    amplitude: float  # peak displacement, face widths


@dataclass
class Script:
    """Everything that happens in a clip, with times in seconds."""

    events: list[Event]
    blinks: list[tuple[float, float]]  # (start, end)
    talks: list[tuple[float, float, float, float]]  # (start, end, frequency Hz, amplitude fw)
    flickers: list[tuple[float, float, float]]  # (start, end, strength)
    pose_keys: list[tuple[float, float, float, float, float]]  # (time, dx px, dy px, angle deg, scale)
    light_keys: list[tuple[float, float]]  # (time, gain)
    extra: dict[str, float] = field(default_factory=dict)


def _landmarks(image: np.ndarray) -> np.ndarray:
    """(468, 2) mediapipe face_mesh landmarks of the one face in ``image``, image pixels."""
    import mediapipe as mp

    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as fm:
        res = fm.process(image)
    if not res.multi_face_landmarks:
        raise RuntimeError("no face found on the texture")
    h, w = image.shape[:2]
    return np.array([(p.x * w, p.y * h) for p in res.multi_face_landmarks[0].landmark[:468]])


def load_texture(name: str, shared: Path | None) -> Texture | None:
    """The named texture, or None when its source (the shared webcam clip) is absent."""
    if name == "astronaut":
        from microlens.science.synthetic import astronaut_scene

        img = astronaut_scene(WIDTH, HEIGHT, face_width=150.0, center=(WIDTH / 2, HEIGHT * 0.45)).image
    elif name == "webcam":
        path = shared / WEBCAM_CLIP if shared is not None else None
        if path is None or not path.is_file():
            return None
        import av

        with av.open(str(path)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        img = cv2.resize(frames[min(30, len(frames) - 1)], (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    else:
        raise ValueError(f"unknown texture {name}")
    lm = _landmarks(img)
    return Texture(name, img, lm, float(np.linalg.norm(lm[234] - lm[454])))


def _free(busy: list[tuple[float, float]], a: float, b: float, gap: float) -> bool:
    return all(b + gap <= s or a >= e + gap for s, e in busy)


def make_script(spec: ClipSpec, n_micro: int | None = None, n_macro: int | None = None) -> Script:
    """Draw the clip's expressions and distractors from ``spec.seed``."""
    rng = np.random.default_rng(spec.seed)
    dur = spec.duration_s
    n_micro = n_micro if n_micro is not None else int(round(dur / 7))
    n_macro = n_macro if n_macro is not None else int(round(dur / 15))
    busy: list[tuple[float, float]] = []
    talks = []
    for _ in range(max(1, int(dur // 30))):
        for _try in range(100):
            length = rng.uniform(2.0, 5.0)
            a = rng.uniform(1.0, dur - length - 1.0)
            if _free(busy, a, a + length, 1.5):
                busy.append((a, a + length))
                talks.append((a, a + length, rng.uniform(3.0, 5.0), rng.uniform(0.025, 0.045)))
                break
    events = []
    actions = sorted(ACTIONS)
    for kind, n in (("macro", n_macro), ("micro", n_micro)):
        for _ in range(n):
            for _try in range(200):
                if kind == "micro":
                    length = rng.uniform(0.12, 0.45)
                    apex = length * rng.uniform(0.35, 0.6)
                    amp = rng.uniform(0.012, 0.022)
                else:
                    length = rng.uniform(1.0, 4.0)
                    apex = min(length * 0.4, rng.uniform(0.25, 0.7))
                    amp = rng.uniform(0.025, 0.05)
                a = rng.uniform(1.0, dur - length - 1.0)
                if _free(busy, a, a + length, 1.0):
                    busy.append((a, a + length))
                    events.append(Event(kind, actions[int(rng.integers(len(actions)))], round(a, 4),
                                        round(a + apex, 4), round(a + length, 4), round(amp, 4)))
                    break
    events.sort(key=lambda e: e.onset_s)
    blinks = []
    t = rng.uniform(0.5, 3.0)
    while t < dur - 0.5:
        blinks.append((t, t + rng.uniform(0.1, 0.3)))
        t += rng.uniform(2.0, 6.0)
    flickers = []
    for _ in range(max(1, int(dur // 20))):
        a = rng.uniform(0.0, dur - 3.0)
        flickers.append((a, a + rng.uniform(1.0, 3.0), rng.uniform(0.04, 0.1)))
    pose_keys = [(0.0, 0.0, 0.0, 0.0, 1.0)]
    t = 0.0
    while t < dur:
        t += rng.uniform(1.5, 6.0)
        still = rng.uniform() < 0.3
        pose_keys.append((t, *((pose_keys[-1][1:]) if still else
                               (rng.uniform(-25, 25), rng.uniform(-15, 15), rng.uniform(-7, 7),
                                rng.uniform(0.93, 1.07)))))
    light_keys = [(0.0, 1.0)]
    t = 0.0
    while t < dur:
        t += rng.uniform(3.0, 10.0)
        light_keys.append((t, rng.uniform(0.8, 1.15)))
    return Script(events, blinks, talks, flickers, pose_keys, light_keys)


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def profile(e: Event, t: float) -> float:
    """Expression intensity 0..1 at time t: smooth rise onset->apex, hold (macro), smooth fall."""
    if t <= e.onset_s or t >= e.offset_s:
        return 0.0
    if t <= e.apex_s:
        return _smooth((t - e.onset_s) / (e.apex_s - e.onset_s))
    if e.kind == "macro":
        fall = min(0.7, 0.3 * (e.offset_s - e.onset_s))
        return 1.0 if t < e.offset_s - fall else _smooth((e.offset_s - t) / fall)
    return _smooth((e.offset_s - t) / (e.offset_s - e.apex_s))


def _keyed(keys: Sequence[tuple[float, ...]], t: float) -> tuple[float, ...]:
    """Smoothstep interpolation between timed keys (time first)."""
    for k0, k1 in zip(keys, keys[1:], strict=False):
        if k0[0] <= t < k1[0]:
            w = _smooth((t - k0[0]) / max(1e-6, min(k1[0] - k0[0], 1.5)))
            return tuple(a + w * (b - a) for a, b in zip(k0[1:], k1[1:], strict=True))
    return keys[-1][1:]


def pose(script: Script, tex: Texture, t: float) -> np.ndarray:
    """(2, 3) head-motion affine at time t (moves to each key pose within 1.5 s, then holds)."""
    dx, dy, ang, sc = _keyed(script.pose_keys, t)
    c = tex.landmarks.mean(axis=0)
    m = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), float(ang), float(sc))
    m[:, 2] += np.array([dx, dy])
    return m


class Renderer:
    """Renders the frames of a scripted clip from a texture."""

    def __init__(self, tex: Texture, script: Script) -> None:
        self.tex, self.script = tex, script
        lm, fw = tex.landmarks, tex.face_width
        x0, y0 = lm.min(axis=0) - 0.35 * fw
        x1, y1 = lm.max(axis=0) + 0.35 * fw
        self.roi = (max(0, int(x0)), max(0, int(y0)), min(WIDTH, int(x1)), min(HEIGHT, int(y1)))
        rx0, ry0, rx1, ry1 = self.roi
        yy, xx = np.mgrid[ry0:ry1, rx0:rx1].astype(np.float32)
        self.xx, self.yy = xx, yy
        self._cache: dict[tuple[tuple[int, ...], float], np.ndarray] = {}

    def _bump(self, idx: tuple[int, ...], radius: float) -> np.ndarray:
        key = (idx, radius)
        if key not in self._cache:
            c = self.tex.landmarks[list(idx)].mean(axis=0)
            r = radius * self.tex.face_width
            self._cache[key] = np.exp(-((self.xx - c[0]) ** 2 + (self.yy - c[1]) ** 2) / (2 * r * r))
        return self._cache[key]

    def _add(self, fx: np.ndarray, fy: np.ndarray, parts: list, amp: float) -> None:
        fw = self.tex.face_width
        for idx, (dx, dy), radius in parts:
            g = self._bump(idx, radius)
            if dx:
                fx += g * (amp * dx * fw)
            if dy:
                fy += g * (amp * dy * fw)

    def frame(self, t: float, rng: np.random.Generator) -> np.ndarray:
        """The (HEIGHT, WIDTH, 3) uint8 RGB frame at time t (rng adds the sensor noise)."""
        s = self.script
        fx = np.zeros_like(self.xx)
        fy = np.zeros_like(self.xx)
        for e in s.events:
            if e.onset_s < t < e.offset_s:
                self._add(fx, fy, ACTIONS[e.action], e.amplitude * profile(e, t))
        for a, b in s.blinks:
            if a < t < b:
                close = 0.4 * (b - a)  # fast close, slower open
                w = _smooth((t - a) / close) if t < a + close else _smooth((b - t) / (b - a - close))
                self._add(fx, fy, BLINK, BLINK_AMP * w)
        for a, b, f, amp in s.talks:
            if a < t < b:
                ramp = min(1.0, (t - a) / 0.3, (b - t) / 0.3)
                w = 0.5 - 0.5 * math.cos(2 * math.pi * f * (t - a))
                w *= 0.6 + 0.4 * math.sin(2 * math.pi * 0.7 * (t - a)) ** 2
                self._add(fx, fy, TALK, amp * w * ramp)
        img = self.tex.image.copy()
        x0, y0, x1, y1 = self.roi
        img[y0:y1, x0:x1] = cv2.remap(self.tex.image, self.xx - fx, self.yy - fy, cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT)
        img = cv2.warpAffine(img, pose(s, self.tex, t), (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
        gain = _keyed(s.light_keys, t)[0]
        for a, b, k in s.flickers:
            if a < t < b:
                gain *= 1.0 + k * float(rng.uniform(-1, 1))
        out = img.astype(np.float32) * gain
        out += rng.normal(0.0, 2.0, size=(HEIGHT // 4, WIDTH // 4, 1)).repeat(4, 0).repeat(4, 1)
        return np.clip(out, 0, 255).astype(np.uint8)

    def frames(self, fps: float, duration_s: float, seed: int) -> Iterator[np.ndarray]:
        """All frames of the clip at ``fps``."""
        rng = np.random.default_rng(seed + 7919)
        for i in range(int(round(duration_s * fps))):
            yield self.frame(i / fps, rng)


def aligned_crop(image: np.ndarray, landmarks: np.ndarray, size: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Direct aligned crop (no detector) from known image landmarks: eyes level at 0.36 height,
    inter-eye distance 0.3 of the side. Returns crop (size, size, 3) and landmarks (468, 2) in it."""
    le = landmarks[[33, 133]].mean(axis=0)
    re = landmarks[[362, 263]].mean(axis=0)
    d = re - le
    s = 0.30 * size / float(np.hypot(*d))
    ang = math.atan2(d[1], d[0])
    ca, sa = s * math.cos(-ang), s * math.sin(-ang)
    mid = (le + re) / 2
    m = np.array([[ca, -sa, 0.0], [sa, ca, 0.0]])
    m[:, 2] = np.array([size / 2, 0.36 * size]) - m[:, :2] @ mid
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, landmarks @ m[:, :2].T + m[:, 2]


def true_landmarks(script: Script, tex: Texture, t: float) -> np.ndarray:
    """Texture landmarks moved by the head pose at time t: (468, 2) frame pixels."""
    m = pose(script, tex, t)
    return tex.landmarks @ m[:, :2].T + m[:, 2]
