"""The analyze pipeline through its Python API: options, end to end on a synthetic clip with a known
micro-expression, progress, cancel, the face video, and the real webcam clip."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from test_cli_analyze import model_name  # noqa: F401 - the shared model fixture

from microlens.analyze import (
    OPTION_CLASSES,
    AnalyzeOptions,
    Cancelled,
    _face_spans,
    analyze,
    split_options,
)
from microlens.cli.batch import expand_inputs
from microlens.errors import UsageError
from microlens.face.track import FaceOptions
from microlens.science import synthetic as sy
from microlens.spot.options import SpotOptions

FPS = 30.0
MICRO = (1.6, 0.3)  # injected micro smile: start, duration (s)


def write_micro_clip(path: Path, seconds: float = 3.5, width: int = 480, height: int = 360) -> Path:
    """The astronaut with sensor noise and one 0.3 s smile (mouth corners up and out) at 1.6 s."""
    scene = sy.astronaut_scene(width, height, face_width=height / 2.6)
    fw = height / 2.6
    rng = np.random.default_rng(0)
    t0, d = MICRO

    def frames():
        for i in range(int(seconds * FPS)):
            t = i / FPS
            img = scene.image
            if t0 <= t <= t0 + d:
                a = float(np.sin(np.pi * (t - t0) / d))
                amp, r = 0.03 * fw * a, 0.07 * fw
                f = (sy.bump(img.shape[:2], scene.points["mouth_left"], r, -0.5 * amp, -amp)
                     + sy.bump(img.shape[:2], scene.points["mouth_right"], r, 0.5 * amp, -amp))
                img = sy.warp(img, f)
            yield np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)

    sy.write_video(str(path), frames(), FPS)
    return path


@pytest.fixture(scope="module")
def micro_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_micro_clip(tmp_path_factory.mktemp("clip") / "astronaut micro <1>.mp4")


def test_option_names_are_unique_and_free() -> None:
    names = [f.name for cls in OPTION_CLASSES for f in dataclasses.fields(cls)]
    assert len(names) == len(set(names))  # flat kwargs and CLI flags map one-to-one
    assert not set(names) & {"videos", "model", "format", "output", "jobs", "face_video", "progress",
                             "cancel", "path", "command", "func"}
    for cls in OPTION_CLASSES:  # every field documented
        assert all(f.metadata.get("help") for f in dataclasses.fields(cls))


def test_split_options() -> None:
    spot_field = dataclasses.fields(SpotOptions)[0]  # whatever spotting's first option is
    value = spot_field.default * 2
    a, f, s = split_options(max_side=640, face="central", **{spot_field.name: value})
    assert a == AnalyzeOptions(max_side=640) and f == FaceOptions(face="central")
    assert s == SpotOptions(**{spot_field.name: value})
    with pytest.raises(UsageError, match="unknown analyze option 'nope'"):
        split_options(nope=1)
    with pytest.raises(UsageError):
        split_options(crf=99)
    with pytest.raises(UsageError):
        split_options(**{spot_field.name: -1.0})


@pytest.mark.parametrize("bad", [{"max_side": float("nan")}, {"crf": 14.5}, {"min_coverage": float("inf")},
                                 {"thumb_size": True}, {"min_confidence": float("nan")}, {"margin": 1.5},
                                 {"min_confidence": -0.1}])
def test_every_numeric_option_is_checked(bad: dict) -> None:
    """NaN, infinity, a bool or a fraction for a whole number, and face options out of range are
    usage errors at the Python API too (issue 19)."""
    with pytest.raises(UsageError, match=next(iter(bad))):
        split_options(**bad)


def test_face_spans() -> None:
    t = np.arange(10) / 10.0
    valid = np.array([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], bool)
    spans = _face_spans(t, valid, 0.1)
    assert np.allclose(np.array(spans), [[0.0, 0.3], [0.5, 1.0]])
    assert _face_spans(t, np.zeros(10, bool), 0.1) == ()


def test_expand_inputs(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.mp4", "a.webm", "notes.txt", "sub/c.MOV"):
        (tmp_path / name).write_bytes(b"x")
    vids, batch = expand_inputs([str(tmp_path)])
    assert batch and [Path(v).name for v in vids] == ["a.webm", "b.mp4", "c.MOV"]
    assert expand_inputs(["one.mp4"]) == (["one.mp4"], False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no video files"):
        expand_inputs([str(tmp_path / "empty")])


def _leftovers() -> set[str]:
    """This process's work folders (other processes on the machine may be analysing too)."""
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"microlens-work-{os.getpid()}-*")}


