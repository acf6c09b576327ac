"""Stage 4, recognition: a loaded two-stream ensemble that classifies apex crops and flow images.

A model is a self-describing checkpoint ``NAME.pt`` (plain dicts and tensors, loaded with
``torch.load(weights_only=True)``) with optional ONNX exports ``NAME.apex.onnx`` and
``NAME.flow.onnx`` beside it; onnxruntime runs them when it is installed, torch otherwise.
"""

from __future__ import annotations

import argparse
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microlens.errors import UsageError
from microlens.labels import LOW_CONFIDENCE, NEUTRAL_FACE, TO_MEGC, UNCERTAIN, is_megc

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_MODEL = "casme2"
ENSEMBLE_STREAMS = ("apex", "flow")


@dataclass(frozen=True)
class Prediction:
    """Class probabilities for N samples."""

    labels: tuple[str, ...]  # the model's label set, K names
    probs: np.ndarray  # (N, K) float32 ensemble probabilities
    apex: np.ndarray  # (N, K) float32 apex-stream probabilities
    flow: np.ndarray  # (N, K) float32 flow-stream probabilities


@dataclass(frozen=True)
class Decision:
    """The label one event gets, and which recogniser gave it."""

    label: str  # a class of the recogniser, or UNCERTAIN when it is not confident enough
    confidence: float  # calibrated probability of the most likely class
    probs: dict[str, float]  # class -> calibrated probability
    recognizer: str  # e.g. "micro:casme2" (the micro model) or "macro:fer2013" (the expression prior)
    best: str  # the most likely class, also when ``label`` is UNCERTAIN
    reason: str = ""  # why ``label`` is UNCERTAIN (LOW_CONFIDENCE or NEUTRAL_FACE), else ""


