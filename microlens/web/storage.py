"""Web storage: analyses and job metadata in SQLite, uploads and results in the data directory.

Layout of ``MICROLENS_DATA_DIR``::

    analyses.db            this module's SQLite database (WAL mode, one connection per call):
                           analyses, and a reviewer's verdicts and added events (verdicts.py)
    queue.db               the Huey queue (SQLite storage, see queue.py)
    uploads/<id>.video     the uploaded video, named by a generated id, never by the client's name
    results/<id>/          report.json|csv|timeline|vtt|html|eaf|boris, face.mp4, face.jpg,
                           micro-<n>.jpg, original.mp4 (the upload transcoded for browsers, where needed)
    tmp/                   request bodies being received and webcam recordings being written;
                           tmp/work-<host>/: work folders of that host's analyses in progress
    cache/                 caches libraries would otherwise write under the home folder
                           (matplotlib's font cache, see :func:`keep_caches_inside`)

Every path is built from a generated id that :func:`valid_id` checks, so a client value never
reaches the filesystem.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")
_ID = re.compile(r"^[0-9a-f]{24}$")
_WORK = "work-"  # + host name: tmp/ folder of the host's analyses in progress (Store.work_dir)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS analyses (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    stage TEXT NOT NULL DEFAULT '',
    progress REAL NOT NULL DEFAULT 0,
    error TEXT,
    filename TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    duration_s REAL NOT NULL DEFAULT 0,
    model TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT 'upload',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    finished REAL,
    worker TEXT NOT NULL DEFAULT '',
    cancel INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS analyses_status ON analyses(status);
CREATE INDEX IF NOT EXISTS analyses_created ON analyses(created);
CREATE TABLE IF NOT EXISTS verdicts (
    analysis_id TEXT NOT NULL,
    event INTEGER NOT NULL,
    verdict TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL,
    PRIMARY KEY (analysis_id, event)
);
CREATE TABLE IF NOT EXISTS added_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    analysis_id TEXT NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    label TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS added_events_analysis ON added_events(analysis_id);
"""


def keep_caches_inside(root: Path) -> None:
    """Point the caches libraries write under the home folder into ``root``/cache, so that the web
    app writes nothing outside its data directory: matplotlib's font cache and config folder
    (mediapipe imports matplotlib). A MPLCONFIGDIR the environment already sets is kept; onnxruntime's
    telemetry files are switched off where it is imported (microlens.recognize.ortsession)."""
    os.environ.setdefault("MPLCONFIGDIR", str(root / "cache" / "matplotlib"))


def new_id() -> str:
    """A fresh analysis id: 24 lowercase hex digits (96 random bits)."""
    return secrets.token_hex(12)


def valid_id(value: str) -> bool:
    """True when ``value`` has the shape of an id from :func:`new_id` (so it is safe in a path)."""
    return bool(_ID.match(value or ""))


@dataclass(frozen=True)
class Analysis:
    """One row of the analyses table."""

    id: str
    status: str  # one of STATUSES
    stage: str  # pipeline stage in words ("decode", "face", ...) while running
    progress: float  # 0..1
    error: str | None  # one-line reason when failed
    filename: str  # the client's file name, for display only (never a path)
    size: int  # upload size in bytes
    duration_s: float  # probed duration, 0 when unknown
    model: str  # model name the job runs with
    source: str  # "upload" or "webcam"
    created: float  # unix time
    updated: float
    started: float | None
    finished: float | None
    worker: str  # "host:pid" of the process running it
    cancel: int  # 1 when a cancel was requested
    attempts: int  # how many times a worker started it
    summary: str  # JSON: headline stats once done
    options: str  # JSON: analysis options given with the upload (AnalyzeOptions/FaceOptions/SpotOptions)

    def summary_dict(self) -> dict[str, Any]:
        """The summary JSON as a dict."""
        return _json_object(self.summary)

    def options_dict(self) -> dict[str, Any]:
        """The options JSON as a dict ({} : the defaults)."""
        return _json_object(self.options)


def _json_object(text: str) -> dict[str, Any]:
    try:
        return dict(json.loads(text or "{}"))
    except (ValueError, TypeError):
        return {}


