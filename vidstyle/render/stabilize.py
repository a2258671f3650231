"""Temporal stabilization: blend each stylized frame with the previous stylized frame warped
along the input's optical flow, only where the flow says the pixel is visible in both frames
and the input itself did not change there.

Why: the generator sees every frame on its own, and its InstanceNorm statistics and fine
texture jump a little from frame to frame; the eye sees that as shimmer. Following the input's
motion keeps the stylized texture attached to the scene; where the input changes (lighting,
a cut, something appearing) the weight falls to zero, so nothing lags or ghosts.

Averaging frames also averages away some texture contrast, which reads as less style; so
after blending, the local high-frequency energy of the frame is brought back up to that of
the raw stylized frame (the detail itself still comes from the stable, motion-following blend).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Generic, TypeVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vidstyle.config import StabilizeConfig
from vidstyle.media.images import shrink_long_side
from vidstyle.render.flow import FlowEstimator, Motion, gray, motion, sum_of_squares, warp

Frame = TypeVar("Frame")  # a backend's (source, output) pair in [0, 1]: numpy arrays or device tensors
DETAIL_SIGMA = 1.5  # fine detail: what a Gaussian blur of this σ removes (`restore_detail`, both backends)
ENERGY_SIGMA = 4.0  # the neighbourhood (σ) whose detail energy is matched


class TemporalStabilizer:
    """Stateful across one clip's frames, in presentation order: call once per frame.

    The motion is estimated on the CPU (DIS on a reduced grey frame); the full-resolution
    blending runs with OpenCV on the CPU, or in torch on a CUDA ``device`` (where the frames
    come from: at 1920x1080 OpenCV's blending takes ~150-280 ms a frame on the 2-core VM, which
    capped a GPU's every-frame render at 4-5 fps; torch on the CPU was slower still, 1.0 against
    5.2 fps). Both give the same frames within 1 level.
    """

    def __init__(self, config: StabilizeConfig, device: torch.device | None = None) -> None:
        self.config = config
        self._flow = FlowEstimator()
        cuda = device is not None and device.type == "cuda"
        self._blend: _Blend = _TorchBlend(config, device) if cuda else _OpenCvBlend(config)
        self._previous: tuple[tuple[int, ...], np.ndarray, object] | None = None  # size, grey, backend's frame

    def __call__(self, source: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """uint8 RGB source and stylized frame -> the stabilized stylized frame (uint8)."""
        source_gray = shrink_long_side(gray(source), self.config.flow_size, area=True)
        current = self._blend.load(source, stylized)
        if self._previous is not None and self._previous[0] == source.shape:  # same full size
            _, previous_gray, previous = self._previous
            current = self._blend(previous, current, motion(self._flow, source_gray, previous_gray))
        self._previous = (source.shape, source_gray, current)
        return self._blend.to_uint8(current)


class _Blend(Generic[Frame]):
    """The full-resolution half of the stabilizer: weight = strength · valid · exp(-|Δsource|² /
    2σ²) where Δsource is the source against the previous source warped along the motion; the
    output moves that far towards the previous output, warped; then its detail is restored."""

    def load(self, source: np.ndarray, stylized: np.ndarray) -> Frame:
        raise NotImplementedError

    def __call__(self, previous: Frame, current: Frame, moved: Motion) -> Frame:
        raise NotImplementedError

    def to_uint8(self, frame: Frame) -> np.ndarray:
        raise NotImplementedError


class _OpenCvBlend(_Blend[tuple[np.ndarray, np.ndarray]]):
    def __init__(self, config: StabilizeConfig) -> None:
        self.config = config

    def load(self, source: np.ndarray, stylized: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return source.astype(np.float32) / 255.0, stylized.astype(np.float32) / 255.0

    def __call__(self, previous: tuple[np.ndarray, np.ndarray], current: tuple[np.ndarray, np.ndarray],
                 moved: Motion) -> tuple[np.ndarray, np.ndarray]:
        (previous_source, previous_out), (source_f, out) = previous, current
        flow, valid = _full_size(moved, source_f.shape[:2])
        # weight = strength · valid · exp(-|Δsource|² / 2σ²), in place (full-size frames)
        weight = cv2.exp(sum_of_squares(source_f - warp(previous_source, flow)) * (-0.5 / self.config.sigma**2))
        weight *= valid
        weight *= self.config.strength
        blended = warp(previous_out, flow)
        blended -= out
        blended *= weight[..., None]
        blended += out
        return source_f, restore_detail(blended, out, self.config.max_detail_gain)

    def to_uint8(self, frame: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return cv2.convertScaleAbs(np.clip(frame[1], 0.0, 1.0), alpha=255.0)  # rounds to nearest, saturates


class _TorchBlend(_Blend[tuple[torch.Tensor, torch.Tensor]]):
    """The same arithmetic in torch on ``device``: bilinear sampling with the border repeated
    (OpenCV's remap), OpenCV's Gaussian kernels and reflected borders."""

    def __init__(self, config: StabilizeConfig, device: torch.device) -> None:
        self.config, self.device = config, device
        self._kernels = {sigma: _gaussian_kernel(sigma).to(device) for sigma in (DETAIL_SIGMA, ENERGY_SIGMA)}
        self._borders: dict[tuple[int, int], torch.Tensor] = {}  # (length, pad) -> reflected indices
        # A CUDA stream of its own: on the default stream, the blend's uploads and its download
        # each waited behind the generator's queued batch (another thread's work), and a 1080p
        # render on an H200 ran its stages one after another (README, On a GPU)
        self._stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        if self._stream is not None:
            self._stream.wait_stream(torch.cuda.current_stream(device))  # the kernels above are ready

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        """inference mode, on the blend's own stream where it has one."""
        stream = torch.cuda.stream(self._stream) if self._stream is not None else contextlib.nullcontext()
        with torch.inference_mode(), stream:
            yield

    def load(self, source: np.ndarray, stylized: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        with self._working():
            return tuple(torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(2, 0, 1).float() / 255.0
                         for rgb in (source, stylized))

    def __call__(self, previous: tuple[torch.Tensor, torch.Tensor], current: tuple[torch.Tensor, torch.Tensor],
                 moved: Motion) -> tuple[torch.Tensor, torch.Tensor]:
        (previous_source, previous_out), (source, out) = previous, current
        with self._working():
            grid, valid = self._grid(moved, *source.shape[-2:])
            change = (source - _sample(previous_source, grid)).square().sum(0)
            weight = torch.exp(change * (-0.5 / self.config.sigma**2)) * valid * self.config.strength
            blended = torch.lerp(out, _sample(previous_out, grid), weight)
            low = self._blur(blended, DETAIL_SIGMA)
            detail = blended - low
            raw_detail = out - self._blur(out, DETAIL_SIGMA)
            gain = (self._local_energy(raw_detail) + 1e-6) / (self._local_energy(detail) + 1e-6)
            gain = gain.sqrt_().clamp_(1.0, self.config.max_detail_gain)
            return source, torch.addcmul(low, detail, gain)

    def to_uint8(self, frame: tuple[torch.Tensor, torch.Tensor]) -> np.ndarray:
        with self._working():  # the download waits for this stream's work only
            return frame[1].clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()

    def _grid(self, moved: Motion, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """grid_sample's sampling grid for p + flow(p) at full size, and the validity mask."""
        flow = torch.from_numpy(moved.flow).to(self.device).permute(2, 0, 1)[None]
        valid = torch.from_numpy(moved.valid.astype(np.float32)).to(self.device)[None, None]
        h, w = moved.valid.shape
        if (h, w) != (height, width):  # as _full_size: bilinear vectors, rescaled; nearest mask
            flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
            flow = flow * torch.tensor([width / w, height / h], device=self.device).view(1, 2, 1, 1)
            valid = F.interpolate(valid, size=(height, width), mode="nearest")
        xs = torch.arange(width, device=self.device, dtype=torch.float32)
        ys = torch.arange(height, device=self.device, dtype=torch.float32)
        grid_x = (xs + flow[0, 0]) * (2.0 / max(width - 1, 1)) - 1.0
        grid_y = (ys[:, None] + flow[0, 1]) * (2.0 / max(height - 1, 1)) - 1.0
        return torch.stack((grid_x, grid_y), dim=-1)[None], valid[0, 0]

    def _blur(self, planes: torch.Tensor, sigma: float) -> torch.Tensor:
        """cv2.GaussianBlur(planes, (0, 0), sigma) of (C, H, W) planes: separable, reflected border."""
        kernel = self._kernels[sigma]
        pad, channels = kernel.numel() // 2, planes.shape[0]
        height, width = planes.shape[-2:]
        x = planes[None].index_select(3, self._reflected(width, pad)).index_select(2, self._reflected(height, pad))
        x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
        return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)[0]

    def _reflected(self, length: int, pad: int) -> torch.Tensor:
        """Indices of a row ``pad`` wider on each side, reflected as OpenCV's default border
        does (BORDER_REFLECT_101, repeatedly where the row is shorter than the pad)."""
        if (length, pad) not in self._borders:
            index = [cv2.borderInterpolate(i, length, cv2.BORDER_REFLECT_101) for i in range(-pad, length + pad)]
            self._borders[length, pad] = torch.tensor(index, device=self.device)
        return self._borders[length, pad]

    def _local_energy(self, detail: torch.Tensor) -> torch.Tensor:
        return self._blur(detail.square().sum(0, keepdim=True), ENERGY_SIGMA)


def _sample(planes: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(C, H, W) planes sampled at ``grid`` (bilinear, border repeated): flow.warp in torch."""
    return F.grid_sample(planes[None], grid, mode="bilinear", padding_mode="border", align_corners=True)[0]


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    """OpenCV's 1-D Gaussian for float images at ``sigma``: 2·round(4σ)+1 taps (cv2.GaussianBlur
    with ksize (0, 0))."""
    taps = int(round(sigma * 8 + 1)) | 1
    return torch.from_numpy(cv2.getGaussianKernel(taps, sigma).astype(np.float32).ravel())


def _full_size(moved: Motion, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flow (vectors rescaled) and validity mask of a reduced-size motion at ``shape``."""
    h, w = shape
    sh, sw = moved.valid.shape
    if (sh, sw) == (h, w):
        return moved.flow, moved.valid
    flow = cv2.resize(moved.flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32([w / sw, h / sh])
    valid = cv2.resize(moved.valid.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return flow, valid


def _local_energy(detail: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(sum_of_squares(detail), (0, 0), ENERGY_SIGMA)


def restore_detail(blended: np.ndarray, raw: np.ndarray, max_gain: float) -> np.ndarray:
    """Scale ``blended``'s fine detail (above a DETAIL_SIGMA blur) so that its local energy
    matches ``raw``'s, never by less than 1 or more than ``max_gain``."""
    low = cv2.GaussianBlur(blended, (0, 0), DETAIL_SIGMA)
    detail = blended - low
    raw_detail = raw - cv2.GaussianBlur(raw, (0, 0), DETAIL_SIGMA)
    gain = cv2.sqrt((_local_energy(raw_detail) + 1e-6) / (_local_energy(detail) + 1e-6))
    np.clip(gain, 1.0, max_gain, out=gain)
    detail *= gain[..., None]
    detail += low
    return detail
