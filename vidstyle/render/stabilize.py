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

import cv2
import numpy as np

from vidstyle.config import StabilizeConfig
from vidstyle.media.images import shrink_long_side
from vidstyle.render.flow import FlowEstimator, Motion, gray, motion, warp


class TemporalStabilizer:
    """Stateful across one clip's frames, in presentation order: call once per frame."""

    def __init__(self, config: StabilizeConfig) -> None:
        self.config = config
        self._flow = FlowEstimator()
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # gray, source, output

    def __call__(self, source: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """uint8 RGB source and stylized frame -> the stabilized stylized frame (uint8)."""
        source_gray = shrink_long_side(gray(source), self.config.flow_size, area=True)
        source_f = source.astype(np.float32) / 255.0
        out = stylized.astype(np.float32) / 255.0
        if self._previous is not None and self._previous[1].shape == source_f.shape:  # same full size
            previous_gray, previous_source, previous_out = self._previous
            flow, valid = _full_size(motion(self._flow, source_gray, previous_gray), source.shape[:2])
            # weight = strength · valid · exp(-|Δsource|² / 2σ²), in place (full-size frames)
            weight = cv2.exp(_sum_of_squares(source_f - warp(previous_source, flow)) * (-0.5 / self.config.sigma**2))
            weight *= valid
            weight *= self.config.strength
            blended = warp(previous_out, flow)
            blended -= out
            blended *= weight[..., None]
            blended += out
            out = restore_detail(blended, out, self.config.max_detail_gain)
        self._previous = (source_gray, source_f, out)
        return cv2.convertScaleAbs(np.clip(out, 0.0, 1.0), alpha=255.0)  # rounds to nearest, saturates


def _full_size(moved: Motion, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flow (vectors rescaled) and validity mask of a reduced-size motion at ``shape``."""
    h, w = shape
    sh, sw = moved.valid.shape
    if (sh, sw) == (h, w):
        return moved.flow, moved.valid
    flow = cv2.resize(moved.flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32([w / sw, h / sh])
    valid = cv2.resize(moved.valid.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return flow, valid


_ONES = np.ones((1, 3), np.float32)


def _sum_of_squares(rgb: np.ndarray) -> np.ndarray:
    """Σ over channels of x², as (H, W) float32 (OpenCV: several times numpy's speed)."""
    return cv2.transform(cv2.multiply(rgb, rgb), _ONES)


def _local_energy(detail: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(_sum_of_squares(detail), (0, 0), 4.0)


def restore_detail(blended: np.ndarray, raw: np.ndarray, max_gain: float) -> np.ndarray:
    """Scale ``blended``'s fine detail (above a σ=1.5 blur) so that its local energy matches
    ``raw``'s, never by less than 1 or more than ``max_gain``."""
    low = cv2.GaussianBlur(blended, (0, 0), 1.5)
    detail = blended - low
    raw_detail = raw - cv2.GaussianBlur(raw, (0, 0), 1.5)
    gain = cv2.sqrt((_local_energy(raw_detail) + 1e-6) / (_local_energy(detail) + 1e-6))
    np.clip(gain, 1.0, max_gain, out=gain)
    detail *= gain[..., None]
    detail += low
    return detail
