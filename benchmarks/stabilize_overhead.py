"""CPU cost of stabilization relative to stylization, measured interleaved in one process
(whole-run wall times on a shared machine vary more than the effect being measured).

    python benchmarks/stabilize_overhead.py [CLIP] [--frames N]

Prints per-frame milliseconds of the generator, of the stabilizer, and their ratio.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from vidstyle.allocator import tune_allocator
from vidstyle.config import GeneratorConfig, StabilizeConfig
from vidstyle.media.reader import iter_rgb
from vidstyle.model.train import build_generator
from vidstyle.render.stabilize import TemporalStabilizer
from vidstyle.render.stylize import Stylizer

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path, nargs="?", default=REPO / "samples" / "clip.mp4")
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    tune_allocator()  # as the vidstyle command does
    stylizer = Stylizer(build_generator(GeneratorConfig(), 0, torch.device("cpu")))
    stabilizer = TemporalStabilizer(StabilizeConfig())
    styl = stab = 0.0
    n = 0
    for n, frame in enumerate(iter_rgb(args.clip, args.frames), start=1):
        t0 = time.perf_counter()
        out = stylizer.one(frame)
        t1 = time.perf_counter()
        stabilizer(frame, out)
        t2 = time.perf_counter()
        if n > 1:  # the first frame has no flow to compute; skip warm-up
            styl, stab = styl + t1 - t0, stab + t2 - t1
    frames = max(1, n - 1)
    h, w = frame.shape[:2]
    print(f"{args.clip.name} {w}x{h}, {frames} frames: generator {1000 * styl / frames:.1f} ms/frame, "
          f"stabilizer {1000 * stab / frames:.1f} ms/frame, overhead {100 * stab / styl:.1f} %")


if __name__ == "__main__":
    main()
