"""Heap trimming: hand the pages an analysis or a live session freed back to the OS (glibc only)."""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any


def _load_libc() -> Any:
    """glibc, or None elsewhere (musl, macOS): only glibc keeps freed pages the way trim_heap undoes."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC: list[Any] = []  # [glibc or None], looked up on first use (nothing happens at import)


def trim_heap() -> bool:
    """Give the heap pages an analysis freed back to the OS (glibc ``malloc_trim(0)``); False where
    there is no glibc.

    An analysis makes and frees hundreds of MB of native buffers (decoded frames, face crops, the
    mediapipe graphs' tensors, the H.264 encoder). glibc's dynamic mmap threshold rises after the first
    large free, so later large buffers come from the heap, and glibc only returns the heap's top to the
    OS: the freed pages behind a live block stay in the process. Measured in-process (one worker
    thread, 2 s clip, 12 jobs): Python heap flat at 26.4 MB, malloc in-use flat at 178 MB, malloc free
    but kept 30 -> 153 MB, RSS 517 -> 658 MB; with this call after each job RSS stays at 494-505 MB.
    It takes milliseconds and touches free pages only, so concurrent work is unaffected.
    """
    if not _LIBC:
        _LIBC.append(_load_libc())
    libc = _LIBC[0]
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
