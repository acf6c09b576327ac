"""What ``microlens train`` trains: its options (the defaults are the shipped recipe), the streams
and the architectures of their members, and the input recipe recorded in the checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from microlens.options import option
from microlens.recognize.preprocess import EQUALIZERS
from microlens.science.train.protocols import PROTOCOLS


@dataclass(frozen=True)
class TrainOptions:
    """What to train and how to evaluate it."""

    # prepared dataset directory (manifest.csv, apex/, flow/)
    data: str = option("", "prepared dataset directory (manifest.csv + apex/ + flow/)")
    # label set: casme2, megc3 or a comma list
    labels: str = option("casme2", "label set: casme2, megc3 or a comma list like happiness,surprise")
    # evaluation protocol
    protocol: str = option("loso", "evaluation protocol", choices=tuple(PROTOCOLS))
    # output directory
    out: str = option("runs/train", "output directory for metrics.json, PNGs and the checkpoint")
    # model name stored in the checkpoint and used for file names
    name: str = option("", "model name (default: the label-set argument)")
    # restrict to some source datasets of the manifest
    datasets: str = option("", "comma list of source datasets to keep, e.g. casme2 (default: all)")
    # apex-stream network
    apex_arch: str = option(
        "expressionnet",
        "apex network: expressionnet (pretrained FER2013 backbone) or apexnet (small CNN from scratch)",
        choices=("expressionnet", "apexnet"),
    )
    # side of the apex input; 0 = the network's native side
    apex_size: int = option(0, "apex input side in pixels (0: 64 for expressionnet, 32 for apexnet)")
    # RGB instead of gray apex input
    apex_color: bool = option(False, "RGB apex input instead of gray")
    # apex equalisation
    equalization: str = option("none", "apex equalisation", choices=tuple(EQUALIZERS))
    # CBAM attention in both streams
    cbam: bool = option(True, "CBAM attention in both streams")
    # channels of the flow network's first block (doubled in each of the next two)
    flow_width: int = option(16, "flow network width: channels of its first conv block")
    # side of the grid of cells whose pooled features the flow network's head reads (where on the
    # face the motion is); a smaller grid ties the head less to one dataset's framing
    flow_grid: int = option(4, "flow network head: side of its grid of pooled cells")
    # sd in flow pixels of a fixed Gaussian smoothing inside the flow network (train and inference)
    flow_blur: float = option(0.0, "sd (flow pixels) of the Gaussian that smooths flow inputs inside "
                                   "the flow network (0: off)")
    # architectures of the flow stream's members, probabilities averaged
    flow_arch: str = option("flownet", "flow-stream member architecture(s)",
                            choices=("flownet", "flownet+ststnet", "regionlinear", "flownet+regionlinear"))
    # also train the STSTNet baseline
    baseline: bool = option(False, "also train the STSTNet baseline (Liong et al., 2019)")
    # seeds averaged per stream
    seeds: int = option(1, "models per stream with different seeds, probabilities averaged")
    # ensemble weights: inner CV (the shipped models' recipe) or equal
    weights: str = option(
        "inner", "ensemble weights: inner CV on training subjects (one-standard-error rule; the shipped "
        "recipe), or equal",
        choices=("equal", "inner")
    )
    # test-time mirroring of every flow-input stream (the STSTNet baseline too)
    mirror_average: bool = option(True, "average flow-stream probabilities over the input and its mirror")
    # temperature scaling and an abstention threshold, fitted on out-of-fold training predictions
    calibrate: bool = option(
        True, "fit a temperature and an abstention threshold by inner CV on training subjects"
    )
    # the abstention threshold keeps this share of the training subjects' out-of-fold predictions
    coverage: float = option(0.9, "abstain below the confidence that this share of out-of-fold training "
                             "predictions reach")
    # parallel fold workers
    workers: int = option(2, "worker processes (one torch thread each)")
    # synthetic action-unit flows (microlens.science.train.synthflow) added to the flow stream's training set
    # in every fold and the final fit; built from the astronaut, never from the data; 0 = off
    synthetic: int = option(0, "synthetic action-unit flow samples added to the flow stream's training "
                               "set (0: off)")
    # master seed
    seed: int = option(0, "random seed")
    # first N subjects only (smoke runs)
    subjects: int = option(0, "use only the first N subjects (0 = all); for smoke runs")
    # final fit on all samples
    final: bool = option(True, "after the protocol, fit on all samples and save the checkpoint")
    # ONNX export of the final model
    onnx: bool = option(True, "export the final streams to ONNX beside the checkpoint")


INPUT = {"apex": "apex", "flow": "flow", "ststnet": "flow"}  # stream -> model input kind

# apex network -> its native input side (ExpressionNet's backbone was trained on 64x64 faces)
APEX_SIZE = {"apexnet": 32, "expressionnet": 64}


def streams_of(opts: TrainOptions) -> tuple[str, ...]:
    """The streams to train: apex and flow, plus the STSTNet baseline when asked."""
    return ("apex", "flow", "ststnet") if opts.baseline else ("apex", "flow")


def model_configs(opts: TrainOptions) -> dict[str, list[dict[str, Any]]]:
    """Architecture configs of each stream's members (n_classes is added by the loop)."""
    flow: dict[str, dict[str, Any]] = {
        "flownet": {"arch": "flownet", "cbam": opts.cbam, "width": opts.flow_width, "blur": opts.flow_blur,
                    "grid": opts.flow_grid},
        "ststnet": {"arch": "ststnet"},
        "regionlinear": {"arch": "regionlinear"},
    }
    return {
        "apex": [
            {"arch": "expressionnet"}
            if opts.apex_arch == "expressionnet"
            else {"arch": "apexnet", "in_ch": 3 if opts.apex_color else 1, "cbam": opts.cbam}
        ],
        "flow": [flow[a] for a in opts.flow_arch.split("+")],
        "ststnet": [{"arch": "ststnet"}],
    }


def preprocessing(opts: TrainOptions) -> dict[str, Any]:
    """The input recipe recorded in the checkpoint and applied again at inference."""
    return {
        "apex_size": opts.apex_size or APEX_SIZE[opts.apex_arch],
        "apex_color": opts.apex_color,
        "equalization": opts.equalization,
        "apex_input": "RGB 224x224 face crop at the apex, equalised, resized (INTER_AREA), /127.5-1",
        "flow_input": "28x28 (u, v, strain) uint8 image / 255",
        "flow_mirror_average": opts.mirror_average,
    }
