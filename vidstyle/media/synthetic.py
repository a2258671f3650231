"""Clips made in code, for the tests, the benchmarks and the bundled sample: frames from any
painter written as H.264 at exact timestamps, with stereo audio tracks, and a camera that pans
and zooms over a picture (real texture at any resolution), with an object crossing it whose
motion, like the camera's, is known exactly (`MovingScene`).

One writer instead of one per caller; never used by the stylizing path itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from vidstyle.media.ffmpeg import ffmpeg_path
from vidstyle.render.flow import Motion, lands_inside, warp

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
    # test, benchmark and sample clips must repeat, byte for byte: a model trained on a frame 2
    # levels off paints differently. Two things in x264 made encodes of the same frames differ: its
    # frame threads (1 of 3 encodes of the same 100 frames), and its macroblock tree (off already in
    # ultrafast and superfast), even on one thread, once the process had encoded before: how often
    # depends on what it encoded (5 of 6 repeats of one 320x180 clip, medium; none in other runs)
    stream.options = {"preset": preset, "crf": str(crf), "x264-params": "mbtree=0"}
    stream.codec_context.thread_count = 1
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
    """(2, 3) float32: `pan_over`'s camera at ``t``, from picture pixels to the view's: what
    `view_flow` needs to give the true motion between two frames."""
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


RIM = 2  # pixels around a MovingScene's disc left out of its truth: the anti-aliased edge and the codec's smear


@dataclass(frozen=True, eq=False)
class MovingScene:
    """A clip whose true motion is known: `pan_over`'s camera over ``photo``, and a disc
    textured with ``thing``'s top-left quarter crossing it (uncovering what lies behind). The
    quality benchmarks make their stand-ins for real footage with it and judge a render's
    steadiness against that truth as well as against an estimated flow."""

    photo: np.ndarray  # RGB uint8
    thing: np.ndarray  # RGB uint8
    size: tuple[int, int] = (320, 180)  # width, height
    frames: int = 50
    zoom: tuple[float, float] = (0.75, 0.1)
    shake: tuple[float, float] = (8.0, 6.0)  # in the photo's pixels
    wobble: tuple[float, float] = (7.0, 5.0)

    @property
    def radius(self) -> int:
        """The disc's radius in pixels: a sixth of the frame's height, large enough to uncover a lot."""
        return int(0.16 * self.size[1])

    def camera(self, index: int) -> np.ndarray:
        """Frame ``index``'s `pan_matrix`."""
        w, h = self.size
        return pan_matrix(self.photo.shape, w, h, index / (self.frames - 1), zoom=self.zoom, shake=self.shake,
                          wobble=self.wobble)

    def disc_corner(self, index: int) -> tuple[int, int]:
        """The disc's bounding square's top-left corner (may lie outside the frame): whole pixels,
        so that the disc's own motion is exact."""
        w, h = self.size
        t = index / (self.frames - 1)
        return (int(w * (0.1 + 0.8 * t)) - self.radius,
                int(h * (0.3 + 0.4 * abs(math.sin(3 * t)))) - self.radius)

    def disc_alpha(self, index: int) -> np.ndarray:
        """(h, w) float64: the disc's coverage of each pixel (an anti-aliased edge)."""
        w, h = self.size
        r = self.radius
        ox, oy = self.disc_corner(index)
        ys, xs = np.mgrid[0:h, 0:w]
        return np.clip(r - np.hypot(xs - ox - r, ys - oy - r), 0, 1)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index``, uint8 RGB: the camera's view (bilinear) with the disc over it."""
        w, h = self.size
        view = cv2.warpAffine(self.photo, self.camera(index), (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
        r = self.radius
        patch = cv2.resize(self.thing[: self.thing.shape[0] // 2, : self.thing.shape[1] // 2], (2 * r, 2 * r))
        ox, oy = self.disc_corner(index)
        shifted = cv2.warpAffine(patch, np.float32([[1, 0, ox], [0, 1, oy]]), (w, h), flags=cv2.INTER_NEAREST)
        alpha = self.disc_alpha(index)[..., None]
        return (view * (1 - alpha) + shifted * alpha).astype(np.uint8)

    def write(self, out: Path, fps: int = 25, audio: str | None = None) -> Path:
        """The clip as H.264 (CRF 16: the codec's noise stays below the camera's texture)."""
        return write_clip(out, (self.frame(i) for i in range(self.frames)), rate=fps, crf=16, preset="medium",
                          audio=audio)

    def truth(self, index: int) -> Motion:
        """Frame ``index``'s true backward motion to the frame before, and where it holds: the
        camera's for the photo, the disc's own for the disc; not on the disc's rim, nor where the
        photo was hidden by the disc the frame before (uncovered), nor landing outside."""
        if not 0 < index < self.frames:
            raise ValueError(f"frame {index} has no frame before it in a {self.frames}-frame scene")
        w, h = self.size
        flow = view_flow(self.camera(index), self.camera(index - 1), w, h)
        (x1, y1), (x0, y0) = self.disc_corner(index), self.disc_corner(index - 1)
        alpha, before = self.disc_alpha(index), self.disc_alpha(index - 1)
        on_disc = alpha >= 1
        flow[on_disc] = (x0 - x1, y0 - y1)
        rim = np.ones((2 * RIM + 1,) * 2, np.uint8)
        inside_before = cv2.dilate((before > 0).astype(np.uint8), rim) > 0  # the disc the frame before, widened
        edge = cv2.dilate(((alpha > 0) & (alpha < 1)).astype(np.uint8), rim) > 0
        hidden = warp(inside_before.astype(np.float32), flow) > 0  # landed where the disc was
        valid = lands_inside(flow) & ~edge & (on_disc | (~hidden & (alpha == 0)))
        return Motion(flow=flow, valid=valid)
