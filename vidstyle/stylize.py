"""Applying a trained generator to frames at full resolution, in batches, without gradients."""

from __future__ import annotations

import numpy as np
import torch

from vidstyle.generator import HRNetGenerator
from vidstyle.images import to_tensor, to_uint8


class Stylizer:
    """Callable: a list of uint8 RGB frames of one size -> the stylized frames, same sizes."""

    def __init__(self, generator: HRNetGenerator, batch_size: int = 1) -> None:
        self.generator = generator.eval()
        self.batch_size = max(1, batch_size)
        self.device = next(generator.parameters()).device

    def __call__(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(frames), self.batch_size):
                chunk = frames[start:start + self.batch_size]
                out.extend(to_uint8(self.generator(to_tensor(chunk, self.device))))
        return out

    def one(self, rgb: np.ndarray) -> np.ndarray:
        return self([rgb])[0]
