"""Stages 4-5 glue: one video -> a :class:`~microlens.report.Report` (``analyze``) and the CLI.

Two streaming passes keep memory flat whatever the video's length:

1. **track**: decode -> :class:`~microlens.face.FaceTracker` -> :class:`~microlens.spotting.MotionMeter`.
   The aligned face crops go to an H.264 face video (the web results page shows it; a temporary
   file unless the caller asks for one) and, for the optical flow, losslessly to a gray store on
   disk (each crop as the 128x128 gray image the flow recipe starts from, PNG-compressed). Only
   small per-frame arrays stay in memory: times, motion features, a sharpness score (and the
   tracker's face boxes).
2. :func:`~microlens.spotting.spot` cuts the intervals; **recognise**: the face video is decoded
   once more and, at each interval's apex, the onset->apex flow image is built from the lossless
   gray store with :func:`microlens.flow.flow_image` (exactly the training recipe; an H.264 round
   trip changed the flow images measurably, see docs/analyze.md) and the apex crop plus the flow
   go to the recogniser in bounded batches. The same pass picks the filmstrip crops and the
   representative face frame.

Callers (the web app) get progress as ``progress(stage, fraction)`` with the overall fraction in
0..1, can stop the work with ``cancel() -> bool`` (checked on every frame; raises
:class:`Cancelled`) and can keep the face video with ``face_video=PATH``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import math
import os
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from microlens.errors import MicrolensError, NoFaceError, UsageError
from microlens.face import FaceOptions
from microlens.options import add_options, option, options_from_args
from microlens.report import (
    EXTENSIONS,
    WRITERS,
    Event,
    FaceSummary,
    Filmstrip,
    Images,
    ModelInfo,
    Report,
    save_text,
)
from microlens.spotting import SpotOptions

if TYPE_CHECKING:
    from microlens.recognize import Recognizer
    from microlens.spotting import Interval

Progress = Callable[[str, float], None]  # (stage, overall fraction done 0..1)
Cancel = Callable[[], bool]  # True when the caller wants the analysis to stop

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
                  ".3gp", ".ogv", ".ts", ".mts", ".y4m")
STRONG_LOW_FPS = 15.0  # below this the fps warning says spotting is unreliable
_PASS1 = 0.9  # share of the progress bar taken by the tracking pass
_BATCH = 32  # events per recogniser call
# write the face video on a background thread: no measurable gain on the shared 2-core machine
# (A/B on the 60 s benchmark clip, load ~8: 19.2/19.9 s threaded vs 18.0 s inline), so off
THREADED_WRITER = False
# the CLI sets this: mediapipe's native (TFLite/absl) log lines printed while the face models start
# are kept off stderr; a library call never touches the process's stderr
QUIET_NATIVE_LOGS = False


class Cancelled(MicrolensError):
    """The caller's ``cancel()`` hook asked to stop (exit 130, HTTP 499)."""

    exit_code = 130
    http_status = 499


@dataclass(frozen=True)
class AnalyzeOptions:
    """How a video is analysed (besides FaceOptions and SpotOptions)."""

    # frames whose longer side exceeds this are downscaled before face tracking (4K -> 1280)
    max_side: int = option(1280, "downscale frames whose longer side exceeds this, pixels")
    # quality of the H.264 face-crop video (lower is better; 12-16 is visually lossless)
    crf: int = option(14, "H.264 quality of the face-crop video (crf, lower is better)")
    # warn when the face is found in fewer frames than this fraction
    min_coverage: float = option(0.9, "warn when the face is found in fewer frames than this fraction")
    # side of the filmstrip thumbnails
    thumb_size: int = option(160, "side of the filmstrip thumbnails, pixels")
    # at most this many filmstrips (the strongest micro-expressions) go into the report
    max_filmstrips: int = option(100, "most filmstrips kept (strongest micro-expressions first)")

    def __post_init__(self) -> None:
        if self.max_side < 64:
            raise UsageError(f"max_side must be at least 64, got {self.max_side}")
        if not 0 <= self.crf <= 51:
            raise UsageError(f"crf must be in 0..51, got {self.crf}")
        if not 0 <= self.min_coverage <= 1:
            raise UsageError(f"min_coverage must be in 0..1, got {self.min_coverage}")
        if self.thumb_size < 16 or self.max_filmstrips < 0:
            raise UsageError("thumb_size must be >= 16 and max_filmstrips >= 0")


