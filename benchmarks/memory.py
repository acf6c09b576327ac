"""Memory benchmark: peak RSS, scratch disk and time of ``microlens.analyze`` on a long (default
60-minute) vs a 1-minute 720p clip.

Each analysis runs in its own subprocess, which reports its own peak RSS (``ru_maxrss``), the RSS
it had after loading the model, before the video, and the peak size of its work folder (the face
video and the crop store, sampled every second). Targets (issue 22): peak RSS under 800 MB, within
20% of the 1-minute peak, and the long clip's time within 10% of its length in minutes times the
1-minute time. The 1-minute 1280x720 30 fps clip is generated once (see speed.make_clip) and the
long clip is the same content remuxed (no re-encoding), both cached in /tmp (never committed).
Results go to benchmarks/results/memory.json::

    .venv/bin/python benchmarks/memory.py [--long-minutes 60]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
RESULTS = REPO / "benchmarks" / "results"


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def repeat_clip(src: Path, dst: Path, times: int) -> Path:
    """``dst``: ``src`` played ``times`` times in a row, by remuxing its packets (no re-encode)."""
    if dst.is_file():
        return dst
    import av

    tmp = dst.with_suffix(".partial.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        span = None
        for k in range(times):
            inp.seek(0)
            last = 0
            for pkt in inp.demux(s_in):
                if pkt.dts is None:
                    continue
                if span is None and k == 0:
                    last = max(last, int(pkt.pts or 0) + int(pkt.duration or 0))
                off = (span or 0) * k
                pkt.pts = None if pkt.pts is None else pkt.pts + off
                pkt.dts = pkt.dts + off
                pkt.stream = s_out
                out.mux(pkt)
            if span is None:
                span = last
    os.replace(tmp, dst)
    return dst


def _folder_mb(folder: str) -> float:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:  # removed meanwhile
                pass
    return total / 2**20


def child(path: str, model: str) -> None:
    """Run one analysis in this process and print its peak RSS and scratch disk as JSON."""
    import tempfile
    import threading

    import torch

    torch.set_num_threads(1)
    from microlens.analyze import analyze, resolve_model

    rec = resolve_model(model)
    base = _rss_mb()
    work = tempfile.mkdtemp(prefix="microlens-memory-")
    disk = {"peak": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            disk["peak"] = max(disk["peak"], _folder_mb(work))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    load = os.getloadavg()
    t0 = time.perf_counter()
    report = analyze(path, model=rec, work_dir=work)
    done.set()
    sampler.join()
    os.rmdir(work)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"peak_rss_mb": round(peak, 1), "rss_after_model_mb": round(base, 1),
                      "peak_scratch_mb": round(disk["peak"], 1),
                      "loadavg_before": [round(x, 2) for x in load],
                      "analyze_s": round(time.perf_counter() - t0, 1), "frames": report.frames,
                      "duration_s": round(report.duration_s, 2), "events": len(report.events),
                      "face_coverage": round(report.face.coverage, 4)}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--model", default="casme2")
    ap.add_argument("--long-minutes", type=int, default=60)
    ap.add_argument("--out", default=str(RESULTS / "memory.json"))
    args = ap.parse_args()
    if args.child:
        child(args.child, args.model)
        return 0
    from speed import CACHE, make_clip

    short = make_clip(CACHE / "memory-1280x720-30fps-60s.mp4", width=1280, height=720, seconds=60.0)
    long = repeat_clip(short, CACHE / f"memory-1280x720-30fps-{args.long_minutes}min.mp4", args.long_minutes)
    runs = {}
    for name, clip in (("1min", short), (f"{args.long_minutes}min", long)):
        out = subprocess.run([sys.executable, __file__, "--child", str(clip), "--model", args.model],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        runs[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(name, runs[name], flush=True)
    one, many = runs["1min"], runs[f"{args.long_minutes}min"]
    a, b = one["peak_rss_mb"], many["peak_rss_mb"]
    time_ratio = many["analyze_s"] / (args.long_minutes * one["analyze_s"])
    result = {
        "clips": {"1min": str(short), f"{args.long_minutes}min": str(long), "size": "1280x720 30 fps"},
        "runs": runs,
        "long_over_short": round(b / a, 3),
        "long_time_over_minutes_times_short": round(time_ratio, 3),
        "scratch_mb_per_minute": round(many["peak_scratch_mb"] / args.long_minutes, 1),
        "target_peak_mb": 800,
        "meets_target": b < 800 and b <= 1.2 * a and abs(time_ratio - 1) <= 0.1,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
