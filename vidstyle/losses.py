"""Losses as small composable modules: Gram style loss, content loss, and the perceptual loss
that runs the loss network once per step and shares that pass between both terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vidstyle.config import TrainConfig
from vidstyle.images import resize_to_area, to_tensor
from vidstyle.vgg import VGGFeatures


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Unnormalised Gram matrix per sample: (B, C, H, W) -> (B, C, C) = F Fᵀ, in fp32 even
    under autocast (sums over every pixel lose too much in 16 bits)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).float()
    with torch.autocast(flat.device.type, enabled=False):
        return flat @ flat.transpose(1, 2)


class GramLoss(nn.Module):
    """One style layer: mean squared Gram difference, divided by c·h·w (reference scaling)."""

    def __init__(self, target_gram: torch.Tensor, weight: float) -> None:
        super().__init__()
        self.register_buffer("target", target_gram.detach().clone())
        self.weight = weight

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        _, c, h, w = features.shape
        diff = gram_matrix(features) - self.target
        return self.weight * diff.pow(2).mean() / (c * h * w)


class ContentLoss(nn.Module):
    """Mean squared difference of activations against a target computed once."""

    def forward(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (features.float() - target.float()).pow(2).mean()


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
        features: VGGFeatures,
        style_image: torch.Tensor,
        style_layer_weights: dict[str, float],
        content_layer: str,
        content_weight: float,
        style_weight: float,
    ) -> None:
        super().__init__()
        self.features = features
        self.content_layer = content_layer
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.content_loss = ContentLoss()
        with torch.no_grad():
            style_feats = features(style_image)
        self.style_losses = nn.ModuleDict(
            {name: GramLoss(gram_matrix(style_feats[name]), w) for name, w in style_layer_weights.items()}
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
    count (aspect kept), so that unnormalised Grams of output and style compare like with like."""

    def __init__(self, features: VGGFeatures, style_rgb: np.ndarray, config: TrainConfig, device: torch.device):
        self.features, self.style_rgb, self.config, self.device = features, style_rgb, config, device
        self._losses: dict[tuple[int, int], PerceptualLoss] = {}

    def __call__(self, height: int, width: int) -> PerceptualLoss:
        if (height, width) not in self._losses:
            cfg = self.config
            style = to_tensor(resize_to_area(self.style_rgb, height * width), self.device)
            self._losses[(height, width)] = PerceptualLoss(self.features, style, cfg.style_layer_weights,
                                                           cfg.content_layer, cfg.content_weight, cfg.style_weight)
        return self._losses[(height, width)]
