"""Stage 4, recognition: a loaded two-stream ensemble that classifies apex crops and flow images.

OWNER: models/training helper. Interface is fixed; bodies to implement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    """Class probabilities for N samples."""

    labels: tuple[str, ...]  # the model's label set, K names
    probs: np.ndarray  # (N, K) float32 ensemble probabilities
    apex: np.ndarray  # (N, K) float32 apex-stream probabilities
    flow: np.ndarray  # (N, K) float32 flow-stream probabilities


class Recognizer:
    """A self-describing checkpoint loaded for inference (onnxruntime when installed, else torch)."""

    name: str  # e.g. "casme2"
    labels: tuple[str, ...]
    card: dict  # the checkpoint's description: config, preprocessing, metrics, provenance

    def predict(self, apex: np.ndarray, flow: np.ndarray) -> Prediction:
        """apex: (N, 224, 224, 3) uint8 RGB face crops at the apex; flow: (N, 28, 28, 3) uint8 images
        from :func:`microlens.flow.flow_image`. Preprocessing recorded in the checkpoint is applied here."""
        raise NotImplementedError


def load_model(name: str = "casme2") -> Recognizer:
    """A shipped model by name (see ``available_models()``) or a checkpoint path."""
    raise NotImplementedError


def available_models() -> list[str]:
    """Names of the models shipped in microlens/assets."""
    raise NotImplementedError
