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

from microlens.web import runtime


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
