"""Real-sized uploads through the real server (``microlens serve``: gunicorn over a socket), not only
the Flask test client: multi-MB videos and binary bodies full of CR/LF bytes are accepted up to
MAX_UPLOAD_MB, and each limit answers with its own message (issue 19)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from media import LARGE_MB, make_large_face
from test_restart import free_port, start_server, wait


def post(port: int, parts: dict[str, tuple[str | None, bytes]]) -> tuple[int, dict[str, Any]]:
    """POST /api/analyses as multipart/form-data over the socket: ``{field: (filename, bytes)}``
    (filename None for a text field). Returns (status, JSON body)."""
    boundary = uuid.uuid4().hex
    body = b""
    for name, (filename, data) in parts.items():
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        ctype = "Content-Type: video/mp4\r\n" if filename else ""
        body += f"--{boundary}\r\nContent-Disposition: {disp}\r\n{ctype}\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/analyses", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def http_only(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real server without a queue worker (nothing is analysed) and MAX_UPLOAD_MB=20."""
    tmp = tmp_path_factory.mktemp("upload-server")
    port = free_port()
    proc = start_server(tmp / "data", port, tmp / "server.log", "--no-worker",
                        env={"MICROLENS_MAX_UPLOAD_MB": "20"})
    yield port, tmp
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def test_multi_mb_video_with_crlf_bytes_is_accepted_over_a_socket(http_only: Any) -> None:
    port, tmp = http_only
    video = make_large_face(tmp / "media").read_bytes()
    assert len(video) >= LARGE_MB * 1e6 and video.count(b"\r\n") > 100
    status, body = post(port, {"file": ("interview.mp4", video)})
    assert status == 202, body
    got = get(port, body["status_url"])
    assert got["filename"] == "interview.mp4" and got["size"] == len(video)


def test_binary_body_that_is_not_a_video_gets_415_not_413(http_only: Any) -> None:
    port, _ = http_only
    junk = bytes(range(256)) * (6 * 4096) + b"\r\n\r\n--" * 1000  # 6 MB of every byte value
    status, body = post(port, {"file": ("junk.mp4", junk)})
    assert status == 415, body
    assert "not a readable video" in body["error"]


def test_each_limit_says_which_limit(http_only: Any) -> None:
    port, tmp = http_only
    # a body over the limit is refused from its declared length, before it is sent (as a client
    # that waits for the answer, e.g. curl with Expect: 100-continue, sees it)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/api/analyses")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(21 * 2**20))
    conn.endheaders()
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 413 and "20 MB" in body["error"], body
    video = make_large_face(tmp / "media").read_bytes()
    status, body = post(port, {"options": (None, b"{" + b" " * (70 * 1024) + b"}"),
                               "file": ("clip.mp4", video)})
    assert status == 413 and "options" in body["error"] and "64 KiB" in body["error"], body


@pytest.mark.slow
def test_multi_mb_upload_is_analysed_by_the_real_server(tmp_path: Path) -> None:
    """With the embedded worker: the multi-MB clip is accepted and its analysis completes."""
    port = free_port()
    proc = start_server(tmp_path / "data", port, tmp_path / "server.log")
    try:
        status, body = post(port, {"file": ("large.mp4", make_large_face(tmp_path).read_bytes())})
        assert status == 202, body
        done = wait(lambda: get(port, body["status_url"])["status"] in ("done", "failed"), 180, "analysis")
        assert done
        final = get(port, body["status_url"])
        assert final["status"] == "done", final.get("error")
        assert final["result"]["source"] == "large.mp4"  # the user's name, not the server path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