_OPTION_CLASSES: tuple[type, ...] = (AnalyzeOptions, FaceOptions, SpotOptions)


def split_options(**options: Any) -> tuple[AnalyzeOptions, FaceOptions, SpotOptions]:
    """Route flat keyword options onto the three option dataclasses (field names are unique)."""
    parts: list[dict[str, Any]] = [{}, {}, {}]
    for key, value in options.items():
        for i, cls in enumerate(_OPTION_CLASSES):
            if key in {f.name for f in dataclasses.fields(cls)}:
                parts[i][key] = value
                break
        else:
            known = sorted(f.name for c in _OPTION_CLASSES for f in dataclasses.fields(c))
            raise UsageError(f"unknown analyze option {key!r}; known: {', '.join(known)}")
    try:
        return AnalyzeOptions(**parts[0]), FaceOptions(**parts[1]), SpotOptions(**parts[2])
    except TypeError as e:  # pragma: no cover - names were checked above
        raise UsageError(str(e)) from None


_MODELS: dict[str, Recognizer] = {}


def resolve_model(model: str | Recognizer) -> Recognizer:
    """A Recognizer as given, or a shipped model name / checkpoint path loaded once per process."""
    if not isinstance(model, str):
        return model
    if model not in _MODELS:
        from microlens.recognize import load_model

        _MODELS[model] = load_model(model)
    return _MODELS[model]


def analyze(path: str, model: str | Recognizer = "casme2", progress: Progress | None = None,
            cancel: Cancel | None = None, face_video: str | None = None, **options: Any) -> Report:
    """Analyse one video: track the face, spot micro- and macro-expressions, classify each.

    ``model``: a shipped model name, a checkpoint path or a loaded Recognizer. ``progress(stage,
    fraction)`` receives the overall fraction done (0..1); ``cancel()`` returning True stops the
    work with :class:`Cancelled`; ``face_video`` is a path where the H.264 video of the aligned face
    crops (synchronised with the source: same frame times, gray frames where no face) is kept.
    ``options`` are fields of AnalyzeOptions, FaceOptions or SpotOptions. Raises VideoError (not a
    readable video), NoFaceError (no face in any frame) and UsageError (bad options).
    """
    opts, face_opts, spot_opts = split_options(**options)
    return run(path, model, opts, face_opts, spot_opts, progress=progress, cancel=cancel,
               face_video=face_video)


class _GrayStore:
    """Lossless on-disk store of each face frame's (128, 128) uint8 gray flow input (PNG)."""

    def __init__(self, folder: str) -> None:
        fd, self.path = tempfile.mkstemp(prefix="microlens-gray-", suffix=".bin", dir=folder)
        self._f = os.fdopen(fd, "w+b")
        self._offsets = array("q")  # per frame: byte offset, -1 without a face
        self._sizes = array("i")

    def add(self, gray: np.ndarray | None) -> None:
        if gray is None:
            self._offsets.append(-1)
            self._sizes.append(0)
            return
        ok, buf = cv2.imencode(".png", gray, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:  # pragma: no cover
            raise RuntimeError("PNG encoding failed")
        self._f.seek(0, os.SEEK_END)
        self._offsets.append(self._f.tell())
        self._sizes.append(len(buf))
        self._f.write(buf.tobytes())

    def get(self, i: int) -> np.ndarray | None:
        if i < 0 or i >= len(self._offsets) or self._offsets[i] < 0:
            return None
        self._f.seek(self._offsets[i])
        data = np.frombuffer(self._f.read(self._sizes[i]), np.uint8)
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)

    def close(self) -> None:
        self._f.close()
        Path(self.path).unlink(missing_ok=True)


