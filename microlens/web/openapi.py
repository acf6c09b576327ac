"""The OpenAPI 3.1 description served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from microlens.web.openapi_review import review_paths
from microlens.web.settings import Settings


def _err(desc: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def spec(settings: Settings) -> dict[str, Any]:
    """The API description, with this server's limits filled in."""
    from microlens.version import __version__

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "microlens API",
            "version": __version__,
            "description": (
                "Upload a video, follow its analysis, fetch the micro-expression report. Intended use: "
                "research, and clinical or psychological study with consent. A prediction is not proof "
                "of what a person feels; microlens is not a lie detector. The EU AI Act forbids emotion "
                "recognition in workplaces and schools. Uploads and results are kept in the server's "
                f"data directory for {settings.retention_days:g} days."),
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "only when the server sets MICROLENS_API_TOKEN"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}},
                "Analysis": {
                    "type": "object", "required": ["id", "status", "progress", "stage"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
                        "progress": {"type": "number", "minimum": 0, "maximum": 1},
                        "stage": {"type": "string"},
                        "error": {"type": "string", "description": "present when failed"},
                        "result": {"type": "object", "description": "the JSON report (schema_version 7) with "
                                   "the reviewer's verdicts, present when done"},
                        "summary": {"type": "object"},
                        "filename": {"type": "string"}, "size": {"type": "integer"},
                        "duration_s": {"type": "number"}, "model": {"type": "string"},
                        "options": {"type": "object", "description": "the options given with the upload"},
                        "source": {"enum": ["upload", "webcam"]},
                        "created": {"type": "number"}, "links": {"type": "object"},
                    },
                },
            },
        },
        "security": [{"bearer": []}, {}],
        "paths": _with_common(_paths(settings)),
    }


def _json(desc: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


_OPEN = ("/api/health", "/api/openapi.json")  # answered without a token (security.py)
_UNSAFE = ("post", "put", "patch", "delete")


def _with_common(paths: dict[str, Any]) -> dict[str, Any]:
    """Add the answers every operation may give: 400 for a Host header the server does not accept,
    401 without a valid token (where one is set; not on the open paths), 403 for a cross-origin
    state change or WebSocket (hosts.py)."""
    for path, item in paths.items():
        for method, op in item.items():
            if method == "parameters":
                continue
            responses = op["responses"]
            responses.setdefault("400", _err("host not allowed (the Host header names another server)"))
            if path not in _OPEN:
                responses.setdefault("401", _err("a valid API token is required"))
            if method in _UNSAFE or path.startswith("/ws/"):
                responses.setdefault("403", _err("cross-origin request refused (Origin of another site)"))
    return paths


def _paths(settings: Settings) -> dict[str, Any]:
    """The operations, their parameters and their answers, one group of paths per resource."""
    id_param = {"name": "analysis_id", "in": "path", "required": True,
                "schema": {"type": "string", "pattern": "^[0-9a-f]{24}$"}}
    return {
        **_service_paths(),
        "/api/analyses": {"get": _list_op(), "post": _upload_op(settings)},
        **_analysis_paths(id_param),
        **_file_paths(id_param),
        **review_paths(id_param),
        **_live_paths(),
    }


def _service_paths() -> dict[str, Any]:
    """Health, this description and the models: what a client asks before it uploads."""
    obj = {"type": "object"}
    return {
        "/api/health": {"get": {"summary": "Health, queue backlog and limits", "security": [],
                                "responses": {"200": _json("ok", {
                                    "type": "object", "required": ["status", "version", "queue"],
                                    "properties": {"status": {"const": "ok"}, "version": {"type": "string"},
                                                   "queue": {"type": "string"},
                                                   "backlog": {"type": "integer"},
                                                   "analyses": obj, "models": {"type": "array"},
                                                   "token_required": {"type": "boolean"}}})}}},
        "/api/openapi.json": {"get": {"summary": "This description of the API", "security": [],
                                      "responses": {"200": _json("the OpenAPI 3.1 document", obj)}}},
        "/api/models": {"get": {"summary": "Models accepted by POST /api/analyses",
                                "responses": {"200": _json("model names", {
                                    "type": "object", "required": ["models", "default"],
                                    "properties": {"models": {"type": "array", "items": {"type": "string"}},
                                                   "default": {"type": "string"}}})}}},
    }


def _list_op() -> dict[str, Any]:
    """GET /api/analyses: the list of analyses."""
    analysis_ref = {"$ref": "#/components/schemas/Analysis"}
    return {"summary": "List analyses, newest first",
            "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"},
                            "description": "at most this many (clamped to 1..1000; default 100)"}],
            "responses": {"200": _json("the analyses", {
                              "type": "object", "required": ["analyses", "count"],
                              "properties": {"analyses": {"type": "array", "items": analysis_ref},
                                             "count": {"type": "integer"}}}),
                          "400": _err("bad limit")}}


