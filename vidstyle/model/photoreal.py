"""The photorealistic objective: the reference photo's colour and tone, region to region, on a
frame whose structure stays its own.

Why not the painting loss: a Gram match asks the output to hold as much of the reference's
texture as the reference does, wherever there is room — a meadow graded to a sunny meadow gets
grass painted across its sky. This objective asks only for what a grade can give:

- **tone**: the output's lightness L has the reference's mean and spread (one global gain,
  clipped to [1/2, 2]: a gain that varies from region to region is what flattens structure);
- **colour**: in each region of the frame, the output's chroma (a, b) has the mean and spread
  of the matching region of the reference. Regions are found without a download: k-means on
  Lab and position (k=4, position at half weight), soft memberships, regions matched by the
  rank of their lightness (dark to dark, bright to bright);
- **structure**: the output's lightness gradients are the input's times that gain (Sobel, L1),
  and the loss network's shallow features stay the input's (scale-free);
- the output stays inside [0, 1].

Measured on the 8 photo pairs of ../shared/data/photoreal (README, "Photorealistic looks"):
the closed-form version of this target, carried by the smooth grade, gives structure 0.97 and
colour 0.25 where per-region lightness gains gave 0.93 / 0.33 and sliced Wasserstein matching
(the whole distribution) posterised skies.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidstyle.model.losses import ContentLoss, LossValues
from vidstyle.model.tensors import imagenet_denormalize

REGIONS = 4
POSITION_WEIGHT = 0.5  # of Lab units per 1 % of the image diagonal
SOFTNESS = 10.0  # Lab units: how softly a pixel belongs to its region
MAX_GAIN = 2.0
_EPS = 1e-3

# sRGB (D65) -> XYZ, and the white point: the same conversion as OpenCV's float Lab
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
_WHITE = (0.950456, 1.0, 1.088754)


def lab_of(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) sRGB in [0, 1] -> CIE Lab (L 0-100), differentiable."""
    rgb = rgb.clamp(1e-6, 1.0)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_RGB_TO_XYZ, device=rgb.device, dtype=rgb.dtype)
    white = torch.tensor(_WHITE, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
    xyz = torch.einsum("oc,bchw->bohw", matrix, linear) / white
    delta = 6 / 29
    f = torch.where(xyz > delta**3, xyz.clamp_min(1e-9) ** (1 / 3), xyz / (3 * delta * delta) + 4 / 29)
    return torch.stack((116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])), dim=1)


