"""Training speed: vidstyle's loop against the straightforward one, at the same loss, and the
loss curves of fp32 against bf16 mixed precision.

    python benchmarks/train_speed.py [--device auto|cpu|cuda] [--size PX] [--steps N]
                                     [--curve-steps N] [--curve-size PX]

The straightforward loop is what style-transfer code usually does per step: evaluate the
generator's layer plan literally (concatenate the branches, then convolve), run the whole
VGG19 feature stack (all 16 convolutions) on the output, the style image and the content
frame, and build the style Grams again, all NCHW in fp32. vidstyle's loop evaluates the same
generator function with the stage-5 convolutions moved before the upsampling
(`HRNetGenerator.forward`), cuts VGG after the deepest layer it reads (relu5_1), computes the
content target and style Grams once, and on a GPU runs channels-last under bf16 autocast.
Both start from the same weights; the printed losses show they optimise the same objective.
Timings are interleaved in one process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from vidstyle.allocator import tune_allocator
from vidstyle.config import GeneratorConfig, TrainConfig
from vidstyle.devices import resolve_device, synchronize
from vidstyle.media.images import load_image, resize_long_side, resize_to_area
from vidstyle.model.losses import gram_matrix
from vidstyle.model.lossnet import PLANS, VGG19, LossNetwork, build_losses, resolve_loss_network, weights_for
from vidstyle.model.tensors import to_tensor
from vidstyle.model.train import build_generator, train_generator
from vidstyle.model.vgg import load_vgg_features

REPO = Path(__file__).resolve().parent.parent

STYLE = REPO / "samples" / "starry_night.jpg"
CONTENT = REPO / "samples" / "the_scream.jpg"


def straightforward_steps(generator, vgg, style, content, config: TrainConfig, steps: int,
                          optimizer) -> list[float]:
    """The per-step loop of typical style-transfer code (targets recomputed every step)."""
    plan = weights_for(PLANS[VGG19], config)  # the paper's layers, weights and scaling
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            style_feats = vgg(style)
            content_target = vgg(content)[plan.content_layer]
        feats = vgg(generator.forward_reference(content))
        content_loss = (feats[plan.content_layer] - content_target).pow(2).mean()
        style_loss = 0.0
        for name, weight in plan.style_layers.items():
            _, c, h, w = feats[name].shape
            diff = gram_matrix(feats[name]) - gram_matrix(style_feats[name])
            style_loss = style_loss + weight * diff.pow(2).mean() / (c * h * w)
        total = plan.content_weight * content_loss + plan.style_weight * style_loss
        total.backward()
        optimizer.step()
        losses.append(total.item())
    return losses


def compare_speed(device: torch.device, size: int, steps: int, rounds: int) -> None:
    config = TrainConfig(train_size=size, lr_decay_every=10**9).for_device(device.type)
    layers = [*PLANS[VGG19].style_layers, PLANS[VGG19].content_layer]
    style_rgb = load_image(STYLE).rgb
    content = to_tensor(resize_long_side(load_image(CONTENT).rgb, size), device)
    h, w = content.shape[-2:]
    full_vgg = load_vgg_features("random", [*layers, "conv5_4"], progress=False).to(device)
    style = to_tensor(resize_to_area(style_rgb, h * w), device)
    cut_vgg = load_vgg_features("random", layers, progress=False)
    loss = build_losses(LossNetwork(VGG19, cut_vgg, "random weights"), style_rgb, config, device)(h, w)

    plain_gen = build_generator(GeneratorConfig(), 0, device)
    fast_gen = build_generator(GeneratorConfig(), 0, device)
    plain_opt = torch.optim.Adam(plain_gen.parameters(), lr=config.lr)
    plain_curve, fast_curve = [], []
    plain_time = fast_time = 0.0
    for r in range(rounds + 1):  # round 0 warms both up and is not timed
        synchronize(device)
        t0 = time.perf_counter()
        plain_curve += straightforward_steps(plain_gen, full_vgg, style, content, config, steps, plain_opt)
        synchronize(device)
        t1 = time.perf_counter()
        # vidstyle's loop; a fresh optimiser per call, so compare the first call's losses only
        history = train_generator(fast_gen, loss, [content], steps, config)
        synchronize(device)
        t2 = time.perf_counter()
        fast_curve += history.total
        if r:
            plain_time, fast_time = plain_time + t1 - t0, fast_time + t2 - t1
    n = steps * rounds
    print(f"train size {w}x{h} on {device.type}: straightforward {plain_time / n:.3f} s/step, "
          f"vidstyle {fast_time / n:.3f} s/step, speed-up {plain_time / fast_time:.2f}x")
    same = max(abs(a - b) / abs(a) for a, b in zip(plain_curve[:steps], fast_curve[:steps], strict=True))
    print(f"  same objective: first {steps} losses agree to {same:.1e} relative "
          f"({plain_curve[0]:.5g} -> {plain_curve[steps - 1]:.5g} vs "
          f"{fast_curve[0]:.5g} -> {fast_curve[steps - 1]:.5g})")


def compare_precision(device: torch.device, size: int, steps: int) -> None:
    curves = {}
    for precision in ("fp32", "bf16"):
        config = TrainConfig(train_size=size, precision=precision).for_device(device.type)
        content = to_tensor(resize_long_side(load_image(CONTENT).rgb, size), device)
        network = resolve_loss_network("random-vgg", None)
        loss = build_losses(network, load_image(STYLE).rgb, config, device)(*content.shape[-2:])
        generator = build_generator(GeneratorConfig(), 0, device)
        curves[precision] = train_generator(generator, loss, [content], steps, config).total
    print(f"loss curves, {steps} steps at {size} px on {device.type} (fp32 | bf16 autocast):")
    for i in sorted({*range(0, steps, max(1, steps // 10)), steps - 1}):
        a, b = curves["fp32"][i], curves["bf16"][i]
        print(f"  step {i:4d}: {a:10.5g} | {b:10.5g}  ({100 * (b - a) / a:+.2f} %)")
    tail = max(1, steps // 10)
    end32, end16 = (sum(c[-tail:]) / tail for c in (curves["fp32"], curves["bf16"]))
    print(f"  mean of the last {tail} steps: {end32:.5g} | {end16:.5g} ({100 * (end16 - end32) / end32:+.2f} %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, help="Train size. Default: the device's (256 CPU, 512 GPU).")
    parser.add_argument("--steps", type=int, default=5, help="Steps per timed round.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--curve-steps", type=int, default=100)
    parser.add_argument("--curve-size", type=int, default=128)
    args = parser.parse_args()
    tune_allocator()  # as the vidstyle command does
    device = resolve_device(args.device)
    size = args.size or TrainConfig().for_device(device.type).train_size
    compare_speed(device, size, args.steps, args.rounds)
    if args.curve_steps:
        compare_precision(device, args.curve_size, args.curve_steps)


if __name__ == "__main__":
    main()
