"""Every registered model: shapes, a learning step, ONNX export agreement; the input recipes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from microlens.models import CBAM, MODELS, apex_input, build, flow_input

INPUT = {"apexnet": (1, 32, 32), "flownet": (3, 28, 28), "ststnet": (3, 28, 28)}


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("cbam", [False, True])
def test_model_forward_and_step(arch, cbam):
    torch.manual_seed(0)
    model = build({"arch": arch, "n_classes": 4, "cbam": cbam})
    x = torch.randn(6, *INPUT[arch])
    out = model(x)
    assert out.shape == (6, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    before = torch.nn.functional.cross_entropy(model(x), y)
    before.backward()
    opt.step()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert model.stream in ("apex", "flow")
    assert sum(p.numel() for p in model.parameters()) < 300_000  # small enough for 2 CPU cores


def test_ststnet_matches_paper_layout():
    m = MODELS["ststnet"](n_classes=3)
    assert [b[0].out_channels for b in m.branches] == [3, 5, 8]
    assert all(b[0].kernel_size == (3, 3) for b in m.branches)
    assert m.fc.in_features == 16 * 5 * 5


def test_cbam_keeps_shape():
    x = torch.randn(2, 8, 7, 7)
    assert CBAM(8)(x).shape == x.shape


def test_input_recipes():
    apex = np.full((2, 224, 224, 3), 255, np.uint8)
    a = apex_input(apex, 32, False, "clahe")
    assert a.shape == (2, 1, 32, 32) and a.dtype == np.float32 and a.max() <= 1.0
    assert apex_input(apex, 48, True).shape == (2, 3, 48, 48)
    f = flow_input(np.zeros((3, 28, 28, 3), np.uint8))
    assert f.shape == (3, 3, 28, 28) and f.max() == 0.0
