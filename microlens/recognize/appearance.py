"""What the expression prior reads on the face between events, ten faces a second.

:class:`AppearanceMeter` runs the FER2013 prior (:class:`microlens.recognize.recognizer.ExpressionPrior`) on
at most one face per 0.1 s while a video is tracked. Its neutral probability puts the spotting
baseline on the frames at rest where expressions fill the baseline window (:func:`neutral_probability`,
:func:`expressive`, :func:`microlens.spot.spotting.spot`); its
per-second reading (:func:`read_seconds`) is the report's state between events; the live page reads
the last faces the same way (:func:`read_mean`). A reading names an expression only when the prior
reads it as the macro-expression rule asks (its top class, not 'neutral', at MACRO_MIN_PROB or more;
READ_OTHER_MIN_PROB for the classes outside the label set); otherwise the face shows no clear
expression and the reading is ``neutral``, as a viewer would say of a face at rest or talking.
"""

from __future__ import annotations

import numpy as np

from microlens.recognize.recognizer import MACRO_MIN_PROB, ExpressionPrior

NEUTRAL = "neutral"
# A second's reading names 'fear' or 'anger' (FER2013 classes outside CASME II's label set, which the
# prior reads at 0.5-0.67 on many neutral or talking faces) from this mean probability; the other
# expression classes from MACRO_MIN_PROB. Chosen on the development clips of benchmarks/recall.py
# (15 clips, 160 seconds a viewer labels), per-second agreement of the log: 114/160 at 0.5, 120/160
# at 0.6 and 0.7, 119/160 at 0.8 or never. Before, a second under MACRO_MIN_PROB read 'uncertain'
# (never agreeing with the viewer: 61/160); the prior's 'neutral' itself rarely reaches 0.5 on a
# talking face, so a face without a clear expression is 'neutral' whatever its top class.
READ_OTHER_MIN_PROB = 0.6


class AppearanceMeter:
    """What the expression prior reads on the face, ten faces a second: called on every frame, it
    scores at most one face per ``every_s`` seconds, in batches (the frames in between stay NaN).
    Its neutral probability puts the spotting baseline on the frames at rest; its per-second
    reading is the report's state between events. Class names follow ``vocabulary`` as in
    :class:`ExpressionPrior`."""

    def __init__(self, vocabulary: tuple[str, ...] = (), every_s: float = 0.1, batch: int = 32):
        self.every_s, self.batch = every_s, batch
        self._prior = ExpressionPrior(vocabulary)
        self.labels = self._prior.classes  # (7,) the FER2013 classes' names, "neutral" among them
        self._rows: list[int] = []
        self._crops: list[np.ndarray] = []  # (H, W, 3) uint8 RGB, waiting for a batch
        # the scored batches: (B,) frame rows and their (B, L) probabilities, as the prior gave them
        # (not a dict of per-row arrays: on a long video those were ~80 bytes a frame)
        self._done: list[tuple[np.ndarray, np.ndarray]] = []
        self._last = -np.inf

    def __call__(self, row: int, time_s: float, crop: np.ndarray | None) -> None:
        """Offer frame ``row`` (its face crop (H, W, 3) uint8 RGB, or None without a face)."""
        if crop is None or time_s - self._last < self.every_s - 1e-6:  # 1e-6: 3 frames at 30 fps are 0.1 s
            return
        self._last = time_s
        self._rows.append(row)
        self._crops.append(crop)
        if len(self._crops) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if self._crops:
            p = self._prior.predict_classes(np.stack(self._crops))  # (B, 7)
            self._done.append((np.asarray(self._rows, np.int64), p))
            self._rows, self._crops = [], []

    def probs(self, n: int) -> np.ndarray:
        """(n, 7) float32 probabilities per frame row over ``labels``, NaN rows where not scored."""
        self._flush()
        out = np.full((n, len(self.labels)), np.nan, np.float32)
        for rows, p in self._done:
            out[rows] = p
        return out


