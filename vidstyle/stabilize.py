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
from vidstyle.flow import FlowEstimator, gray, motion, warp


class TemporalStabilizer:
    """Stateful across one clip's frames, in presentation order: call once per frame."""

    def __init__(self, config: StabilizeConfig) -> None:
        self.config = config
        self._flow = FlowEstimator()
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # gray, source, output

    def __call__(self, source: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """uint8 RGB source and stylized frame -> the stabilized stylized frame (uint8)."""
        source_gray = gray(source)
        source_f = source.astype(np.float32) / 255.0
        out = stylized.astype(np.float32) / 255.0
        if self._previous is not None and self._previous[0].shape == source_gray.shape:
            previous_gray, previous_source, previous_out = self._previous
            moved = motion(self._flow, source_gray, previous_gray)
            change = np.sum((source_f - warp(previous_source, moved.flow)) ** 2, axis=-1)
            weight = self.config.strength * moved.valid * np.exp(-change / (2 * self.config.sigma**2))
            blended = out + weight[..., None] * (warp(previous_out, moved.flow) - out)
            out = restore_detail(blended, out, self.config.max_detail_gain)
        self._previous = (source_gray, source_f, out)
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def _local_energy(detail: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(np.sum(detail**2, axis=-1), (0, 0), 4.0)


def restore_detail(blended: np.ndarray, raw: np.ndarray, max_gain: float) -> np.ndarray:
    """Scale ``blended``'s fine detail (above a σ=1.5 blur) so that its local energy matches
    ``raw``'s, never by less than 1 or more than ``max_gain``."""
    low = cv2.GaussianBlur(blended, (0, 0), 1.5)
    detail = blended - low
    raw_detail = raw - cv2.GaussianBlur(raw, (0, 0), 1.5)
    gain = np.sqrt((_local_energy(raw_detail) + 1e-6) / (_local_energy(detail) + 1e-6))
    return low + detail * np.clip(gain, 1.0, max_gain)[..., None]


def stabilized(process, config: StabilizeConfig):
    """Wrap a batch stylizer so that its output is stabilized frame by frame, in order."""
    stabilizer = TemporalStabilizer(config)

    def run(frames: list[np.ndarray]) -> list[np.ndarray]:
        return [stabilizer(src, out) for src, out in zip(frames, process(frames), strict=True)]

    return run
