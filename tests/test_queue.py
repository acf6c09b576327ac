"""Queue tests: Huey with SQLite storage (the embedded default) and with a real redis-server when one
is on PATH (started on a free loopback port for the test, stopped after).

The jobs run in a real Huey consumer (threads). The quick analyzer (test_web_clips) keeps them fast;
what is tested here is the queue: delivery, status, recovery after a crash, no duplicate runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web_clips import clip, quick_analyzer  # noqa: F401  (clip is a fixture)

from microlens.web import heap, jobs
from microlens.web.jobs import run_analysis
from microlens.web.queue import Queue
from microlens.web.settings import load_settings
from microlens.web.storage import Store, new_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not on PATH: Redis queue tests skipped")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def make_queue(tmp_path: Path, url: str = "", **kw: Any) -> Queue:
    settings = load_settings({"DATA_DIR": str(tmp_path / "data"), "QUEUE_URL": url, "WORKERS": 2})
    q = Queue(settings, Store(settings.data_dir), kw.pop("analyzer", quick_analyzer()), lambda n: n)
    q.huey.flush()
    return q


def add(q: Queue, clip_path: Path, enqueue: bool = True) -> str:  # noqa: F811
    aid = new_id()
    shutil.copy(clip_path, q.store.upload_path(aid))
    q.store.create(aid, filename="face.mp4", size=1, duration_s=3.0, model="m")
    if enqueue:
        q.enqueue(aid)
    return aid


def wait_for(q: Queue, ids: list[str], timeout: float = 60) -> dict[str, str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = {i: q.store.get(i).status for i in ids}  # type: ignore[union-attr]
        if all(s in ("done", "failed", "cancelled") for s in states.values()):
            return states
        time.sleep(0.05)
    raise AssertionError(f"jobs did not finish: {states}")


def run_consumer_until_done(q: Queue, ids: list[str]) -> dict[str, str]:
    consumer = q.consumer(workers=2)
    consumer.start()
    try:
        return wait_for(q, ids)
    finally:
        consumer.stop(graceful=True)


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return ""
    return str(request.getfixturevalue("redis_url"))


def test_consumer_runs_jobs_to_done(tmp_path: Path, clip: Path, queue_url: str) -> None:  # noqa: F811
    q = make_queue(tmp_path, queue_url)
    assert q.kind == ("redis" if queue_url else "sqlite")
    ids = [add(q, clip) for _ in range(3)]
    assert q.pending_ids() == set(ids) and q.backlog() == 3
    states = run_consumer_until_done(q, ids)
    assert set(states.values()) == {"done"}
    for i in ids:
        a = q.store.get(i)
        assert a is not None and a.progress == 1.0 and a.attempts == 1
        assert (q.store.result_dir(i) / "report.json").is_file()
    assert q.backlog() == 0


def test_recover_requeues_lost_jobs_without_duplicates(tmp_path: Path, clip: Path,  # noqa: F811
                                                       queue_url: str) -> None:
    q = make_queue(tmp_path, queue_url)
    waiting = add(q, clip)  # still in the queue storage: must not be enqueued twice
    lost = add(q, clip, enqueue=False)  # queued in the database but missing from the queue
    crashed = add(q, clip, enqueue=False)  # a worker died while running it
    q.store.update(crashed, status="running", worker=f"{socket.gethostname()}:999999", progress=0.4)
    done = add(q, clip, enqueue=False)
    q.store.update(done, status="done")
    redo = q.recover()
    assert set(redo) == {lost, crashed}
    assert q.pending_ids() == {waiting, lost, crashed} and q.backlog() == 3
    assert q.store.get(crashed).status == "queued"  # type: ignore[union-attr]
    states = run_consumer_until_done(q, [waiting, lost, crashed])
    assert set(states.values()) == {"done"}
    assert q.store.get(done).status == "done"  # type: ignore[union-attr]


def test_live_worker_on_this_host_is_left_alone(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    q = make_queue(tmp_path)
    aid = add(q, clip, enqueue=False)
    q.store.update(aid, status="running", worker=f"{socket.gethostname()}:{os.getppid()}")
    assert q.recover() == []


def test_a_job_enqueued_twice_runs_once(tmp_path: Path, clip: Path, queue_url: str) -> None:  # noqa: F811
    calls = []
    quick = quick_analyzer()

    def counting(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        return quick(*a, **kw)

    q = make_queue(tmp_path, queue_url, analyzer=counting)
    aid = add(q, clip)
    q.enqueue(aid)
    assert q.drain() == 2
    assert len(calls) == 1 and q.store.get(aid).status == "done"  # type: ignore[union-attr]


def test_shutdown_hands_the_running_job_back(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    q = make_queue(tmp_path)
    aid = add(q, clip, enqueue=False)
    q.stopping.set()  # as on SIGTERM: the job's cancel check sees it
    status = run_analysis(q.store, aid, analyzer=quick_analyzer(delay_s=0.001), loader=lambda n: n,
                          stopping=q.stopping)
    assert status == "queued" and q.store.get(aid).status == "queued"  # type: ignore[union-attr]
    q.stopping.clear()
    assert q.recover() == [aid]
    q.drain()
    assert q.store.get(aid).status == "done"  # type: ignore[union-attr]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_trim_heap_gives_freed_heap_pages_back() -> None:
    """What keeps the server's memory flat from job to job (benchmarks/load.py): heap pages freed
    behind a live block stay in the process until trim_heap hands them back."""
    if heap._load_libc() is None or not Path("/proc/self/status").exists():
        pytest.skip("not glibc on Linux")
    blocks = [bytes(100_000) for _ in range(2000)]  # 200 MB of heap blocks (under the mmap threshold)
    keep = blocks[-1]  # a live block at the heap's top: free() alone cannot shrink the heap
    del blocks
    before = _rss_mb()
    assert heap.trim_heap()
    assert before - _rss_mb() > 50, "the freed pages stayed in the process"
    assert len(keep) == 100_000


def test_every_job_ends_with_trim_heap(tmp_path: Path, clip: Path,  # noqa: F811
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []
    monkeypatch.setattr(jobs, "trim_heap", lambda: trims.append(1) or True)
    q = make_queue(tmp_path)
    ok, bad = add(q, clip, enqueue=False), add(q, clip, enqueue=False)

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("boom")

    assert run_analysis(q.store, ok, analyzer=quick_analyzer(), loader=lambda n: n) == "done"
    assert run_analysis(q.store, bad, analyzer=broken, loader=lambda n: n) == "failed"
    assert len(trims) == 2


def test_unknown_queue_scheme(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), "QUEUE_URL": "amqp://x"})
    with pytest.raises(ValueError, match="unsupported"):
        Queue(settings, Store(tmp_path))
