"""What an action-unit training run writes: the checkpoint ``aus.pt`` and its model card ``aus.md``
(per-AU leave-one-subject-out F1 with intervals, beside the baselines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from microlens.science.train.card import SOURCES, SOURCES_NOTE


def _cell(summary: dict[str, Any], i: int | None = None) -> str:
    """'0.884 (0.73-0.96)': F1 of AU ``i`` (or the mean over AUs when None) with its interval."""
    v, (lo, hi) = ((summary["mean"], summary["mean_interval"]) if i is None
                   else (summary["f1"][i], summary["interval"][i]))
    return f"{v:.3f} ({lo:.2f}-{hi:.2f})"


def au_table(m: dict[str, Any]) -> list[str]:
    """Markdown rows: per AU its name, positives (subjects), the detector's F1 and the baselines'."""
    rows = ["| AU | name | positives (subjects) | detector F1 (95 %) | prior-rate F1 (95 %) | "
            "always positive F1 |", "|---|---|---|---|---|---|"]
    for i, au in enumerate(m["aus"]):
        a = m["per_au"][au]
        rows.append(f"| {au} | {a['name']} | {a['positives']} ({a['subjects_with']}) | "
                    f"{_cell(m['detector'], i)} | {_cell(m['prior_rate'], i)} | "
                    f"{m['always_positive']['f1'][i]:.3f} |")
    rows.append(f"| mean | {len(m['aus'])} AUs | {m['n']} samples ({m['subjects']}) | "
                f"**{_cell(m['detector'])}** | {_cell(m['prior_rate'])} | "
                f"{m['always_positive']['mean']:.3f} |")
    return rows


def au_card(ckpt: dict[str, Any]) -> str:
    """Markdown model card of an AU checkpoint: AUs, data, LOSO figures, use."""
    m, prov, t = ckpt["metrics"], ckpt["provenance"], ckpt["training"]
    member = ckpt["members"][0]["config"]
    margin = m["margin_vs_prior_rate"]
    sources = " and ".join(SOURCES.get(d, d) for d in prov["datasets"]) + ", " + SOURCES_NOTE
    threshold = ("0.5 for every AU" if t["threshold"] == "fixed" else
                 "per AU, the best F1 of a 3-fold subject-disjoint inner CV on the training subjects")
    few = ", ".join(f"{au}: {m['per_au'][au]['positives']}" for au in m["aus"]
                    if m["per_au"][au]["positives"] < 15)
    published = "; ".join(f"{k}: {v}" for k, v in m["published"].items())
    return "\n".join([
        f"# microlens action-unit detector `{ckpt['name']}`",
        "",
        "Action units: " + ", ".join(f"{a} {n}" for a, n in zip(ckpt["aus"], ckpt["names"], strict=True))
        + f". FlowNet (width {member['width']}, {member['grid']}x{member['grid']} grid, CBAM "
        f"{'on' if member['cbam'] else 'off'}, {len(ckpt['members'])} seed(s)) with one sigmoid output per "
        "AU, on the 28x28 (u, v, strain) onset-to-apex flow image the micro recogniser reads; "
        "probabilities averaged over the flow and its mirror image. An AU counts as present at "
        f"probability >= its threshold ({threshold}).",
        "",
        f"Trained on {prov['samples']} samples of {', '.join(prov['datasets'])} ({len(prov['subjects'])} "
        f"subjects); {prov['au_rule']}. Manifest sha256 `{prov['manifest_sha256'][:16]}…`. Fixed "
        f"{t['epochs']} epochs, AdamW, binary cross-entropy"
        + (" with positives weighted by each AU's negative/positive ratio" if t["pos_weight"] else "") + ".",
        "",
        f"## {m['protocol'].upper()} figures ({m['folds']} folds, pooled held-out predictions, F1 of the "
        "positive class, nothing selected on test subjects)",
        "",
        *au_table(m),
        "",
        "In brackets: 95 % intervals from resampling the test subjects (2,000 times). Prior-rate: each "
        f"AU drawn positive at random with its rate in the fold's training subjects (mean F1 of "
        f"{m['prior_draws']} draws). Mean F1 margin over the prior-rate baseline: {margin['margin']:.3f} "
        f"({margin['interval'][0]:.2f}-{margin['interval'][1]:.2f}). Published, quoted and not "
        f"recomputed (other datasets and protocols): {published}.",
        "",
        "The shipped weights are the final fit on all these samples; the figures estimate how it does on "
        "unseen people of the same lab setting. The fewer an AU's positives, the wider its interval"
        + (f" ({few})." if few else "."),
        "",
        "## Licence and intended use",
        "",
        f"Training data: {sources}. Their licences allow **research use only**, and so does this model. "
        "An AU reading describes facial movement, not what a person feels; never use it as a lie detector.",
        "",
    ])


def save_au_model(ckpt: dict[str, Any], out: Path) -> list[Path]:
    """Write ``aus.pt`` (the checkpoint) and ``aus.md`` (its card) into ``out``."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    path, card = out / f"{ckpt['name']}.pt", out / f"{ckpt['name']}.md"
    torch.save(ckpt, path)
    card.write_text(ckpt["card"])
    return [path, card]
