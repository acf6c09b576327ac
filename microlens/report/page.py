"""The HTML report page: one self-contained file (inline CSS, SVG timeline and base64 JPEG images; no
scripts, no external assets), rendered from a :class:`~microlens.report.types.Report`."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from microlens.labels import UNCERTAIN, emoji, reason_words
from microlens.recognize.aus import aus_text
from microlens.report.review import counts, verdict_words
from microlens.report.types import SCHEMA_VERSION, Report
from microlens.report.views import NEUTRAL, NO_FACE

PALETTE: dict[str, str] = {
    "happiness": "#f2b701", "positive": "#f2b701", "surprise": "#3fa7d6", "disgust": "#59a14f",
    "repression": "#9c755f", "sadness": "#4e79a7", "negative": "#e15759", "fear": "#b07aa1",
    "anger": "#e15759", "contempt": "#ff9da7", "others": "#bab0ac", NEUTRAL: "#e6e6e6",
    UNCERTAIN: "#c9c9c9",
    NO_FACE: "#ffffff",
}
_EXTRA = ("#76b7b2", "#edc948", "#af7aa1", "#ff9da7", "#9d7660", "#d37295")


def colour(label: str) -> str:
    """The colour a label gets in plots (stable for unknown labels too)."""
    if label in PALETTE:
        return PALETTE[label]
    return _EXTRA[sum(map(ord, label)) % len(_EXTRA)]


def _jpeg_b64(image: np.ndarray, quality: int = 88) -> str:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - cv2 encodes any uint8 RGB image
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _img(image: np.ndarray | None, alt: str, cls: str = "") -> str:
    if image is None or image.size == 0:
        return f'<div class="noimg">{html.escape(alt)}</div>'
    return (f'<img class="{cls}" alt="{html.escape(alt, quote=True)}" src="{_jpeg_b64(image)}" '
            f'width="{image.shape[1]}" height="{image.shape[0]}">')


def _tick_step(duration: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600):
        if duration / step <= 12:
            return float(step)
    return 7200.0


def timeline_svg(report: Report, width: int = 960) -> str:
    """The timeline plot as inline SVG: the per-second state strip, then the micro and macro events
    as bars coloured by label (hover shows label, kind, confidence and times), then when the person
    talks."""
    dur = max(report.duration_s, max((e.end_s for e in report.events), default=0.0), 1e-3)
    left, right, top = 70, 10, 10
    plot_w = width - left - right
    lanes = [("state / s", 18), ("micro", 22), ("macro", 22), ("talking", 8)]
    height = top + sum(h + 8 for _, h in lanes) + 26

    def x(t: float) -> float:
        return left + plot_w * max(0.0, min(t, dur)) / dur

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="timeline of spotted expressions" '
             f'font-family="sans-serif" font-size="11">']
    y = top
    ys = {}
    for name, h in lanes:
        ys[name] = (y, h)
        parts.append(f'<text x="{left - 6}" y="{y + h / 2 + 4:.1f}" text-anchor="end">{name}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{plot_w}" height="{h}" fill="#fafafa" '
                     f'stroke="#ccc"/>')
        y += h + 8
    y0, h = ys["state / s"]
    for row in report.timeline():
        a, b = row["second"], min(row["second"] + 1, dur)
        st = row["state"]
        read = row.get("source") == "appearance"  # read on the face between events: drawn lighter
        title = html.escape(f"{a}-{a + 1} s: {st}" + (" (read on the face, no event)" if read else "")
                            + (f", {row['micro_count']} micro" if row["micro_count"] else ""))
        fill = colour(st)
        extra = ' stroke="#bbb" stroke-dasharray="2,2"' if st == NO_FACE else (
            ' fill-opacity="0.45"' if read else "")
        parts.append(f'<rect x="{x(a):.2f}" y="{y0}" width="{max(x(b) - x(a), 0.5):.2f}" height="{h}" '
                     f'fill="{fill}"{extra}><title>{title}</title></rect>')
    ty, th = ys["talking"]
    for a, b in report.talking:  # when the person talks (the spotter's jaw swings)
        parts.append(f'<rect x="{x(a):.2f}" y="{ty + 1}" width="{max(x(b) - x(a), 0.5):.2f}" '
                     f'height="{th - 2}" fill="#94a3b8"><title>talking {a:.2f}-{b:.2f} s</title></rect>')
    for i, e in enumerate(report.events):
        ly, lh = ys["micro" if e.kind == "micro" else "macro"]
        w = max(x(e.end_s) - x(e.start_s), 2.0)
        title = html.escape(f"#{i} {e.label} ({e.kind}) {e.confidence * 100:.0f}% "
                            f"{e.start_s:.2f}-{e.end_s:.2f} s, apex {e.apex_s:.2f} s")
        parts.append(f'<rect x="{x(e.start_s):.2f}" y="{ly + 2}" width="{w:.2f}" height="{lh - 4}" '
                     f'fill="{colour(e.label)}" stroke="#333" stroke-width="0.5"><title>{title}</title>'
                     f'</rect>')
        parts.append(f'<line x1="{x(e.apex_s):.2f}" x2="{x(e.apex_s):.2f}" y1="{ly}" y2="{ly + lh}" '
                     f'stroke="#000" stroke-width="1"/>')
    step = _tick_step(dur)
    t = 0.0
    while t <= dur + 1e-9:
        parts.append(f'<line x1="{x(t):.2f}" x2="{x(t):.2f}" y1="{top}" y2="{y - 4}" stroke="#999" '
                     f'stroke-width="0.4"/>')
        label = f"{int(t // 60)}:{int(t % 60):02d}" if dur >= 120 else f"{t:g} s"
        parts.append(f'<text x="{x(t):.2f}" y="{y + 10}" text-anchor="middle">{label}</text>')
        t += step
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:1em;color:#222}
h1{font-size:1.4em;word-break:break-all}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.92em}
td,th{border:1px solid #ddd;padding:.25em .55em;text-align:left}
th{background:#f4f4f4}.num{text-align:right}
.warn{background:#fff4ce;border:1px solid #e6c200;padding:.5em 1em}
.note{color:#555;font-size:.88em}.top{display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start}
.swatch{display:inline-block;width:.9em;height:.9em;border:1px solid #888;vertical-align:middle}
.strip{display:flex;gap:.4em;margin:.3em 0 1em}.strip figure{margin:0;text-align:center;font-size:.85em}
.noimg{color:#888;font-style:italic}img{max-width:100%;height:auto}
"""


