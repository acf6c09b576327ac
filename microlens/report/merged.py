"""The merged events table of a batch: one row per event of every video (``events.csv``).

``microlens analyze FOLDER -o OUT`` writes, besides one report per video and ``summary.csv``,
``OUT/events.csv``: the events CSV of every video (the columns of :func:`microlens.report.writers.to_csv`,
frame numbers included) stacked, each row led by the video it comes from. With ``--sidecar FILE``,
a CSV with a ``video`` column and any others (typically ``participant`` and ``condition``), each
video's row of the sidecar is copied onto its events, so the table goes straight into R, pandas or
SPSS. A sidecar row matches a video by its path as given, its file name, or its file name without
the extension.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from microlens.errors import UsageError

KEY = "video"  # the sidecar column naming the video
NAME = "events.csv"  # the merged table in the batch's output folder


class Sidecar:
    """A sidecar CSV: per-video values of extra columns (participant, condition, ...)."""

    def __init__(self, columns: list[str], rows: dict[str, dict[str, str]]) -> None:
        self.columns = columns  # the sidecar's columns other than "video", in its order
        self.rows = rows  # video as written in the sidecar -> its row

    def values(self, video: str) -> dict[str, str] | None:
        """The sidecar row of ``video`` (a path as given to the batch), or None."""
        p = Path(video)
        for key in (video, p.name, p.stem):
            if key in self.rows:
                return self.rows[key]
        return None


def read_sidecar(path: str) -> Sidecar:
    """Read a sidecar CSV; UsageError (exit 2) when it cannot be read, has no ``video`` column,
    no rows, or names a video twice."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        why = getattr(e, "strerror", None) or e
        raise UsageError(f"--sidecar {path}: cannot read the file ({why})") from None
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in reader.fieldnames or []]
        rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    except csv.Error as e:
        raise UsageError(f"--sidecar {path}: not a readable CSV ({e})") from None
    if KEY not in header:
        found = ", ".join(header) or "none"
        raise UsageError(f"--sidecar {path}: needs a column named {KEY!r} (found: {found})")
    table: dict[str, dict[str, str]] = {}
    for r in rows:
        name = r.get(KEY, "")
        if not name:
            continue
        if name in table:
            raise UsageError(f"--sidecar {path}: the video {name!r} is listed twice")
        table[name] = {k: v for k, v in r.items() if k != KEY}
    if not table:
        raise UsageError(f"--sidecar {path}: no rows with a video")
    return Sidecar([h for h in header if h and h != KEY], table)


def event_rows(csv_text: str) -> list[dict[str, str]]:
    """The rows of one video's events CSV."""
    return list(csv.DictReader(io.StringIO(csv_text)))


def merged_table(videos: list[str], events: list[list[dict[str, str]]], sidecar: Sidecar | None) -> str:
    """The merged CSV: ``video``, the sidecar's columns, then the events CSV's columns (their union,
    in order of first appearance: different models may output different labels); one row per event
    of ``events[i]`` of ``videos[i]``."""
    extra = sidecar.columns if sidecar else []
    cols: dict[str, None] = {}
    for rows in events:
        for r in rows:
            cols.update(dict.fromkeys(r))
    header = [KEY, *extra, *(c for c in cols if c != KEY and c not in extra)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", restval="")
    w.writeheader()
    for video, rows in zip(videos, events, strict=True):
        side = (sidecar.values(video) if sidecar else None) or {}
        for r in rows:
            w.writerow({**r, KEY: video, **{k: side.get(k, "") for k in extra}})
    return buf.getvalue()


def unmatched(videos: list[str], sidecar: Sidecar) -> list[str]:
    """The videos of the batch without a sidecar row."""
    return [v for v in videos if sidecar.values(v) is None]


def carried(row: dict[str, Any]) -> list[dict[str, str]]:
    """The event rows a batch worker put in its summary row (removed from it)."""
    return list(row.pop("_events", None) or [])


__all__ = ["KEY", "NAME", "Sidecar", "carried", "event_rows", "merged_table", "read_sidecar", "unmatched"]
