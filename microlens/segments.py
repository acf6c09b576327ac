"""One long video across several workers: overlapping time segments analysed apart, then merged.

:func:`plan` cuts a video into ``parts`` time segments. Each segment *owns* a part of the video
(the parts tile it) and is *read* with ``overlap_s`` more on each side: at least the spotting
baseline window (``SpotOptions.baseline_s``, 10 s), so the running-median baseline, the motion
meter's key frames and the face tracker's smoothing have settled when the segment's own part
begins. Boundaries fall on whole seconds where the expression prior's reading rhythm (one face per
0.1 s) is in step with a whole run, so per-second readings are the same.

:func:`analyze_segment` analyses one segment (:func:`microlens.analyze.run` with a time window:
the video is sought to the key frame before it, times stay the whole video's); any process or
machine can run it, e.g. a queue worker. :func:`merge` makes one report: the events whose onset
lies in a segment's own part, that part's per-second readings, face spans and talking spans; the
statistics and the emotion-change log are derived from those over the whole video. One caveat: the
spotter's noise scale is the median over what a segment reads, so an event at the very threshold
may differ from a whole run; the test (tests/test_segments.py) compares a merged report with a
single run. :func:`analyze_segmented` runs the segments in local worker processes.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from microlens.errors import NoFaceError, UsageError
from microlens.recognize.event import Event
from microlens.report.types import Filmstrip, Images, Report

READ_EVERY_S = 0.1  # microlens.recognize.appearance.AppearanceMeter's every_s: one face read per 0.1 s


@dataclass(frozen=True)
class Segment:
    """One time segment: its own part [start_s, end_s) and what is read, [read_start_s, read_end_s)."""

    index: int
    start_s: float
    end_s: float  # math.inf for the last segment
    read_start_s: float
    read_end_s: float  # math.inf for the last segment


def _unit(fps: float) -> float:
    """Seconds between possible boundaries: whole seconds whose first frame the expression prior
    reads in a whole run too (at 25 fps it reads every 3rd frame: every 3 s)."""
    every = max(1, math.ceil((READ_EVERY_S - 1e-6) * fps))  # frames between two readings
    for m in range(1, 61):
        if round(m * fps) % every == 0:
            return float(m)
    return 1.0


def plan(duration_s: float, fps: float, parts: int, overlap_s: float | None = None) -> list[Segment]:
    """``parts`` segments of a video of ``duration_s`` seconds at ``fps`` frames a second, read with
    ``overlap_s`` (default and at least the spotting baseline window) on each side."""
    from microlens.spot.options import SpotOptions

    if parts < 1:
        raise UsageError(f"parts must be at least 1, got {parts}")
    least = SpotOptions().baseline_s
    if overlap_s is not None and overlap_s < least:
        raise UsageError(f"the overlap must be at least the spotting baseline window ({least:g} s)")
    overlap, unit = overlap_s or least, _unit(fps)
    cuts = sorted({round(duration_s * i / parts / unit) * unit for i in range(1, parts)} - {0.0})
    bounds = [0.0, *[c for c in cuts if c < duration_s], math.inf]
    return [Segment(i, a, b, max(0.0, math.floor((a - overlap) / unit) * unit), b + overlap)
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]


def analyze_segment(path: str, segment: Segment, model: Any = "casme2", **options: Any) -> Report | None:
    """The report of what ``segment`` reads of the video at ``path`` (times are the video's), or None
    when no face is in it. ``options`` as for :func:`microlens.analyze.analyze`."""
    from microlens.analyze import run, split_options

    opts, face_opts, spot_opts = split_options(**options)
    try:
        return run(path, model, opts, face_opts, spot_opts,
                   window=(segment.read_start_s, segment.read_end_s))
    except NoFaceError:
        return None


def _own(spans: Sequence[tuple[float, float]], seg: Segment) -> list[tuple[float, float]]:
    """``spans`` clipped to the segment's own part."""
    return [(max(a, seg.start_s), min(b, seg.end_s)) for a, b in spans if b > seg.start_s and a < seg.end_s]


def _joined(spans: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1e-6:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


def _events(parts: Sequence[tuple[Segment, Report]], fps: float) -> tuple[list[Event], list[Filmstrip]]:
    """The events with their onset in their segment's own part (frame indices counted from the
    video's first frame) and their filmstrips, re-numbered."""
    events: list[Event] = []
    strips: list[Filmstrip] = []
    for seg, r in parts:
        by_event = {f.event: f for f in r.images.filmstrips}
        for k, e in enumerate(r.events):
            if not seg.start_s - 1e-6 <= e.start_s < seg.end_s - 1e-6:
                continue
            shift = round(e.start_s * fps) - e.onset_frame  # the segment's first frame in the video
            if k in by_event:
                strips.append(dataclasses.replace(by_event[k], event=len(events)))
            events.append(dataclasses.replace(e, onset_frame=e.onset_frame + shift,
                                              apex_frame=e.apex_frame + shift,
                                              offset_frame=e.offset_frame + shift))
    return events, strips


def _images(parts: Sequence[tuple[Segment, Report]], events: list[Event], strips: list[Filmstrip]) -> Images:
    """The representative face: the strongest micro apex kept (as a whole run picks it), else the
    first segment's clearest face."""
    best = max((k for k, e in enumerate(events) if e.kind == "micro"), key=lambda k: events[k].score,
               default=None)
    for _seg, r in parts:
        i = r.images
        event = None if i.representative_event is None else r.events[i.representative_event]
        if best is not None and event is not None and event.start_s == events[best].start_s:
            return dataclasses.replace(i, representative_event=best, filmstrips=tuple(strips))
    first = parts[0][1].images
    return dataclasses.replace(first, representative_event=None, filmstrips=tuple(strips),
                               representative_kind="clearest face")


def merge(parts: Sequence[tuple[Segment, Report | None]]) -> Report:
    """One report of the whole video from its segments' reports (None: no face in that segment)."""
    from microlens.face.track import describe_choice

    done = [(s, r) for s, r in parts if r is not None]
    if not done:
        raise NoFaceError("no face found in any segment of the video")
    first, last = done[0][1], done[-1][1]
    fps = first.fps
    duration = last.duration_s
    frames = int(round(duration * fps))
    events, strips = _events(done, fps)
    spans = _joined([x for s, r in done for x in _own(r.face.spans, s)])
    with_face = min(frames, int(round(sum(b - a for a, b in spans) * fps)))
    max_faces = max(r.face.max_faces for _, r in done)
    choice = first.settings.get("face", {}).get("face", "largest")
    face = dataclasses.replace(first.face, frames_with_face=with_face, coverage=with_face / max(frames, 1),
                               max_faces=max_faces, spans=spans, chosen=describe_choice(choice, max_faces))
    timings: dict[str, float] = {}
    for _, r in done:
        for k, v in r.timings_s.items():
            timings[k] = timings.get(k, 0.0) + v
    warnings = list(dict.fromkeys(w for _, r in done for w in r.warnings))
    return dataclasses.replace(
        first, duration_s=duration, frames=frames, events=tuple(events), warnings=tuple(warnings),
        face=face, images=_images(done, events, strips), timings_s=timings,
        appearance=tuple(a for s, r in done for a in r.appearance if s.start_s <= a.second < s.end_s),
        talking=_joined([x for s, r in done for x in _own(r.talking, s)]),
        **_signals(done))


def _signals(done: Sequence[tuple[Segment, Report]]) -> dict[str, Any]:
    """The reports' downsampled signal series (where reports carry them), each point from the
    segment owning its time."""
    sigs: list[Any] = [getattr(r, "signals", None) for _, r in done]
    if not sigs or any(s is None for s in sigs):
        return {"signals": None} if sigs and hasattr(done[0][1], "signals") else {}
    keep = [[k for k, t in enumerate(s.times) if seg.start_s <= t < seg.end_s]
            for (seg, _), s in zip(done, sigs, strict=True)]
    series = ("times", "motion", "prior", "prior_class")
    cat = {f: tuple(getattr(s, f)[k] for s, ks in zip(sigs, keep, strict=True) for k in ks) for f in series}
    return {"signals": dataclasses.replace(sigs[0], **cat,
                                           frames_per_point=max(s.frames_per_point for s in sigs))}


def _pinned(cores: list[int] | None) -> None:
    """Worker process start: hold it to ``cores`` (None: any) and keep torch to one thread."""
    import torch

    if cores:
        os.sched_setaffinity(0, cores)
    torch.set_num_threads(1)


def _job(path: str, seg: Segment, model: str, options: dict[str, Any]) -> Report | None:
    return analyze_segment(path, seg, model, **options)


def analyze_segmented(path: str, parts: int, workers: int, model: str = "casme2",
                      overlap_s: float | None = None, cores: list[list[int]] | None = None,
                      **options: Any) -> Report:
    """Analyse the video at ``path`` as ``parts`` overlapping segments in ``workers`` local processes
    (``cores``: the CPUs each worker is held to, e.g. [[0], [1]]) and merge them (:func:`merge`).
    A queue of workers on several machines does the same with :func:`plan`,
    :func:`analyze_segment` and :func:`merge`."""
    from microlens.video.decode import open_clip

    clip = open_clip(path)
    segs = plan(clip.duration_s, clip.nominal_fps or 30.0, parts, overlap_s)
    ctx = get_context("spawn")  # mediapipe is not fork-safe
    pools = [ProcessPoolExecutor(1, mp_context=ctx, initializer=_pinned,
                                 initargs=(cores[w] if cores else None,)) for w in range(workers)]
    try:
        futures = [pools[s.index % workers].submit(_job, path, s, model, options) for s in segs]
        return merge([(s, f.result()) for s, f in zip(segs, futures, strict=True)])
    finally:
        for p in pools:
            p.shutdown(cancel_futures=True)


__all__ = ["Segment", "analyze_segment", "analyze_segmented", "merge", "plan"]
