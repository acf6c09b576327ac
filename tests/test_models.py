"""Every registered model: shapes, a learning step, ONNX export agreement; the input recipes."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from microlens.recognize.models import CBAM, MODELS, ExpressionNet, apex_input, build, flow_input

INPUT = {
    "apexnet": (1, 32, 32), "expressionnet": (1, 64, 64), "flownet": (3, 28, 28), "regionlinear": (3, 28, 28),
    "ststnet": (3, 28, 28),
}
# (arch, extra config): CBAM on and off where the architecture has it
CASES = [
    (arch, {"cbam": cbam} if "cbam" in inspect.signature(MODELS[arch]).parameters else {})
    for arch in sorted(MODELS)
    for cbam in (False, True)
    if cbam is False or "cbam" in inspect.signature(MODELS[arch]).parameters
]


def test_every_model_has_an_input_shape():
    assert set(INPUT) == set(MODELS)


@pytest.mark.parametrize(("arch", "extra"), CASES, ids=[f"{a}-{e}" for a, e in CASES])
def test_model_forward_and_step(arch, extra):
    torch.manual_seed(0)
    model = build({"arch": arch, "n_classes": 4, **extra})
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


def test_expression_backbone_reads_a_smile():
    """The ported FER2013 weights behave like the original: the astronaut (smiling) reads as happy."""
    import cv2
    from skimage import data

    from microlens.recognize.expression import FER_CLASSES, pretrained

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)[30:230, 150:330]  # (200, 180) her face
    x = torch.from_numpy(cv2.resize(face, (64, 64), interpolation=cv2.INTER_AREA) / 127.5 - 1.0)
    with torch.no_grad():
        p = torch.softmax(pretrained()(x[None, None].float()), dim=1)[0]
    assert FER_CLASSES[int(p.argmax())] == "happy" and p.max() > 0.5


def test_expressionnet_trains_only_its_head():
    """The backbone stays as shipped; the head is solved to convergence, the same for any seed."""
    from microlens.science.train.loop import LoopOptions, train_stream

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (12, 1, 64, 64)).astype(np.float32)
    y = np.arange(12) % 3
    member = train_stream(x, y, 3, {"arch": "expressionnet"}, LoopOptions(epochs=2, batch_size=6))
    again = train_stream(x, y, 3, {"arch": "expressionnet"}, LoopOptions(), seed=7)
    assert all(torch.equal(v, again["state_dict"][k]) for k, v in member["state_dict"].items())  # convex
    shipped = ExpressionNet(3).backbone.state_dict()
    trained = {k[len("backbone."):]: v for k, v in member["state_dict"].items() if k.startswith("backbone.")}
    assert trained.keys() == shipped.keys()
    assert all(torch.equal(trained[k], shipped[k]) for k in shipped)  # frozen, BN statistics included
    fresh = ExpressionNet(3).head.state_dict()
    assert any(not torch.equal(member["state_dict"][f"head.{k}"], v) for k, v in fresh.items())


def test_mirror_averaged_flow_stream_is_mirror_invariant():
    """Test-time mirroring: a flow image and its mirror get the same probabilities, and mirroring
    twice is the identity (u -> 1 - u undone)."""
    from microlens.recognize.models import StreamModule, mirror_flow

    torch.manual_seed(0)
    member = {"config": {"arch": "flownet", "n_classes": 3},
              "state_dict": build({"arch": "flownet", "n_classes": 3}).state_dict()}
    x = torch.rand(4, 3, 28, 28)
    torch.testing.assert_close(mirror_flow(mirror_flow(x)), x)
    both = StreamModule([member], mirror=True).eval()
    plain = StreamModule([member], mirror=False).eval()
    with torch.no_grad():
        torch.testing.assert_close(both(x), both(mirror_flow(x)))
        assert not torch.allclose(plain(x), plain(mirror_flow(x)))
        torch.testing.assert_close(both(x), 0.5 * (plain(x) + plain(mirror_flow(x))))


@pytest.mark.parametrize("mixup", [0.0, 0.4])
def test_flow_stream_learns_separable_classes(mixup):
    """The loop (with and without mixup) fits three flow patterns that differ in where u moves."""
    from microlens.science.train.loop import LoopOptions, predict_proba, train_stream

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 16)
    x = rng.random((len(y), 3, 28, 28)).astype(np.float32) * 0.2 + 0.4
    for i, c in enumerate(y):
        x[i, 1, 9 * c : 9 * c + 9, :] = 1.0  # v moves in band c (rows): mirroring keeps the band
    member = train_stream(x, y, 3, {"arch": "flownet", "cbam": False}, LoopOptions(epochs=15, mixup=mixup))
    pred = predict_proba([member], x, mirror=True).argmax(1)
    assert (pred == y).mean() >= 0.9


def test_weight_averaging_flow_noise_and_zoom():
    """Averaging the last epoch alone is the plain result, averaging more is not; flow noise and zoom
    change the flow networks' training and leave other architectures alone."""
    from microlens.science.train.loop import LoopOptions, train_stream

    rng = np.random.default_rng(0)
    y = np.arange(12) % 3
    flow = rng.random((12, 3, 28, 28)).astype(np.float32)
    apex = rng.uniform(-1, 1, (12, 1, 16, 16)).astype(np.float32)
    flownet, apexnet = {"arch": "flownet", "cbam": False}, {"arch": "apexnet"}

    def weights(x, config, **kw):
        return train_stream(x, y, 3, config, LoopOptions(epochs=4, batch_size=6, **kw))["state_dict"]

    def same(a, b):
        return all(torch.equal(v, b[k]) for k, v in a.items())

    plain = weights(flow, flownet)
    assert same(weights(flow, flownet, average_last=0.25), plain)  # 1 of 4 epochs: the last weights
    assert not same(weights(flow, flownet, average_last=0.5), plain)
    assert not same(weights(flow, flownet, flow_noise=0.05), plain)
    assert same(weights(apex, apexnet, flow_noise=0.05), weights(apex, apexnet))
    assert not same(weights(flow, flownet, flow_zoom=0.1), plain)
    assert same(weights(apex, apexnet, flow_zoom=0.1), weights(apex, apexnet))