def neutral_probability(probs: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """(T,) the 'neutral' column of (T, 7) AppearanceMeter probabilities (NaN where not scored)."""
    return probs[:, labels.index("neutral")]


def expressive(probs: np.ndarray, labels: tuple[str, ...], min_prob: float = MACRO_MIN_PROB) -> np.ndarray:
    """(T,) 1.0 where the top class of (T, 7) AppearanceMeter probabilities is an expression (not
    'neutral') with probability at least ``min_prob`` (the macro-expression rule), 0.0 where the face
    was scored otherwise, NaN where not scored."""
    out = np.full(len(probs), np.nan)
    ok = np.all(np.isfinite(probs), axis=1)
    if ok.any():
        top = np.argmax(probs[ok], axis=1)
        shown = (np.array(labels)[top] != "neutral") & (probs[ok].max(axis=1) >= min_prob)
        out[ok] = shown.astype(float)
    return out


def cues(probs: np.ndarray) -> np.ndarray:
    """(T, K) the columns of (T, 7) AppearanceMeter probabilities (FER2013 order, whatever the
    vocabulary calls them) whose readings start a spotted interval
    (:data:`microlens.spot.priorspot.CUE_CLASSES`)."""
    from microlens.recognize.expression import FER_CLASSES
    from microlens.spot.priorspot import CUE_CLASSES

    return probs[:, [FER_CLASSES.index(c) for c in CUE_CLASSES]]


def read_seconds(times: np.ndarray, probs: np.ndarray, labels: tuple[str, ...],
                 min_prob: float = MACRO_MIN_PROB, talking: tuple[tuple[float, float], ...] = ()
                 ) -> dict[int, tuple[str, float]]:
    """Second k -> (label, probability) that the prior reads in [k, k+1) from the mean of its
    scored faces there (``times`` (T,) seconds, ``probs`` (T, 7) with NaN rows), as
    :func:`read_mean`. In a second that the person talks through more than half of (``talking``
    spans), an expression is named from :data:`microlens.recognize.classify.TALKING_PRIOR_MIN_PROB`, as an
    event's label is (on the development part of benchmarks/recall.py: per-second agreement 117/160
    -> 120/160). Seconds without a scored face are absent."""
    from microlens.recognize.classify import TALKING_PRIOR_MIN_PROB

    ok = np.all(np.isfinite(probs), axis=1)
    out: dict[int, tuple[str, float]] = {}
    if not ok.any():
        return out
    sec = np.floor(times[ok] + 1e-9).astype(int)  # (N,)
    p = probs[ok]
    for k in np.unique(sec):
        talk = sum(max(0.0, min(b, k + 1.0) - max(a, float(k))) for a, b in talking)
        need = max(min_prob, TALKING_PRIOR_MIN_PROB) if talk > 0.5 else min_prob
        out[int(k)] = read_mean(p[sec == k], labels, need)
    return out


def read_mean(probs: np.ndarray, labels: tuple[str, ...],
              min_prob: float = MACRO_MIN_PROB) -> tuple[str, float]:
    """(label, probability) the prior reads from (N, 7) probabilities of N faces over the FER2013
    classes (named ``labels``): the top class of their mean with its probability when it is an
    expression at ``min_prob`` or more (READ_OTHER_MIN_PROB or more for 'fear' and 'angry'); else no
    clear expression, ``neutral`` with the mean's neutral probability."""
    from microlens.recognize.expression import FER_CLASSES
    from microlens.spot.priorspot import CUE_CLASSES

    mean = probs.mean(axis=0)  # (7,)
    i = int(mean.argmax())
    need = min_prob if FER_CLASSES[i] in CUE_CLASSES else max(min_prob, READ_OTHER_MIN_PROB)
    if labels[i] != NEUTRAL and mean[i] >= need:
        return labels[i], float(mean[i])
    return NEUTRAL, float(mean[labels.index(NEUTRAL)])


__all__ = ["READ_OTHER_MIN_PROB", "AppearanceMeter", "cues", "expressive", "neutral_probability", "read_mean",
           "read_seconds"]
