"""What the temporal ratio can reach: a painting stuck to the scene by construction, against the
carried default and the every-frame render, on the quality benchmark's street clip.

    python benchmarks/temporal_floor.py [--out DIR] [--model PATH]

The street clip is a camera over a photo with a disc crossing it (moving_scene.py), so its true
motion is known. The "stuck painting" is the same model's painting of the whole photo (and of
the disc's texture), made once and then filmed by the same camera: every stroke moves exactly
with the scene, nothing swims. Its temporal ratio is what perfect carrying would score, at its
amount of fine texture; sharpened to the every-frame render's texture, what perfect carrying
would score with all of the strokes. Each row is judged three ways: vidstyle's metric (DIS
flow), the independent check (temporal_check.py, Farnebäck flow) and the clip's true motion.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import cv2
import numpy as np
from moving_scene import MovingScene, true_temporal_ratio
from quality import DATA, REPO, laplacian_energy, load_rgb, texture_energy
from temporal_check import farneback, measure

import vidstyle
from vidstyle.cli import main as vidstyle_cli
from vidstyle.media import reader
from vidstyle.quality.evaluate import evaluate
from vidstyle.render.flow import FlowEstimator, gray

PAINT_SCALE = 2  # the photo is painted at twice its size, so the camera looks at the painting downscaled (crisp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/vidstyle-floor"))
    parser.add_argument("--model", type=Path, help="a saved style model (default: trained on the clip, defaults)")
    parser.add_argument("--style", type=Path, default=REPO / "samples" / "starry_night.jpg")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scene = MovingScene(load_rgb(DATA / "in1.png"), load_rgb(DATA / "in2.png"), size=(640, 272), frames=60)
    clip = scene.write(args.out / "street.mp4")
    model_path = args.model or args.out / "street.pt"
    carried, every = args.out / "street-carried.mp4", args.out / "street-every.mp4"
    common = [str(clip), "--overwrite", "-q"]
    if args.model is None:  # training renders the default too
        vidstyle_cli([*common, "-o", str(carried), "--style", str(args.style), "--save-model", str(model_path)])
    else:
        vidstyle_cli([*common, "-o", str(carried), "--model", str(model_path)])
    vidstyle_cli([*common, "-o", str(every), "--model", str(model_path), "--keyframes", "every"])

    model = vidstyle.load(model_path, device="cpu")
    painted = dataclasses.replace(
        scene, photo=paint(model, scene.photo), thing=paint(model, scene.thing),
        shake=(scene.shake[0] * PAINT_SCALE, scene.shake[1] * PAINT_SCALE))  # the shake is in the photo's pixels
    every_texture = texture_energy(every)
    rows = [("the input", clip), ("carried default", carried), ("--keyframes every", every),
            ("stuck painting", painted.write(args.out / "stuck.mp4"))]
    target = every_texture
    for _ in range(2):  # once more, for what the encoder softens
        amount = sharpening_for(painted, target)
        sharp = dataclasses.replace(painted, photo=sharpen(painted.photo, amount), thing=sharpen(painted.thing, amount))
        written = sharp.write(args.out / "stuck-sharp.mp4")
        target *= every_texture / texture_energy(written)
    rows.append((f"stuck painting, sharpened ({amount:.2f})", written))

    _, farneback, _ = measure(clip, [path for _, path in rows[1:]])
    print(f"{'render':36} {'texture':>8} {'vidstyle (DIS)':>15} {'check (Farnebäck)':>18} {'true motion':>12}")
    for (name, path), check in zip(rows, farneback, strict=True):
        dis = evaluate(clip, path, args.style, loss_network="pyramid").temporal_ratio
        true = true_temporal_ratio(scene, clip, path)
        print(f"{name:36} {texture_energy(path) / every_texture:8.2f} {dis:15.2f} {check:18.2f} {true:12.2f}")
    print("texture: Laplacian energy over the every-frame render's\n")
    print("each flow's error against the true motion (median over frame pairs, px):")
    for name, (flat, textured) in flow_errors(scene, clip).items():
        print(f"  {name:10} flat areas {flat:.2f}  textured areas {textured:.2f}")


def flow_errors(scene: MovingScene, clip: Path) -> dict[str, tuple[float, float]]:
    """Median distance of DIS's and Farnebäck's flows from the true motion, in the flat parts of
    the input (a grey gradient under 2 levels a pixel: the sky) and the rest. Why: a metric warps
    the render with its flow, and where that is wrong, strokes that move right read as change."""
    frames = [gray(rgb) for rgb in reader.iter_rgb(clip)]
    estimators = {"DIS": FlowEstimator(), "Farnebäck": farneback}
    errors: dict[str, list[tuple[float, float]]] = {name: [] for name in estimators}
    for index in range(1, len(frames)):
        truth = scene.truth(index)
        grey = frames[index].astype(np.float32)
        slope = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)) / 8
        flat = (cv2.GaussianBlur(slope, (0, 0), 3) < 2) & truth.valid
        for name, estimate in estimators.items():
            miss = np.linalg.norm(estimate(frames[index], frames[index - 1]) - truth.flow, axis=-1)
            errors[name].append((float(np.median(miss[flat])), float(np.median(miss[~flat & truth.valid]))))
    return {name: tuple(np.median(np.array(pairs), axis=0)) for name, pairs in errors.items()}


def paint(model: vidstyle.StyleModel, rgb: np.ndarray) -> np.ndarray:
    """``rgb`` stylized at PAINT_SCALE times its size."""
    big = cv2.resize(rgb, None, fx=PAINT_SCALE, fy=PAINT_SCALE, interpolation=cv2.INTER_CUBIC)
    return np.asarray(model.stylize_image(big))


def sharpen(rgb: np.ndarray, amount: float) -> np.ndarray:
    image = rgb.astype(np.float32)
    return np.clip(image + amount * (image - cv2.GaussianBlur(image, (0, 0), PAINT_SCALE)), 0, 255).astype(np.uint8)


def sharpening_for(scene: MovingScene, texture: float) -> float:
    """The unsharp-mask amount that gives ``scene``'s frames ``texture`` (Laplacian energy),
    by bisection on every fifth frame (before encoding, which softens a little)."""
    def energy(amount: float) -> float:
        sharp = dataclasses.replace(scene, photo=sharpen(scene.photo, amount), thing=sharpen(scene.thing, amount))
        return float(np.mean([laplacian_energy(sharp.frame(i)) for i in range(0, scene.frames, 5)]))

    low, high = 0.0, 16.0
    for _ in range(12):
        middle = (low + high) / 2
        low, high = (middle, high) if energy(middle) < texture else (low, middle)
    return low


if __name__ == "__main__":
    main()
