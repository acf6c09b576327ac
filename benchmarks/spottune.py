"""Spotting on the development clips only, in seconds: re-spot the tracking arrays that
``benchmarks/recall.py --cache DIR`` kept, and count the viewer's expression spans found.

A tuning aid for issue 20, not a benchmark: it skips recognition (an event's label is what the
expression prior reads at its apex, as a macro-expression would be labelled; micro-expressions are
counted as labelled too) and refuses the declared test part (``recall.TEST``).

    .venv/bin/python benchmarks/spottune.py .cache/recall [--set NAME=VALUE ...] [--verbose]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from recall import NONE, TEST, ViewerClip, covered_labels, dev_clips, score_events, score_spans  # noqa: E402

from microlens.recognize.appearance import cues, expressive, neutral_probability  # noqa: E402
from microlens.spot.options import SpotOptions  # noqa: E402
from microlens.spot.spotting import spot_talking  # noqa: E402


def _prior_label(probs: np.ndarray, labels: tuple[str, ...], times: np.ndarray, apex_s: float) -> str:
    """The prior's macro label from the scored face nearest ``apex_s`` (uncertain: neutral or < 0.5)."""
    ok = np.flatnonzero(np.all(np.isfinite(probs), axis=1))
    if not len(ok):
        return "uncertain"
    p = probs[ok[np.argmin(np.abs(times[ok] - apex_s))]]
    top = int(np.argmax(p))
    return labels[top] if labels[top] != "neutral" and p[top] >= 0.5 else "uncertain"


def events_of(clip: ViewerClip, cache: Path, opts: SpotOptions, use_cues: bool = True) -> list[dict]:
    """Spotted intervals of a cached development clip as event dicts (label: the prior's reading)."""
    if clip.name in TEST:
        raise SystemExit(f"spottune: {clip.name} is in the test part")
    d = np.load(cache / f"{clip.name}.npz")
    times, motion, probs = d["times"], d["motion"], d["appearance"]
    labels = tuple(str(x) for x in d["labels"])
    ivs, _ = spot_talking(times, motion, opts, neutral_probability(probs, labels), expressive(probs, labels),
                          cues(probs) if use_cues else None)
    return [{"start_s": iv.onset_s, "apex_s": iv.apex_s, "end_s": iv.offset_s, "score": iv.score,
             "kind": iv.kind, "label": _prior_label(probs, labels, times, iv.apex_s) if not iv.talking
             or iv.kind == "macro" else "uncertain"} for iv in ivs if iv.apex != iv.onset]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cache", type=Path)
    ap.add_argument("--set", nargs="*", default=[], help="SpotOptions NAME=VALUE")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--no-cues", action="store_true", help="motion only (the spotting before issue 20)")
    args = ap.parse_args(argv)
    whole = ("prior_count", "prior_dip")
    kw = {k: (int(v) if k in whole else float(v)) for k, v in (s.split("=") for s in args.set)}
    opts = SpotOptions(**kw)  # type: ignore[arg-type]
    tot = dict.fromkeys(("spans", "found", "labelled", "labelled_where_none", "events"), 0)
    for c in dev_clips():
        if not (args.cache / f"{c.name}.npz").is_file():
            continue
        ev = events_of(c, args.cache, opts, not args.no_cues)
        s, e = score_spans(ev, c.spans, covered_labels([])), score_events(ev, c.spans)
        for k in tot:
            tot[k] += (s | e)[k]
        print(f"{c.name:34s} found {s['found']}/{s['spans']} labelled-where-none {e['labelled_where_none']}"
              f"/{e['labelled']} events {e['events']}")
        if args.verbose:
            for sp in s["span_list"]:
                print("   ", sp)
            for x in ev:
                at = next((lab for a, b, lab in c.spans if a <= x["apex_s"] < b), "-")
                print(f"      ev {x['start_s']:.2f}-{x['end_s']:.2f} apex {x['apex_s']:.2f} {x['kind']} "
                      f"{x['label']} viewer:{at if at != NONE else 'none'}")
    print("TOTAL", tot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
