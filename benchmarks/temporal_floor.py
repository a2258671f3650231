"""What the temporal ratio can reach: a painting stuck to the scene by construction, against the
carried default and the every-frame render, on the quality benchmark's street clip.

    python benchmarks/temporal_floor.py [--out DIR] [--model PATH]

The street clip is a camera over a photo with a disc crossing it (moving_scene.py), so its true
motion is known. The "stuck painting" is the same model's painting of the whole photo (and of
the disc's texture), made once and then filmed by the same camera: every stroke moves exactly
with the scene, nothing swims. Against the true motion, its temporal ratio is what perfect
carrying would score at its amount of fine texture; sharpened to the every-frame render's
texture, what perfect carrying would score with all of the strokes. The input itself sharpened
to that texture (no strokes at all, every pixel where it was) shows what fine detail alone
does to the ratio. Each row is judged three
ways: vidstyle's metric (DIS flow), the independent check (temporal_check.py, Farnebäck flow)
and the clip's true motion.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import cv2
import numpy as np
from moving_scene import true_temporal_ratios
from quality import REPO, figure, laplacian_energy, moving_scene, texture_energy
from temporal_check import farneback, measure

import vidstyle
from vidstyle.cli import main as vidstyle_cli
from vidstyle.media import reader
from vidstyle.media.synthetic import MovingScene
from vidstyle.quality.evaluate import evaluate
from vidstyle.render.flow import FlowEstimator, gray

PAINT_SCALE = 2  # the photo is painted at twice its size (finer strokes), then brought back to it
SHARPEN_SIGMA = 1.0  # photo pixels: the unsharp mask's blur, about the camera's pixel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/vidstyle-floor"))
    parser.add_argument("--model", type=Path, help="a saved style model (default: trained on the clip, defaults)")
    parser.add_argument("--style", type=Path, default=REPO / "samples" / "starry_night.jpg")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scene = moving_scene("street")
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
    painted = dataclasses.replace(scene, photo=paint(model, scene.photo), thing=paint(model, scene.thing))
    every_texture = texture_energy(every)
    rows = [("the input", clip), ("carried default", carried), ("--keyframes every", every),
            ("stuck painting", painted.write(args.out / "stuck.mp4"))]
    rows.append(("stuck painting, sharpened", sharpened_to(painted, every_texture, args.out / "stuck-sharp.mp4")))
    # the photo itself: no strokes, only finer detail
    rows.append(("the input, sharpened", sharpened_to(scene, every_texture, args.out / "sharp.mp4")))

    _, checks, _ = measure(clip, [path for _, path in rows[1:]])
    trues = [1.0, *true_temporal_ratios(scene, clip, [path for _, path in rows[1:]])]
    print(f"{'render':36} {'texture':>8} {'vidstyle (DIS)':>15} {'check (Farnebäck)':>18} {'true motion':>12}")
    for (name, path), check, true in zip(rows, checks, trues, strict=True):
        dis = evaluate(clip, path, args.style, loss_network="pyramid").temporal_ratio
        print(f"{name:36} {texture_energy(path) / every_texture:8.2f} {figure(dis):>15} {check:18.2f} "
              f"{figure(true):>12}")
    print("texture: Laplacian energy over the every-frame render's\n")
    print("each flow's error against the true motion (median over frame pairs, px):")
    for name, (flat, textured) in flow_errors(scene, clip).items():
        print(f"  {name:10} flat areas {flat:.2f}  textured areas {textured:.2f}")


def paint(model: vidstyle.StyleModel, rgb: np.ndarray) -> np.ndarray:
    """``rgb`` stylized at PAINT_SCALE times its size and brought back to its own (area-averaged:
    filmed by the scene's camera as the photo is, upsampled, so that no aliasing of the painting's
    finest strokes adds shimmer of the filming's own)."""
    height, width = rgb.shape[:2]
    big = cv2.resize(rgb, None, fx=PAINT_SCALE, fy=PAINT_SCALE, interpolation=cv2.INTER_CUBIC)
    return cv2.resize(np.asarray(model.stylize_image(big)), (width, height), interpolation=cv2.INTER_AREA)


def sharpen(rgb: np.ndarray, amount: float) -> np.ndarray:
    """An unsharp mask: more fine detail, every edge where it was."""
    image = rgb.astype(np.float32)
    return np.clip(image + amount * (image - cv2.GaussianBlur(image, (0, 0), SHARPEN_SIGMA)), 0, 255).astype(np.uint8)


def sharpened(scene: MovingScene, amount: float) -> MovingScene:
    return dataclasses.replace(scene, photo=sharpen(scene.photo, amount), thing=sharpen(scene.thing, amount))


def sharpened_to(scene: MovingScene, texture: float, out: Path) -> Path:
    """``scene`` written sharpened until its clip's Laplacian energy is about ``texture``."""
    target = texture
    for _ in range(2):  # once more, for what the encoder softens
        written = sharpened(scene, sharpening_for(scene, target)).write(out)
        target *= texture / texture_energy(written)
    return written


def sharpening_for(scene: MovingScene, texture: float, most: float = 16.0) -> float:
    """The unsharp-mask amount that gives ``scene``'s frames ``texture`` (Laplacian energy),
    by bisection on every fifth frame (before encoding, which softens a little)."""
    def energy(amount: float) -> float:
        return float(np.mean([laplacian_energy(sharpened(scene, amount).frame(i)) for i in range(0, scene.frames, 5)]))

    if energy(most) < texture:
        raise SystemExit(f"even sharpened by {most} the painting has less fine detail than the every-frame render")
    low, high = 0.0, most
    for _ in range(12):
        middle = (low + high) / 2
        low, high = (middle, high) if energy(middle) < texture else (low, middle)
    return low


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


if __name__ == "__main__":
    main()
