"""Clips the benchmarks make for themselves: a camera panning and zooming over a bundled
painting (real texture at any resolution), H.264 (`synthetic.write_clip`: x264 on one thread,
without its macroblock tree, so the bytes repeat), plus a stereo AAC track, so that a transcode
has the same work to do as a real clip. An existing file is reused: delete old ones after that
writer changes."""

from __future__ import annotations

from pathlib import Path

import cv2

from vidstyle.media.synthetic import pan_over, write_clip

REPO = Path(__file__).resolve().parent.parent

PAINTING = REPO / "samples" / "starry_night.jpg"


def panning_clip(out: Path, width: int, height: int, seconds: float, fps: int = 25, audio: bool = True) -> Path:
    """Write (once: an existing file is reused) and return ``out``."""
    if out.exists():
        return out
    photo = cv2.cvtColor(cv2.imread(str(PAINTING)), cv2.COLOR_BGR2RGB)
    frames = max(2, round(seconds * fps))
    temp = out.with_name(out.stem + ".partial" + out.suffix)
    views = (pan_over(photo, width, height, i / (frames - 1)) for i in range(frames))
    write_clip(temp, views, rate=fps, crf=18, preset="veryfast", audio="aac" if audio else None, container="mp4")
    temp.rename(out)
    return out
