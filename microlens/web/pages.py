"""The site's pages (English and Korean): home, video upload, analyses list, results, webcam."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext

from microlens.web.errors import ApiError
from microlens.web.storage import valid_id

bp = Blueprint("pages", __name__)

# Emotion and state names as shown on the pages; the JSON keeps the English keys.
LABEL_NAMES = {
    "happiness": lazy_gettext("happiness"), "surprise": lazy_gettext("surprise"),
    "disgust": lazy_gettext("disgust"), "repression": lazy_gettext("repression"),
    "sadness": lazy_gettext("sadness"), "fear": lazy_gettext("fear"), "anger": lazy_gettext("anger"),
    "contempt": lazy_gettext("contempt"), "negative": lazy_gettext("negative"),
    "positive": lazy_gettext("positive"), "others": lazy_gettext("others"),
    "neutral": lazy_gettext("neutral"), "uncertain": lazy_gettext("uncertain"),
    "no face": lazy_gettext("no face"), "no_face": lazy_gettext("no face"),
    "warming up": lazy_gettext("warming up"), "micro": lazy_gettext("micro"), "macro": lazy_gettext("macro"),
    "talking": lazy_gettext("talking"), "low_confidence": lazy_gettext("low confidence"),
    "neutral_face": lazy_gettext("neutral face"),
}
STATUS_NAMES = {
    "queued": lazy_gettext("queued"), "running": lazy_gettext("running"), "done": lazy_gettext("done"),
    "failed": lazy_gettext("failed"), "cancelled": lazy_gettext("cancelled"),
}

STAGE_NAMES = {  # pipeline stages reported by microlens.analyze and the job runner
    "queued": lazy_gettext("waiting in the queue"), "starting": lazy_gettext("starting"),
    "loading": lazy_gettext("loading the model"), "opening": lazy_gettext("opening the video"),
    "tracking face": lazy_gettext("tracking the face"), "spotting": lazy_gettext("spotting expressions"),
    "recognising": lazy_gettext("recognising emotions"), "writing reports": lazy_gettext("writing reports"),
    "done": lazy_gettext("done"), "queued (resumed after restart)": lazy_gettext("resumed after a restart"),
    "queued (server restarting)": lazy_gettext("waiting for the server to restart"),
}


# microlens.face.mesh.describe_choice's English phrases (the report's face.chosen) -> the page's words;
# the results page matches them in the page script (S.face_choices), tests check every phrase.
FACE_CHOICES = (
    (re.compile(r"^the only face$"), lazy_gettext("the only face")),
    (re.compile(r"^no face found$"), lazy_gettext("no face found")),
    (re.compile(r"^largest of (?P<n>\S+) faces$"), lazy_gettext("largest of %(n)s faces")),
    (re.compile(r"^most central of (?P<n>\S+) faces$"), lazy_gettext("most central of %(n)s faces")),
    (re.compile(r"^face #(?P<k>\d+) by size \(0 = largest\) of (?P<n>\S+) faces$"),
     lazy_gettext("face #%(k)s by size (0 = largest) of %(n)s faces")),
)


def face_choice(text: str) -> str:
    """The report's ``face.chosen`` phrase in the page's language (an unknown phrase as it is)."""
    for pattern, words in FACE_CHOICES:
        m = pattern.match(text)
        if m:
            return str(words) % m.groupdict()
    return text


def select_locale() -> str:
    """The language: the ``lang`` cookie if set, else the browser's preference, else English."""
    from microlens.web.context import LANGUAGES

    chosen = request.cookies.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "en"


def _rt() -> Any:
    from microlens.web.context import runtime

    return runtime(current_app)


def _strings() -> dict[str, Any]:
    """Strings the page scripts need, translated."""
    return {
        "labels": {k: str(v) for k, v in LABEL_NAMES.items()},
        "status": {k: str(v) for k, v in STATUS_NAMES.items()},
        "stages": {k: str(v) for k, v in STAGE_NAMES.items()},
        "uploading": gettext("Uploading…"), "uploaded": gettext("Uploaded; starting the analysis…"),
        "upload_failed": gettext("Upload failed"), "choose_video": gettext("Choose a video file first."),
        "stage": gettext("Stage"), "cancel_confirm": gettext("Cancel this analysis?"),
        "delete_confirm": gettext("Delete this analysis, its video and its results?"),
        "no_events": gettext("No expression was spotted."), "seconds": gettext("s"),
        "camera_denied": gettext("The camera could not be opened"),
        "connecting": gettext("Connecting…"), "live": gettext("Live"), "stopped": gettext("Stopped"),
        "saving": gettext("Saving the recording…"), "saved": gettext("Saved as an analysis"),
        "spotted": gettext("micro-expression spotted"), "confidence": gettext("confidence"),
        "calm": gettext("no facial movement in the last second"),
        "read_on_face": gettext("read on the face"), "micro_model": gettext("micro model"),
        "current": gettext("Current emotion"), "time": gettext("time"), "duration": gettext("duration"),
        "connection_lost": gettext("Connection lost"), "fps": gettext("fps"),
        "click_to_seek": gettext("Click an event to jump to it"),
        "rep_micro": gettext("apex of the strongest micro-expression"),
        "rep_clear": gettext("clearest face frame"),
        "face_found": gettext("Face found"), "frame_rate": gettext("Frame rate"),
        "frames": gettext("frames"), "face_chosen": gettext("Face analysed"),
        "resolution": gettext("Video"),
        **_review_strings(),
        # [JavaScript pattern, translated words with %(name)s for its groups], see FACE_CHOICES
        "face_choices": [[p.pattern.replace("(?P<", "(?<"), str(w)] for p, w in FACE_CHOICES],
    }


