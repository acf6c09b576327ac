"""Markdown tables generated from the benchmark results, and the tool that keeps the docs in sync.

Every table in README.md and docs/*.md that reports a benchmark figure is produced here from
benchmarks/results/*.json, never typed. In a markdown file a generated table sits between two
markers; everything between them is replaced by the generator's output:

    <!-- table:loso -->
    | model | stream | ... |
    <!-- /table:loso -->

    .venv/bin/python benchmarks/tables.py           # rewrite every marked block
    .venv/bin/python benchmarks/tables.py --check   # exit 1 and list the blocks that differ

Adding a table: write a function that reads its JSON with `load("name")` and returns the table
text (build it with `md_table`), decorate it with `@table("name")`, put the two markers in a docs
page and run this script. tests/test_docs.py then checks the block and renders the table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

TABLES: dict[str, Callable[[], str]] = {}
"""Table name -> function returning the markdown table (no trailing newline)."""

BLOCK = re.compile(r"^<!-- table:(?P<name>[\w-]+) -->\n(?P<body>.*?)^<!-- /table:(?P=name) -->",
                   re.DOTALL | re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)  # markers shown in code are not blocks
DASH = "–"


def table(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Register a table generator under `name` (the name used in the markers)."""

    def register(fn: Callable[[], str]) -> Callable[[], str]:
        if name in TABLES:
            raise ValueError(f"table {name!r} registered twice")
        TABLES[name] = fn
        return fn

    return register


def load(name: str) -> dict:
    """The parsed benchmarks/results/NAME.json."""
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))


def md_table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A GitHub markdown table from a header and rows of cell strings."""
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def f2(x: float) -> str:
    return f"{x:.2f}"


def f3(x: float) -> str:
    return f"{x:.3f}"


def mb(x: float) -> str:
    return f"{x:.0f} MB"


# ---- recognition (loso.json, seeds.json, ablations.json) ---------------------------------------

MODEL_ORDER = ("casme2", "megc3")
STREAMS = ("ensemble", "apex", "flow", "ststnet")
COLUMNS = ("all", "casme2", "smic")  # composite, CASME II, SMIC in loso.json / seeds.json
COLUMN_TITLES = ("composite", "CASME II", "SMIC")
ANCHOR_KEYS = ("composite", "casme2", "smic")


def _models(results: dict) -> list[str]:
    """Model names of a results file, the shipped order first."""
    names = list(results["models"])
    return sorted(names, key=lambda n: (MODEL_ORDER.index(n) if n in MODEL_ORDER else len(MODEL_ORDER), n))


def _columns(model: dict) -> list[str | None]:
    """The loso.json keys of the composite / CASME II / SMIC columns of a model (None: not tested).

    A model trained on one dataset only has no composite column: its `all` equals that dataset."""
    scores = next(iter(model.values()))
    multi = len([k for k in scores if k != "all"]) > 1
    return [k if k in scores and (k != "all" or multi) else None for k in COLUMNS]


def _anchor_rows(results: dict) -> list[list[str]]:
    return [
        [name, *(f"UF1 {uf1[k]}" if k in uf1 else DASH for k in ANCHOR_KEYS)]
        for name, uf1 in results.get("anchors_uf1", {}).items()
    ]


def _with_interval(row: dict) -> str:
    """A loso.json row's UF1 and, when measured, its 95 % interval: '0.857 (0.79–0.91)'."""
    low_high = row.get("uf1_interval")
    return f3(row["uf1"]) + (f" ({low_high[0]:.2f}–{low_high[1]:.2f})" if low_high else "")


@table("glance_recognition")
def glance_recognition() -> str:
    """README: LOSO UF1 of the shipped models' ensemble, flow stream and our STSTNet, plus published."""
    results = load("loso")
    names = {"ensemble": "ensemble (inner-CV weights, as shipped)", "flow": "flow stream alone",
             "ststnet": "our STSTNet reimplementation, same folds"}
    rows = []
    for model in _models(results):
        loso = results["models"][model]["loso"]
        for stream, title in names.items():
            rows.append([f"`{model}` {title}", *(_with_interval(loso[stream][k]) if k else DASH
                                                 for k in _columns(loso))])
    rows += _anchor_rows(results)
    return md_table(["LOSO UF1 (95 % interval, test subjects resampled)", *COLUMN_TITLES], rows)


@table("loso")
def loso() -> str:
    """docs/science.md: accuracy / UF1 / UAR of every model and stream under LOSO, plus published UF1."""
    results = load("loso")
    rows = []
    for model in _models(results):
        scores = results["models"][model]["loso"]
        keys = _columns(scores)
        for stream in STREAMS:
            if stream not in scores:
                continue
            s = scores[stream]
            rows.append([f"`{model}`", stream, *(
                f"{f3(s[k]['accuracy'])} / **{f3(s[k]['uf1'])}** / {f3(s[k]['uar'])}" if k else DASH
                for k in keys)])
    rows += [[name, DASH, *cells] for name, *cells in _anchor_rows(results)]
    return md_table(["model", "stream", "both (composite)", "CASME II", "SMIC"], rows)


