"""Action units per event: a multi-label FACS action-unit (AU) detector on the onset->apex flow.

The detector is FlowNet (:mod:`microlens.recognize.models`) with one logit per AU read through a sigmoid
(several AUs can move at once), trained on the CASME II AU codes of the prepared data
(:mod:`microlens.science.train.aus`). It reads the same 28x28 (u, v, strain) flow image the micro
recogniser reads. The shipped detector is the self-describing checkpoint ``assets/aus/aus.pt``
(config, AU list with names, preprocessing, thresholds, its leave-one-subject-out figures and
data provenance; loaded with ``torch.load(weights_only=True)``) with its card ``aus.md``.

Nothing here imports torch at import time: the report reads :class:`ActionUnit` and the names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microlens.errors import UsageError

AU_PATH = Path(__file__).resolve().parents[1] / "assets" / "aus" / "aus.pt"

# FACS action units of the micro-expression datasets -> their FACS names (Ekman et al., 2002)
AU_NAMES: dict[str, str] = {
    "AU1": "inner brow raiser", "AU2": "outer brow raiser", "AU4": "brow lowerer",
    "AU5": "upper lid raiser", "AU6": "cheek raiser", "AU7": "lid tightener",
    "AU9": "nose wrinkler", "AU10": "upper lip raiser", "AU12": "lip corner puller",
    "AU14": "dimpler", "AU15": "lip corner depressor", "AU16": "lower lip depressor",
    "AU17": "chin raiser", "AU18": "lip pucker", "AU20": "lip stretcher", "AU23": "lip tightener",
    "AU24": "lip pressor", "AU25": "lips part", "AU26": "jaw drop", "AU38": "nostril dilator",
    "AU39": "nostril compressor", "AU43": "eyes closed",
}

# one token of a FACS code: optional side (L/R, or B both, T/U unilateral), the AU number and an
# optional intensity letter (A-E), e.g. "L10", "R12", "4", "12C"
_TOKEN = re.compile(r"^(?:[LRBTU])?(\d+)[A-E]?$", re.IGNORECASE)


def parse_aus(code: str) -> frozenset[str]:
    """A FACS code as written in the coding sheets -> the set of AUs it names, sides ignored:
    "4+L10" -> {"AU4", "AU10"}, "R12+15" -> {"AU12", "AU15"}, "" -> {}. Tokens that are not an AU
    (e.g. "?") are skipped."""
    out = set()
    for token in re.split(r"[+,\s]+", code.strip()):
        m = _TOKEN.match(token)
        if m:
            out.add(f"AU{int(m.group(1))}")
    return frozenset(out)


def au_sort_key(au: str) -> int:
    """Numeric order of AU codes: AU2 before AU10."""
    return int(au[2:])


def au_name(au: str) -> str:
    """'AU4' -> 'brow lowerer' ('' for an AU without a name here)."""
    return AU_NAMES.get(au, "")


def au_targets(codes: tuple[str, ...] | list[str], aus: tuple[str, ...]) -> np.ndarray:
    """N FACS codes -> (N, A) float32 0/1 targets over ``aus``."""
    sets = [parse_aus(c) for c in codes]
    return np.array([[au in s for au in aus] for s in sets], np.float32).reshape(len(sets), len(aus))


@dataclass(frozen=True)
class ActionUnit:
    """One action unit of one event, as the detector reads it."""

    au: str  # e.g. "AU4"
    name: str  # e.g. "brow lowerer"
    p: float  # sigmoid probability that it moved
    present: bool  # p at or above the detector's threshold for this AU

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON form: {"au", "name", "p", "present"}."""
        return {"au": self.au, "name": self.name, "p": round(float(self.p), 4), "present": self.present}


def aus_text(units: tuple[ActionUnit, ...]) -> str:
    """An event's action units in words: the present ones, e.g. "AU4 brow lowerer 0.81, AU7 lid
    tightener 0.62"; where none is present, "none (AU4 brow lowerer 0.32)" with the most likely; "-"
    without a reading."""
    if not units:
        return "-"
    present = [u for u in units if u.present]
    words = ", ".join(f"{u.au} {u.name} {u.p:.2f}" for u in present or units[:1])
    return words if present else f"none ({words})"