def _review_strings() -> dict[str, str]:
    """Strings of the results page's review panel, transport and signal lane, translated."""
    return {
        "accepted": gettext("accepted"), "rejected": gettext("rejected"),
        "relabelled": gettext("relabelled"), "unreviewed": gettext("not reviewed"), "added": gettext("added"),
        "delete_added": gettext("Delete"),
        "your_verdict": gettext("Your verdict"), "mark_both": gettext("Mark the onset, then a later offset."),
        "frame": gettext("frame"),
        "no_signals": gettext("no motion signal in this report (made before it was kept)"),
        "motion": gettext("motion"), "threshold": gettext("threshold"), "prior": gettext("prior reads"),
        "motion_legend": gettext("motion strength (robust z)"),
        "prior_legend": gettext("expression prior's reading"),
        "machine": gettext("Machine"),
    }


@bp.app_context_processor
def _context() -> dict[str, Any]:
    rt = _rt()
    return {
        "locale": str(get_locale() or "en"),
        "label_name": lambda k: str(LABEL_NAMES.get(k, k)),
        "status_name": lambda k: str(STATUS_NAMES.get(k, k)),
        "stage_name": lambda k: str(STAGE_NAMES.get(k, k)),
        "emoji": _emoji,
        "settings": rt.settings,
        "strings": _strings(),
        "when": _when,
    }


def _emoji(label: str) -> str:
    from microlens.labels import emoji

    return {"no face": "🚫", "no_face": "🚫", "warming up": "⏳"}.get(label) or emoji(label)


def _when(ts: float | None) -> str:
    if not ts:
        return ""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


@bp.get("/")
def index() -> Any:
    """Home: analyse a video or the webcam."""
    return render_template("home.html", page="home", recent=_rt().store.select(limit=5))


@bp.get("/video")
def video() -> Any:
    """Upload a video."""
    from microlens.web.api import known_models

    return render_template("video.html", page="video", models=known_models(),
                           recent=_rt().store.select(limit=8))


@bp.get("/analyses")
def analyses() -> Any:
    """All analyses."""
    return render_template("analyses.html", page="analyses", analyses=_rt().store.select(limit=500))


@bp.get("/analyses/<analysis_id>")
def analysis(analysis_id: str) -> Any:
    """Progress while the job runs, then the results (this URL can be bookmarked)."""
    a = _rt().store.get(analysis_id) if valid_id(analysis_id) else None
    if a is None:
        raise ApiError(404, gettext("There is no such analysis; it may have been deleted."))
    folder = _rt().store.result_dir(a.id)
    strips = sorted((p.name for p in folder.glob("micro-*.jpg")), key=lambda n: int(n[6:-4]))
    from microlens.web.original import original_file

    return render_template("analysis.html", page="analysis", a=a, summary=a.summary_dict(),
                           has_face_image=(folder / "face.jpg").is_file(),
                           has_face_video=(folder / "face.mp4").is_file(), strips=strips,
                           has_original=a.status == "done" and original_file(_rt().store, a) is not None)


@bp.get("/webcam")
def webcam() -> Any:
    """Live analysis of the webcam."""
    return render_template("webcam.html", page="webcam")


@bp.get("/lang/<code>")
def language(code: str) -> Any:
    """Switch the language (a cookie) and go back."""
    from microlens.web.context import LANGUAGES

    if code not in LANGUAGES:
        raise ApiError(404, "unknown language")
    back = request.referrer or ""
    host = request.host_url
    target = back if back.startswith(host) else url_for("pages.index")
    resp = redirect(target)
    resp.set_cookie("lang", code, max_age=365 * 86400, samesite="Lax")
    return resp