@table("loso_margins")
def loso_margins() -> str:
    """docs/science.md: how sure the LOSO margins over STSTNet are (loso.json, margins_vs_ststnet)."""
    results = load("loso")
    rows = []
    for model in _models(results):
        m = results["models"][model]
        if "margins_vs_ststnet" not in m:
            continue
        for k in (k for k in _columns(m["loso"]) if k):
            b = m["margins_vs_ststnet"][k]
            rows.append([f"`{model}`", COLUMN_TITLES[_columns(m["loso"]).index(k)],
                         f"{b['margin']:+.3f}", f"{b['low']:+.3f} to {b['high']:+.3f}",
                         f"{b['p_below_zero']:.0%}"])
    return md_table(["model", "test part", "ensemble UF1 − STSTNet UF1", "95 % interval",
                     "resamples where STSTNet is level or ahead"], rows)


@table("random_split")
def random_split() -> str:
    """docs/science.md: LOSO against the seed's sample-level random split (loso.json)."""
    results = load("loso")
    rows = []
    for model in _models(results):
        m = results["models"][model]
        for stream in ("apex", "flow", "ensemble"):
            a, r = m["loso"][stream]["all"], m["random_split"][stream]["all"]
            rows.append([f"`{model}`", stream, f"{f3(a['accuracy'])} / {f3(a['uf1'])}",
                         f"{f3(r['accuracy'])} / {f3(r['uf1'])} (n={r['n']})"])
    return md_table(["model", "stream", "LOSO acc / UF1", "random split acc / UF1"], rows)


@table("models")
def models() -> str:
    """docs/science.md: the shipped models, their data and LOSO ensemble UF1 (loso.json)."""
    results = load("loso")
    titles = {"casme2": "CASME II", "smic": "SMIC", "samm": "SAMM"}
    rows = []
    for i, model in enumerate(_models(results)):
        m = results["models"][model]
        datasets = [k for k in m["loso"]["ensemble"] if k != "all"]
        trained = " + ".join(titles.get(d, d) for d in datasets)
        files = f"`microlens/assets/{model}.pt`, `{model}.apex.onnx`, `{model}.flow.onnx`, card `{model}.md`"
        rows.append([f"`{model}`" + (" (default)" if i == 0 else ""), ", ".join(m["labels"]),
                     f"{trained} ({m['samples']} samples, {m['folds']} subjects)",
                     f3(m["loso"]["ensemble"]["all"]["uf1"]), files])
    weights = {m["ensemble_weights"]["mode"] for m in results["models"].values()}
    uf1 = f"LOSO ensemble UF1 ({'/'.join(sorted(weights))} weights)"
    return md_table(["name", "labels", "trained on", uf1, "files"], rows)


@table("seeds")
def seeds() -> str:
    """docs/science.md: mean ± sample sd of LOSO UF1 over master seeds (seeds.json)."""
    results = load("seeds")
    rows = []
    for model in _models(results):
        scores = results["models"][model]
        keys = _columns(scores)
        for stream in STREAMS:
            if stream in scores:
                s = scores[stream]
                rows.append([f"`{model}`", stream, *(
                    f"{f3(s[k]['mean'])} ± {f3(s[k]['sd'])}" if k else DASH for k in keys)])
    return md_table(["model", "stream", "composite UF1", "CASME II UF1", "SMIC UF1"], rows)


@table("ablations")
def ablations() -> str:
    """docs/science.md: LOSO ablations on CASME II (ablations.json)."""
    results = load("ablations")
    rows = [[name, f"{f3(v['ensemble']['accuracy'])} / **{f3(v['ensemble']['uf1'])}** / "
             f"{f3(v['ensemble']['uar'])}", f3(v["apex"]["uf1"]), f3(v["flow"]["uf1"])]
            for name, v in results["variants"].items()]
    return md_table(["variant", "ensemble acc / UF1 / UAR", "apex UF1", "flow UF1"], rows)


# ---- spotting (spotting.json) -------------------------------------------------------------------

SPOTTERS = {"ours": "ours (as analyze: MotionMeter + expression prior, spot_talking)",
            "ours_without_prior": "ours, motion only (spot; before issue 20)",
            "baseline": "baseline (block frame difference)"}
KINDS = ("micro", "macro", "overall")


@table("glance_spotting")
def glance_spotting() -> str:
    """README: spotting F1 per kind, ours and the frame-difference baseline."""
    total = load("spotting")["total"]
    return md_table(["spotter", *(f"{k} F1" for k in KINDS)],
                    [[title, *(f2(total[s][k]["f1"]) for k in KINDS)] for s, title in SPOTTERS.items()
                     if s != "ours_without_prior"])  # docs/science.md has that one


