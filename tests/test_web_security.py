"""Web security: the ?token= redirect keeps other parameters intact, and the Host and Origin checks
that guard a server without an API token (DNS rebinding, cross-site form posts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from test_web import make_app


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
