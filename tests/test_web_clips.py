"""Fixtures for the web tests: real face clips made with microlens.science.synthetic, and a quick analyzer
(a real Report built from the clip's own frames) for tests of the queue mechanics only.

Tests that check analysis results use the real pipeline (microlens.analyze); the quick analyzer
exists so that queue, cancel and failure paths can be tested in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def face_clip(path: Path, seconds: float = 3.0, fps: float = 30.0, size: tuple[int, int] = (320, 240),
              micro_at: tuple[float, ...] = (1.2,)) -> Path:
    """A face video (the astronaut) with a brief mouth-corner pull at each time in ``micro_at``
    (0.3 s, a micro-expression) and a slow brow raise; H.264 MP4."""
    from microlens.science.synthetic import astronaut_scene, bump, warp, write_video

    w, h = size
    scene = astronaut_scene(w, h, face_width=w * 0.38)
    base = scene.image
    side = scene.face_box[2] - scene.face_box[0]
    ml, mr = scene.points["mouth_left"], scene.points["mouth_right"]
    r = side * 0.12
    pull = bump((h, w), ml, r, -side * 0.035, -side * 0.03) + bump((h, w), mr, r, side * 0.035, -side * 0.03)
    brow = bump((h, w), scene.points["left_brow"], r, 0, -side * 0.03) + \
        bump((h, w), scene.points["right_brow"], r, 0, -side * 0.03)

    def frames() -> Any:
        n = int(round(seconds * fps))
        for i in range(n):
            t = i / fps
            a = 0.0
            for t0 in micro_at:
                if t0 <= t <= t0 + 0.3:
                    a = max(a, float(np.sin(np.pi * (t - t0) / 0.3)))
            b = 0.5 * (1 - np.cos(2 * np.pi * t / max(seconds, 1e-6))) * 0.6
            yield warp(base, (pull * a + brow * float(b)).astype(np.float32))

    write_video(str(path), frames(), fps)
    return path


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s 320x240 30 fps face clip with one micro-expression."""
    return face_clip(tmp_path_factory.mktemp("clips") / "face.mp4")


def quick_analyzer(delay_s: float = 0.0, fail: Exception | None = None) -> Callable[..., Any]:
    """An analyzer with the pipeline's signature that reads the clip and builds a real Report with one
    micro event at 1.2 s (for tests of the job machinery, not of the analysis)."""

    def analyze(path: str, model: Any = None, progress: Any = None, cancel: Any = None,
                face_video: str | None = None, **_: Any) -> Any:
        from microlens.recognize.event import Event
        from microlens.report.types import FaceSummary, Filmstrip, Images, ModelInfo, Report
        from microlens.video.decode import frames, open_clip
        from microlens.video.writer import VideoWriter

        clip = open_clip(path)
        imgs, times = [], []
        writer = VideoWriter(face_video, fps=30) if face_video else None
        for f in frames(clip, max_side=320):
            imgs.append(f.image)
            times.append(f.time_s)
            if writer:
                writer.write(f.image, f.time_s)
            if progress:
                progress("face", min(0.9, len(imgs) / 90))
            if cancel and cancel():
                if writer:
                    writer.abort()
                raise RuntimeError("cancelled")
            if delay_s:
                time.sleep(delay_s)
        if writer:
            writer.close()
        if fail is not None:
            raise fail
        dur = times[-1] + 1 / 30
        labels = ("happiness", "surprise", "disgust", "repression")
        probs = {"happiness": 0.7, "surprise": 0.1, "disgust": 0.1, "repression": 0.1}
        ev = Event(1.2, 1.35, 1.5, "micro", "happiness", 0.7, probs, score=9.0,
                   onset_frame=36, apex_frame=40, offset_frame=45)
        k = min(len(imgs) - 1, 40)
        return Report(source=path, duration_s=dur, fps=30.0, frames=len(imgs), events=(ev,), warnings=(),
                      face=FaceSummary(len(imgs), 1.0, 1, "largest of 1", ((0.0, dur),)),
                      model=ModelInfo("test", labels),
                      images=Images(representative=imgs[k], representative_s=times[k],
                                    representative_kind="micro apex", representative_event=0,
                                    filmstrips=(Filmstrip(0, imgs[36], imgs[k], imgs[-1]),)),
                      width=clip.width, height=clip.height)

    return analyze
