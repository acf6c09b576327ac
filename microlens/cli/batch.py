"""Batch runs of ``microlens analyze``: many videos -> one report per video per format, summary.csv
and events.csv (every event of every video, with a sidecar's participant and condition: merged.py).

Folders are searched recursively for video files; each video gets a unique output stem. Videos are
analysed one after the other or in ``jobs`` spawned worker processes (one thread each); one bad
video never stops the batch: its failure is its row in summary.csv.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import cv2

from microlens.analyze import analyze, set_quiet_native_logs
from microlens.errors import MicrolensError, UsageError
from microlens.report.merged import NAME as EVENTS_NAME
from microlens.report.merged import Sidecar, carried, event_rows, merged_table, unmatched
from microlens.report.writers import EXTENSIONS, WRITERS, save_text, to_csv

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
                  ".3gp", ".ogv", ".ts", ".mts", ".y4m")


def expand_inputs(items: Iterable[str]) -> tuple[list[str], bool]:
    """Video paths from files and folders (folders searched recursively for video suffixes) and
    whether this is a batch (several videos or any folder)."""
    out: list[str] = []
    batch = False
    for item in items:
        p = Path(item)
        if p.is_dir():
            batch = True
            found = sorted(str(q) for q in p.rglob("*") if q.is_file() and q.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise UsageError(f"{item}: no video files in this folder ({', '.join(VIDEO_SUFFIXES)})")
            out += found
        else:
            out.append(item)
    return out, batch or len(out) > 1


def _out_names(videos: list[str]) -> list[str]:
    """A unique output stem per video (file stem, _2, _3 ... on clashes)."""
    seen: dict[str, int] = {"summary": 1, "events": 1}  # the batch's own summary.csv and events.csv
    names = []
    for v in videos:
        stem = Path(v).stem or "video"
        n = seen.get(stem.lower(), 0) + 1
        seen[stem.lower()] = n
        names.append(stem if n == 1 else f"{stem}_{n}")
    return names


SUMMARY_FIELDS = ("video", "status", "exit_code", "error", "duration_s", "fps", "frames", "face_coverage",
                  "events", "micro", "macro", "emotion_changes", "micro_ratio_percent", "uncertain",
                  "talking_events", "talking_s", "warnings", "outputs", "elapsed_s")


def _batch_one(video: str, stem: str, out: str, fmts: list[str], model: str,
               options: dict[str, Any]) -> dict[str, Any]:
    """Analyse one video of a batch and write its reports; never raises (the failure is the row)."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {k: "" for k in SUMMARY_FIELDS}
    row.update(video=video, status="ok", exit_code=0)
    try:
        report = analyze(video, model=model, **options)
        written = []
        for fmt in fmts:
            target = Path(out) / (stem + EXTENSIONS[fmt])
            save_text(target, WRITERS[fmt](report))
            written.append(target.name)
        st = report.stats()
        row.update(duration_s=round(report.duration_s, 3), fps=round(report.fps, 2), frames=report.frames,
                   face_coverage=round(report.face.coverage, 4), events=len(report.events),
                   micro=st["micro_count"], macro=st["macro_count"], emotion_changes=st["emotion_changes"],
                   micro_ratio_percent=st["micro_ratio_percent"], uncertain=st["uncertain_count"],
                   talking_events=st["talking_count"], talking_s=st["talking_seconds"],
                   warnings=" | ".join(report.warnings),
                   outputs=" ".join(written), _events=event_rows(to_csv(report)))
    except MicrolensError as e:
        row.update(status="failed", exit_code=e.exit_code, error=str(e))
    except Exception as e:  # noqa: BLE001 - one bad video must not stop the batch
        row.update(status="failed", exit_code=1, error=f"internal error: {type(e).__name__}: {e}")
    row["elapsed_s"] = round(time.perf_counter() - t0, 2)
    return row


def _worker_init() -> None:
    """Batch worker: one thread for torch and OpenCV (the processes already run in parallel)."""
    set_quiet_native_logs(os.environ.get("MICROLENS_DEBUG") != "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    cv2.setNumThreads(1)


def run_batch(videos: list[str], out: Path, fmts: list[str], model: str, options: dict[str, Any], *,
              jobs: int = 1, sidecar: Sidecar | None = None) -> int:
    """Analyse ``videos`` into ``out`` (one report per video per format) with ``jobs`` worker
    processes; write ``out/summary.csv`` and ``out/events.csv`` (every event, led by its video and
    the ``sidecar``'s columns); return 0 when all succeeded, else the exit code of the first failed
    video in input order."""
    from microlens.progress import progress_bar

    names = _out_names(videos)
    rows: list[dict[str, Any] | None] = [None] * len(videos)
    with progress_bar(f"analyze {len(videos)} videos") as bar:
        if jobs == 1:
            for i, (v, stem) in enumerate(zip(videos, names, strict=True)):
                bar(Path(v).name, i / len(videos))
                rows[i] = _batch_one(v, stem, str(out), fmts, model, options)
        else:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")  # no forked mediapipe/torch state
            with ProcessPoolExecutor(max_workers=min(jobs, len(videos)), mp_context=ctx,
                                     initializer=_worker_init) as pool:
                futs = {pool.submit(_batch_one, v, stem, str(out), fmts, model, options): i
                        for i, (v, stem) in enumerate(zip(videos, names, strict=True))}
                for done, fut in enumerate(as_completed(futs), 1):
                    i = futs[fut]
                    try:
                        rows[i] = fut.result()
                    except Exception as e:  # noqa: BLE001 - a crashed worker is one failed video
                        rows[i] = {k: "" for k in SUMMARY_FIELDS} | {
                            "video": videos[i], "status": "failed", "exit_code": 1,
                            "error": f"worker crashed: {type(e).__name__}: {e}"}
                    bar(Path(videos[i]).name, done / len(videos))
    final = [r for r in rows if r is not None]
    events = [carried(r) for r in final]
    save_text(out / EVENTS_NAME, merged_table([str(r["video"]) for r in final], events, sidecar))
    for v in unmatched(videos, sidecar) if sidecar else ():
        print(f"microlens: {v}: no row in the sidecar; its sidecar columns are empty", file=sys.stderr)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(final)
    save_text(out / "summary.csv", buf.getvalue())
    failed = [r for r in final if r["status"] != "ok"]
    for r in failed:
        print(f"microlens: {r['video']}: {r['error']}", file=sys.stderr)
    print(f"microlens: {len(final) - len(failed)} of {len(final)} videos analysed; summary: "
          f"{out / 'summary.csv'}; events: {out / EVENTS_NAME}", file=sys.stderr)
    return int(failed[0]["exit_code"]) if failed else 0
