"""Web limits under pressure: the queue limit holds for parallel uploads, and hostile ``options``
(deep nesting) get a clean 400."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

from test_web import files_under, make_app
from test_web_clips import clip  # noqa: F401  (a fixture)

from microlens.web.context import runtime


def test_parallel_uploads_never_overfill_the_queue(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    """12 uploads at once with MAX_QUEUE=3: exactly 3 are accepted, the rest get 429, and the
    rejected uploads leave no file behind. Nothing consumes the queue, so accepted jobs stay queued."""
    app = make_app(tmp_path, MAX_QUEUE=3)
    body = clip.read_bytes()
    n = 12
    start = threading.Barrier(n)
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def post() -> None:
        c = app.test_client()
        start.wait()
        r = c.post("/api/analyses", data={"file": (io.BytesIO(body), "face.mp4")},
                   content_type="multipart/form-data")
        with lock:
            answers.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=post) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    codes = sorted(code for code, _ in answers)
    assert codes == [202] * 3 + [429] * (n - 3), answers
    assert all("queue is full" in b["error"] for code, b in answers if code == 429)
    store = runtime(app).store
    assert store.count_active() == 3
    accepted = {b["id"] for code, b in answers if code == 202}
    assert files_under(store.root / "uploads") == {f"{i}.video" for i in accepted}
    assert files_under(store.root / "tmp") == set()


def test_store_create_refuses_beyond_max_active(tmp_path: Path) -> None:
    import pytest

    from microlens.web.storage import QueueFull, Store, new_id

    store = Store(tmp_path / "data")
    for _ in range(2):
        store.create(new_id(), filename="v.mp4", size=1, duration_s=1.0, model="m", max_active=2)
    with pytest.raises(QueueFull):
        store.create(new_id(), filename="v.mp4", size=1, duration_s=1.0, model="m", max_active=2)
    assert store.count_active() == 2
    store.create(new_id(), filename="v.mp4", size=1, duration_s=1.0, model="m")  # no limit given
    assert store.count_active() == 3


def test_deeply_nested_options_get_400(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    app = make_app(tmp_path)
    c = app.test_client()
    for text in ("[" * 30000 + "]" * 30000, '{"a":' * 10000 + "1" + "}" * 10000):
        r = c.post("/api/analyses", data={"file": (io.BytesIO(clip.read_bytes()), "face.mp4"),
                                          "options": text}, content_type="multipart/form-data")
        assert r.status_code == 400, r.data[:200]
        err = r.get_json()["error"]
        assert "options" in err and "nested" in err, err
    assert files_under(runtime(app).store.root / "uploads") == set()
    assert json.loads(c.get("/api/analyses").data)["count"] == 0


def test_a_still_image_is_not_a_video(tmp_path: Path) -> None:
    """FFmpeg opens a PNG, a JPEG or a GIF of one frame as a clip; the upload gets 415 (the API
    fuzzing found a 1x1 PNG and a 1x1 GIF queued as analyses)."""
    import cv2
    import numpy as np

    app = make_app(tmp_path)
    c = app.test_client()
    gif = (b"GIF87a\x01\x00\x01\x00\x81\x00\x00" + b"\x00" * 12  # the fuzzer's 1x1 GIF of one frame
           + b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x08\x04\x00\x01\x04\x04\x00;")
    pictures = {".gif": gif}
    for ext in (".png", ".jpg"):
        ok, data = cv2.imencode(ext, np.zeros((64, 64, 3), np.uint8))
        assert ok
        pictures[ext] = data.tobytes()
    for ext, data in pictures.items():
        r = c.post("/api/analyses", data={"file": (io.BytesIO(data), f"face{ext}")},
                   content_type="multipart/form-data")
        assert r.status_code == 415, (ext, r.get_json())
        assert "still image" in r.get_json()["error"]
    assert files_under(runtime(app).store.root / "uploads") == set()


def test_an_animated_gif_is_a_video(tmp_path: Path) -> None:
    """A GIF of several frames stays an upload the server takes (a clip without a face fails in
    the job, with its reason)."""
    import av
    import numpy as np

    path = tmp_path / "moving.gif"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("gif", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "rgb8"
        for k in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * k, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    r = make_app(tmp_path).test_client().post(
        "/api/analyses", data={"file": (io.BytesIO(path.read_bytes()), "moving.gif")},
        content_type="multipart/form-data")
    assert r.status_code == 202, r.get_json()