def test_zoom_keeps_the_centre_and_scales_about_it():
    """A zoom by 1 is the identity; random zooms scale a centred square's area both ways and keep
    its centre of mass at the image centre (13.5 on 28 px)."""
    from microlens.science.train.loop import _zoom

    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 13:15, 13:15] = 1.0
    gen = torch.Generator().manual_seed(0)
    assert torch.allclose(_zoom(x, 0.0, gen), x, atol=1e-6)
    zoomed = _zoom(x.repeat(64, 1, 1, 1), 0.5, gen)[:, 0]  # (64, 28, 28), factors in [0.5, 1.5]
    mass = zoomed.sum(dim=(1, 2))  # the square's area scales with the factor squared
    assert float(mass.min()) < 3.0 and float(mass.max()) > 5.0
    pos = torch.arange(28.0)
    assert torch.allclose((zoomed.sum(1) * pos).sum(1) / mass, torch.full((64,), 13.5), atol=1e-3)
    assert torch.allclose((zoomed.sum(2) * pos).sum(1) / mass, torch.full((64,), 13.5), atol=1e-3)


def test_flownet_blur_smooths_inside_the_model():
    """The blur is a normalised Gaussian applied per channel: a constant input stays constant, a
    point spreads symmetrically, mirroring commutes with it, and blur 0 is the plain network."""
    from microlens.recognize.models import FlowNet, mirror_flow

    net = FlowNet(3, blur=1.0).eval()
    assert net.radius == 2 and torch.allclose(net.kernel.sum(dim=(1, 2, 3)), torch.ones(3))
    assert "kernel" not in net.state_dict()  # derived from the config, not stored
    k = net.kernel[0, 0]
    assert torch.allclose(k, k.flip(0)) and torch.allclose(k, k.T) and float(k[2, 2]) == float(k.max())
    x = torch.rand(2, 3, 28, 28)
    smoothed: list[torch.Tensor] = []
    net.features.register_forward_pre_hook(lambda _m, args: smoothed.append(args[0]))
    net(torch.full((1, 3, 28, 28), 0.3))
    assert torch.allclose(smoothed[-1], torch.full((1, 3, 28, 28), 0.3), atol=1e-6)
    net(x)
    plain_in = smoothed[-1]
    net(mirror_flow(x))
    assert torch.allclose(smoothed[-1], mirror_flow(plain_in), atol=1e-5)
    assert float(plain_in.std()) < float(x.std())
    assert FlowNet(3).radius == 0 and not hasattr(FlowNet(3), "kernel")


