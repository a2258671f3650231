"""Render samples/clip.mp4: the project's own sample clip, made from nothing but code.

A procedurally drawn landscape (sky, sun, two layers of hills moving with parallax as the
camera pans, a bouncing ball as a moving object, a grain texture for detail) at 480x270,
25 fps, 4 seconds, with a synthesized stereo tune as an AAC track. Everything in it is
generated here, so the clip can ship under the project's licence.

Run: python samples/make_sample.py [OUTPUT]   (needs vidstyle installed: pip install -e .)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from vidstyle.media.synthetic import write_clip

WIDTH, HEIGHT, FPS, SECONDS = 480, 270, 25, 4
SAMPLE_RATE = 44100
SS = 2  # supersampling factor for smooth edges


def _ridge(x: np.ndarray, seed: int, base: float, amp: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.full_like(x, base)
    for octave in range(1, 6):
        freq = rng.uniform(0.6, 1.4) * octave * 2 * np.pi / 900
        y += amp / octave * np.sin(freq * x + rng.uniform(0, 2 * np.pi))
    return y


def render_frame(t: float, grain: np.ndarray) -> np.ndarray:
    h, w = HEIGHT * SS, WIDTH * SS
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    v = yy / h
    sky = np.stack([0.25 + 0.7 * v, 0.45 + 0.35 * v, 0.85 - 0.35 * v], axis=-1)
    img = sky.copy()
    sun_x, sun_y = w * (0.75 - 0.05 * t), h * (0.28 + 0.03 * t)
    sun = np.clip(1.0 - (np.hypot(xx - sun_x, yy - sun_y) - 40 * SS) / (3 * SS), 0, 1)[..., None]
    img = img * (1 - sun) + np.array([1.0, 0.85, 0.4]) * sun
    pan = 30.0 * t * SS  # camera pans right: far hills move slowly, near hills fast
    for seed, base, amp, speed, colour in ((1, 0.55, 0.08, 0.4, (0.35, 0.45, 0.55)),
                                           (2, 0.70, 0.07, 1.0, (0.20, 0.50, 0.22))):
        ridge = _ridge(xx[0] + pan * speed, seed, base * h, amp * h)
        mask = np.clip((yy - ridge[None, :]) / (1.5 * SS), 0, 1)[..., None]
        shade = np.array(colour) * (0.8 + 0.4 * (1 - v[..., None]))
        img = img * (1 - mask) + shade * mask
    bx = w * (0.15 + 0.18 * t)
    by = h * (0.80 - 0.35 * abs(np.sin(np.pi * t * 1.1)))
    ball = np.clip(1.0 - (np.hypot(xx - bx, yy - by) - 18 * SS) / (1.5 * SS), 0, 1)[..., None]
    light = np.clip(1.2 - np.hypot(xx - bx + 6 * SS, yy - by + 6 * SS) / (24 * SS), 0.4, 1.0)[..., None]
    img = img * (1 - ball) + np.array([0.85, 0.15, 0.12]) * light * ball
    img = img * (0.92 + 0.08 * grain)
    big = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return np.asarray(big.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS))


def tune(seconds: float) -> np.ndarray:
    """A gentle arpeggio, stereo float32 (2, N)."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    out = np.zeros(n, dtype=np.float64)
    notes = [261.63, 329.63, 392.00, 523.25, 392.00, 329.63, 293.66, 349.23]
    step = 0.5
    for i, f in enumerate(notes):
        start = int(i * step * SAMPLE_RATE)
        if start >= n:
            break
        tt = t[: n - start]
        env = np.exp(-3.0 * tt) * np.minimum(1.0, tt * 200)
        out[start:] += 0.25 * env * (np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt))
    left, right = out * 0.9, np.roll(out, 300) * 0.9
    return np.stack([left, right]).astype(np.float32)


def main(path: Path) -> None:
    grain = np.random.default_rng(7).random((HEIGHT * SS, WIDTH * SS, 1)).astype(np.float32)
    frames = (render_frame(i / FPS, grain) for i in range(FPS * SECONDS))
    write_clip(path, frames, rate=FPS, crf=20, preset="slow", sound=tune(SECONDS), sound_rate=SAMPLE_RATE,
               audio_bit_rate=96000, options={"movflags": "+faststart"})


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("clip.mp4"))
