"""Test clips made in code with PyAV, and readers that report what a clip holds."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def pattern(width: int, height: int, i: int) -> np.ndarray:
    """A moving gradient with a moving square: every frame differs, edges are sharp."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([(xx * 3 + i * 7) % 256, (yy * 3 + i * 5) % 256, ((xx + yy) * 2) % 256], axis=-1)
    x0 = (i * 4) % max(1, width - 12)
    img[8:20, x0:x0 + 12] = (250, 250, 20)
    return img.astype(np.uint8)


def smooth(width: int, height: int, i: int) -> np.ndarray:
    """A soft gradient that drifts: little for the codec to lose."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([40 + 150 * xx / width + i, 60 + 120 * yy / height, 200 - 100 * xx / width], axis=-1)
    return img.astype(np.uint8)


def make_clip(path: Path, *, painter=pattern, width: int = 96, height: int = 64, frames: int = 12,
              time_base: Fraction = Fraction(1, 25), pts: list[int] | None = None,
              rate: Fraction = Fraction(25), audio: str | None = "aac", audio_streams: int = 1,
              rotation: int = 0, options: dict[str, str] | None = None) -> Path:
    """Write an H.264 clip. ``pts`` (in ``time_base``) gives variable frame timing; by default
    frames are 1/rate apart. ``audio`` is an audio codec name or None; ``options`` go to the muxer
    (e.g. ``{"movflags": "+faststart"}``: an MP4 whose index comes first survives truncation)."""
    if pts is None:
        step = 1 / (rate * time_base)
        assert step.denominator == 1
        pts = [int(i * step) for i in range(frames)]
    seconds = float((pts[-1] + (pts[-1] - pts[-2] if len(pts) > 1 else 1)) * time_base)
    with av.open(str(path), "w", options=options or {}) as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height = width, height
        vs.pix_fmt = "yuv444p" if width % 2 or height % 2 else "yuv420p"
        vs.time_base = time_base
        vs.codec_context.time_base = time_base
        vs.options = {"preset": "ultrafast", "crf": "12"}
        if rotation:
            vs.set_display_rotation(rotation)
        audio_out = []
        for _ in range(audio_streams if audio else 0):
            aus = out.add_stream(audio, rate=48000)
            aus.layout = "stereo"
            audio_out.append(aus)
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(painter(width, height, i), format="rgb24")
            frame.pts, frame.time_base = p, time_base
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        for aus in audio_out:
            _write_tone(out, aus, seconds)
    return path


def _write_tone(out, stream, seconds: float) -> None:
    rate, chunk = 48000, 960
    total = int(seconds * rate)
    t = np.arange(total) / rate
    wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    fmt = stream.codec_context.format.name if stream.codec_context.format else "fltp"
    for start in range(0, total, chunk):
        part = wave[start:start + chunk]
        if fmt.startswith("s16"):
            data = (np.stack([part, part]) * 32767).astype(np.int16)
            data = data.T.reshape(1, -1) if fmt == "s16" else data
        else:
            data = np.stack([part, part])
            data = data.T.reshape(1, -1) if fmt == "flt" else data
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


@dataclass
class ClipFacts:
    frames: int
    pts: list[int]
    times: list[float]
    time_base: Fraction
    rate: Fraction | None
    size: tuple[int, int]
    rotation: int
    pix_fmt: str
    duration: float
    audio: list[tuple[str, int, int]]  # (codec, packets, bytes) per audio stream
    first_rgb: np.ndarray


def read_clip(path: Path) -> ClipFacts:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        facts = dict(time_base=v.time_base, rate=v.average_rate, pix_fmt=v.codec_context.pix_fmt,
                     duration=c.duration / av.time_base if c.duration else 0.0)
    with av.open(str(path)) as c:
        streams = list(c.streams.audio)
        counts = {s.index: [0, 0] for s in streams}
        for packet in (c.demux(*streams) if streams else []):
            if packet.size:
                counts[packet.stream.index][0] += 1
                counts[packet.stream.index][1] += packet.size
        audio = [(s.codec_context.name, *counts[s.index]) for s in streams]
    return ClipFacts(frames=len(frames), pts=[f.pts for f in frames], times=[float(f.time) for f in frames],
                     size=(frames[0].width, frames[0].height), rotation=frames[0].rotation, audio=audio,
                     first_rgb=frames[0].to_ndarray(format="rgb24"), **facts)
