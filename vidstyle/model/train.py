"""Training the generator: Adam on the perceptual loss, one content frame per step.

The progress bar belongs to this loop (through the caller's `Reporter`); the device is taken
from the generator.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from vidstyle.config import GeneratorConfig, TrainConfig
from vidstyle.devices import cudnn_autotune, dtype_of
from vidstyle.errors import TrainingError, option
from vidstyle.model.adam import Adam
from vidstyle.model.generator import HRNetGenerator
from vidstyle.model.losses import PerceptualLoss
from vidstyle.model.tensors import to_channels_last
from vidstyle.reporting import Reporter


@dataclass
class TrainHistory:
    """Loss values per step, for progress reports and tests."""

    total: list[float] = field(default_factory=list)
    content: list[float] = field(default_factory=list)
    style: list[float] = field(default_factory=list)
    seconds: float = 0.0


def build_generator(config: GeneratorConfig, seed: int, device: torch.device) -> HRNetGenerator:
    """A freshly initialised generator; the seed makes runs repeat without touching global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = HRNetGenerator(config)
    return generator.to(device)


def loss_network_on(features: nn.Module, config: TrainConfig, device: torch.device) -> nn.Module:
    """The frozen loss network on ``device``, in the memory layout the training loop uses there."""
    features = features.to(device)
    return to_channels_last(features) if config.channels_last else features


def train_generator(
    generator: HRNetGenerator,
    loss: PerceptualLoss,
    contents: list[torch.Tensor],
    steps: int,
    config: TrainConfig,
    *,
    desc: str = "training",
    reporter: Reporter | None = None,
) -> TrainHistory:
    """Optimise ``generator`` in place for ``steps`` steps, cycling through ``contents``.
    ``config`` is resolved for the device (`TrainConfig.for_device`; a run's `Plan.train`).

    ``contents`` are normalised (1, 3, H, W) frames on the generator's device; their content
    targets are computed once up front (the style Grams live in ``loss``). On a GPU the
    forward passes run in bf16 under autocast (Grams and losses stay fp32) and channels-last.
    """
    if steps <= 0 or not contents:
        return TrainHistory()
    device = next(generator.parameters()).device
    dtype = dtype_of(config.precision)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    if config.channels_last:
        to_channels_last(generator)
        contents = [c.contiguous(memory_format=torch.channels_last) for c in contents]
    with autocast:
        targets = [loss.content_target(c) for c in contents]
    generator.train()
    optimizer = Adam(generator.parameters(), config.lr, decay=config.lr_decay, decay_every=config.lr_decay_every)
    history = TrainHistory()
    noise = torch.Generator(device=device).manual_seed(config.seed)
    start = time.perf_counter()
    reporter = reporter or Reporter(quiet=True)
    pending: list[torch.Tensor] = []  # this stretch's (total, content, style), still on the device
    with reporter.bar(steps, desc, "step") as bar, cudnn_autotune(device):
        for step in range(steps):
            index = step % len(contents)
            optimizer.zero_grad()
            with autocast:
                output = generator(contents[index])
                values = loss(output, targets[index])
                total = values.total
                if config.stability_weight:
                    total = total + config.stability_weight * _instability(generator, contents[index], output, noise)
            total.backward()
            optimizer.step()
            pending.append(torch.stack([values.total, values.content, values.style]).detach().float())
            if len(pending) == READ_EVERY or step == steps - 1:
                _read_losses(pending, history, desc, step + 1 - len(pending))
                pending = []
                bar.set_postfix(loss=f"{history.total[-1]:.4g}", content=f"{history.content[-1]:.3g}",
                                style=f"{history.style[-1]:.3g}")
            bar.update(1)
    generator.eval()
    history.seconds = time.perf_counter() - start
    return history


# Losses are read back every this many steps, not every step: reading one waits for the device
# to finish, so with a read per step a GPU idles while Python launches the next step's kernels.
READ_EVERY = 10


def _read_losses(pending: list[torch.Tensor], history: TrainHistory, desc: str, first: int) -> None:
    """Append a stretch of steps' losses (one read from the device) to ``history``; a loss
    that is not finite stops training with the step it first appeared at (1-based)."""
    for offset, (total, content, style) in enumerate(torch.stack(pending).tolist()):
        if not math.isfinite(total):
            raise TrainingError(f"{desc} diverged: the loss became {total} at step {first + offset + 1}; "
                                f"lower {option('style_weight')} or {option('content_weight')}, or train at "
                                f"another {option('train_size')}")
        history.total.append(total)
        history.content.append(content)
        history.style.append(style)


STABILITY_NOISE = 3.0 / 255.0 / 0.226  # ~3 grey levels in the ImageNet-normalised space


def _instability(generator: HRNetGenerator, content: torch.Tensor, output: torch.Tensor,
                 noise: torch.Generator) -> torch.Tensor:
    """How much the output moves when the input moves by codec-sized noise (Gupta et al. 2017):
    consecutive video frames differ by about that much, and the difference must not turn into
    shimmering texture."""
    jitter = torch.randn(content.shape, generator=noise, device=content.device, dtype=content.dtype)
    return (generator(content + STABILITY_NOISE * jitter).float() - output.float()).pow(2).mean()
