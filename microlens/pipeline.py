"""The tracking pass of :mod:`microlens.analyze` (pass 1) as a pipeline of per-frame stages.

Every frame goes through the same stages in order: decode -> face (:class:`~microlens.face.track.FaceTracker`)
-> motion (:class:`~microlens.spot.motion.MotionMeter`) -> appearance (the expression prior,
:class:`~microlens.recognize.appearance.AppearanceMeter`) -> write (the face video and the crop store,
:class:`~microlens.face.store.FaceSink`). Each stage keeps its own state and sees the frames in
order, so the stages can run one after another in the calling thread or, the default, overlapped
in threads (:func:`run_stages`): PyAV, OpenCV, mediapipe and onnxruntime release the GIL, so both
cores of a small machine work at once. The threads are joined by small bounded queues (memory
stays flat whatever the video's length) and every stage still sees every frame in order: the
results are the same either way (tests/test_analyze.py compares them).

The calling thread consumes the pipeline's output: it checks ``cancel()`` and reports progress on
every frame. An exception in any stage stops every thread and is raised in the calling thread.
"""

from __future__ import annotations

import functools
import os
import queue
import sys
import threading
import time
from array import array
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from microlens.face.store import Scratch

Stage = tuple[str, Callable[[Any], Any]]  # (name for the timings, item -> item)
QUEUE_SIZE = 4  # frames waiting between two threads (a 720p frame is 2.8 MB before the face stage)
_POLL_S = 0.05  # how often a blocked thread looks whether the pipeline stopped
_END = object()  # the source is exhausted


class Timer:
    """Accumulates seconds per stage (busy seconds: stages run in threads overlap in time)."""

    def __init__(self) -> None:
        self.s: dict[str, float] = {}
        self._t = time.perf_counter()
        self._lock = threading.Lock()

    def lap(self, stage: str) -> None:
        """Add the seconds since the last lap to ``stage``."""
        now = time.perf_counter()
        self.add(stage, now - self._t)
        self._t = now

    def add(self, stage: str, seconds: float) -> None:
        """Add ``seconds`` to ``stage`` (thread-safe)."""
        with self._lock:
            self.s[stage] = self.s.get(stage, 0.0) + seconds


class _Stop(Exception):
    """The pipeline stopped (another thread failed or the consumer left)."""


class _Link:
    """A bounded queue between two threads that gives up when the pipeline stops."""

    def __init__(self, stop: threading.Event) -> None:
        self.q: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
        self.stop = stop

    def put(self, item: Any) -> None:
        while True:
            try:
                self.q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if self.stop.is_set():
                    raise _Stop from None

    def get(self) -> Any:
        while True:
            try:
                return self.q.get(timeout=_POLL_S)
            except queue.Empty:
                if self.stop.is_set():
                    raise _Stop from None


def _timed(stages: Sequence[Stage], timer: Timer) -> Callable[[Any], Any]:
    """One function applying ``stages`` in order, each one's seconds added to ``timer``."""
    def apply(item: Any) -> Any:
        for name, fn in stages:
            t0 = time.perf_counter()
            item = fn(item)
            timer.add(name, time.perf_counter() - t0)
        return item
    return apply


def _sequential(source: Iterator[Any], groups: Sequence[Sequence[Stage]], timer: Timer) -> Iterator[Any]:
    apply = _timed([s for g in groups for s in g], timer)
    while True:
        t0 = time.perf_counter()
        item = next(source, _END)
        timer.add("decode", time.perf_counter() - t0)
        if item is _END:
            return
        yield apply(item)


def _feed(source: Iterator[Any], out: _Link, timer: Timer) -> None:
    """The decode thread: every item of ``source`` into ``out``, then the end mark."""
    while True:
        t0 = time.perf_counter()
        item = next(source, _END)
        timer.add("decode", time.perf_counter() - t0)
        out.put(item)
        if item is _END:
            return


def _work(stages: Sequence[Stage], timer: Timer, inbox: _Link, out: _Link) -> None:
    """A stage group's thread: each item of ``inbox`` through ``stages`` into ``out``, then the end mark."""
    apply = _timed(stages, timer)
    while (item := inbox.get()) is not _END:
        out.put(apply(item))
    out.put(_END)