def test_stale_work_folders_are_swept(micro_clip: Path, model_name: str) -> None:  # noqa: F811
    """A work folder left by a killed process (dead pid) is removed by the next analysis."""
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # a pid that no longer runs
    stale = Path(tempfile.gettempdir()) / f"microlens-work-{p.pid}-x"
    stale.mkdir(exist_ok=True)
    (stale / "microlens-gray-x.bin").write_bytes(b"0" * 100)
    analyze(str(micro_clip), model=model_name, max_filmstrips=0)
    assert not stale.exists()


def test_end_to_end_micro(micro_clip: Path, tmp_path: Path, model_name: str) -> None:  # noqa: F811
    before = _leftovers()
    calls: list[tuple[str, float]] = []
    face_video = tmp_path / "face.mp4"
    report = analyze(str(micro_clip), model=model_name, progress=lambda s, f: calls.append((s, f)),
                     face_video=str(face_video))
    d = report.to_dict()
    assert d["frames"] == int(3.5 * FPS) and d["fps"] == pytest.approx(FPS, abs=0.1)
    assert d["face"]["coverage"] >= 0.95
    labels = d["model"]["labels"]
    t0, dur = MICRO
    # the astronaut smiles throughout (the prior's interval, issue 20); the injected smile inside it
    # is a micro-expression of its own
    hits = [e for e in d["events"] if e["start_s"] < t0 + dur and e["end_s"] > t0 and e["kind"] == "micro"]
    assert hits, f"the injected micro smile at {t0}-{t0 + dur} s was not found: {d['events']}"
    ev = hits[0]
    assert ev["kind"] == "micro" and ev["label"] in labels
    assert sum(ev["probs"].values()) == pytest.approx(1.0, abs=1e-3)
    assert ev["confidence"] == pytest.approx(max(ev["probs"].values()), abs=1e-4)
    assert t0 - 0.1 <= ev["apex_s"] <= t0 + dur + 0.1
    assert d["stats"]["micro_count"] >= 1 and d["representative"]["kind"] == "micro apex"
    assert report.images.representative is not None and report.images.filmstrips
    # progress: overall fraction, never backwards, ends at 1
    fracs = [f for _, f in calls]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0
    # the face video is synchronised with the source: one frame per source frame
    from microlens.video.decode import frames, open_clip

    got = [f.time_s for f in frames(open_clip(str(face_video)))]
    assert len(got) == d["frames"] and got[-1] == pytest.approx(d["duration_s"] - 1 / FPS, abs=0.02)
    assert _leftovers() <= before  # temporary files removed


def test_same_video_same_events(micro_clip: Path, model_name: str) -> None:  # noqa: F811
    """Two analyses of one video give identical events, confidences included: the recognisers read
    their apex inputs from the lossless crop store, not from the H.264 face video (whose bytes the
    bundled libx264 does not always reproduce)."""
    first = analyze(str(micro_clip), model=model_name).events
    assert first and analyze(str(micro_clip), model=model_name).events == first


def _comparable(report) -> dict:  # noqa: ANN001
    """A report's dict without what differs between two runs of one video (time taken, when made)."""
    d = report.to_dict()
    for key in ("timings_s", "created_utc"):
        d.pop(key, None)
    return d


def test_threaded_pass_equals_sequential(micro_clip: Path, model_name: str) -> None:  # noqa: F811
    """The tracking pass overlapped in threads (the default) and run one stage after another give
    the same report: events (onset, apex, offset, labels, probabilities) and everything else."""
    seq = analyze(str(micro_clip), model=model_name, pipeline_threads=False)
    thr = analyze(str(micro_clip), model=model_name)
    assert seq.events and thr.events == seq.events
    assert [e.label for e in thr.events] == [e.label for e in seq.events]
    assert thr.appearance == seq.appearance and thr.face == seq.face and thr.talking == seq.talking
    assert _comparable(thr) == _comparable(seq)
    assert {"face", "motion", "appearance", "write", "decode"} <= set(thr.timings_s)