def calibrate(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of (N, K) probabilities: softmax(log(p) / T) -> (N, K) float32.
    T > 1 softens over-confident scores; T = 1 leaves them as they are."""
    return scaled(probs, temperature).astype(np.float32)


def decide(probs: np.ndarray, labels: tuple[str, ...], threshold: float, recognizer: str,
           ignore: tuple[str, ...] = ()) -> list[Decision]:
    """(N, K) calibrated probabilities -> N decisions: the most likely class among ``labels`` not in
    ``ignore``, or UNCERTAIN when its probability is below ``threshold`` or an ``ignore`` class
    (e.g. 'neutral') is the most likely of all."""
    out = []
    keep = np.array([lab not in ignore for lab in labels])
    for p in np.asarray(probs, np.float64):
        top = int(np.argmax(p))
        j = int(np.argmax(np.where(keep, p, -1.0)))
        why = "" if p[j] >= threshold else LOW_CONFIDENCE
        out.append(_decision(p, labels, j, NEUTRAL_FACE if not keep[top] else why, recognizer))
    return out


def _decision(p: np.ndarray, labels: tuple[str, ...], j: int, why: str, recognizer: str) -> Decision:
    """One decision from (K,) probabilities ``p`` over ``labels``: class ``j``, or UNCERTAIN for the
    reason ``why`` when there is one; its confidence is p[j] either way."""
    return Decision(label=UNCERTAIN if why else labels[j], confidence=float(p[j]),
                    probs={lab: float(v) for lab, v in zip(labels, p, strict=True)},
                    recognizer=recognizer, best=labels[j], reason=why)


def _stream_module(ckpt: dict[str, Any], stream: str) -> Any:
    """The checkpoint's ``stream`` as one eval-mode torch module (B, C, S, S) -> (B, K) probabilities:
    seed members averaged, and the flow mirrored and averaged when the checkpoint was trained so
    (``preprocessing.flow_mirror_average``; absent in older checkpoints)."""
    from microlens.recognize.models import StreamModule

    mirror = stream == "flow" and bool(ckpt["preprocessing"].get("flow_mirror_average", False))
    return StreamModule(ckpt["streams"][stream], mirror).eval()


def _input_shape(stream: str, prep: dict[str, Any]) -> tuple[int, int, int]:
    if stream == "apex":
        return (3 if prep["apex_color"] else 1, prep["apex_size"], prep["apex_size"])
    return (3, 28, 28)


def export_onnx(ckpt: dict[str, Any], out: Path) -> list[Path]:
    """Export the ensemble streams of a checkpoint to ``out/NAME.{apex,flow}.onnx`` (single files)."""
    import torch

    paths = []
    for stream in ENSEMBLE_STREAMS:
        module = _stream_module(ckpt, stream)
        dummy = torch.zeros((2, *_input_shape(stream, ckpt["preprocessing"])))
        path = Path(out) / f"{ckpt['name']}.{stream}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about static shapes, deprecation notices
            torch.onnx.export(module, (dummy,), str(path), input_names=["x"], output_names=["probs"],
                              dynamic_axes={"x": {0: "n"}, "probs": {0: "n"}}, opset_version=17, dynamo=False)
        paths.append(path)
    return paths


class Recognizer:
    """A self-describing checkpoint loaded for inference (onnxruntime when installed, else torch)."""

    name: str  # e.g. "casme2"
    labels: tuple[str, ...]
    card: dict  # the checkpoint's description: config, preprocessing, metrics, provenance
    backend: str  # "onnxruntime" or "torch"

    def __init__(self, ckpt: dict[str, Any], path: Path, backend: str = "auto"):
        self.name = ckpt["name"]
        self.labels = tuple(ckpt["labels"])
        self.path = path
        self.card = {k: v for k, v in ckpt.items() if k != "streams"}
        self.preprocessing = ckpt["preprocessing"]
        self.weights = ckpt["ensemble"]
        # temperature and abstention threshold fitted on training subjects (checkpoints before
        # calibration existed get T = 1 and no abstention)
        cal = ckpt.get("calibration") or {}
        self.temperature = float(cal.get("temperature", 1.0))
        self.threshold = float(cal.get("threshold", 0.0))
        self._run: dict[str, Any] = {}
        onnx_paths = {s: path.with_name(f"{self.name}.{s}.onnx") for s in ENSEMBLE_STREAMS}
        use_ort = backend in ("auto", "onnxruntime") and all(p.is_file() for p in onnx_paths.values())
        if use_ort:
            try:
                from microlens.recognize.ortsession import import_onnxruntime, session

                import_onnxruntime()
            except ImportError:
                use_ort = False
        if backend == "onnxruntime" and not use_ort:
            raise UsageError(f"onnxruntime or the ONNX files beside {path} are missing")
        if use_ort:
            for s, p in onnx_paths.items():
                sess = session(str(p))  # one thread, no telemetry
                self._run[s] = lambda x, sess=sess: sess.run(None, {"x": x})[0]
            self.backend = "onnxruntime"
        else:
            import torch

            for s in ENSEMBLE_STREAMS:
                module = _stream_module(ckpt, s)

                def run(x: np.ndarray, module: Any = module) -> np.ndarray:
                    with torch.no_grad():
                        return module(torch.from_numpy(x)).numpy()

                self._run[s] = run
            self.backend = "torch"

    def predict(self, apex: np.ndarray, flow: np.ndarray) -> Prediction:
        """apex: (N, 224, 224, 3) uint8 RGB face crops at the apex; flow: (N, 28, 28, 3) uint8 images
        from :func:`microlens.face.flow.flow_image`. Preprocessing recorded in the checkpoint is applied
        here."""
        from microlens.recognize.models import model_input

        apex, flow = np.asarray(apex), np.asarray(flow)
        if apex.ndim != 4 or apex.shape[-1] != 3 or flow.ndim != 4 or flow.shape[1:] != (28, 28, 3):
            raise UsageError(
                f"predict wants apex (N, H, W, 3) and flow (N, 28, 28, 3), got {apex.shape} and {flow.shape}"
            )
        if len(apex) != len(flow):
            raise UsageError(f"{len(apex)} apex images but {len(flow)} flow images")
        k = len(self.labels)
        if len(apex) == 0:
            empty = np.zeros((0, k), np.float32)
            return Prediction(self.labels, empty, empty, empty)
        p = {
            s: self._run[s](
                np.ascontiguousarray(
                    model_input(s, apex.astype(np.uint8), flow.astype(np.uint8), self.preprocessing)
                )
            ).astype(np.float32)
            for s in ENSEMBLE_STREAMS
        }
        probs = (self.weights["apex"] * p["apex"] + self.weights["flow"] * p["flow"]).astype(np.float32)
        return Prediction(self.labels, probs, p["apex"], p["flow"])

    def decide(self, apex: np.ndarray, flow: np.ndarray, abstain: bool = True) -> list[Decision]:
        """Calibrated decisions for N samples (see :meth:`predict` for the inputs): the top class,
        or UNCERTAIN below the checkpoint's threshold (when ``abstain``)."""
        probs = calibrate(self.predict(apex, flow).probs, self.temperature)
        return decide(probs, self.labels, self.threshold if abstain else 0.0, f"micro:{self.name}")


# FER2013 class -> our name for it
FER_NAMES = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
             "sad": "sadness", "surprise": "surprise", "neutral": "neutral"}
