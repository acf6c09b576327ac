"""The networks: ApexNet (apex crop), FlowNet (onset->apex flow), the STSTNet baseline, and CBAM.

Every model is built from a plain config dict (``build(config)``) so checkpoints can describe and
rebuild it. Input preprocessing (numpy -> float32 NCHW) lives here too, so training, evaluation and
inference apply the same recipe, recorded in the checkpoint as ``preprocessing``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from microlens.recognize.expression import FER_CLASSES, MiniXception, mirrored, pretrained
from microlens.recognize.preprocess import equalize

# ---------------------------------------------------------------- preprocessing (numpy)


def apex_input(
    apex: np.ndarray, size: int = 48, color: bool = False, equalization: str = "none"
) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB apex crops -> (N, C, size, size) float32 in [-1, 1], C = 3 or 1."""
    out = np.empty((len(apex), 3 if color else 1, size, size), np.float32)
    for i, img in enumerate(apex):
        img = equalize(np.ascontiguousarray(img), equalization)
        small = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)  # (size, size, 3)
        if color:
            out[i] = small.transpose(2, 0, 1)
        else:
            out[i, 0] = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    return out / 127.5 - 1.0


def flow_input(flow: np.ndarray) -> np.ndarray:
    """(N, 28, 28, 3) uint8 (u, v, strain) -> (N, 3, 28, 28) float32 in [0, 1]."""
    return flow.transpose(0, 3, 1, 2).astype(np.float32) / 255.0


# ---------------------------------------------------------------- building blocks


class CBAM(nn.Module):
    """Convolutional block attention (Woo et al., 2018): channel then spatial attention."""

    def __init__(self, channels: int, reduction: int = 4, kernel: int = 7):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.spatial = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        ch = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))  # (B, C)
        x = x * torch.sigmoid(ch)[:, :, None, None]
        sp = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return x * torch.sigmoid(self.spatial(sp))


