"""The motion meter's dense flow (microlens.spot.motion.FLOWS) on the spotting benchmark's clips: accuracy
and cost of each algorithm, the rest of the spotting as shipped.

Each clip of benchmarks/spotting.py's set is rendered, encoded, decoded and face-tracked once; the
aligned gray crops, landmarks and expression-prior readings are cached (``--cache``), then every
flow algorithm measures motion on the same crops and ``spotting.spot`` cuts intervals, scored with
the MEGC rule (spotting.counts). Per-frame CPU time of the meter is measured on one thread.
Results go to benchmarks/results/motionflow.json::

    .venv/bin/python benchmarks/motionflow.py [--set report] [--flows farneback dis-fast ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import spotclips as sc  # noqa: E402
import spotting as sb  # noqa: E402

from microlens.face.track import FaceFrame  # noqa: E402
from microlens.spot import motion, spotting  # noqa: E402

RESULTS = HERE / "results"


def track_clip(spec: sc.ClipSpec, tex: sc.Texture, script: sc.Script, cache: Path) -> dict[str, np.ndarray]:
    """Per frame of one rendered clip: time, (224, 224) uint8 gray crop (zeros without a face), face
    flag, (468, 2) landmarks, and the expression prior's neutral / expressive readings (cached)."""
    from microlens.face.track import FaceTracker
    from microlens.recognize.appearance import AppearanceMeter, expressive, neutral_probability
    from microlens.science.synthetic import write_video
    from microlens.video.decode import frames, open_clip

    out = cache / f"{spec.name}-{spec.seed}-{spec.duration_s:g}.npz"
    if out.is_file():
        return dict(np.load(out))
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        write_video(str(path), sc.Renderer(tex, script).frames(spec.fps, spec.duration_s, spec.seed),
                    spec.fps, crf=20)
        tracker, reader = FaceTracker(), AppearanceMeter()
        times, grays, lms, ok = [], [], [], []
        for fr in frames(open_clip(str(path))):
            f = tracker(fr)
            reader(fr.index, fr.time_s, None if f is None else f.crop)
            times.append(fr.time_s)
            ok.append(f is not None)
            gray = None if f is None else cv2.cvtColor(f.crop, cv2.COLOR_RGB2GRAY)  # (224, 224)
            grays.append(np.zeros((224, 224), np.uint8) if gray is None else gray)
            lms.append(np.zeros((468, 2), np.float32) if f is None else f.landmarks[:468])
        tracker.close()
    probs = reader.probs(len(times))
    d = {"times": np.array(times), "gray": np.stack(grays), "landmarks": np.stack(lms), "ok": np.array(ok),
         "neutral": neutral_probability(probs, reader.labels), "expressive": expressive(probs, reader.labels)}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(out, **d)
    return d


def measure(d: dict[str, np.ndarray], flow: str) -> tuple[np.ndarray, float]:
    """(T, N_FEATURES) motion with the named flow and the meter's CPU seconds per frame."""
    meter = motion.MotionMeter(flow=flow)
    rows = []
    t0 = time.thread_time()
    for i, t in enumerate(d["times"]):
        f = FaceFrame(i, float(t), (0, 0, 1, 1), d["gray"][i], d["landmarks"][i], 1) if d["ok"][i] else None
        rows.append(meter(f))
    return np.array(rows), (time.thread_time() - t0) / max(len(rows), 1)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=sorted(sb.SETS), default="report")
    ap.add_argument("--flows", nargs="*", default=list(motion.FLOWS))
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "microlens-motionflow")
    default_shared = os.environ.get("MICROLENS_SHARED", str(HERE.parents[1] / "shared" / "data"))
    ap.add_argument("--shared", type=Path, default=Path(default_shared))
    ap.add_argument("-o", "--out", type=Path, default=RESULTS / "motionflow.json")
    args = ap.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)  # per-frame cost on one core, as inside the analysis pipeline's thread
    clips = []
    for spec in sb.SETS[args.set]:
        tex = sc.load_texture(spec.texture, args.shared)
        if tex is not None:
            script = sc.make_script(spec)
            clips.append((spec, script.events, track_clip(spec, tex, script, args.cache)))
    out: dict[str, dict] = {}
    opts = spotting.SpotOptions()
    for flow in args.flows:
        total: dict[str, dict[str, int]] = {}
        cost = []
        for _spec, events, d in clips:
            feats, per_frame = measure(d, flow)
            cost.append(per_frame)
            spotted = spotting.spot(d["times"], feats, opts, d["neutral"], d["expressive"])
            sb._add(total, sb.counts(spotted, events))
        s = sb.summarize(total)
        out[flow] = {"micro_f1": s["micro"]["f1"], "macro_f1": s["macro"]["f1"],
                     "overall_f1": s["overall"]["f1"], "micro": s["micro"], "macro": s["macro"],
                     "meter_ms_per_frame": round(1000 * float(np.mean(cost)), 3)}
        print(f"{flow:14s} micro F1 {s['micro']['f1']:.3f} macro {s['macro']['f1']:.3f} overall "
              f"{s['overall']['f1']:.3f}  meter {out[flow]['meter_ms_per_frame']:.2f} ms/frame", flush=True)
    result = {"benchmark": "motionflow", "set": args.set, "clips": [c[0].name for c in clips],
              "frames": int(sum(len(c[2]["times"]) for c in clips)), "flows": out, "shipped": motion.FLOW,
              "loadavg": [round(x, 2) for x in os.getloadavg()],
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
