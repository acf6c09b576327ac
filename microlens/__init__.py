"""microlens: find micro-expressions in video and say which emotion leaked.

Public API::

    import microlens
    model = microlens.load_model("casme2")
    report = microlens.analyze("video.mp4", model=model)
    print(report.to_dict())

Importing the package loads code only: no model, no thread settings, no files touched.
"""

__version__ = "0.1.0"

from microlens.analyze import analyze  # noqa: E402
from microlens.recognize import load_model  # noqa: E402

__all__ = ["analyze", "load_model", "__version__"]
