"""An analysis' reports with the reviewer's verdicts beside the machine's.

The job writes every report format once (results.py). While nobody has reviewed the analysis,
those files are served as they are. Once there are verdicts or added events, each download is
rendered from the stored JSON report (:func:`microlens.report.load.report_from_dict`) with the review
(:func:`microlens.web.verdicts.load_review`), so every format carries it; the HTML page gets its
pictures back from the stored JPEGs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from microlens.report.review import Review
from microlens.report.types import Filmstrip, Images, Report
from microlens.web.verdicts import load_review


def stored_json(store: Any, analysis_id: str) -> dict[str, Any]:
    """The JSON report the job wrote."""
    return json.loads((store.result_dir(analysis_id) / "report.json").read_text(encoding="utf-8"))


def reviewed(store: Any, analysis_id: str, review: Review | None = None) -> Report:
    """The stored report with its review (the current one unless ``review`` is given)."""
    from microlens.report.load import report_from_dict

    report = report_from_dict(stored_json(store, analysis_id))
    if review is None:
        review = load_review(store, analysis_id)
    return dataclasses.replace(report, review=review)


def result_json(store: Any, analysis_id: str) -> dict[str, Any]:
    """The JSON report as the job wrote it, with the review merged in (each event's ``review`` and
    the top-level ``review``) when there is one."""
    d = stored_json(store, analysis_id)
    review = load_review(store, analysis_id)
    if review.empty:
        return d
    full = reviewed(store, analysis_id, review).to_dict()
    for mine, theirs in zip(d.get("events") or [], full["events"], strict=False):
        mine["review"] = theirs["review"]
    d["review"] = full["review"]
    return d


def _read_rgb(path: Path) -> np.ndarray | None:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def stored_images(folder: Path, report: Report) -> Images:
    """The pictures of the HTML page from face.jpg and the micro-<n>.jpg filmstrips (three tiles
    side by side: onset, apex, offset)."""
    strips = []
    micros = [i for i, e in enumerate(report.events) if e.kind == "micro"]
    for n, i in enumerate(micros):
        trio = _read_rgb(folder / f"micro-{n}.jpg")
        if trio is not None:
            w = trio.shape[1] // 3
            strips.append(Filmstrip(i, trio[:, :w], trio[:, w:2 * w], trio[:, 2 * w:3 * w]))
    img = report.images
    return dataclasses.replace(img, representative=_read_rgb(folder / "face.jpg"), filmstrips=tuple(strips))


def render(store: Any, analysis_id: str, fmt: str) -> str | None:
    """The report in ``fmt`` with the review, or None when there is no review (serve the stored
    file)."""
    from microlens.report.writers import WRITERS

    review = load_review(store, analysis_id)
    if review.empty:
        return None
    if fmt == "json":
        return json.dumps(result_json(store, analysis_id), indent=1, ensure_ascii=False) + "\n"
    report = reviewed(store, analysis_id, review)
    if fmt == "html":
        report = dataclasses.replace(report, images=stored_images(store.result_dir(analysis_id), report))
    return WRITERS[fmt](report)


__all__ = ["render", "result_json", "reviewed", "stored_images", "stored_json"]
