"""Speed benchmark: end-to-end ``microlens.analyze`` of a 640x480, 30 fps, 60 s clip.

Reports, measured in the same run on the same file, the median of ``--runs`` rounds (each: a
decode-only pass, the analysis as shipped, the analysis with the tracking pass's stages one after
another, ``pipeline_threads=False``):

* the ratio to real time (clip seconds / analysis seconds; target >= 8x on 2 cores),
* the ratio to a decode-only pass (analysis seconds / decode seconds of the same round; target <= 10),
* the CPU seconds the process used (less sensitive than wall time to other work on a shared machine)
  and the load average before each round,
* the per-stage busy seconds (``Report.timings_s``; the stages overlap in threads, so they add up to
  more than the wall time ``track_wall`` of the tracking pass; ``writer_busy`` is the encoding time
  inside ``write``).

The clip (the astronaut face with sensor noise and a smile or brow raise every few seconds) is
generated once and cached. Results go to benchmarks/results/speed.json::

    .venv/bin/python benchmarks/speed.py [--seconds 60] [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CACHE = Path(os.environ.get("MICROLENS_BENCH_CACHE", "/tmp/microlens-bench"))
RESULTS = REPO / "benchmarks" / "results"


def make_clip(path: Path, width: int = 640, height: int = 480, fps: float = 30.0, seconds: float = 60.0,
              every_s: float = 6.0, seed: int = 0) -> Path:
    """Write (once) a synthetic face clip: the astronaut, per-frame sensor noise, and an expression
    (0.3 s micro smile or 1.5 s brow raise, alternating) every ``every_s`` seconds."""
    if path.is_file():
        return path
    from microlens.science import synthetic as sy

    path.parent.mkdir(parents=True, exist_ok=True)
    scene = sy.astronaut_scene(width, height, face_width=height / 3.0)
    pts = scene.points
    rng = np.random.default_rng(seed)
    bank = [rng.normal(0, 2.0, scene.image.shape).astype(np.int16) for _ in range(8)]  # sensor noise
    fw = height / 3.0
    events: list[tuple[float, float, int]] = []
    t = 2.0
    while t < seconds - 2.0:
        events.append((t, 0.3 if len(events) % 2 == 0 else 1.5, len(events) % 2))
        t += every_s

    def field(kind: int, a: float) -> np.ndarray:
        hw = (height, width)
        if kind == 0:  # smile: mouth corners up and out
            r, amp = 0.06 * fw, 0.02 * fw * a
            return (sy.bump(hw, pts["mouth_left"], r, -0.5 * amp, -amp)
                    + sy.bump(hw, pts["mouth_right"], r, 0.5 * amp, -amp))
        r, amp = 0.08 * fw, 0.025 * fw * a  # brows up
        return sy.bump(hw, pts["left_brow"], r, 0, -amp) + sy.bump(hw, pts["right_brow"], r, 0, -amp)

    def frames() -> Iterator[np.ndarray]:
        for i in range(int(round(seconds * fps))):
            t = i / fps
            img = scene.image
            for t0, d, kind in events:
                if t0 <= t <= t0 + d:
                    img = sy.warp(img, field(kind, float(np.sin(np.pi * (t - t0) / d))))
            yield np.clip(img.astype(np.int16) + bank[i % len(bank)], 0, 255).astype(np.uint8)

    tmp = path.with_suffix(".partial.mp4")
    sy.write_video(str(tmp), frames(), fps, crf=20)
    os.replace(tmp, path)
    return path


def decode_only(path: Path, max_side: int) -> tuple[float, int]:
    """Seconds to decode every frame to RGB the way the pipeline does, and the frame count."""
    from microlens.video.decode import frames, open_clip

    t0 = time.perf_counter()
    n = 0
    for _ in frames(open_clip(str(path)), max_side=max_side):
        n += 1
    return time.perf_counter() - t0, n


def _timed_analysis(clip: Path, model: object, threads: bool, prof: cProfile.Profile | None = None) -> dict:
    """One analysis: wall and CPU seconds, the report's figures and the load average before it."""
    import resource

    from microlens.analyze import analyze

    load = os.getloadavg()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    if prof:
        prof.enable()
    report = analyze(str(clip), model=model, pipeline_threads=threads)
    if prof:
        prof.disable()
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "loadavg_1min_before": round(load[0], 2), "report": report}


