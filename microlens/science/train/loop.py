"""The training loop: one stream, fixed epochs and schedule, nothing looked at but training data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from microlens.options import option
from microlens.recognize.models import StreamModule, build, mirror_flow


@dataclass(frozen=True)
class LoopOptions:
    """Hyper-parameters of one stream's training run (the same in every fold)."""

    # passes over the training set; fixed, never chosen on a test fold
    epochs: int = option(40, "training epochs per stream (fixed, no early stopping)")
    # minibatch size
    batch_size: int = option(32, "minibatch size")
    # peak learning rate of the one-cycle cosine schedule
    lr: float = option(3e-3, "peak learning rate (AdamW, cosine schedule with warm-up)")
    # AdamW weight decay
    weight_decay: float = option(1e-3, "AdamW weight decay")
    # label smoothing of the cross-entropy
    label_smoothing: float = option(0.1, "label smoothing")
    # class-balanced loss: weights inversely proportional to class frequency
    balanced: bool = option(True, "class-balanced cross-entropy")
    # random flips (u sign flipped for flow), shifts and brightness/contrast jitter; also gates flow_erase
    augment: bool = option(True, "data augmentation")
    # mixup: train on convex mixes of two samples and their labels, mixing weight ~ Beta(a, a); 0 = off
    mixup: float = option(0.0, "mixup Beta parameter (0: off)")
    # Gaussian noise of this standard deviation added to flow inputs ([0, 1] scale) while training
    flow_noise: float = option(0.0, "sd of Gaussian noise added to training flow inputs (0: off)")
    # weights averaged over the epochs of this final fraction of training (SWA); 0 = last weights
    average_last: float = option(0.0, "average the weights of this final fraction of epochs (0: off)")
    # random zoom of flow inputs by a factor in [1 - zoom, 1 + zoom] about the centre (face framing
    # differs between datasets); vector lengths are not rescaled: each channel is min-max normalised
    flow_zoom: float = option(0.0, "largest relative zoom of training flow inputs (0: off)")
    # random erasing: one square of this side (flow pixels) per training flow set to the sample's
    # per-channel median (no motion after the min-max), so no single region can carry the decision;
    # tried, not adopted (benchmarks/recipe.py: a tie within seed noise, see docs/science.md)
    flow_erase: int = option(0, "side in flow pixels of a square erased from each training flow (0: off)")
    # strain dropout: with this probability each training flow's strain channel is set to its median
    # (no information), so the decision cannot rest on strain alone; strain is the channel whose
    # distribution differs most between the training flows and real clips (docs/science.md, parity)
    strain_drop: float = option(0.0, "probability of blanking a training flow's strain channel (0: off)")
    # L2 penalty of a linear head on frozen features (ExpressionNet), solved to convergence
    head_l2: float = option(1e-2, "L2 penalty of the linear head on frozen features (ExpressionNet)")