def _fmt_t(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:06.3f}"


def render(report: Report) -> str:
    """A self-contained HTML page (inline CSS, SVG and base64 JPEG images; no scripts, no external
    assets): timeline plot, representative face, statistics, emotion-change log, events and a
    filmstrip (onset, apex, offset) per micro-expression. All text is escaped."""
    d = report.to_dict()
    out = _head_html(report)
    out += _overview_html(report, d["stats"])
    out.append("<h2>Timeline</h2>" + timeline_svg(report))
    out.append(_legend_html(report, d))
    out += _log_html(d["log"])
    out += _events_html(report)
    out += review_html(report)
    out += _filmstrips_html(report)
    out += provenance_html(report)
    out.append(f'<p class="note">microlens report, schema version {SCHEMA_VERSION}.</p></body></html>')
    return "\n".join(out) + "\n"


def _head_html(report: Report) -> list[str]:
    """The document head, the title, the source line, the notice on what inference can tell and
    the report's warnings."""
    e_ = html.escape
    name = Path(report.source).name or report.source
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width,initial-scale=1">',
           f"<title>microlens report: {e_(name)}</title><style>{_CSS}</style></head><body>",
           f"<h1>microlens report: {e_(name)}</h1>",
           f'<p class="note">Source: {e_(report.source)} · {report.duration_s:.2f} s · '
           f"{report.fps:.2f} fps · {report.frames} frames · {report.width}×{report.height} · "
           f"model {e_(report.model.name)} ({e_(', '.join(report.model.labels))})</p>",
           '<p class="note">Emotion inference is uncertain: a prediction is not proof of what a person '
           "feels. Intended for research and consented clinical or psychological study; never use it "
           "as a lie detector.</p>"]
    if report.warnings:
        out.append('<div class="warn"><strong>Warnings</strong><ul>')
        out += [f"<li>{e_(w)}</li>" for w in report.warnings]
        out.append("</ul></div>")
    return out