def _median(xs: list[float]) -> float:
    return float(np.median(np.asarray(xs, np.float64)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="clip length (default 60)")
    ap.add_argument("--model", default="casme2")
    ap.add_argument("--runs", type=int, default=3, help="rounds; the medians are reported (default 3)")
    ap.add_argument("--no-sequential", action="store_true",
                    help="skip the analysis with the stages one after another")
    ap.add_argument("--profile", action="store_true", help="print the cProfile top functions (main thread)")
    ap.add_argument("--out", default=str(RESULTS / "speed.json"))
    args = ap.parse_args()

    import cv2
    import torch

    torch.set_num_threads(1)
    from microlens.analyze import AnalyzeOptions, resolve_model

    clip = make_clip(CACHE / f"speed-640x480-30fps-{args.seconds:g}s.mp4", seconds=args.seconds)
    model = resolve_model(args.model)  # loading the model is not part of the per-video time
    load_before = os.getloadavg()
    prof = cProfile.Profile() if args.profile else None
    rounds = []
    for _ in range(args.runs):
        dec_s, n = decode_only(clip, AnalyzeOptions().max_side)
        thr = _timed_analysis(clip, model, True, prof)
        seq = None if args.no_sequential else _timed_analysis(clip, model, False)
        rounds.append({"decode_only_s": dec_s, "threaded": thr, "sequential": seq})
    load_after = os.getloadavg()
    walls = [r["threaded"]["wall_s"] for r in rounds]
    mid = rounds[int(np.argsort(walls)[len(walls) // 2])]
    report, total = mid["threaded"]["report"], _median(walls)
    dec_s = _median([r["decode_only_s"] for r in rounds])
    stages = dict(report.timings_s)
    seq_s = None if args.no_sequential else _median([r["sequential"]["wall_s"] for r in rounds])
    same = args.no_sequential or all(r["sequential"]["report"].events == r["threaded"]["report"].events
                                     for r in rounds)
    result = {
        "clip": {"path": str(clip), "width": report.width, "height": report.height,
                 "fps": round(report.fps, 2), "duration_s": round(report.duration_s, 3),
                 "frames": report.frames},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch_threads": torch.get_num_threads(), "opencv_threads": cv2.getNumThreads(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after]},
        "runs": args.runs,
        "rounds": [{"decode_only_s": round(r["decode_only_s"], 3),
                    **{k: {"wall_s": round(r[k]["wall_s"], 3), "cpu_s": round(r[k]["cpu_s"], 2),
                           "loadavg_1min_before": r[k]["loadavg_1min_before"]}
                       for k in ("threaded", "sequential") if r[k] is not None}} for r in rounds],
        "decode_only_s": round(dec_s, 3),
        "analyze_s": round(total, 3),
        "analyze_cpu_s": round(_median([r["threaded"]["cpu_s"] for r in rounds]), 2),
        "sequential_s": None if seq_s is None else round(seq_s, 3),
        "threads_speedup": None if seq_s is None else round(seq_s / total, 2),
        "same_events_threaded_and_sequential": same,
        "realtime_ratio": round(report.duration_s / total, 2),
        "decode_only_realtime_ratio": round(report.duration_s / dec_s, 2),
        "analyze_over_decode": round(_median([r["threaded"]["wall_s"] / r["decode_only_s"]
                                              for r in rounds]), 2),
        "ms_per_frame": round(1000 * total / max(report.frames, 1), 2),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "stages_percent": {k: round(100 * v / mid["threaded"]["wall_s"], 1) for k, v in stages.items()},
        "events": len(report.events),
        "micro": report.stats()["micro_count"],
        "face_coverage": round(report.face.coverage, 4),
        "target_realtime_ratio": 8.0,
        "target_analyze_over_decode": 10.0,
        "meets_target": report.duration_s / total >= 8.0,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(30)
        print(s.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
