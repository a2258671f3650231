"""Clips the benchmarks make for themselves: a camera panning and zooming over a bundled
painting (real texture at any resolution), H.264 with the product's encoder settings, plus a
stereo AAC track, so that a transcode has the same work to do as a real clip."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
PAINTING = REPO / "samples" / "starry_night.jpg"


def panning_clip(out: Path, width: int, height: int, seconds: float, fps: int = 25, audio: bool = True) -> Path:
    """Write (once: an existing file is reused) and return ``out``."""
    if out.exists():
        return out
    photo = cv2.cvtColor(cv2.imread(str(PAINTING)), cv2.COLOR_BGR2RGB)
    ph, pw = photo.shape[:2]
    frames = max(2, round(seconds * fps))
    temp = out.with_name(out.stem + ".partial" + out.suffix)
    with av.open(str(temp), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        sound = container.add_stream("aac", rate=48000, layout="stereo") if audio else None
        samples_done = 0
        for i in range(frames):
            t = i / (frames - 1)
            zoom = (0.7 - 0.15 * t) * pw / width  # source pixels per output pixel
            cx = pw * (0.35 + 0.3 * t) + 6 * math.sin(9 * t)
            cy = ph * 0.5 + 4 * math.cos(7 * t)
            matrix = np.float32([[1 / zoom, 0, width / 2 - cx / zoom], [0, 1 / zoom, height / 2 - cy / zoom]])
            rgb = cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
            if sound is not None:
                samples_done = _audio_until(container, sound, samples_done, (i + 1) / fps)
        container.mux(stream.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))
    temp.rename(out)
    return out


def _audio_until(container, sound, done: int, seconds: float) -> int:
    """Encode a 440 Hz tone up to ``seconds``; returns the samples written so far."""
    rate, block = 48000, 1024
    while done + block <= seconds * rate:
        t = (done + np.arange(block)) / rate
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = rate, done, Fraction(1, rate)
        container.mux(sound.encode(frame))
        done += block
    return done
