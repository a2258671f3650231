"""Inputs behind one interface. A video file, a folder of frames, a still image and a caller's
stream of arrays are each a `Source`: a frame count, the frame at an index or a time, the stream
of `Frame`s that the run loop (loop.py) renders, and — through `training_frames` — the frame
the style model is trained on and the frames it is fine-tuned on.

Opening a source checks it (readable, frames of a size vidstyle can take) before any work starts.
A source is closed by its job when the job is done (`with source:`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidstyle.errors import InputError, VidstyleError, option
from vidstyle.limits import DEFAULT_MAX_PIXELS, check_frame_size
from vidstyle.media import reader
from vidstyle.media.frames import Frame
from vidstyle.media.images import LoadedImage, image_size, is_image_path, load_image


class Source(ABC):
    """Frames to stylize, by index or time, and in order."""

    def __init__(self, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.path = path
        self.max_pixels = max_pixels

    @property
    @abstractmethod
    def frame_count(self) -> int:
        """How many frames the source holds (for a clip: what its container announces)."""

    @abstractmethod
    def frame_at(self, index: int) -> np.ndarray:
        """The frame at ``index`` (0-based) as uint8 RGB."""

    @abstractmethod
    def frame_at_time(self, seconds: float) -> np.ndarray:
        """The frame shown ``seconds`` after the start."""

    @abstractmethod
    def middle(self) -> np.ndarray:
        """The frame in the middle: the default training frame."""

    @abstractmethod
    def spread(self, count: int) -> list[np.ndarray]:
        """About ``count`` frames evenly spread over the source (for fine-tuning)."""

    @abstractmethod
    def stream(self) -> Iterator[Frame | object]:
        """Every frame in order as a `Frame`, streaming, with what a sink copies unchanged in
        between (a clip's audio packets)."""

    def close(self) -> None:  # noqa: B027 - most sources hold no open file
        """Let go of open files (a clip's container)."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoSource(Source):
    """A clip read with PyAV; probed (and its frame size checked) when opened.

    Two containers at most: one for random access (the training frames, found by seeking; the
    streams a sink copies from), opened when first needed, and one read straight through for
    `stream`. Why not one: seeking back to the start drops a clip's first audio packet in MP4
    and MKV (measured: 88 packets read through, 87 after a keyframe seek and a rewind), and
    audio must come through bit for bit."""

    def __init__(self, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        super().__init__(path, max_pixels)
        self.info = reader.probe(path, max_pixels)
        self._container = None
        self._readers: list = []  # containers read straight through by `stream`

    @property
    def container(self):
        """The random-access container (its streams are the templates of a clip's output)."""
        if self._container is None:
            self._container = reader.open_input(self.path)
            reader.video_stream(self._container)  # threaded decoding, set before the first decode
        return self._container

    @property
    def video_stream(self):
        return self.container.streams.video[0]

    @property
    def audio_streams(self) -> list:
        return list(self.container.streams.audio)

    @property
    def dropped_streams(self) -> int:
        """Subtitle, data and extra video streams: not copied."""
        return len(self.container.streams) - 1 - len(self.container.streams.audio)

    def close(self) -> None:
        for container in [self._container, *self._readers]:
            if container is not None:
                container.close()
        self._container, self._readers = None, []

    @property
    def frame_count(self) -> int:
        return self.info.frames

    def frame_at(self, index: int) -> np.ndarray:
        rgb, count = reader.frame_by_index(self.path, index)
        if rgb is None:
            raise InputError(f"{option('train_frame')} #{index} is past the end of {self.path.name} ({count} frames); "
                             "pick a smaller index")
        return rgb

    def frame_at_time(self, seconds: float) -> np.ndarray:
        if self.info.duration and seconds > self.info.duration:
            raise InputError(f"{option('train_frame')} {seconds:g}s is past the end of {self.path.name} "
                             f"({self.info.duration:.2f}s); pick an earlier time")
        return reader.frames_at_times(self.container, [self.info.start + seconds], self.path)[0]

    def middle(self) -> np.ndarray:
        return reader.frames_at_times(self.container, [self.info.start + self.info.duration / 2], self.path)[0]

    def spread(self, count: int) -> list[np.ndarray]:
        return reader.frames_at_times(self.container, spread_times(self.info, count), self.path)

    def stream(self) -> Iterator[Frame | object]:
        """Decoded frames and the audio packets of the streams the sink copies, in file order.
        The container stays open until `close`: packets still queued for the sink belong to it."""
        container = reader.open_input(self.path)
        self._readers.append(container)
        yield from reader.demux(container, reader.video_stream(container), list(container.streams.audio))

    def missing_frames(self, written: int) -> int:
        """Frames the clip announced but did not deliver (see `reader.missing_frames`)."""
        return reader.missing_frames(self.info, written)


class FolderSource(Source):
    """A folder of still frames, in file-name order; every frame's header is checked when opened."""

    def __init__(self, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        super().__init__(path, max_pixels)
        self.paths = folder_frames(path)
        for frame in self.paths:
            check_frame_size(*image_size(frame, "frame", max_pixels), f"frame {frame}", max_pixels)

    @property
    def frame_count(self) -> int:
        return len(self.paths)

    def frame_at(self, index: int) -> np.ndarray:
        if index >= len(self.paths):
            raise InputError(f"{option('train_frame')} #{index} is past the end of {self.path} "
                             f"({len(self.paths)} frames); pick a smaller index")
        return self.image(index).rgb

    def frame_at_time(self, seconds: float) -> np.ndarray:
        raise InputError(f"a folder of frames takes {option('train_frame')} '#N' (a frame index), not a time")

    def middle(self) -> np.ndarray:
        return self.frame_at(len(self.paths) // 2)

    def spread(self, count: int) -> list[np.ndarray]:
        picks = np.linspace(0, len(self.paths) - 1, count).round().astype(int)
        return [self.frame_at(i) for i in sorted(set(picks.tolist()))]

    def image(self, index: int) -> LoadedImage:
        """Frame ``index`` with its alpha channel (to put back when the frame is written)."""
        return load_image(self.paths[index], max_pixels=self.max_pixels)

    def stream(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            image = self.image(index)
            yield Frame(rgb=image.rgb, alpha=image.alpha, name=path.name)


class ImageSource(Source):
    """A still image: one frame, shown at every time and index (its own training frame). Only its
    header is read when opened; the pixels each time they are asked for (not kept: a batch of
    many photos holds one at a time)."""

    def __init__(self, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        super().__init__(path, max_pixels)
        self.size = image_size(path, max_pixels=max_pixels)  # (width, height)
        check_frame_size(*self.size, f"input image {path}", max_pixels)

    @property
    def frame_count(self) -> int:
        return 1

    def image(self) -> LoadedImage:
        """The image with its alpha channel (to put back when it is written)."""
        return load_image(self.path, max_pixels=self.max_pixels)

    def frame_at(self, index: int) -> np.ndarray:
        return self.image().rgb

    def frame_at_time(self, seconds: float) -> np.ndarray:
        return self.image().rgb

    def middle(self) -> np.ndarray:
        return self.image().rgb

    def spread(self, count: int) -> list[np.ndarray]:
        return []  # nothing beyond the training frame to fine-tune on

    def stream(self) -> Iterator[Frame]:
        image = self.image()
        yield Frame(rgb=image.rgb, alpha=image.alpha)


class ArraySource:
    """A caller's stream of (H, W, 3) uint8 RGB arrays of one clip (the Python API's), read
    lazily and checked frame by frame."""

    def __init__(self, frames: Iterator[np.ndarray] | list[np.ndarray]) -> None:
        self.frames = frames

    def stream(self) -> Iterator[Frame]:
        shape = None
        for rgb in self.frames:
            shape = checked_array(rgb, shape).shape
            yield Frame(rgb=rgb)


def checked_array(frame: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``frame`` if it is an (H, W, 3) uint8 array (of ``shape``, when given); else a one-line error."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise InputError(f"frames must be (H, W, 3) uint8 RGB arrays, got {got}; "
                         "convert with np.asarray(frame, np.uint8)")
    if shape is not None and frame.shape != shape:
        raise VidstyleError(f"frames of one stream must share a size: {frame.shape[:2]} after {shape[:2]}")
    return frame


def source_class(path: Path) -> type[Source]:
    """Which kind of source ``path`` is (a folder, an image by its suffix, else a clip), from
    the file system alone; a one-line error for a missing path, a pipe or a device."""
    if not path.exists():
        raise InputError(f"input {path} does not exist; check the path")
    if path.is_dir():
        return FolderSource
    if not path.is_file():
        raise InputError(f"input {path} is not a regular file (a pipe or device can be read only once, "
                         "and vidstyle reads a clip more than once); save it to a file first")
    return ImageSource if is_image_path(path) else VideoSource


def open_source(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Source:
    """``path`` opened as the source it is, and checked."""
    return source_class(path)(path, max_pixels)


def folder_frames(folder: Path) -> list[Path]:
    """The folder's images in name order (hidden files left out); an error if there are none."""
    frames = sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p) and not p.name.startswith("."))
    if not frames:
        raise InputError(f"folder {folder} holds no images; pass a folder of PNG/JPEG/WebP frames")
    return frames


@dataclass(frozen=True)
class TrainingFrames:
    """The frames a style model learns from: the training frame, and the fine-tuning frames."""

    frame: np.ndarray
    extra: list[np.ndarray]


def training_frames(source: Source, frame: str | None, finetune_frames: int = 0) -> TrainingFrames:
    """The frame ``frame`` names ('12.5' seconds, '#40' an index, None the middle) and
    ``finetune_frames`` more frames spread over the source."""
    kind, value = parse_frame_spec(frame)
    if kind == "index":
        key = source.frame_at(int(value))
    elif kind == "time":
        key = source.frame_at_time(value)
    else:
        key = source.middle()
    return TrainingFrames(frame=key, extra=source.spread(finetune_frames) if finetune_frames > 0 else [])


def parse_frame_spec(spec: str | None) -> tuple[str, float]:
    """'12.5' -> ('time', 12.5); '#40' -> ('index', 40); None -> ('middle', 0)."""
    if spec is None or spec == "":
        return "middle", 0.0
    try:
        if spec.startswith("#"):
            index = int(spec[1:])
            if index < 0:
                raise ValueError
            return "index", float(index)
        seconds = float(spec)
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError
        return "time", seconds
    except ValueError:
        name = option("train_frame")
        raise InputError(f"{name} '{spec}' is not a time in seconds or #N frame index; "
                         f"use e.g. {name} 2.5 or {name} '#40'") from None


def spread_times(info: reader.VideoInfo, count: int) -> list[float]:
    """``count`` times evenly spread over the clip (centres of equal slices)."""
    length = info.duration or (info.frames / float(info.rate) if info.rate and info.frames else 0.0)
    return [info.start + length * (i + 0.5) / count for i in range(count)]