@table("spotting")
def spotting() -> str:
    """docs/science.md: spotting precision / recall / F1 on the report clip set."""
    total = load("spotting")["total"]
    rows = [[title, *(" / ".join(f2(total[s][k][m]) for m in ("precision", "recall", "f1")) for k in KINDS)]
            for s, title in SPOTTERS.items()]
    gain = total.get("f1_gain_over_baseline", {})
    rows.append(["F1 gain of ours over the baseline",
                 *(f"+{f2(gain[k])}" if k in gain else DASH for k in KINDS)])
    return md_table(["spotter", *(f"{k} P / R / F1" for k in KINDS)], rows)


@table("spotting_clips")
def spotting_clips() -> str:
    """docs/science.md: overall spotting F1 per clip of the report set."""
    rows = [[f"`{c['clip']['name']}`", f"{c['clip']['fps']:g}", f"{c['clip']['duration_s']:g} s",
             str(c["ours"]["scores"]["overall"]["truth"]),
             f2(c["ours"]["scores"]["overall"]["f1"]), f2(c["baseline"]["scores"]["overall"]["f1"])]
            for c in load("spotting")["clips"]]
    return md_table(["clip", "fps", "length", "expressions", "ours overall F1", "baseline overall F1"], rows)


@table("spotting_timing")
def spotting_timing() -> str:
    """docs/science.md: seconds per stage of the spotting benchmark run."""
    timing = load("spotting")["timing"]
    stages = timing["stages_s"]
    names = {"decode_s": "decode", "face_s": "face tracking", "meter_s": "MotionMeter", "spot_s": "spot",
             "neutral_s": "neutral-face scoring (FER2013 prior, 10 faces a second)",
             "appearance_s": "expression-prior scoring (FER2013, 10 faces a second)",
             "baseline_meter_s": "baseline meter", "baseline_spot_s": "baseline spot",
             "render_encode_s": "rendering and encoding the clips (not part of the pipeline)"}
    rows = [[names.get(k, k), f2(v)] for k, v in stages.items()]
    rows.append([f"pipeline (decode + face + MotionMeter + expression-prior scoring + spot) for "
                 f"{timing['video_s']:g} s of video",
                 f"{timing['pipeline_x_realtime']:.2f}× real time"])
    rows.append(["MotionMeter per frame", f"{timing['meter_ms_per_frame']:.2f} ms"])
    return md_table(["stage", "seconds"], rows)


# ---- speed and memory (speed.json, memory.json, load.json, video_face_speed.json, ...) ----------

@table("glance_speed")
def glance_speed() -> str:
    """README: analysis speed, peak memory and the web load test, one line each."""
    speed, memory, web, pace = load("speed"), load("memory"), load("load"), load("livepace")
    clip = speed["clip"]
    page = pace["browser"]
    n1, n2 = web["uploads"], web["uploads"] + web["second_wave"]["uploads"]
    runs = memory["runs"]
    return md_table(["measure", "value"], [
        [f"`microlens analyze`, {clip['width']}×{clip['height']} {clip['fps']:g} fps "
         f"{clip['duration_s']:g} s clip",
         f"{speed['realtime_ratio']:.1f}× real time ({speed['analyze_s']:.1f} s)"],
        [f"peak memory, {memory['clips']['size']} clip of " + " / ".join(runs),
         " / ".join(mb(r["peak_rss_mb"]) for r in runs.values())],
        [f"web app, {web['uploads']} concurrent uploads of real clips ({web['clips_over_1_mb']} over 1 MB)",
         f"{web['accepted']} accepted, {web['completed']} completed, "
         f"{web['failed']} failed as expected (no face), {web['lost']} lost; "
         f"time to result p95 {web['time_to_result_s']['p95']:.1f} s"],
        *([[f"web server memory, idle / after {n1} / after {n2} jobs",
            " / ".join(mb(web["rss_mb"][k]) for k in ("idle", f"after_{n1}", f"after_{n2}")) + " "
            f"(growth {n1}→{n2}: {web['rss_mb'][f'growth_{n1}_{n2}']:.1f} MB)"]] if n2 > n1 else []),
        ["live webcam page: frames/s taken, gap between updates (median / max)",
         f"{page['frames_per_s']:g} frames/s, {page['display_gaps']['median_s']:.2f} s / "
         f"{page['display_gaps']['max_s']:.2f} s (WebSocket alone: {pace['websocket']['frames_per_s']:g} "
         f"frames/s)" if "frames_per_s" in page else f"WebSocket: {pace['websocket']['frames_per_s']:g} "
         f"frames/s, status gap median {pace['websocket']['status_gaps']['median_s']:.2f} s"],
    ])


