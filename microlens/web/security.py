"""Security: Content-Security-Policy and other headers, the optional API token, request bodies kept
inside the data directory."""

from __future__ import annotations

import hmac
import tempfile
from typing import IO, Any
from urllib.parse import quote, urlencode

from flask import Flask, Request, current_app, g, redirect, request
from werkzeug.exceptions import Unauthorized
from werkzeug.wrappers import Response

from microlens.web.forms import UploadFormParser

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
TOKEN_COOKIE = "microlens_token"
_OPEN = ("/static/", "/api/health", "/api/openapi.json", "/favicon.ico")


class DataDirRequest(Request):
    """Multipart bodies spill to temporary files inside DATA_DIR/tmp, never elsewhere; file parts are
    parsed by :class:`~microlens.web.forms.UploadFormParser` (only text fields have a small limit)."""

    form_data_parser_class = UploadFormParser

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        from microlens.web.context import runtime

        return tempfile.TemporaryFile("wb+", dir=runtime(current_app).store.tmp_dir())


def _given_token() -> str:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return (request.headers.get("X-API-Token") or request.args.get("token")
            or request.cookies.get(TOKEN_COOKIE) or "")


def _without_token() -> str:
    """This request's path and query without ``token``, re-encoded: the other parameters keep every
    value (repeated ones too) and their CR/LF, '&', '#' or non-ASCII characters stay escaped."""
    query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
    path = quote(request.script_root + request.path)
    return path + (f"?{query}" if query else "")


def init(app: Flask) -> None:
    """Register the Host and Origin checks (hosts.py), the token check and the security headers."""
    from microlens.web import hosts
    from microlens.web.context import runtime

    hosts.init(app, runtime(app).settings)
    token = runtime(app).settings.api_token

    @app.before_request
    def _check_token() -> Any:
        g.csp = CSP
        if not token or request.path.startswith(_OPEN):
            return None
        given = _given_token()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("a valid API token is required (Authorization: Bearer TOKEN, or ?token= "
                               "once in the browser)")
        if request.args.get("token") and request.method == "GET" and not request.path.startswith("/api/"):
            # a page opened with ?token=: remember it in a cookie and drop it from the address bar
            resp = redirect(_without_token())
            resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
            return resp
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", getattr(g, "csp", CSP))
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        resp.headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
        return resp
