"""The photorealistic objective: the reference photo's colour and tone, region to region, on a
frame whose structure stays its own.

Why not the painting loss: a Gram match asks the output to hold as much of the reference's
texture as the reference does, wherever there is room — a meadow graded to a sunny meadow gets
grass painted across its sky. This objective asks only for what a grade can give:

- **tone**: the output's lightness L is the frame's own lightness through one global tone
  curve that takes its distribution to the reference's (quantile matching), the curve's slope
  held within 1.5x of the overall gain (the ratio of spreads, within [1/2, 2]): one curve for
  the whole frame, because a gain that varies from region to region is what flattens structure;
- **colour**: in each region of the frame, the output's chroma (a, b) has the mean and spread
  of the matching region of the reference. Regions are found without a download: k-means on
  Lab and position (k=4, position at half weight), soft memberships; each region takes the
  colours of the reference regions most like it in toned lightness and height in the picture
  (dark to dark, sky to sky), shared by an optimal transport so that the frame as a whole
  takes the reference's mix of colours;
- **structure**: the output's lightness gradients are those of the toned lightness (Sobel,
  L1), and the loss network's shallow features stay the input's (scale-free);
- the output stays inside [0, 1].

Measured on the photo pairs of ../shared/data/photoreal (README, "Photorealistic looks"; pairs
1, 2, 4, 5, 6, 7, means of structure / grey SSIM / colour ratio):
- tone by mean and spread alone left night grades a third too bright (colour 0.319 on five
  pairs); the curve took it to 0.257 at structure 0.978. A slope bound of 2 around 1 (not 1.5
  around the gain) crushed dark skylines (structure 0.957);
- regions paired one to one by lightness rank sent a day sky to a night reference's street
  lights (orange skies); by rank and height, a harbour's water to lit buildings (pair 6:
  colour 0.67 where Reinhard has 0.30). The transport: 0.979 / 0.569 / 0.255 on the six pairs,
  pair 6 0.31 (Reinhard there: 0.962 / 0.585 / 0.292).
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
TONE_SLOPE = 1.5  # how far the tone curve's slope may stray from its overall gain, either way
TRANSPORT_BLUR = 0.05  # Sinkhorn's entropy: how softly regions share
LIGHTNESS_SCALE = 25.0  # L units that cost as much as the picture's full height, when matching
HEIGHT_WEIGHT = 1.0  # regions' height in the picture (0 top .. 1 bottom) against their lightness, when matching
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


def match_regions(centres: np.ndarray, area: np.ndarray, shape: tuple[int, int], reference: np.ndarray,
                  reference_area: np.ndarray, reference_shape: tuple[int, int]) -> np.ndarray:
    """(k, k') shares: how much of content region i takes the colours of reference region j.
    An optimal transport between the regions (their areas as masses; Sinkhorn) under a cost in
    lightness once toned (dark to dark) and height in the picture (sky to sky), so that each
    region takes the colours of the reference regions most like it *and* the frame as a whole
    takes the reference's mix of colours. Why: a one-to-one pairing sent a region of a fifth
    of the frame to the street lights of a tenth of the reference and came back olive."""
    def features(c: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        c = c.astype(np.float64)  # float32 kernels underflow to 0 beyond ~50 L apart: a region left with no colour
        height = c[:, 4] / (100.0 * POSITION_WEIGHT * hw[0] / float(np.hypot(*hw)))  # 0 top .. 1 bottom
        return np.stack([c[:, 0] / LIGHTNESS_SCALE, height * HEIGHT_WEIGHT], 1)

    cost = ((features(centres, shape)[:, None] - features(reference, reference_shape)[None]) ** 2).sum(-1)
    a, b = (np.asarray(x, np.float64) / float(np.sum(x)) for x in (area, reference_area))
    kernel = np.exp(-cost / TRANSPORT_BLUR)
    v = np.ones_like(b)
    for _ in range(200):
        u = a / np.maximum(kernel @ v, 1e-30)
        v = b / np.maximum(kernel.T @ u, 1e-30)
    plan = u[:, None] * kernel * v[None]
    return plan / np.maximum(plan.sum(1, keepdims=True), 1e-30)


def tone_curve(lightness: np.ndarray, reference: np.ndarray, max_slope: float = TONE_SLOPE,
               points: int = 65) -> tuple[np.ndarray, np.ndarray]:
    """A monotone curve taking the frame's lightness distribution to the reference's (quantile
    matching), its slope held within a factor ``max_slope`` of the overall gain (the ratio of
    spreads, itself within [1/2, 2]) so that no range of tones is crushed or stretched into
    bands against the rest, then shifted so the means agree (tones pushed past black or
    white clip there, as a night grade crushes its deepest shadows). Returns the curve's
    knots (x, y) in L units for `np.interp`."""
    q = np.linspace(0.0, 1.0, points)
    x, y = np.quantile(lightness, q), np.quantile(reference, q)
    dx = np.diff(x)
    gain = float(np.clip(reference.std() / (lightness.std() + _EPS), 1 / MAX_GAIN, MAX_GAIN))
    slope = np.clip(np.diff(y) / np.maximum(dx, 1e-6), gain / max_slope, gain * max_slope)
    y = np.concatenate([[0.0], np.cumsum(slope * dx)])
    x, y = np.concatenate([[x[0] - 100], x, [x[-1] + 100]]), np.concatenate([[y[0] - 100], y, [y[-1] + 100]])
    shift = 0.0
    for _ in range(8):  # the shift that gives the reference's mean once tones past black or white are clipped
        shift += float(reference.mean()) - float(np.interp(lightness, x, np.clip(y + shift, 0.0, 100.0)).mean())
    return x, np.clip(y + shift, 0.0, 100.0)


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
    lightness: torch.Tensor  # (1, 1, H, W) the frame's lightness through the tone curve
    gradients: torch.Tensor  # that lightness's gradients
    weights: torch.Tensor  # (H·W, k) soft regions of the frame
    area: torch.Tensor  # (k,) share of the frame in each region
    chroma_mean: torch.Tensor  # (k, 2) the matched reference regions' a, b
    chroma_std: torch.Tensor


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
        self.reference_shape = style_rgb.shape[:2]
        lab = torch.from_numpy(cv2.cvtColor(style_rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3))
        self.reference_mean, self.reference_std = _moments(lab, torch.from_numpy(self.reference_weights))
        self.reference_lightness = lab[:, 0].numpy()

    def content_target(self, content_image: torch.Tensor) -> Target:
        """Everything the frame asks for, computed once: its features, gradients, regions and
        the reference statistics they are matched with."""
        rgb = imagenet_denormalize(content_image).clamp(0, 1)
        frame = (rgb[0].permute(1, 2, 0).detach().cpu().numpy() * 255).round().astype(np.uint8)
        weights, centres = regions(frame, k=len(self.reference_centres), seed=self.seed)
        device = content_image.device
        with torch.no_grad():
            lightness = lab_of(rgb)[:, :1]
            knots = tone_curve(lightness.flatten().cpu().numpy(), self.reference_lightness)
            toned = torch.from_numpy(np.interp(lightness.cpu().numpy(), *knots).astype(np.float32)).to(device)
            features = self.features(content_image)[self.content_layer].detach()
        centres = centres.copy()
        centres[:, 0] = np.interp(centres[:, 0], *knots)  # each region's lightness once toned
        shares = torch.from_numpy(match_regions(centres, weights.mean(0), frame.shape[:2], self.reference_centres,
                                                self.reference_weights.mean(0), self.reference_shape)).float()
        mean = shares @ self.reference_mean[:, 1:]
        spread = (shares @ (self.reference_std[:, 1:] ** 2 + self.reference_mean[:, 1:] ** 2) - mean**2).clamp_min(0)
        weights_t = torch.from_numpy(weights).to(device)
        return Target(features=features, lightness=toned, gradients=_sobel(toned), weights=weights_t,
                      area=weights_t.mean(0), chroma_mean=mean.to(device), chroma_std=spread.sqrt().to(device))

    def forward(self, output: torch.Tensor, target: Target) -> LossValues:
        rgb = imagenet_denormalize(output.float())
        lab = lab_of(rgb)
        flat = lab[0].permute(1, 2, 0).reshape(-1, 3)
        mean, std = _moments(flat[:, 1:], target.weights)
        colour = (target.area[:, None] * ((mean - target.chroma_mean).abs() + (std - target.chroma_std).abs())).sum()
        tone = (lab[:, :1] - target.lightness).abs().mean()
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
