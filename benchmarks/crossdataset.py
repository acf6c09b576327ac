"""Cross-dataset benchmark: train on CASME II and test on SMIC, and the reverse, with the shipped
recipe (``megc3`` labels: negative / positive / surprise; apex + flow ensemble with inner-CV weights,
calibrated abstention), beside the STSTNet baseline trained in the same folds. Several master seeds,
reported as mean and standard deviation. Nothing is chosen on the test dataset.

    .venv/bin/python benchmarks/crossdataset.py [--data ../shared/data/megc2019] [--seeds 0,1,2]

Writes benchmarks/results/crossdataset.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from microlens.science.metrics import margin_interval  # noqa: E402
from microlens.science.train.loop import LoopOptions  # noqa: E402
from microlens.science.train.run import TrainOptions, train  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("MICROLENS_SHARED", REPO.parent / "shared" / "data")) / "megc2019"
RESULTS = REPO / "benchmarks" / "results"
# test dataset -> how the direction is named (the model is trained on the other dataset)
DIRECTIONS = {"smic": "CASME II → SMIC", "casme2": "SMIC → CASME II"}
STREAMS = ("ensemble", "flow", "apex", "ststnet")
TARGET_MARGIN = 0.03  # issue 8: the shipped recipe's UF1 at least this much above STSTNet's


def one_seed(data: str, seed: int, workers: int) -> tuple[dict, dict]:
    """Both directions for one master seed: (test dataset -> stream -> {uf1, uar, accuracy, n}, the
    run's held-out predictions, see :func:`microlens.science.train.run.train`)."""
    opts = TrainOptions(data=data, labels="megc3", protocol="cross_dataset", baseline=True, final=False,
                        weights="inner", calibrate=True, workers=workers, seed=seed)
    result = train(opts, LoopOptions())
    m = result["metrics"]
    out: dict = {}
    for d in DIRECTIONS:
        out[d] = {s: (m if s == "ensemble" else m["streams"][s])["per_dataset"][d] for s in STREAMS}
        out[d]["abstention"] = m["abstention"]["selective_per_dataset"][d]
    out["ensemble_weights"] = m["ensemble_weights"]
    out["calibration"] = {k: m["abstention"][k] for k in ("nll", "ece", "temperature_mean", "threshold_mean")}
    return out, result["predictions"]


def margins(predictions: list[dict]) -> dict:
    """Per test dataset, the paired subject bootstrap of the ensemble's UF1 margin over STSTNet,
    pooled over the seeds' runs (:func:`microlens.science.metrics.margin_interval`)."""
    first = predictions[0]
    ds = np.asarray(first["dataset"])
    out = {}
    for d in DIRECTIONS:
        keep = ds == d
        ours = np.stack([p["probs"]["ensemble"][keep].argmax(1) for p in predictions])  # (seeds, N)
        base = np.stack([p["probs"]["ststnet"][keep].argmax(1) for p in predictions])
        out[d] = margin_interval(first["y"][keep], ours, base, np.asarray(first["subject"])[keep],
                                 first["probs"]["ensemble"].shape[1])
    return out


def summary(runs: dict[int, dict]) -> dict:
    """Mean and SD over seeds per direction and stream, and the margin over STSTNet."""
    out: dict = {}
    for d, name in DIRECTIONS.items():
        row: dict = {"direction": name}
        for s in STREAMS:
            for key in ("uf1", "uar"):
                v = np.array([r[d][s][key] for r in runs.values()])
                row[f"{s}_{key}"] = {"mean": round(float(v.mean()), 4), "sd": round(float(v.std()), 4)}
        cov = np.array([r[d]["abstention"]["coverage"] for r in runs.values()])
        kept = np.array([r[d]["abstention"]["uf1"] for r in runs.values()])
        row["abstention"] = {"coverage": round(float(cov.mean()), 4),
                             "uf1_answered": round(float(kept.mean()), 4)}
        row["margin_uf1"] = round(row["ensemble_uf1"]["mean"] - row["ststnet_uf1"]["mean"], 4)
        row["target_met"] = row["margin_uf1"] >= TARGET_MARGIN
        out[d] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma list of master seeds")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "crossdataset.json"))
    args = ap.parse_args()
    if not (Path(args.data) / "manifest.csv").is_file():
        print(f"crossdataset: no prepared dataset at {args.data}", file=sys.stderr)
        return 2
    t0 = time.time()
    runs, predictions = {}, []
    for seed in (int(s) for s in args.seeds.split(",")):
        runs[seed], pred = one_seed(args.data, seed, args.workers)
        predictions.append(pred)
        print(f"seed {seed}: " + "; ".join(
            f"{DIRECTIONS[d]} ensemble UF1 {runs[seed][d]['ensemble']['uf1']:.3f} "
            f"STSTNet {runs[seed][d]['ststnet']['uf1']:.3f}" for d in DIRECTIONS), flush=True)
    result = {
        "what": "train on one dataset, test on the other (megc3 labels); shipped recipe vs STSTNet",
        "data": args.data,
        "seeds": list(runs),
        "target_margin_uf1": TARGET_MARGIN,
        "summary": summary(runs),
        # how sure the margin is: subjects resampled with replacement (2,000 times), seeds pooled
        "margin_bootstrap": margins(predictions),
        "runs": {str(k): v for k, v in runs.items()},
        "loop": asdict(LoopOptions()),
        "wall_seconds": round(time.time() - t0, 1),
        "load_average_end": os.getloadavg(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    for row in result["summary"].values():
        ens = row["ensemble_uf1"]
        print(f"{row['direction']}: ensemble UF1 {ens['mean']:.3f} ± {ens['sd']:.3f}, "
              f"STSTNet {row['ststnet_uf1']['mean']:.3f} ± {row['ststnet_uf1']['sd']:.3f}, margin "
              f"{row['margin_uf1']:+.3f} ({'met' if row['target_met'] else 'NOT met'}); abstention coverage "
              f"{row['abstention']['coverage']:.2f}, UF1 answered {row['abstention']['uf1_answered']:.3f}")
    for d, b in result["margin_bootstrap"].items():
        print(f"{DIRECTIONS[d]}: margin {b['margin']:+.3f}, 95 % subject-bootstrap interval "
              f"{b['low']:+.3f} to {b['high']:+.3f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
