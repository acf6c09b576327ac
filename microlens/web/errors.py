"""Error handlers: JSON ``{error}`` for the API, a plain page for the site, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from microlens.errors import MicrolensError
from microlens.web.forms import FieldTooLarge

log = logging.getLogger("microlens.web")


class ApiError(Exception):
    """An error answer with a status, a message and optional headers (e.g. Retry-After)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/ws/")) or request.accept_mimetypes.best == "application/json"


def _answer(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    if _wants_json():
        resp = jsonify(error=message, status=status)
    else:
        resp = _page(render_template("error.html", status=status, message=message))
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _page(html: str) -> Any:
    from flask import make_response

    return make_response(html)


def init(app: Flask) -> None:
    """Register handlers for every HTTP error and every exception."""

    @app.errorhandler(ApiError)
    def _api(e: ApiError) -> Any:
        return _answer(e.status, e.message, e.headers)

    @app.errorhandler(MicrolensError)
    def _ours(e: MicrolensError) -> Any:
        status = e.http_status if 400 <= e.http_status < 600 else 500
        return _answer(status, str(e) or type(e).__name__)

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Any:
        status = e.code or 500
        message = e.description or e.name
        if status == 413 and not isinstance(e, FieldTooLarge):
            from microlens.web.context import runtime

            mb = runtime(app).settings.max_upload_mb
            message = f"the upload is larger than the limit of {mb:g} MB"
        headers = {}
        if status == 405 and e.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(e.valid_methods)  # type: ignore[attr-defined]
        return _answer(status, message, headers)

    @app.errorhandler(Exception)
    def _any(e: Exception) -> Any:
        if isinstance(e, HTTPException):
            return _http(e)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _answer(500, f"internal error ({type(e).__name__}); the server log has the details"
                       if not isinstance(e, InternalServerError) else "internal error")
