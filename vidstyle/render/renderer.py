"""The renderers of the run loop (loop.py), and the choice of one per clip.

- `EveryFrame`: the generator on every frame in `submit`; the stabilizer, when on, in `draw`.
- `KeyframeCarrier` (carry.py): the generator on keyframes, the look carried along the motion
  to the frames between; `draw` applies each frame's look to its own pixels.
- `Unchanged`: the frames as they are (the transcode ceiling of the benchmarks and tests).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vidstyle.config import Plan
from vidstyle.errors import option
from vidstyle.loop import Renderer
from vidstyle.render import runtimes
from vidstyle.render.carry import KeyframeCarrier
from vidstyle.render.stabilize import TemporalStabilizer
from vidstyle.render.stylize import Stylizer

Warn = Callable[[str], None]


class EveryFrame(Renderer[np.ndarray]):
    """Every frame through the generator; ``stabilizer``: blended with the previous one along
    the motion (CPU work that `draw` runs beside the next batch on the GPU)."""

    def __init__(self, stylizer: Stylizer, stabilizer: TemporalStabilizer | None = None) -> None:
        self.stylizer, self.stabilizer = stylizer, stabilizer
        self.batch_size = stylizer.batch_size

    def submit(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        return self.stylizer(frames)

    def draw(self, frames: list[np.ndarray], staged: list[np.ndarray]) -> list[np.ndarray]:
        if self.stabilizer is None:
            return staged
        return [self.stabilizer(src, out) for src, out in zip(frames, staged, strict=True)]


class Unchanged(Renderer[np.ndarray]):
    """The frames as they come: what decoding and encoding alone cost."""

    def submit(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        return frames

    def draw(self, frames: list[np.ndarray], staged: list[np.ndarray]) -> list[np.ndarray]:
        return staged


def clip_renderer(stylizer: Stylizer, plan: Plan, frames: int = 0, size: tuple[int, int] | None = None,
                  warn: Warn | None = None) -> Renderer:
    """The renderer for one clip of about ``frames`` frames of ``size`` (height, width), as the
    plan says: keyframes with carried looks, or every frame (stabilized when the plan says so).
    A long clip's generator gets a faster runtime where its keyframes repay the set-up."""
    interval = plan.keyframe_interval
    if size is not None:
        height, width = stylizer.working_shape(*size)
        name = runtimes.choose(plan.inference.runtime, stylizer.device.type, frames / interval, height * width)
        if name != "torch":
            stylizer = _with_runtime(stylizer, name, size, warn)
    if interval > 1:
        return KeyframeCarrier(stylizer, plan.carry, interval)
    return EveryFrame(stylizer, TemporalStabilizer(plan.stabilize) if plan.stabilize.enabled else None)


def _with_runtime(stylizer: Stylizer, name: str, size: tuple[int, int], warn: Warn | None) -> Stylizer:
    try:
        return stylizer.with_runtime(name, *size)
    except Exception as exc:  # noqa: BLE001 - any runtime failure: plain torch, and say so
        if warn is not None:
            warn(f"the {name} runtime failed here ({exc.__class__.__name__}); the generator runs on plain torch "
                 f"(set {option('runtime')} to torch to skip trying)")
        return stylizer