class _Sink:
    """Writes each frame's face crop to the face video and its flow input to the gray store, inline
    or on a background thread (``threaded``; a bounded queue keeps memory flat)."""

    def __init__(self, writer: Any, store: _GrayStore, blank: np.ndarray, threaded: bool = True) -> None:
        import queue
        import threading

        self.writer, self.store, self.blank, self.threaded = writer, store, blank, threaded
        self.sharp = array("f")  # per frame: Laplacian variance of the face, NaN without a face
        self.busy_s = 0.0  # seconds spent writing (inline or on the background thread)
        self.error: BaseException | None = None
        self._q: queue.Queue[tuple[np.ndarray | None, float] | None] = queue.Queue(maxsize=32)
        self._thread = threading.Thread(target=self._loop, name="microlens-face-writer", daemon=True)
        if threaded:
            self._thread.start()

    def put(self, crop: np.ndarray | None, time_s: float) -> None:
        """Queue one frame: the (224, 224, 3) uint8 face crop, or None without a face."""
        if self.error is not None:
            raise self.error
        if not self.threaded:
            self._write(crop, time_s)
            if self.error is not None:
                raise self.error
            return
        self._q.put((crop, time_s))

    def _loop(self) -> None:
        while (item := self._q.get()) is not None:
            if self.error is None:  # after a failure: drain so that put() never blocks
                self._write(*item)

    def _write(self, crop: np.ndarray | None, t: float) -> None:
        from microlens import flow

        t0 = time.perf_counter()
        try:
            if crop is None:
                self.writer.write(self.blank, time_s=t)
                self.store.add(None)
                self.sharp.append(math.nan)
            else:
                self.writer.write(crop, time_s=t)
                gray = flow._gray(crop, flow.WORK_SIZE)  # (128, 128) uint8, the flow recipe's input
                self.store.add(gray)
                self.sharp.append(float(cv2.Laplacian(gray, cv2.CV_32F).var()))
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            self.error = e
        self.busy_s += time.perf_counter() - t0

    def close(self) -> None:
        """Wait until every queued frame is written; re-raise a writing error."""
        if self._thread.is_alive():
            self._q.put(None)
            self._thread.join()
        if self.error is not None:
            raise self.error


def _face_writer(path: str, fps: float, crf: int) -> Any:
    """The H.264 face-crop video writer, with one x264 thread: frames are small, and x264's frame
    threads cost more than they save beside face tracking on two cores (measured 1.6 vs 3.2 ms)."""
    from microlens.video import VideoWriter

    return VideoWriter(path, fps=fps, crf=crf, threads=1)


@dataclass
class _Pass1:
    """What the tracking pass keeps: small per-frame arrays only."""

    times: np.ndarray  # (T,) float64 seconds
    motion: np.ndarray  # (T, N_FEATURES) float32, NaN rows without a face
    sharp: np.ndarray  # (T,) float32 Laplacian variance of the face, NaN without a face
    warnings: list[str]
    track: Any  # microlens.face.FaceTrack


class _Timer:
    """Accumulates seconds per stage."""

    def __init__(self) -> None:
        self.s: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.s[stage] = self.s.get(stage, 0.0) + now - self._t
        self._t = now