def test_erase_fills_one_square_with_the_median():
    from microlens.science.train.loop import _erase

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 28, 28)
    out = _erase(x, 8, gen)
    changed = (out != x).any(dim=1)  # (16, 28, 28)
    assert out.shape == x.shape
    for i in range(16):
        rows, cols = torch.nonzero(changed[i], as_tuple=True)
        assert len(rows) and int(rows.max() - rows.min()) < 8 and int(cols.max() - cols.min()) < 8
        med = x[i].flatten(1).median(dim=1).values  # (3,)
        r0, c0 = int(rows.min()), int(cols.min())
        assert torch.allclose(out[i, :, r0, c0], med)


def test_strain_drop_blanks_only_the_strain_channel():
    from microlens.science.train.loop import _drop_strain

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 28, 28)
    out = _drop_strain(x, 0.5, gen)
    assert torch.equal(out[:, :2], x[:, :2])  # u and v untouched
    blank = (out[:, 2] != x[:, 2]).flatten(1).any(1)  # (64,) samples whose strain was blanked
    assert 16 < int(blank.sum()) < 48  # about half
    for i in torch.nonzero(blank).flatten().tolist():
        assert torch.all(out[i, 2] == x[i, 2].median())
    assert torch.equal(_drop_strain(x, 0.0, gen), x)


def test_flow_grid_sets_the_head_size():
    from microlens.recognize.models import FlowNet, build

    assert build({"arch": "flownet", "n_classes": 3, "grid": 2}).head[-1].in_features == 64 * 2 * 2
    assert FlowNet(3).head[-1].in_features == 64 * 4 * 4  # the default
    x = torch.rand(2, 3, 28, 28)
    assert build({"arch": "flownet", "n_classes": 3, "grid": 2}).eval()(x).shape == (2, 3)


def test_flow_erase_and_blur_change_only_flow_training():
    from microlens.science.train.loop import LoopOptions, train_stream

    rng = np.random.default_rng(0)
    y = np.arange(12) % 3
    flow = rng.random((12, 3, 28, 28)).astype(np.float32)
    apex = rng.uniform(-1, 1, (12, 1, 16, 16)).astype(np.float32)

    def weights(x, config, **kw):
        return train_stream(x, y, 3, config, LoopOptions(epochs=2, batch_size=6, **kw))["state_dict"]

    def same(a, b):
        return all(torch.equal(v, b[k]) for k, v in a.items())

    flownet = {"arch": "flownet", "cbam": False}
    plain = weights(flow, flownet, flow_erase=0)
    assert not same(weights(flow, flownet, flow_erase=8), plain)
    assert not same(weights(flow, {**flownet, "blur": 1.0}, flow_erase=0), plain)
    assert not same(weights(flow, flownet, strain_drop=0.5), plain)
    assert same(weights(apex, {"arch": "apexnet"}, flow_erase=8),
                weights(apex, {"arch": "apexnet"}, flow_erase=0))
    assert same(weights(apex, {"arch": "apexnet"}, strain_drop=0.5),
                weights(apex, {"arch": "apexnet"}, flow_erase=0))
    assert LoopOptions().flow_erase == 0  # tried, not adopted (benchmarks/recipe.py)
