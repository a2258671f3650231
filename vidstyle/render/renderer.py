"""The renderers of the run loop (loop.py), and the treatments that choose them.

A job applies one *treatment* to its frames, and the treatment picks the renderer:

- `Painting` (the generator): for a clip, `KeyframeCarrier` (carry.py: the generator on
  keyframes, the look carried along the motion, applied in `draw`) or `EveryFrame` (the
  generator on every frame, the stabilizer in `draw`); for an image, `EveryFrame` alone.
- `Grading` (a photoreal look, grade.py): `Graded`, each frame coloured by the grid its own
  lightness selects; nothing is fitted per frame, so nothing flickers.
- `LutGrading` (a 3D LUT, vidstyle's own or an editor's): `LutRenderer`, FFmpeg's lut3d filter.
- `Unchanged`: the frames as they are (the transcode ceiling of the benchmarks and tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vidstyle.config import Plan
from vidstyle.errors import option
from vidstyle.loop import Renderer
from vidstyle.media.cube import Lut3D
from vidstyle.media.images import shrink_long_side
from vidstyle.render import runtimes
from vidstyle.render.carry import KeyframeCarrier, Look, apply_looks
from vidstyle.render.grade import Grade
from vidstyle.render.lut import LutFilter, LutTable, apply_lut, fit_lut
from vidstyle.render.stabilize import TemporalStabilizer
from vidstyle.render.stylize import Stylizer

Warn = Callable[[str], None]


class EveryFrame(Renderer[np.ndarray]):
    """Every frame through the generator; ``stabilizer``: blended with the previous one along
    the motion (work that `draw` runs beside the next batch: the flow on the CPU, the blending
    on the generator's GPU where there is one)."""

    def __init__(self, stylizer: Stylizer, stabilizer: TemporalStabilizer | None = None) -> None:
        self.stylizer, self.stabilizer = stylizer, stabilizer
        self.batch_size = stylizer.batch_size

    def submit(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        return self.stylizer(frames)

    def draw(self, frames: list[np.ndarray], staged: list[np.ndarray]) -> list[np.ndarray]:
        if self.stabilizer is None:
            return staged
        return [self.stabilizer(src, out) for src, out in zip(frames, staged, strict=True)]

    def describe(self) -> str:
        steady = ", stabilized" if self.stabilizer is not None else ""
        return f"every frame through the generator{steady} (generator on {self.stylizer.runtime})"


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
        name = runtimes.choose(plan.inference.runtime, stylizer.device.type, frames / interval, height * width,
                               converted=lambda: runtimes.is_converted(stylizer.model))
        if name == "openvino" and interval > 1:  # the carrier's keyframes come one at a time, painted in its
            # keyframe thread: built there at the first one, while the frames that wait for it are tracked (not
            # torch.compile: its ~27-s compile would hold up a Ctrl-C there, and it is not meant for threads)
            stylizer = stylizer.with_runtime(name, *size, batch=1,
                                             deferred=lambda exc: _runtime_failed(name, exc, warn))
        elif name != "torch":  # built for the batches it will see: the carrier's keyframes one at a time
            stylizer = _with_runtime(stylizer, name, size, 1 if interval > 1 else stylizer.batch_size, warn)
    if interval > 1:
        return KeyframeCarrier(stylizer, plan.carry, interval)
    return EveryFrame(stylizer, TemporalStabilizer(plan.stabilize, stylizer.device) if plan.stabilize.enabled else None)


def _with_runtime(stylizer: Stylizer, name: str, size: tuple[int, int], batch: int, warn: Warn | None) -> Stylizer:
    try:
        return stylizer.with_runtime(name, *size, batch=batch)
    except Exception as exc:  # noqa: BLE001 - any runtime failure: plain torch, and say so
        _runtime_failed(name, exc, warn)
        return stylizer


def _runtime_failed(name: str, exc: Exception, warn: Warn | None) -> None:
    """One line: the runtime failed, the run goes on under plain torch."""
    if warn is not None:
        warn(f"the {name} runtime failed here ({exc.__class__.__name__}); the generator runs on plain torch "
             f"(set {option('runtime')} to torch to skip trying)")


class Graded(Renderer[Look]):
    """Each frame coloured by a photoreal grade: its look sliced from the grid by the frame's
    own lightness in `submit`, applied to its full-resolution pixels in `draw`."""

    def __init__(self, grade: Grade) -> None:
        self.grade = grade

    def submit(self, frames: list[np.ndarray]) -> list[Look]:
        return [self.grade.look(rgb) for rgb in frames]

    def draw(self, frames: list[np.ndarray], staged: list[Look]) -> list[np.ndarray]:
        return apply_looks(frames, staged)


class LutRenderer(Unchanged):
    """Each frame through a 3D LUT with FFmpeg's lut3d filter (tetrahedral), in `submit`: the
    caller's thread has nothing else to do, while the writer thread encodes (measured: 0.85x the
    transcode ceiling at 720p there, 0.79x in `draw` when `draw` shared the encoder's thread).
    For more than ``TABLE_FRAMES`` frames, through a table of the filter's output for every
    colour (lut.py, `LutTable`: the same bytes, 3 ms a 720p frame instead of 13, after 0.4 s to build)."""

    def __init__(self, lut: Lut3D, frames: int = 0) -> None:
        self.filter = LutTable(lut) if frames > TABLE_FRAMES else LutFilter(lut)

    def submit(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        return [self.filter(rgb) for rgb in frames]


TABLE_FRAMES = 40  # frames past which a LUT's table pays for its 0.4 s (at 720p: 10 ms saved a frame)
LUT_FIT_SIZE = 512  # long side of the frame whose colours a baked LUT is fitted to


def baked_lut(treatment: Treatment, frame: np.ndarray, title: str) -> Lut3D:
    """``treatment`` as a 33³ LUT: fitted from ``frame``'s colours to their treated colours (what
    ``--save-lut`` and `StyleModel.to_lut` write)."""
    small = shrink_long_side(frame, LUT_FIT_SIZE)
    return fit_lut(small, treatment.picture(small), title=title)


class Treatment(Protocol):
    """What a job applies to its frames (see the module docstring)."""

    def picture(self, rgb: np.ndarray) -> np.ndarray:
        """One frame treated (the preview's middle panel)."""

    def clip_renderer(self, plan: Plan, frames: int = 0, size: tuple[int, int] | None = None,
                      warn: Warn | None = None) -> Renderer:
        """The renderer for a clip or frame folder."""

    def image_renderer(self) -> Renderer:
        """The renderer for a still image."""


@dataclass(frozen=True)
class Painting:
    """The generator's painting, through a `Stylizer`."""

    stylizer: Stylizer

    def picture(self, rgb: np.ndarray) -> np.ndarray:
        return self.stylizer.one(rgb)

    def clip_renderer(self, plan: Plan, frames: int = 0, size: tuple[int, int] | None = None,
                      warn: Warn | None = None) -> Renderer:
        return clip_renderer(self.stylizer, plan, frames, size, warn)

    def image_renderer(self) -> Renderer:
        return EveryFrame(self.stylizer)


@dataclass(frozen=True)
class Grading:
    """A photoreal grade, fitted once on a job's training frame."""

    grade: Grade

    @classmethod
    def fit(cls, stylizer: Stylizer, frame: np.ndarray, train_size: int) -> Grading:
        """The grade that takes ``frame`` to the photoreal generator's output on it, both at the
        size the generator was trained at (what its output means; the grid is size-free)."""
        small = shrink_long_side(frame, train_size)
        return cls(Grade.fit(small, stylizer.one(small)))

    def picture(self, rgb: np.ndarray) -> np.ndarray:
        return self.grade.apply(rgb)

    def clip_renderer(self, plan: Plan, frames: int = 0, size: tuple[int, int] | None = None,
                      warn: Warn | None = None) -> Renderer:
        return Graded(self.grade)

    def image_renderer(self) -> Renderer:
        return Graded(self.grade)


@dataclass(frozen=True)
class LutGrading:
    """A 3D LUT applied as it is."""

    lut: Lut3D

    def picture(self, rgb: np.ndarray) -> np.ndarray:
        return apply_lut(self.lut, rgb)

    def clip_renderer(self, plan: Plan, frames: int = 0, size: tuple[int, int] | None = None,
                      warn: Warn | None = None) -> Renderer:
        return LutRenderer(self.lut, frames)

    def image_renderer(self) -> Renderer:
        return LutRenderer(self.lut)
