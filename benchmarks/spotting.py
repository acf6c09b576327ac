"""Spotting-accuracy benchmark: our spotter vs a frame-difference baseline on ground-truth clips.

Clips (benchmarks/spotclips.py) animate real face textures with injected micro/macro expressions
and distractors (blinks, head motion, talking, lighting flicker); they are encoded to H.264 and
run through the real stages: microlens.video.decode -> microlens.face.track.FaceTracker -> MotionMeter and
the expression prior (AppearanceMeter) -> the spotting of microlens.analyze (spot_talking with the
prior's readings, intervals whose apex is their onset dropped), and BaselineMeter -> spot_baseline
on the same crops; ``ours_without_prior`` is the motion spotter alone (spot, the figure before
issue 20). Scoring follows MEGC: a spotted
interval hits a ground-truth one of the same kind (micro <= 0.5 s, macro) when their IoU >= 0.5,
one-to-one; precision, recall and F1 for micro, macro and overall.

Two disjoint clip sets exist: ``tune`` (seeds 2xxx) is the only one the defaults of SpotOptions
and BaselineOptions were tuned on (``--tune``); ``report`` (seeds 1xxx) is what results/spotting.json
reports. Every clip is re-rendered from its seed, so anyone gets the same videos.

    .venv/bin/python benchmarks/spotting.py            # report set, writes results/spotting.json
    .venv/bin/python benchmarks/spotting.py --quick    # two short clips, a smoke run
    .venv/bin/python benchmarks/spotting.py --set tune --tune   # parameter search (tune set only)

``--crops direct`` skips microlens.face.track and crops from the known landmarks (a fallback, marked in
the results); ``--cache DIR`` keeps per-clip features so a second ``--tune`` run takes seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import spotclips as sc  # noqa: E402

from microlens.face.track import FaceFrame  # noqa: E402
from microlens.recognize.appearance import AppearanceMeter, cues, expressive, neutral_probability  # noqa: E402
from microlens.science.synthetic import write_video  # noqa: E402
from microlens.spot import baseline as baseline_spotter  # noqa: E402
from microlens.spot import motion as motion_meter  # noqa: E402
from microlens.spot import spotting  # noqa: E402

SETS: dict[str, list[sc.ClipSpec]] = {
    "report": [
        sc.ClipSpec("astronaut-25fps", "astronaut", 25.0, 60.0, 1001),
        sc.ClipSpec("webcam-30fps", "webcam", 30.0, 60.0, 1002),
        sc.ClipSpec("astronaut-60fps", "astronaut", 60.0, 40.0, 1003),
        sc.ClipSpec("webcam-50fps", "webcam", 50.0, 40.0, 1004),
        sc.ClipSpec("astronaut-30fps", "astronaut", 30.0, 60.0, 1005),
    ],
    "tune": [
        sc.ClipSpec("t-astronaut-25fps", "astronaut", 25.0, 60.0, 2001),
        sc.ClipSpec("t-webcam-30fps", "webcam", 30.0, 60.0, 2002),
        sc.ClipSpec("t-astronaut-60fps", "astronaut", 60.0, 40.0, 2003),
        sc.ClipSpec("t-webcam-50fps", "webcam", 50.0, 40.0, 2004),
        sc.ClipSpec("t-astronaut-30fps", "astronaut", 30.0, 60.0, 2005),
    ],
}
IOU_HIT = 0.5  # MEGC rule


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time intervals (start, end) in seconds."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def match(pred: list[tuple[float, float]], truth: list[tuple[float, float]]) -> int:
    """One-to-one hits (IoU >= IOU_HIT), greedy by decreasing IoU."""
    pairs = sorted(((iou(p, t), i, j) for i, p in enumerate(pred) for j, t in enumerate(truth)),
                   reverse=True)
    used_p: set[int] = set()
    used_t: set[int] = set()
    for v, i, j in pairs:
        if v < IOU_HIT:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    return len(used_p)


def counts(pred: list[spotting.Interval], truth: list[sc.Event]) -> dict[str, dict[str, int]]:
    """Per kind: true positives, number spotted, number in the ground truth."""
    out = {}
    for kind in ("micro", "macro"):
        p = [(i.onset_s, i.offset_s) for i in pred if i.kind == kind]
        t = [(e.onset_s, e.offset_s) for e in truth if e.kind == kind]
        out[kind] = {"tp": match(p, t), "spotted": len(p), "truth": len(t)}
    return out


def prf(c: dict[str, int]) -> dict[str, float]:
    """Precision, recall, F1 from tp/spotted/truth counts (0 where undefined)."""
    p = c["tp"] / c["spotted"] if c["spotted"] else 0.0
    r = c["tp"] / c["truth"] if c["truth"] else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), **c}


def summarize(per_kind: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    """micro / macro / overall precision, recall, F1."""
    overall = {k: per_kind["micro"][k] + per_kind["macro"][k] for k in ("tp", "spotted", "truth")}
    return {"micro": prf(per_kind["micro"]), "macro": prf(per_kind["macro"]), "overall": prf(overall)}


def _add(total: dict[str, dict[str, int]], c: dict[str, dict[str, int]]) -> None:
    for kind, d in c.items():
        for k, v in d.items():
            total.setdefault(kind, {}).setdefault(k, 0)
            total[kind][k] += v


def _tracker_ready() -> bool:
    """True when microlens.video.decode and microlens.face.track are implemented (not skeletons)."""
    try:
        from microlens.face import track as face
        face.FaceTracker().close()
        return True
    except NotImplementedError:
        return False


def features(spec: sc.ClipSpec, tex: sc.Texture, script: sc.Script, workdir: Path,
             crops: str) -> dict[str, Any]:
    """Render, encode, decode, track and measure one clip. Returns arrays and stage timings."""
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    path = workdir / f"{spec.name}.mp4"
    write_video(str(path), sc.Renderer(tex, script).frames(spec.fps, spec.duration_s, spec.seed),
                spec.fps, crf=20)
    timing["render_encode_s"] = time.perf_counter() - t0
    meter, base = motion_meter.MotionMeter(), baseline_spotter.BaselineMeter()
    reader = AppearanceMeter()  # as microlens.analyze: the expression prior's reading of each face
    times: list[float] = []
    motion: list[np.ndarray] = []
    diff: list[np.ndarray] = []
    timing.update(decode_s=0.0, face_s=0.0, meter_s=0.0, appearance_s=0.0, baseline_meter_s=0.0)
    n_face = 0
    if crops == "tracker":
        from microlens.face import track as face
        from microlens.video import decode as video
        tracker = face.FaceTracker()
        clip = video.open_clip(str(path))
        it: Iterator[Any] = iter(video.frames(clip))
    else:
        import av

        container = av.open(str(path))
        it = ({"i": i, "img": f.to_ndarray(format="rgb24")} for i, f in enumerate(container.decode(video=0)))
    while True:
        t = time.perf_counter()
        fr = next(it, None)
        timing["decode_s"] += time.perf_counter() - t
        if fr is None:
            break
        t = time.perf_counter()
        if crops == "tracker":
            ff = tracker(fr)
            ts = fr.time_s
        else:
            ts = fr["i"] / spec.fps
            crop, lm = sc.aligned_crop(fr["img"], sc.true_landmarks(script, tex, ts))
            ff = FaceFrame(fr["i"], ts, (0, 0, 1, 1), crop, lm.astype(np.float32), 1)
        timing["face_s"] += time.perf_counter() - t
        n_face += ff is not None
        t = time.perf_counter()
        motion.append(meter(ff))
        timing["meter_s"] += time.perf_counter() - t
        t = time.perf_counter()
        reader(len(times), ts, None if ff is None else ff.crop)
        timing["appearance_s"] += time.perf_counter() - t
        t = time.perf_counter()
        diff.append(base(ff))
        timing["baseline_meter_s"] += time.perf_counter() - t
        times.append(ts)
    if crops == "tracker":
        tracker.close()
    else:
        container.close()
    path.unlink()
    t = time.perf_counter()
    probs = reader.probs(len(times))  # (T, 7)
    timing["appearance_s"] += time.perf_counter() - t
    return {"times": np.array(times), "motion": np.array(motion), "diff": np.array(diff),
            "neutral": neutral_probability(probs, reader.labels),
            "expressive": expressive(probs, reader.labels), "cues": cues(probs), "timing": timing,
            "frames_with_face": n_face}


def evaluate(feat: dict[str, Any], events: list[sc.Event], opts: spotting.SpotOptions,
             bopts: baseline_spotter.BaselineOptions) -> tuple[dict, dict, list, list, dict[str, float]]:
    """Spot with both spotters on cached features (ours as microlens.analyze does it: the baseline
    on the frames the expression prior reads as neutral where expressions fill the window, the
    prior's readings start intervals too, and an interval whose apex is its onset is dropped);
    counts per kind for each and the intervals."""
    t = time.perf_counter()
    ours, _ = spotting.spot_talking(feat["times"], feat["motion"], opts, feat["neutral"], feat["expressive"],
                                    feat["cues"])
    ours = [iv for iv in ours if iv.apex != iv.onset]
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    base = baseline_spotter.spot_baseline(feat["times"], feat["diff"], bopts)
    t_base = time.perf_counter() - t
    timing = {"spot_s": t_ours, "baseline_spot_s": t_base}
    return counts(ours, events), counts(base, events), ours, base, timing


def _round(d: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in d.items()}


def tune(feats: list[tuple[sc.ClipSpec, list[sc.Event], dict[str, Any]]]) -> None:
    """Grid search of the main spot/baseline parameters on cached features; prints the ranking."""
    grid = {"peak_z": [5.0, 6.0, 7.0, 8.0, 10.0], "edge_fraction": [0.12, 0.18, 0.25, 0.35, 0.5],
            "edge_z": [2.0, 2.5, 3.0, 3.5, 4.0]}
    rows = []
    for vals in itertools.product(*grid.values()):
        o = spotting.SpotOptions(**dict(zip(grid, vals, strict=True)))  # type: ignore[arg-type]
        total: dict[str, dict[str, int]] = {}
        for _spec, ev, f in feats:
            _add(total, counts(spotting.spot(f["times"], f["motion"], o), ev))
        s = summarize(total)
        rows.append((s["overall"]["f1"] + s["micro"]["f1"], vals, s["micro"]["f1"], s["macro"]["f1"],
                     s["overall"]["f1"]))
    rows.sort(reverse=True)
    print("ours: (peak_z, edge_fraction, edge_z) -> micro, macro, overall F1")
    for r in rows[:10]:
        print(" ", r[1], r[2:])
    brows = []
    for th, gap in itertools.product([2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 14.0], [0.1, 0.3, 0.5]):
        bo = baseline_spotter.BaselineOptions(threshold=th, merge_gap_s=gap)
        total = {}
        for _spec, ev, f in feats:
            _add(total, counts(baseline_spotter.spot_baseline(f["times"], f["diff"], bo), ev))
        s = summarize(total)
        brows.append((s["overall"]["f1"] + s["micro"]["f1"], (th, gap), s["micro"]["f1"], s["macro"]["f1"],
                      s["overall"]["f1"]))
    brows.sort(reverse=True)
    print("baseline: (threshold, merge_gap_s) -> micro, macro, overall F1")
    for r in brows[:6]:
        print(" ", r[1], r[2:])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=sorted(SETS), default="report", help="clip set (default: report)")
    ap.add_argument("--quick", action="store_true", help="two 30 s clips: a smoke run")
    ap.add_argument("--crops", choices=("auto", "tracker", "direct"), default="auto",
                    help="face crops from the face tracker or from the known landmarks (direct)")
    default_shared = os.environ.get("MICROLENS_SHARED", str(HERE.parents[1] / "shared" / "data"))
    ap.add_argument("--shared", default=default_shared,
                    help="shared data folder (for the webcam texture)")
    ap.add_argument("--tune", action="store_true", help="grid-search parameters instead of writing results")
    ap.add_argument("--cache", default=None, help="folder caching per-clip features (for --tune only; "
                    "stale when MotionMeter changes)")
    ap.add_argument("-o", "--out", default=None, help="results JSON (default: results/spotting.json; "
                    "--quick: results/spotting-quick.json)")
    args = ap.parse_args(argv)

    specs = SETS[args.set]
    if args.quick:
        specs = [dataclasses.replace(s, duration_s=30.0) for s in specs[:2]]
    crops = args.crops
    if crops == "auto":
        crops = "tracker" if _tracker_ready() else "direct"
    shared = Path(args.shared)
    textures: dict[str, sc.Texture | None] = {}
    notes = []
    if crops == "direct":
        notes.append("face crops made directly from the known landmarks (microlens.face.track not used)")
    opts, bopts = spotting.SpotOptions(), baseline_spotter.BaselineOptions()
    total_ours: dict[str, dict[str, int]] = {}
    total_base: dict[str, dict[str, int]] = {}
    total_motion_only: dict[str, dict[str, int]] = {}  # ours without the neutral-frame baseline
    total_no_prior: dict[str, dict[str, int]] = {}  # the motion spotter alone (spot, before issue 20)
    clips_out = []
    feats = []
    video_s = 0.0
    stage_total: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            if spec.texture not in textures:
                textures[spec.texture] = sc.load_texture(spec.texture, shared)
            tex = textures[spec.texture]
            if tex is None:
                notes.append(f"{spec.name} skipped: {shared / sc.WEBCAM_CLIP} is absent")
                print(f"skip {spec.name}: webcam texture absent", file=sys.stderr)
                continue
            script = sc.make_script(spec)
            key = f"{spec.name}-{spec.seed}-{spec.duration_s:g}-{crops}.npz"
            cached = Path(args.cache) / key if args.cache else None
            if cached is not None and cached.is_file() and "cues" in np.load(cached).files:
                z = np.load(cached)
                feat = {k: z[k] for k in ("times", "motion", "diff", "neutral", "expressive", "cues")}
                feat["timing"] = json.loads(str(z["timing"]))
                feat["frames_with_face"] = int(z["frames_with_face"])
            else:
                feat = features(spec, tex, script, Path(tmp), crops)
                if cached is not None:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    np.savez(cached, times=feat["times"], motion=feat["motion"], diff=feat["diff"],
                             neutral=feat["neutral"], expressive=feat["expressive"], cues=feat["cues"],
                             timing=json.dumps(feat["timing"]), frames_with_face=feat["frames_with_face"])
            feats.append((spec, script.events, feat))
            c_ours, c_base, ours, base, t_spot = evaluate(feat, script.events, opts, bopts)
            feat["timing"].update(t_spot)
            motion_only = counts(spotting.spot(feat["times"], feat["motion"], opts), script.events)
            no_prior = counts(spotting.spot(feat["times"], feat["motion"], opts, feat["neutral"],
                                            feat["expressive"]), script.events)
            _add(total_no_prior, no_prior)
            _add(total_ours, c_ours)
            _add(total_base, c_base)
            _add(total_motion_only, motion_only)
            video_s += spec.duration_s
            for k, v in feat["timing"].items():
                stage_total[k] = stage_total.get(k, 0.0) + v
            s_o, s_b = summarize(c_ours), summarize(c_base)
            print(f"{spec.name}: ours micro F1 {s_o['micro']['f1']:.2f} macro {s_o['macro']['f1']:.2f} "
                  f"overall {s_o['overall']['f1']:.2f} | baseline overall {s_b['overall']['f1']:.2f} "
                  f"| face in {feat['frames_with_face']}/{len(feat['times'])} frames", file=sys.stderr)
            clips_out.append({
                "clip": dataclasses.asdict(spec),
                "frames": len(feat["times"]),
                "frames_with_face": feat["frames_with_face"],
                "distractors": {"blinks": len(script.blinks), "talking_spans": len(script.talks),
                                "flicker_spans": len(script.flickers),
                                "head_pose_keys": len(script.pose_keys) - 1},
                "truth": [dataclasses.asdict(e) for e in script.events],
                "ours": {"scores": s_o, "intervals": [dataclasses.asdict(i) for i in ours]},
                "ours_without_neutral_baseline": {"scores": summarize(motion_only)},
                "ours_without_prior": {"scores": summarize(no_prior)},
                "baseline": {"scores": s_b, "intervals": [dataclasses.asdict(i) for i in base]},
                "timing_s": _round(feat["timing"]),
            })
    if args.tune:
        tune(feats)
        return 0
    if not clips_out:
        print("no clip could be made", file=sys.stderr)
        return 1
    s_o, s_b = summarize(total_ours), summarize(total_base)
    pipeline_s = sum(stage_total.get(k, 0.0)
                     for k in ("decode_s", "face_s", "meter_s", "appearance_s", "spot_s"))
    result = {
        "benchmark": "spotting",
        "command": "python benchmarks/spotting.py" + (" --quick" if args.quick else "")
                   + (f" --set {args.set}" if args.set != "report" else ""),
        "clip_set": args.set,
        "tuned_on": "clip set 'tune' (seeds 2001-2005), disjoint from 'report' (seeds 1001-1005)",
        "crops": crops,
        "notes": notes,
        "rule": "MEGC: hit = IoU >= 0.5 with a ground-truth interval of the same kind, one-to-one; "
                "micro = duration <= 0.5 s",
        "config": {"spot": dataclasses.asdict(opts), "baseline": dataclasses.asdict(bopts)},
        "total": {"ours": s_o, "baseline": s_b,
                  "ours_without_neutral_baseline": summarize(total_motion_only),
                  "ours_without_prior": summarize(total_no_prior),
                  "f1_gain_over_baseline": {k: round(s_o[k]["f1"] - s_b[k]["f1"], 3)
                                            for k in ("micro", "macro", "overall")}},
        "timing": {"video_s": video_s, "stages_s": _round(stage_total),
                   "pipeline_x_realtime": round(video_s / pipeline_s, 2) if pipeline_s else None,
                   "meter_ms_per_frame": round(1000 * stage_total.get("meter_s", 0.0)
                                               / max(1, sum(c["frames"] for c in clips_out)), 3),
                   "note": "pipeline = decode + face + MotionMeter + expression-prior scoring + spot, "
                           "one process, shared 2-core CPU"},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "clips": clips_out,
    }
    name = "spotting-quick.json" if args.quick else "spotting.json"
    out = Path(args.out) if args.out else HERE / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"ours:     micro F1 {s_o['micro']['f1']:.3f}  macro F1 {s_o['macro']['f1']:.3f}  "
          f"overall F1 {s_o['overall']['f1']:.3f}")
    print(f"baseline: micro F1 {s_b['micro']['f1']:.3f}  macro F1 {s_b['macro']['f1']:.3f}  "
          f"overall F1 {s_b['overall']['f1']:.3f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