def _overview_html(report: Report, st: dict[str, Any]) -> list[str]:
    """The 'Overview' section: the representative face beside the statistics and the per-label
    table (``st``: the report's ``stats``)."""
    e_ = html.escape
    img = report.images
    rep_caption = (f"{img.representative_kind} at {img.representative_s:.2f} s"
                   if img.representative is not None else "no face frame")
    out = ['<h2>Overview</h2><div class="top"><figure style="margin:0">',
           _img(img.representative, "representative face frame", "rep"),
           f'<figcaption class="note">{e_(rep_caption)}</figcaption></figure>',
           "<div><table><tbody>"]
    rows = [("Emotion changes", st["emotion_changes"]), ("Micro-expressions", st["micro_count"]),
            ("Macro-expressions", st["macro_count"]),
            ("Micro ratio (micro / labelled expressions)", f"{st['micro_ratio_percent']:.1f} %"),
            ("Uncertain events", st["uncertain_count"]), ("Events while talking", st["talking_count"]),
            ("Face coverage", f"{report.face.coverage * 100:.1f} % ({report.face.frames_with_face} frames)"),
            ("Face analysed", report.face.chosen or "-")]
    out += [f"<tr><th>{e_(k)}</th><td>{e_(str(v))}</td></tr>" for k, v in rows]
    out.append("</tbody></table><br><table><thead><tr><th>label</th><th>micro</th><th>macro</th>"
               "<th>seconds</th></tr></thead><tbody>")
    for lab, p in st["per_label"].items():
        out.append(f'<tr><td><span class="swatch" style="background:{colour(lab)}"></span> '
                   f"{e_(emoji(lab))} {e_(lab)}</td><td class=num>{p['micro']}</td>"
                   f"<td class=num>{p['macro']}</td><td class=num>{p['duration_s']:.2f}</td></tr>")
    out.append("</tbody></table></div></div>")
    return out


def _legend_html(report: Report, d: dict[str, Any]) -> str:
    """The timeline's legend: a swatch per state the page shows (``d``: the report's ``to_dict()``)."""
    e_ = html.escape
    states = [*(r["state"] for r in d["timeline"]), *(r["label"] for r in d["log"])]
    legend = list(dict.fromkeys([NEUTRAL, NO_FACE, *report.model.labels, *states]))
    return ('<p class="note">' + " ".join(
        f'<span class="swatch" style="background:{colour(lab)}"></span> {e_(lab)}' for lab in legend)
        + " · black tick: apex" + (f" · pale: no event, what the {e_(report.model.appearance)} prior reads "
                                   "on the face" if report.model.appearance else "") + "</p>")


def _log_html(log: list[dict[str, Any]]) -> list[str]:
    """The 'Emotion-change log' section, one row per state change (``log``: the report's ``log``)."""
    e_ = html.escape
    out = ["<h2>Emotion-change log</h2><table><thead><tr><th>from</th><th>to</th><th>duration</th>"
           "<th>state</th><th>kind</th></tr></thead><tbody>"]
    for r in log:
        out.append(f"<tr><td>{_fmt_t(r['start_s'])}</td><td>{_fmt_t(r['end_s'])}</td>"
                   f"<td class=num>{r['duration_s']:.3f} s</td><td>{e_(r['emoji'])} {e_(r['label'])}</td>"
                   f"<td>{e_(r['kind'] or ('read on the face' if r['source'] == 'appearance' else ''))}</td>"
                   "</tr>")
    out.append("</tbody></table>")
    return out


