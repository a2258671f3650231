"""Compare loss-network designs on the generator as vidstyle trains it (not on pixel optimisation).

For each design and content image: train the generator with the product's defaults (200 steps
at 256 px, the design's default weights, --strength values as given), then measure

- cost: seconds per training step;
- style distance to the painting under *every* built-in network, relative to the content
  image's own distance (so < 1 means closer to the style), so that each design is also graded
  by a network it was not trained with;
- colour ratio: Lab sliced-Wasserstein distance to the painting, output vs input;
- SSIM of output and input (grey): how much of the picture stays recognisable;

and write a contact sheet (rows: contents; columns: input, each design, the style). Open it.

    python benchmarks/loss_networks.py [--steps 200] [--out bench-out/loss_networks]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vidstyle.config import GeneratorConfig, TrainConfig
from vidstyle.media import reader
from vidstyle.media.images import load_image, resize, resize_long_side
from vidstyle.model.lossnet import build_losses, resolve_loss_network
from vidstyle.model.tensors import to_tensor, to_uint8
from vidstyle.model.train import build_generator, train_generator
from vidstyle.quality.evaluate import StyleDistance
from vidstyle.quality.metrics import gray_float, lab_pixels, sliced_wasserstein, ssim, to_float

REPO = Path(__file__).resolve().parent.parent

SHARED = REPO.parent / "shared" / "data"
CPU = torch.device("cpu")
JUDGES = ("pyramid", "random-vgg")


def contents(size: int) -> dict[str, np.ndarray]:
    """The bundled sample's keyframe, and real photos where ../shared is present."""
    clip = REPO / "samples" / "clip.mp4"
    out = {"sample": reader.keyframe(clip, None, reader.probe(clip))}
    for name in ("in1.png", "in5.png"):
        path = SHARED / "photoreal" / name
        if path.is_file():
            out[path.stem] = load_image(path).rgb
    return {k: resize_long_side(v, size) for k, v in out.items()}


def train(design: str, strength: float, content: np.ndarray, style: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
    network, config = resolve_loss_network(design, None), TrainConfig(strength=strength).for_device("cpu")
    tensor = to_tensor(content, CPU)
    loss = build_losses(network, style, config, CPU)(*tensor.shape[-2:])
    generator = build_generator(GeneratorConfig(), 0, CPU)
    start = time.perf_counter()
    train_generator(generator, loss, [tensor], steps, config)
    seconds = (time.perf_counter() - start) / steps
    with torch.no_grad():
        return to_uint8(generator(tensor))[0], seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--style", type=Path, default=REPO / "samples" / "starry_night.jpg")
    parser.add_argument("--designs", default="pyramid:1,random-vgg:1,pyramid:2",
                        help="comma-separated NETWORK:STRENGTH")
    parser.add_argument("--out", type=Path, default=REPO / "bench-out" / "loss_networks")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    style = load_image(args.style).rgb
    judges = {name: StyleDistance(style, resolve_loss_network(name, None), CPU) for name in JUDGES}
    lab_style = lab_pixels(to_float(style), 40000)
    designs = [(d.split(":")[0], float(d.split(":")[1])) for d in args.designs.split(",")]
    print("| content | design | s/step | " + " | ".join(f"style under {j}" for j in JUDGES)
          + " | colour ratio | SSIM |")
    print("| --- | --- | ---: | " + " | ".join("---:" for _ in JUDGES) + " | ---: | ---: |")
    for cname, content in contents(args.size).items():
        lab_in = lab_pixels(to_float(content), 40000)
        colour_in = sliced_wasserstein(lab_in, lab_style)
        base = {j: judge(content) for j, judge in judges.items()}
        panels = [content]
        for design, strength in designs:
            out, cost = train(design, strength, content, style, args.steps)
            panels.append(out)
            rel = [judges[j](out) / base[j] for j in JUDGES]
            colour = sliced_wasserstein(lab_pixels(to_float(out), 40000), lab_style) / colour_in
            structure = ssim(gray_float(to_float(out)), gray_float(to_float(content)))
            print(f"| {cname} | {design} @ {strength:g} | {cost:.3f} | " + " | ".join(f"{r:.3f}" for r in rel)
                  + f" | {colour:.3f} | {structure:.3f} |", flush=True)
        h = content.shape[0]
        style_panel = resize(style, h, round(style.shape[1] * h / style.shape[0]))
        gap = np.full((h, 6, 3), 255, np.uint8)
        strip = np.concatenate([x for panel in [*panels, style_panel] for x in (panel, gap)][:-1], axis=1)
        Image.fromarray(strip).save(args.out / f"{cname}.png")
    print(f"contact sheets in {args.out}: columns input, " + ", ".join(f"{d} @ {s:g}" for d, s in designs)
          + ", style")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
