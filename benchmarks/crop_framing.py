"""Crop framing: where the face sits in our aligned crops versus the MEGC2019 training apex crops.

The recognition models are trained on the MEGC2019 apex crops (224x224, CASME II + SMIC). Our
crops (``microlens.face.track``) should frame a face the same way: the same margins above the brows and
below the chin, the eyes at the same place. This script runs the same landmarker (mediapipe
face_mesh, still mode) on

* the training apex crops (``$MICROLENS_SHARED/megc2019/apex`` or ``--data``), per dataset;
* our crops of the astronaut face (``microlens.science.synthetic``, several sizes, places and tilts),
  of the real webcam clip (``videos/kphotoalbum-demo-movie.avi``) and of any real clips given
  with ``--clips`` (FaceTracker crops, every few frames),

and records where key landmarks land, in fractions of the crop side (0..1, x right, y down):
median, 25th/75th percentile and standard deviation per source. The mismatch of a source is the
mean distance of its median key landmarks from the training medians, in % of the crop side.

Writes ``benchmarks/results/crop_framing.json``; its ``training.all.median`` block is the
reference the framing parity test (tests/test_face.py) checks our crop against. ``--label NAME``
stores this run's measurement of our crops under ``runs.NAME`` next to earlier runs (e.g. the
framing before and after a change of the alignment).

    .venv/bin/python benchmarks/crop_framing.py --label after --clips /tmp/pf/clips
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from microlens.face import track as face  # noqa: E402
from microlens.face.track import CROP_SIZE, FaceTracker  # noqa: E402
from microlens.science import synthetic  # noqa: E402
from microlens.video import decode as video  # noqa: E402

# Key landmarks (face-mesh indices, averaged): image-left / image-right as seen in the crop.
KEYPOINTS: dict[str, tuple[int, ...]] = {
    "brow_top_l": (70, 63, 105, 66, 107),  # upper edge of the brow
    "brow_top_r": (300, 293, 334, 296, 336),
    "eye_l": (33, 133, 159, 145),  # eye centre: corners and lids
    "eye_r": (263, 362, 386, 374),
    "nose_tip": (4,),
    "mouth_l": (61,),
    "mouth_r": (291,),
    "lip_low": (17,),  # lower edge of the lower lip
    "chin": (152,),  # chin point
}
# the framing landmarks: margin above the brows, eye placement, margin below the chin
FRAMING_KEYS = ("brow_top_l", "brow_top_r", "eye_l", "eye_r", "chin")
VIDEO_EVERY = 3  # every 3rd frame of a clip is measured
VIDEO_MAX = 60  # at most this many frames per clip


def keypoints(lms: np.ndarray) -> np.ndarray:
    """(K, 2) key landmark positions from (468, 2) face-mesh landmarks, in the same units."""
    return np.array([lms[list(ids)].mean(0) for ids in KEYPOINTS.values()])


def measure(crops: Iterable[np.ndarray]) -> np.ndarray:
    """(N, K, 2) key landmarks, fraction of the crop side, of the crops (H, W, 3) uint8 RGB where
    face mesh (still mode) finds a face."""
    out = []
    for c in crops:
        lms = face.landmarks(c)
        if lms is not None:
            out.append(keypoints(lms) / c.shape[1])
    return np.array(out).reshape(-1, len(KEYPOINTS), 2)


def stats(p: np.ndarray, n_in: int) -> dict[str, Any]:
    """Median, quartiles and standard deviation per key landmark of (N, K, 2) positions."""
    def table(a: np.ndarray) -> dict[str, list[float]]:
        return {k: [round(float(v[0]), 4), round(float(v[1]), 4)] for k, v in zip(KEYPOINTS, a, strict=True)}

    return {"n": int(len(p)), "n_in": int(n_in), "median": table(np.median(p, 0)),
            "p25": table(np.percentile(p, 25, 0)), "p75": table(np.percentile(p, 75, 0)),
            "sd": table(p.std(0))}


def mismatch(med: dict[str, list[float]], ref: dict[str, list[float]]) -> dict[str, Any]:
    """Distance of median key landmarks from the reference: mean and per landmark, % of crop side."""
    d = {k: float(np.hypot(med[k][0] - ref[k][0], med[k][1] - ref[k][1])) * 100 for k in KEYPOINTS}
    return {"mean_pct": round(float(np.mean(list(d.values()))), 2),
            "framing_mean_pct": round(float(np.mean([d[k] for k in FRAMING_KEYS])), 2),
            "per_landmark_pct": {k: round(v, 2) for k, v in d.items()},
            "dy_pct": {k: round((med[k][1] - ref[k][1]) * 100, 2) for k in KEYPOINTS}}


def correction(meds: list[dict[str, list[float]]], ref: dict[str, list[float]]) -> dict[str, Any]:
    """Per-axis scale and shift (x' = a x + b, y' = c y + d, crop fractions) that moves the median key
    landmarks of the given sources (each weighted alike) onto the reference in least squares: the
    correction of the current framing (identity when it matches), its aspect c / a, and the
    alignment constants that would apply it (TEMPLATE' = correction(TEMPLATE), ASPECT' = ASPECT c / a).
    """
    p = np.array([[m[k] for k in KEYPOINTS] for m in meds]).reshape(-1, 2)  # (S * K, 2)
    r = np.tile(np.array([ref[k] for k in KEYPOINTS]), (len(meds), 1))
    coef = [np.linalg.lstsq(np.c_[p[:, j], np.ones(len(p))], r[:, j], rcond=None)[0] for j in (0, 1)]
    (a, b), (c, d) = coef
    t = face.TEMPLATE * [a, c] + np.array([b, d]) * CROP_SIZE
    return {"x": [round(float(a), 4), round(float(b), 4)], "y": [round(float(c), 4), round(float(d), 4)],
            "aspect": round(float(c / a), 4), "suggested_aspect": round(float(face.ASPECT * c / a), 3),
            "suggested_template": t.round(1).tolist()}


def training(data: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Statistics of the training apex crops per dataset and pooled, and the per-sample positions."""
    rows = list(csv.DictReader((data / "megc2019" / "manifest.csv").open()))
    by: dict[str, list[Path]] = {}
    for r in rows:
        by.setdefault(r["dataset"], []).append(data / "megc2019" / r["apex_image"])
    res: dict[str, Any] = {}
    pos: dict[str, np.ndarray] = {}
    for name, paths in sorted(by.items()):
        imgs = (cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths)
        pos[name] = measure(imgs)
        res[name] = stats(pos[name], len(paths))
    pos["all"] = np.concatenate([pos[k] for k in sorted(by)])
    res["all"] = stats(pos["all"], sum(len(v) for v in by.values()))
    return res, pos