_COLUMNS = tuple(f.name for f in fields(Analysis))


class QueueFull(Exception):
    """Raised by :meth:`Store.create` when the queue already holds ``max_active`` analyses."""

    def __init__(self, max_active: int) -> None:
        super().__init__(f"the queue is full ({max_active} analyses waiting or running)")
        self.max_active = max_active


def _active(db: sqlite3.Connection) -> int:
    """Analyses queued or running, counted on ``db``."""
    return int(db.execute("SELECT COUNT(*) FROM analyses WHERE status IN ('queued', 'running')"
                          ).fetchone()[0])


class Store:
    """Analyses database plus the data directory's layout."""

    def __init__(self, data_dir: str | Path) -> None:
        self.root = Path(data_dir).resolve()
        for sub in ("uploads", "results", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "analyses.db"
        with self._connect() as db:
            db.executescript(_SCHEMA)
            columns = {r[1] for r in db.execute("PRAGMA table_info(analyses)")}
            if "options" not in columns:  # a database made before options were stored
                db.execute("ALTER TABLE analyses ADD COLUMN options TEXT NOT NULL DEFAULT '{}'")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()

    def connect(self) -> AbstractContextManager[sqlite3.Connection]:
        """A connection to the analyses database (autocommit; the review tables use it, verdicts.py)."""
        return self._connect()

    # paths -------------------------------------------------------------------------------------
    def upload_path(self, analysis_id: str) -> Path:
        """Where the uploaded video of ``analysis_id`` is kept."""
        assert valid_id(analysis_id)
        return self.root / "uploads" / f"{analysis_id}.video"

    def result_dir(self, analysis_id: str) -> Path:
        """The folder with the reports and images of ``analysis_id``."""
        assert valid_id(analysis_id)
        return self.root / "results" / analysis_id

    def tmp_dir(self) -> Path:
        """Scratch space inside the data directory (request bodies, recordings)."""
        return self.root / "tmp"

    def work_dir(self) -> Path:
        """This host's folder for the work folders of analyses in progress (tmp/work-<host>; one per
        host, as several hosts may share the data directory and a work folder is swept when the
        process that made it has died, which only its own host can tell)."""
        host = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:64] or "host"
        folder = self.tmp_dir() / f"{_WORK}{host}"
        folder.mkdir(exist_ok=True)
        return folder

    # rows --------------------------------------------------------------------------------------
    def create(self, analysis_id: str, *, filename: str, size: int, duration_s: float, model: str,
               source: str = "upload", options: dict[str, Any] | None = None,
               max_active: int | None = None) -> Analysis:
        """Insert a queued analysis (``options``: analysis options, checked by the caller).

        With ``max_active``, the count of queued and running analyses and the insert happen in one
        write transaction (BEGIN IMMEDIATE), so parallel uploads cannot overfill the queue; raises
        :class:`QueueFull` when ``max_active`` analyses are already active."""
        now = time.time()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                if max_active is not None and _active(db) >= max_active:
                    raise QueueFull(max_active)
                db.execute(
                    "INSERT INTO analyses (id, status, stage, filename, size, duration_s, model, source, "
                    "created, updated, options) VALUES (?, 'queued', 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (analysis_id, filename[:255], size, duration_s, model, source, now, now,
                     json.dumps(options or {})))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        got = self.get(analysis_id)
        assert got is not None
        return got

    def get(self, analysis_id: str) -> Analysis | None:
        """The analysis, or None."""
        if not valid_id(analysis_id):
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM analyses WHERE id = ?", (analysis_id,)).fetchone()
        return Analysis(**{k: row[k] for k in _COLUMNS}) if row else None

    def select(self, limit: int = 200, statuses: tuple[str, ...] = STATUSES) -> list[Analysis]:
        """Newest first."""
        marks = ",".join("?" * len(statuses))
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM analyses WHERE status IN ({marks}) "
                              "ORDER BY created DESC LIMIT ?", (*statuses, limit)).fetchall()
        return [Analysis(**{k: r[k] for k in _COLUMNS}) for r in rows]

    def count_active(self) -> int:
        """Analyses queued or running."""
        with self._connect() as db:
            return _active(db)

    def update(self, analysis_id: str, **values: Any) -> None:
        """Set columns of one analysis (and ``updated``)."""
        bad = set(values) - set(_COLUMNS)
        if bad:
            raise KeyError(f"unknown columns {sorted(bad)}")
        values["updated"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in values)
        with self._connect() as db:
            db.execute(f"UPDATE analyses SET {cols} WHERE id = ?", (*values.values(), analysis_id))

    def claim(self, analysis_id: str, worker: str) -> Analysis | None:
        """Atomically move a queued analysis to running for ``worker``; None when it is not queued
        (already done, cancelled, deleted or running elsewhere)."""
        now = time.time()
        with self._connect() as db:
            cur = db.execute(
                "UPDATE analyses SET status = 'running', stage = 'starting', worker = ?, started = ?, "
                "updated = ?, attempts = attempts + 1 WHERE id = ? AND status = 'queued' AND cancel = 0",
                (worker, now, now, analysis_id))
            claimed = cur.rowcount == 1
        return self.get(analysis_id) if claimed else None

    def request_cancel(self, analysis_id: str) -> Analysis | None:
        """Ask for a cancel: a queued analysis is cancelled at once, a running one at its next check."""
        now = time.time()
        with self._connect() as db:
            db.execute("UPDATE analyses SET cancel = 1, updated = ? WHERE id = ?", (now, analysis_id))
            db.execute("UPDATE analyses SET status = 'cancelled', stage = 'cancelled', finished = ? "
                       "WHERE id = ? AND status = 'queued'", (now, analysis_id))
        return self.get(analysis_id)

    def cancel_requested(self, analysis_id: str) -> bool:
        """True when a cancel was asked for (or the analysis was deleted)."""
        with self._connect() as db:
            row = db.execute("SELECT cancel FROM analyses WHERE id = ?", (analysis_id,)).fetchone()
        return row is None or bool(row[0])

    def delete(self, analysis_id: str) -> bool:
        """Remove the row, the upload and the results; False when there was no such analysis."""
        if not valid_id(analysis_id):
            return False
        with self._connect() as db:
            cur = db.execute("DELETE FROM analyses WHERE id = ?", (analysis_id,))
            found = cur.rowcount == 1
            db.execute("DELETE FROM verdicts WHERE analysis_id = ?", (analysis_id,))
            db.execute("DELETE FROM added_events WHERE analysis_id = ?", (analysis_id,))
        self.upload_path(analysis_id).unlink(missing_ok=True)
        shutil.rmtree(self.result_dir(analysis_id), ignore_errors=True)
        return found

    def expired(self, older_than_s: float) -> list[str]:
        """Ids of finished analyses created more than ``older_than_s`` seconds ago."""
        cutoff = time.time() - older_than_s
        with self._connect() as db:
            rows = db.execute("SELECT id FROM analyses WHERE created < ? AND status IN "
                              "('done', 'failed', 'cancelled')", (cutoff,)).fetchall()
        return [r[0] for r in rows]

    def purge(self, retention_s: float) -> int:
        """Delete analyses past the retention and stray temp files; the number of analyses deleted."""
        ids = self.expired(retention_s)
        for i in ids:
            self.delete(i)
        from microlens.face.store import sweep_stale_work

        sweep_stale_work(str(self.work_dir()))  # work folders of this host's analyses that died
        cutoff = time.time() - max(retention_s, 3600.0)
        for p in self.tmp_dir().iterdir():
            if p.name.startswith(_WORK):  # analyses' work folders, however old: swept above
                continue
            try:
                if p.stat().st_mtime < cutoff:
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
            except OSError:
                pass
        return len(ids)

    def stats(self) -> dict[str, int]:
        """Analyses per status."""
        with self._connect() as db:
            rows = db.execute("SELECT status, COUNT(*) FROM analyses GROUP BY status").fetchall()
        out = dict.fromkeys(STATUSES, 0)
        out.update({r[0]: int(r[1]) for r in rows})
        return out
