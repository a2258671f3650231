"""How a clip's frames are rendered, chosen once per clip: keyframes with the look carried
along the motion (carry.py), or the generator on every frame followed by the stabilizer.

Both come as a ``process`` step for the caller's thread — a batch of frames in, the frames that
are done out (the carrier holds frames back until their next keyframe; ``flush()`` hands over
the rest) — and an optional ``finish(sources, stylized)`` step that a stream runs beside it.
"""

from __future__ import annotations

from collections.abc import Callable

from vidstyle.config import CarryConfig, StabilizeConfig
from vidstyle.render import runtimes
from vidstyle.render.carry import KeyframeCarrier, apply_looks
from vidstyle.render.stabilize import Batch, stabilizer_step
from vidstyle.render.stylize import Stylizer

Finish = Callable[[Batch, Batch], Batch]


def clip_renderer(stylizer: Stylizer, carry: CarryConfig, stabilize: StabilizeConfig, frames: int = 0,
                  size: tuple[int, int] | None = None,
                  warn: Callable[[str], None] | None = None) -> tuple[Stylizer | KeyframeCarrier, Finish | None]:
    """(process, finish) for one clip of about ``frames`` frames of ``size`` (height, width)
    on the stylizer's device; a long clip's generator gets a faster runtime where it repays."""
    interval = carry.interval_for(stylizer.device.type)
    if size is not None:
        height, width = stylizer.working_shape(*size)
        name = stylizer.config.runtime_for(stylizer.device.type, frames / interval, height * width,
                                           runtimes.openvino_available())
        if name != "torch":
            stylizer = _with_runtime(stylizer, name, size, warn)
    if interval > 1:  # looks carried along the motion need no stabilizer; applying them is the finish
        return KeyframeCarrier(stylizer, carry, interval), apply_looks
    return stylizer, stabilizer_step(stabilize) if stabilize.enabled else None


def _with_runtime(stylizer: Stylizer, name: str, size: tuple[int, int],
                  warn: Callable[[str], None] | None) -> Stylizer:
    try:
        return stylizer.with_runtime(name, *size)
    except Exception as exc:  # noqa: BLE001 - any runtime failure: plain torch, and say so
        if warn is not None:
            warn(f"the {name} runtime failed here ({exc.__class__.__name__}); the generator runs on plain torch "
                 "(pass --runtime torch to skip trying)")
        return stylizer


class InOrder:
    """``process`` then ``finish`` in one step, for callers without a separate stage to run
    ``finish`` in (frame folders, the Python API's frame streams); ``flush`` passes through."""

    def __init__(self, process: Stylizer | KeyframeCarrier, finish: Finish | None) -> None:
        self.process, self.finish = process, finish
        self._sources: Batch = []  # given, not yet handed back (finish needs them)

    def __call__(self, frames: Batch) -> Batch:
        self._sources.extend(frames)
        return self._finished(self.process(frames))

    def flush(self) -> Batch:
        flush = getattr(self.process, "flush", None)
        return self._finished(flush() if flush is not None else [])

    def _finished(self, done: Batch) -> Batch:
        sources, self._sources = self._sources[:len(done)], self._sources[len(done):]
        return self.finish(sources, done) if self.finish is not None and done else done


def in_order_renderer(stylizer: Stylizer, carry: CarryConfig, stabilize: StabilizeConfig) -> InOrder:
    """The clip renderer as a single in-order step."""
    return InOrder(*clip_renderer(stylizer, carry, stabilize))