def _guarded(fn: Callable[[], None], stop: threading.Event,
             errors: list[BaseException]) -> Callable[[], None]:
    """``fn`` as a thread's target: an exception goes to ``errors`` (for the consumer) and sets ``stop``."""
    def run() -> None:
        try:
            fn()
        except _Stop:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            errors.append(e)
            stop.set()
    return run


def run_stages(source: Iterator[Any], groups: Sequence[Sequence[Stage]], timer: Timer,
               threads: bool = True) -> Generator[Any, None, None]:
    """Each item of ``source`` through every stage of ``groups`` in order; yields the results.

    With ``threads`` the source and each group run in a thread of their own, linked by bounded
    queues; otherwise everything runs in the calling thread. Either way each stage sees the items
    in order. Stage seconds (and the source's, as ``decode``) go to ``timer``. An exception in a
    thread is raised here; closing the generator early (an exception in the consumer) stops and
    joins the threads.
    """
    if not threads:
        yield from _sequential(source, groups, timer)
        return
    stop = threading.Event()
    errors: list[BaseException] = []
    links = [_Link(stop) for _ in range(len(groups) + 1)]  # links[k] feeds group k; links[-1] the consumer
    jobs = {"microlens-decode": functools.partial(_feed, source, links[0], timer)}
    jobs |= {f"microlens-stage{k}": functools.partial(_work, stages, timer, links[k], links[k + 1])
             for k, stages in enumerate(groups)}
    workers = [threading.Thread(target=_guarded(fn, stop, errors), name=name, daemon=True)
               for name, fn in jobs.items()]
    for w in workers:
        w.start()
    try:
        while True:
            try:
                item = links[-1].get()
            except _Stop:
                raise errors[0] from None
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        for w in workers:
            w.join()


# ------------------------------------------------------------------------------ the tracking pass

# the CLI turns this on (microlens.analyze.set_quiet_native_logs): mediapipe's native (TFLite/absl)
# log lines printed while the face models start are kept off stderr
QUIET_NATIVE_LOGS = False
PROGRESS_SHARE = 0.9  # share of the progress bar taken by the tracking pass


@contextmanager
def native_logs_muted(active: bool) -> Iterator[None]:
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


@dataclass
class Pass1:
    """What the tracking pass keeps: small per-frame arrays only."""

    times: np.ndarray  # (T,) float64 seconds
    motion: np.ndarray  # (T, N_FEATURES) float32, NaN rows without a face
    appearance: np.ndarray  # (T, L) float32 expression-prior probabilities, NaN rows where not scored
    appearance_labels: tuple[str, ...]  # (L,) their class names
    sharp: np.ndarray  # (T,) float32 Laplacian variance of the face, NaN without a face
    warnings: list[str]
    track: Any  # microlens.face.track.FaceTrack

    @property
    def face_seen(self) -> np.ndarray:
        """(T,) bool: the frames in which the face was tracked (a finite motion row)."""
        return np.all(np.isfinite(self.motion), axis=1) if len(self.times) else np.zeros(0, bool)


@dataclass
class _Item:
    """One frame on its way through the stages (the decoded image only until the face stage)."""

    index: int  # frame row in the pass
    time_s: float
    frame: Any  # microlens.video.decode.Frame; None once the face is tracked (the image is not kept)
    face: Any = None  # microlens.face.track.FaceFrame or None
    motion: np.ndarray | None = None  # (N_FEATURES,) float32


def _stage_groups(tracker: Any, meter: Any, reader: Any, sink: Any) -> list[list[Stage]]:
    """The per-frame stages, one thread per group: face | motion | appearance and write."""
    def face(it: _Item) -> _Item:
        with native_logs_muted(QUIET_NATIVE_LOGS and it.index < 2):  # the models start lazily
            it.face, it.frame = tracker(it.frame), None
        return it

    def move(it: _Item) -> _Item:
        it.motion = meter(it.face)
        return it

    def read(it: _Item) -> _Item:
        reader(it.index, it.time_s, None if it.face is None else it.face.crop)
        return it

    def write(it: _Item) -> _Item:
        f = it.face
        sink.put(None if f is None else f.crop, it.time_s, None if f is None else f.affine)
        return it

    return [[("face", face)], [("motion", move)], [("appearance", read), ("write", write)]]


