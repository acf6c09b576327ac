"""A progress bar on stderr for the command line, driven by ``(stage, fraction)`` callbacks."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[str, float], None]  # (stage, fraction done 0..1)


@contextmanager
def progress_bar(desc: str, *, force: bool = False) -> Iterator[Progress]:
    """A tqdm bar on stderr driven by ``(stage, fraction)`` callbacks; silent unless stderr is a
    terminal, ``force`` is set, or MICROLENS_PROGRESS=1."""
    show = force or sys.stderr.isatty() or os.environ.get("MICROLENS_PROGRESS") == "1"
    if not show:
        yield lambda stage, frac: None
        return
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, file=sys.stderr, unit="‰", leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")

    def update(stage: str, frac: float) -> None:
        bar.set_description_str(f"{desc} [{stage}]")
        bar.n = int(max(0.0, min(1.0, frac)) * 1000)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
