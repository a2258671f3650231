"""Scale-out benchmark: the same batch on a local Ray cluster of 1 CPU and of N CPUs.

    python benchmarks/scale.py [--cpus N] [--copies 8] [--size 320x180] [--seconds 2]
                               [--long-seconds 16] [--gpu-shares 1,0.5,0.25] [--no-pin]

Prints, in one run:

- Ray's start-up: a local cluster started (`ray.init`) and its first task answered;
- the batch: ``--copies`` copies of a panning clip (with AAC audio), one task per clip, on 1
  CPU and on ``--cpus`` CPUs: wall time, speed-up, and whether both runs' pictures are the same;
  a cluster of N CPUs is pinned to N cores (sched_setaffinity before `ray.init`: its processes
  inherit it), since a task's decoder, renderer and encoder threads would otherwise spread
  over every core and a "1 CPU" run would not be one (``--no-pin``: measure it so anyway);
- the long clip: one clip of ``--long-seconds`` split into ``--cpus`` segments, on 1 worker and
  on ``--cpus``: wall time, speed-up, and the pictures against a plain one-machine run (mean
  absolute difference of the worst frame, at the seams and elsewhere);
- where the machine has a GPU: the batch with render tasks asking for each of ``--gpu-shares``
  of it (fractional ``num_gpus``: tasks share the GPU).

The model is trained once first and loaded by every run (``--model``), so the runs time the
render alone. Outputs are encoded losslessly (``--crf 0``) so that pictures compare exactly:
x264 at the default quality is not bit-reproducible from run to run here, one-machine runs
included. Each task uses one thread (torch, OpenCV, codecs), as `vidstyle --ray` does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import ray
import torch
from clips import PAINTING as STYLE
from clips import panning_clip

from vidstyle.cluster.driver import stylize_on_ray
from vidstyle.config import EncodeConfig, RunConfig, TrainConfig
from vidstyle.devices import cpu_threads
from vidstyle.pipeline import stylize_paths
from vidstyle.reporting import Reporter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--long-seconds", type=float, default=16.0)
    parser.add_argument("--gpu-shares", default="1,0.5,0.25")
    parser.add_argument("--no-pin", action="store_true", help="let every cluster use every core")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="vidstyle-scale-") as tmp:
        work = Path(tmp)
        clip = panning_clip(work / "clip.mp4", width, height, args.seconds)
        batch = [clip] + [_copy(clip, work / f"copy{i}.mp4") for i in range(1, args.copies)]
        long = panning_clip(work / "long.mp4", width, height, args.long_seconds)
        frames = _frames(long)
        config = _trained(work, clip)
        rows = []
        cores = sorted(os.sched_getaffinity(0))
        for cpus in (1, args.cpus):
            os.sched_setaffinity(0, cores if args.no_pin else cores[:cpus])  # the cluster's processes inherit it
            start = time.perf_counter()
            ray.init(num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
            started = time.perf_counter() - start
            ray.get(ray.remote(_nothing).remote())
            answered = time.perf_counter() - start
            batch_s = _timed(lambda out: stylize_on_ray(batch, config, Reporter(quiet=True), out_dir=out),
                             work / f"batch{cpus}")
            long_s = _timed(lambda out: stylize_on_ray([long], config, Reporter(quiet=True), output=out / "long.mp4",
                                                       segment_frames=-(-frames // args.cpus)), work / f"long{cpus}")
            rows.append((cpus, started, answered, batch_s, long_s))
            ray.shutdown()
            os.sched_setaffinity(0, cores)
        one, many = rows
        same = all(_pictures(work / "batch1" / f"{p.stem}_styled.mp4") == _pictures(
            work / f"batch{args.cpus}" / f"{p.stem}_styled.mp4") for p in batch)
        seams = _seam_report(work, long, config, frames, args.cpus)
        pinned = "every cluster on every core" if args.no_pin else "a cluster of N CPUs pinned to N cores"
        print(f"\nmachine: {len(cores)} cores; clips {width}x{height}, model loaded (--model), lossless output; "
              f"{pinned}\n")
        print(f"| what | 1 CPU | {args.cpus} CPUs | speed-up |")
        print("| --- | --- | --- | --- |")
        print(f"| Ray start-up (`ray.init`, then first task answered) | {one[1]:.1f} s, {one[2]:.1f} s | "
              f"{many[1]:.1f} s, {many[2]:.1f} s | |")
        print(f"| batch: {args.copies} clips x {_frames(clip)} frames, a task each | {one[3]:.1f} s | "
              f"{many[3]:.1f} s | {one[3] / many[3]:.2f}x |")
        print(f"| long clip: {frames} frames in {args.cpus} segments | {one[4]:.1f} s | {many[4]:.1f} s | "
              f"{one[4] / many[4]:.2f}x |")
        print(f"\nbatch pictures identical on 1 and {args.cpus} CPUs: {same}")
        print(f"long clip against a plain one-machine run (mean abs difference, worst frame, 0-255): {seams}")
        if torch.cuda.is_available():
            _gpu_shares(work, batch, config, [float(s) for s in args.gpu_shares.split(",")])
        else:
            print("no GPU here: the fractional-GPU table needs one")


def _trained(work: Path, clip: Path) -> RunConfig:
    """A run config that loads a model trained here once (so that the runs time rendering)."""
    model = work / "model.pt"
    config = RunConfig(style=str(STYLE), train=TrainConfig(steps=20, train_size=128, loss_network="pyramid"),
                       device="cpu", save_model=str(model), preview_only=True)
    stylize_paths([clip], config, Reporter(quiet=True), output=work / "trained.mp4")
    return RunConfig(model_path=str(model), device="cpu", preview=False, encode=EncodeConfig(crf=0))


def _timed(run, out: Path) -> float:
    out.mkdir()
    start = time.perf_counter()
    results = run(out)
    seconds = time.perf_counter() - start
    failed = [r for r in results if not r.ok]
    if failed:
        raise SystemExit(f"a run failed: {failed[0].message}")
    return seconds


def _seam_report(work: Path, long: Path, config: RunConfig, frames: int, parts: int) -> str:
    """The segmented output against a plain one-machine run of the same clip, one thread each."""
    with cpu_threads(1):
        stylize_paths([long], config, Reporter(quiet=True), output=work / "plain.mp4")
    plain, split = _decoded(work / "plain.mp4"), _decoded(work / f"long{parts}" / "long.mp4")
    diff = [float(np.abs(a.astype(int) - b.astype(int)).mean()) for a, b in zip(plain, split, strict=True)]
    step = -(-frames // parts)
    near = [i for i in range(frames) if any(abs(i - k * step) < 16 for k in range(1, parts))]
    far = [i for i in range(frames) if i not in near]
    worst = max(range(frames), key=lambda i: diff[i])
    return (f"{max(diff[i] for i in near):.3f} within 16 frames of a seam, {max(diff[i] for i in far):.3f} elsewhere "
            f"(worst: frame {worst}); {len(plain)} frames, same count")


def _gpu_shares(work: Path, batch: list[Path], config: RunConfig, shares: list[float]) -> None:
    gpu = replace(config, device="auto")
    ray.init(num_gpus=1, include_dashboard=False, logging_level="ERROR")
    try:
        print("\n| render task's GPU share | tasks at once | batch wall time |\n| --- | --- | --- |")
        for share in shares:
            out = work / f"gpu{share}"
            seconds = _timed(lambda o, s=share: stylize_on_ray(batch, gpu, Reporter(quiet=True), out_dir=o,
                                                                task_gpus=s), out)
            print(f"| {share:g} | {int(1 / share)} | {seconds:.1f} s |")
    finally:
        ray.shutdown()


def _copy(clip: Path, to: Path) -> Path:
    to.write_bytes(clip.read_bytes())
    return to


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.demux(video=0) if _.size)


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _pictures(path: Path) -> list[bytes]:
    return [frame.tobytes() for frame in _decoded(path)]


def _nothing() -> None:
    return None


if __name__ == "__main__":
    main()