@table("speed")
def speed() -> str:
    """docs/usage.md: end-to-end analysis speed against real time and a decode-only pass."""
    s = load("speed")
    clip = s["clip"]
    loads = [r["threaded"]["loadavg_1min_before"] for r in s.get("rounds", [])]
    return md_table(["measure", "value"], [
        ["analysis time" + (f" (median of {s['runs']} rounds)" if "runs" in s else ""),
         f"{s['analyze_s']:.1f} s for {clip['duration_s']:g} s of video "
         f"({clip['frames']} frames, {s['ms_per_frame']:.1f} ms a frame)"],
        ["ratio to real time",
         f"**{s['realtime_ratio']:.2f}×** (target ≥ {s['target_realtime_ratio']:g}×)"],
        ["decode-only pass",
         f"{s['decode_only_s']:.2f} s ({s['decode_only_realtime_ratio']:.0f}× real time)"],
        ["analysis / decode-only", f"{s['analyze_over_decode']:.1f}×"
         + (f" (target ≤ {s['target_analyze_over_decode']:g})" if "target_analyze_over_decode" in s else "")],
        *([["stages one after another (`pipeline_threads=False`)",
            f"{s['sequential_s']:.1f} s: the threads make it {s['threads_speedup']:.2f}× faster, "
            f"same events: {'yes' if s['same_events_threaded_and_sequential'] else 'NO'}"]]
          if s.get("sequential_s") else []),
        *([["CPU seconds used / machine load (1 min) before each round",
            f"{s['analyze_cpu_s']:.1f} s / " + ", ".join(f"{x:.1f}" for x in loads)
            + f" on {s['machine']['cpus']} cores"]] if loads else []),
    ])


@table("speed_stages")
def speed_stages() -> str:
    """docs/usage.md: busy seconds of each analysis stage (speed.json); the tracking pass's stages
    overlap in threads, its wall time is track_wall."""
    s = load("speed")
    rows = [[stage, f2(sec), f"{s['stages_percent'][stage]:.1f}"]
            for stage, sec in s["stages_s"].items() if stage != "writer_busy"]
    return md_table(["stage", "busy seconds", "% of the analysis' wall time"], rows)


@table("memory")
def memory() -> str:
    """docs/usage.md: peak RSS of a short and a long clip (memory.json)."""
    m = load("memory")
    size = m["clips"]["size"].split()[0].split("x")[1] + "p"
    rows = [[f"{label} {size}", str(r["frames"]), mb(r["peak_rss_mb"]), mb(r["rss_after_model_mb"]),
             f"{r['analyze_s']:.0f} s"] for label, r in m["runs"].items()]
    return md_table(["clip", "frames", "peak RSS", "RSS after loading the model", "analysis time"], rows)


@table("video_face_speed")
def video_face_speed() -> str:
    """docs/usage.md: decode and face-tracking cost per frame (video_face_speed.json)."""
    v = load("video_face_speed")
    d, f = v["decode_only"], v["decode_plus_face"]
    return md_table(["pass", "ms per frame", "× real time"], [
        ["decode only", f"{d['ms_per_frame']:.1f}", f"{d['x_real_time']:.0f}×"],
        ["decode + face (detect, track, align, crop)",
         f"{f['ms_per_frame']:.1f} (decode {f['decode_ms_per_frame']:.1f}, "
         f"face {f['face_ms_per_frame']:.1f})",
         f"{f['x_real_time']:.1f}×"],
    ])


@table("face_stability")
def face_stability() -> str:
    """docs/usage.md: alignment jitter in crop pixels under known head motion (face_stability.json)."""
    s = load("face_stability")
    rows = [[motion, f2(m["raw"]["frame_to_frame_px"]), f2(m["smoothed"]["frame_to_frame_px"]),
             f2(m["raw"]["deviation_px"]), f2(m["smoothed"]["deviation_px"])]
            for motion, m in s.items() if "raw" in m]
    return md_table(["head motion", "frame-to-frame, raw", "frame-to-frame, smoothed", "deviation, raw",
                     "deviation, smoothed"], rows)


@table("load")
def load_test() -> str:
    """docs/web.md: concurrent uploads to a real server (load.json)."""
    w = load("load")
    t, rss = w["time_to_result_s"], w["server_rss_mb"]
    by_jobs = ", ".join(f"{mb(v)} after {k}" for k, v in rss["by_jobs_finished"].items())
    sizes = sorted(c["bytes"] for c in w["clips"])
    clips = (f"{len(sizes)} real clips, {sizes[0] / 1e6:.2f}–{sizes[-1] / 1e6:.1f} MB, "
             f"{w['clips_over_1_mb']} over 1 MB")
    failed = str(w["failed"]) + (" (no_face.mp4: no face, as expected)" if w["expected_failures"]
                                 and not w["unexpected_failures"] else "")
    return md_table(
        ["uploads", "clips", "accepted", "completed", "failed", "lost", "upload p95",
         "time to result p50 / p95 / max", "wall", "server RSS"],
        [[str(w["uploads"]), clips, str(w["accepted"]), str(w["completed"]), failed, str(w["lost"]),
          f"{w['upload_s']['p95']:.2f} s", f"{t['p50']:.1f} s / {t['p95']:.1f} s / {t['max']:.1f} s",
          f"{w['wall_s']:.1f} s",
          f"{mb(rss['idle'])} after start (model and face tracker warmed up); {by_jobs} jobs finished; "
          f"peak {mb(rss['max'])}"]])


