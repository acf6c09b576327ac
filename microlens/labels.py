"""Label sets: the seed's fine CASME II emotions, the MEGC 3-class set, or a custom comma list.

A sample carries a fine ``emotion`` (CASME II coding; empty for SMIC) and a ``megc_class``
(negative / positive / surprise). :func:`select` maps samples onto a label set and counts what
each filter dropped, so that every dropped sample is accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from microlens.errors import UsageError

LABEL_SETS: dict[str, tuple[str, ...]] = {
    # the seed design: fine CASME II emotions, 'others' and 'fear' dropped
    "casme2": ("happiness", "surprise", "disgust", "repression", "sadness"),
    # MEGC2019 composite classes
    "megc3": ("negative", "positive", "surprise"),
}

MEGC_CLASSES = ("negative", "positive", "surprise")

# the answer when no recogniser is confident enough: better than a guess
UNCERTAIN = "uncertain"
# why an event is UNCERTAIN: its recogniser's confidence is below its calibrated threshold; the
# full-expression prior reads the face as neutral; the micro model's label of an event while the
# person talks is not trusted (AnalyzeOptions.talking_abstain)
LOW_CONFIDENCE, NEUTRAL_FACE, TALKING = "low_confidence", "neutral_face", "talking"
UNCERTAIN_REASONS = (LOW_CONFIDENCE, NEUTRAL_FACE, TALKING)


def reason_words(reason: str) -> str:
    """An UNCERTAIN_REASONS code as words for captions and pages: 'low_confidence' -> 'low confidence'."""
    return reason.replace("_", " ")

# fine emotion -> MEGC2019 class ('others' has none and is dropped)
TO_MEGC: dict[str, str] = {
    "happiness": "positive",
    "positive": "positive",
    "surprise": "surprise",
    "disgust": "negative",
    "repression": "negative",
    "sadness": "negative",
    "fear": "negative",
    "anger": "negative",
    "contempt": "negative",
    "negative": "negative",
}

EMOJI: dict[str, str] = {
    "happiness": "😊",
    "positive": "😊",
    "surprise": "😮",
    "disgust": "🤢",
    "repression": "😶",
    "sadness": "😢",
    "fear": "😨",
    "anger": "😠",
    "contempt": "😒",
    "negative": "☹️",
    "others": "😐",
    "neutral": "😐",
    UNCERTAIN: "❔",
}


def emoji(label: str) -> str:
    """The emoji shown beside ``label`` in reports and the web app ('❔' when unknown)."""
    return EMOJI.get(label.lower(), "❔")


def resolve(spec: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A label-set name from LABEL_SETS or a comma list ('happiness,surprise') -> label tuple."""
    if isinstance(spec, tuple | list):
        labels = tuple(str(s).strip().lower() for s in spec)
    elif spec in LABEL_SETS:
        return LABEL_SETS[spec]
    elif "," in spec:
        labels = tuple(s.strip().lower() for s in spec.split(",") if s.strip())
    else:
        known = ", ".join(LABEL_SETS)
        raise UsageError(f"unknown label set {spec!r}; use one of {known} or a comma list like a,b,c")
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise UsageError(f"a label set needs at least two distinct labels, got {','.join(labels)!r}")
    return labels


def is_megc(labels: tuple[str, ...]) -> bool:
    """True when every label is an MEGC class: samples are then mapped by their MEGC class."""
    return set(labels) <= set(MEGC_CLASSES)


def label_of(emotion: str, megc_class: str, labels: tuple[str, ...]) -> tuple[str | None, str]:
    """The label a sample gets in ``labels``, or None and the reason it is dropped.

    Reasons: 'others', 'fear', 'no fine emotion' (SMIC rows under a fine set), 'not in label set'.
    """
    emotion, megc_class = emotion.strip().lower(), megc_class.strip().lower()
    if emotion == "others" or (not emotion and not megc_class):
        return None, "others"
    if is_megc(labels):
        cls = megc_class or TO_MEGC.get(emotion, "")
        if emotion == "fear" and "fear" not in labels and not megc_class:
            return None, "fear"
        return (cls, "") if cls in labels else (None, "not in label set")
    if emotion in labels:
        return emotion, ""
    if not emotion:
        # a sample with only an MEGC class: usable when the set itself names that class
        return (megc_class, "") if megc_class in labels else (None, "no fine emotion")
    if emotion == "fear":
        return None, "fear"
    return None, "not in label set"


@dataclass(frozen=True)
class Selection:
    """Samples kept for a label set, their class indices and what was dropped."""

    labels: tuple[str, ...]  # the label set after dropping classes without samples
    indices: np.ndarray  # (M,) int64 positions of kept samples in the input
    targets: np.ndarray  # (M,) int64 class index into ``labels``
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> samples dropped
    notes: tuple[str, ...] = ()  # e.g. "sadness: no samples in the data, class dropped"

    def counts(self) -> dict[str, int]:
        """Samples per kept label."""
        return {lab: int((self.targets == i).sum()) for i, lab in enumerate(self.labels)}


def select(
    emotions: tuple[str, ...] | list[str],
    megc_classes: tuple[str, ...] | list[str],
    labels: tuple[str, ...],
    *,
    drop_empty: bool = True,
) -> Selection:
    """Map N samples onto ``labels``; with ``drop_empty`` a class without samples is dropped
    (with a note), as for training; evaluation keeps the model's full label set."""
    kept: list[tuple[int, str]] = []
    dropped: dict[str, int] = {}
    for i, (emo, cls) in enumerate(zip(emotions, megc_classes, strict=True)):
        lab, why = label_of(emo, cls, labels)
        if lab is None:
            dropped[why] = dropped.get(why, 0) + 1
        else:
            kept.append((i, lab))
    notes: list[str] = []
    final = labels
    if drop_empty:
        present = {lab for _, lab in kept}
        final = tuple(lab for lab in labels if lab in present)
        notes = [f"{lab}: no samples in the data, class dropped" for lab in labels if lab not in present]
    index = {lab: k for k, lab in enumerate(final)}
    return Selection(
        labels=final,
        indices=np.array([i for i, _ in kept], dtype=np.int64),
        targets=np.array([index[lab] for _, lab in kept], dtype=np.int64),
        dropped=dropped,
        notes=tuple(notes),
    )
