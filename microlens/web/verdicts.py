"""A reviewer's verdicts and added events, kept with the analysis in the analyses database.

Two tables of ``analyses.db`` (created by :class:`~microlens.web.storage.Store`): ``verdicts``, one
row per reviewed machine event (accept, reject or relabel with a label, and a note), and
``added_events``, the expressions the machine missed (onset, offset, label, note). Deleting an
analysis deletes both. They survive restarts like the analyses themselves; :func:`load_review`
reads them as a :class:`microlens.report.review.Review` that the report writers render.
"""

from __future__ import annotations

import datetime as dt
import time

from microlens.report.review import Added, Review, Verdict
from microlens.web.storage import Store


def _utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_review(store: Store, analysis_id: str) -> Review:
    """The verdicts (by event) and added events (by onset) of one analysis."""
    with store.connect() as db:
        vs = db.execute("SELECT event, verdict, label, note, updated FROM verdicts WHERE analysis_id = ? "
                        "ORDER BY event", (analysis_id,)).fetchall()
        adds = db.execute("SELECT id, start_s, end_s, label, note, updated FROM added_events "
                          "WHERE analysis_id = ? ORDER BY start_s, id", (analysis_id,)).fetchall()
    return Review(tuple(Verdict(int(r["event"]), r["verdict"], r["label"], r["note"], _utc(r["updated"]))
                        for r in vs),
                  tuple(Added(int(r["id"]), float(r["start_s"]), float(r["end_s"]), r["label"], r["note"],
                              _utc(r["updated"])) for r in adds))


def set_verdict(store: Store, analysis_id: str, v: Verdict) -> Verdict:
    """Store (or replace) the verdict on one event; returns it with its time."""
    now = time.time()
    with store.connect() as db:
        db.execute("INSERT INTO verdicts (analysis_id, event, verdict, label, note, updated) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (analysis_id, event) DO UPDATE SET "
                   "verdict = excluded.verdict, label = excluded.label, note = excluded.note, "
                   "updated = excluded.updated", (analysis_id, v.event, v.verdict, v.label, v.note, now))
    return Verdict(v.event, v.verdict, v.label, v.note, _utc(now))


def clear_verdict(store: Store, analysis_id: str, event: int) -> bool:
    """Forget the verdict on one event; False when there was none."""
    with store.connect() as db:
        cur = db.execute("DELETE FROM verdicts WHERE analysis_id = ? AND event = ?", (analysis_id, event))
        return cur.rowcount == 1


def add_event(store: Store, analysis_id: str, start_s: float, end_s: float, label: str, note: str) -> Added:
    """Store an event the machine missed; returns it with its id."""
    now = time.time()
    with store.connect() as db:
        cur = db.execute("INSERT INTO added_events (analysis_id, start_s, end_s, label, note, updated) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (analysis_id, start_s, end_s, label, note, now))
        new_id = int(cur.lastrowid or 0)
    return Added(new_id, start_s, end_s, label, note, _utc(now))


def delete_added(store: Store, analysis_id: str, added_id: int) -> bool:
    """Delete one added event; False when the analysis has no such event."""
    with store.connect() as db:
        cur = db.execute("DELETE FROM added_events WHERE analysis_id = ? AND id = ?", (analysis_id, added_id))
        return cur.rowcount == 1


__all__ = ["add_event", "clear_verdict", "delete_added", "load_review", "set_verdict"]