def astronaut_crops() -> list[np.ndarray]:
    """Our crops of the astronaut face at several sizes, places and tilts (still alignment)."""
    out = []
    for width, centre, tilt in ((160.0, (320.0, 240.0), 0.0), (100.0, (200.0, 260.0), 0.0),
                                (220.0, (330.0, 250.0), 0.0), (140.0, (320.0, 240.0), 12.0),
                                (140.0, (320.0, 240.0), -12.0), (80.0, (420.0, 200.0), 0.0)):
        img = synthetic.astronaut_scene(640, 480, face_width=width, center=centre).image
        if tilt:
            rot = cv2.getRotationMatrix2D(centre, tilt, 1.0)
            img = cv2.warpAffine(img, rot, (640, 480), borderMode=cv2.BORDER_REFLECT)
        a = face.locate(img)
        if a is not None:
            out.append(face.crop(img, a))
    return out


def video_crops(path: Path) -> tuple[list[np.ndarray], int]:
    """FaceTracker crops of every VIDEO_EVERY-th frame (at most VIDEO_MAX) and frames looked at."""
    out, seen = [], 0
    with FaceTracker() as tracker:
        for f in video.frames(video.open_clip(str(path))):
            ff = tracker(f)  # every frame goes through the tracker (smoothing as in analysis)
            if f.index % VIDEO_EVERY:
                continue
            seen += 1
            if ff is not None:
                out.append(ff.crop)
            if seen >= VIDEO_MAX:
                break
    return out, seen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = os.environ.get("MICROLENS_SHARED", str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--data", type=Path, default=Path(shared), help="shared data folder")
    ap.add_argument("--clips", type=Path, default=None, help="folder of real clips (*.mp4, *.mov)")
    ap.add_argument("--label", default="current", help="name of this run of our crops")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "crop_framing.json")
    args = ap.parse_args(argv)
    if not (args.data / "megc2019" / "manifest.csv").is_file():
        print(f"error: no megc2019/manifest.csv under {args.data} (set --data or MICROLENS_SHARED)",
              file=sys.stderr)
        return 2
    train, _ = training(args.data)
    ref = train["all"]["median"]

    sources: dict[str, tuple[list[np.ndarray], int]] = {}
    crops = astronaut_crops()
    sources["astronaut (synthetic, 6 poses)"] = (crops, 6)
    webcam = args.data / "videos" / "kphotoalbum-demo-movie.avi"
    if webcam.is_file():
        sources[f"webcam {webcam.name}"] = video_crops(webcam)
    if args.clips is not None and args.clips.is_dir():
        for p in sorted(args.clips.iterdir()):
            if p.suffix.lower() in (".mp4", ".mov"):
                c, seen = video_crops(p)
                if c:
                    sources[f"clip {p.name}"] = (c, seen)
    ours: dict[str, Any] = {}
    for name, (c, seen) in sources.items():
        p = measure(c)
        if not len(p):
            continue
        s = stats(p, seen)
        s["mismatch_vs_training"] = mismatch(s["median"], ref)
        ours[name] = s
    real = {k: v["mismatch_vs_training"] for k, v in ours.items() if not k.startswith("astro")}
    astro = [v["mismatch_vs_training"] for k, v in ours.items() if k.startswith("astro")]

    def summary(ms: list[dict[str, Any]]) -> dict[str, float] | None:
        if not ms:
            return None
        keys = ("mean_pct", "framing_mean_pct")
        return {key: round(float(np.mean([m[key] for m in ms])), 2) for key in keys}

    run = {"template": face.TEMPLATE.round(2).tolist(), "aspect": face.ASPECT, "sources": ours,
           "correction_from_real_clips": correction([ours[k]["median"] for k in real], ref) if real else None,
           "mismatch_summary": {"astronaut": summary(astro), "real clips (mean over clips)": summary(
               list(real.values()))}}
    for name in ("casme2", "smic"):
        if name in train:
            train[name]["mismatch_vs_pooled"] = mismatch(train[name]["median"], ref)

    old = json.loads(args.out.read_text()) if args.out.is_file() else {}
    res = {"crop_size": CROP_SIZE, "units": "fraction of the crop side (x right, y down); "
           "mismatch: mean distance of median key landmarks (all, and the FRAMING_KEYS "
           f"{', '.join(FRAMING_KEYS)}), % of the crop side",
           "landmarker": "mediapipe 0.10.21 face_mesh, still mode, refine_landmarks=False",
           "keypoints": {k: list(v) for k, v in KEYPOINTS.items()},
           "training": train, "runs": {**old.get("runs", {}), args.label: run}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(res, indent=1)  # number lists on one line each: [x, y]
    text = re.sub(r"\[\s+([-0-9.e,\s]+?)\s+\]", lambda m: "[" + " ".join(m[1].split()) + "]", text)
    args.out.write_text(text + "\n")
    print(f"training median (pooled, n={train['all']['n']}), x y:")
    for k in KEYPOINTS:
        print(f"  {k:11s} " + "  ".join(
            f"{d}: {train[d]['median'][k][0]:.3f} {train[d]['median'][k][1]:.3f}" for d in train))
    for k, v in ours.items():
        m = v["mismatch_vs_training"]
        print(f"{k}: n={v['n']}/{v['n_in']} mismatch {m['mean_pct']:.2f} % (framing "
              f"{m['framing_mean_pct']:.2f} %) | dy % "
              + " ".join(f"{a}={b:+.1f}" for a, b in m["dy_pct"].items()))
    print("correction from the real clips:", json.dumps(run["correction_from_real_clips"]))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
