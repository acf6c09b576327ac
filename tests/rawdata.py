"""Small synthetic raw datasets in the CASME II and SAMM layouts, with their coding xlsx.

A real face (``microlens.science.synthetic.astronaut_scene`` on a 640x480 frame, like CASME II's raw frames)
is warped by a known motion per emotion, so a test can check that ``microlens prepare`` puts each
class's motion in the right place and direction of its flow image:

- happiness: mouth corners out and up (AU12), the left corner moves left, the right one right;
- surprise: both brows up (AU1+2), centred between brow and eye (the crops cut high brows);
- disgust: nose and upper lip up (AU9/10);
- repression: chin and lower lip up (AU17), centred between the upper lip and the chin;
- others / fear: small movements elsewhere (they are dropped by the default label filter).

Each subject has its own face position, size and brightness. Frames run from onset to offset with
the motion ramping up to the apex and partly back.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import openpyxl

from microlens.science.synthetic import Scene, astronaut_scene, bump, warp

# emotion -> bumps (landmark or landmark pair, radius / face width, dx / face width, dy / face width);
# image coordinates: x to the right, y down.
MOTIONS: dict[str, tuple[tuple[tuple[str, ...], float, float, float], ...]] = {
    "happiness": ((("mouth_left",), 0.12, -0.035, -0.02), (("mouth_right",), 0.12, 0.035, -0.02)),
    "surprise": ((("left_brow", "left_eye"), 0.12, 0.0, -0.045),
                 (("right_brow", "right_eye"), 0.12, 0.0, -0.045)),
    "disgust": ((("nose", "upper_lip"), 0.12, 0.0, -0.035),),
    "repression": ((("upper_lip", "chin"), 0.13, 0.0, -0.035),),
    "others": ((("left_eye",), 0.08, 0.015, 0.0),),
    "fear": ((("forehead",), 0.12, 0.0, -0.02),),
}
ACTION_UNITS = {"happiness": "12", "surprise": "1+2", "disgust": "9+10", "repression": "17",
                "others": "5", "fear": "1+4"}
SAMM_EMOTIONS = {"happiness": "Happiness", "surprise": "Surprise", "disgust": "Disgust",
                 "others": "Other", "fear": "Fear"}  # SAMM has no repression
CLASSES = ("happiness", "surprise", "disgust", "repression")


@dataclass(frozen=True)
class RawEpisode:
    """One clip as written to disk and to the coding sheet."""

    subject: str  # sheet value: '01' (CASME II), '006' (SAMM)
    folder: str  # subject folder: 'sub01', '006'
    episode: str  # clip folder: 'EP01_01', '006_1_1'
    emotion: str  # fine emotion (lower case)
    onset: int
    apex: int | None  # None: written as '/' in the sheet
    offset: int
    kind: str  # 'ok', 'no_folder' (listed, never written) or 'no_face'


@dataclass(frozen=True)
class RawDataset:
    """A generated raw dataset."""

    root: Path  # the --raw folder
    annotations: Path  # the coding xlsx
    episodes: tuple[RawEpisode, ...]
    scenes: dict[str, Scene]  # subject folder -> its neutral scene (landmarks in frame pixels)


def point(scene: Scene, names: tuple[str, ...]) -> tuple[float, float]:
    """A landmark, or the midpoint of several, in frame pixels."""
    xs, ys = zip(*(scene.points[n] for n in names), strict=True)
    return float(np.mean(xs)), float(np.mean(ys))


def motion_centres(scene: Scene, emotion: str) -> list[tuple[tuple[float, float], float, float]]:
    """Where ``emotion`` moves the face: (centre in frame pixels, dx, dy in frame pixels) per bump."""
    fw = scene.face_box[2] - scene.face_box[0]
    return [(point(scene, names), dx * fw, dy * fw) for names, _, dx, dy in MOTIONS[emotion]]


def motion_field(scene: Scene, emotion: str) -> np.ndarray:
    """The full (apex) displacement of ``emotion``: (H, W, 2) float32 in frame pixels."""
    h, w = scene.image.shape[:2]
    fw = scene.face_box[2] - scene.face_box[0]
    field = np.zeros((h, w, 2), np.float32)
    for names, radius, dx, dy in MOTIONS[emotion]:
        field += bump((h, w), point(scene, names), radius * fw, dx * fw, dy * fw)
    return field


@functools.cache
def _noise_pool(h: int, w: int) -> np.ndarray:
    """(2h, 2w, 3) float32 sensor noise (sigma 1.5 grey levels); frames take shifted windows of it."""
    return np.random.default_rng(1234).standard_normal((2 * h, 2 * w, 3), dtype=np.float32) * 1.5


def frames(scene: Scene, emotion: str, onset: int, apex: int, offset: int,
           rng: np.random.Generator) -> dict[int, np.ndarray]:
    """Frame number -> (H, W, 3) uint8 RGB, the motion ramping 0 -> 1 (apex) -> 0.3 (offset)."""
    field = motion_field(scene, emotion)
    h, w = scene.image.shape[:2]
    noise = _noise_pool(h, w)
    out = {}
    for n in range(onset, offset + 1):
        a = (n - onset) / max(1, apex - onset) if n <= apex else 1 - 0.7 * (n - apex) / max(1, offset - apex)
        img = warp(scene.image, field * a).astype(np.float32)
        y, x = rng.integers(0, h), rng.integers(0, w)
        img += noise[y:y + h, x:x + w]  # a different noise window per frame
        out[n] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def subject_scene(k: int) -> Scene:
    """Subject ``k``'s neutral frame: its own face position, size and brightness (640x480)."""
    scene = astronaut_scene(640, 480, face_width=150.0 + 12 * (k % 3),
                            center=(320.0 + 18 * ((k % 3) - 1), 235.0 + 10 * ((k % 2) * 2 - 1)))
    img = np.clip(scene.image.astype(np.float32) * (0.9 + 0.08 * (k % 3)), 0, 255).astype(np.uint8)
    return Scene(img, scene.points, scene.face_box)


