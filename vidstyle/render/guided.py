"""Edge-aware upsampling of a low-resolution stylization by a local colour transform.

Why: the generator's cost grows with the pixel count, and a 720p frame costs ~6 s on a laptop
CPU. Run at a working resolution instead, then fit, around every low-resolution pixel, the
affine colour map ``out ≈ A·in + b`` (3x3 matrix and offset) that turns the downscaled input
into the stylized output — the colour guided filter of He et al. (2013), used for upsampling
as in Wu et al.'s "Fast End-to-End Trainable Guided Filter" (2018). The maps vary slowly, so
they upsample bilinearly without harm, and applying them to the full-resolution input puts
back edges and fine structure from the input itself.

Tensors are (B, 3, H, W) RGB in [0, 1]; everything runs on the tensors' device (the fit, on a
CPU, with OpenCV).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AffineMaps:
    """Per-pixel colour transform: ``a`` (B, 3, 3, H, W) as [out, in], ``b`` (B, 3, H, W)."""

    a: torch.Tensor
    b: torch.Tensor


def box_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)² window per pixel, windows clipped at the borders (cumulative sums:
    the cost does not grow with the radius)."""
    h, w = x.shape[-2:]
    return _box_sum(x, radius) / _box_sum(x.new_ones(1, 1, h, w), radius)


def _box_sum(x: torch.Tensor, radius: int) -> torch.Tensor:
    return _window_sum(_window_sum(x, radius, -2), radius, -1)


