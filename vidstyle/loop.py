"""The one run loop: a source's frames through a renderer into a sink.

    source ──frames──▶ renderer.submit ──staged──▶ renderer.draw ──pictures──▶ sink
    (decoder thread)   (this thread)               (drawer thread)             (writer thread)

- A **source** (media/sources.py) yields `Frame`s in order, and anything its sink copies
  unchanged in between (a clip's audio packets).
- A **renderer** turns frames into pictures in two steps. `submit` does the heavy work in the
  caller's thread (the generator, on a GPU; the keyframe carrier's in a thread of its own) and
  hands back a staged result for each frame that is done, oldest first; it may hold frames back
  (a bounded look-ahead: the keyframe carrier waits for the next keyframe) and hands the rest
  over in `flush`. `draw` turns staged results into pictures, in order, beside the next
  `submit` (the stabilizer, applying carried looks).
- A **sink** (media/sinks.py) writes each picture with its frame's timestamp, alpha or name.

Frames are paired with their pictures here and nowhere else. `run` overlaps the four
threads through small bounded queues (render/stages.py), so memory stays flat however long
the clip; `pictures` is the same loop for a caller that pulls pictures one by one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

from vidstyle.media.frames import Frame
from vidstyle.render.stages import batched, read_ahead, write_behind

T = TypeVar("T")
QUEUE_CHUNKS = 4  # batches (or passed-through packets) waiting between two threads: bounds the memory
DRAW_FRAMES = 8  # staged frames waiting for the drawer: one keyframe window, two GPU batches (the
# sink's queue, QUEUE_CHUNKS, absorbs the jitter)
PACKETS_PER_FRAME = 64  # passed-through packets that weigh as much as a frame there: a clip's audio
# passes a window being drawn, and audio that runs on past the last frame still waits at some point


class Renderer(ABC, Generic[T]):
    """Frames of one clip, in order, into pictures. ``T`` is what `submit` stages for `draw`."""

    batch_size: int = 1  # frames per `submit` call

    @abstractmethod
    def submit(self, frames: list[np.ndarray]) -> list[T]:
        """Take the next frames; return the staged results of the oldest frames that are done
        (possibly fewer than given, never more than have been given)."""

    def flush(self) -> list[T]:
        """The staged results of every frame still held back, at the end of the clip."""
        return []

    def describe(self) -> str | None:
        """How this renderer treats a clip, in a few words for the run's log (None: nothing to say)."""
        return None

    @abstractmethod
    def draw(self, frames: list[np.ndarray], staged: list[T]) -> list[np.ndarray]:
        """The finished uint8 RGB pictures of ``frames`` from their staged results; called in
        order, once per frame, possibly from another thread than `submit`."""


class Sink(ABC):
    """Where pictures go: a video file, a folder, an image, a caller."""

    @abstractmethod
    def write(self, frame: Frame, picture: np.ndarray) -> None:
        """Write ``picture``, the rendering of ``frame``."""

    def copy(self, item: object) -> None:
        """Take something the source passed through unchanged (a clip's audio packet)."""
        raise TypeError(f"{type(self).__name__} takes no {type(item).__name__}")

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:  # noqa: B027 - most need nothing
        """Finish the output (leaving without an error) or let go of it."""


class FrameSource(Protocol):
    def stream(self) -> Iterator[Frame | object]: ...


class Progress(Protocol):
    def update(self, count: int = 1) -> None: ...


@dataclass(frozen=True)
class Staged(Generic[T]):
    """Frames whose rendering is decided, and what `Renderer.draw` needs to finish them."""

    frames: list[Frame]
    staged: list[T]

    def draw(self, renderer: Renderer[T]) -> list[np.ndarray]:
        return renderer.draw([f.rgb for f in self.frames], self.staged) if self.frames else []


def staged(items: Iterable[Frame | object], renderer: Renderer[T]) -> Iterator[Staged[T] | object]:
    """The loop: frames in batches through ``renderer.submit``, each result paired with its
    frame; anything that is not a frame passes through in order."""
    waiting: deque[Frame] = deque()  # submitted, not yet handed back

    def done(results: list[T]) -> Staged[T]:
        return Staged([waiting.popleft() for _ in results], results)

    for chunk in batched(items, renderer.batch_size, lambda item: isinstance(item, Frame)):
        if isinstance(chunk, list):
            waiting.extend(chunk)
            if results := renderer.submit([f.rgb for f in chunk]):
                yield done(results)
        else:
            yield chunk
    if results := renderer.flush():
        yield done(results)
    if waiting:
        raise RuntimeError(f"the renderer held back {len(waiting)} frame(s) after its flush")


@dataclass(frozen=True)
class _Drawn:
    """Frames and their finished pictures, on their way from the drawer to the sink (the staged
    results are dropped here: they can be as large as the pictures)."""

    frames: list[Frame]
    pictures: list[np.ndarray]


def run(source: FrameSource, renderer: Renderer, sink: Sink, progress: Progress | None = None) -> int:
    """Render every frame of ``source`` into ``sink``: decoding, `submit`, `draw` and writing
    run at the same time in four threads. Returns the number of frames written.

    `draw` and the sink have a thread each because both can be a run's slowest stage (a GPU's
    every-frame render: the stabilizer and the encoder); in one thread their times add up. The
    drawer's queue is short (``DRAW_FRAMES``): what waits there is staged results, what waits
    for the sink is pictures, and the two queues together hold about what one did before. It
    is bounded by frames, not items: an audio packet waiting behind a keyframe window being
    drawn held this thread up (a queue of one item: 1.0 s of a 7.7-s 720p run; README, Speed)."""
    written = 0

    def write(item: _Drawn | object) -> None:
        nonlocal written
        if not isinstance(item, _Drawn):
            sink.copy(item)
            return
        for frame, picture in zip(item.frames, item.pictures, strict=True):
            sink.write(frame, picture)
        written += len(item.frames)
        if progress is not None and item.frames:
            progress.update(len(item.frames))

    with read_ahead(source.stream(), QUEUE_CHUNKS, "decoder") as items, \
            write_behind(write, QUEUE_CHUNKS, "writer") as write_later:

        def draw(item: Staged | object) -> None:
            write_later(_Drawn(item.frames, item.draw(renderer)) if isinstance(item, Staged) else item)

        with write_behind(draw, DRAW_FRAMES * PACKETS_PER_FRAME, "drawer", weight=_weight) as draw_later:
            for item in staged(items, renderer):
                draw_later(item)
    return written


def _weight(item: Staged | object) -> int:
    """What an item weighs in the drawer's queue: its frames, each as much as PACKETS_PER_FRAME
    passed-through packets."""
    return PACKETS_PER_FRAME * len(item.frames) if isinstance(item, Staged) else 1


def pictures(source: FrameSource, renderer: Renderer) -> Iterator[np.ndarray]:
    """The same loop for a caller that pulls: each picture as soon as it is drawn, the source
    read lazily in the caller's thread (frames come back in bursts where the renderer holds
    some back)."""
    for item in staged(source.stream(), renderer):
        if isinstance(item, Staged):
            yield from item.draw(renderer)
