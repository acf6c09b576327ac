"""Ablations of the seed design under honest LOSO (CASME II, casme2 labels): apex network
(pretrained ExpressionNet or ApexNet from scratch), apex equalisation none / hist / clahe, CBAM
on / off (flow stream; also the apex stream for ApexNet), augmentation on / off.
Writes benchmarks/results/ablations.json.

    .venv/bin/python benchmarks/ablations.py [--data ../shared/data/megc2019]
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from microlens.science.train.loop import LoopOptions  # noqa: E402
from microlens.science.train.run import TrainOptions, train  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("MICROLENS_SHARED", REPO.parent / "shared" / "data")) / "megc2019"

# name -> (changes to TrainOptions, changes to LoopOptions); the first row is the default design
VARIANTS: dict[str, tuple[dict, dict]] = {
    "default (ExpressionNet apex, eq none, CBAM, aug)": ({}, {}),
    "ApexNet apex (from scratch, 32 px)": ({"apex_arch": "apexnet"}, {}),
    "eq hist": ({"equalization": "hist"}, {}),
    "eq clahe": ({"equalization": "clahe"}, {}),
    "CBAM off": ({"cbam": False}, {}),
    "augmentation off": ({}, {"augment": False}),
}


def table(variants: dict) -> str:
    """The README table: accuracy / UF1 / UAR of each variant's ensemble and streams."""
    lines = ["| variant | ensemble acc / UF1 / UAR | apex UF1 | flow UF1 |", "|---|---|---|---|"]
    for name, r in variants.items():
        e = r["ensemble"]
        lines.append(
            f"| {name} | {e['accuracy']:.3f} / **{e['uf1']:.3f}** / {e['uar']:.3f} | "
            f"{r['apex']['uf1']:.3f} | {r['flow']['uf1']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ablations.json"))
    ap.add_argument("--labels", default="casme2")
    ap.add_argument("--datasets", default="casme2")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    base = TrainOptions(
        data=args.data,
        labels=args.labels,
        datasets=args.datasets,
        protocol="loso",
        final=False,
        onnx=False,
        workers=args.workers,
        weights="equal",
    )
    loop = LoopOptions()
    rows: dict[str, dict[str, Any]] = {}
    t0 = time.time()
    for name, (topt, lopt) in VARIANTS.items():
        t = time.time()
        m = train(replace(base, **topt), replace(loop, **lopt))["metrics"]
        rows[name] = {
            "changes": {**topt, **lopt},
            "ensemble": {k: m[k] for k in ("accuracy", "uf1", "uar", "n")},
            "apex": {k: m["streams"]["apex"][k] for k in ("accuracy", "uf1", "uar", "n")},
            "flow": {k: m["streams"]["flow"][k] for k in ("accuracy", "uf1", "uar", "n")},
            "seconds": round(time.time() - t, 1),
        }
        r = rows[name]
        print(
            f"{name:30s} ens UF1 {r['ensemble']['uf1']:.3f}  apex {r['apex']['uf1']:.3f}  "
            f"flow {r['flow']['uf1']:.3f}  ({r['seconds']:.0f}s)",
            flush=True,
        )
    result = {
        "protocol": "loso",
        "labels": args.labels,
        "datasets": args.datasets,
        "data": args.data,
        "ensemble_weights": "equal (0.5 / 0.5)",
        "loop": asdict(loop),
        "defaults": {
            "apex_size": base.apex_size,
            "equalization": base.equalization,
            "cbam": base.cbam,
            "augment": loop.augment,
            "epochs": loop.epochs,
        },
        "variants": rows,
        "wall_seconds": round(time.time() - t0, 1),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "table_md": table(rows),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out} in {result['wall_seconds']:.0f}s")


if __name__ == "__main__":
    main()