def _window_sum(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Sums over windows of 2r+1 along ``dim``, clipped at the ends: the cumulative sum of the
    zero-padded row, differenced between slices (slicing, not gathering: measured 4x faster)."""
    n = x.shape[dim]
    pad = [0, 0] * (x.dim() - 1 - (dim % x.dim())) + [radius + 1, radius]  # F.pad counts from the last dim
    c = torch.cumsum(F.pad(x, pad), dim=dim)  # c[i] = sum of the padded row up to i (one leading zero)
    return c.narrow(dim, 2 * radius + 1, n) - c.narrow(dim, 0, n)


def fit_affine(guide: torch.Tensor, target: torch.Tensor, radius: int, eps: float) -> AffineMaps:
    """Least-squares local affine maps from ``guide`` to ``target`` over (2r+1)² windows,
    ridge-regularised by ``eps`` (larger: smoother maps, less detail carried over), then
    averaged over the same windows, as the guided filter does."""
    if guide.device.type == "cpu" and not (guide.requires_grad or target.requires_grad):
        return _fit_affine_opencv(guide, target, radius, eps)
    return _fit_affine_torch(guide, target, radius, eps)


def _fit_affine_torch(guide: torch.Tensor, target: torch.Tensor, radius: int, eps: float,
                      dtype: torch.dtype = torch.float32) -> AffineMaps:
    """`fit_affine` in torch, on the tensors' device (a GPU, or a CPU where gradients are
    wanted); ``dtype`` float64 gives the tests a reference."""
    guide, target = guide.to(dtype), target.to(dtype)
    b, _, h, w = guide.shape
    mean_i = box_filter(guide, radius)  # (B, 3, H, W)
    mean_p = box_filter(target, radius)
    # Products of every input channel with every input / output channel, in one box pass.
    ii = (guide[:, :, None] * guide[:, None]).reshape(b, 9, h, w)
    ip = (target[:, :, None] * guide[:, None]).reshape(b, 9, h, w)  # [out, in]
    moments = box_filter(torch.cat((ii, ip), dim=1), radius)
    var_i = moments[:, :9].reshape(b, 3, 3, h, w) - mean_i[:, :, None] * mean_i[:, None]
    cov_ip = moments[:, 9:].reshape(b, 3, 3, h, w) - mean_p[:, :, None] * mean_i[:, None]
    eye = torch.eye(3, device=guide.device, dtype=guide.dtype)
    sigma = var_i.permute(0, 3, 4, 1, 2) + eps * eye  # (B, H, W, 3, 3), symmetric positive definite
    # A Σ = cov  <=>  Σ Aᵀ = covᵀ (Σ symmetric)
    a = torch.linalg.solve(sigma, cov_ip.permute(0, 3, 4, 2, 1)).permute(0, 4, 3, 1, 2)  # (B, out, in, H, W)
    offset = mean_p - torch.einsum("boihw,bihw->bohw", a, mean_i)
    a = box_filter(a.reshape(b, 9, h, w), radius).reshape(b, 3, 3, h, w)
    return AffineMaps(a=a, b=box_filter(offset, radius))


def _fit_affine_opencv(guide: torch.Tensor, target: torch.Tensor, radius: int, eps: float) -> AffineMaps:
    """`fit_affine` on the CPU: OpenCV's box filters and the symmetric 3x3 solve written out
    (its adjugate). 17 ms at 512x288 where the torch version takes 48 (cumulative sums and a
    batched LU solve): a keyframe's look, and every frame of the fast path, pay it. Its maps
    are closer to a float64 fit than the torch version's (3x3 solves of a nearly singular
    covariance differ in float32; the outputs agree within a level)."""
    size = (2 * radius + 1,) * 2
    batch, _, h, w = guide.shape
    inverse_count = 1.0 / cv2.boxFilter(np.ones((h, w), np.float32), -1, size, normalize=False,
                                        borderType=cv2.BORDER_CONSTANT)  # windows clipped at the borders

    def mean(plane: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(plane, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT) * inverse_count

    a_out = np.empty((batch, 3, 3, h, w), np.float32)
    b_out = np.empty((batch, 3, h, w), np.float32)
    for n, (g, p) in enumerate(zip(guide.float().numpy(), target.float().numpy(), strict=True)):
        mean_i, mean_p = [mean(c) for c in g], [mean(c) for c in p]
        s = {}  # the guide's covariance in each window, ridge added (symmetric)
        for i in range(3):
            for j in range(i, 3):
                s[i, j] = s[j, i] = mean(g[i] * g[j]) - mean_i[i] * mean_i[j] + (eps if i == j else 0.0)
        adjugate = {(0, 0): s[1, 1] * s[2, 2] - s[1, 2] * s[1, 2], (0, 1): s[0, 2] * s[1, 2] - s[0, 1] * s[2, 2],
                    (0, 2): s[0, 1] * s[1, 2] - s[0, 2] * s[1, 1], (1, 1): s[0, 0] * s[2, 2] - s[0, 2] * s[0, 2],
                    (1, 2): s[0, 1] * s[0, 2] - s[0, 0] * s[1, 2], (2, 2): s[0, 0] * s[1, 1] - s[0, 1] * s[0, 1]}
        for i, j in ((1, 0), (2, 0), (2, 1)):
            adjugate[i, j] = adjugate[j, i]
        inverse_det = 1.0 / (s[0, 0] * adjugate[0, 0] + s[0, 1] * adjugate[0, 1] + s[0, 2] * adjugate[0, 2])
        for o in range(3):
            cov = [mean(p[o] * g[i]) - mean_p[o] * mean_i[i] for i in range(3)]  # output o with each input
            offset = mean_p[o].copy()
            for i in range(3):  # A = cov Σ⁻¹ (Σ symmetric)
                a = (cov[0] * adjugate[0, i] + cov[1] * adjugate[1, i] + cov[2] * adjugate[2, i]) * inverse_det
                offset -= a * mean_i[i]
                a_out[n, o, i] = mean(a)
            b_out[n, o] = mean(offset)
    return AffineMaps(a=torch.from_numpy(a_out), b=torch.from_numpy(b_out))


def apply_affine(maps: AffineMaps, image: torch.Tensor) -> torch.Tensor:
    """Upsample the maps bilinearly to ``image``'s size and apply them to it."""
    b, _, h, w = image.shape
    lh, lw = maps.b.shape[-2:]
    a = maps.a.reshape(b, 9, lh, lw)
    if (lh, lw) != (h, w):
        a = F.interpolate(a, size=(h, w), mode="bilinear", align_corners=False)
        offset = F.interpolate(maps.b, size=(h, w), mode="bilinear", align_corners=False)
    else:
        offset = maps.b
    return torch.einsum("boihw,bihw->bohw", a.reshape(b, 3, 3, h, w), image.float()) + offset


def downscale(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased downscale (a plain bilinear one would alias fine texture into the guide)."""
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
