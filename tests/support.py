"""Everything the tests share besides fixtures (conftest.py): clips made in code and readers
that report what a clip holds; running the CLI in-process, reading its one-line errors, and
proving that a failed run left the folder exactly as it found it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidstyle.cli import main
from vidstyle.media.synthetic import write_clip

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
FAST = ["--steps", "2", "--train-size", "64", "--device", "cpu", "-q"]


# -- clips made in code ------------------------------------------------------------------
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
    """Write an H.264 clip of ``painter``'s frames. ``pts`` (in ``time_base``) gives variable frame
    timing; by default frames are 1/rate apart. ``audio`` is an audio codec name or None; ``options``
    go to the muxer (e.g. ``{"movflags": "+faststart"}``: an MP4 whose index comes first survives
    truncation)."""
    count = len(pts) if pts is not None else frames
    return write_clip(path, (painter(width, height, i) for i in range(count)), rate=rate, time_base=time_base,
                      pts=pts, audio=audio, audio_streams=audio_streams, rotation=rotation, options=options)


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


def pictures(path: Path) -> list[np.ndarray]:
    """Every decoded frame of a clip as an int RGB array (to subtract)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]


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


# -- the command line ----------------------------------------------------------------------
def run(*args) -> int:
    return main([str(a) for a in args])


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files or folders a run left behind, anywhere below ``folder``."""
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name or p.name.endswith(".old"))


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (outside the torch cache) with the SHA-256 of its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if "torch-home" in p.parts or p.is_symlink() or not p.is_file():
            continue
        out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def error_line(capsys, *args, code: int | None = None) -> str:
    """Run a CLI call that must fail; return its one error line (checked: no traceback, no
    'internal error', exactly one line that says error)."""
    got = run(*args)
    err = capsys.readouterr().err
    assert got != 0, err
    if code is not None:
        assert got == code, err
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [line for line in err.splitlines() if line.startswith(("vidstyle: error:", "Error:"))]
    assert len(errors) == 1, err
    return errors[0]


def stylize_clip(src: Path, out: Path, style: Path, *extra) -> ClipFacts:
    """Stylize ``src`` into ``out`` with the fast test settings; what the output holds."""
    assert run(src, "--style", style, "-o", out, *FAST, *extra) == 0
    return read_clip(out)
