"""A :class:`~microlens.report.types.Report` back from its JSON (``Report.to_dict()``), without the images.

The web app keeps each analysis' JSON report; a reviewer's verdicts, given later, are rendered
into every export from it: :func:`report_from_dict` rebuilds the report (times at the JSON's
millisecond precision), :func:`dataclasses.replace` adds the review, and any writer of
:data:`microlens.report.writers.WRITERS` renders it. Reports of schema 6 carry no face spans: the face is
then taken as seen in each second the timeline says it was.
"""

from __future__ import annotations

from typing import Any

from microlens.recognize.aus import ActionUnit
from microlens.recognize.event import Event
from microlens.report.signals import Signals
from microlens.report.types import FaceSummary, Images, ModelInfo, Reading, Report


def _event(d: dict[str, Any]) -> Event:
    frames = d.get("frames") or {}
    return Event(float(d["start_s"]), float(d["apex_s"]), float(d["end_s"]), d["kind"], d["label"],
                 float(d["confidence"]), {k: float(v) for k, v in (d.get("probs") or {}).items()},
                 float(d.get("score", 0.0)), int(frames.get("onset", -1)), int(frames.get("apex", -1)),
                 int(frames.get("offset", -1)), d.get("recognizer", ""), bool(d.get("talking", False)),
                 d.get("uncertain_reason") or "", d.get("leaning") or "",
                 tuple(ActionUnit(a["au"], a["name"], float(a["p"]), bool(a["present"]))
                       for a in d.get("aus") or ()))


def _face(d: dict[str, Any]) -> FaceSummary:
    f = d.get("face") or {}
    if "spans" in f:
        spans = tuple((float(a), float(b)) for a, b in f["spans"])
    else:  # schema 6: the seconds the timeline saw the face in
        spans = tuple((float(r["second"]), min(r["second"] + 1.0, float(d["duration_s"])))
                      for r in d.get("timeline") or () if r.get("face", 0) > 0)
    return FaceSummary(int(f.get("frames_with_face", 0)), float(f.get("coverage", 0.0)),
                       int(f.get("max_faces", 0)), f.get("chosen", ""), spans)


def _model(d: dict[str, Any]) -> ModelInfo:
    m = d.get("model") or {}
    return ModelInfo(m.get("name", ""), tuple(m.get("labels") or ()), m.get("macro_recognizer", ""),
                     bool(m.get("abstain", True)), m.get("appearance_recognizer", ""),
                     bool(m.get("talking_abstain", True)), tuple(m.get("outputs") or ()),
                     m.get("checkpoint", ""), m.get("checkpoint_sha256", ""), m.get("backend", ""))


def report_from_dict(d: dict[str, Any]) -> Report:
    """The report of a JSON report ``d`` (schema 6 or 7), images left out; its review is not
    read (the web app keeps verdicts in its database and adds them)."""
    video = d.get("video") or {}
    rep = d.get("representative") or {}
    readings = tuple(Reading(int(r["second"]), r["appearance"], float(r["appearance_confidence"] or 0.0))
                     for r in d.get("timeline") or () if r.get("appearance") is not None)
    return Report(
        source=d["source"], duration_s=float(d["duration_s"]), fps=float(d["fps"]), frames=int(d["frames"]),
        events=tuple(_event(e) for e in d.get("events") or ()), warnings=tuple(d.get("warnings") or ()),
        face=_face(d), model=_model(d),
        images=Images(representative_s=float(rep.get("time_s") or 0.0),
                      representative_kind=rep.get("kind", ""),
                      representative_event=rep.get("event")),
        width=int(video.get("width", 0)), height=int(video.get("height", 0)),
        rotation=int(video.get("rotation", 0)), codec=video.get("codec", ""),
        nominal_fps=float(video.get("nominal_fps", 0.0)), timings_s=dict(d.get("timings_s") or {}),
        appearance=readings, talking=tuple((float(a), float(b)) for a, b in d.get("talking") or ()),
        version=d.get("microlens_version", ""), created=d.get("created_utc", ""),
        settings={k: dict(v) for k, v in (d.get("settings") or {}).items()},
        signals=Signals.from_dict(d["signals"]) if d.get("signals") else None)


__all__ = ["report_from_dict"]
