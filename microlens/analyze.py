"""Stages 4-5 glue: one video -> a :class:`~microlens.report.types.Report` (``analyze``).

:func:`run` reads top to bottom: open the video, track, spot, recognise, build the report. Two
streaming passes keep memory flat whatever the video's length:

1. **track** (:func:`microlens.pipeline.track`): decode -> :class:`~microlens.face.track.FaceTracker` ->
   :class:`~microlens.spot.motion.MotionMeter` -> the expression prior, the stages overlapped in
   threads (``pipeline_threads``; the same results one after another). The aligned face crops go
   to the per-video scratch storage (:mod:`microlens.face.store`): an H.264 face video (the web
   results page shows it; a temporary file unless the caller asks for one) and a lossless crop
   store on disk (the gray flow inputs and the recognisers' apex inputs). Only small per-frame
   arrays stay in memory: times, motion features, a sharpness score (and the tracker's face boxes).
2. :func:`~microlens.spot.spotting.spot` cuts the intervals; **recognise**
   (:func:`microlens.recognize.classify.recognise`): the face video is decoded once more, each interval is
   classified at its apex from the apex input and the onset->apex flow, and the filmstrip crops and
   the representative face frame are picked.

Callers (the web app) get progress as ``progress(stage, fraction)`` with the overall fraction in
0..1, can stop the work with ``cancel() -> bool`` (checked on every frame; raises
:class:`Cancelled`) and can keep the face video with ``face_video=PATH``. Batch runs live in
:mod:`microlens.cli.batch`, the ``microlens analyze`` command in :mod:`microlens.cli.analyze`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import cv2
import numpy as np

from microlens import pipeline
from microlens.errors import MicrolensError, NoFaceError, UsageError
from microlens.face.track import FaceOptions
from microlens.options import check_numbers, option
from microlens.pipeline import PROGRESS_SHARE as _PASS1
from microlens.pipeline import Pass1 as _Pass1
from microlens.pipeline import Timer as _Timer
from microlens.pipeline import track as _track  # a module name benchmarks/recall.py can wrap
from microlens.report.types import FaceSummary, Filmstrip, Images, Reading, Report
from microlens.spot.options import SpotOptions

if TYPE_CHECKING:
    from microlens.face.store import Scratch
    from microlens.recognize.classify import Recognised
    from microlens.recognize.event import Event
    from microlens.recognize.recognizer import Recognizer
    from microlens.report.signals import Signals
    from microlens.spot.intervals import Interval

Progress = Callable[[str, float], None]  # (stage, overall fraction done 0..1)
Cancel = Callable[[], bool]  # True when the caller wants the analysis to stop

STRONG_LOW_FPS = 15.0  # below this the fps warning says spotting is unreliable
# the CLI turns this on (set_quiet_native_logs): mediapipe's native (TFLite/absl) log lines printed
# while the face models start are kept off stderr; a library call never touches the process's stderr
QUIET_NATIVE_LOGS = False


def set_quiet_native_logs(quiet: bool) -> None:
    """Keep (True) or stop keeping native log lines of the face models off stderr (the CLI's choice)."""
    global QUIET_NATIVE_LOGS
    QUIET_NATIVE_LOGS = pipeline.QUIET_NATIVE_LOGS = quiet


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
    # who labels macro-expressions (over 0.5 s): the full-expression prior, or the micro model
    macro_recognizer: str = option(
        "fer2013", "recogniser of macro-expressions: fer2013 (full-expression prior) or micro (the "
        "micro-expression model, as before)", choices=("fer2013", "micro"))
    # label an event 'uncertain' when its calibrated confidence is below the recogniser's threshold
    abstain: bool = option(True, "label low-confidence events 'uncertain' instead of guessing")
    # a micro-expression spotted while the person talks is labelled 'uncertain': the micro model reads
    # the whole face's onset->apex flow, the lab data it learnt from has no speech, and lip
    # articulation (p, b, m) looks like a lip press ('repression')
    talking_abstain: bool = option(True, "label micro-expressions spotted while the person talks "
                                   "'uncertain' (the micro model never saw speech)")
    # spotting baseline on the frames the expression prior reads as neutral (it scores 10 faces a
    # second in any case, for the report's state between events)
    neutral_baseline: bool = option(
        True, "put the spotting baseline on frames the expression prior reads as neutral, so an "
        "expression filling most of a short clip is still spotted")

    def __post_init__(self) -> None:
        check_numbers(self)
        if self.max_side < 64:
            raise UsageError(f"max_side must be at least 64, got {self.max_side}")
        if not 0 <= self.crf <= 51:
            raise UsageError(f"crf must be in 0..51, got {self.crf}")
        if not 0 <= self.min_coverage <= 1:
            raise UsageError(f"min_coverage must be in 0..1, got {self.min_coverage}")
        if self.thumb_size < 16 or self.max_filmstrips < 0:
            raise UsageError("thumb_size must be >= 16 and max_filmstrips >= 0")


OPTION_CLASSES: tuple[type, ...] = (AnalyzeOptions, FaceOptions, SpotOptions)


def split_options(**options: Any) -> tuple[AnalyzeOptions, FaceOptions, SpotOptions]:
    """Route flat keyword options onto the three option dataclasses (field names are unique)."""
    parts: list[dict[str, Any]] = [{}, {}, {}]
    for key, value in options.items():
        for i, cls in enumerate(OPTION_CLASSES):
            if key in {f.name for f in dataclasses.fields(cls)}:
                parts[i][key] = value
                break
        else:
            known = sorted(f.name for c in OPTION_CLASSES for f in dataclasses.fields(c))
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
        from microlens.recognize.recognizer import load_model

        _MODELS[model] = load_model(model)
    return _MODELS[model]


def analyze(path: str, model: str | Recognizer = "casme2", progress: Progress | None = None,
            cancel: Cancel | None = None, face_video: str | None = None, work_dir: str | None = None,
            source_name: str | None = None, pipeline_threads: bool = True, **options: Any) -> Report:
    """Analyse one video: track the face, spot micro- and macro-expressions, classify each.

    ``model``: a shipped model name, a checkpoint path or a loaded Recognizer. ``progress(stage,
    fraction)`` receives the overall fraction done (0..1); ``cancel()`` returning True stops the
    work with :class:`Cancelled`; ``face_video`` is a path where the H.264 video of the aligned face
    crops (synchronised with the source: same frame times, gray frames where no face) is kept;
    ``work_dir`` is where the temporary work folder goes (default: the system temp folder);
    ``source_name`` is the name to show for the video (the report's ``source``, the HTML title,
    error messages) instead of ``path`` (the web app's uploads live under server paths);
    ``pipeline_threads`` False runs the tracking pass's stages one after another in the calling
    thread instead of overlapped in threads (the same report, slower).
    ``options`` are fields of AnalyzeOptions, FaceOptions or SpotOptions. Raises VideoError (not a
    readable video), NoFaceError (no face in any frame) and UsageError (bad options).
    """
    opts, face_opts, spot_opts = split_options(**options)
    try:
        return run(path, model, opts, face_opts, spot_opts, progress=progress, cancel=cancel,
                   face_video=face_video, work_dir=work_dir, source_name=source_name,
                   pipeline_threads=pipeline_threads)
    except MicrolensError as e:
        if not source_name or str(path) not in str(e):
            raise
        raise type(e)(str(e).replace(str(path), source_name)) from None


def _check_cancel(cancel: Cancel | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("the analysis was cancelled")


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


def _warnings(clip: Any, p1: _Pass1, fps: float, opts: AnalyzeOptions, duration: float,
              flat: list[Interval]) -> list[str]:
    """What the report warns about: decoding, frame rate, length, face coverage, several faces, and
    the ``flat`` intervals skipped (apex on the onset frame)."""
    from microlens.video.decode import fps_warning

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
    return out + [f"skipped a spotted interval at {iv.onset_s:.2f}-{iv.offset_s:.2f} s whose apex is its "
                  "onset frame (no onset-to-apex motion to classify)" for iv in flat]


def _no_face(name: str, n: int, choice: str, seen: int) -> MicrolensError:
    """Why no face was analysed: none in the video (NoFaceError), or the face number ``choice``
    asked for does not exist while ``seen`` faces were (UsageError, naming the valid numbers)."""
    from microlens.face.track import MAX_FACES

    if choice.strip().isdigit() and seen > 0:
        count = f"at least {seen} faces were" if seen >= MAX_FACES else (
            "1 face was" if seen == 1 else f"{seen} faces were")
        valid = "0" if seen == 1 else f"0 to {seen - 1}"
        return UsageError(f"{name}: there is no face {int(choice)}: {count} found in one frame "
                          f"(numbered by size, 0 = largest); use --face {valid}, largest or central")
    return NoFaceError(f"{name}: no face found in any of the {n} frames")


def _zoom(crop: np.ndarray | None) -> np.ndarray | None:
    """The representative face, zoomed: the central 85% of the aligned crop at twice its size."""
    if crop is None:
        return None
    h, w = crop.shape[:2]
    m = int(round(0.075 * min(h, w)))
    inner = crop[m:h - m, m:w - m]
    return cv2.resize(inner, (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)


def _images(found: Recognised, times: np.ndarray, intervals: list[Interval], best: Interval | None,
            rep_index: int) -> Images:
    """The report's pictures: the zoomed representative face and the complete filmstrips."""
    return Images(
        representative=_zoom(found.representative), representative_s=float(times[rep_index]),
        representative_kind="micro apex" if best is not None else "clearest face",
        representative_event=next((k for k, iv in enumerate(intervals) if iv is best), None),
        filmstrips=tuple(Filmstrip(k, s["onset"], s["apex"], s["offset"])
                         for k, s in sorted(found.filmstrips.items()) if len(s) == 3))


def lossless_apex_size(rec: Recognizer) -> int:
    """The side of the apex inputs to keep losslessly while tracking: the recognisers' common input
    side when both read the apex as :func:`microlens.recognize.models.apex_input` does without equalisation
    (an area resize first: a stored resized crop then gives exactly the input the full crop would),
    else 0 (the apex crops are read back from the face video)."""
    from microlens.recognize.expression import INPUT_SIZE

    prep = rec.preprocessing
    return INPUT_SIZE if prep["apex_size"] == INPUT_SIZE and prep["equalization"] == "none" else 0


class _Spotted(NamedTuple):  # what spotting found
    intervals: list[Interval]  # to classify
    flat: list[Interval]  # skipped: the apex is the onset (no onset->apex motion to classify)
    talking: tuple[tuple[float, float], ...]  # (start_s, end_s) spans in which the person talks
    signals: Signals | None  # the motion strength and the prior's reading over time (None under 2 frames)


def _spot(p1: _Pass1, opts: AnalyzeOptions, spot_opts: SpotOptions) -> _Spotted:
    """Spot the intervals in the motion features (T, N_FEATURES) and the expression prior's
    readings (T, L), which start intervals too (:mod:`microlens.spot.priorspot`)."""
    from microlens.recognize.appearance import cues, expressive, neutral_probability
    from microlens.report.signals import build as build_signals
    from microlens.spot.spotting import spot_talking

    neutral = shown = None
    if opts.neutral_baseline:  # (T,) each: the prior's neutral probability, an expression read or not
        neutral = neutral_probability(p1.appearance, p1.appearance_labels)
        shown = expressive(p1.appearance, p1.appearance_labels)
    intervals, talking = (spot_talking(p1.times, p1.motion, spot_opts, neutral, shown,
                                       cues(p1.appearance)) if len(p1.times) > 1 else ([], ()))
    flat = [iv for iv in intervals if iv.apex == iv.onset]
    intervals = [iv for iv in intervals if iv.apex != iv.onset]
    signals = build_signals(p1.times, p1.motion, spot_opts, neutral, shown, p1.appearance,
                            p1.appearance_labels) if len(p1.times) > 1 else None
    return _Spotted(intervals, flat, talking, signals)


def _recognise(p1: _Pass1, intervals: list[Interval], scratch: Scratch, rec: Recognizer,
               opts: AnalyzeOptions, cancel: Cancel | None, progress: Progress) -> tuple[list[Event], Images]:
    """The events (each interval classified at its apex from the face video and the crop store) and the
    pictures; the representative frame is the strongest micro apex (without one, the sharpest face)."""
    from microlens.recognize.classify import recognise

    best = max((iv for iv in intervals if iv.kind == "micro"), key=lambda iv: iv.score, default=None)
    rep_index = best.apex if best is not None else int(np.nanargmax(p1.sharp))

    def tick(frac: float) -> None:
        _check_cancel(cancel)
        progress("recognising", _PASS1 + 0.08 * frac)

    found = recognise(scratch.face_path, intervals, scratch.store, rec, rep_index,
                      thumb_size=opts.thumb_size, max_filmstrips=opts.max_filmstrips, tick=tick,
                      macro=opts.macro_recognizer, abstain=opts.abstain, talking_abstain=opts.talking_abstain)
    return found.events, _images(found, p1.times, intervals, best, rep_index)


def _report(source: str, created: str, clip: Any, p1: _Pass1, spotted: _Spotted, events: list[Event],
            images: Images, rec: Recognizer,
            options: tuple[AnalyzeOptions, FaceOptions, SpotOptions]) -> Report:
    """The report (timings aside) of what the stages found in the frames read (T >= 1)."""
    from microlens.provenance import model_info, settings
    from microlens.recognize.appearance import read_seconds
    from microlens.version import __version__
    from microlens.video.decode import effective_fps

    opts, tr, n = options[0], p1.track, len(p1.times)
    fps = effective_fps(p1.times)
    dt = float(np.median(np.diff(p1.times))) if n > 1 else (
        1.0 / clip.nominal_fps if clip.nominal_fps > 0 else 0.0)
    duration = float(p1.times[-1] + dt) if n else 0.0
    return Report(
        source=source, duration_s=duration, fps=fps, frames=n, events=tuple(events),
        warnings=tuple(_warnings(clip, p1, fps, opts, duration, spotted.flat)),
        face=FaceSummary(frames_with_face=int(tr.frames_with_face), coverage=float(tr.coverage),
                         max_faces=int(tr.max_faces), chosen=str(tr.chosen),
                         spans=_face_spans(p1.times, p1.face_seen, dt)),
        model=model_info(rec, opts),
        appearance=tuple(Reading(k, lab, p) for k, (lab, p) in sorted(read_seconds(
            p1.times, p1.appearance, p1.appearance_labels, talking=spotted.talking).items())),
        images=images,
        width=clip.width, height=clip.height, rotation=clip.rotation, codec=clip.codec,
        nominal_fps=clip.nominal_fps, talking=spotted.talking, version=__version__, created=created,
        signals=spotted.signals, settings=settings(*options))


def run(path: str, model: str | Recognizer, opts: AnalyzeOptions, face_opts: FaceOptions,
        spot_opts: SpotOptions, *, progress: Progress | None = None, cancel: Cancel | None = None,
        face_video: str | None = None, work_dir: str | None = None,
        source_name: str | None = None, pipeline_threads: bool = True,
        window: tuple[float, float] | None = None) -> Report:
    """:func:`analyze` with the option dataclasses already built; ``window`` (start_s, end_s)
    analyses only that time segment (times stay the video's; :mod:`microlens.segments`)."""
    import microlens.recognize.classify  # noqa: F401 - the stages load before the clock starts
    import microlens.spot.spotting  # noqa: F401 - (scipy: most of a second)
    from microlens.face.store import Scratch
    from microlens.provenance import utc_now
    from microlens.video.decode import open_clip

    report_progress: Progress = progress or (lambda stage, frac: None)
    timer, created = _Timer(), utc_now()
    report_progress("opening", 0.0)
    path = str(path)
    clip = open_clip(path)
    rec = resolve_model(model)
    timer.lap("setup")
    scratch = Scratch(face_video, clip.nominal_fps or 30.0, opts.crf, lossless_apex_size(rec), work_dir)
    ok = False
    try:
        # video -> face: decode, track, motion; the face crops go to the scratch storage
        p1 = _track(clip, opts, face_opts, spot_opts, scratch, timer, report_progress,
                    lambda: _check_cancel(cancel), tuple(rec.labels), pipeline_threads, window)
        scratch.finish_video()
        timer.lap("write")
        if p1.track.frames_with_face == 0 or not p1.face_seen.any():
            raise _no_face(path, len(p1.times), face_opts.face, p1.track.max_faces)
        # spot: intervals, without those whose apex is the onset
        report_progress("spotting", _PASS1)
        spotted = _spot(p1, opts, spot_opts)
        timer.lap("spot")
        # recognise: every interval at its apex; the strongest micro apex is the representative frame
        events, images = _recognise(p1, spotted.intervals, scratch, rec, opts, cancel, report_progress)
        timer.lap("recognise")
        # report
        report = _report(source_name or path, created, clip, p1, spotted, events, images, rec,
                         (opts, face_opts, spot_opts))
        timer.lap("report")
        report = dataclasses.replace(report, timings_s=dict(timer.s))
        report_progress("done", 1.0)
        ok = True
        return report
    finally:
        scratch.close(ok)


__all__ = ["AnalyzeOptions", "Cancelled", "analyze", "run", "split_options"]
