"""`vidstyle eval`: how stable, faithful and stylized a stylized clip is, against its input.

Streams both clips in lockstep (bounded memory) and reports the metrics of `metrics.py`;
definitions in the design notes and the README's "Quality" section.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import zip_longest
from pathlib import Path

import numpy as np
import torch

from vidstyle.config import TrainConfig
from vidstyle.errors import InputError
from vidstyle.media import reader
from vidstyle.media.images import load_image, resize_long_side
from vidstyle.model.lossnet import LossNetwork, build_losses, resolve_loss_network
from vidstyle.model.tensors import to_tensor
from vidstyle.quality.metrics import (
    WarpAccumulator,
    gray_float,
    lab_pixels,
    sliced_wasserstein,
    ssim,
    temporal_ratio,
    to_float,
)
from vidstyle.render.flow import FlowEstimator, gray, is_cut, motion
from vidstyle.reporting import Reporter

STYLE_SIZE = 256  # long side at which Gram distances are measured (comparable across clips)
STYLE_FRAMES = 8  # frames sampled for the Gram distance (the costly metric)
COLOR_SAMPLES = 40000  # Lab pixels per distribution


@dataclass
class EvalResult:
    temporal_ratio: float | None
    warp_error: float
    warp_error_input: float
    variance: float
    variance_input: float
    ssim: float
    color_ratio: float
    color_distance: float
    color_distance_input: float
    style_distance: float
    style_network: str
    frames: int
    pairs_skipped_at_cuts: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def _pairs(source: Path, styled: Path, limit: int | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for n, (a, b) in enumerate(zip_longest(reader.iter_rgb(source, limit), reader.iter_rgb(styled, limit))):
        if a is None or b is None:
            raise InputError(f"{styled.name} has {'more' if a is None else 'fewer'} frames than {source.name} "
                             f"(they differ at frame {n}); eval needs the stylized copy of this very input")
        if a.shape != b.shape:
            raise InputError(f"{styled.name} is {b.shape[1]}x{b.shape[0]} but {source.name} is "
                             f"{a.shape[1]}x{a.shape[0]}; eval needs frames of the same size")
        yield a, b


class StyleDistance:
    """Gram distance to the style image under a loss network: that network's style term,
    measured at a fixed working size. Measure under another network than the one the clip was
    trained with, so that no design grades itself."""

    def __init__(self, style_rgb: np.ndarray, network: LossNetwork, device: torch.device) -> None:
        self.losses = build_losses(network, style_rgb, TrainConfig().for_device(device.type), device)
        self.network = network.name
        self.device = device

    def __call__(self, rgb: np.ndarray) -> float:
        small = resize_long_side(rgb, STYLE_SIZE)
        with torch.inference_mode():
            return float(self.losses(*small.shape[:2]).style_distance(to_tensor(small, self.device)))


def _style_frames(total: int) -> set[int]:
    """The indices of the frames whose style distance is measured: STYLE_FRAMES spread evenly
    over ``total``, or the first STYLE_FRAMES where the container does not say how many it holds (0)."""
    return set(range(0, total or STYLE_FRAMES, max(1, total // STYLE_FRAMES))[:STYLE_FRAMES])


def _grader(clip: Path, style_rgb: np.ndarray, frames: int | None, loss_network: str, vgg_weights: str | None,
            device: torch.device | None, notice=lambda message: None) -> tuple[int, set[int], StyleDistance]:
    """What `evaluate` and `style_distance` both set up: the clip's frame count (``frames`` at
    most), the frames whose style distance is graded, and the grader."""
    info = reader.probe(clip)
    total = min(info.frames, frames) if frames else info.frames
    network = resolve_loss_network(loss_network, vgg_weights, notice=notice)
    return total, _style_frames(total), StyleDistance(style_rgb, network, device or torch.device("cpu"))


def style_distance(clip: Path, style: Path, *, frames: int | None = None, loss_network: str = "auto",
                   vgg_weights: str | None = None, device: torch.device | None = None) -> float:
    """The style distance alone, on the frames `evaluate` grades: what a clip's own distance to
    the style is, for the share of that gap a render closes (no flows, no other metrics)."""
    _, graded, distance = _grader(clip, load_image(style, role="style").rgb, frames, loss_network, vgg_weights,
                                  device)
    styles = [distance(rgb) for n, rgb in enumerate(reader.iter_rgb(clip, max(graded) + 1)) if n in graded]
    if not styles:
        raise InputError(f"{clip.name} has no frames to evaluate")
    return float(np.mean(styles))


def evaluate(source: Path, styled: Path, style: Path, *, frames: int | None = None, loss_network: str = "auto",
             vgg_weights: str | None = None, device: torch.device | None = None,
             reporter: Reporter | None = None) -> EvalResult:
    """All metrics of ``styled`` against its input ``source`` and the ``style`` image. Pairs of
    frames across a scene cut are left out of the temporal metric (and counted)."""
    start = time.perf_counter()
    reporter = reporter or Reporter(quiet=True)
    style_rgb = load_image(style, role="style").rgb
    total, graded, distance = _grader(source, style_rgb, frames, loss_network, vgg_weights, device, reporter.notice)
    per_frame = max(1, COLOR_SAMPLES // max(1, total))
    flow = FlowEstimator()
    out_acc, in_acc = WarpAccumulator(), WarpAccumulator()
    ssims, styles, lab_out, lab_in = [], [], [], []
    previous = None
    n = cuts = 0
    with reporter.bar(total, f"eval {styled.name}", "frame") as bar:
        for n, (src, out) in enumerate(_pairs(source, styled, frames), start=1):
            src_f, out_f, src_g = to_float(src), to_float(out), gray(src)
            in_acc.add_frame(src_f)
            out_acc.add_frame(out_f)
            if previous is not None and is_cut(src_g, previous[2]):
                cuts += 1
            elif previous is not None:
                moved = motion(flow, src_g, previous[2])
                in_acc.add_pair(src_f, previous[0], moved)
                out_acc.add_pair(out_f, previous[1], moved)
            previous = (src_f, out_f, src_g)
            ssims.append(ssim(gray_float(out_f), gray_float(src_f)))
            lab_out.append(lab_pixels(out_f, per_frame, seed=n))
            lab_in.append(lab_pixels(src_f, per_frame, seed=n))
            if n - 1 in graded:
                styles.append(distance(out))
            bar.update(1)
    if n == 0:
        raise InputError(f"{source.name} has no frames to evaluate")
    lab_style = lab_pixels(to_float(style_rgb), COLOR_SAMPLES)
    color_out = sliced_wasserstein(np.concatenate(lab_out), lab_style)
    color_in = sliced_wasserstein(np.concatenate(lab_in), lab_style)
    return EvalResult(
        temporal_ratio=temporal_ratio(out_acc, in_acc), warp_error=out_acc.error, warp_error_input=in_acc.error,
        variance=out_acc.mean_variance, variance_input=in_acc.mean_variance, ssim=float(np.mean(ssims)),
        color_ratio=color_out / color_in if color_in else float("nan"), color_distance=color_out,
        color_distance_input=color_in, style_distance=float(np.mean(styles)), style_network=distance.network,
        frames=n, pairs_skipped_at_cuts=cuts,
        seconds=time.perf_counter() - start,
    )


def format_report(result: EvalResult, styled: Path) -> str:
    ratio = "n/a" if result.temporal_ratio is None else f"{result.temporal_ratio:.3f}"
    return "\n".join([
        f"{styled}: {result.frames} frames",
        f"  temporal  ratio {ratio}  (warping error {result.warp_error:.3g} vs input {result.warp_error_input:.3g};"
        f" 1.0 = as stable as the input; {result.pairs_skipped_at_cuts} pair(s) across scene cuts left out)",
        f"  structure SSIM {result.ssim:.3f}",
        f"  colour    ratio {result.color_ratio:.3f}  (Lab SW distance to the style {result.color_distance:.2f}"
        f" vs input {result.color_distance_input:.2f}; lower = closer to the style's palette)",
        f"  style     Gram distance {result.style_distance:.4g}  (under the {result.style_network} network)",
    ])
