"""Flow-stream recipe candidates, chosen without looking at the other dataset.

Issue 8 asks the shipped recipe to beat STSTNet across datasets. Candidate changes to the flow
stream are declared here, before any run, and each is scored two ways:

* **selection** (what decides): leave-one-subject-out *within* each source dataset (CASME II alone,
  SMIC alone; MEGC classes), so the choice for the CASME II → SMIC direction never sees SMIC and
  the reverse; a candidate is adopted only if its mean LOSO UF1 is at least its baseline's (the
  recipe it changes) on both datasets, and, since 2026-12-03, if the default `casme2` model's
  LOSO over seeds 0-2 (benchmarks/seeds.py) does not fall with it; where the differences are all
  within seed noise the simpler recipe stays (mixup, random erasing);
* **cross-dataset** (reported, never used to choose): train on one dataset, test on the other.

    .venv/bin/python benchmarks/recipe.py [--data ../shared/data/megc2019] [--loso-seeds 0,1]
        [--only "NAME,NAME"]   # run these candidates and keep the others' rows from the results file

Writes benchmarks/results/recipe.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from microlens.science.train.loop import LoopOptions  # noqa: E402
from microlens.science.train.run import TrainOptions, train  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("MICROLENS_SHARED", REPO.parent / "shared" / "data")) / "megc2019"
RESULTS = REPO / "benchmarks" / "results"
BEFORE, MIRROR = "before (no test-time mirroring)", "test-time mirroring (shipped)"
ERASING = "random erasing 8 px + mirroring"
# Random erasing off, as in the loop's defaults; named in the rows run while it was briefly the
# default (2026-12-03), so that their record stays right whatever the default is.
OFF = {"flow_erase": 0}
# candidate -> (loop options, train options) changed from the defaults, and the baseline it must match
CANDIDATES: dict[str, tuple[dict, dict, str | None]] = {
    BEFORE: (OFF, {"mirror_average": False}, None),
    MIRROR: (OFF, {"mirror_average": True}, BEFORE),
    "mixup 0.4": ({**OFF, "mixup": 0.4}, {"mirror_average": False}, BEFORE),
    "mixup 0.4 + test-time mirroring": ({**OFF, "mixup": 0.4}, {"mirror_average": True}, BEFORE),
    "flow noise 0.05 + mirroring": ({**OFF, "flow_noise": 0.05}, {"mirror_average": True}, MIRROR),
    "flow noise 0.1 + mirroring": ({**OFF, "flow_noise": 0.1}, {"mirror_average": True}, MIRROR),
    "weight averaging (last 25 %) + mirroring": (
        {**OFF, "average_last": 0.25}, {"mirror_average": True}, MIRROR),
    "3 seeds per stream + mirroring": (OFF, {"mirror_average": True, "seeds": 3}, MIRROR),
    "zoom ±10 % + mirroring": ({**OFF, "flow_zoom": 0.1}, {"mirror_average": True}, MIRROR),
    "150 synthetic action-unit flows + mirroring": (OFF, {"mirror_average": True, "synthetic": 150}, MIRROR),
    "flow network half as wide (8) + mirroring": (OFF, {"mirror_average": True, "flow_width": 8}, MIRROR),
    # declared 2026-12-03 before any run of them: smoothing removes flow noise, whose amount differs
    # between a 100 fps and a 200 fps dataset; two architectures err differently; erasing makes the
    # decision rest on more than one face region
    "flow blur σ 1 px + mirroring": (OFF, {"mirror_average": True, "flow_blur": 1.0}, MIRROR),
    "FlowNet and STSTNet members + mirroring": (OFF, {"mirror_average": True, "flow_arch": "flownet+ststnet"},
                                                MIRROR),
    ERASING: ({"flow_erase": 8}, {"mirror_average": True}, MIRROR),
    # declared 2026-12-03 after the three above: region means of the flow into a linear layer (147
    # weights per class) cannot learn a dataset's texture; alone, and as a member beside FlowNet
    "linear model on 7x7 region means + mirroring": (
        OFF, {"mirror_average": True, "flow_arch": "regionlinear"}, MIRROR),
    "FlowNet and region-linear members + mirroring": (
        OFF, {"mirror_average": True, "flow_arch": "flownet+regionlinear"}, MIRROR),
    # declared 2026-12-03 (the session from 14:20 UTC) before any run of them: a 2x2 grid of pooled
    # cells ties the head less to one dataset's framing than 4x4 (the strain peaks of the two
    # datasets' flows lie 1-3 px apart); strain dropout, since strain is the channel whose
    # distribution differs most between the training flows and real clips (median 8 against 14-15)
    "2x2 head grid + mirroring": (OFF, {"mirror_average": True, "flow_grid": 2}, MIRROR),
    "strain dropout 0.5 + mirroring": ({**OFF, "strain_drop": 0.5}, {"mirror_average": True}, MIRROR),
}
SOURCES = ("casme2", "smic")


def flow_uf1(data: str, protocol: str, datasets: str, seed: int, loop: dict, extra: dict) -> dict[str, float]:
    """Flow-stream UF1 per test dataset for one run (no ensemble weights, no calibration)."""
    opts = TrainOptions(data=data, labels="megc3", protocol=protocol, datasets=datasets, final=False,
                        weights="equal", calibrate=False, seed=seed, **extra)
    m = train(opts, LoopOptions(**loop))["metrics"]
    return {d: v["uf1"] for d, v in m["streams"]["flow"]["per_dataset"].items()}


def mean_sd(values: list[float]) -> dict[str, float]:
    return {"mean": round(float(np.mean(values)), 4), "sd": round(float(np.std(values)), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--loso-seeds", default="0,1", help="master seeds of the within-dataset LOSO runs")
    ap.add_argument("--cross-seeds", default="0,1,2,3,4", help="master seeds of the cross-dataset runs")
    ap.add_argument("--out", default=str(RESULTS / "recipe.json"))
    ap.add_argument("--only", default="", help="comma-separated candidates to run; the other rows are kept "
                                               "from --out (default: run all)")
    args = ap.parse_args()
    if not (Path(args.data) / "manifest.csv").is_file():
        print(f"recipe: no prepared dataset at {args.data}", file=sys.stderr)
        return 2
    only = [n for n in args.only.split(",") if n]
    unknown = [n for n in only if n not in CANDIDATES]
    if unknown:
        print(f"recipe: unknown candidate(s) {unknown}; known: {list(CANDIDATES)}", file=sys.stderr)
        return 2
    kept: dict[str, dict] = {}
    if only:
        try:
            kept = json.loads(Path(args.out).read_text())["candidates"]
        except (OSError, ValueError, KeyError) as e:
            print(f"recipe: --only needs the earlier results in {args.out}: {e}", file=sys.stderr)
            return 2
    loso_seeds = [int(s) for s in args.loso_seeds.split(",")]
    cross_seeds = [int(s) for s in args.cross_seeds.split(",")]
    t0 = time.time()
    rows: dict[str, dict] = {}
    for name, (loop, extra, _baseline) in CANDIDATES.items():
        if only and name not in only:
            if name in kept:
                rows[name] = kept[name]
            continue
        row: dict = {"loop": loop, "train": extra, "loso_within": {}, "cross_dataset": {}}
        for src in SOURCES:
            runs = [flow_uf1(args.data, "loso", src, s, loop, extra)[src] for s in loso_seeds]
            row["loso_within"][src] = mean_sd(runs)
        cross = [flow_uf1(args.data, "cross_dataset", "", s, loop, extra) for s in cross_seeds]
        for test in SOURCES:
            row["cross_dataset"][test] = mean_sd([c[test] for c in cross])
        rows[name] = row
        within = ", ".join(f"{d} {v['mean']:.3f}" for d, v in row["loso_within"].items())
        across = ", ".join(f"{d} {v['mean']:.3f}" for d, v in row["cross_dataset"].items())
        print(f"{name}: LOSO within {within}; cross-dataset (test) {across}", flush=True)
    for name, row in rows.items():
        baseline = CANDIDATES[name][2]
        row["baseline"] = baseline
        row["adopt_by_selection_rule"] = baseline is None or all(
            row["loso_within"][d]["mean"] >= rows[baseline]["loso_within"][d]["mean"] for d in SOURCES)
    result = {
        "what": "flow-stream recipe candidates: chosen by LOSO within each source dataset; "
                "cross-dataset reported, not used",
        "data": args.data,
        "labels": "megc3",
        "loso_seeds": loso_seeds,
        "cross_seeds": cross_seeds,
        "candidates": rows,
        "last_run": only or "all candidates",
        "wall_seconds_last_run": round(time.time() - t0, 1),
        "load_average_end": os.getloadavg(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
