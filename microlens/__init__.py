"""microlens: find micro-expressions in video and say which emotion leaked.

Public API::

    import microlens
    model = microlens.load_model("casme2")
    report = microlens.analyze("video.mp4", model=model)
    print(report.to_dict())

Importing the package loads code only: no model, no thread settings, no files touched.
"""

from microlens.analyze import analyze
from microlens.recognize.recognizer import load_model
from microlens.version import __version__

__all__ = ["analyze", "load_model", "__version__"]