@table("livepace")
def livepace() -> str:
    """docs/web.md: the live page's pace, WebSocket and browser (livepace.json)."""
    p = load("livepace")
    ws, page, m = p["websocket"], p["browser"], p["machine"]

    def gaps(g: dict[str, float]) -> str:
        return f"{g['median_s']:.3f} s / {g['p95_s']:.3f} s / {g['max_s']:.3f} s ({g['n']})"

    rows = [["WebSocket client, one frame in flight", f"{ws['frames_per_s']:g}", gaps(ws["status_gaps"]),
             "–"]]
    if "frames_per_s" in page:
        rows.append(["chromium, fake camera, `/webcam` display", f"{page['frames_per_s']:g}",
                     gaps(page["display_gaps"]),
                     "page timer + round trip "
                     f"{page['baseline_page_timer_and_round_trip']['median_s']:.3f} s, server tick "
                     f"{page['baseline_server_sleep_loop']['median_s']:.3f} s"])
    else:
        rows.append(["chromium", "–", "–", f"skipped: {page['skipped']}"])
    verdict = "all goals met" if p["passed"] else "; ".join(p["problems"])
    rows.append([f"verdict ({p['seconds']:g} s windows, load average {m['load_average_1min_before']:g} "
                 f"before)", "–", "–", verdict])
    return md_table(["path", "frames/s", "gap between updates: median / p95 / max (n)",
                     "yardstick (median 0.4 s tick)"], rows)


# ---- the markdown side --------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """One marked table in a markdown file."""

    path: Path
    name: str
    body: str  # the text between the markers, as in the file

    @property
    def where(self) -> str:
        path = self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path
        return f"{path}: table:{self.name}"


def doc_files(root: Path = REPO) -> list[Path]:
    """README.md and every docs/*.md page."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _matches(text: str) -> Iterator[re.Match[str]]:
    """Marked blocks of a markdown text, outside fenced code."""
    fences = [f.span() for f in FENCE.finditer(text)]
    for m in BLOCK.finditer(text):
        if not any(a <= m.start() < b for a, b in fences):
            yield m


def blocks(path: Path) -> Iterator[Block]:
    """The marked blocks of one markdown file."""
    for m in _matches(path.read_text(encoding="utf-8")):
        yield Block(path, m["name"], m["body"])


def render(name: str) -> str:
    """The block body for table `name`: the generated table and a newline."""
    if name not in TABLES:
        raise KeyError(f"no generator for table {name!r}; registered: {', '.join(sorted(TABLES))}")
    return TABLES[name]().rstrip("\n") + "\n"


def rewrite(path: Path) -> list[str]:
    """Regenerate every marked block of `path` in place; return the names that changed."""
    text = path.read_text(encoding="utf-8")
    changed: list[str] = []

    parts, end = [], 0
    for m in _matches(text):
        body = render(m["name"])
        if body != m["body"]:
            changed.append(m["name"])
        parts += [text[end:m.start("body")], body]
        end = m.end("body")
    new = "".join(parts) + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return changed


def stale(files: Iterable[Path]) -> list[str]:
    """`path: table:name` of every block whose text differs from what its generator gives now."""
    out = []
    for path in files:
        for block in blocks(path):
            try:
                if block.body != render(block.name):
                    out.append(block.where)
            except (KeyError, OSError, ValueError) as e:  # unknown table, missing or bad JSON
                out.append(f"{block.where} ({e})")
    return out



# ---- labels on real video, calibration, cross-dataset, parity (issue 8) ------------------------

def _label_counts(labels: dict | None) -> str:
    """'happiness 2, sadness 1' from a label -> count dict, most frequent first."""
    if not labels:
        return DASH
    return ", ".join(f"{k} {v}" for k, v in sorted(labels.items(), key=lambda kv: -kv[1]))


# ---- what a viewer sees: expression spans found / missed (issue 20) ------------------------------

def _rate_cell(r: dict) -> str:
    """'0.621 (18/29)' from a recall.json rate, '–' without a denominator (three decimals: at two,
    228/305 would read 0.75 and seem to meet a 0.75 target it misses)."""
    return f"{r['n'] / r['of']:.3f} ({r['n']}/{r['of']})" if r.get("of") else DASH


def _recall_row(name: str, t: dict) -> list[str]:
    return [name, str(t["clips"]), f"{t['found']} / {t['spans'] - t['found']}", _rate_cell(t["recall"]),
            f"{t['covered_right']} / {t['covered_wrong']} / {t['covered_uncertain']} / {t['covered_missed']}",
            _rate_cell(t["named_right"]), _rate_cell(t["labelled_where_none_share"]),
            _rate_cell(t["second_agreement"]),
            f"{t['changes']} vs {t['viewer_changes']} ({t['changes_abs_diff']})"]


@table("recall")
def recall() -> str:
    """README and docs/science.md: the viewer's expression spans found and named, development and
    test parts, before and after issue 20 (recall.json, recall_before.json)."""
    now = load("recall")["totals"]
    rows = []
    try:
        before = load("recall_before")["totals"]
    except (OSError, ValueError):
        before = {}
    for part, title in (("dev", "development (tuned)"), ("test", "test (declared, not tuned)")):
        if part in before:
            rows.append(_recall_row(f"{title}, before", before[part]))
        if part == "test" and "test_first" in now and now["test_first"]["clips"] != now["test"]["clips"]:
            rows.append(_recall_row(f"{title}, now: the clips of before", now["test_first"]))
        rows.append(_recall_row(f"{title}, now" if part in before else title, now[part]))
    return md_table(["part", "clips", "spans found / missed", "recall", "covered spans: right / wrong / "
                     "uncertain / missed", "named right", "labelled events where the viewer sees none",
                     "per-second agreement", "emotion changes vs viewer's (total abs. difference)"], rows)


@table("realvideo")
def realvideo() -> str:
    """README and docs/science.md: labels the shipped models give on real clips (realvideo.json)."""
    results = load("realvideo")
    rows = []
    for r in results["rows"]:
        if r["config"] != "shipped":
            continue
        top = f"{r['top_share']:.0%} {r['top_label']}" if r.get("top_share") is not None else DASH
        unc = f"{r['uncertain_share']:.0%}" if r.get("uncertain_share") is not None else DASH
        rows.append([f"`{r['clip']}`", f"`{r['model']}`", ", ".join(r["viewer_sees"]) or "no face",
                     str(r["events"]), _label_counts(r.get("labels")), top, unc, _in_spans(r),
                     _elsewhere(r), r["verdict"], _label_counts(r.get("appearance_seconds"))])
    return md_table(["clip", "model", "a viewer sees", "events", "labels", "most frequent (of labelled)",
                     "uncertain", "in the viewer's emotion spans: agree / differ / uncertain",
                     "elsewhere: labelled / uncertain", "check", "seconds read on the face"], rows)


def _in_spans(row: dict) -> str:
    """'agree / differ / uncertain' of a realvideo row's events inside the viewer's emotion spans."""
    v = row.get("viewer")
    return f"{v['agree']} / {v['differ']} / {v['uncertain']}" if v else DASH


def _elsewhere(row: dict) -> str:
    """'labelled / uncertain' of a realvideo row's events where the viewer sees no emotion."""
    v = row.get("viewer")
    return f"{v['labelled_elsewhere']} / {v['uncertain_elsewhere']}" if v else DASH


