"""``microlens analyze``: the subcommand's parser and its dispatch to one video or a batch.

One video: the report goes to stdout (or -o FILE, or one file per format into -o DIR). Several
videos or a folder: :func:`microlens.cli.batch.run_batch` into -o DIR plus summary.csv and events.csv.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from microlens.analyze import OPTION_CLASSES, analyze, set_quiet_native_logs, split_options
from microlens.cli.batch import expand_inputs, run_batch
from microlens.errors import OutputError, UsageError
from microlens.options import add_options, options_from_args
from microlens.report.merged import read_sidecar
from microlens.report.writers import EXTENSIONS, WRITERS, save_text


def register(subparsers: Any) -> None:
    """Add ``microlens analyze``."""
    p = subparsers.add_parser(
        "analyze", help="spot and classify micro-expressions in video(s)",
        description="Analyse videos: when did a micro- or macro-expression happen and which emotion was it. "
                    "One video: the report goes to stdout (or -o FILE). Several videos or a folder: one "
                    "report per video into -o DIR plus summary.csv. Exit codes: 0 done (even with no "
                    "events), 1 internal error, 2 bad usage (also an -o or --face-video that cannot be "
                    "written, found before any work), 3 not a readable video, 4 no face found, 5 an "
                    "output could not be written; "
                    "in batch mode 0 when every video succeeded, else the exit code of the first video "
                    "(in input order) that failed.")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders of videos")
    p.add_argument("--model", default="casme2",
                   help="shipped model name or checkpoint path (default: casme2)")
    p.add_argument("--format", default="json",
                   help=f"report format: {', '.join(WRITERS)} (timeline: one CSV row per second); a comma "
                        "list (json,html) writes several files when -o is a folder (default: json)")
    p.add_argument("-o", "--output", default=None,
                   help="output file (one video) or folder (several videos; required then)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes in batch mode (default: 1)")
    p.add_argument("--sidecar", default=None, metavar="FILE",
                   help="batch mode: a CSV with a 'video' column and others (participant, condition, ...) "
                        "copied onto each video's rows of the merged events table DIR/events.csv")
    p.add_argument("--face-video", default=None, metavar="PATH",
                   help="also write the H.264 face-crop video here (one video only)")
    for cls in OPTION_CLASSES:
        add_options(p, cls)
    p.set_defaults(func=run_cli)


def _formats(spec: str) -> list[str]:
    fmts = [f.strip().lower() for f in spec.split(",") if f.strip()]
    bad = [f for f in fmts if f not in WRITERS]
    if not fmts or bad:
        raise UsageError(f"unknown report format {','.join(bad) or spec!r}; use {', '.join(WRITERS)}")
    return list(dict.fromkeys(fmts))


def run_cli(args: argparse.Namespace) -> int:
    """``microlens analyze``: one video -> stdout/file; several -> a folder and summary.csv."""
    set_quiet_native_logs(os.environ.get("MICROLENS_DEBUG") != "1")
    fmts = _formats(args.format)
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    options = {}
    for cls in OPTION_CLASSES:
        options.update(dataclasses.asdict(options_from_args(cls, args)))
    split_options(**options)  # validates before any work
    videos, batch = expand_inputs(args.videos)
    if not batch:
        if args.sidecar:
            raise UsageError("--sidecar works in batch mode (a folder or several videos, -o DIR)")
        return _run_single(videos[0], args, fmts, options)
    sidecar = read_sidecar(args.sidecar) if args.sidecar else None
    if not args.output:
        raise UsageError("several videos need an output folder: -o DIR")
    if args.face_video:
        raise UsageError("--face-video works with one video only")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    writable(out, "the reports")
    return run_batch(videos, out, fmts, args.model, options, jobs=args.jobs, sidecar=sidecar)


def writable(folder: Path, what: str) -> None:
    """UsageError unless ``folder`` is an existing folder where a file can be created (checked by
    creating and removing one, which also works where permissions do not bind, as for root)."""
    if not folder.exists():
        raise UsageError(f"{folder}: the folder for {what} does not exist")
    if not folder.is_dir():
        raise UsageError(f"{folder}: is not a folder, {what} cannot be written there")
    try:
        fd, probe = tempfile.mkstemp(prefix=".microlens-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"{folder}: {what} cannot be written there ({e.strerror or e})") from None


def _check_outputs(out: Path | None, to_dir: bool, face_video: str | None) -> None:
    """Before any work: -o (a file or a folder) and --face-video can be written."""
    if out is not None:
        writable(out if to_dir else out.parent, "the report")
    if face_video:
        fv = Path(face_video)
        if fv.is_dir():
            raise UsageError(f"{fv}: --face-video is a folder; give a file name such as face.mp4")
        writable(fv.parent, "the face video")


def _run_single(video: str, args: argparse.Namespace, fmts: list[str], options: dict[str, Any]) -> int:
    from microlens.progress import progress_bar

    out = Path(args.output) if args.output else None
    to_dir = out is not None and out.is_dir()
    if len(fmts) > 1 and not to_dir:
        raise UsageError("several formats need an output folder: -o DIR")
    _check_outputs(out, to_dir, args.face_video)
    with progress_bar(f"analyze {Path(video).name}") as bar:
        report = analyze(video, model=args.model, progress=bar, face_video=args.face_video, **options)
    for fmt in fmts:
        text = WRITERS[fmt](report)
        if out is None:
            _to_stdout(text)
        elif to_dir:
            save_text(out / (Path(video).stem + EXTENSIONS[fmt]), text)
        else:
            save_text(out, text)
    return 0


def _to_stdout(text: str) -> None:
    """Write the report to stdout; a failing stdout (a full disk behind a redirect) is an OutputError."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise OutputError(f"cannot write the report to standard output ({e.strerror or e})") from None
