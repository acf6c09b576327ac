"""onnxruntime sessions for the shipped models: one thread each, and no telemetry.

onnxruntime 1.32 starts its telemetry when it is imported: it writes a device id and an event
database under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` and a ``.ses`` file in the temp
folder. ``ORT_DISABLE_TELEMETRY=1`` set before the import stops all of it (measured: nothing is
written); ``onnxruntime.disable_telemetry_events()`` after the import does not stop those files,
and is called as well so that no event is recorded either.
"""

from __future__ import annotations

import os
from typing import Any


def import_onnxruntime() -> Any:
    """The onnxruntime module, imported with its telemetry off (unless the environment already sets
    ORT_DISABLE_TELEMETRY otherwise). Raises ImportError where it is not installed."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    if os.environ["ORT_DISABLE_TELEMETRY"] == "1":
        ort.disable_telemetry_events()
    return ort


def session(path: str) -> Any:
    """A CPU InferenceSession of the ONNX file ``path`` with one intra-op and one inter-op thread."""
    ort = import_onnxruntime()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
