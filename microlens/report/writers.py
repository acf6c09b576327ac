"""One writer per output format: :data:`WRITERS` maps a format name to ``writer(report) -> str``;
:func:`save` writes one atomically (a temporary file in the target folder, then a rename), so a
failure never leaves a partial file behind."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from microlens.errors import OutputError
from microlens.labels import TALKING, emoji, reason_words
from microlens.report.review import added_event, event_review, reviewed_report, verdict_words
from microlens.report.types import Report
from microlens.report.views import output_labels, timeline


def to_json(report: Report) -> str:
    """The JSON report (UTF-8 text, emoji kept)."""
    return json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n"


CSV_COLUMNS = ("event", "kind", "label", "confidence", "start_s", "apex_s", "end_s", "duration_s",
               "onset_frame", "apex_frame", "offset_frame", "score", "recognizer", "talking",
               "uncertain_reason", "review", "review_label", "review_note", "aus")
# ... then p_<label> for every label of output_labels(). "aus": the action units read as present,
# "AU4 0.81; AU7 0.62" (empty when none is present)


def to_csv(report: Report) -> str:
    """One row per event: times, frame indices (0-based, in decode order), kind, label, confidence
    and one probability column per label the analysis can output, so that the columns are the same
    for every video analysed with the same model and macro recogniser (0 where the event's
    recogniser gives that label no probability). The review columns give the reviewer's verdict
    (accept, reject, relabel; "added" on the rows of events the reviewer added, after the machine's)
    with the label after review and the note; "aus" lists the action units read as present with their
    probabilities ("AU4 0.81; AU7 0.62")."""
    labels = output_labels(report)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*CSV_COLUMNS, *(f"p_{lab}" for lab in labels)])
    for i, e in enumerate(report.events):
        w.writerow([i, e.kind, e.label, f"{e.confidence:.4f}", f"{e.start_s:.3f}", f"{e.apex_s:.3f}",
                    f"{e.end_s:.3f}", f"{e.duration_s:.3f}", e.onset_frame, e.apex_frame, e.offset_frame,
                    f"{e.score:.2f}", e.recognizer, int(e.talking), e.reason, *_review_cells(report, i),
                    "; ".join(f"{a.au} {a.p:.2f}" for a in e.aus if a.present)]
                   + [f"{e.probs.get(lab, 0.0):.4f}" for lab in labels])
    for k, a in enumerate(report.review.added if report.review else ()):
        e = added_event(report, a)
        w.writerow([len(report.events) + k, e.kind, "", "", f"{e.start_s:.3f}", f"{e.apex_s:.3f}",
                    f"{e.end_s:.3f}", f"{e.duration_s:.3f}", e.onset_frame, e.apex_frame, e.offset_frame, "",
                    e.recognizer, "", "", "added", a.label, a.note, ""] + [""] * len(labels))
    return buf.getvalue()


def _review_cells(report: Report, i: int) -> list[str]:
    """The CSV's review, review_label, review_note of machine event ``i`` (empty when not reviewed)."""
    r = event_review(report, i)
    return ["", "", ""] if r is None else [r["verdict"], r["label"] or "", r["note"]]


def to_timeline_csv(report: Report) -> str:
    """One row per second (:func:`timeline`): second, state, source, appearance, its confidence,
    micro_count, face, talking, then reviewed_state (the state with the reviewed events, empty
    without a review); for lining the video up with other signals recorded at the same time."""
    cols = ["second", "state", "source", "appearance", "appearance_confidence", "micro_count", "face",
            "talking"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*cols, "reviewed_state"])
    reviewed = timeline(reviewed_report(report)) if report.review else None
    for k, row in enumerate(timeline(report)):
        w.writerow(["" if row[c] is None else row[c] for c in cols]
                   + [reviewed[k]["state"] if reviewed else ""])
    return buf.getvalue()


def _vtt_time(t: float) -> str:
    ms = int(round(max(t, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_vtt(report: Report) -> str:
    """WebVTT captions to lay over the video: one cue per event, at the event's own times, e.g.
    ``😊 happiness · micro · 72%`` (``· talking`` added when the person was talking; an uncertain
    event's other reason in brackets: ``uncertain (low confidence)``)."""
    out = ["WEBVTT", "", "NOTE microlens emotion captions; a prediction is not proof of what a person feels",
           ""]
    for i, e in enumerate(report.events):
        end = max(e.end_s, e.start_s + 0.001)
        why = f" ({reason_words(e.reason)})" if e.reason and e.reason != TALKING else ""
        text = f"{emoji(e.label)} {e.label}{why} · {e.kind} · {e.confidence * 100:.0f}%"
        text += " · talking" if e.talking else ""
        text += f" · reviewer: {verdict_words(report, i)}" if verdict_words(report, i) else ""
        out += [f"event-{i}", f"{_vtt_time(e.start_s)} --> {_vtt_time(end)}",
                text.replace("-->", "→"), ""]
    for a in report.review.added if report.review else ():
        text = f"{emoji(a.label)} {a.label} · {a.kind} · added by the reviewer"
        text += f" - {a.note}" if a.note else ""
        out += [f"added-{a.id}", f"{_vtt_time(a.start_s)} --> {_vtt_time(a.end_s)}",
                text.replace("-->", "→"), ""]
    return "\n".join(out)


def to_html(report: Report) -> str:
    """The self-contained HTML page (see :func:`microlens.report.page.render`)."""
    from microlens.report.page import render

    return render(report)


def to_eaf(report: Report) -> str:
    """An ELAN annotation file (see :func:`microlens.report.exports.to_eaf`)."""
    from microlens.report.exports import to_eaf as eaf

    return eaf(report)


def to_boris(report: Report) -> str:
    """A BORIS tabular-events table (see :func:`microlens.report.exports.to_boris`)."""
    from microlens.report.exports import to_boris as boris

    return boris(report)


Writer = Callable[[Report], str]
WRITERS: dict[str, Writer] = {"json": to_json, "csv": to_csv, "timeline": to_timeline_csv, "vtt": to_vtt,
                              "html": to_html, "eaf": to_eaf, "boris": to_boris}
EXTENSIONS: dict[str, str] = {"json": ".json", "csv": ".csv", "timeline": ".timeline.csv", "vtt": ".vtt",
                              "html": ".html", "eaf": ".eaf", "boris": ".boris.tsv"}


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (/proc on Linux:
    changing it, even briefly, would race with other threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file in the same folder, then a rename.
    The file gets the mode an ordinary new file gets (0666 less the umask), not mkstemp's 0600.
    Raises OutputError (exit 5) when it cannot be written (no such folder, no permission, disk full)."""
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent or ".")
    except OSError as e:
        raise OutputError(f"{p}: cannot write the file ({e.strerror or e})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OutputError(f"{p}: cannot write the file ({e.strerror or e})") from None
        raise


def save(report: Report, path: str | os.PathLike[str], fmt: str = "json") -> None:
    """Render ``report`` with ``WRITERS[fmt]`` and write it atomically to ``path``."""
    save_text(path, WRITERS[fmt](report))