def _plan(subjects: int, emotions: tuple[str, ...], extras: bool) -> list[tuple[int, str, str]]:
    """(subject index, emotion, kind) per clip; extras add a clip listed without a folder, a clip
    without a face, one whose apex the sheet leaves unknown and a fear clip."""
    plan = [(k, e, "ok") for k in range(subjects) for e in emotions]
    last = subjects - 1
    if extras:
        plan += [(0, "happiness", "no_folder"), (0, "surprise", "no_face"), (last, "disgust", "no_apex"),
                 (last, "fear", "ok")]
    return plan


def _write_frames(folder: Path, names: dict[int, str], images: dict[int, np.ndarray], gray: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, img in images.items():
        out = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if gray else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / names[n]), out, [cv2.IMWRITE_JPEG_QUALITY, 92])


def _episode_frames(scene: Scene, emotion: str, ep: RawEpisode,
                    rng: np.random.Generator) -> dict[int, np.ndarray]:
    apex = ep.apex if ep.apex is not None else (ep.onset + ep.offset) // 2
    if ep.kind == "no_face":
        h, w = scene.image.shape[:2]
        return {n: rng.integers(90, 110, (h, w, 3), dtype=np.uint8) for n in range(ep.onset, ep.offset + 1)}
    return frames(scene, emotion, ep.onset, apex, ep.offset, rng)


def make_casme2(root: Path, *, subjects: int = 2, emotions: tuple[str, ...] = (*CLASSES, "others"),
                n_frames: int = 10, extras: bool = True, seed: int = 0) -> RawDataset:
    """CASME II layout: ``root/raw/subNN/EPxx_yy/img<frame>.jpg`` and
    ``root/CASME2-coding-synthetic.xlsx`` (the real sheet's columns, including its blank ones)."""
    rng = np.random.default_rng(seed)
    raw = root / "raw"
    scenes = {f"sub{k + 1:02d}": subject_scene(k) for k in range(subjects)}
    episodes = []
    for i, (k, emo, kind) in enumerate(_plan(subjects, emotions, extras)):
        onset = 20 + 7 * i
        offset = onset + n_frames - 1
        apex = None if kind == "no_apex" else onset + n_frames // 2
        ep = RawEpisode(f"{k + 1:02d}", f"sub{k + 1:02d}", f"EP{i + 1:02d}_{k + 1:02d}{'f' * (i % 2)}",
                        emo, onset, apex, offset, kind)
        episodes.append(ep)
        if kind != "no_folder":
            imgs = _episode_frames(scenes[ep.folder], emo, ep, rng)
            _write_frames(raw / ep.folder / ep.episode, {n: f"img{n}.jpg" for n in imgs}, imgs, gray=False)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
               "Estimated Emotion"])
    for ep in episodes:
        ws.append([ep.subject, ep.episode, None, ep.onset, ep.apex if ep.apex is not None else "/", ep.offset,
                   None, ACTION_UNITS[ep.emotion], ep.emotion])
    xlsx = root / "CASME2-coding-synthetic.xlsx"
    wb.save(xlsx)
    return RawDataset(raw, xlsx, tuple(episodes), scenes)


def make_samm(root: Path, *, subjects: int = 2,
              emotions: tuple[str, ...] = ("happiness", "surprise", "disgust", "others"),
              n_frames: int = 10, extras: bool = False, seed: int = 1) -> RawDataset:
    """SAMM layout: ``root/raw/NNN/NNN_x_y/NNN_<5-digit frame>.jpg`` (8-bit grey, as SAMM's frames)
    and ``root/SAMM-synthetic.xlsx`` with the real sheet's title rows before its table."""
    rng = np.random.default_rng(seed)
    raw = root / "raw"
    scenes = {f"{k + 6:03d}": subject_scene(k) for k in range(subjects)}
    episodes = []
    for i, (k, emo, kind) in enumerate(_plan(subjects, emotions, extras)):
        subj = f"{k + 6:03d}"
        onset = 4000 + 113 * i
        offset = onset + n_frames - 1
        apex = None if kind == "no_apex" else onset + n_frames // 2
        ep = RawEpisode(subj, subj, f"{subj}_{i % 4 + 1}_{i + 1}", emo, onset, apex, offset, kind)
        episodes.append(ep)
        if kind != "no_folder":
            imgs = _episode_frames(scenes[subj], emo, ep, rng)
            _write_frames(raw / subj / ep.episode, {n: f"{subj}_{n:05d}.jpg" for n in imgs}, imgs, gray=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "MICRO_ONLY"
    ws.append(["SAMM Dataset - Master FACS Codes"])
    ws.append([])
    ws.append(["Symbol Key:"])
    ws.append([])
    ws.append(["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
               "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"])
    for ep in episodes:
        ws.append([ep.subject, ep.episode, 1, ep.onset, ep.apex if ep.apex is not None else -1, ep.offset,
                   ep.offset - ep.onset + 1, "Micro - 1/2", ACTION_UNITS[ep.emotion],
                   SAMM_EMOTIONS[ep.emotion], 7, None])
    xlsx = root / "SAMM-synthetic.xlsx"
    wb.save(xlsx)
    return RawDataset(raw, xlsx, tuple(episodes), scenes)
