"""The fast path against the full-resolution generator, on a 720p clip: speed, SSIM between
the two outputs, and each one's `vidstyle eval` figures (temporal ratio, SSIM to the input,
colour, style).

    python benchmarks/fast_path.py [CLIP] [--frames N] [--steps N] [--content-weight W]
                                   [--vgg-weights random] [--fast-size PX]

One style model is trained (on the clip's middle frame) and applied twice, `--fast` and
`--no-fast`, stabilized as by default. Seconds are wall time of applying the model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from clips import PAINTING as STYLE
from clips import panning_clip

from vidstyle.cli import main as vidstyle
from vidstyle.config import FAST_SIZE
from vidstyle.media import reader
from vidstyle.media.images import save_image
from vidstyle.quality.evaluate import evaluate

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path, nargs="?")
    parser.add_argument("--frames", type=int, default=20, help="Frames of the made 720p clip.")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--content-weight", type=float, default=150.0)
    parser.add_argument("--vgg-weights", default="random")
    parser.add_argument("--fast-size", type=int, default=FAST_SIZE)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidstyle-fast")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    clip = args.clip or panning_clip(args.work / f"pan-1280x720-{args.frames}.mp4", 1280, 720, args.frames / 25)
    model = args.work / "model.pt"
    common = ["--overwrite", "-q", "--vgg-weights", args.vgg_weights, "--device", "cpu"]
    keyframe = args.work / "keyframe.png"  # the clip's middle frame: what a video run trains on
    save_image(keyframe, reader.keyframe(clip, None, reader.probe(clip)))
    if vidstyle([str(keyframe), "--style", str(STYLE), "--steps", str(args.steps), "--content-weight",
                 str(args.content_weight), "--save-model", str(model), "-o", str(args.work / "keyframe_styled.png"),
                 *common]) != 0:
        raise SystemExit("training failed")
    outputs, seconds = {}, {}
    for name, flags in (("fast", ["--fast", "--fast-size", str(args.fast_size)]), ("full", ["--no-fast"])):
        outputs[name] = args.work / f"{clip.stem}-{name}.mp4"
        start = time.perf_counter()
        if vidstyle([str(clip), "--model", str(model), "-o", str(outputs[name]), *flags, *common]) != 0:
            raise SystemExit(f"--{name} failed")
        seconds[name] = time.perf_counter() - start
    between = evaluate(outputs["full"], outputs["fast"], STYLE, vgg_weights=args.vgg_weights)
    print(f"{clip.name}: fast {seconds['fast']:.1f} s, full resolution {seconds['full']:.1f} s "
          f"({seconds['full'] / seconds['fast']:.1f}x); SSIM fast vs full {between.ssim:.3f}")
    print(f"{'output':6} {'temporal':>9} {'SSIM to input':>13} {'colour':>7} {'style':>9}")
    for name, path in outputs.items():
        r = evaluate(clip, path, STYLE, vgg_weights=args.vgg_weights)
        ratio = "n/a" if r.temporal_ratio is None else f"{r.temporal_ratio:.3f}"
        print(f"{name:6} {ratio:>9} {r.ssim:13.3f} {r.color_ratio:7.3f} {r.style_distance:9.4g}")


if __name__ == "__main__":
    main()
