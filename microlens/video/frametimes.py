"""Frame times from decoded timestamps, repaired where they cannot be right.

:class:`FrameClock` turns each decoded frame's presentation time into its time in seconds from the
first frame. Real timestamps are kept (variable frame rates stay variable), except where a frame's
time repeats or goes back, which no real recording does:

* a **repeated** (or missing) timestamp: the frame is placed one nominal frame period after the
  previous frame. A file whose frames all carry one time is so laid out at the nominal frame rate
  instead of being squeezed into a few milliseconds.
* a **backward jump** (two recordings joined, e.g. MPEG-TS files concatenated, whose clocks both
  start at 0): the later frames keep their own spacing and continue one frame period after the
  frame before the jump.

Both are counted, and :meth:`FrameClock.warnings` says what was done, for the report.
"""

from __future__ import annotations

import math


class FrameClock:
    """Call with each frame's decoded time in seconds (None when it has none), in decode order; get
    its time from the first frame, strictly increasing. ``step``: the nominal frame period (s);
    ``from_header``: whether it is the header's frame rate (else a default); ``origin``: the decoded
    time of the video's first frame when decoding starts later in the video (a time segment)."""

    def __init__(self, step: float, from_header: bool = True, origin: float | None = None) -> None:
        self.step = step
        self.from_header = from_header
        self.frames = 0  # frames timed so far
        self.repeated = 0  # frames whose timestamp repeated (or lacked) and was replaced
        self.jumps: list[tuple[int, float, float]] = []  # (frame index, time before, time after) per jump
        self._t0: float | None = origin  # the first decoded time
        self._offset = 0.0  # added to decoded times after backward jumps
        self._mapped = -math.inf  # the previous frame's decoded time, offset (before any repair)
        self.last = -math.inf  # the previous frame's time as given out

    def __call__(self, raw: float | None) -> float:
        """The time of the next frame, whose decoded presentation time is ``raw`` seconds."""
        if raw is None or not math.isfinite(raw):
            t = self._repeat()
        else:
            if self._t0 is None:
                self._t0 = raw
            mapped = raw - self._t0 + self._offset
            if mapped < self._mapped - 0.5 * self.step:  # the clock went back: joined recordings
                t = self.last + self.step
                self.jumps.append((self.frames, self._mapped, mapped))
                self._offset += t - mapped
                mapped = t
            elif mapped <= self.last:  # a repeated timestamp
                t = self._repeat()
            else:
                t = mapped
            self._mapped = mapped
        self.last = t
        self.frames += 1
        return t

    def _repeat(self) -> float:
        """One step after the previous frame (the first frame is at 0)."""
        if self.frames == 0:
            return 0.0
        self.repeated += 1
        return self.last + self.step

    def warnings(self) -> list[str]:
        """What was repaired, in words for the report (empty when the timestamps were sound)."""
        fps = 1.0 / self.step
        rate = f"the header's {fps:.2f} fps" if self.from_header else (
            f"{fps:.2f} fps (the header gives no usable frame rate)")
        out = []
        if self.frames > 1 and self.repeated >= self.frames - 1:
            out.append(f"the frame timestamps are unusable (all {self.frames} frames carry the same "
                       f"time): the frames are placed at {rate}")
        elif self.repeated:
            out.append(f"{self.repeated} of {self.frames} frames repeat the previous frame's timestamp "
                       f"(or have none): each was placed one frame (1/{fps:.2f} s) after the previous one")
        for index, before, after in self.jumps[:3]:
            out.append(f"the timestamps jump back by {before - after:.2f} s at frame {index} (joined "
                       f"recordings?): the frames after it continue one frame (1/{fps:.2f} s) after "
                       "the frame before it")
        if len(self.jumps) > 3:
            out.append(f"... and {len(self.jumps) - 3} more backward jumps of the timestamps")
        return out
