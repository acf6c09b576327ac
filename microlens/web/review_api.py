"""The review API: a person's verdict on each event of a finished analysis, and the events the
machine missed (stored by verdicts.py, rendered into every report by downloads.py).

* ``GET /api/analyses/<id>/review``: the verdicts, the added events, the label set, the counts and
  the statistics of the machine's and of the reviewed events;
* ``PUT /api/analyses/<id>/review/events/<n>`` ``{"verdict": "accept"|"reject"|"relabel",
  "label": ..., "note": ...}`` and ``DELETE`` to take a verdict back;
* ``POST /api/analyses/<id>/review/added`` ``{"start_s", "end_s", "label", "note"}`` and
  ``DELETE /api/analyses/<id>/review/added/<k>``.

Bad input is a 400 (not a JSON object, a field of the wrong type), 404 (no such analysis, event or
added event), 409 (the analysis is not done) or 422 (an unknown verdict or label, times outside
the video), never a 500.
"""

from __future__ import annotations

import math
import re
from typing import Any

from flask import Blueprint, current_app, jsonify, request, url_for

from microlens.report.review import LABEL_MAX, NOTE_MAX, VERDICTS, Verdict, added_dict, review_labels
from microlens.web import verdicts
from microlens.web.errors import ApiError
from microlens.web.storage import Analysis, valid_id

bp = Blueprint("review", __name__, url_prefix="/api")
_INDEX = re.compile(r"^\d{1,9}$")


def _store() -> Any:
    from microlens.web.context import runtime

    return runtime(current_app).store


def _done(analysis_id: str) -> Analysis:
    a = _store().get(analysis_id) if valid_id(analysis_id) else None
    if a is None:
        raise ApiError(404, f"no analysis {analysis_id[:40]!r}")
    if a.status != "done":
        raise ApiError(409, f"the analysis is {a.status}; events can be reviewed once it is done")
    return a


def _report(a: Analysis) -> Any:
    """The analysis' stored report with its review; 409 when its report is missing or unreadable."""
    from microlens.web.downloads import reviewed

    try:
        return reviewed(_store(), a.id)
    except (OSError, ValueError, KeyError, TypeError):
        raise ApiError(409, "this analysis has no readable report to review") from None


def _index(text: str, what: str) -> int:
    if not _INDEX.match(text):
        raise ApiError(404, f"no {what} {text[:20]!r}")
    return int(text)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "send a JSON object (Content-Type: application/json)")
    return data


def _text(data: dict[str, Any], key: str, limit: int, required: bool = False) -> str:
    if key not in data:
        if required:
            raise ApiError(400, f"the field {key!r} is missing")
        return ""
    value = data[key]
    if not isinstance(value, str):
        raise ApiError(400, f"the field {key!r} must be a string")
    if len(value) > limit:
        raise ApiError(422, f"the field {key!r} is longer than {limit} characters")
    return value.strip()


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if key not in data:
        raise ApiError(400, f"the field {key!r} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"the field {key!r} must be a number of seconds")
    return float(value)


def _label(report: Any, label: str) -> str:
    allowed = review_labels(report)
    if label not in allowed:
        raise ApiError(422, f"unknown label {label[:40]!r}; use one of {', '.join(allowed)}")
    return label


def review_json(a: Analysis) -> dict[str, Any]:
    """The review of analysis ``a`` for the API and the results page."""
    from microlens.report.review import counts, event_review, reviewed_report

    report = _report(a)
    events = [{"event": i, **(event_review(report, i) or {"verdict": None})}
              for i in range(len(report.events))]
    return {"id": a.id, "labels": list(review_labels(report)), "events": events,
            "added": [added_dict(report, x) for x in report.review.added] if report.review else [],
            "counts": counts(report),
            "stats": {"machine": report.stats(), "reviewed": reviewed_report(report).stats()}}


@bp.get("/analyses/<analysis_id>/review")
def get_review(analysis_id: str) -> Any:
    """The verdicts, the added events and the statistics of machine and reviewed events."""
    return jsonify(review_json(_done(analysis_id)))


@bp.put("/analyses/<analysis_id>/review/events/<event>")
def put_verdict(analysis_id: str, event: str) -> Any:
    """Accept, reject or relabel one machine event (replaces an earlier verdict)."""
    a = _done(analysis_id)
    report = _report(a)
    i = _index(event, "event")
    if i >= len(report.events):
        raise ApiError(404, f"no event {i}: the analysis has {len(report.events)} events")
    data = _body()
    verdict = _text(data, "verdict", 20, required=True)
    if verdict not in VERDICTS:
        raise ApiError(422, f"unknown verdict {verdict!r}; use one of {', '.join(VERDICTS)}")
    label = _text(data, "label", LABEL_MAX)
    if verdict == "relabel":
        if not label:
            raise ApiError(422, "a relabel verdict needs a label")
        _label(report, label)
    elif label and label != report.events[i].label:
        raise ApiError(422, f"only a relabel verdict takes a label ({verdict} keeps the machine's)")
    v = verdicts.set_verdict(_store(), a.id, Verdict(i, verdict, label if verdict == "relabel" else "",
                                                     _text(data, "note", NOTE_MAX)))
    after = None if v.verdict == "reject" else (v.label or report.events[i].label)
    return jsonify(event=i, verdict=v.verdict, label=after, note=v.note, updated_utc=v.updated)


@bp.delete("/analyses/<analysis_id>/review/events/<event>")
def delete_verdict(analysis_id: str, event: str) -> Any:
    """Take back the verdict on one event (it is then not reviewed)."""
    a = _done(analysis_id)
    i = _index(event, "event")
    if not verdicts.clear_verdict(_store(), a.id, i):
        raise ApiError(404, f"event {i} has no verdict")
    return jsonify(event=i, verdict=None)


@bp.post("/analyses/<analysis_id>/review/added")
def post_added(analysis_id: str) -> Any:
    """Add an event the machine missed: onset and offset in seconds, a label and a note."""
    a = _done(analysis_id)
    report = _report(a)
    data = _body()
    start, end = _number(data, "start_s"), _number(data, "end_s")
    label = _label(report, _text(data, "label", LABEL_MAX, required=True))
    note = _text(data, "note", NOTE_MAX)
    if not 0 <= start < end:
        raise ApiError(422, f"the onset must be at least 0 s and before the offset, got {start:g}-{end:g} s")
    if end > report.duration_s + 1e-3:
        raise ApiError(422, f"the offset {end:g} s is after the end of the video ({report.duration_s:g} s)")
    added = verdicts.add_event(_store(), a.id, start, end, label, note)
    resp = jsonify(added_dict(report, added))
    resp.status_code = 201
    resp.headers["Location"] = url_for("review.get_review", analysis_id=a.id)
    return resp


@bp.delete("/analyses/<analysis_id>/review/added/<added_id>")
def delete_added(analysis_id: str, added_id: str) -> Any:
    """Delete an event the reviewer added."""
    a = _done(analysis_id)
    k = _index(added_id, "added event")
    if not verdicts.delete_added(_store(), a.id, k):
        raise ApiError(404, f"no added event {k}")
    return jsonify(deleted=k)