class GridPool(nn.Module):
    """Adaptive average pooling to a ``grid`` x ``grid`` map, written with static slices so that it
    exports to ONNX for any input size (same windows as ``nn.AdaptiveAvgPool2d``)."""

    def __init__(self, grid: int):
        super().__init__()
        self.grid = grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, g, g)
        g, h, w = self.grid, int(x.shape[-2]), int(x.shape[-1])
        if h % g == 0 and w % g == 0:
            return F.avg_pool2d(x, (h // g, w // g))
        rows = [(i * h // g, -(-(i + 1) * h // g)) for i in range(g)]
        cols = [(j * w // g, -(-(j + 1) * w // g)) for j in range(g)]
        cells = [[x[..., r0:r1, c0:c1].mean(dim=(-2, -1)) for c0, c1 in cols] for r0, r1 in rows]
        return torch.stack([torch.stack(row, dim=-1) for row in cells], dim=-2)


def _block(cin: int, cout: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class _SmallCNN(nn.Module):
    """Three conv blocks, optional CBAM, a small spatial grid kept (where motion is matters), dense."""

    def __init__(self, in_ch: int, n_classes: int, width: int, cbam: bool, grid: int, dropout: float):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _block(in_ch, w, True), _block(w, 2 * w, True), _block(2 * w, 4 * w, False)
        )
        self.cbam = CBAM(4 * w) if cbam else nn.Identity()
        self.pool = GridPool(grid)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * w * grid * grid, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, S, S) -> (B, K) logits
        return self.head(self.pool(self.cbam(self.features(x))))


class ApexNet(_SmallCNN):
    """Apex-frame stream: a small CNN on a downscaled (gray or RGB) apex face crop."""

    stream = "apex"

    def __init__(
        self,
        n_classes: int,
        in_ch: int = 1,
        width: int = 16,
        cbam: bool = False,
        grid: int = 3,
        dropout: float = 0.5,
    ):
        super().__init__(in_ch, n_classes, width, cbam, grid, dropout)


class FlowNet(_SmallCNN):
    """Flow stream: a small CNN on the 28x28 (u, v, strain) onset->apex flow image. With ``blur``
    > 0 a fixed Gaussian of that standard deviation (in flow pixels) smooths each channel first,
    in training and at inference alike (it is part of the model)."""

    stream = "flow"

    def __init__(
        self, n_classes: int, width: int = 16, cbam: bool = False, grid: int = 4, dropout: float = 0.5,
        blur: float = 0.0,
    ):
        super().__init__(3, n_classes, width, cbam, grid, dropout)
        self.blur = blur
        self.radius = 0
        if blur > 0:
            r = self.radius = max(1, int(np.ceil(2 * blur)))
            g = np.exp(-0.5 * (np.arange(-r, r + 1) / blur) ** 2)
            k = np.outer(g, g) / np.outer(g, g).sum()  # (2r+1, 2r+1), sums to 1
            kernel = torch.tensor(k, dtype=torch.float32).expand(3, 1, *k.shape).clone()
            self.register_buffer("kernel", kernel, persistent=False)  # (3, 1, 2r+1, 2r+1) depthwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, K) logits
        if self.radius:
            r, kernel = self.radius, cast(torch.Tensor, self.kernel)
            x = F.conv2d(F.pad(x, (r, r, r, r), mode="replicate"), kernel, groups=3)  # (B, 3, S, S)
        return super().forward(x)


class RegionLinear(nn.Module):
    """Flow stream without learned filters: the mean of u, v and strain in each cell of a
    ``grid`` x ``grid`` partition of the face (MDMO-like region features, Liu et al., 2016),
    batch-normalised, into one linear layer. Few weights, so little to overfit on 150 samples."""

    stream = "flow"

    def __init__(self, n_classes: int, grid: int = 7, dropout: float = 0.5):
        super().__init__()
        self.pool = GridPool(grid)
        d = 3 * grid * grid  # region features
        self.head = nn.Sequential(
            nn.Flatten(), nn.BatchNorm1d(d), nn.Dropout(dropout), nn.Linear(d, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, K) logits
        return self.head(self.pool(x))  # (B, 3, g, g) region means -> (B, 3 g g) -> (B, K)


class STSTNet(nn.Module):
    """Shallow triple-stream network (Liong et al., 2019), reimplemented from the paper: three
    parallel 3x3 conv branches of 3, 5 and 8 filters on the 28x28x3 flow, ReLU, BN, 3x3 max-pool
    stride 3, concat, 2x2 average pool, flatten (16x5x5), dense to K classes."""

    stream = "flow"

    def __init__(self, n_classes: int, cbam: bool = False, dropout: float = 0.5):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(3, c, 3, padding=2),
                nn.ReLU(),
                nn.BatchNorm2d(c),
                nn.MaxPool2d(3, stride=3, padding=1),
                nn.Dropout(dropout),
            )
            for c in (3, 5, 8)
        )
        self.cbam = CBAM(16, reduction=2) if cbam else nn.Identity()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(16 * 5 * 5, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 28, 28) -> (B, K)
        x = torch.cat([b(x) for b in self.branches], dim=1)  # (B, 16, 10, 10)
        return self.fc(self.pool(self.cbam(x)).flatten(1))  # (B, 16, 5, 5) -> (B, K)


class ExpressionNet(nn.Module):
    """Apex stream on prior knowledge: the frozen FER2013 mini-Xception
    (:mod:`microlens.recognize.expression`) reads the 64x64 gray apex crop and its mirror image into
    seven expression scores; a linear head
    on the standardised scores maps them to our classes.

    Only the head learns (the training loop solves it as a convex logistic regression): 150
    micro-expression samples are too few to move the backbone without teaching it who people are."""

    stream = "apex"

    def __init__(self, n_classes: int, load_pretrained: bool = True):
        super().__init__()
        self.backbone = pretrained() if load_pretrained else MiniXception()
        self.backbone.requires_grad_(False)
        k = len(FER_CLASSES)
        # a fixed scaler (training-set mean and variance of the scores, set by the loop), then linear
        self.head = nn.Sequential(nn.BatchNorm1d(k, affine=False), nn.Linear(k, n_classes))
        self.eval()

    def train(self, mode: bool = True) -> ExpressionNet:
        """Always in eval mode: FER2013 BatchNorm statistics and the head's scaler stay fixed."""
        return super().train(False)

    def front(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 64, 64) in [-1, 1] -> (B, 7)
        """The frozen part: mirror-averaged FER2013 scores (the loop runs it once per sample)."""
        return mirrored(self.backbone, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 64, 64) in [-1, 1] -> (B, K) logits
        return self.head(self.front(x))


MODELS: dict[str, Callable[..., nn.Module]] = {
    "apexnet": ApexNet,
    "expressionnet": ExpressionNet,
    "flownet": FlowNet,
    "regionlinear": RegionLinear,
    "ststnet": STSTNet,
}


def build(config: dict[str, Any]) -> nn.Module:
    """A model from ``{"arch": name in MODELS, "n_classes": K, ...constructor kwargs}``."""
    kwargs = {k: v for k, v in config.items() if k != "arch"}
    return MODELS[config["arch"]](**kwargs)


def load_member(member: dict[str, Any]) -> nn.Module:
    """A trained member dict ``{"config", "state_dict"}`` -> the model in eval mode."""
    model = build(member["config"])
    model.load_state_dict(member["state_dict"])
    return model.eval()


def mirror_flow(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) flow input in [0, 1] -> its left-right mirror: the image flipped and u negated,
    which after the per-sample min-max of :func:`flow_input` is 1 - u."""
    m = x.flip(-1)
    return torch.cat([1.0 - m[:, :1], m[:, 1:]], dim=1)


class StreamModule(nn.Module):
    """A stream's trained seed members as one module: (B, C, S, S) -> (B, K) softmax probabilities
    averaged over the members and, with ``mirror`` (flow input only), over the input and its mirror
    (test-time mirroring: an expression and its mirror image carry the same label)."""

    def __init__(self, members: list[dict[str, Any]], mirror: bool = False) -> None:
        super().__init__()
        self.members = nn.ModuleList(load_member(m) for m in members)
        self.mirror = mirror

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = [x, mirror_flow(x)] if self.mirror else [x]
        return torch.stack([torch.softmax(m(v), dim=1) for m in self.members for v in xs]).mean(0)


def model_input(stream: str, apex: np.ndarray, flow: np.ndarray, prep: dict[str, Any]) -> np.ndarray:
    """The float32 NCHW batch a ``stream`` ('apex' or 'flow') model takes, per ``prep``
    (the checkpoint's preprocessing: apex_size, apex_color, equalization)."""
    if stream == "apex":
        return apex_input(apex, prep["apex_size"], prep["apex_color"], prep["equalization"])
    return flow_input(flow)
