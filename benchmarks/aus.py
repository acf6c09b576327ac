"""Action units per event: leave-one-subject-out AU detection on CASME II (microlens.science.train.aus).

For every CASME II AU coded on at least 10 samples (L/R sides merged; the counts of every AU are
written too): per-AU F1 of the positive class over the pooled held-out predictions, the mean over
the AUs, 95 % intervals by resampling test subjects, against the prior-rate and always-positive
baselines. Runs the shipped recipe (threshold 0.5), the variant with per-AU thresholds from an
inner CV on the training subjects, and the shipped recipe with two more seeds (how much the seed
alone moves the figures). Writes benchmarks/results/aus.json; with ``--ship`` the final fit of the
shipped recipe on all CASME II samples goes to microlens/assets/aus/ (aus.pt and its card aus.md).

    .venv/bin/python benchmarks/aus.py [--data ../shared/data/megc2019] [--ship] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loso import cpu_seconds  # noqa: E402

from microlens.recognize.aus import AU_NAMES, au_sort_key, parse_aus  # noqa: E402
from microlens.science.data import load_dataset  # noqa: E402
from microlens.science.train.aucard import au_table, save_au_model  # noqa: E402
from microlens.science.train.aus import AUOptions, train_aus  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("MICROLENS_SHARED", REPO.parent / "shared" / "data")) / "megc2019"
RESULTS = REPO / "benchmarks" / "results"
ASSETS = REPO / "microlens" / "assets" / "aus"


def variants(data: str, workers: int) -> dict[str, AUOptions]:
    """Run name -> options: the shipped recipe first."""
    shipped = AUOptions(data=data, workers=workers)
    return {"shipped": shipped, "inner_thresholds": replace(shipped, threshold="inner"),
            "seed1": replace(shipped, seed=1), "seed2": replace(shipped, seed=2)}


def au_counts(data: str, datasets: str) -> dict[str, dict]:
    """Every AU of the chosen source datasets: samples and subjects coded with it, numeric order."""
    ds = load_dataset(data, datasets=tuple(datasets.split(",")))
    out: dict[str, dict] = {}
    for code, subj in zip(ds.action_units, ds.subjects, strict=True):
        for au in parse_aus(code):
            row = out.setdefault(au, {"name": AU_NAMES.get(au, ""), "samples": 0, "subjects": set()})
            row["samples"] += 1
            row["subjects"].add(subj)
    return {au: {**out[au], "subjects": len(out[au]["subjects"])} for au in sorted(out, key=au_sort_key)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--out", default=str(RESULTS / "aus.json"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ship", action="store_true",
                    help="also fit on all samples and write microlens/assets/aus")
    ap.add_argument("--quick", action="store_true", help="the shipped recipe only (no variants)")
    args = ap.parse_args()
    t_all, cpu_before, load_before = time.time(), cpu_seconds(), os.getloadavg()
    runs: dict[str, dict] = {}
    for name, opts in variants(args.data, args.workers).items():
        if args.quick and name != "shipped":
            continue
        res = train_aus(opts, final=args.ship and name == "shipped")
        m = res["metrics"]
        runs[name] = {"options": {k: v for k, v in asdict(opts).items() if k != "data"}, "metrics": m}
        if res["checkpoint"] is not None:
            for p in save_au_model(res["checkpoint"], ASSETS):
                print(f"wrote {p} ({p.stat().st_size / 1e3:.0f} kB)")
        print(f"{name}: mean F1 {m['detector']['mean']:.3f} {m['detector']['mean_interval']} prior-rate "
              f"{m['prior_rate']['mean']:.3f} always-positive {m['always_positive']['mean']:.3f} "
              f"({m['seconds']:.0f}s)", flush=True)
    shipped = runs["shipped"]["metrics"]
    out = {
        "protocol": "loso (leave one subject out) on CASME II, pooled held-out predictions, F1 of the "
                    "positive class per AU; 95 % intervals from 2,000 resamples of the test subjects",
        "data": args.data,
        "au_counts": au_counts(args.data, runs["shipped"]["options"]["datasets"]),
        "runs": runs,
        "wall_seconds": round(time.time() - t_all, 1),
        "cpu_seconds": round(cpu_seconds() - cpu_before, 1),
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "machine": platform.machine(),
        "load_average_1_5_15": {"start": load_before, "end": os.getloadavg()},
        "table_md": "\n".join(au_table(shipped)),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(out["table_md"])
    print(f"wrote {args.out}; wall time {out['wall_seconds']:.0f}s")


if __name__ == "__main__":
    main()
