"""Losses as small composable modules: Gram style loss, content loss, and the perceptual loss
that runs the loss network once per step and shares that pass between both terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vidstyle.media.images import resize_to_area
from vidstyle.model.tensors import to_tensor


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Unnormalised Gram matrix per sample: (B, C, H, W) -> (B, C, C) = F Fᵀ, in fp32 even
    under autocast (sums over every pixel lose too much in 16 bits)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).float()
    with torch.autocast(flat.device.type, enabled=False):
        return flat @ flat.transpose(1, 2)


class GramLoss(nn.Module):
    """One style layer. Reference scaling (ImageNet VGG19, Li et al.): mean squared difference
    of unnormalised Grams divided by c·h·w. Scale-free (built-in networks): Grams per pixel,
    ‖G − A‖² / ‖A‖², which does not depend on how a random layer happens to be scaled."""

    def __init__(self, features: torch.Tensor, weight: float, scale_free: bool = False) -> None:
        super().__init__()
        self.scale_free = scale_free
        self.register_buffer("target", self._gram(features).detach().clone())
        self.register_buffer("norm", self.target.pow(2).sum().clamp_min(1e-12))
        self.weight = weight

    def _gram(self, features: torch.Tensor) -> torch.Tensor:
        gram = gram_matrix(features)
        return gram / (features.shape[-2] * features.shape[-1]) if self.scale_free else gram

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        diff = self._gram(features) - self.target
        if self.scale_free:
            return self.weight * diff.pow(2).sum(dim=(-2, -1)).mean() / self.norm
        _, c, h, w = features.shape
        return self.weight * diff.pow(2).mean() / (c * h * w)


class ContentLoss(nn.Module):
    """Mean squared difference of activations against a target computed once; scale-free, it
    is divided by the target's mean square."""

    def __init__(self, scale_free: bool = False) -> None:
        super().__init__()
        self.scale_free = scale_free

    def forward(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        loss = (features.float() - target).pow(2).mean()
        return loss / target.pow(2).mean().clamp_min(1e-12) if self.scale_free else loss


@dataclass(frozen=True)
class LossValues:
    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor


class PerceptualLoss(nn.Module):
    """content_weight·content + style_weight·Σ style, from one pass of the loss network.

    The style image's Grams are computed once here and kept as buffers.
    """

    def __init__(
        self,
        features: nn.Module,
        style_image: torch.Tensor,
        style_layer_weights: dict[str, float],
        content_layer: str,
        content_weight: float,
        style_weight: float,
        scale_free: bool = False,
    ) -> None:
        super().__init__()
        self.features = features
        self.content_layer = content_layer
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.content_loss = ContentLoss(scale_free)
        with torch.no_grad():
            style_feats = features(style_image)
        self.style_losses = nn.ModuleDict(
            {name: GramLoss(style_feats[name], w, scale_free) for name, w in style_layer_weights.items()}
        )

    def content_target(self, content_image: torch.Tensor) -> torch.Tensor:
        """The content layer's activation for ``content_image``, computed without gradients."""
        with torch.no_grad():
            return self.features(content_image)[self.content_layer].detach()

    def forward(self, output: torch.Tensor, content_target: torch.Tensor) -> LossValues:
        feats = self.features(output)
        content = self.content_loss(feats[self.content_layer], content_target)
        style = self._style(feats)
        total = self.content_weight * content + self.style_weight * style
        return LossValues(total=total, content=content, style=style)

    def style_distance(self, image: torch.Tensor) -> torch.Tensor:
        """The (unweighted) style term alone: how far ``image``'s Grams are from the style's."""
        return self._style(self.features(image))

    def _style(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(loss(feats[name]) for name, loss in self.style_losses.items())


class LossesBySize:
    """One `PerceptualLoss` per content size, with the style image scaled to that size's pixel
    count (aspect kept), so that output and style textures compare at the same scale.

    ``weights`` are the loss network's layer plan and the run's content/style balance (see
    lossnet.py, the one place that builds these)."""

    def __init__(self, features: nn.Module, style_rgb: np.ndarray, weights: LossWeights, device: torch.device):
        self.features, self.style_rgb, self.weights, self.device = features, style_rgb, weights, device
        self._losses: dict[tuple[int, int], PerceptualLoss] = {}

    def __call__(self, height: int, width: int) -> PerceptualLoss:
        if (height, width) not in self._losses:
            w = self.weights
            style = to_tensor(resize_to_area(self.style_rgb, height * width), self.device)
            self._losses[(height, width)] = PerceptualLoss(self.features, style, w.style_layers, w.content_layer,
                                                           w.content_weight, w.style_weight, w.scale_free)
        return self._losses[(height, width)]


@dataclass(frozen=True)
class LossWeights:
    """Which layers the losses read, how they are weighted and scaled."""

    style_layers: dict[str, float]
    content_layer: str
    content_weight: float
    style_weight: float
    scale_free: bool
