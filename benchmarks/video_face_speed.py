"""Speed of stages 1-2 (decode, face tracking + alignment) on a 640x480 30 fps clip.

Makes a talking-face clip with microlens.science.synthetic (astronaut face, mouth and head motion), then
times a decode-only pass and a decode + FaceTracker pass over the same file, in the same run.
Writes benchmarks/results/video_face_speed.json.

    .venv/bin/python benchmarks/video_face_speed.py [--seconds 20] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from microlens.face.track import FaceTracker  # noqa: E402
from microlens.science import synthetic  # noqa: E402
from microlens.video import decode as video  # noqa: E402


def make_clip(path: str, seconds: float, fps: float = 30.0, size: tuple[int, int] = (640, 480)) -> int:
    """A talking astronaut (mouth opening at 4 Hz, head sway); returns the number of frames."""
    w, h = size
    scene = synthetic.astronaut_scene(w, h, face_width=170)
    mouth = scene.points["upper_lip"]
    unit = synthetic.bump((h, w), (mouth[0], mouth[1] + 10), 20, 0.0, 1.0)[..., 1]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    n = int(seconds * fps)

    def frames():  # generator: the clip is never held in memory
        for i in range(n):
            t = i / fps
            o = np.float32(8 * max(0.0, np.sin(2 * np.pi * 4 * t)))
            sx = np.float32(6 * np.sin(2 * np.pi * 0.3 * t))
            sy = np.float32(3 * np.sin(2 * np.pi * 0.2 * t))
            yield cv2.remap(scene.image, xx - sx, yy - sy - o * unit, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)

    synthetic.write_video(path, frames(), fps, crf=20)
    return n


def decode_pass(path: str, max_side: int | None) -> tuple[int, float]:
    clip = video.open_clip(path)
    t = time.perf_counter()
    n = sum(1 for _ in video.frames(clip, max_side=max_side))
    return n, time.perf_counter() - t


def face_pass(path: str, max_side: int | None) -> dict[str, float]:
    clip = video.open_clip(path)
    tracker = FaceTracker()
    tracker(next(iter(video.frames(clip))))  # load the models outside the timing
    tracker.close()
    tracker = FaceTracker()
    t_dec = t_face = 0.0
    n = found = 0
    t0 = time.perf_counter()
    t = t0
    for f in video.frames(clip, max_side=max_side):
        t1 = time.perf_counter()
        t_dec += t1 - t
        if tracker(f) is not None:
            found += 1
        t = time.perf_counter()
        t_face += t - t1
        n += 1
    total = time.perf_counter() - t0
    tracker.close()
    return {"frames": n, "found": found, "total_s": total, "decode_s": t_dec, "face_s": t_face}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=2, help="best of N passes (shared machine)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "talking_640x480_30fps.mp4")
        n = make_clip(path, args.seconds)
        dur = n / 30.0
        dec = min((decode_pass(path, None) for _ in range(args.repeats)), key=lambda r: r[1])
        runs = [face_pass(path, None) for _ in range(args.repeats)]
        best = min(runs, key=lambda r: r["total_s"])
    result = {
        "clip": {"size": "640x480", "fps": 30, "seconds": dur, "frames": n, "codec": "h264"},
        "decode_only": {"seconds": dec[1], "ms_per_frame": 1000 * dec[1] / dec[0],
                        "x_real_time": dur / dec[1]},
        "decode_plus_face": {
            "seconds": best["total_s"],
            "ms_per_frame": 1000 * best["total_s"] / best["frames"],
            "decode_ms_per_frame": 1000 * best["decode_s"] / best["frames"],
            "face_ms_per_frame": 1000 * best["face_s"] / best["frames"],
            "x_real_time": dur / best["total_s"],
            "x_decode_only": best["total_s"] / dec[1],
            "face_found_fraction": best["found"] / best["frames"],
        },
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0],
                    "python": platform.python_version(), "note": "2-core machine shared with other work"},
        "repeats": args.repeats,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "video_face_speed.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
