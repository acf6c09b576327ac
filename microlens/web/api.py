"""The JSON API under /api (described by /api/openapi.json, see openapi.py)."""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file, url_for

from microlens.errors import MicrolensError, VideoError
from microlens.report.writers import EXTENSIONS
from microlens.web.downloads import render, result_json
from microlens.web.errors import ApiError
from microlens.web.original import original_file
from microlens.web.storage import Analysis, QueueFull, new_id, valid_id

bp = Blueprint("api", __name__, url_prefix="/api")

REPORT_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8",
                "timeline": "text/csv; charset=utf-8",
                "vtt": "text/vtt; charset=utf-8", "html": "text/html; charset=utf-8",
                "eaf": "application/xml", "boris": "text/tab-separated-values; charset=utf-8"}
MEDIA = re.compile(r"^(face\.mp4|face\.jpg|micro-\d{1,4}\.jpg|original)$")
_STARTED = time.time()


def _rt() -> Any:
    from microlens.web.context import runtime

    return runtime(current_app)


def known_models() -> list[str]:
    """Model names a client may ask for (shipped models, plus the configured default)."""
    names: list[str] = []
    try:
        from microlens.recognize.recognizer import available_models

        names = list(available_models())
    except (NotImplementedError, ImportError, OSError):
        pass
    default = _rt().settings.model
    if default not in names:
        names.insert(0, default)
    return names


def analysis_json(a: Analysis, *, with_result: bool = True) -> dict[str, Any]:
    """The API view of an analysis."""
    links: dict[str, Any] = {
        "status": url_for("api.get_analysis", analysis_id=a.id),
        "page": url_for("pages.analysis", analysis_id=a.id),
    }
    out: dict[str, Any] = {
        "id": a.id, "status": a.status, "progress": round(a.progress, 4), "stage": a.stage,
        "filename": a.filename, "size": a.size, "duration_s": a.duration_s, "model": a.model,
        "source": a.source, "options": a.options_dict(), "created": a.created, "started": a.started,
        "finished": a.finished,
        "cancel_requested": bool(a.cancel), "links": links,
    }
    if a.error:
        out["error"] = a.error
    if a.status == "done":
        out["summary"] = a.summary_dict()
        folder = _rt().store.result_dir(a.id)
        for fmt in REPORT_TYPES:
            if (folder / f"report.{fmt}").is_file():
                links[f"report_{fmt}"] = url_for("api.report", analysis_id=a.id, fmt=fmt)
        media = sorted(p.name for p in folder.glob("*") if MEDIA.match(p.name))
        if original_file(_rt().store, a, probe=with_result) is not None:
            media.append("original")
        links["media"] = {m: url_for("api.media", analysis_id=a.id, name=m) for m in media}
        links["review"] = url_for("review.get_review", analysis_id=a.id)
        if with_result and (folder / "report.json").is_file():
            out["result"] = result_json(_rt().store, a.id)
    return out


def _get(analysis_id: str) -> Analysis:
    a = _rt().store.get(analysis_id) if valid_id(analysis_id) else None
    if a is None:
        raise ApiError(404, f"no analysis {analysis_id[:40]!r}")
    return a


@bp.get("/health")
def health() -> Any:
    """Liveness and a summary of the queue and storage."""
    rt = _rt()
    disk = os.statvfs(rt.store.root)
    return jsonify(status="ok", version=_version(), queue=rt.queue.kind, backlog=rt.queue.backlog(),
                   analyses=rt.store.stats(), max_queue=rt.settings.max_queue,
                   retention_days=rt.settings.retention_days, max_upload_mb=rt.settings.max_upload_mb,
                   free_disk_mb=round(disk.f_bavail * disk.f_frsize / 2**20),
                   uptime_s=round(time.time() - _STARTED, 1), models=known_models(),
                   token_required=bool(rt.settings.api_token))


