"""Peak memory against clip length: `vidstyle` on a 5-second and a 60-second clip (same size,
same style model), each in its own process, peak RSS read from the kernel (wait4).

    python benchmarks/memory.py [--size 320x180] [--long 60] [--short 5] [--fast/--no-fast]

Streaming with bounded queues means the peak must not grow with the length: the target is
within 10 %.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clips import PAINTING as STYLE
from clips import panning_clip

REPO = Path(__file__).resolve().parent.parent


def vidstyle(args: list[str]) -> tuple[float, float]:
    """Run the CLI in a fresh process; (wall seconds, peak RSS in MB)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "vidstyle", *args], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"vidstyle {' '.join(args)} failed: {process.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--short", type=float, default=5.0)
    parser.add_argument("--long", type=float, default=60.0)
    parser.add_argument("--fast", action=argparse.BooleanOptionalAction, default=True,
                        help="Use the fast path (with --fast-size half the width) so that it is measured too.")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidstyle-memory")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.work.mkdir(parents=True, exist_ok=True)
    clips = [panning_clip(args.work / f"pan-{width}x{height}-{s:g}s.mp4", width, height, s)
             for s in (args.short, args.long)]
    model = args.work / "model.pt"
    common = ["--device", "cpu", "--overwrite", "-q", "--vgg-weights", "random"]
    if not model.exists():
        vidstyle([str(clips[0]), "--style", str(STYLE), "--steps", "5", "--train-size", "128",
                  "--save-model", str(model), "-o", str(args.work / "train.mp4"), *common])
    fast = ["--fast", "--fast-size", str(max(64, width // 2))] if args.fast else ["--no-fast"]
    rows = []
    for clip, seconds in zip(clips, (args.short, args.long), strict=True):
        wall, rss = vidstyle([str(clip), "--model", str(model), "-o", str(args.work / f"out-{seconds:g}.mp4"),
                              *fast, *common])
        rows.append((seconds, wall, rss))
        print(f"{seconds:5.0f} s clip {width}x{height}: {wall:6.1f} s wall, peak RSS {rss:7.1f} MB", flush=True)
    growth = rows[1][2] / rows[0][2] - 1
    print(f"peak RSS {args.long:g} s vs {args.short:g} s: {100 * growth:+.1f} %  (target: within 10 %)")


if __name__ == "__main__":
    main()
