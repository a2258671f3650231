"""The unit that travels from a source to a sink: one frame's pixels and what must come back
with them (its timestamp, its alpha channel, the file name it is written back under)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """A decoded frame: uint8 RGB in coded orientation, and what its sink needs besides."""

    rgb: np.ndarray  # (H, W, 3) uint8
    pts: int | None = None  # a clip's presentation timestamp, in its stream's time base
    alpha: np.ndarray | None = None  # (H, W) uint8 of an image that had one: put back when written
    name: str | None = None  # a folder frame's file name
