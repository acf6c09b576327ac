"""Preprocessing parity (issue 8): how far the flow that inference builds from a video is from the
flow that training builds from the same frames, and how far both are from the shared training flows.

1. **Same frames, two paths.** The astronaut face with a known expression warp (tests/rawdata.py:
   happiness, surprise, disgust, repression) goes (a) through ``microlens prepare``'s
   ``prepare_sample`` (JPEG frames, one affine for onset and apex) and (b) through the inference path
   (H.264, decode, FaceTracker, gray store, flow), with and without re-framing the apex crop by the
   onset's alignment (:func:`microlens.face.flow.realign`). Reported: the correlation of the raw onset->apex
   TV-L1 fields (u and v together, pixels), the relative end-point error, and the per-channel
   correlation of the 28x28 images the model reads.
2. **Distribution.** Simple statistics of the 28x28 flow images that depend on the recipe rather
   than on the expression (zero-motion level, spatial smoothness, strain level): the shared training
   flows against flows of our recipe on real clips (0.2 s frame pairs, .cache/clips).

    .venv/bin/python benchmarks/parity.py     # writes benchmarks/results/parity.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "benchmarks")]

from test_parity import APEX, ONSET, _clip, field_agreement, prepare_pair, tracked_store  # noqa: E402

from microlens.face.flow import WORK_SIZE, _gray, flow_image, realign  # noqa: E402
from microlens.face.track import FaceTracker  # noqa: E402
from microlens.video.decode import frames as decode  # noqa: E402
from microlens.video.decode import open_clip  # noqa: E402

SHARED = Path(os.environ.get("MICROLENS_SHARED", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"
EMOTIONS = ("happiness", "surprise", "disgust", "repression")


def _inference_pairs(imgs: dict[int, np.ndarray], tmp: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The inference path's (onset, apex) gray crops: per-frame alignment, and re-framed."""
    store, _ = tracked_store(imgs, tmp)
    try:
        a, b, pair = store.get(ONSET), store.get(APEX), store.pair(ONSET, APEX)
    finally:
        store.close()
    assert a is not None and b is not None and pair is not None
    return {"per-frame alignment (before)": (a, b), "apex re-framed by onset alignment (now)": pair}


def compare(ref: tuple[np.ndarray, np.ndarray], got: tuple[np.ndarray, np.ndarray]) -> dict:
    """Raw-field correlation and relative end-point error, and the model images' channel correlations."""
    corr, epe = field_agreement(ref, got)
    i1, i2 = flow_image(*ref), flow_image(*got)  # (28, 28, 3) uint8
    return {
        "field_correlation": round(corr, 4),
        "relative_epe": round(epe, 4),
        "image_channel_correlation": [round(float(np.corrcoef(i1[..., c].ravel().astype(float),
                                                              i2[..., c].ravel().astype(float))[0, 1]), 4)
                                      for c in range(3)],
    }


def stats(flows: np.ndarray) -> dict:
    """Recipe statistics of (N, 28, 28, 3) uint8 flow images: median level of u and v (zero motion),
    lag-1 autocorrelation of u and v (smoothness), median strain level."""
    x = flows.astype(np.float64)

    def lag1(c: int) -> float:
        a = x[:, :, :-1, c] - x[:, :, :-1, c].mean(axis=(1, 2), keepdims=True)
        b = x[:, :, 1:, c] - x[:, :, 1:, c].mean(axis=(1, 2), keepdims=True)
        return float(((a * b).sum((1, 2)) / np.sqrt((a * a).sum((1, 2)) * (b * b).sum((1, 2)) + 1e-9)).mean())

    return {
        "n": int(len(x)),
        "u_median": round(float(np.median(x[..., 0])), 1), "v_median": round(float(np.median(x[..., 1])), 1),
        "u_smoothness": round(lag1(0), 3), "v_smoothness": round(lag1(1), 3),
        "strain_median": round(float(np.median(x[..., 2])), 1),
    }


def real_clip_flows(limit: int = 120) -> np.ndarray:
    """Flow images of our recipe on 0.2 s frame pairs of the real clips (inference path)."""
    from realclips import CLIPS, path_of

    out = []
    for c in CLIPS:
        p = path_of(c.name)
        if p is None or not c.emotions:
            continue
        tracker = FaceTracker()
        crops: list[tuple[float, np.ndarray, np.ndarray]] = []
        for fr in decode(open_clip(str(p)), max_side=1280):
            f = tracker(fr)
            if f is not None:
                crops.append((fr.time_s, _gray(f.crop, WORK_SIZE), f.affine))
        tracker.close()
        for i in range(0, len(crops), 5):
            j = next((j for j in range(i, len(crops)) if crops[j][0] - crops[i][0] >= 0.2), None)
            if j is not None:
                out.append(flow_image(crops[i][1], realign(crops[j][1], crops[j][2], crops[i][2])))
    rng = np.random.default_rng(0)
    arr = np.stack(out) if out else np.zeros((0, 28, 28, 3), np.uint8)
    return arr[rng.permutation(len(arr))[:limit]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=RESULTS / "parity.json", help="results file")
    args = ap.parse_args(argv)
    pairs = {}
    for emo in EMOTIONS:
        with tempfile.TemporaryDirectory() as tmp:
            imgs = _clip(emo)
            ref = prepare_pair(imgs)
            pairs[emo] = {mode: compare(ref, got) for mode, got in _inference_pairs(imgs, Path(tmp)).items()}
        print(emo, json.dumps(pairs[emo]), flush=True)
    dist = {}
    shared = SHARED / "megc2019"
    if (shared / "manifest.csv").is_file():
        from microlens.science.data import load_dataset

        ds = load_dataset(shared)
        for d in sorted(set(ds.datasets)):
            dist[f"shared training flows ({d})"] = stats(ds.only(d).flow)
    real = real_clip_flows()
    if len(real):
        dist["our recipe on real clips (0.2 s pairs)"] = stats(real)
    for k, v in dist.items():
        print(k, v)
    out = {"same_frames_two_paths": pairs, "distribution": dist}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
