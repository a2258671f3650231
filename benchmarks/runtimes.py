"""Generator runtimes on keyframes: torch eager, torch.compile, ONNX Runtime and OpenVINO (the
product's way: converted once, cold, then read back from its cache, warm) on the same trained
model and frames, in one run. Prints the
seconds per frame at the working size and each runtime's largest difference from eager, so a
runtime is adopted only if it is faster at the same output.

    python benchmarks/runtimes.py MODEL.pt [--size 512x288] [--frames 6]

Benchmark-only dependencies: onnx, onnxruntime.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vidstyle.allocator import tune_allocator
from vidstyle.model.checkpoint import load_style_model
from vidstyle.render import runtimes


def seconds_per_frame(run, frames: list[torch.Tensor]) -> tuple[float, list[np.ndarray], float]:
    """Seconds per frame after a warm-up, the outputs, and the warm-up's seconds (compilation)."""
    start = time.perf_counter()
    run(frames[0])
    warm_up = time.perf_counter() - start
    start = time.perf_counter()
    outputs = [np.asarray(run(f)) for f in frames]
    return (time.perf_counter() - start) / len(frames), outputs, warm_up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--size", default="512x288")
    parser.add_argument("--frames", type=int, default=6)
    args = parser.parse_args()
    tune_allocator()
    width, height = (int(v) for v in args.size.split("x"))
    generator = load_style_model(args.model, torch.device("cpu")).generator.eval().requires_grad_(False)
    rng = np.random.default_rng(0)
    frames = [torch.from_numpy(rng.standard_normal((1, 3, height, width)).astype(np.float32)) for _ in
              range(args.frames)]
    results = {}
    with torch.inference_mode():
        results["torch eager"] = seconds_per_frame(lambda x: generator(x).numpy(), frames)
    try:
        compiled = torch.compile(generator)
        with torch.inference_mode():
            results["torch.compile"] = seconds_per_frame(lambda x: compiled(x).numpy(), frames)
    except Exception as exc:  # noqa: BLE001 - report and go on
        print(f"torch.compile: failed ({exc.__class__.__name__}: {str(exc).splitlines()[0][:120]})")
    onnx_path = Path(tempfile.mkdtemp()) / "generator.onnx"
    try:
        torch.onnx.export(generator, (frames[0],), str(onnx_path), input_names=["x"], output_names=["y"],
                          opset_version=17, dynamo=False, verbose=False)
        import onnxruntime as ort

        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        results["onnxruntime"] = seconds_per_frame(lambda x: session.run(None, {"x": x.numpy()})[0], frames)
    except Exception as exc:  # noqa: BLE001
        print(f"onnx export/runtime: failed ({exc.__class__.__name__}: {str(exc).splitlines()[0][:120]})")
    if runtimes.openvino_available():  # the product's own path: converted once, then read back from its cache
        os.environ["VIDSTYLE_CACHE"] = tempfile.mkdtemp()
        for label in ("openvino cold", "openvino warm"):
            try:
                start = time.perf_counter()
                forward = runtimes.build("openvino", generator, frames[0])
                print(f"{label}: set-up {time.perf_counter() - start:.1f} s (with one run)")
                results[label] = seconds_per_frame(lambda x: forward(x).numpy(), frames)  # noqa: B023
            except Exception as exc:  # noqa: BLE001
                print(f"{label}: failed ({exc.__class__.__name__}: {str(exc).splitlines()[0][:120]})")
    else:
        print("openvino: not installed")
    eager_s, eager_out, _ = results["torch eager"]
    print(f"generator at {width}x{height}, {torch.get_num_threads()} threads, {args.frames} frames")
    for name, (seconds, outputs, warm_up) in results.items():
        diff = max(float(np.abs(a - b).max()) for a, b in zip(outputs, eager_out, strict=True))
        print(f"{name:14} {seconds:7.3f} s/frame  {eager_s / seconds:5.2f}x eager  max |diff| {diff:.2e}  "
              f"first call {warm_up:6.1f} s")


if __name__ == "__main__":
    main()
