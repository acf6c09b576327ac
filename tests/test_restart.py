"""Restart test: the real server (``microlens serve``: gunicorn + embedded Huey worker) is killed with
SIGKILL in the middle of a job, started again, and every job completes; SIGTERM stops it cleanly.
Runs the real analysis pipeline."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_web_clips import face_clip

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data: Path, port: int, log: Path, *args: str, env: dict[str, str] | None = None
                 ) -> subprocess.Popen:
    """``microlens serve --port PORT ARGS`` on DATA, logging to LOG, once /api/health answers."""
    env = {**os.environ, "MICROLENS_DATA_DIR": str(data), "PYTHONPATH": str(REPO), "MICROLENS_WORKERS": "1",
           **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "microlens", "serve", "--port", str(port), *args], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        try:
            get(port, "/api/health")
            return proc
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not start")


def get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def post_video(port: int, path: Path) -> Any:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: video/mp4\r\n\r\n")
    body = head.encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/analyses", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 202
        return json.loads(r.read())


def wait(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_killed_server_finishes_jobs_after_restart(tmp_path: Path) -> None:
    clip = face_clip(tmp_path / "long.mp4", seconds=12.0, fps=30.0, micro_at=(2.0, 6.0, 9.0))
    data, log = tmp_path / "data", tmp_path / "server.log"
    port = free_port()
    proc = start_server(data, port, log)
    try:
        first = post_video(port, clip)["id"]
        second = post_video(port, clip)["id"]  # one worker thread: this one waits in the queue
        wait(lambda: (s := get(port, f"/api/analyses/{first}"))["status"] == "running"
             and s["progress"] > 0.02, 120, "the first job to be running")
        assert get(port, f"/api/analyses/{second}")["status"] == "queued"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no clean-up at all: as a power cut would
        proc.wait(timeout=10)
    port = free_port()
    proc = start_server(data, port, log)
    try:
        for aid in (first, second):
            s = wait(lambda aid=aid: (s := get(port, f"/api/analyses/{aid}"))["status"] in
                     ("done", "failed", "cancelled") and s, 300, f"job {aid}")
            assert s["status"] == "done", s.get("error")
            assert s["result"]["frames"] > 300
        listed = get(port, "/api/analyses")
        assert {a["id"] for a in listed["analyses"]} == {first, second}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "resumed" in log.read_text() or "re-enqueued" in log.read_text()
