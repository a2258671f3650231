"""Where the run loop's pictures go (loop.py): a clip with its source's audio, a folder of
frames under their own names, one image. Each writes into a temporary path that the job
renames into place when the whole run has succeeded (outputs.atomic_output).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from vidstyle.config import EncodeConfig
from vidstyle.loop import Sink
from vidstyle.media.frames import Frame
from vidstyle.media.images import save_image
from vidstyle.media.sources import VideoSource
from vidstyle.media.writer import VideoWriter, open_output

Warn = Callable[[str], None]


class VideoSink(Sink):
    """An H.264 clip at ``temp`` in the container ``suffix`` names: each picture at its frame's
    timestamp, the source's audio packets copied. Use as a context manager: leaving it without
    an error flushes the encoder."""

    def __init__(self, temp: Path, suffix: str, source: VideoSource, encode: EncodeConfig, warn: Warn,
                 strict: bool = False) -> None:
        if source.dropped_streams:
            warn(f"{source.path.name}: {source.dropped_streams} subtitle/data/extra video stream(s) are not copied")
        self._output = open_output(temp, suffix)
        try:
            self.writer = VideoWriter(self._output, source.video_stream, source.audio_streams, source.info, encode,
                                      warn, strict)
        except BaseException:
            self._output.close()
            raise

    def write(self, frame: Frame, picture: np.ndarray) -> None:
        self.writer.write(picture, frame.pts)

    def copy(self, item: object) -> None:
        self.writer.copy(item)

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        try:
            if kind is None:
                self.writer.finish()
        finally:
            self._output.close()


class FolderSink(Sink):
    """Frames into ``folder`` under their source names, alpha put back."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, frame: Frame, picture: np.ndarray) -> None:
        save_image(self.folder / frame.name, picture, frame.alpha)


class ImageSink(Sink):
    """The one picture of an image source at ``path``, in the format ``fmt_from``'s suffix names."""

    def __init__(self, path: Path, fmt_from: Path) -> None:
        self.path, self.fmt_from = path, fmt_from

    def write(self, frame: Frame, picture: np.ndarray) -> None:
        save_image(self.path, picture, frame.alpha, fmt_from=self.fmt_from)