def _version() -> str:
    from microlens.version import __version__

    return __version__


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3.1 description of this API."""
    from microlens.web.openapi import spec

    return jsonify(spec(_rt().settings))


@bp.get("/analyses")
def list_analyses() -> Any:
    """Analyses, newest first (``?limit=`` up to 1000)."""
    try:
        limit = max(1, min(1000, int(request.args.get("limit", 100))))
    except ValueError:
        raise ApiError(400, "limit must be an integer") from None
    items = [analysis_json(a, with_result=False) for a in _rt().store.select(limit=limit)]
    return jsonify(analyses=items, count=len(items))


@bp.post("/analyses")
def create_analysis() -> Any:
    """Upload a video (multipart field ``file``, optional ``model``) and queue its analysis."""
    rt = _rt()
    if rt.store.count_active() >= rt.settings.max_queue:  # cheap check before the body is read
        raise _queue_full(rt.settings.max_queue)
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise ApiError(400, "send the video as multipart/form-data in the field 'file'")
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(400, "the multipart field 'file' is missing")
    model = (request.form.get("model") or rt.settings.model).strip()
    if model not in known_models():
        raise ApiError(400, f"unknown model {model[:60]!r}; choose one of {', '.join(known_models())}")
    options = analysis_options(request.form.get("options") or "{}")
    analysis_id = new_id()
    a = accept_video(analysis_id, upload, upload.filename or "video", model=model, options=options)
    status_url = url_for("api.get_analysis", analysis_id=a.id)
    resp = jsonify(id=a.id, status=a.status, status_url=status_url,
                   page_url=url_for("pages.analysis", analysis_id=a.id))
    resp.status_code = 202
    resp.headers["Location"] = status_url
    return resp


def analysis_options(text: str) -> dict[str, Any]:
    """The form field ``options``: a JSON object of analysis options named as the CLI flags with
    underscores (``{"talking_abstain": false, "macro_recognizer": "micro"}``), checked for names,
    types, choices and ranges before anything is stored. Raises ApiError 400."""
    from microlens.analyze import OPTION_CLASSES, split_options
    from microlens.options import typed_values

    try:
        given = json.loads(text)
    except ValueError:
        raise ApiError(400, "the field 'options' is not valid JSON") from None
    except RecursionError:  # e.g. 30,000 nested arrays: the decoder's recursion limit
        raise ApiError(400, "the field 'options' is nested too deeply; it must be a flat JSON object "
                       "of option names and values") from None
    if not isinstance(given, dict):
        raise ApiError(400, "the field 'options' must be a JSON object of option names and values")
    try:
        options = typed_values(OPTION_CLASSES, given)
        split_options(**options)  # the dataclasses check ranges
    except (ValueError, MicrolensError) as e:
        raise ApiError(400, f"options: {e}") from None
    return options


def accept_video(analysis_id: str, upload: Any, filename: str, *, model: str, kind: str = "upload",
                 source_path: str | None = None, options: dict[str, Any] | None = None) -> Analysis:
    """Store an upload (a FileStorage, or ``source_path`` moved into place), probe it with the video
    decoder, check the limits and queue it. Raises ApiError 400/415/422 and leaves nothing behind."""
    rt = _rt()
    dest = rt.store.upload_path(analysis_id)
    part = dest.with_name(dest.name + ".part")
    try:
        if source_path is not None:
            os.replace(source_path, part)
        else:
            upload.save(str(part))
        size = part.stat().st_size
        if size == 0:
            raise ApiError(400, "the file is empty")
        clip = _probe(str(part))
        if _is_picture(clip):
            raise ApiError(415, f"not a video: the upload is a still image ({clip.codec})")
        limit = rt.settings.max_duration_s
        if limit and clip.duration_s > limit:
            raise ApiError(422, f"the video lasts {clip.duration_s:.0f} s; the limit is {limit:.0f} s")
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    display = os.path.basename(filename.replace("\\", "/"))[:200] or "video"
    try:  # the final queue check and the insert are one transaction
        a = rt.store.create(analysis_id, filename=display, size=size, duration_s=float(clip.duration_s),
                            model=model, source=kind, options=options, max_active=rt.settings.max_queue)
    except BaseException as e:
        dest.unlink(missing_ok=True)
        if isinstance(e, QueueFull):
            raise _queue_full(e.max_active) from None
        raise
    rt.queue.enqueue(analysis_id)
    return a


def _queue_full(max_queue: int) -> ApiError:
    """The 429 answer of a full queue."""
    return ApiError(429, f"the queue is full ({max_queue} analyses waiting or running); try again later",
                    {"Retry-After": "30"})


def _probe(path: str) -> Any:
    from microlens.video.decode import open_clip

    try:
        return open_clip(path)
    except VideoError as e:
        raise ApiError(415, f"not a readable video: {_hide(str(e), path)}") from None
    except MicrolensError as e:
        raise ApiError(422, _hide(str(e), path)) from None
    except NotImplementedError:
        raise ApiError(503, "the video decoder is not available in this installation") from None


def _is_picture(clip: Any) -> bool:
    """True when a probed upload is one picture, not a video: FFmpeg opens a PNG or JPEG with a
    picture demuxer (image2, *_pipe), and a GIF of one frame as a clip that has one frame."""
    if clip.container == "image2" or clip.container.endswith("_pipe"):
        return True
    if clip.container != "gif":
        return False
    from itertools import islice

    from microlens.video.decode import frames

    try:
        with frames(clip, max_side=64) as stream:
            return sum(1 for _ in islice(stream, 2)) < 2
    except Exception:  # noqa: BLE001 - a GIF that fails to decode later is the job's to report
        return False


def _hide(message: str, path: str) -> str:
    """A decoder message without the server's file path."""
    return message.replace(f"'{path}'", "the upload").replace(path, "the upload")


