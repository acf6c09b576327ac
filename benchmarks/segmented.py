"""Segmented analysis benchmark: one long video across 1 and 2 worker processes, each held to one core.

The 640x480 30 fps speed clip (benchmarks/speed.py) is remuxed ``--minutes`` times in a row (no
re-encoding, cached in /tmp). It is analysed

* by one worker process held to CPU 0 (a whole run: ``parts=1``), and
* as two overlapping segments by two worker processes held to CPUs 0 and 1
  (:func:`microlens.segments.analyze_segmented`, merged into one report),

wall time including the workers' start and model loading. The merged events are compared with the
single run's (same kind and label, onset/apex/offset within one frame). Results go to
benchmarks/results/segmented.json::

    .venv/bin/python benchmarks/segmented.py [--minutes 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def _agree(a: object, b: object, fps: float) -> bool:
    return all(abs(getattr(a, t) - getattr(b, t)) <= 1 / fps + 1e-6 for t in ("start_s", "apex_s", "end_s")) \
        and (a.kind, a.label) == (b.kind, b.label)  # type: ignore[attr-defined]


def main() -> int:
    """Run the benchmark; see the module docstring."""
    from memory import repeat_clip
    from speed import CACHE, make_clip

    from microlens.segments import analyze_segmented

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "segmented.json")
    args = ap.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        print("segmented: needs 2 CPUs", file=sys.stderr)
        return 2
    short = make_clip(CACHE / "speed-640x480-30fps-60s.mp4")
    clip = repeat_clip(short, CACHE / f"speed-640x480-30fps-{args.minutes}min.mp4", args.minutes)
    runs = {}
    reports = {}
    for name, parts, cores in (("1 worker", 1, [[0]]), ("2 workers", 2, [[0], [1]])):
        load = os.getloadavg()
        t0 = time.perf_counter()
        reports[name] = analyze_segmented(str(clip), parts=parts, workers=len(cores), cores=cores)
        runs[name] = {"wall_s": round(time.perf_counter() - t0, 1), "cores": cores,
                      "loadavg_before": [round(x, 2) for x in load], "events": len(reports[name].events)}
        print(name, runs[name], flush=True)
    single, merged = reports["1 worker"], reports["2 workers"]
    matched = sum(any(_agree(m, s, single.fps) for s in single.events) for m in merged.events)
    result = {
        "clip": {"path": str(clip), "minutes": args.minutes, "size": "640x480 30 fps"},
        "runs": runs,
        "speedup_2_over_1": round(runs["1 worker"]["wall_s"] / runs["2 workers"]["wall_s"], 2),
        "target_speedup": 1.7,
        "events_single": len(single.events), "events_merged": len(merged.events),
        "merged_events_matching_single_within_one_frame": matched,
        "same_frames": merged.frames == single.frames,
        "same_readings": [(r.second, r.label) for r in merged.appearance]
        == [(r.second, r.label) for r in single.appearance],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
