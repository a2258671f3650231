"""Photoreal looks measured (README, "Photorealistic looks"): the photo pairs of
../shared/data/photoreal (content inN, reference tarN), vidstyle's local grade and its baked LUT
beside global Reinhard, per-channel histogram matching and MKL (`color-matcher`, benchmark-only),
each fitted once on the content, in the same run; then clips made from those photos (a camera
panning and zooming, an object crossing the scene, an audio track) graded locally and through
the LUT, their temporal ratio (`vidstyle eval`), the LUT's speed against the transcode
ceiling at 720p, and the time from the command to the preview.

    python benchmarks/photoreal.py [--steps 120] [--size 384] [--pairs 1,2,4,...] [--net random-vgg]

Measures: structure = correlation of Sobel gradient magnitudes with the content (tone-free) and
grey SSIM to the content; colour = Lab sliced Wasserstein distance to the reference divided by
the content's own (lower is better); temporal ratio = the output's warping error over the
input's (1 = as steady as the source).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import vidstyle
from vidstyle.media.cube import read_cube
from vidstyle.media.images import load_image, resize_long_side
from vidstyle.media.synthetic import pan_over, write_clip
from vidstyle.pipeline import transcode
from vidstyle.quality.evaluate import evaluate
from vidstyle.quality.metrics import colour_ratio, gradient_correlation, gray_float, ssim, to_float
from vidstyle.render.renderer import LutRenderer, Unchanged

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "photoreal"


def reinhard(content: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Global Lab mean/std transfer (Reinhard et al. 2001), in OpenCV's float Lab."""
    c = cv2.cvtColor(to_float(content), cv2.COLOR_RGB2Lab)
    r = cv2.cvtColor(to_float(reference), cv2.COLOR_RGB2Lab)
    out = (c - c.mean((0, 1))) / (c.std((0, 1)) + 1e-6) * r.std((0, 1)) + r.mean((0, 1))
    return (np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_Lab2RGB), 0, 1) * 255).round().astype(np.uint8)


def histogram_matching(content: np.ndarray, reference: np.ndarray) -> np.ndarray:
    from skimage.exposure import match_histograms

    return np.clip(match_histograms(content, reference, channel_axis=-1), 0, 255).round().astype(np.uint8)