def _upload_op(settings: Settings) -> dict[str, Any]:
    """POST /api/analyses: an upload, with this server's limits in its answers."""
    return {
        "summary": "Upload a video and queue its analysis",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"},
                           "model": {"type": "string",
                                     "description": "default: " + settings.model},
                           "options": {"type": "string", "description": (
                               "a JSON object of analysis options, named as the CLI "
                               "flags of `microlens analyze` with underscores, e.g. "
                               '{"talking_abstain": false, "macro_recognizer": "micro"}; '
                               "default: {} (every option at its default)")}},
        }}}},
        "responses": {
            "202": {"description": "queued",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["id", "status", "status_url", "page_url"],
                        "properties": {"id": {"type": "string"}, "status": {"const": "queued"},
                                       "status_url": {"type": "string"},
                                       "page_url": {"type": "string"}}}}}},
            "400": _err("not multipart/form-data, no 'file' field, empty file, unknown model, "
                        "bad options"),
            "413": _err(f"larger than {settings.max_upload_mb:g} MB, or a form field over its limit"),
            "415": _err("not a readable video (probed with the decoder, not the extension)"),
            "422": _err(f"longer than {settings.max_duration_s:g} s, or a video the decoder "
                        "cannot use"),
            "429": {**_err("queue full; retry after the Retry-After seconds"),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
            "503": _err("the video decoder is not available in this installation"),
        },
    }


def _analysis_paths(id_param: dict[str, Any]) -> dict[str, Any]:
    """One analysis: its status (and report), its deletion and its cancellation."""
    analysis_ref = {"$ref": "#/components/schemas/Analysis"}
    return {
        "/api/analyses/{analysis_id}": {
            "parameters": [id_param],
            "get": {"summary": "Status, progress, stage; the report when done",
                    "responses": {"200": _json("the analysis", analysis_ref), "404": _err("unknown id")}},
            "delete": {"summary": "Delete the analysis, its upload and its results",
                       "responses": {"200": _json("deleted", {
                                         "type": "object", "required": ["deleted"],
                                         "properties": {"deleted": {"type": "string"}}}),
                                     "404": _err("unknown id")}},
        },
        "/api/analyses/{analysis_id}/cancel": {
            "parameters": [id_param],
            "post": {"summary": "Cancel a queued or running analysis",
                     "responses": {"200": _json("the analysis", analysis_ref), "404": _err("unknown id"),
                                   "409": _err("already finished")}},
        },
    }


def _file_paths(id_param: dict[str, Any]) -> dict[str, Any]:
    """An analysis' files: the report in each format and the media (face video, images, original)."""
    return {
        "/api/analyses/{analysis_id}/report.{fmt}": {
            "parameters": [id_param, {"name": "fmt", "in": "path", "required": True,
                                      "schema": {"enum": ["json", "csv", "timeline", "vtt", "html", "eaf",
                                                          "boris"]}},
                           {"name": "inline", "in": "query", "schema": {"type": "string"},
                            "description": "1: shown in the browser instead of downloaded (not html)"}],
            "get": {"summary": "The report file (a download; timeline: the per-second CSV; eaf: ELAN; "
                               "boris: BORIS tabular events; with the reviewer's verdicts once there are; "
                               "?inline=1 shows json/csv/timeline/vtt/eaf/boris)",
                    "responses": {"200": {"description": "the report", "content": {
                                      "application/json": {}, "text/csv": {}, "text/vtt": {},
                                      "text/html": {}, "application/xml": {},
                                      "text/tab-separated-values": {}}},
                                  "404": _err("unknown id or format"),
                                  "409": _err("not done yet")}},
        },
        "/api/analyses/{analysis_id}/media/{name}": {
            "parameters": [id_param, {"name": "name", "in": "path", "required": True, "schema": {
                "type": "string",
                "pattern": "^(face\\.mp4|face\\.jpg|micro-[0-9]{1,4}\\.jpg|original)$"}}],
            "get": {"summary": "face.mp4 (H.264 face crop), face.jpg (representative frame), "
                               "micro-N.jpg (onset|apex|offset filmstrip), original (the uploaded video, "
                               "or its H.264 copy where browsers cannot play it)",
                    "responses": {"200": {"description": "the file",
                                          "content": {"video/mp4": {}, "image/jpeg": {}}},
                                  "206": {"description": "part of the file (a Range request)",
                                          "content": {"video/mp4": {}, "image/jpeg": {}}},
                                  "304": {"description": "not modified (a conditional request)"},
                                  "404": _err("unknown id or media"),
                                  "416": _err("the requested range is not in the file")}},
        },
    }


def _live_paths() -> dict[str, Any]:
    """The webcam page's WebSocket."""
    return {
        "/ws/live": {"get": {
            "summary": "WebSocket for the webcam page: send binary JPEG frames (one in flight), "
                       "receive JSON {type: ack|status|saved|error}; send text {\"action\": \"save\"} "
                       "to stop and queue the recording as an analysis",
            "parameters": [{"name": "talking_abstain", "in": "query", "schema": {"type": "string"},
                            "description": "0: keep the micro model's labels while the person talks "
                                           "(default 1)"}],
            "responses": {"101": {"description": "switching protocols"},
                          "400": _err("not a WebSocket handshake (Upgrade: websocket), or host not "
                                      "allowed")}}},
    }
