"""Stylize throughput on a GPU at one frame size: where the time goes and which settings pay.

    python benchmarks/stylize_gpu.py [--size 1920x1080] [--frames 64] [--batches 1,4,8]
                                     [--precisions fp32,fp16,bf16] [--layouts nchw,channels-last]
                                     [--compile/--no-compile]

For each layout, precision and batch size it prints frames per second of
- the generator alone on frames already on the GPU;
- `Stylizer` on uint8 frames in host memory (upload through pinned memory, generator, download):
  the stylize stage of a run;
and, with --compile, the stylize stage under the product's torch.compile runtime
(`--runtime compile`) at its default batch, for each of --compile-variants. Timings use CUDA synchronisation after
a warm-up batch. The model is a freshly initialised generator: its speed does not depend on its
weights.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from vidstyle.config import GeneratorConfig, InferenceConfig
from vidstyle.devices import cudnn_autotune, resolve_device, synchronize
from vidstyle.model.train import build_generator
from vidstyle.render.stylize import Stylizer


def fps_of(run, batch: int, frames: int, device: torch.device) -> float:
    run()  # warm-up: cuDNN autotuning for this shape
    synchronize(device)
    start = time.perf_counter()
    for _ in range(frames // batch):
        run()
    synchronize(device)
    return (frames // batch) * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--batches", default="1,4,8")
    parser.add_argument("--precisions", default="fp32,fp16,bf16")
    parser.add_argument("--layouts", default="nchw,channels-last")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile-variants", default="fp32:nchw",
                        help="precision:layout pairs to compile (comma-separated), e.g. fp32:nchw,fp16:channels-last")
    args = parser.parse_args()
    device = resolve_device(args.device)
    w, h = (int(v) for v in args.size.split("x"))
    generator = build_generator(GeneratorConfig(), 0, device)
    rng = np.random.default_rng(0)
    host = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(8)]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    print(f"{name}; torch {torch.__version__}; {w}x{h}, {args.frames} frames per timing")
    print(f"{'layout':>13} {'precision':>9} {'batch':>5} {'generator fps':>13} {'stylizer fps':>12}")
    for layout, precision, batch in itertools.product(args.layouts.split(","), args.precisions.split(","),
                                                      (int(b) for b in args.batches.split(","))):
        last = layout == "channels-last"
        stylizer = Stylizer(generator, InferenceConfig(batch_size=batch, precision=precision, fast=False,
                                                       channels_last=last))
        x = torch.rand(batch, 3, h, w, device=device)
        x = x.contiguous(memory_format=torch.channels_last) if last else x

        def alone(stylizer=stylizer, x=x) -> None:
            with torch.inference_mode(), cudnn_autotune(device):
                stylizer._generate(x)

        frames = [host[i % len(host)] for i in range(batch)]
        generator_fps = fps_of(alone, batch, args.frames, device)
        stylizer_fps = fps_of(lambda s=stylizer, f=frames: s(f), batch, args.frames, device)
        print(f"{layout:>13} {precision:>9} {batch:5d} {generator_fps:13.1f} {stylizer_fps:12.1f}", flush=True)
    if args.compile:  # the product's runtime (--runtime compile), built for the default batch
        for variant in args.compile_variants.split(","):
            precision, layout = variant.split(":")
            stylizer = Stylizer(generator, InferenceConfig(fast=False, precision=precision,
                                                           channels_last=layout == "channels-last"))
            frames = [host[i % len(host)] for i in range(stylizer.batch_size)]
            start = time.perf_counter()
            compiled = stylizer.with_runtime("compile", h, w, batch=stylizer.batch_size)
            synchronize(device)
            setup = time.perf_counter() - start
            fps = fps_of(lambda c=compiled, f=frames: c(f), stylizer.batch_size, args.frames, device)
            eager = stylizer(frames[:1])[0].astype(int)
            gap = abs(compiled(frames[:1])[0].astype(int) - eager).max()
            print(f"--runtime compile, {precision} {layout}, batch {stylizer.batch_size}: {fps:.1f} stylizer fps "
                  f"after {setup:.0f} s set-up; output within {gap} levels of eager", flush=True)

if __name__ == "__main__":
    main()
