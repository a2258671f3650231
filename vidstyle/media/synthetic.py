"""Clips made in code, for the tests, the benchmarks and the bundled sample: frames from any
painter written as H.264 at exact timestamps, with stereo audio tracks, and a camera that pans
and zooms over a picture (real texture at any resolution).

One writer instead of one per caller; never used by the stylizing path itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidstyle.media.ffmpeg import ffmpeg_path

AUDIO_RATE = 48000


def write_clip(path: Path, frames: Iterable[np.ndarray], *, rate: Fraction | int = 25,
               time_base: Fraction | None = None, pts: list[int] | None = None,
               crf: int = 12, preset: str = "ultrafast", audio: str | None = "aac", audio_streams: int = 1,
               sound: np.ndarray | None = None, sound_rate: int = AUDIO_RATE, audio_bit_rate: int | None = None,
               rotation: int = 0, options: dict[str, str] | None = None, container: str | None = None) -> Path:
    """Write RGB ``frames`` (uint8, one size) as H.264 at ``pts`` (in ``time_base``; by default
    1/rate apart), plus ``audio_streams`` tracks of ``audio`` codec (None: no audio) playing
    ``sound`` ((2, N) float32 stereo; by default a 440 Hz tone as long as the video).
    Odd sizes are written yuv444p (yuv420p cannot hold them). ``options`` go to the muxer."""
    rate = Fraction(rate)
    time_base = time_base or 1 / rate
    step = 1 / (rate * time_base)
    with av.open(ffmpeg_path(path), "w", format=container, options=options or {}) as out:
        video = None
        last = None
        for i, rgb in enumerate(frames):
            if video is None:
                video = _video_stream(out, rgb.shape[1], rgb.shape[0], rate, time_base, crf, preset, rotation)
                count = audio_streams if audio else 0
                tracks = [_audio_stream(out, audio, sound_rate, audio_bit_rate) for _ in range(count)]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = pts[i] if pts is not None else round(i * step)
            frame.time_base = time_base
            last = (frame.pts, pts[i] - pts[i - 1] if pts is not None and i else step)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        seconds = float((last[0] + last[1]) * time_base)
        for track in tracks:
            _write_sound(out, track, tone(seconds, sound_rate) if sound is None else sound, sound_rate)
    return path


def _video_stream(out, width: int, height: int, rate: Fraction, time_base: Fraction, crf: int, preset: str,
                  rotation: int):
    stream = out.add_stream("libx264", rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv444p" if width % 2 or height % 2 else "yuv420p"
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    stream.options = {"preset": preset, "crf": str(crf)}
    stream.codec_context.thread_count = 1  # x264's frame threads made the bytes differ from run to run
    # (measured: 1 of 3 encodes of the same 100 frames); test and benchmark clips must repeat
    if rotation:
        stream.set_display_rotation(rotation)
    return stream


def _audio_stream(out, codec: str, sample_rate: int, bit_rate: int | None):
    stream = out.add_stream(codec, rate=sample_rate)
    stream.layout = "stereo"
    if bit_rate:
        stream.bit_rate = bit_rate
    return stream


def tone(seconds: float, sample_rate: int = AUDIO_RATE, hz: float = 440.0) -> np.ndarray:
    """A quiet sine, stereo float32 (2, N)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.stack([wave, wave])


def _write_sound(out, stream, sound: np.ndarray, sample_rate: int, chunk: int = 1024) -> None:
    """Encode (2, N) float32 ``sound`` in whatever sample format the codec takes."""
    fmt = stream.codec_context.format.name if stream.codec_context.format else "fltp"
    for start in range(0, sound.shape[1], chunk):
        part = sound[:, start:start + chunk]
        data = (part * 32767).astype(np.int16) if fmt.startswith("s16") else part.astype(np.float32)
        if fmt in ("s16", "flt"):  # packed: channels interleaved in one plane
            data = data.T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = sample_rate, start, Fraction(1, sample_rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def pan_over(picture: np.ndarray, width: int, height: int, t: float, *, zoom: tuple[float, float] = (0.7, 0.15),
             shake: tuple[float, float] = (6.0, 4.0), wobble: tuple[float, float] = (9.0, 7.0),
             interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """The view at ``t`` in [0, 1] of a camera panning left to right over ``picture`` (RGB) and
    zooming in from ``zoom[0]`` by ``zoom[1]`` of its width, with a hand shake of ``shake`` pixels
    at ``wobble`` frequencies: real texture and real motion at any frame size."""
    matrix = pan_matrix(picture.shape, width, height, t, zoom=zoom, shake=shake, wobble=wobble)
    return cv2.warpAffine(picture, matrix, (width, height), flags=interpolation, borderMode=cv2.BORDER_REFLECT)


def pan_matrix(picture_shape: tuple[int, ...], width: int, height: int, t: float, *,
               zoom: tuple[float, float] = (0.7, 0.15), shake: tuple[float, float] = (6.0, 4.0),
               wobble: tuple[float, float] = (9.0, 7.0)) -> np.ndarray:
    """(2, 3) float32: `pan_over`'s camera at ``t``, from picture pixels to the view's."""
    ph, pw = picture_shape[:2]
    scale = (zoom[0] - zoom[1] * t) * pw / width  # picture pixels per output pixel
    cx = pw * (0.35 + 0.3 * t) + shake[0] * math.sin(wobble[0] * t)
    cy = ph * 0.5 + shake[1] * math.cos(wobble[1] * t)
    return np.float32([[1 / scale, 0, width / 2 - cx / scale], [0, 1 / scale, height / 2 - cy / scale]])


def view_flow(source: np.ndarray, target: np.ndarray, width: int, height: int) -> np.ndarray:
    """(height, width, 2) float32: where each pixel of the view through camera ``source`` (a
    `pan_matrix`) lies in the view through ``target``: the camera's true motion between two
    frames, which a temporal metric can warp with instead of an estimated flow (a flat sky has
    no texture for an estimate to follow, and a render judged by one is judged by its errors)."""
    def full(matrix: np.ndarray) -> np.ndarray:
        return np.vstack([matrix.astype(np.float64), [0.0, 0.0, 1.0]])

    move = (full(target) @ np.linalg.inv(full(source)))[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    landed_x = move[0, 0] * xs + move[0, 1] * ys + move[0, 2]
    landed_y = move[1, 0] * xs + move[1, 1] * ys + move[1, 2]
    return np.dstack([landed_x - xs, landed_y - ys]).astype(np.float32)