def _progress_ticker(clip: Any, window: tuple[float, float] | None,
                     progress: Callable[[str, float], None]) -> Callable[[_Item], None]:
    """``tick(item)`` for every tracked frame, reporting at most every 0.2 s the share of the video
    (or of ``window``) done; a guess rising with the frame count when the duration is unknown."""
    start = window[0] if window else 0.0
    expect = min(clip.duration_s, window[1] if window else np.inf) - start if clip.duration_s > 0 else 0.0
    last_report = 0.0

    def tick(it: _Item) -> None:
        nonlocal last_report
        now = time.monotonic()
        if now - last_report > 0.2:
            last_report = now
            i = it.index
            frac = (it.time_s - start) / expect if expect > 0 else 1.0 - 1.0 / (1.0 + i / 300)
            progress("tracking face", PROGRESS_SHARE * min(frac, 0.99))
    return tick


def _collect(pipe: Iterator[Any], cancel: Callable[[], None],
             tick: Callable[[_Item], None]) -> tuple[np.ndarray, np.ndarray]:
    """Consume the pipeline's items (:class:`_Item`, motion measured) in the calling thread, with
    ``cancel()`` and ``tick`` on every frame: the frame times (T,) float64 and motion rows
    (T, N_FEATURES) float32, gathered in flat typed arrays (12 + 4 * N_FEATURES bytes a frame; a
    list of per-frame floats and arrays took about 3 times that, for the whole video)."""
    times, motion = array("d"), array("f")
    for it in pipe:
        cancel()
        times.append(it.time_s)
        motion.frombytes(np.asarray(it.motion, np.float32).tobytes())
        tick(it)
    return np.frombuffer(times, np.float64), np.frombuffer(motion, np.float32).reshape(len(times), -1)


def track(clip: Any, opts: Any, face_opts: Any, spot_opts: Any, scratch: Scratch, timer: Timer,
          progress: Callable[[str, float], None], cancel: Callable[[], None],
          vocabulary: tuple[str, ...], threads: bool = True,
          window: tuple[float, float] | None = None) -> Pass1:
    """Pass 1: decode, track, measure motion and what the expression prior reads (in the micro
    model's ``vocabulary``); each face crop goes to the scratch storage. ``cancel()`` raises to stop;
    ``threads`` overlaps the stages (same results); ``window`` (start_s, end_s) tracks only that
    time segment of the video (:mod:`microlens.segments`)."""
    from microlens.face.store import FaceSink
    from microlens.face.track import CROP_SIZE, FaceTracker
    from microlens.recognize.appearance import AppearanceMeter
    from microlens.spot.motion import MotionMeter
    from microlens.video.decode import frames

    with native_logs_muted(QUIET_NATIVE_LOGS):
        tracker = FaceTracker(face_opts)
    meter, reader = MotionMeter(spot_opts), AppearanceMeter(vocabulary)
    blank = np.full((CROP_SIZE, CROP_SIZE, 3), 96, np.uint8)  # the face video's frame without a face
    sink = FaceSink(scratch.writer, scratch.store, blank)
    tick = _progress_ticker(clip, window, progress)
    stream = frames(clip, max_side=opts.max_side, window=window)
    groups = _stage_groups(tracker, meter, reader, sink)
    timer.lap("setup")
    pipe = run_stages((_Item(fr.index, fr.time_s, fr) for fr in stream), groups, timer, threads)
    try:
        times, motion = _collect(pipe, cancel, tick)
        timer.lap("track_wall")
        appearance = reader.probs(len(times))  # (T, L), scoring the last batch
        timer.lap("appearance")
        track_summary = tracker.track()
    finally:
        pipe.close()  # stops and joins the threads first
        stream.close()
        tracker.close()
        timer.s["writer_busy"] = sink.busy_s
    return Pass1(times, motion, appearance, reader.labels, np.asarray(sink.sharp, np.float32),
                 list(stream.warnings), track_summary)


__all__ = ["QUEUE_SIZE", "Pass1", "Timer", "native_logs_muted", "run_stages", "track"]
