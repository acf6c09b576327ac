"""Full leave-one-subject-out benchmark of both shipped models in one run, plus the random split.

For ``casme2`` (fine labels, CASME II part) and ``megc3`` (negative / positive / surprise, CASME II +
SMIC): apex, flow, ensemble and the STSTNet baseline, accuracy / UF1 / UAR for CASME II, SMIC and
both, under LOSO; then the seed's random split once, to show how much it inflates. Writes
benchmarks/results/loso.json (with wall time) and confusion PNGs. With ``--ship`` the final fit of
each model on all its samples is saved into microlens/assets with its model card and ONNX files.

    .venv/bin/python benchmarks/loso.py [--data ../shared/data/megc2019] [--ship]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from microlens.science.metrics import margin_interval  # noqa: E402
from microlens.science.train.card import save_metrics, save_model  # noqa: E402
from microlens.science.train.loop import LoopOptions  # noqa: E402
from microlens.science.train.run import TrainOptions, train  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("MICROLENS_SHARED", REPO.parent / "shared" / "data")) / "megc2019"
RESULTS = REPO / "benchmarks" / "results"

# model name -> which labels and source datasets it is trained on
MODELS = {
    "casme2": {"labels": "casme2", "datasets": "casme2"},
    "megc3": {"labels": "megc3", "datasets": ""},
}

# published figures, quoted (not recomputed): UF1 under LOSO on the MEGC2019 composite
ANCHORS = {
    "STSTNet (Liong et al., 2019), published": {"composite": 0.7353, "casme2": 0.8382, "smic": 0.6801},
    "HTNet (Wang et al., 2024), published": {"composite": 0.8603, "casme2": 0.9532, "smic": 0.8049},
}
SEED_RANDOM_SPLIT = "64.52 / 83.87 / 95.42 % accuracy (apex / flow / ensemble, random split, as quoted)"

KEYS = ("accuracy", "uf1", "uar", "n", "uf1_interval")


def loso_options(name: str, data: str, **changes: object) -> TrainOptions:
    """The LOSO training options of shipped model ``name`` on ``data``, with ``changes``."""
    cfg = MODELS[name]
    base = TrainOptions(data=data, labels=cfg["labels"], datasets=cfg["datasets"], protocol="loso", name=name)
    return replace(base, **changes)  # type: ignore[arg-type]


def rows_of(m: dict) -> dict[str, dict[str, dict]]:
    """stream -> {"all", dataset...} -> {accuracy, uf1, uar, n, uf1_interval (95 %, subjects
    resampled)}."""
    out = {}
    for s, v in [("ensemble", m), *m["streams"].items()]:
        out[s] = {"all": {k: v[k] for k in KEYS if k in v}, **v["per_dataset"]}
    return out


def table(results: dict) -> str:
    """The README table: one row per model and stream, UF1 / UAR / accuracy per dataset."""
    lines = [
        "| model | stream | composite acc / UF1 / UAR | CASME II acc / UF1 / UAR | SMIC acc / UF1 / UAR |",
        "|---|---|---|---|---|",
    ]

    def cell(d: dict | None) -> str:
        return f"{d['accuracy']:.3f} / **{d['uf1']:.3f}** / {d['uar']:.3f}" if d else "–"

    for name, r in results.items():
        for stream, v in r["loso"].items():
            comp = v["all"] if len(v) > 2 else None
            lines.append(
                f"| {name} | {stream} | {cell(comp)} | {cell(v.get('casme2'))} | {cell(v.get('smic'))} |"
            )
    for name, a in ANCHORS.items():
        lines.append(
            f"| {name} | – | UF1 {a['composite']:.4f} | UF1 {a['casme2']:.4f} | UF1 {a['smic']:.4f} |"
        )
    return "\n".join(lines)


def margins(pred: dict) -> dict[str, dict]:
    """"all" / dataset -> the ensemble's UF1 margin over STSTNet in the same folds, with its 95 %
    interval from a paired bootstrap over the test subjects (microlens.science.metrics.margin_interval)."""
    y, ds, groups = pred["y"], np.asarray(pred["dataset"]), np.asarray(pred["subject"])
    k = pred["probs"]["ensemble"].shape[1]
    parts = {"all": np.ones(len(y), bool), **{d: ds == d for d in sorted(set(ds))}}
    ens, base = pred["probs"]["ensemble"].argmax(1), pred["probs"]["ststnet"].argmax(1)  # (N,) each
    return {part: margin_interval(y[m], ens[m], base[m], groups[m], k) for part, m in parts.items()}


def cpu_seconds() -> float:
    """CPU time of this process and its finished workers (user + system)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--out", default=str(RESULTS / "loso.json"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--weights", default="inner", choices=("equal", "inner"),
        help="ensemble weights: inner CV on the training subjects of each fold (as shipped) or equal",
    )
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=LoopOptions().epochs)
    ap.add_argument("--ship", action="store_true", help="also fit on all samples and write microlens/assets")
    args = ap.parse_args()
    loop = replace(LoopOptions(), epochs=args.epochs)
    t_all = time.time()
    load_before = os.getloadavg()
    cpu_before = cpu_seconds()
    results: dict = {}
    for name in MODELS:
        opts = loso_options(
            name,
            args.data,
            baseline=True,
            final=args.ship,
            onnx=True,
            workers=args.workers,
            weights=args.weights,
            seeds=args.seeds,
        )
        t = time.time()
        res = train(opts, loop)
        loso_s = res["metrics"]["seconds"]
        m = res["metrics"]
        save_metrics(m, RESULTS, prefix=f"loso_{name}_")
        if res["checkpoint"] is not None:
            save_model(res["checkpoint"], REPO / "microlens" / "assets", onnx=True)
        t_rand = time.time()
        rnd = train(replace(opts, protocol="random", baseline=False, final=False), loop)["metrics"]
        results[name] = {
            "labels": m["labels"],
            "samples": m["n"],
            "folds": m["folds"],
            "dropped": m["dropped"],
            "notes": m["notes"],
            "ensemble_weights": m["ensemble_weights"],
            # temperature scaling and abstention, each fold fitted on its training subjects only
            "abstention": m.get("abstention"),
            "loso": rows_of(m),
            # how sure the lead over STSTNet is: 95 % intervals, test subjects resampled 2,000 times
            # (each UF1's own interval is in "loso", from the training metrics)
            "margins_vs_ststnet": margins(res["predictions"]),
            "loso_confusion": m["confusion"],
            "random_split": rows_of(rnd),
            "seconds": {
                "loso": loso_s,
                "final_fit": round(t_rand - t - loso_s, 1),
                "random_split": round(time.time() - t_rand, 1),
            },
        }
        e = results[name]["loso"]
        print(
            f"{name}: LOSO ensemble UF1 {e['ensemble']['all']['uf1']:.3f} apex {e['apex']['all']['uf1']:.3f} "
            f"flow {e['flow']['all']['uf1']:.3f} ststnet {e['ststnet']['all']['uf1']:.3f} "
            f"({loso_s:.0f}s); random-split ensemble UF1 "
            f"{results[name]['random_split']['ensemble']['all']['uf1']:.3f}",
            flush=True,
        )
    wall = time.time() - t_all
    out = {
        "protocol": "loso (leave one subject out), pooled predictions; plus the seed's random split",
        "data": args.data,
        "wall_seconds": round(wall, 1),
        # CPU time / 2: the wall time on an otherwise idle 2-core machine (the box is shared)
        "cpu_seconds": round(cpu_seconds() - cpu_before, 1),
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "machine": platform.machine(),
        "load_average_1_5_15": {"start": load_before, "end": os.getloadavg()},
        "loop": asdict(loop),
        "train_options": {
            k: v for k, v in asdict(opts).items() if k not in ("data", "labels", "datasets", "name")
        },
        "models": results,
        "anchors_uf1": ANCHORS,
        "seed_random_split": SEED_RANDOM_SPLIT,
        "table_md": table(results),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(out["table_md"])
    print(f"wrote {args.out}; wall time {wall:.0f}s")


if __name__ == "__main__":
    main()
