"""What produced a report, so that a paper can state its settings from the report alone: the
microlens version, when the analysis ran (UTC), the model's identity (checkpoint file and its
SHA-256, inference backend, every label its recognisers can output) and every option as resolved
(:func:`settings`)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microlens.report.types import ModelInfo

if TYPE_CHECKING:
    from microlens.analyze import AnalyzeOptions
    from microlens.face.track import FaceOptions
    from microlens.recognize.recognizer import Recognizer
    from microlens.spot.options import SpotOptions

_SHA256: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> digest, once per process


def utc_now() -> str:
    """The current time, UTC, ISO 8601 to the second: ``2025-01-31T14:03:27Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file, computed once per process for a given size and modification time;
    "" when it cannot be read."""
    p = Path(path)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _SHA256:
            h = hashlib.sha256()
            with p.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            _SHA256[key] = h.hexdigest()
        return _SHA256[key]
    except OSError:
        return ""


def output_labels(labels: tuple[str, ...], macro: str) -> tuple[str, ...]:
    """Every label an analysis can give a probability for: the micro model's ``labels``, then (when
    the full-expression prior labels macro-expressions, ``macro`` 'fer2013') the prior's classes
    named in that vocabulary."""
    prior: tuple[str, ...] = ()
    if macro == "fer2013":
        from microlens.recognize.recognizer import ExpressionPrior

        prior = ExpressionPrior(labels).labels
    return tuple(dict.fromkeys([*labels, *prior]))


def model_info(rec: Recognizer, opts: AnalyzeOptions) -> ModelInfo:
    """The report's :class:`ModelInfo` for recogniser ``rec`` under the analysis options ``opts``."""
    path = getattr(rec, "path", None)
    labels = tuple(rec.labels)
    return ModelInfo(name=str(getattr(rec, "name", "")), labels=labels, macro=opts.macro_recognizer,
                     abstain=opts.abstain, appearance="fer2013", talking_abstain=opts.talking_abstain,
                     outputs=output_labels(labels, opts.macro_recognizer),
                     checkpoint=Path(path).name if path else "",
                     sha256=file_sha256(path) if path else "", backend=str(getattr(rec, "backend", "")))


def settings(opts: AnalyzeOptions, face_opts: FaceOptions,
             spot_opts: SpotOptions) -> dict[str, dict[str, Any]]:
    """Every option of the analysis as resolved (defaults included): ``analysis``, ``face`` and
    ``spotting``, field name -> value."""
    return {"analysis": dataclasses.asdict(opts), "face": dataclasses.asdict(face_opts),
            "spotting": dataclasses.asdict(spot_opts)}