def _shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each (C, H, W) sample by up to ``max_shift`` pixels, edges replicated."""
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, mode="replicate")
    offs = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=gen)
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offs.tolist())])


def _augment_flow(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, 3, 28, 28) in [0,1]: mirror half the samples; mirroring negates u, which after the
    per-sample min-max is 1 - u."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], mirror_flow(x), x)
    return _shift(x, 2, gen)


def _augment_apex(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, C, S, S) in [-1,1]: mirror, shift, brightness and contrast jitter."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    x = _shift(x, max(1, x.shape[-1] // 16), gen)
    gain = 1 + 0.2 * (torch.rand(len(x), 1, 1, 1, generator=gen) - 0.5)
    bias = 0.2 * (torch.rand(len(x), 1, 1, 1, generator=gen) - 0.5)
    return (x * gain + bias).clamp(-1, 1)


def _zoom(x: torch.Tensor, max_zoom: float, gen: torch.Generator) -> torch.Tensor:
    """Zoom each (C, H, W) sample of (B, C, H, W) ``x`` about its centre by a factor drawn uniformly
    from [1 - max_zoom, 1 + max_zoom] (bilinear, edges replicated)."""
    factor = 1 + max_zoom * (2 * torch.rand(len(x), generator=gen) - 1)  # (B,)
    theta = torch.zeros(len(x), 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / factor  # output pixel (u, v) reads input (u / f, v / f)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _drop_strain(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """With probability ``p`` per sample of (B, 3, H, W) flow ``x``, set its strain channel to its
    median (what a flow with no strain information looks like after the min-max)."""
    drop = torch.rand(len(x), generator=gen) < p  # (B,)
    strain = x[:, 2:]  # (B, 1, H, W)
    flat = strain.flatten(1).median(dim=1).values[:, None, None, None].expand_as(strain)
    return torch.cat([x[:, :2], torch.where(drop[:, None, None, None], flat, strain)], dim=1)


def _erase(x: torch.Tensor, side: int, gen: torch.Generator) -> torch.Tensor:
    """Set one random ``side`` x ``side`` square of each (C, H, W) sample of (B, C, H, W) ``x`` to
    that sample's per-channel median (the value of no motion in a min-max normalised flow)."""
    b, _, h, w = x.shape
    side = min(side, h, w)
    fill = x.flatten(2).median(dim=2).values  # (B, C)
    ys = torch.randint(0, h - side + 1, (b,), generator=gen)
    xs = torch.randint(0, w - side + 1, (b,), generator=gen)
    rows, cols = torch.arange(h), torch.arange(w)
    inside = (((rows[None] >= ys[:, None]) & (rows[None] < ys[:, None] + side))[:, :, None]
              & ((cols[None] >= xs[:, None]) & (cols[None] < xs[:, None] + side))[:, None, :])  # (B, H, W)
    return torch.where(inside[:, None], fill[:, :, None, None], x)


# architectures that read the (3, 28, 28) flow input
FLOW_ARCHS = ("flownet", "regionlinear", "ststnet")
# model arch -> its training-time augmentation
AUGMENT: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "apexnet": _augment_apex,
    "flownet": _augment_flow,
    "regionlinear": _augment_flow,
    "ststnet": _augment_flow,
}


# The training loop reads top to bottom, as in nanoGPT; what one batch goes through (its transforms,
# its loss) and the frozen-front case are the helpers below it.
def train_stream(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    model_config: dict[str, Any],
    opts: LoopOptions,
    seed: int = 0,
) -> dict[str, Any]:
    """Train one model from scratch on (N, C, S, S) float32 ``x`` and (N,) int64 ``y``.

    Returns ``{"config": model config, "state_dict": weights}``. The loop is fixed: ``opts.epochs``
    epochs, AdamW, linear warm-up then cosine decay, class-balanced label-smoothed cross-entropy.
    A model with a frozen ``front`` (ExpressionNet) instead gets its linear head solved to
    convergence on the front's features.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    config = {**model_config, "n_classes": n_classes}
    model = build(config)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    weights = _class_weights(yt, n_classes) if opts.balanced else torch.ones(n_classes)

    front = getattr(model, "front", None)
    if front is not None:  # ExpressionNet: no epochs, the linear head on its frozen features is solved
        _fit_head(model, front, xt, yt, weights, opts.head_l2)
        return {"config": config, "state_dict": _snapshot(model)}

    augment = AUGMENT[config["arch"]] if opts.augment else None

    steps_per_epoch = max(1, int(np.ceil(len(xt) / opts.batch_size)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    schedule = _warmup_cosine(optimizer, opts.epochs * steps_per_epoch)

    # epochs from this one on are averaged (SWA); opts.epochs (none) when averaging is off
    first_averaged = opts.epochs - round(opts.average_last * opts.epochs)
    averaged: dict[str, torch.Tensor] | None = None
    n_avg = 0
    model.train()
    for epoch in range(opts.epochs):
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), opts.batch_size):
            idx = order[start : start + opts.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            xb = _transformed(xt[idx], config["arch"], augment, opts, gen)
            loss = _loss(model, xb, yt[idx], weights, opts, gen)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if epoch >= first_averaged:  # running mean of the weights (and BatchNorm statistics)
            snap, n_avg = _snapshot(model), n_avg + 1
            averaged = snap if averaged is None else {
                k: (a + (v - a) / n_avg if a.is_floating_point() else v) for (k, a), v in
                zip(averaged.items(), snap.values(), strict=True)}

    model.eval()
    return {"config": config, "state_dict": averaged if averaged is not None else _snapshot(model)}


def _class_weights(yt: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(K,) cross-entropy class weights from the training labels only, inversely proportional to
    each class's count: rare classes count as much as common ones."""
    counts = torch.bincount(yt, minlength=n_classes).float()
    return counts.sum() / (n_classes * counts.clamp(min=1))


