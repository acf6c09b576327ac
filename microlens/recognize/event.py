"""The recognition stage's result: one spotted and classified expression (:class:`Event`)."""

from __future__ import annotations

from dataclasses import dataclass

from microlens.labels import UNCERTAIN, UNCERTAIN_REASONS
from microlens.recognize.aus import ActionUnit


@dataclass(frozen=True)
class Event:
    """One spotted and classified expression."""

    start_s: float
    apex_s: float
    end_s: float
    kind: str  # "micro" or "macro"
    label: str  # a class, or "uncertain" when the recogniser was not confident enough
    confidence: float  # calibrated probability of the most likely class
    probs: dict[str, float]  # class -> calibrated probability
    score: float = 0.0  # spotting peak strength (robust z units); larger is stronger
    onset_frame: int = -1  # frame indices in the video (decode order)
    apex_frame: int = -1
    offset_frame: int = -1
    recognizer: str = ""  # which recogniser labelled it: "micro:MODEL" or "macro:fer2013"
    talking: bool = False  # spotted while the person talked (a micro label is then "uncertain")
    reason: str = ""  # why the label is "uncertain": one of labels.UNCERTAIN_REASONS; "" when labelled
    leaning: str = ""  # the class the recogniser leaned towards when the label is "uncertain", else ""
    aus: tuple[ActionUnit, ...] = ()  # action units read on the onset->apex flow, most probable first

    def __post_init__(self) -> None:
        if self.reason and (self.reason not in UNCERTAIN_REASONS or self.label != UNCERTAIN):
            raise ValueError(f"an event's reason must be one of {UNCERTAIN_REASONS} and only on an "
                             f"{UNCERTAIN!r} label, got reason {self.reason!r} on {self.label!r}")

    @property
    def duration_s(self) -> float:
        """Onset to offset, seconds."""
        return self.end_s - self.start_s