@contextmanager
def _native_logs_muted(active: bool) -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while ``active`` (native libraries write there directly)."""
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_WORK_PREFIX = "microlens-work-"  # + "<pid>-": temporary folders of analyses in progress


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _sweep_stale_work() -> None:
    """Remove temporary folders left by analyses whose process died (killed mid-analysis)."""
    import shutil

    for d in Path(tempfile.gettempdir()).glob(f"{_WORK_PREFIX}*"):
        pid = d.name[len(_WORK_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _check_cancel(cancel: Cancel | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("the analysis was cancelled")


def _track(clip: Any, opts: AnalyzeOptions, face_opts: FaceOptions, spot_opts: SpotOptions,
           writer: Any, store: _GrayStore, timer: _Timer, progress: Progress,
           cancel: Cancel | None) -> _Pass1:
    """Pass 1: decode, track, measure motion; the face video and the gray store are written on a
    background thread."""
    from microlens.face import CROP_SIZE, FaceTracker
    from microlens.spotting import MotionMeter
    from microlens.video import frames

    with _native_logs_muted(QUIET_NATIVE_LOGS):
        tracker = FaceTracker(face_opts)
    meter = MotionMeter(spot_opts)
    sink = _Sink(writer, store, np.full((CROP_SIZE, CROP_SIZE, 3), 96, np.uint8), THREADED_WRITER)
    times: list[float] = []
    motion: list[np.ndarray] = []
    expect = clip.duration_s if clip.duration_s > 0 else 0.0
    stream = frames(clip, max_side=opts.max_side)
    last_report = 0.0
    try:
        timer.lap("setup")
        for fr in stream:
            timer.lap("decode")
            _check_cancel(cancel)
            with _native_logs_muted(QUIET_NATIVE_LOGS and fr.index < 2):  # the models start lazily
                face = tracker(fr)
            timer.lap("face")
            motion.append(meter(face))
            timer.lap("motion")
            times.append(fr.time_s)
            sink.put(None if face is None else face.crop, fr.time_s)
            timer.lap("write")
            now = time.monotonic()
            if now - last_report > 0.2:
                last_report = now
                frac = fr.time_s / expect if expect else 1.0 - 1.0 / (1.0 + fr.index / 300)
                progress("tracking face", _PASS1 * min(frac, 0.99))
        track = tracker.track()
        sink.close()
        timer.lap("write")
    finally:
        stream.close()
        tracker.close()
        try:
            sink.close()
        except BaseException:  # noqa: BLE001 - already failing: the first error is the one reported
            pass
        timer.s["writer_busy"] = sink.busy_s
    return _Pass1(np.asarray(times, np.float64), np.asarray(motion, np.float32).reshape(len(times), -1),
                  np.asarray(sink.sharp, np.float32), list(stream.warnings), track)


def _face_spans(times: np.ndarray, valid: np.ndarray, dt: float) -> tuple[tuple[float, float], ...]:
    """Time spans (start_s, end_s) where the face is visible; frame i lasts until frame i+1."""
    ends = np.append(times[1:], times[-1] + dt) if len(times) else times
    spans: list[tuple[float, float]] = []
    for i in np.flatnonzero(valid):
        a, b = float(times[i]), float(ends[i])
        if spans and abs(spans[-1][1] - a) < 1e-9:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return tuple(spans)


def _warnings(clip: Any, p1: _Pass1, fps: float, opts: AnalyzeOptions, duration: float) -> list[str]:
    from microlens.video import fps_warning

    out = list(p1.warnings)
    tr = p1.track
    if 0 < fps < STRONG_LOW_FPS:
        out.append(f"the effective frame rate is only {fps:.1f} fps: a micro-expression (under 0.5 s) "
                   f"spans at most {0.5 * fps:.0f} frames, so micro-expression spotting is unreliable; "
                   "film at 25 fps or more (ideally 60-200)")
    elif fps > 0 and (w := fps_warning(fps)):
        out.append(w)
    if clip.nominal_fps > 0 and fps > 0 and abs(clip.nominal_fps - fps) > 0.1 * fps:
        out.append(f"the header claims {clip.nominal_fps:.2f} fps but the frame timestamps give "
                   f"{fps:.2f} fps (variable frame rate); the timestamps are used")
    if len(p1.times) < 2 or duration < 0.5:
        out.append(f"the video is too short ({len(p1.times)} frames, {duration:.2f} s) to spot "
                   "expressions: at least 0.5 s of continuous face is needed")
    if tr.coverage < opts.min_coverage:
        out.append(f"the face was found in only {tr.coverage * 100:.0f}% of the frames "
                   f"({tr.frames_with_face} of {tr.n_frames}); expressions while it was not visible "
                   "are not analysed")
    if tr.max_faces > 1:
        out.append(f"up to {tr.max_faces} faces were seen in one frame; analysed: {tr.chosen} "
                   "(choose another with --face)")
    return out


def _flow_for(store: _GrayStore, iv: Interval) -> np.ndarray:
    """(28, 28, 3) uint8 onset->apex flow image from the lossless gray crops (training recipe)."""
    from microlens.flow import flow_image

    onset, apex = store.get(iv.onset), store.get(iv.apex)
    if onset is None or apex is None:  # pragma: no cover - intervals lie inside face segments
        raise RuntimeError(f"no face crop stored for interval frames {iv.onset}-{iv.apex}")
    return flow_image(onset, apex)


def _thumb(img: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _recognise(face_path: str, intervals: list[Interval], store: _GrayStore, rec: Recognizer,
               rep_index: int, opts: AnalyzeOptions, progress: Progress,
               cancel: Cancel | None) -> tuple[list[Event], dict[int, dict[str, np.ndarray]],
                                                np.ndarray | None]:
    """Pass 2 over the face video: classify each interval at its apex (bounded batches), collect the
    filmstrip crops of the strongest micro-expressions and the representative frame."""
    from microlens.video import frames, open_clip

    micro = [k for k, iv in enumerate(intervals) if iv.kind == "micro"]
    strips = set(sorted(micro, key=lambda k: -intervals[k].score)[:opts.max_filmstrips])
    want: dict[int, list[tuple[int, str]]] = {}  # frame -> [(interval, role)]
    for k, iv in enumerate(intervals):
        want.setdefault(iv.apex, []).append((k, "apex"))
        if k in strips:
            want.setdefault(iv.onset, []).append((k, "onset"))
            want.setdefault(iv.offset, []).append((k, "offset"))
    filmstrips: dict[int, dict[str, np.ndarray]] = {k: {} for k in strips}
    probs: dict[int, np.ndarray] = {}
    pending: list[tuple[int, np.ndarray, np.ndarray]] = []  # (interval, apex crop, flow image)
    labels: tuple[str, ...] = tuple(rec.labels)
    representative: np.ndarray | None = None

    def flush() -> None:
        nonlocal labels
        if not pending:
            return
        pred = rec.predict(np.stack([a for _, a, _ in pending]), np.stack([f for _, _, f in pending]))
        labels = tuple(pred.labels)
        for (k, _, _), p in zip(pending, pred.probs, strict=True):
            probs[k] = np.asarray(p, np.float64)
        pending.clear()

    last = max(list(want) + [rep_index])
    if intervals or rep_index >= 0:
        stream = frames(open_clip(face_path))
        try:
            for fr in stream:
                if fr.index % 50 == 0:
                    _check_cancel(cancel)
                    progress("recognising", _PASS1 + 0.08 * min(fr.index / max(last, 1), 1.0))
                if fr.index == rep_index:
                    representative = fr.image
                for k, role in want.get(fr.index, ()):
                    if role == "apex":
                        pending.append((k, fr.image, _flow_for(store, intervals[k])))
                    if k in strips:
                        filmstrips[k][role] = _thumb(fr.image, opts.thumb_size)
                if len(pending) >= _BATCH:
                    flush()
                if fr.index >= last:
                    break
        finally:
            stream.close()
        flush()
    events = []
    for k, iv in enumerate(intervals):
        if k not in probs:  # pragma: no cover - the face video has every frame of the source
            raise RuntimeError(f"frame {iv.apex} of the face video could not be read")
        p = probs[k]
        j = int(np.argmax(p))
        events.append(Event(start_s=iv.onset_s, apex_s=iv.apex_s, end_s=iv.offset_s, kind=iv.kind,
                            label=labels[j], confidence=float(p[j]),
                            probs={lab: float(v) for lab, v in zip(labels, p, strict=True)},
                            score=float(iv.score), onset_frame=iv.onset, apex_frame=iv.apex,
                            offset_frame=iv.offset))
    return events, filmstrips, representative


def _zoom(crop: np.ndarray | None) -> np.ndarray | None:
    """The representative face, zoomed: the central 85% of the aligned crop at twice its size."""
    if crop is None:
        return None
    h, w = crop.shape[:2]
    m = int(round(0.075 * min(h, w)))
    inner = crop[m:h - m, m:w - m]
    return cv2.resize(inner, (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)


def run(path: str, model: str | Recognizer, opts: AnalyzeOptions, face_opts: FaceOptions,
        spot_opts: SpotOptions, *, progress: Progress | None = None, cancel: Cancel | None = None,
        face_video: str | None = None) -> Report:
    """:func:`analyze` with the option dataclasses already built."""
    from microlens.spotting import spot
    from microlens.video import effective_fps, open_clip

    report_progress: Progress = progress or (lambda stage, frac: None)
    timer = _Timer()
    report_progress("opening", 0.0)
    path = str(path)
    clip = open_clip(path)
    rec = resolve_model(model)
    timer.lap("setup")
    _sweep_stale_work()
    work = tempfile.mkdtemp(prefix=f"{_WORK_PREFIX}{os.getpid()}-")
    face_path = face_video or os.path.join(work, "face.mp4")
    writer = _face_writer(face_path, clip.nominal_fps or 30.0, opts.crf)
    store = _GrayStore(work)
    ok = finished = False
    try:
        p1 = _track(clip, opts, face_opts, spot_opts, writer, store, timer, report_progress, cancel)
        writer.close()
        finished = True
        timer.lap("write")
        n = len(p1.times)
        valid = np.all(np.isfinite(p1.motion), axis=1) if n else np.zeros(0, bool)
        if p1.track.frames_with_face == 0 or not valid.any():
            raise NoFaceError(f"{path}: no face found in any of the {n} frames")
        fps = effective_fps(p1.times)
        dt = float(np.median(np.diff(p1.times))) if n > 1 else (
            1.0 / clip.nominal_fps if clip.nominal_fps > 0 else 0.0)
        duration = float(p1.times[-1] + dt) if n else 0.0
        report_progress("spotting", _PASS1)
        intervals = spot(p1.times, p1.motion, spot_opts) if n > 1 else []
        flat = [iv for iv in intervals if iv.apex == iv.onset]  # no onset->apex motion to classify
        intervals = [iv for iv in intervals if iv.apex != iv.onset]
        timer.lap("spot")
        micro = [iv for iv in intervals if iv.kind == "micro"]
        if micro:
            best = max(micro, key=lambda iv: iv.score)
            rep_index, rep_kind = best.apex, "micro apex"
        else:
            rep_index, rep_kind = int(np.nanargmax(p1.sharp)), "clearest face"
        events, strips, rep = _recognise(face_path, intervals, store, rec, rep_index, opts,
                                         report_progress, cancel)
        timer.lap("recognise")
        rep_event = next((k for k, iv in enumerate(intervals) if micro and iv is best), None)
        images = Images(
            representative=_zoom(rep), representative_s=float(p1.times[rep_index]),
            representative_kind=rep_kind, representative_event=rep_event,
            filmstrips=tuple(Filmstrip(k, s["onset"], s["apex"], s["offset"])
                             for k, s in sorted(strips.items()) if len(s) == 3))
        tr = p1.track
        report = Report(
            source=path, duration_s=duration, fps=fps, frames=n, events=tuple(events),
            warnings=tuple(_warnings(clip, p1, fps, opts, duration) + [
                f"skipped a spotted interval at {iv.onset_s:.2f}-{iv.offset_s:.2f} s whose apex is its "
                "onset frame (no onset-to-apex motion to classify)" for iv in flat]),
            face=FaceSummary(frames_with_face=int(tr.frames_with_face), coverage=float(tr.coverage),
                             max_faces=int(tr.max_faces), chosen=str(tr.chosen),
                             spans=_face_spans(p1.times, valid, dt)),
            model=ModelInfo(name=str(getattr(rec, "name", "")), labels=tuple(rec.labels)),
            images=images, width=clip.width, height=clip.height, rotation=clip.rotation,
            codec=clip.codec, nominal_fps=clip.nominal_fps)
        timer.lap("report")
        report = dataclasses.replace(report, timings_s=dict(timer.s))
        report_progress("done", 1.0)
        ok = True
        return report
    finally:
        if not ok:
            writer.abort()
            if face_video and finished:  # no partial result: the face video goes with the report
                Path(face_video).unlink(missing_ok=True)
        store.close()
        for p in Path(work).glob("*"):
            p.unlink(missing_ok=True)
        os.rmdir(work)


# CLI -------------------------------------------------------------------------------------------
def register(subparsers: Any) -> None:
    """Add ``microlens analyze``."""
    p = subparsers.add_parser(
        "analyze", help="spot and classify micro-expressions in video(s)",
        description="Analyse videos: when did a micro- or macro-expression happen and which emotion was it. "
                    "One video: the report goes to stdout (or -o FILE). Several videos or a folder: one "
                    "report per video into -o DIR plus summary.csv. Exit codes: 0 done (even with no "
                    "events), 1 internal error, 2 bad usage, 3 not a readable video, 4 no face found; "
                    "in batch mode 0 when every video succeeded, else the exit code of the first video "
                    "(in input order) that failed.")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders of videos")
    p.add_argument("--model", default="casme2",
                   help="shipped model name or checkpoint path (default: casme2)")
    p.add_argument("--format", default="json",
                   help="report format: json, csv, vtt or html; a comma list (json,html) writes several "
                        "files when -o is a folder (default: json)")
    p.add_argument("-o", "--output", default=None,
                   help="output file (one video) or folder (several videos; required then)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes in batch mode (default: 1)")
    p.add_argument("--face-video", default=None, metavar="PATH",
                   help="also write the H.264 face-crop video here (one video only)")
    for cls in _OPTION_CLASSES:
        add_options(p, cls)
    p.set_defaults(func=run_cli)


def _formats(spec: str) -> list[str]:
    fmts = [f.strip().lower() for f in spec.split(",") if f.strip()]
    bad = [f for f in fmts if f not in WRITERS]
    if not fmts or bad:
        raise UsageError(f"unknown report format {','.join(bad) or spec!r}; use {', '.join(WRITERS)}")
    return list(dict.fromkeys(fmts))


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
    seen: dict[str, int] = {}
    names = []
    for v in videos:
        stem = Path(v).stem or "video"
        n = seen.get(stem.lower(), 0) + 1
        seen[stem.lower()] = n
        names.append(stem if n == 1 else f"{stem}_{n}")
    return names


def run_cli(args: argparse.Namespace) -> int:
    """``microlens analyze``: one video -> stdout/file; several -> a folder and summary.csv."""
    global QUIET_NATIVE_LOGS
    QUIET_NATIVE_LOGS = os.environ.get("MICROLENS_DEBUG") != "1"
    fmts = _formats(args.format)
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    options = {}
    for cls in _OPTION_CLASSES:
        options.update(dataclasses.asdict(options_from_args(cls, args)))
    split_options(**options)  # validates before any work
    videos, batch = expand_inputs(args.videos)
    if not batch:
        return _run_single(videos[0], args, fmts, options)
    if not args.output:
        raise UsageError("several videos need an output folder: -o DIR")
    if args.face_video:
        raise UsageError("--face-video works with one video only")
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return run_batch(videos, out, fmts, args.model, options, jobs=args.jobs)


def _run_single(video: str, args: argparse.Namespace, fmts: list[str], options: dict[str, Any]) -> int:
    from microlens.cli import progress_bar

    out = Path(args.output) if args.output else None
    to_dir = out is not None and out.is_dir()
    if len(fmts) > 1 and not to_dir:
        raise UsageError("several formats need an output folder: -o DIR")
    if out is not None and not to_dir and not out.parent.exists():
        raise UsageError(f"{out.parent}: output folder does not exist")
    with progress_bar(f"analyze {Path(video).name}") as bar:
        report = analyze(video, model=args.model, progress=bar, face_video=args.face_video, **options)
    for fmt in fmts:
        text = WRITERS[fmt](report)
        if out is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        elif to_dir:
            save_text(out / (Path(video).stem + EXTENSIONS[fmt]), text)
        else:
            save_text(out, text)
    return 0


SUMMARY_FIELDS = ("video", "status", "exit_code", "error", "duration_s", "fps", "frames", "face_coverage",
                  "events", "micro", "macro", "emotion_changes", "micro_ratio_percent", "warnings",
                  "outputs", "elapsed_s")


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
                   micro_ratio_percent=st["micro_ratio_percent"], warnings=" | ".join(report.warnings),
                   outputs=" ".join(written))
    except MicrolensError as e:
        row.update(status="failed", exit_code=e.exit_code, error=str(e))
    except Exception as e:  # noqa: BLE001 - one bad video must not stop the batch
        row.update(status="failed", exit_code=1, error=f"internal error: {type(e).__name__}: {e}")
    row["elapsed_s"] = round(time.perf_counter() - t0, 2)
    return row


def _worker_init() -> None:
    """Batch worker: one thread for torch and OpenCV (the processes already run in parallel)."""
    global QUIET_NATIVE_LOGS
    QUIET_NATIVE_LOGS = os.environ.get("MICROLENS_DEBUG") != "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    cv2.setNumThreads(1)


def run_batch(videos: list[str], out: Path, fmts: list[str], model: str, options: dict[str, Any], *,
              jobs: int = 1) -> int:
    """Analyse ``videos`` into ``out`` (one report per video per format) with ``jobs`` worker
    processes; write ``out/summary.csv``; return 0 when all succeeded, else the exit code of the
    first failed video in input order."""
    from microlens.cli import progress_bar

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
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(final)
    save_text(out / "summary.csv", buf.getvalue())
    failed = [r for r in final if r["status"] != "ok"]
    for r in failed:
        print(f"microlens: {r['video']}: {r['error']}", file=sys.stderr)
    print(f"microlens: {len(final) - len(failed)} of {len(final)} videos analysed; summary: "
          f"{out / 'summary.csv'}", file=sys.stderr)
    return int(failed[0]["exit_code"]) if failed else 0


__all__ = ["AnalyzeOptions", "Cancelled", "analyze", "run", "run_batch", "split_options"]