@pytest.mark.parametrize("threads", [True, False])
def test_failing_stage_leaves_nothing(micro_clip: Path, tmp_path: Path, model_name: str,  # noqa: F811
                                      monkeypatch: pytest.MonkeyPatch, threads: bool) -> None:
    """An error inside a stage (here the motion meter, in its own thread) reaches the caller as it
    is, stops the other threads without a hang and leaves no partial output."""
    import threading

    from microlens.spot.motion import MotionMeter

    calls = {"n": 0}
    real = MotionMeter.__call__

    def failing(self, face):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] > 25:
            raise RuntimeError("motion meter failed")
        return real(self, face)

    monkeypatch.setattr(MotionMeter, "__call__", failing)
    before = _leftovers()
    face_video = tmp_path / "face.mp4"
    with pytest.raises(RuntimeError, match="motion meter failed"):
        analyze(str(micro_clip), model=model_name, face_video=str(face_video), pipeline_threads=threads)
    assert list(tmp_path.iterdir()) == [] and _leftovers() <= before
    assert not [t for t in threading.enumerate() if t.name.startswith("microlens-")]


def test_public_api_twice(tmp_path: Path, model_name: str) -> None:  # noqa: F811
    """``microlens.analyze(...)`` keeps working after the submodule of the same name is imported."""
    import microlens

    path = tmp_path / "still.mp4"
    sy.write_video(str(path), [sy.astronaut_scene(320, 240, face_width=100).image] * 4, FPS)
    for _ in range(2):
        report = microlens.analyze(str(path), model=model_name)
        assert report.frames == 4 and report.face.frames_with_face == 4
        assert report.images.representative_kind == "clearest face"


def test_cancel_leaves_nothing(micro_clip: Path, tmp_path: Path, model_name: str) -> None:  # noqa: F811
    before = _leftovers()
    n = {"calls": 0}

    def cancel() -> bool:
        n["calls"] += 1
        return n["calls"] > 20

    face_video = tmp_path / "face.mp4"
    with pytest.raises(Cancelled):
        analyze(str(micro_clip), model=model_name, cancel=cancel, face_video=str(face_video))
    assert list(tmp_path.iterdir()) == []  # neither the face video nor a partial file
    assert _leftovers() <= before


@pytest.mark.shared
def test_real_webcam_clip(shared_data: Path, model_name: str) -> None:  # noqa: F811
    clip = shared_data / "videos" / "kphotoalbum-demo-movie.avi"
    if not clip.is_file():
        pytest.skip(f"{clip} is absent")
    report = analyze(str(clip), model=model_name)
    assert report.face.coverage >= 0.95, report.warnings
    assert report.frames > 0 and report.fps > 0
    if report.fps < 25:
        assert any("frame rate" in w for w in report.warnings)
    assert report.to_dict()["timeline"]


def test_two_faces_says_which(tmp_path: Path, model_name: str) -> None:  # noqa: F811
    """Two faces side by side: the report warns and names the face analysed; --face picks another."""
    big = sy.astronaut_scene(320, 240, face_width=110).image
    small = sy.astronaut_scene(320, 240, face_width=70).image
    frame = np.hstack([small, big])  # (240, 640, 3): the larger face on the right
    path = tmp_path / "two.mp4"
    sy.write_video(str(path), [frame] * 20, FPS)
    report = analyze(str(path), model=model_name)
    assert report.face.max_faces == 2 and report.face.coverage >= 0.9
    assert any("2 faces" in w and report.face.chosen in w for w in report.warnings)
    x0, _, x1, _ = (float(v) for v in np.nanmedian(_boxes_of(str(path), "largest"), axis=0))
    assert (x0 + x1) / 2 > 320  # the largest face is the right one
    x0, _, x1, _ = (float(v) for v in np.nanmedian(_boxes_of(str(path), "1"), axis=0))
    assert (x0 + x1) / 2 < 320  # the second by size is the left one


def _boxes_of(path: str, face: str) -> np.ndarray:
    from microlens.face.track import FaceTracker
    from microlens.video.decode import frames, open_clip

    tracker = FaceTracker(FaceOptions(face=face))
    try:
        for fr in frames(open_clip(path)):
            tracker(fr)
        return tracker.track().boxes
    finally:
        tracker.close()
