"""The built-in loss network: random filters on an image pyramid. Needs no file, no download.

Why it works (Ustyuzhaninov et al., ICLR 2017): one layer of random filters with a ReLU, at
many scales, already captures a texture's statistics through Gram matrices; their large
kernels (up to 55 px) are replaced here by a 5-level pyramid (binomial blur, stride 2) with
small 5x5 filters at every level, which reaches the same scales for a fraction of the cost.
Each level also has a few random 1x1 colour projections with a ReLU, whose Grams carry the
palette. The filters come from ``numpy.random.RandomState(seed)``, whose stream numpy keeps
frozen across versions: every install builds the same network.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidstyle.model.tensors import imagenet_denormalize_raw

SEED = 20170101
LEVELS = 5
TEXTURE_FILTERS = 64
COLOUR_FILTERS = 16
KERNEL = 5
LAYERS = tuple(f"level{i}" for i in range(LEVELS))


def _unit_filters(rs: np.random.RandomState, count: int, size: int, zero_mean: bool) -> np.ndarray:
    w = rs.standard_normal((count, 3, size, size))
    if zero_mean:  # texture filters answer to structure, not to the mean colour
        w -= w.mean(axis=(1, 2, 3), keepdims=True)
    w /= np.sqrt((w**2).sum(axis=(1, 2, 3), keepdims=True))
    return w.astype(np.float32)


class PyramidFeatures(nn.Module):
    """Takes ImageNet-normalised images (the generator's space) and returns {"level0": ...,
    "level4": ...}: at each pyramid level, ReLU(64 random zero-mean 5x5 filters) and
    ReLU(16 random colour projections) of the image centred on grey."""

    name = "pyramid"

    def __init__(self, seed: int = SEED) -> None:
        super().__init__()
        rs = np.random.RandomState(seed)
        texture = np.stack([_unit_filters(rs, TEXTURE_FILTERS, KERNEL, True) for _ in range(LEVELS)])
        colour = np.stack([_unit_filters(rs, COLOUR_FILTERS, 1, False) for _ in range(LEVELS)])
        self.register_buffer("texture", torch.from_numpy(texture))
        self.register_buffer("colour", torch.from_numpy(colour))
        binomial = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
        self.register_buffer("blur", (binomial[:, None] * binomial[None, :]).expand(3, 1, 5, 5).contiguous())
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = imagenet_denormalize_raw(x) - 0.5
        out: dict[str, torch.Tensor] = {}
        for level in range(LEVELS):
            if level:
                x = self._down(x)
            padded = _pad(x, KERNEL // 2)
            texture = F.relu(F.conv2d(padded, self.texture[level].to(x.dtype)))
            colour = F.relu(F.conv2d(x, self.colour[level].to(x.dtype)))
            out[LAYERS[level]] = torch.cat([texture, colour], dim=1)
        return out

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(_pad(x, 2), self.blur.to(x.dtype), stride=2, groups=3)


def _pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflect where the map is large enough (no false edges at the border), else replicate."""
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.pad(x, (pad, pad, pad, pad), mode=mode)
