"""The OpenAPI 3.1 description served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from microlens.web.settings import Settings


def _err(desc: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


# spec is long because it is one OpenAPI data literal (no logic); splitting it would scatter the API.
def spec(settings: Settings) -> dict[str, Any]:
    """The API description, with this server's limits filled in."""
    from microlens import __version__

    id_param = {"name": "analysis_id", "in": "path", "required": True,
                "schema": {"type": "string", "pattern": "^[0-9a-f]{24}$"}}
    analysis_ref = {"$ref": "#/components/schemas/Analysis"}
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
                        "result": {"type": "object", "description": "the JSON report (schema_version 5), "
                                   "present when done"},
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
        "paths": {
            "/api/health": {"get": {"summary": "Health, queue backlog and limits", "security": [],
                                    "responses": {"200": {"description": "ok"}}}},
            "/api/models": {"get": {"summary": "Models accepted by POST /api/analyses",
                                    "responses": {"200": {"description": "model names"}}}},
            "/api/analyses": {
                "get": {"summary": "List analyses, newest first",
                        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                        "responses": {"200": {"description": "{analyses: [Analysis], count}"},
                                      "400": _err("bad limit")}},
                "post": {
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
                        "202": {"description": "queued: {id, status, status_url, page_url}",
                                "headers": {"Location": {"schema": {"type": "string"}}}},
                        "400": _err("no 'file' field, empty file, unknown model, bad options"),
                        "401": _err("token required"),
                        "413": _err(f"larger than {settings.max_upload_mb:g} MB"),
                        "415": _err("not a readable video (probed with the decoder, not the extension)"),
                        "422": _err(f"longer than {settings.max_duration_s:g} s"),
                        "429": {"description": "queue full; retry after the Retry-After seconds",
                                "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
                    },
                },
            },
            "/api/analyses/{analysis_id}": {
                "parameters": [id_param],
                "get": {"summary": "Status, progress, stage; the report when done",
                        "responses": {"200": {"description": "the analysis",
                                              "content": {"application/json": {"schema": analysis_ref}}},
                                      "404": _err("unknown id")}},
                "delete": {"summary": "Delete the analysis, its upload and its results",
                           "responses": {"200": {"description": "{deleted: id}"}, "404": _err("unknown id")}},
            },
            "/api/analyses/{analysis_id}/cancel": {
                "parameters": [id_param],
                "post": {"summary": "Cancel a queued or running analysis",
                         "responses": {"200": {"description": "the analysis"}, "404": _err("unknown id"),
                                       "409": _err("already finished")}},
            },
            "/api/analyses/{analysis_id}/report.{fmt}": {
                "parameters": [id_param, {"name": "fmt", "in": "path", "required": True,
                                          "schema": {"enum": ["json", "csv", "timeline", "vtt", "html"]}}],
                "get": {"summary": "The report file (a download; timeline: the per-second CSV; "
                                   "?inline=1 shows json/csv/timeline/vtt)",
                        "responses": {"200": {"description": "the report"},
                                      "404": _err("unknown id or format"),
                                      "409": _err("not done yet")}},
            },
            "/api/analyses/{analysis_id}/media/{name}": {
                "parameters": [id_param, {"name": "name", "in": "path", "required": True, "schema": {
                    "type": "string", "pattern": "^(face\\.mp4|face\\.jpg|micro-[0-9]+\\.jpg)$"}}],
                "get": {"summary": "face.mp4 (H.264 face crop), face.jpg (representative frame), "
                                   "micro-N.jpg (onset|apex|offset filmstrip)",
                        "responses": {"200": {"description": "the file; range requests supported"},
                                      "404": _err("unknown id or media")}},
            },
            "/ws/live": {"get": {
                "summary": "WebSocket for the webcam page: send binary JPEG frames (one in flight), "
                           "receive JSON {type: ack|status|saved|error}; send text {\"action\": \"save\"} "
                           "to stop and queue the recording as an analysis",
                "responses": {"101": {"description": "switching protocols"}}}},
        },
    }
