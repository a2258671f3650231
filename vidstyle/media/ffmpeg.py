"""What reading and writing clips share about FFmpeg: paths as it must see them, its error
text, and the RGB conversion flags that make a decode + encode round trip unbiased."""

from __future__ import annotations

import os
from pathlib import Path

from av.video.reformatter import Interpolation

# swscale's default RGB<->yuv420p path darkens by about one level per round trip; accurate
# rounding with full chroma interpolation makes decode+encode unbiased (tests check this).
SWS_FLAGS = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def ffmpeg_path(path: Path) -> str:
    """The path as FFmpeg must see it: absolute, so that a relative name with a colon
    (``take:2.mp4``) is a file, not a protocol URL."""
    return os.path.abspath(path)


def reason(exc: Exception) -> str:
    """FFmpeg's (or the OS's) own words for a failure, in one line."""
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0] or exc.__class__.__name__