def _events_html(report: Report) -> list[str]:
    """The 'Events' section: one table row per spotted event (with the reviewer's verdict when
    there is a review), or a line saying none was spotted."""
    e_ = html.escape
    out = ["<h2>Events</h2>"]
    if not report.events:
        out.append("<p>No expression was spotted.</p>")
        return out
    out.append("<table><thead><tr><th>#</th><th>kind</th><th>label</th><th>confidence</th>"
               "<th>onset</th><th>apex</th><th>offset</th><th>duration</th><th>recogniser</th>"
               "<th>action units</th>" + ("<th>reviewer</th>" if report.review else "")
               + "</tr></thead><tbody>")
    for i, ev in enumerate(report.events):
        why = f" ({e_(reason_words(ev.reason))})" if ev.reason else ""
        out.append(f"<tr><td>{i}</td><td>{e_(ev.kind)}</td><td>{e_(emoji(ev.label))} {e_(ev.label)}{why}"
                   f"</td><td class=num>{ev.confidence * 100:.0f} %</td><td>{_fmt_t(ev.start_s)}</td>"
                   f"<td>{_fmt_t(ev.apex_s)}</td><td>{_fmt_t(ev.end_s)}</td>"
                   f"<td class=num>{ev.duration_s:.3f} s</td><td>{e_(ev.recognizer)}"
                   f"{' (talking)' if ev.talking else ''}</td><td>{e_(aus_text(ev.aus))}</td>"
                   + (f"<td>{e_(verdict_words(report, i) or '-')}</td>" if report.review else "")
                   + "</tr>")
    out.append("</tbody></table>")
    out.append('<p class="note">Action units: those the AU detector reads on the onset-to-apex flow '
               "(FACS codes, probability at or above the detector's threshold; where none is, the "
               "most likely in brackets). See the detector's card for its measured F1 per AU.</p>")
    return out


def _filmstrips_html(report: Report) -> list[str]:
    """The 'Micro-expression filmstrips' section: onset, apex and offset face crops per
    micro-expression."""
    e_ = html.escape
    img = report.images
    out = ["<h2>Micro-expression filmstrips</h2>"]
    if not img.filmstrips:
        out.append("<p>No micro-expression was spotted.</p>")
    for fs in img.filmstrips:
        ev = report.events[fs.event]
        out.append(f"<h3>#{fs.event} {e_(emoji(ev.label))} {e_(ev.label)} "
                   f"({ev.confidence * 100:.0f} %), {ev.start_s:.2f}-{ev.end_s:.2f} s</h3><div class=strip>")
        for what, im, t in (("onset", fs.onset, ev.start_s), ("apex", fs.apex, ev.apex_s),
                            ("offset", fs.offset, ev.end_s)):
            out.append(f"<figure>{_img(im, what)}<figcaption>{what} {t:.3f} s</figcaption></figure>")
        out.append("</div>")
    return out


def review_html(report: Report) -> list[str]:
    """The page's 'Review' section: the counts of the reviewer's verdicts and the events the
    reviewer added (nothing without a review)."""
    if report.review is None:
        return []
    e_ = html.escape
    c = counts(report)
    out = ["<h2>Review</h2>", f"<p>{c['accepted']} accepted, {c['relabelled']} relabelled, {c['rejected']} "
           f"rejected, {c['unreviewed']} not reviewed; {c['added']} added by the reviewer.</p>"]
    if report.review.added:
        out.append("<table><thead><tr><th>onset</th><th>offset</th><th>kind</th><th>label</th><th>note</th>"
                   "</tr></thead><tbody>")
        out += [f"<tr><td>{_fmt_t(a.start_s)}</td><td>{_fmt_t(a.end_s)}</td><td>{a.kind}</td>"
                f"<td>{e_(emoji(a.label))} {e_(a.label)}</td><td>{e_(a.note)}</td></tr>"
                for a in report.review.added]
        out.append("</tbody></table>")
    return out


def provenance_html(report: Report) -> list[str]:
    """The page's 'How this report was made' section: microlens version, analysis time (UTC), the
    model's identity and every option as resolved, one table row each."""
    e_ = html.escape
    m = report.model
    made = [("microlens version", report.version or "unknown"),
            ("analysed (UTC)", report.created or "unknown"), ("model", m.name or "-"),
            ("checkpoint", m.checkpoint or "-"), ("checkpoint SHA-256", m.sha256 or "-"),
            ("backend", m.backend or "-")]
    out = ['<h2>How this report was made</h2><table id="settings"><tbody>']
    out += [f"<tr><th>{e_(k)}</th><td><code>{e_(str(v))}</code></td></tr>" for k, v in made]
    for group, values in report.settings.items():
        for k, v in values.items():
            out.append(f"<tr><th>{e_(group)}: {e_(k)}</th><td><code>{e_(str(v))}</code></td></tr>")
    out.append("</tbody></table>")
    return out
