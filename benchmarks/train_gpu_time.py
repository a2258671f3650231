"""Wall time of one default GPU training (the reference schedule: 1000 steps at 512 px) through
the public API, on the bundled sample's middle frame; the output of the trained model on that
frame is saved so that the run can be looked at.

    python benchmarks/train_gpu_time.py [--device cuda] [--out DIR] [--rounds N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

import vidstyle
from vidstyle.config import GPU_STEPS, GPU_TRAIN_SIZE
from vidstyle.devices import resolve_device, synchronize
from vidstyle.media.sources import open_source

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None)
    parser.add_argument("--rounds", type=int, default=2, choices=range(1, 10), metavar="1-9")
    parser.add_argument("--steps", type=int, default=GPU_STEPS)
    parser.add_argument("--size", type=int, default=GPU_TRAIN_SIZE)
    args = parser.parse_args()
    device = resolve_device(args.device)
    with open_source(REPO / "samples" / "clip.mp4") as clip:
        frame = clip.middle()  # the frame the CLI trains on by default
    config = vidstyle.TrainConfig(steps=args.steps, train_size=args.size, finetune_frames=0)
    for i in range(args.rounds):
        synchronize(device)
        start = time.perf_counter()
        model = vidstyle.train(REPO / "samples" / "starry_night.jpg", frame, config=config, device=args.device)
        synchronize(device)
        took = time.perf_counter() - start
        label = "first (cold: kernels chosen, weights loaded)" if i == 0 else "warm"
        print(f"training {args.steps} steps at {args.size} px on {device.type}: {took:.1f} s ({label})")
    if args.out:
        styled = model.stylize_image(frame)
        Image.fromarray(np.concatenate([frame, styled], axis=1)).save(Path(args.out) / "train_gpu_frame.png")


if __name__ == "__main__":
    main()
