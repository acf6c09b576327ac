"""microlens: find micro-expressions in video and say which emotion leaked.

Public API::

    import microlens
    model = microlens.load_model("casme2")
    report = microlens.analyze("video.mp4", model=model)
    print(report.to_dict())

Importing the package has no side effects: heavy modules load on first use.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["analyze", "load_model", "__version__"]

if TYPE_CHECKING:
    from microlens.recognize import Recognizer
    from microlens.report import Report


def load_model(name: str = "casme2") -> "Recognizer":
    """Load a shipped model by name (``casme2``, ``megc3``) or a checkpoint path."""
    from microlens.recognize import load_model as _load

    return _load(name)


def analyze(path: str, model: "str | Recognizer" = "casme2", **options: Any) -> "Report":
    """Analyse one video: spot micro- and macro-expressions, classify each, return a Report."""
    from microlens.analyze import analyze as _analyze

    return _analyze(path, model=model, **options)
