"""Stage 5, report: the Report dataclass and one writer per output format.

OWNER: analyze/report helper. Interface is fixed; bodies to implement.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Event:
    """One spotted and classified expression."""

    start_s: float
    apex_s: float
    end_s: float
    kind: str  # "micro" or "macro"
    label: str
    confidence: float  # ensemble probability of ``label``
    probs: dict[str, float]  # label -> ensemble probability


@dataclass(frozen=True)
class Report:
    """Everything ``analyze`` found in one video; ``to_dict()`` is the JSON schema in the README."""

    source: str
    duration_s: float
    fps: float
    frames: int
    events: tuple[Event, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        """The JSON report, schema_version 1."""
        raise NotImplementedError
