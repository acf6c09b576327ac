"""The spotting stage's options (:class:`SpotOptions`), in seconds so results do not depend on
the frame rate."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from microlens.errors import UsageError
from microlens.options import option


@dataclass(frozen=True)
class SpotOptions:
    """Spotting parameters, in seconds so results do not depend on the frame rate."""

    # the optical-flow key frame is renewed this often; motion is chained across key frames
    key_s: float = option(0.5, "optical-flow key frame renewal period, seconds")
    # a key frame is only renewed when no region moved more than calm_px over this window
    calm_s: float = option(0.15, "window of the calm test before a key-frame renewal, seconds")
    # ... this many crop pixels (a displacement, not a time)
    calm_px: float = option(0.3, "largest region motion over calm_s for a key-frame renewal, crop px")
    # landmarks placing the regions are smoothed over this time constant
    landmark_smooth_s: float = option(0.5, "landmark smoothing time constant, seconds")
    # the neutral baseline of each region is the running median over this window
    baseline_s: float = option(10.0, "running-median baseline window, seconds")
    # with per-frame neutral probabilities, frames at least this probably neutral are "at rest" (a
    # confident reading: faces the prior finds ambiguous, neutral 0.3-0.6, must not make the baseline)
    rest_prob: float = option(0.8, "neutral probability from which a frame is at rest (baseline)")
    # ... and the baseline is their median where the window holds this much rest, else all frames'
    rest_min_s: float = option(0.3, "least rest time in a baseline window to use only rest frames, seconds")
    # ... and (given per-frame expression readings) where at least this share of the window's faces
    # shows an expression: the median of all frames only breaks down once an expression fills more
    # than half of the window (its breakdown point); below that, a few still moments of a moving,
    # talking face would make a baseline and a noise scale far too small. 0: wherever rest is enough
    rest_expressive: float = option(0.5, "share of expressive faces in a baseline window from which only "
                                    "its rest frames make the baseline (0: always)")
    # the combined signal is smoothed by a Gaussian of this sigma
    smooth_s: float = option(0.03, "signal smoothing (Gaussian sigma), seconds")
    # a peak must reach this many robust noise units (MAD) above the baseline
    peak_z: float = option(6.0, "expression peak threshold, robust z units")
    # onset/offset: where the signal falls back to this fraction of the peak
    edge_fraction: float = option(0.5, "onset/offset level, fraction of the peak")
    # ... but never below this z level
    edge_z: float = option(3.0, "lowest onset/offset level, robust z units")
    # noise below this displacement (crop px) is not trusted (still, clean videos)
    noise_floor_px: float = option(0.04, "smallest noise scale, crop pixels")
    # blink: eye regions move this many times more than the brows; brows are then ignored
    blink_ratio: float = option(2.0, "eye/brow motion ratio that marks a blink")
    # the blink mask is widened by this much on each side
    blink_pad_s: float = option(0.1, "blink mask widening, seconds")
    # a jaw swing (lower lip and chin, up or down) counts when it is at least this large
    talk_px: float = option(1.5, "smallest jaw swing counted as talking, crop px")
    # talking: at least this many jaw swings, each within talk_gap_s of the previous one
    talk_swings: int = option(4, "jaw swings that make a talking span")
    # longest pause between jaw swings inside one talking span
    talk_gap_s: float = option(0.6, "longest gap between jaw swings while talking, seconds")
    # the talking mask is widened by this much on each side
    talk_pad_s: float = option(0.3, "talking mask widening, seconds")
    # intervals closer than this are merged
    merge_gap_s: float = option(0.06, "merge intervals closer than this, seconds")
    # shortest interval kept
    min_duration_s: float = option(0.08, "shortest interval kept, seconds")
    # longest interval kept (longer ones are drifts, not expressions)
    max_duration_s: float = option(6.0, "longest motion interval kept, seconds")
    # the expression prior's readings (microlens.spot.priorspot): a class this probable on prior_count
    # readings in a row starts an interval, which lasts while the class stays at least prior_low
    prior_high: float = option(0.8, "expression-prior probability that starts an interval")
    prior_low: float = option(0.5, "expression-prior probability that an interval keeps")
    prior_count: int = option(2, "readings in a row at prior_high that start an interval (0: the "
                              "prior's readings start none)")
    # ... and a run that drops under prior_low for this many readings in a row, then comes back, is
    # one interval (a held smile that flickers for a reading is one expression)
    prior_dip: int = option(1, "readings under prior_low in a row that do not end an interval")

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                raise UsageError(f"spotting option {f.name} must be a finite number, got {v!r}")
            if v < 0 or (v == 0 and f.name not in ("smooth_s", "blink_pad_s", "talk_pad_s", "merge_gap_s",
                                                   "min_duration_s", "noise_floor_px", "rest_expressive",
                                                   "prior_count", "prior_dip")):
                raise UsageError(f"spotting option {f.name} must be positive, got {v!r}")
        if not 0 < self.rest_prob <= 1:
            raise UsageError(f"rest_prob must be in (0, 1], got {self.rest_prob}")
        if self.rest_expressive > 1:
            raise UsageError(f"rest_expressive must be in [0, 1], got {self.rest_expressive}")
        if not 0 < self.edge_fraction < 1:
            raise UsageError(f"edge_fraction must be in (0, 1), got {self.edge_fraction}")
        if self.min_duration_s >= self.max_duration_s:
            raise UsageError("min_duration_s must be smaller than max_duration_s")
        if self.edge_z >= self.peak_z:
            raise UsageError("edge_z must be smaller than peak_z")
        if not 0 < self.prior_low < self.prior_high <= 1 or self.prior_count != int(self.prior_count) \
                or self.prior_dip != int(self.prior_dip):
            raise UsageError("need 0 < prior_low < prior_high <= 1 and a whole prior_count and prior_dip")