def mkl(content: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
    try:
        from color_matcher import ColorMatcher
    except ImportError:
        return None
    out = ColorMatcher().transfer(src=content.astype(np.float64), ref=reference.astype(np.float64), method="mkl")
    return np.clip(out, 0, 255).round().astype(np.uint8)


def measures(output: np.ndarray, content: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    return (gradient_correlation(output, content), ssim(gray_float(to_float(output)), gray_float(to_float(content))),
            colour_ratio(output, content, reference))


def stills(args: argparse.Namespace, work: Path) -> None:
    rows: dict[str, list[tuple[float, float, float]]] = {}
    config = vidstyle.TrainConfig(steps=args.steps, loss_network=args.net, photoreal=True, strength=args.strength,
                                  **({"train_size": args.train_size} if args.train_size else {}))
    seconds = []
    for n in args.pairs:
        content = resize_long_side(load_image(DATA / f"in{n}.png").rgb, args.size)
        reference = resize_long_side(load_image(DATA / f"tar{n}.png").rgb, args.size)
        start = time.perf_counter()
        model = vidstyle.train(reference, content, config=config, device="cpu")
        graded = model.stylize_image(content)
        seconds.append(time.perf_counter() - start)
        baked = vidstyle.apply_lut(model.to_lut(work / f"look{n}.cube", overwrite=True), content)
        outputs = {"Reinhard (global Lab)": reinhard(content, reference),
                   "histogram matching": histogram_matching(content, reference), "MKL": mkl(content, reference),
                   "vidstyle --photoreal (local grade)": graded, "vidstyle --save-lut, applied": baked}
        line = [f"pair {n}:"]
        for name, output in outputs.items():
            if output is None:
                continue
            rows.setdefault(name, []).append(measures(output, content, reference))
            line.append(f"{name.split(' ')[0]} {rows[name][-1][0]:.3f}/{rows[name][-1][1]:.3f}/{rows[name][-1][2]:.3f}")
        print("  ".join(line), flush=True)
        if args.sheets:
            h = 240
            panels = [cv2.resize(x, (round(x.shape[1] * h / x.shape[0]), h)) for x in (content, graded, reference)]
            cv2.imwrite(str(work / f"sheet{n}.png"), cv2.cvtColor(np.concatenate(panels, 1), cv2.COLOR_RGB2BGR))
    print(f"\nstills: {len(args.pairs)} pairs at {args.size} px, {args.steps} steps, strength {args.strength:g}, "
          f"loss network {args.net}, "
          f"train + grade {np.mean(seconds):.1f} s a pair")
    print("| method | structure (gradient correlation) | grey SSIM | colour ratio |\n| --- | ---: | ---: | ---: |")
    for name, values in rows.items():
        s, g, c = np.mean(values, axis=0)
        print(f"| {name} | {s:.3f} | {g:.3f} | {c:.3f} |")


def moving_clip(path: Path, photo: np.ndarray, width: int, height: int, frames: int) -> Path:
    """A camera panning and zooming over ``photo``, a dark disc crossing the scene (uncovering
    what it passes), and an AAC track."""
    def frame(i: int) -> np.ndarray:
        view = pan_over(photo, width, height, i / (frames - 1)).copy()
        x = int(-0.1 * width + 1.2 * width * i / (frames - 1))
        cv2.circle(view, (x, int(height * 0.6)), height // 6, (30, 25, 20), -1, cv2.LINE_AA)
        return view
    return write_clip(path, (frame(i) for i in range(frames)), rate=25, crf=18, preset="veryfast", audio="aac",
                      container="mp4")


def video(args: argparse.Namespace, work: Path) -> None:
    cli = [sys.executable, "-m", "vidstyle"]
    print("\n| clip | render | temporal ratio | warping error over the LUT's | colour ratio | SSIM |\n"
          "| --- | --- | ---: | ---: | ---: | ---: |")
    for n in args.clip_pairs:
        photo = load_image(DATA / f"in{n}.png").rgb
        reference = DATA / f"tar{n}.png"
        clip = moving_clip(work / f"clip{n}.mp4", photo, 480, 270, 75)
        local, cube, lut = work / f"clip{n}_graded.mp4", work / f"clip{n}.cube", work / f"clip{n}_lut.mp4"
        subprocess.run([*cli, str(clip), "--style", str(reference), "--photoreal", "--steps", str(args.steps),
                        "--loss-network", args.net, "-o", str(local), "--save-lut", str(cube), "--overwrite", "-q"],
                       check=True)
        subprocess.run([*cli, str(clip), "--lut", str(cube), "-o", str(lut), "--overwrite", "-q"], check=True)
        results = {name: evaluate(clip, out, reference, loss_network="pyramid")
                   for name, out in (("local grade", local), ("--lut (baked)", lut))}
        # A LUT is one function of each pixel's colour: whatever it adds to the warping error is the
        # grade's own contrast, not flicker. So the local grade's error over the LUT's is its flicker.
        floor = results["--lut (baked)"].warp_error
        for name, r in results.items():
            print(f"| in{n}, pan + zoom + a crossing disc, 480x270, 75 frames | {name} | {r.temporal_ratio:.3f} | "
                  f"{r.warp_error / floor:.3f} | {r.color_ratio:.3f} | {r.ssim:.3f} |", flush=True)


def speed(args: argparse.Namespace, work: Path) -> None:
    photo = load_image(DATA / "in1.png").rgb
    cube = work / "look1.cube"
    if not cube.exists():
        model = vidstyle.train(load_image(DATA / "tar1.png").rgb, photo, config=vidstyle.TrainConfig(
            steps=args.steps, photoreal=True, loss_network=args.net), device="cpu")
        model.to_lut(cube, overwrite=True)
    lut = read_cube(cube)
    for frames in (100, 250):  # 4 s and 10 s: the LUT's table (0.4 s to build) weighs on the short one
        clip = moving_clip(work / f"clip720_{frames}.mp4", photo, 1280, 720, frames)
        ceiling = best_of(lambda c=clip: transcode(c, work / "copy.mp4", Unchanged()))
        applied = best_of(lambda c=clip, n=frames: transcode(c, work / "lut.mp4", LutRenderer(lut, frames=n)))
        print(f"\nLUT at 720p, {frames} frames: transcode ceiling {frames / ceiling:.1f} fps, with the LUT "
              f"{frames / applied:.1f} fps: {ceiling / applied:.2f}x the ceiling")
    start = time.perf_counter()
    small = work / "clip1.mp4"  # the 480x270 clip of the video part
    if not small.exists():
        moving_clip(small, photo, 480, 270, 75)
    subprocess.run([sys.executable, "-m", "vidstyle", str(small), "--style", str(DATA / "tar1.png"), "--photoreal",
                    "--preview-only", "-o",
                    str(work / "preview_run.mp4"), "--overwrite", "-q"], check=True)
    print(f"command to preview (--photoreal, defaults): {time.perf_counter() - start:.1f} s")


def best_of(run, repeats: int = 2) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default="1,2,4,5,6,7,8,9")
    parser.add_argument("--clip-pairs", default="1,5")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the product's)")
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--size", type=int, default=384, help="long side of the photos")
    parser.add_argument("--net", default="random-vgg")
    parser.add_argument("--strength", type=float, default=1.0, help="the style (colour) weight's multiplier")
    parser.add_argument("--parts", default="stills,video,speed")
    parser.add_argument("--sheets", action="store_true", help="write content | graded | reference sheets")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    args.pairs = [int(p) for p in args.pairs.split(",")]
    args.clip_pairs = [int(p) for p in args.clip_pairs.split(",")]
    if args.steps is None:
        from vidstyle.config import PHOTOREAL_SCHEDULE

        args.steps = PHOTOREAL_SCHEDULE[0][0]
    work = args.work or Path(tempfile.mkdtemp(prefix="vidstyle-photoreal-"))
    work.mkdir(parents=True, exist_ok=True)
    for part in args.parts.split(","):
        {"stills": stills, "video": video, "speed": speed}[part](args, work)
    print(f"\n(work files in {work})")


if __name__ == "__main__":
    main()