@table("glance_realvideo")
def glance_realvideo() -> str:
    """README: the default model's labels on each real clip, before and after issue 8."""
    results = load("realvideo")
    before = {r["clip"]: r for r in results["rows"] if r["config"].startswith("before")}
    rows = []
    for r in results["rows"]:
        if r["config"] != "shipped" or r["model"] != "casme2":
            continue
        old = before.get(r["clip"], {})
        spans = f"{_in_spans(old)} → {_in_spans(r)}" if r.get("viewer") else DASH
        rows.append([f"`{r['clip']}`", ", ".join(r["viewer_sees"]) or "no face",
                     _label_counts(old.get("labels")), _label_counts(r.get("labels")), spans,
                     _elsewhere(r), r["verdict"]])
    return md_table(["real clip", "a viewer sees", "labels before", "labels now",
                     "in the viewer's emotion spans: agree / differ / uncertain, before → now",
                     "elsewhere now: labelled / uncertain", "check"], rows)


@table("realvideo_viewer")
def realvideo_viewer() -> str:
    """README and docs/science.md: events scored against the viewer's timed notes, summed over the
    annotated real clips (realvideo.json)."""
    results = load("realvideo")
    rows = []
    for key, t in results["viewer_totals"].items():
        rows.append([key, str(t["clips"]), str(t["agree"]), str(t["differ"]), str(t["uncertain"]),
                     str(t["labelled_elsewhere"]), str(t["uncertain_elsewhere"])])
    return md_table(["model, configuration", "annotated clips", "in an emotion span: agree", "differ",
                     "uncertain", "where a viewer sees none: labelled", "uncertain"], rows)


@table("realvideo_reasons")
def realvideo_reasons() -> str:
    """docs/science.md: why events on the real clips were uncertain, per model and configuration
    (realvideo.json, all clips)."""
    results = load("realvideo")
    rows = []
    for key, why in results.get("uncertain_reasons", {}).items():
        if sum(why.values()):
            rows.append([key, str(sum(why.values()))]
                        + [str(why.get(k, 0)) for k in ("low_confidence", "neutral_face", "talking")])
    return md_table(["model, configuration", "uncertain events", "low confidence", "neutral face",
                     "talking"], rows)


