"""One video across several workers (microlens.segments): the plan's overlapping segments, and a
merged report of segments analysed apart against a single run of the same video (same events
within one frame, same labels, the per-second readings)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_cli_analyze import model_name  # noqa: F401 - the shared model fixture

from microlens.analyze import analyze
from microlens.errors import UsageError
from microlens.segments import analyze_segment, merge, plan


def test_plan_tiles_the_video_with_overlap() -> None:
    segs = plan(100.0, 30.0, 3)
    assert [s.start_s for s in segs] == [0.0, 33.0, 67.0] and segs[-1].end_s == math.inf
    assert all(a.end_s == b.start_s for a, b in zip(segs, segs[1:], strict=False))
    assert all(s.start_s - s.read_start_s >= 10 or s.read_start_s == 0 for s in segs)
    assert all(s.read_end_s - s.end_s >= 10 for s in segs[:-1]) and segs[-1].read_end_s == math.inf
    assert [s.start_s for s in plan(100.0, 25.0, 2)] == [0.0, 51.0]  # every 3 s at 25 fps
    assert len(plan(5.0, 30.0, 1)) == 1
    with pytest.raises(UsageError, match="baseline window"):
        plan(100.0, 30.0, 2, overlap_s=2.0)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from speed import make_clip  # the speed benchmark's clip: an expression every few seconds

    return make_clip(tmp_path_factory.mktemp("seg") / "clip.mp4", width=320, height=240, seconds=36.0,
                     every_s=4.0)


@pytest.fixture(scope="module")
def runs(long_clip: Path, model_name: str):  # noqa: ANN201, F811
    """A single run and the merged run of two segments (the motion spotter alone: the expression
    prior reads this astronaut as happy throughout, one interval over the whole clip)."""
    single = analyze(str(long_clip), model=model_name, prior_count=0)
    segs = plan(single.duration_s, single.fps, 2)
    merged = merge([(s, analyze_segment(str(long_clip), s, model_name, prior_count=0)) for s in segs])
    return single, merged, segs


def test_window_decodes_the_same_frames(long_clip: Path) -> None:
    from microlens.video.decode import frames, open_clip

    clip = open_clip(str(long_clip))
    whole = [(f.time_s, f.image) for f in frames(clip) if 20.0 <= f.time_s + 1e-6 < 25.0]
    part = [(f.time_s, f.image) for f in frames(clip, window=(20.0, 25.0))]
    assert len(part) == len(whole) == 150
    assert all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(part, whole, strict=True))


def test_merged_report_covers_the_video(runs) -> None:  # noqa: ANN001
    """Frames, duration, face spans and the per-second readings of the merged report are the single
    run's; each event comes from the segment owning its onset, with frame indices of the video."""
    single, merged, segs = runs
    assert merged.frames == single.frames and merged.duration_s == pytest.approx(single.duration_s)
    assert np.allclose(merged.face.spans, single.face.spans)
    assert merged.face.frames_with_face == single.face.frames_with_face
    readings = [(r.second, r.label) for r in single.appearance]
    assert [(r.second, r.label) for r in merged.appearance] == readings
    assert merged.events and [e.start_s for e in merged.events] == sorted(e.start_s for e in merged.events)
    for e in merged.events:
        assert e.onset_frame == round(e.start_s * single.fps) and e.apex_frame >= e.onset_frame


@pytest.mark.xfail(strict=True, reason="the spotter's noise scale (MAD) and the expression prior's "
                   "share are taken over all a segment reads (microlens.spot.spotting.strength), not over a "
                   "local window: events near the threshold differ from a single run (issue 22)")
def test_merged_events_equal_a_single_run(runs) -> None:  # noqa: ANN001
    single, merged, _ = runs
    assert len(merged.events) == len(single.events)
    for a, b in zip(merged.events, single.events, strict=True):
        assert (a.kind, a.label) == (b.kind, b.label)
        for t in ("start_s", "apex_s", "end_s"):
            assert abs(getattr(a, t) - getattr(b, t)) <= 1 / single.fps + 1e-6