# A macro-expression label needs the prior's class to be more probable than all others together.
# A decision rule, not a fitted number: no labelled macro-expression video is available here to fit
# one on (the micro-expression apex crops are not macro-expressions; see docs/science.md).
MACRO_MIN_PROB = 0.5
_PRIOR: dict[str, Any] = {}  # the FER2013 backbone, loaded once per process


class ExpressionPrior:
    """The macro-expression recogniser: the frozen FER2013 mini-Xception (seven full-expression
    classes) on the apex crop and its mirror image. Its classes are named in the micro model's
    vocabulary when that is the MEGC one (negative / positive / surprise), else as FER_NAMES. A
    label is decided on the seven FER2013 classes, then named: an event whose most likely class is
    'neutral', or whose most likely class is under MACRO_MIN_PROB, is UNCERTAIN (so the MEGC
    vocabulary, which sums four negative classes, does not call an ambiguous face negative)."""

    name = "fer2013"

    def __init__(self, vocabulary: tuple[str, ...] = ()):
        from microlens.recognize.expression import FER_CLASSES

        names = [FER_NAMES[c] for c in FER_CLASSES]
        if vocabulary and is_megc(vocabulary):
            names = [TO_MEGC.get(n, n) for n in names]
        self.classes = tuple(names)  # (7,) the name of each FER2013 class (MEGC names repeat)
        self.labels = tuple(dict.fromkeys(names))  # unique, in FER order
        self._merge = np.zeros((len(FER_CLASSES), len(self.labels)), np.float32)  # (7, L) sums
        for i, n in enumerate(names):
            self._merge[i, self.labels.index(n)] = 1.0

    def predict_classes(self, apex: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB apex crops -> (N, 7) probabilities over the FER2013 classes."""
        import torch

        from microlens.recognize.expression import INPUT_SIZE, mirrored, pretrained
        from microlens.recognize.models import apex_input

        if "net" not in _PRIOR:
            _PRIOR["net"] = pretrained().eval()
        x = torch.from_numpy(apex_input(np.asarray(apex, np.uint8), INPUT_SIZE))  # (N, 1, 64, 64)
        with torch.no_grad():
            logits = mirrored(_PRIOR["net"], x)  # (N, 7)
            return torch.softmax(logits, dim=1).numpy()

    def merged(self, classes: np.ndarray) -> np.ndarray:
        """(N, 7) class probabilities -> (N, L) probabilities over ``self.labels`` (sums)."""
        return classes @ self._merge

    def predict(self, apex: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB apex crops -> (N, L) probabilities over ``self.labels``."""
        return self.merged(self.predict_classes(apex))

    def decide(self, apex: np.ndarray, abstain: bool = True) -> list[Decision]:
        """Decisions for N apex crops (when ``abstain``: UNCERTAIN when 'neutral' is the most likely
        FER2013 class or the most likely class is below MACRO_MIN_PROB)."""
        if len(apex) == 0:
            return []
        return self.decide_classes(self.predict_classes(apex), abstain)

    def decide_classes(self, classes: np.ndarray, abstain: bool = True) -> list[Decision]:
        """:meth:`decide` from (N, 7) FER2013 class probabilities."""
        rec = f"macro:{self.name}"
        probs = self.merged(classes)  # (N, L)
        if not abstain:
            return decide(probs, self.labels, 0.0, rec)
        # decided on the seven FER2013 classes (the MEGC vocabulary sums four negative ones), named
        # and scored in ``self.labels``
        not_neutral = np.array([lab != "neutral" for lab in self.labels])
        out = []
        for c, p in zip(classes, probs, strict=True):
            top = self.classes[int(c.argmax())]
            j = self.labels.index(top) if top != "neutral" else int(np.argmax(np.where(not_neutral, p, -1.0)))
            sure = float(c.max()) >= MACRO_MIN_PROB
            why = NEUTRAL_FACE if top == "neutral" else "" if sure else LOW_CONFIDENCE
            out.append(_decision(p, self.labels, j, why, rec))
        return out


# how macro-expressions are labelled: by the full-expression prior, or by the micro model as before
MACRO_MODES = ("fer2013", "micro")


def label_events(rec: Recognizer, kinds: list[str], apex: np.ndarray, flow: np.ndarray, *,
                 macro: str = "fer2013", abstain: bool = True) -> list[Decision]:
    """Label N events of ``kinds`` ('micro' / 'macro'): micro-expressions by the micro model ``rec``
    (apex crop + onset->apex flow), macro-expressions by the full-expression prior (``macro`` =
    'fer2013') or by ``rec`` too ('micro'). apex: (N, 224, 224, 3) uint8; flow: (N, 28, 28, 3) uint8."""
    if macro not in MACRO_MODES:
        raise UsageError(f"unknown macro recogniser {macro!r}; use {', '.join(MACRO_MODES)}")
    to_prior = [i for i, k in enumerate(kinds) if k == "macro" and macro == "fer2013"]
    to_micro = [i for i in range(len(kinds)) if i not in set(to_prior)]
    out: list[Decision | None] = [None] * len(kinds)
    if to_micro:
        for i, d in zip(to_micro, rec.decide(apex[to_micro], flow[to_micro], abstain), strict=True):
            out[i] = d
    if to_prior:
        prior = ExpressionPrior(tuple(rec.labels))
        for i, d in zip(to_prior, prior.decide(apex[to_prior], abstain), strict=True):
            out[i] = d
    return [d for d in out if d is not None]


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint file -> its dict (``weights_only=True``: no code is unpickled)."""
    import torch

    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"no such model file: {path}") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is a usage error
        raise UsageError(f"not a microlens checkpoint: {path} ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or "streams" not in ckpt or "labels" not in ckpt:
        raise UsageError(f"not a microlens checkpoint: {path}")
    return ckpt


def model_path(name: str) -> Path:
    """A shipped model name or a checkpoint path -> the checkpoint file."""
    if name in available_models():
        return ASSETS / f"{name}.pt"
    p = Path(name)
    if p.is_file():
        return p
    raise UsageError(
        f"unknown model {name!r}: not a shipped model ({', '.join(available_models()) or 'none'}) "
        "nor a checkpoint file"
    )


def load_model(name: str = DEFAULT_MODEL, backend: str = "auto") -> Recognizer:
    """A shipped model by name (see ``available_models()``) or a checkpoint path.
    ``backend``: auto (onnxruntime when installed and exported), onnxruntime or torch."""
    path = model_path(name)
    return Recognizer(read_checkpoint(path), path, backend)


def available_models() -> list[str]:
    """Names of the models shipped in microlens/assets."""
    return sorted(p.stem for p in ASSETS.glob("*.pt"))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand: list shipped models with labels and protocol figures."""
    p = subparsers.add_parser("models", help="list shipped models with their labels and LOSO figures")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """CLI entry of ``microlens models``."""
    rows = []
    for name in available_models():
        ckpt = read_checkpoint(ASSETS / f"{name}.pt")
        m = ckpt.get("metrics", {})
        rows.append(
            {
                "name": name,
                "default": name == DEFAULT_MODEL,
                "labels": ckpt["labels"],
                "protocol": m.get("protocol"),
                "accuracy": m.get("accuracy"),
                "uf1": m.get("uf1"),
                "uf1_interval": m.get("uf1_interval"),  # 95 %, test subjects resampled; None in older ones
                "uar": m.get("uar"),
                "per_dataset": {d: v["uf1"] for d, v in m.get("per_dataset", {}).items()},
                "samples": ckpt.get("provenance", {}).get("samples"),
                "licence": "research use only",
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no shipped models in", ASSETS)
        return 0
    for r in rows:
        per = ", ".join(f"{d} {v:.3f}" for d, v in r["per_dataset"].items())
        ci = r["uf1_interval"]
        print(f"{r['name']}{' (default)' if r['default'] else ''}: {', '.join(r['labels'])}")
        print(
            f"  {str(r['protocol']).upper()} acc {r['accuracy']:.3f}  UF1 {r['uf1']:.3f}"
            + (f" (95 % interval {ci[0]:.2f}-{ci[1]:.2f})" if ci else "") + f"  UAR {r['uar']:.3f}"
            f"  (UF1 per dataset: {per}); {r['samples']} training samples; research use only"
        )
    return 0


def scaled(probs: np.ndarray, temperature: float | np.ndarray) -> np.ndarray:
    """softmax(log(p) / T) of (N, K) probabilities -> (N, K) float64 (temperature scaling); T is
    one number or (N, 1), one per sample."""
    z = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
