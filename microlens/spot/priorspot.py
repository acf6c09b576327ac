"""Spotting from the expression prior's readings: a face that leaves neutral and returns.

The FER2013 prior (:class:`microlens.recognize.appearance.AppearanceMeter`) reads the face ten times a
second. Where one expression class becomes clear (probability at least ``prior_high`` on
``prior_count`` readings in a row) and stays likely (at least ``prior_low``), the face shows that
expression: the interval runs from just after the last reading under ``prior_low`` before it
(onset) to just before the first one after it (offset); its apex is its most probable reading.
Unlike the motion spotter (:mod:`microlens.spot.spotting`), this needs no neutral frame before the
onset and no baseline window: an expression already on the face in the first frame, a smile held
for seconds and a face that moves are read the same way. Region motion still finds what the
prior does not read (a brief movement on a still face, expressions outside the classes given).

:func:`merge` combines both: a motion interval that overlaps a prior interval at its build-up or
its release (within EDGE_S of its onset or offset) is part of that expression and is dropped; one
that lies well inside it (a brief movement on a face that smiles throughout) is an expression of
its own. The prior interval takes the strongest motion inside it as its score.
"""

from __future__ import annotations

import numpy as np

from microlens.spot.intervals import MICRO_MAX_S, Interval, segments

# the FER2013 classes (raw names, microlens.recognize.expression.FER_CLASSES) whose readings start an
# interval: those of CASME II's fine label set. Its 'fear' and 'angry' are what it reads on many
# neutral or talking faces (nine of ten readings of a talking woman in the development clips), and
# neither is a label the micro model knows; the motion spotter still finds such expressions.
CUE_CLASSES = ("happy", "surprise", "sad", "disgust")
# a motion interval starting or ending this close to a prior interval's onset or offset is its
# build-up or release: as long as the longest micro-expression (a design choice, not fitted)
EDGE_S = MICRO_MAX_S


def cue_runs(t: np.ndarray, p: np.ndarray, high: float, low: float, count: int,
             dip: int = 0) -> list[tuple[int, int, int]]:
    """Runs in one class's readings ``p`` (N,) at times ``t`` (N,): (first, apex, last) reading
    indices of each stretch at or above ``low`` that holds ``count`` readings in a row at or above
    ``high``; two such runs with at most ``dip`` readings under ``low`` between them are one run (a
    held expression that flickers for a reading is one expression)."""
    runs: list[tuple[int, int]] = []
    for a, b in segments(p >= low):
        if any(d - c >= count for c, d in segments(p[a:b] >= high)):
            if runs and a - runs[-1][1] <= dip:
                runs[-1] = (runs[-1][0], b)
            else:
                runs.append((a, b))
    return [(a, a + int(np.argmax(p[a:b])), b - 1) for a, b in runs]


def cue_intervals(times: np.ndarray, cues: np.ndarray, lo: int, high: float, low: float, count: int,
                  talk_near: np.ndarray, dip: int = 0) -> list[Interval]:
    """Intervals of one face segment from the readings ``cues`` (T, K) (NaN rows: not read) at frame
    ``times`` (T,), frame indices offset by ``lo``. The onset is the frame after the last reading under
    ``low`` before each run, the offset the frame before the first one after it (the segment's first
    / last frame where the run reaches it); the apex is
    the most probable reading, never the onset frame while the run has another reading.
    ``talk_near`` (T,) bool marks frames at or near speech; ``dip``: see :func:`cue_runs`."""
    read = np.flatnonzero(np.all(np.isfinite(cues), axis=1))  # (N,) frame rows with a reading
    out: list[Interval] = []
    if len(read) < count:
        return out
    for k in range(cues.shape[1]):
        p = cues[read, k]
        for a, ap, b in cue_runs(times[read], p, high, low, count, dip):
            on = int(read[a - 1]) + 1 if a > 0 else 0
            off = int(read[b + 1]) - 1 if b + 1 < len(read) else len(times) - 1
            if ap == a and b > a and on == int(read[a]):
                ap = a + 1 + int(np.argmax(p[a + 1:b + 1]))
            apex = int(read[ap])
            if apex == on and off > on:  # recognition reads onset -> apex: keep them apart
                apex = on + 1
            t0, t1 = float(times[on]), float(times[off])
            out.append(Interval(lo + on, lo + apex, lo + off, t0, float(times[apex]), t1,
                                "micro" if t1 - t0 <= MICRO_MAX_S else "macro", round(float(p[ap]), 3),
                                bool(talk_near[on:off + 1].any())))
    return sorted(out, key=lambda iv: iv.onset)


def part_of(m: Interval, p: Interval) -> bool:
    """Whether motion interval ``m`` is prior interval ``p``'s build-up or release: it overlaps
    ``p`` and does not lie inside it more than EDGE_S from both its ends."""
    inside = m.onset_s > p.onset_s + EDGE_S and m.offset_s < p.offset_s - EDGE_S
    return m.onset <= p.offset and m.offset >= p.onset and not inside


def merge(prior: list[Interval], motion: list[Interval], strength_at: np.ndarray) -> list[Interval]:
    """Prior intervals and the motion intervals that are part of none of them (:func:`part_of`),
    by onset; each prior interval's score is the strongest motion (``strength_at`` (T,) robust z
    per segment row, rows offset as the intervals' frames) inside it, or of the motion intervals
    it covers."""
    out = []
    for iv in prior:
        covered = [m.score for m in motion if m.onset <= iv.offset and m.offset >= iv.onset]
        inside = strength_at[iv.onset:iv.offset + 1]
        score = max(covered + ([float(np.nanmax(inside))] if np.isfinite(inside).any() else []), default=0.0)
        out.append(Interval(iv.onset, iv.apex, iv.offset, iv.onset_s, iv.apex_s, iv.offset_s, iv.kind,
                            round(score, 3), iv.talking))
    keep = [m for m in motion if not any(part_of(m, p) for p in prior)]
    return sorted(out + keep, key=lambda iv: iv.onset)


def combine(found: list[Interval], times: np.ndarray, lo: int, cues: np.ndarray, gs: np.ndarray,
            gap_s: float, high: float, low: float, count: int, dip: int = 0) -> list[Interval]:
    """The motion intervals ``found`` of one face segment (frame ``times`` (T,), rows from ``lo``)
    merged with the intervals of the prior's readings ``cues`` (T, K) (:func:`merge`);
    ``gs`` (G, 3) is the segment's (grid time, motion strength, talking) from
    :func:`microlens.spot.spotting.strength`, and speech within ``gap_s`` of an interval marks it talking."""
    from scipy import ndimage

    step = float(gs[1, 0] - gs[0, 0]) if len(gs) > 1 else 1.0
    near_talk = ndimage.maximum_filter1d(gs[:, 2], size=2 * int(round(gap_s / step)) + 1)  # (G,)
    near = np.interp(times, gs[:, 0], near_talk) > 0.5  # (T,)
    prior = cue_intervals(times, cues, lo, high, low, count, near, dip)
    if not prior:
        return found
    rows = np.full(lo + len(times), np.nan)
    rows[lo:] = np.interp(times, gs[:, 0], gs[:, 1])
    return merge(prior, found, rows)


__all__ = ["CUE_CLASSES", "EDGE_S", "combine", "cue_intervals", "cue_runs", "merge", "part_of"]