@table("realvideo_talking")
def realvideo_talking() -> str:
    """docs/science.md: the spotter's talking spans against when a viewer sees the person talk
    (realvideo.json, default model as shipped)."""
    def part(marked: float, of: float) -> str:
        return f"{marked:.1f} of {of:.1f} s ({marked / of:.0%})" if of >= 0.1 else DASH

    results = load("realvideo")
    rows = []
    for r in results["rows"]:
        sp = r.get("speech")
        if r["config"] != "shipped" or r["model"] != "casme2" or sp is None:
            continue
        rows.append([f"`{r['clip']}`", part(sp["marked_in_speech_s"], sp["speech_s"]),
                     part(sp["marked_in_silence_s"], sp["silent_s"]), str(r["events"]),
                     str(sum(1 for e in r["event_list"] if e["talking"]))])
    return md_table(["clip", "viewer sees talking: marked as talking", "viewer sees no talking: marked",
                     "events", "events marked talking"], rows)


@table("realvideo_before")
def realvideo_before() -> str:
    """docs/science.md: the default model on the same clips as it labelled before issue 8."""
    results = load("realvideo")
    rows = []
    for r in results["rows"]:
        if not r["config"].startswith("before") or "labels" not in r:
            continue
        top = f"{r['top_share']:.0%} {r['top_label']}" if r.get("top_share") is not None else DASH
        rows.append([f"`{r['clip']}`", f"`{r['model']}`", str(r["events"]), _label_counts(r["labels"]), top])
    return md_table(["clip", "model", "events", "labels (micro model on every event, no abstention)",
                     "most frequent"], rows)


@table("calibration")
def calibration() -> str:
    """docs/science.md: temperature scaling and abstention under LOSO (loso.json, each fold fitted on
    its training subjects)."""
    results = load("loso")
    rows = []
    for model in _models(results):
        a = results["models"][model].get("abstention")
        if not a:
            continue
        s = a["selective"]
        e = results["models"][model]["loso"]["ensemble"]["all"]
        rows.append([f"`{model}`", f"{a['temperature_mean']:.2f}", f"{a['threshold_mean']:.2f}",
                     f"{f3(a['nll']['raw'])} → {f3(a['nll']['calibrated'])}",
                     f"{f3(a['ece']['raw'])} → {f3(a['ece']['calibrated'])}", f"{s['coverage']:.0%}",
                     f"{f3(e['accuracy'])} → {f3(s['accuracy'])}", f"{f3(e['uf1'])} → {f3(s['uf1'])}"])
    return md_table(["model", "temperature (mean)", "threshold (mean)", "NLL raw → calibrated",
                     "ECE raw → calibrated", "answered", "accuracy all → answered", "UF1 all → answered"],
                    rows)


@table("crossdataset")
def crossdataset() -> str:
    """README and docs/science.md: train on one dataset, test on the other (crossdataset.json)."""
    results = load("crossdataset")
    n = len(results["seeds"])
    rows = []
    boot = results.get("margin_bootstrap", {})
    for test, row in results["summary"].items():
        def cell(stream: str, key: str = "uf1", row: dict = row) -> str:
            v = row[f"{stream}_{key}"]
            return f"{f3(v['mean'])} ± {f3(v['sd'])}"

        b = boot.get(test)
        rows.append([row["direction"], cell("ensemble"), cell("flow"), cell("ststnet"),
                     f"{row['margin_uf1']:+.3f} ({'met' if row['target_met'] else 'not met'})",
                     f"{b['low']:+.3f} to {b['high']:+.3f}" if b else "–",
                     cell("ensemble", "uar"), cell("ststnet", "uar"),
                     f"{row['abstention']['coverage']:.0%} / {f3(row['abstention']['uf1_answered'])}"])
    return md_table([f"UF1, mean ± sd over {n} seeds", "ours (as shipped)", "flow stream",
                     "STSTNet, same folds",
                     f"margin (target +{results['target_margin_uf1']:.2f})",
                     "margin, 95 % interval (subjects resampled)", "ours UAR", "STSTNet UAR",
                     "answered / UF1 answered"], rows)


@table("recipe")
def recipe() -> str:
    """docs/science.md: flow-stream recipe candidates, chosen by LOSO within each source dataset."""
    results = load("recipe")
    rows = []
    for name, row in results["candidates"].items():
        def cell(v: dict) -> str:
            return f"{f3(v['mean'])} ± {f3(v['sd'])}"

        base = row.get("baseline")
        verdict = "– (the reference)" if base is None else \
            f"{'yes' if row['adopt_by_selection_rule'] else 'no'} (vs {base.split(' (')[0]})"
        rows.append([name, cell(row["loso_within"]["casme2"]), cell(row["loso_within"]["smic"]), verdict,
                     cell(row["cross_dataset"]["smic"]), cell(row["cross_dataset"]["casme2"])])
    return md_table([f"flow stream recipe (LOSO: {len(results['loso_seeds'])} seeds; cross: "
                     f"{len(results['cross_seeds'])} seeds)", "LOSO within CASME II", "LOSO within SMIC",
                     "passes the selection rule", "CASME II → SMIC (reported only)",
                     "SMIC → CASME II (reported only)"], rows)