@bp.get("/analyses/<analysis_id>")
def get_analysis(analysis_id: str) -> Any:
    """Status, progress and, once done, the report (``result``)."""
    return jsonify(analysis_json(_get(analysis_id)))


@bp.post("/analyses/<analysis_id>/cancel")
def cancel_analysis(analysis_id: str) -> Any:
    """Cancel a queued or running analysis (409 when it already finished)."""
    a = _get(analysis_id)
    if a.status not in ("queued", "running"):
        raise ApiError(409, f"the analysis is already {a.status}")
    a = _rt().store.request_cancel(a.id)
    return jsonify(analysis_json(a, with_result=False))


@bp.delete("/analyses/<analysis_id>")
def delete_analysis(analysis_id: str) -> Any:
    """Delete the analysis, its upload and its results (a running job is cancelled first)."""
    a = _get(analysis_id)
    store = _rt().store
    if a.status in ("queued", "running"):
        store.request_cancel(a.id)
    store.delete(a.id)
    return jsonify(deleted=a.id)


@bp.get("/analyses/<analysis_id>/report.<fmt>")
def report(analysis_id: str, fmt: str) -> Any:
    """The report as JSON, CSV (events, or the per-second timeline), WebVTT, a self-contained HTML
    page, an ELAN .eaf or a BORIS table (a download); with the reviewer's verdicts once there are."""
    a = _get(analysis_id)
    if fmt not in REPORT_TYPES:
        raise ApiError(404, f"no report format {fmt[:20]!r}; use one of {', '.join(REPORT_TYPES)}")
    if a.status != "done":
        raise ApiError(409, f"the analysis is {a.status}; reports exist once it is done")
    path = _rt().store.result_dir(a.id) / f"report.{fmt}"
    if not path.is_file():
        raise ApiError(404, f"this analysis has no {fmt} report")
    stem = os.path.splitext(a.filename)[0] or "video"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:80] or "video"
    inline = request.args.get("inline") == "1" and fmt != "html"
    text = render(_rt().store, a.id, fmt)
    name = f"{safe}.microlens{EXTENSIONS[fmt]}"
    if text is None:
        resp: Response = send_file(path, mimetype=REPORT_TYPES[fmt], as_attachment=not inline,
                                   download_name=name, max_age=0)
    else:
        resp = Response(text, mimetype=REPORT_TYPES[fmt], headers={"Cache-Control": "no-cache"})
        resp.headers.set("Content-Disposition", "inline" if inline else "attachment", filename=name)
    if fmt == "html":  # the self-contained report runs its own inline code only in a sandbox
        from flask import g

        g.csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                 "sandbox allow-scripts")
    return resp


@bp.get("/analyses/<analysis_id>/media/<name>")
def media(analysis_id: str, name: str) -> Any:
    """Result media: face.mp4 (H.264 face crop), face.jpg, micro-<n>.jpg, original (the uploaded
    video, or its browser-playable H.264 copy); range requests work."""
    a = _get(analysis_id)
    if not MEDIA.match(name):
        raise ApiError(404, "no such media")
    if name == "original":
        found = original_file(_rt().store, a)
        if found is None:
            raise ApiError(404, "this analysis has no browser-playable original video")
        return send_file(found, mimetype="video/mp4", conditional=True, max_age=3600)
    path = _rt().store.result_dir(a.id) / name
    if not path.is_file():
        raise ApiError(404, f"this analysis has no {name}")
    mime = "video/mp4" if name.endswith(".mp4") else "image/jpeg"
    return send_file(path, mimetype=mime, conditional=True, max_age=3600)


@bp.get("/models")
def models() -> Any:
    """Model names accepted by POST /api/analyses."""
    return jsonify(models=known_models(), default=_rt().settings.model)