def regions(rgb: np.ndarray, k: int = REGIONS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Soft regions of a uint8 RGB image: (H·W, k) memberships, and the (k, 5) centres in
    (L, a, b, x, y) — k-means on Lab and position, deterministic for a seed."""
    h, w = rgb.shape[:2]
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    scale = 100.0 * POSITION_WEIGHT / float(np.hypot(h, w))
    feats = np.concatenate([lab, xx.reshape(-1, 1) * scale, yy.reshape(-1, 1) * scale], axis=1)
    k = min(k, len(feats))
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 0.1)
    _, _, centres = cv2.kmeans(feats, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    d2 = ((feats[:, None, :] - centres[None]) ** 2).sum(-1)
    d2 -= d2.min(axis=1, keepdims=True)
    weights = np.exp(-d2 / (2 * SOFTNESS**2))
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32), centres


def _moments(values: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean and standard deviation of (N, C) values under (N, k) weights: (k, C) each."""
    total = weights.sum(0).clamp_min(1e-6)[:, None]
    mean = weights.T @ values / total
    var = weights.T @ values.pow(2) / total - mean.pow(2)
    return mean, var.clamp_min(0).add(_EPS).sqrt()


@dataclass(frozen=True)
class Target:
    """What one training frame is pulled towards (`PhotorealLoss.content_target`)."""

    features: torch.Tensor  # the loss network's shallow features of the frame
    gradients: torch.Tensor  # the frame's lightness gradients times the tone gain
    weights: torch.Tensor  # (H·W, k) soft regions of the frame
    area: torch.Tensor  # (k,) share of the frame in each region
    chroma_mean: torch.Tensor  # (k, 2) the matched reference regions' a, b
    chroma_std: torch.Tensor
    tone: tuple[float, float]  # the reference's L mean and the output's L spread


class PhotorealLoss(nn.Module):
    """content_weight·structure + style_weight·(colour + tone), the interface of
    `losses.PerceptualLoss` so that the same training loop runs it."""

    def __init__(self, features: nn.Module, style_rgb: np.ndarray, content_layer: str, content_weight: float,
                 style_weight: float, seed: int = 0) -> None:
        super().__init__()
        self.features, self.content_layer, self.seed = features, content_layer, seed
        self.content_weight, self.style_weight = content_weight, style_weight
        self.content_loss = ContentLoss(scale_free=True)
        self.reference_weights, self.reference_centres = regions(style_rgb, seed=seed)
        lab = torch.from_numpy(cv2.cvtColor(style_rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3))
        self.reference_mean, self.reference_std = _moments(lab, torch.from_numpy(self.reference_weights))
        self.reference_tone = (float(lab[:, 0].mean()), float(lab[:, 0].std()))

    def content_target(self, content_image: torch.Tensor) -> Target:
        """Everything the frame asks for, computed once: its features, gradients, regions and
        the reference statistics they are matched with."""
        rgb = imagenet_denormalize(content_image).clamp(0, 1)
        frame = (rgb[0].permute(1, 2, 0).detach().cpu().numpy() * 255).round().astype(np.uint8)
        weights, centres = regions(frame, k=len(self.reference_centres), seed=self.seed)
        matched = np.empty(len(centres), int)  # content region i -> reference region matched[i], by lightness rank
        matched[np.argsort(centres[:, 0])] = np.argsort(self.reference_centres[:, 0])[:len(centres)]
        device = content_image.device
        with torch.no_grad():
            lightness = lab_of(rgb)[:, :1]
            gain = float(np.clip(self.reference_tone[1] / (float(lightness.std()) + _EPS), 1 / MAX_GAIN, MAX_GAIN))
            features = self.features(content_image)[self.content_layer].detach()
        weights_t = torch.from_numpy(weights).to(device)
        return Target(features=features, gradients=_sobel(lightness) * gain, weights=weights_t,
                      area=weights_t.mean(0), chroma_mean=self.reference_mean[matched, 1:].to(device),
                      chroma_std=self.reference_std[matched, 1:].to(device),
                      tone=(self.reference_tone[0], float(lightness.std()) * gain))

    def forward(self, output: torch.Tensor, target: Target) -> LossValues:
        rgb = imagenet_denormalize(output.float())
        lab = lab_of(rgb)
        flat = lab[0].permute(1, 2, 0).reshape(-1, 3)
        mean, std = _moments(flat[:, 1:], target.weights)
        colour = (target.area[:, None] * ((mean - target.chroma_mean).abs() + (std - target.chroma_std).abs())).sum()
        tone = (flat[:, 0].mean() - target.tone[0]).abs() + (flat[:, 0].std() - target.tone[1]).abs()
        structure = (_sobel(lab[:, :1]) - target.gradients).abs().mean()
        content = structure + self.content_loss(self.features(output)[self.content_layer], target.features)
        outside = (F.relu(rgb - 1) + F.relu(-rgb)).mean() * 100
        style = (colour + tone) / 10.0  # Lab units to ~1
        total = self.content_weight * content + self.style_weight * style + outside
        return LossValues(total=total, content=content, style=style)


def _sobel(lightness: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 2, H, W) horizontal and vertical Sobel gradients."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=lightness.device)
    kernel = torch.stack((kx, kx.T))[:, None]
    return F.conv2d(F.pad(lightness, (1, 1, 1, 1), mode="replicate"), kernel)


class PhotorealLossesBySize:
    """One `PhotorealLoss` for every size: the reference's statistics do not depend on it."""

    def __init__(self, loss: PhotorealLoss) -> None:
        self.loss = loss

    def __call__(self, height: int, width: int) -> PhotorealLoss:
        return self.loss
