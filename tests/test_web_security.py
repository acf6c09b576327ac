"""Web security: the ?token= redirect keeps other parameters intact, and the Host and Origin checks
that guard a server without an API token (DNS rebinding, cross-site form posts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from test_web import make_app
from test_web_clips import clip  # noqa: F401  (a fixture)


@pytest.fixture()
def token_client(tmp_path: Path) -> Any:
    return make_app(tmp_path, API_TOKEN="s3cret").test_client()


def test_token_redirect_reencodes_the_other_parameters(token_client: Any) -> None:
    r = token_client.get("/video?token=s3cret&a=x%0D%0Ay&b=1%262&c=%23frag&d=%ED%95%9C&d=2&e=")
    assert r.status_code == 302, r.data[:300]
    location = r.headers["Location"]
    assert "\r" not in location and "\n" not in location and "#" not in location
    assert location.isascii()
    parts = urlsplit(location)
    assert parts.path == "/video"
    assert parse_qs(parts.query, keep_blank_values=True) == {
        "a": ["x\r\ny"], "b": ["1&2"], "c": ["#frag"], "d": ["한", "2"], "e": [""]}
    assert token_client.get(location).status_code == 200  # the cookie carries the token


def test_token_redirect_with_only_the_token_and_odd_paths(token_client: Any) -> None:
    r = token_client.get("/video?token=s3cret")
    assert r.status_code == 302 and r.headers["Location"] == "/video"
    r = token_client.get("/nothing%0D%0ASet-Cookie:%20x=1?token=s3cret&q=%0A")
    assert r.status_code == 302
    location = r.headers["Location"]
    assert "\r" not in location and "\n" not in location
    assert [c.split("=")[0] for c in r.headers.getlist("Set-Cookie")] == ["microlens_token"]
    assert token_client.get(location).status_code == 404


# Host and Origin -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("config", "host", "ok"), [
    ({}, "localhost", True), ({}, "localhost:5000", True), ({}, "127.0.0.1:5000", True),
    ({}, "[::1]:5000", True), ({}, "LOCALHOST.", True),
    ({}, "evil.example", False), ({}, "evil.example:5000", False), ({}, "10.0.0.5", False),
    ({}, "localhost@evil.example", False), ({}, "local host", False),
    ({"BIND_HOST": "192.168.1.20"}, "192.168.1.20:5000", True),
    ({"BIND_HOST": "192.168.1.20"}, "10.0.0.5", False),
    ({"BIND_HOST": "0.0.0.0"}, "10.0.0.5:5000", True), ({"BIND_HOST": "::"}, "[fe80::1]:5000", True),
    ({"BIND_HOST": "0.0.0.0"}, "rebind.evil.example", False),
    ({"ALLOWED_HOSTS": "lab.example, Other.Example"}, "other.example:8080", True),
    ({"ALLOWED_HOSTS": "lab.example"}, "evil.example", False),
    ({"ALLOWED_HOSTS": "*"}, "anything.example", True),
])
def test_host_header_must_name_this_server(tmp_path: Path, config: dict[str, str], host: str,
                                           ok: bool) -> None:
    c = make_app(tmp_path, **config).test_client()
    for path in ("/api/health", "/"):
        r = c.get(path, headers={"Host": host}) if host else c.get(path)
        if ok:
            assert r.status_code == 200, (path, r.data[:200])
        else:
            assert r.status_code == 400, (path, r.data[:200])
            if path.startswith("/api/"):
                assert "host not allowed" in r.get_json()["error"]


def test_allowed_hosts_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROLENS_ALLOWED_HOSTS", "lab.example")
    c = make_app(tmp_path).test_client()
    assert c.get("/api/health", headers={"Host": "lab.example"}).status_code == 200
    assert c.get("/api/health", headers={"Host": "evil.example"}).status_code == 400


def test_cross_origin_state_changes_get_403(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    c = app.test_client()
    aid = "0123456789abcdef01234567"
    for method, path in (("POST", "/api/analyses"), ("DELETE", f"/api/analyses/{aid}"),
                         ("POST", f"/api/analyses/{aid}/cancel"), ("PUT", "/api/analyses"),
                         ("PATCH", "/api/analyses")):
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Origin": "http://localhost:8080"}, {"Sec-Fetch-Site": "cross-site"},
                        {"Sec-Fetch-Site": "same-site"}):
            r = c.open(path, method=method, headers=headers)
            assert r.status_code == 403, (method, path, headers, r.status_code)
            assert "cross-origin" in r.get_json()["error"]
        # same origin, or no Origin at all (curl): the request goes through to the handler
        for headers in ({"Origin": "http://localhost"}, {"Sec-Fetch-Site": "same-origin"},
                        {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}, {}):
            r = c.open(path, method=method, headers=headers)
            assert r.status_code in (400, 404, 405), (method, path, headers, r.status_code)
    # reading stays open to any origin's navigation (the pages link to each other)
    assert c.get("/api/analyses", headers={"Origin": "http://evil.example"}).status_code == 200
    # the WebSocket handshake is checked like a state change
    ws = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": "http://evil.example"}
    assert c.get("/ws/live", headers=ws).status_code == 403


def test_same_origin_upload_still_works(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    import io

    c = make_app(tmp_path).test_client()
    r = c.post("/api/analyses", data={"file": (io.BytesIO(clip.read_bytes()), "face.mp4")},
               content_type="multipart/form-data",
               headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 202, r.get_json()


def test_websocket_from_the_page_connects_and_from_another_site_does_not(tmp_path: Path) -> None:
    """A real server: the webcam page's own Origin opens /ws/live; another site's Origin is refused
    at the handshake."""
    import threading

    import simple_websocket
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, make_app(tmp_path), threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"ws://127.0.0.1:{srv.server_port}/ws/live"
    try:
        ws = simple_websocket.Client.connect(url, headers={"Origin": f"http://127.0.0.1:{srv.server_port}"})
        try:
            assert ws.receive(timeout=60) is not None  # the session answered (status or error)
        finally:
            ws.close()
        with pytest.raises(simple_websocket.ConnectionError):
            simple_websocket.Client.connect(url, headers={"Origin": "http://evil.example"})
    finally:
        srv.shutdown()


def test_serve_passes_its_bound_address_to_the_host_check(tmp_path: Path) -> None:
    import argparse

    from microlens.web import serve

    p = argparse.ArgumentParser()
    serve.add_arguments(p)
    cfg = serve._config(p.parse_args(["--host", "192.168.1.20"]))
    assert cfg["BIND_HOST"] == "192.168.1.20"
    c = make_app(tmp_path, **cfg).test_client()
    assert c.get("/api/health", headers={"Host": "192.168.1.20:5000"}).status_code == 200
    assert c.get("/api/health", headers={"Host": "192.168.1.21:5000"}).status_code == 400


def test_a_plain_get_of_the_websocket_is_a_clear_400(tmp_path: Path) -> None:
    r = make_app(tmp_path).test_client().get("/ws/live")
    assert r.status_code == 400 and "WebSocket" in r.get_json()["error"]
