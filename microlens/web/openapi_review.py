"""The OpenAPI description of the review operations (review_api.py), part of /api/openapi.json."""

from __future__ import annotations

from typing import Any

from microlens.report.review import LABEL_MAX, NOTE_MAX, VERDICTS


def _err(desc: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _json(desc: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_TEXT = {"type": "string", "maxLength": NOTE_MAX}
_LABEL = {"type": "string", "maxLength": LABEL_MAX,
          "description": "one of the review's labels (GET .../review: labels)"}
_ADDED = {"type": "object", "required": ["id", "start_s", "end_s", "kind", "label"],
          "properties": {"id": {"type": "integer"}, "start_s": {"type": "number"},
                         "end_s": {"type": "number"},
                         "duration_s": {"type": "number"}, "kind": {"enum": ["micro", "macro"]},
                         "label": {"type": "string"}, "note": {"type": "string"},
                         "updated_utc": {"type": "string"}, "frames": {"type": "object"}}}
_INDEX = {"name": "event", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0},
          "description": "index into the report's events"}
_ADDED_ID = {"name": "added_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
_VERDICT = {"type": "object", "required": ["event", "verdict"],
            "properties": {"event": {"type": "integer"}, "verdict": {"enum": [*VERDICTS, None]},
                           "label": {"type": ["string", "null"]}, "note": {"type": "string"},
                           "updated_utc": {"type": "string"}}}
_NOT_DONE = "the analysis is not done, or has no readable report"


def review_paths(id_param: dict[str, Any]) -> dict[str, Any]:
    """The paths of the review operations (``id_param``: the analysis id path parameter)."""
    index, added_id, verdict_out = _INDEX, _ADDED_ID, _VERDICT
    return {
        "/api/analyses/{analysis_id}/review": {
            "parameters": [id_param],
            "get": {"summary": "The reviewer's verdicts and added events, the label set, counts and the "
                               "statistics of the machine's and of the reviewed events",
                    "responses": {"200": _json("the review", {
                        "type": "object", "required": ["id", "labels", "events", "added", "counts", "stats"],
                        "properties": {"id": {"type": "string"}, "labels": {"type": "array",
                                                                              "items": {"type": "string"}},
                                       "events": {"type": "array", "items": verdict_out},
                                       "added": {"type": "array", "items": _ADDED},
                                       "counts": {"type": "object"}, "stats": {
                                           "type": "object", "required": ["machine", "reviewed"]}}}),
                                  "404": _err("unknown id"), "409": _err(_NOT_DONE)}}},
        "/api/analyses/{analysis_id}/review/events/{event}": {
            "parameters": [id_param, index],
            "put": {"summary": "Accept, reject or relabel one event of the machine (replaces an earlier "
                               "verdict)",
                    "requestBody": _body({"type": "object", "required": ["verdict"], "properties": {
                        "verdict": {"enum": list(VERDICTS)},
                        "label": {**_LABEL, "description": "the new label; only with relabel"},
                        "note": _TEXT}}),
                    "responses": {"200": _json("the verdict", verdict_out),
                                  "400": _err("not a JSON object, or a field of the wrong type"),
                                  "404": _err("unknown id or event"), "409": _err(_NOT_DONE),
                                  "422": _err("unknown verdict or label, relabel without a label, a note "
                                              "too long")}},
            "delete": {"summary": "Take the verdict on one event back",
                       "responses": {"200": _json("cleared", verdict_out),
                                     "404": _err("unknown id or event, or no verdict"),
                                     "409": _err(_NOT_DONE)}}},
        "/api/analyses/{analysis_id}/review/added": {
            "parameters": [id_param],
            "post": {"summary": "Add an event the machine missed (onset and offset in seconds of the "
                                "video)",
                     "requestBody": _body({"type": "object", "required": ["start_s", "end_s", "label"],
                                           "properties": {"start_s": {"type": "number", "minimum": 0},
                                                          "end_s": {"type": "number", "exclusiveMinimum": 0},
                                                          "label": _LABEL, "note": _TEXT}}),
                     "responses": {"201": {**_json("added", _ADDED),
                                           "headers": {"Location": {"schema": {"type": "string"}}}},
                                   "400": _err("not a JSON object, a field missing or of the wrong type"),
                                   "404": _err("unknown id"), "409": _err(_NOT_DONE),
                                   "422": _err("unknown label, onset not before offset, times outside the "
                                               "video, a note too long")}}},
        "/api/analyses/{analysis_id}/review/added/{added_id}": {
            "parameters": [id_param, added_id],
            "delete": {"summary": "Delete an event the reviewer added",
                       "responses": {"200": _json("deleted", {
                                         "type": "object", "required": ["deleted"],
                                         "properties": {"deleted": {"type": "integer"}}}),
                                     "404": _err("unknown id or added event"), "409": _err(_NOT_DONE)}}},
    }


__all__ = ["review_paths"]