def predict_aus(members: list[dict[str, Any]], x: np.ndarray, mirror: bool = True) -> np.ndarray:
    """Sigmoid probabilities of trained FlowNet ``members`` on (N, 3, 28, 28) float32 flow inputs
    -> (N, A) float32, averaged over the members and, with ``mirror``, over each input and its
    mirror image (an AU and its mirror image are the same AU: the codes' sides are ignored)."""
    import torch

    from microlens.recognize.models import load_member, mirror_flow

    nets = [load_member(m) for m in members]
    with torch.no_grad():
        xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))  # (N, 3, 28, 28)
        views = [xt, mirror_flow(xt)] if mirror else [xt]
        p = torch.stack([torch.sigmoid(net(v)) for net in nets for v in views]).mean(0)  # (N, A)
    return p.numpy().astype(np.float32)


class AUDetector:
    """The AU detector of a checkpoint, for inference: :meth:`predict` on flow images."""

    def __init__(self, ckpt: dict[str, Any], path: Path):
        self.path = path
        self.aus = tuple(ckpt["aus"])  # A AU codes, e.g. ("AU1", "AU2", ...)
        self.names = tuple(ckpt["names"])  # A FACS names
        self.thresholds = np.asarray(ckpt["thresholds"], np.float32)  # (A,) decision thresholds
        self.mirror = bool(ckpt["preprocessing"].get("flow_mirror_average", True))
        self.card = {k: v for k, v in ckpt.items() if k != "members"}
        self._members = ckpt["members"]

    def predict(self, flow: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 3) uint8 onset->apex flow images (:func:`microlens.face.flow.flow_image`, the
        micro recogniser's input) -> (N, A) float32 probabilities, one column per ``self.aus``."""
        from microlens.recognize.models import flow_input

        flow = np.asarray(flow)
        if flow.ndim != 4 or flow.shape[1:] != (28, 28, 3):
            raise UsageError(f"AU detection wants flow images (N, 28, 28, 3), got {flow.shape}")
        if len(flow) == 0:
            return np.zeros((0, len(self.aus)), np.float32)
        return predict_aus(self._members, flow_input(flow.astype(np.uint8)), self.mirror)

    def describe(self, probs: np.ndarray) -> tuple[ActionUnit, ...]:
        """(A,) probabilities of one event -> its action units, most probable first."""
        units = [ActionUnit(au, name, float(p), bool(p >= t))
                 for au, name, p, t in zip(self.aus, self.names, probs, self.thresholds, strict=True)]
        return tuple(sorted(units, key=lambda u: -u.p))

    def read(self, flow: np.ndarray) -> list[tuple[ActionUnit, ...]]:
        """(N, 28, 28, 3) uint8 flow images -> per image its action units, most probable first."""
        return [self.describe(p) for p in self.predict(flow)]


def read_au_checkpoint(path: str | Path) -> dict[str, Any]:
    """An AU checkpoint file -> its dict (``weights_only=True``: no code is unpickled)."""
    import torch

    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"no such AU model file: {path}") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is a usage error
        raise UsageError(f"not a microlens AU checkpoint: {path} ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or not {"members", "aus", "thresholds"} <= set(ckpt):
        raise UsageError(f"not a microlens AU checkpoint: {path}")
    return ckpt


_LOADED: dict[str, AUDetector] = {}  # path -> detector, loaded once per process


def load_aus(path: str | Path | None = None) -> AUDetector:
    """The AU detector at ``path`` (default: the shipped ``assets/aus/aus.pt``), loaded once."""
    p = Path(path) if path is not None else AU_PATH
    key = str(p.resolve())
    if key not in _LOADED:
        _LOADED[key] = AUDetector(read_au_checkpoint(p), p)
    return _LOADED[key]
