"""How much do LOSO figures move with the random seed alone?

Runs the shipped models' LOSO protocol (same data, options and loop as benchmarks/loso.py, no final
fit) under several master seeds and reports, per model and stream, UF1 for each seed and its mean
and standard deviation, overall and per source dataset. A gap between two streams that is smaller
than this spread is not a finding. Writes benchmarks/results/seeds.json.

    .venv/bin/python benchmarks/seeds.py [--data ../shared/data/megc2019] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from loso import DEFAULT_DATA, MODELS, RESULTS, loso_options  # noqa: E402

from microlens.science.train.loop import LoopOptions  # noqa: E402
from microlens.science.train.run import train  # noqa: E402


def spread(values: list[float]) -> dict:
    """Each value, their mean and sample standard deviation (rounded)."""
    return {
        "values": [round(v, 4) for v in values],
        "mean": round(statistics.mean(values), 4),
        "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
    }


def table(results: dict) -> str:
    """Markdown: UF1 mean ± sd per model, stream and dataset."""
    lines = ["| model | stream | composite UF1 | CASME II UF1 | SMIC UF1 |", "|---|---|---|---|---|"]
    for name, streams in results.items():
        for stream, per in streams.items():
            cells = [
                f"{per[d]['mean']:.3f} ± {per[d]['sd']:.3f}" if d in per else "–"
                for d in ("all", "casme2", "smic")
            ]
            if name == "casme2":
                cells[0] = "–"  # one source dataset: the composite is the CASME II column
            lines.append(f"| {name} | {stream} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--out", default=str(RESULTS / "seeds.json"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    loop = LoopOptions()
    t0 = time.time()
    uf1s: dict[str, dict[str, dict[str, list[float]]]] = {}
    for name in MODELS:
        for seed in args.seeds:
            opts = loso_options(name, args.data, final=False, workers=args.workers, seed=seed,
                                weights="equal")
            m = train(opts, loop)["metrics"]
            for stream, v in [("ensemble", m), *m["streams"].items()]:
                per = uf1s.setdefault(name, {}).setdefault(stream, {})
                per.setdefault("all", []).append(v["uf1"])
                for d, dv in v["per_dataset"].items():
                    per.setdefault(d, []).append(dv["uf1"])
            print(
                f"{name} seed {seed}: "
                + " ".join(f"{s} {m['streams'][s]['uf1']:.3f}" for s in m["streams"])
                + f" ensemble {m['uf1']:.3f}",
                flush=True,
            )
    results = {
        name: {stream: {d: spread(v) for d, v in per.items()} for stream, per in streams.items()}
        for name, streams in uf1s.items()
    }
    out = {
        "what": "LOSO UF1 of each stream and the ensemble under different master seeds",
        "seeds": args.seeds,
        "data": args.data,
        "loop": asdict(loop),
        "train_options": {
            k: v for k, v in asdict(opts).items() if k not in ("data", "labels", "datasets", "name", "seed")
        },
        "wall_seconds": round(time.time() - t0, 1),
        "models": results,
        "table_md": table(results),
    }
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(out["table_md"])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