def _warmup_cosine(optimizer: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning-rate schedule over ``total`` steps: linear warm-up over the first tenth, then
    cosine decay to zero."""
    warmup = max(1, total // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(1.0, s / total)))
    )


def _transformed(
    xb: torch.Tensor,
    arch: str,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None,
    opts: LoopOptions,
    gen: torch.Generator,
) -> torch.Tensor:
    """One training batch (B, C, S, S) after the transforms that ``opts`` turns on, in a fixed order
    (each draws from ``gen``): ``augment`` (the arch's flips and shifts), then for flow inputs zoom,
    erasing and strain dropout (these two only with augmentation on), and Gaussian noise."""
    flow = arch in FLOW_ARCHS
    if augment is not None:
        xb = augment(xb, gen)
    if opts.flow_zoom > 0 and flow:
        xb = _zoom(xb, opts.flow_zoom, gen)
    if augment is not None and opts.flow_erase > 0 and flow:
        xb = _erase(xb, opts.flow_erase, gen)
    if augment is not None and opts.strain_drop > 0 and flow:
        xb = _drop_strain(xb, opts.strain_drop, gen)
    if opts.flow_noise > 0 and flow:
        xb = xb + opts.flow_noise * torch.randn(xb.shape, generator=gen)
    return xb


def _loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, weights: torch.Tensor, opts: LoopOptions,
          gen: torch.Generator) -> torch.Tensor:
    """The class-weighted, label-smoothed cross-entropy of one batch. With mixup, each sample is mixed
    with another of the batch (weight ~ Beta(a, a), drawn from torch's global generator; the partner
    from ``gen``), and the two labels' losses alike."""
    def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, target, weight=weights, label_smoothing=opts.label_smoothing)

    if opts.mixup <= 0:
        return cross_entropy(model(xb), yb)
    lam = float(torch.distributions.Beta(opts.mixup, opts.mixup).sample())
    perm = torch.randperm(len(xb), generator=gen)
    logits = model(lam * xb + (1 - lam) * xb[perm])
    loss = lam * cross_entropy(logits, yb)
    return loss + (1 - lam) * cross_entropy(logits, yb[perm])


def _fit_head(model: nn.Module, front: nn.Module, xt: torch.Tensor, yt: torch.Tensor, weights: torch.Tensor,
              l2: float) -> None:
    """A frozen front end (ExpressionNet's pretrained backbone) under a linear head: run the front
    once, standardise its features with training statistics, and solve the convex, L2-penalised,
    class-balanced logistic regression to convergence (L-BFGS from zeros). No epochs, nothing to
    stop early, and the same result for every seed. Sets the model's head in place."""
    model.eval()
    scale = cast(nn.BatchNorm1d, model.get_submodule("head.0"))  # affine=False: a fixed scaler
    linear = cast(nn.Linear, model.get_submodule("head.1"))
    with torch.no_grad():
        feats = front(xt)  # (N, D)
        scale.running_mean = feats.mean(0)
        scale.running_var = feats.var(0, unbiased=False)
        z = scale(feats)  # (N, D) standardised
        linear.weight.zero_()
        linear.bias.zero_()
    lbfgs = torch.optim.LBFGS(linear.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        lbfgs.zero_grad()
        loss = F.cross_entropy(linear(z), yt, weight=weights)
        loss = loss + l2 * linear.weight.square().sum()
        loss.backward()
        return loss

    lbfgs.step(objective)


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's state dict."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def predict_proba(members: list[dict[str, Any]], x: np.ndarray, mirror: bool = False) -> np.ndarray:
    """Average softmax probabilities of trained ``members`` (seeds) on (N, C, S, S) x -> (N, K),
    also over the mirrored input when ``mirror`` (flow input); the module inference uses."""
    with torch.no_grad():
        return StreamModule(members, mirror).eval()(torch.from_numpy(x)).numpy().astype(np.float32)


def options_dict(opts: LoopOptions) -> dict[str, Any]:
    """The loop options as a plain dict (for checkpoints and metrics)."""
    return asdict(opts)
