"""Apex-image enhancement shared by `prepare`, training and inference: none, histogram
equalisation or CLAHE, applied to the luminance so colour images keep their hue."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np


def _on_luma(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``fn`` to the Y channel of an (H, W, 3) RGB or to an (H, W) gray uint8 image."""
    if image.ndim == 2:
        return fn(image)
    ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = fn(np.ascontiguousarray(ycc[..., 0]))
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def _clahe(y: np.ndarray) -> np.ndarray:
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(y)


EQUALIZERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda image: image,
    "hist": lambda image: _on_luma(image, cv2.equalizeHist),
    "clahe": lambda image: _on_luma(image, _clahe),
}


def equalize(image: np.ndarray, mode: str = "none") -> np.ndarray:
    """Enhance an (H, W, 3) RGB or (H, W) gray uint8 image with ``mode`` in EQUALIZERS."""
    try:
        return EQUALIZERS[mode](image)
    except KeyError:
        from microlens.errors import UsageError

        raise UsageError(f"unknown equalisation {mode!r}; choose one of {', '.join(EQUALIZERS)}") from None
