"""Alignment stability of the FaceTracker: jitter on a still face and lag behind head motion.

The astronaut face is moved by a known translation (still, slow sway, fast head shake) with camera
noise (Gaussian, sigma 5 grey levels). For fixed points of the face we know where they are in every
frame, so we measure where the tracker's crop puts them:

* ``frame_to_frame_px``: mean movement of those points in the crop between consecutive frames
  (alignment jitter that would look like facial motion);
* ``deviation_px``: mean distance from their average crop position (jitter + lag).

Both in crop pixels (224 px crop), for the raw per-frame alignment and the smoothed one.
Writes benchmarks/results/face_stability.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from microlens.face import track as face  # noqa: E402
from microlens.face.track import FaceTracker  # noqa: E402
from microlens.science import synthetic  # noqa: E402
from microlens.video.decode import Frame  # noqa: E402

MOTIONS: dict[str, Callable[[float], tuple[float, float]]] = {
    "still": lambda t: (0.0, 0.0),
    "slow sway 3 px at 0.5 Hz": lambda t: (3 * np.sin(2 * np.pi * 0.5 * t), 0.0),
    "head shake 20 px at 2 Hz": lambda t: (20 * np.sin(2 * np.pi * 2 * t), 0.0),
}


def measure(motion: Callable[[float], tuple[float, float]], smooth: bool, n: int = 90,
            fps: float = 30.0) -> dict[str, float]:
    rng = np.random.default_rng(0)
    scene = synthetic.astronaut_scene(640, 480, face_width=140)
    pts0 = np.array([scene.points[k] for k in ("left_eye", "right_eye", "nose", "upper_lip")])
    tracker = FaceTracker()
    if not smooth:
        tracker.MIN_CUTOFF, tracker.BETA = 1e6, 0.0
        tracker._filter = face._OneEuro(1e6, 0.0)
    out = []
    for i in range(n):
        sx, sy = motion(i / fps)
        img = cv2.warpAffine(scene.image, np.array([[1, 0, sx], [0, 1, sy]], np.float32), (640, 480),
                             borderMode=cv2.BORDER_REFLECT)
        img = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
        f = tracker(Frame(i, i / fps, img))
        assert f is not None
        out.append(face.transform(pts0 + [sx, sy], f.affine))
    tracker.close()
    p = np.array(out)[10:]  # (n - 10, 4, 2) crop px, after the filter settled
    return {"frame_to_frame_px": float(np.linalg.norm(np.diff(p, axis=0), axis=-1).mean()),
            "deviation_px": float(np.linalg.norm(p - p.mean(0), axis=-1).mean())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "face_stability.json",
                    help="results file")
    args = ap.parse_args(argv)
    res: dict[str, Any] = {name: {"raw": measure(m, False), "smoothed": measure(m, True)}
                           for name, m in MOTIONS.items()}
    res["filter"] = {"kind": "one-euro on pose", "min_cutoff_hz": FaceTracker.MIN_CUTOFF,
                     "beta": FaceTracker.BETA}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
