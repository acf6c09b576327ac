"""``microlens evaluate``: score a model on a prepared dataset and print the metrics JSON.

The data's labels are mapped onto the model's label set (a fine emotion becomes its MEGC class for
an MEGC model); samples outside the set are skipped and counted.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microlens.errors import DataError
from microlens.labels import select
from microlens.options import add_options, option, options_from_args
from microlens.recognize.recognizer import DEFAULT_MODEL, load_model
from microlens.science.data import load_dataset
from microlens.science.metrics import plot_confusion, report


@dataclass(frozen=True)
class EvaluateOptions:
    """What to evaluate on what."""

    # a shipped model name or a checkpoint path
    model: str = option(DEFAULT_MODEL, "shipped model name or checkpoint path")
    # prepared dataset directory
    data: str = option("", "prepared dataset directory (manifest.csv + apex/ + flow/)")
    # batch size for inference
    batch_size: int = option(64, "inference batch size")
    # optional confusion PNG
    confusion_png: str = option("", "also write the ensemble confusion matrix to this PNG")


def evaluate(opts: EvaluateOptions, progress: Any = None) -> dict[str, Any]:
    """The metrics dict (same schema as train's metrics.json) of ``opts.model`` on ``opts.data``."""
    if not opts.data:
        raise DataError("--data DIR is required")
    progress = progress or (lambda stage, frac: None)
    model = load_model(opts.model)
    ds = load_dataset(opts.data)
    sel = select(ds.emotions, ds.megc_classes, model.labels, drop_empty=False)
    skipped = len(ds) - len(sel.indices)
    if len(sel.indices) == 0:
        raise DataError(
            f"no sample of {opts.data} has a label of model {model.name} "
            f"({', '.join(model.labels)}); skipped {sel.dropped}"
        )
    ds = ds.subset(sel.indices)
    k = len(model.labels)
    probs = {s: np.zeros((len(ds), k), np.float32) for s in ("ensemble", "apex", "flow")}
    for start in range(0, len(ds), opts.batch_size):
        sl = slice(start, start + opts.batch_size)
        pred = model.predict(ds.apex[sl], ds.flow[sl])
        probs["ensemble"][sl], probs["apex"][sl], probs["flow"][sl] = pred.probs, pred.apex, pred.flow
        progress("predict", min(1.0, (start + opts.batch_size) / len(ds)))
    out = report(sel.targets, probs, model.labels, ds.datasets, skipped=skipped, subjects=ds.subjects)
    out["model"] = model.name
    out["dropped"] = sel.dropped
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    p = subparsers.add_parser(
        "evaluate",
        help="score a model on a prepared dataset (prints metrics JSON)",
        description=__doc__.splitlines()[0],
    )
    add_options(p, EvaluateOptions)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """CLI entry: print the metrics JSON on stdout."""
    from microlens.progress import progress_bar

    opts = options_from_args(EvaluateOptions, args)
    with progress_bar(f"evaluate {opts.model}") as bar:
        result = evaluate(opts, bar)
    if opts.confusion_png:
        plot_confusion(
            result["confusion"],
            result["labels"],
            Path(opts.confusion_png),
            f"{result['model']} UF1 {result['uf1']:.3f}",
        )
    print(json.dumps(result, indent=2))
    return 0
