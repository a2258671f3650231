"""The loss network as one pluggable piece: which network a run uses, and the one factory that
builds "losses for this style" from it — for training, fine-tuning, `vidstyle eval` and the
benchmarks alike.

Networks:
- ``vgg19``: torchvision's ImageNet VGG19, the paper's loss network, with the reference layer
  weights and scaling. Needs its weights (548 MB, once).
- ``random-vgg`` (built in, the default without VGG19 weights): VGG19's architecture with
  seeded random weights and scale-free Gram losses (He et al. 2016). Needs nothing.
- ``pyramid`` (built in): random filters on an image pyramid (pyramid.py), scale-free Gram
  losses; half the cost per training step, but softer, blurrier results (README, "Loss
  networks", has the measurements that chose between them). Tests use it: it is the cheapest.

``auto`` takes VGG19 where its weights are at hand (the torch hub cache, ``--vgg-weights``, or
a download that answers within a short timeout), and otherwise the built-in network, saying so
in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from vidstyle.config import CONTENT_LAYER, LOSS_NETWORKS, STYLE_LAYER_WEIGHTS, TrainConfig
from vidstyle.errors import VidstyleError, WeightsError
from vidstyle.media.images import shrink_long_side
from vidstyle.model.losses import LossesBySize, LossWeights
from vidstyle.model.photoreal import PhotorealLoss, PhotorealLossesBySize
from vidstyle.model.pyramid import LAYERS as PYRAMID_LAYERS
from vidstyle.model.pyramid import PyramidFeatures
from vidstyle.model.train import loss_network_on
from vidstyle.model.vgg import RANDOM, VGGFeatures, hub_weights_path, load_vgg_features

VGG19, PYRAMID, RANDOM_VGG = "vgg19", "pyramid", "random-vgg"
BUILTIN = RANDOM_VGG  # chosen by measurement: benchmarks/loss_networks.py
CHOICES = LOSS_NETWORKS
DOWNLOAD_TIMEOUT_S = 10  # auto: how long an unanswered download may hold up the start


# Each network's loss plan at strength 1: layers, scaling and the content/style balance, chosen
# by measurement (README, "Loss networks"): at strength 1 the sample and real footage take on the
# painting's palette and brush texture while objects stay recognisable.
PLANS = {
    VGG19: LossWeights(dict(STYLE_LAYER_WEIGHTS), CONTENT_LAYER, 150.0, 1.0, scale_free=False),
    PYRAMID: LossWeights({name: 1.0 for name in PYRAMID_LAYERS}, "level2", 1.0, 1.0, scale_free=True),
    RANDOM_VGG: LossWeights({name: 1.0 for name in STYLE_LAYER_WEIGHTS}, CONTENT_LAYER, 1.0, 1.0, scale_free=True),
}


# The photorealistic objective reads one shallow layer (structure, not texture) of any network,
# and weighs structure 1 to colour 2 (model/photoreal.py; measured: README, "Photorealistic looks": at 1 the
# colour stayed far from the reference, at 4 the grade drew wavy halos along skylines).
PHOTOREAL_LAYERS = {VGG19: "conv2_1", RANDOM_VGG: "conv2_1", PYRAMID: "level0"}
PHOTOREAL_PLAN = LossWeights({}, "", 1.0, 2.0, scale_free=True)
PHOTOREAL_REFERENCE_SIZE = 512  # long side at which the reference photo's regions are found


@dataclass
class LossNetwork:
    """A frozen feature network and what it is, for messages and saved models."""

    name: str  # vgg19, pyramid or random-vgg
    features: nn.Module
    source: str  # where it came from, in words

    @property
    def plan(self) -> LossWeights:
        return PLANS[self.name]


def weights_for(plan: LossWeights, config: TrainConfig) -> LossWeights:
    """The run's balance: explicit weights win; ``strength`` scales the style weight."""
    content = plan.content_weight if config.content_weight is None else config.content_weight
    style = (plan.style_weight if config.style_weight is None else config.style_weight) * config.strength
    return replace(plan, content_weight=content, style_weight=style)


def build_losses(network: LossNetwork, style_rgb: np.ndarray, config: TrainConfig,
                 device: torch.device) -> LossesBySize | PhotorealLossesBySize:
    """The one factory: losses for ``style_rgb`` under ``network``, on ``device`` (where the
    frozen features are moved, in the memory layout training uses there): the painting loss, or
    with ``config.photoreal`` the photorealistic one (model/photoreal.py)."""
    features = loss_network_on(network.features, config, device)
    if not config.photoreal:
        return LossesBySize(features, style_rgb, weights_for(network.plan, config), device)
    layer = PHOTOREAL_LAYERS[network.name]
    if isinstance(features, VGGFeatures):
        features = features.only([layer])
    weights = weights_for(PHOTOREAL_PLAN, config)
    reference = shrink_long_side(style_rgb, PHOTOREAL_REFERENCE_SIZE)
    return PhotorealLossesBySize(PhotorealLoss(features, reference, layer, weights.content_weight,
                                               weights.style_weight, seed=config.seed))


def resolve_loss_network(choice: str, vgg_weights: str | None, *, progress: bool = False,
                         notice: Callable[[str], None] = lambda message: None) -> LossNetwork:
    """Build the network ``choice`` names. ``auto``: VGG19 when its weights can be had, else
    the built-in network with a one-line ``notice`` that says how to get VGG19."""
    if vgg_weights == RANDOM:  # the old spelling of the random VGG
        choice, vgg_weights = RANDOM_VGG, None
    if choice not in CHOICES:
        raise VidstyleError(f"--loss-network {choice} is unknown; use one of {', '.join(CHOICES)}")
    if vgg_weights is not None and choice in (PYRAMID, RANDOM_VGG):  # never ignore a file the user named
        raise WeightsError(f"--vgg-weights is for the vgg19 loss network, not {choice}; "
                           "drop one of them (or use --loss-network auto or vgg19)")
    if choice == PYRAMID:
        return LossNetwork(PYRAMID, PyramidFeatures(), "built-in random-filter pyramid (no download)")
    if choice == RANDOM_VGG:
        return LossNetwork(RANDOM_VGG, _vgg(RANDOM, progress), "built-in seeded random VGG19 (no download)")
    if choice == VGG19:
        return _imagenet_vgg(vgg_weights, progress, timeout=None)
    try:
        return _imagenet_vgg(vgg_weights, progress, timeout=DOWNLOAD_TIMEOUT_S)
    except WeightsError as exc:
        if vgg_weights is not None:  # a file the user named must work; no quiet fallback
            raise
        notice(f"VGG19 ImageNet weights are not available ({_short(exc)}): using the built-in loss network "
               f"({BUILTIN}). For the paper's results put {hub_weights_path().name} in {hub_weights_path().parent} "
               "or pass --vgg-weights PATH")
        return resolve_loss_network(BUILTIN, None)


def _short(exc: Exception) -> str:
    text = str(exc)
    return "offline" if "download failed" in text else text.split(";")[0][:80]


def _imagenet_vgg(vgg_weights: str | None, progress: bool, timeout: float | None) -> LossNetwork:
    where = f"ImageNet VGG19 ({vgg_weights or hub_weights_path()})"
    return LossNetwork(VGG19, _vgg(vgg_weights, progress, timeout), where)


def _vgg(spec: str | None, progress: bool, timeout: float | None = None) -> nn.Module:
    layers = [*PLANS[VGG19].style_layers, PLANS[VGG19].content_layer]
    return load_vgg_features(spec, layers, progress=progress, timeout=timeout)