@table("parity")
def parity() -> str:
    """docs/science.md: the same frames through the training and the inference path (parity.json)."""
    results = load("parity")
    rows = []
    for emo, modes in results["same_frames_two_paths"].items():
        for mode, v in modes.items():
            ch = " / ".join(f"{c:.2f}" for c in v["image_channel_correlation"])
            rows.append([emo, mode, f2(v["field_correlation"]), f2(v["relative_epe"]), ch])
    return md_table(["expression", "inference path", "field correlation", "relative EPE",
                     "image correlation u / v / strain"], rows)


@table("parity_distribution")
def parity_distribution() -> str:
    """docs/science.md: recipe statistics of training flows and of our flows on real clips."""
    results = load("parity")
    rows = [[name, str(v["n"]), f"{v['u_median']:.0f} / {v['v_median']:.0f}",
             f"{v['u_smoothness']:.3f} / {v['v_smoothness']:.3f}", f"{v['strain_median']:.0f}"]
            for name, v in results["distribution"].items()]
    return md_table(["flow images", "n", "median u / v (zero motion)", "lag-1 smoothness u / v",
                     "median strain"], rows)


# ---- action units per event (aus.json, issue 23) -----------------------------------------------

def _f1_ci(v: float, ci: list[float]) -> str:
    """'0.884 (0.73–0.96)': an F1 and its 95 % interval."""
    return f"{v:.3f} ({ci[0]:.2f}–{ci[1]:.2f})"


@table("aus")
def aus() -> str:
    """docs/science.md: LOSO F1 per action unit of the shipped AU detector on CASME II, with the
    baselines and the inner-CV threshold variant (aus.json)."""
    runs = load("aus")["runs"]
    m = runs["shipped"]["metrics"]
    inner = runs.get("inner_thresholds", {}).get("metrics")
    rows = []
    for i, au in enumerate(m["aus"]):
        a = m["per_au"][au]
        rows.append([au, a["name"], f"{a['positives']} ({a['subjects_with']})",
                     f"{a['true_positive']} / {a['predicted_positive']}",
                     f"**{_f1_ci(m['detector']['f1'][i], m['detector']['interval'][i])}**",
                     _f1_ci(m["prior_rate"]["f1"][i], m["prior_rate"]["interval"][i]),
                     f3(m["always_positive"]["f1"][i]),
                     _f1_ci(inner["detector"]["f1"][i], inner["detector"]["interval"][i]) if inner else DASH])
    rows.append([f"mean of {len(m['aus'])}", "", f"{m['n']} samples ({m['subjects']} subjects)", "",
                 f"**{_f1_ci(m['detector']['mean'], m['detector']['mean_interval'])}**",
                 _f1_ci(m["prior_rate"]["mean"], m["prior_rate"]["mean_interval"]),
                 f3(m["always_positive"]["mean"]),
                 _f1_ci(inner["detector"]["mean"], inner["detector"]["mean_interval"]) if inner else DASH])
    rows = [[c or DASH for c in r] for r in rows]
    return md_table(["AU", "name", "positives (subjects)", "detected right / predicted", "F1, shipped "
                     "(threshold 0.5)", "prior-rate F1", "always-positive F1", "F1, inner-CV thresholds"],
                    rows)


@table("aus_runs")
def aus_runs() -> str:
    """docs/science.md: mean AU F1 of each LOSO run (shipped recipe, inner-CV thresholds, other
    seeds), the margin over the prior-rate baseline, time, and the published figure (aus.json)."""
    results = load("aus")
    names = {"shipped": "shipped recipe (threshold 0.5, seed 0)",
             "inner_thresholds": "per-AU thresholds by inner CV on training subjects",
             "seed1": "shipped recipe, seed 1", "seed2": "shipped recipe, seed 2"}
    rows = []
    for name, run in results["runs"].items():
        m = run["metrics"]
        g = m["margin_vs_prior_rate"]
        rows.append([names.get(name, name), _f1_ci(m["detector"]["mean"], m["detector"]["mean_interval"]),
                     _f1_ci(g["margin"], g["interval"]), f"{m['seconds']:.0f} s"])
    for name, v in results["runs"]["shipped"]["metrics"]["published"].items():
        rows.append([name + " (quoted, not recomputed)", f"{v:.2f}", DASH, DASH])
    return md_table(["run", "mean F1 over the AUs (95 %)", "margin over prior-rate (95 %)", "LOSO time"],
                    rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list blocks that differ; exit 1 if any")
    args = parser.parse_args(argv)
    files = doc_files()
    if args.check:
        bad = stale(files)
        for where in bad:
            print(f"stale: {where}", file=sys.stderr)
        if not bad:
            print(f"all {sum(1 for f in files for _ in blocks(f))} generated tables are up to date")
        return 1 if bad else 0
    try:
        for path in files:
            for name in rewrite(path):
                print(f"rewrote {path.relative_to(REPO)}: table:{name}")
    except (KeyError, OSError, ValueError) as e:
        print(f"tables: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
