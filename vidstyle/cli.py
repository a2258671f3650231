"""The `vidstyle` command line. `main(argv)` returns the exit code, so tests can call it.

Every expected failure is one line on stderr and a non-zero exit; VIDSTYLE_DEBUG=1 adds the
traceback. Options become a typed `RunConfig` here and nowhere else.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from vidstyle import __version__
from vidstyle.allocator import tune_allocator
from vidstyle.config import (
    CPU_STEPS,
    CPU_TRAIN_SIZE,
    DEVICE_CHOICES,
    GPU_STEPS,
    GPU_TRAIN_SIZE,
    LOSS_NETWORKS,
    MIN_TRAIN_SIZE,
    PHOTOREAL_SCHEDULE,
    PRECISIONS,
    RUNTIME_CHOICES,
    CarryConfig,
    RunConfig,
    TrainConfig,
)
from vidstyle.errors import VidstyleError, command_line_names, printable  # printable: names may hold any bytes
from vidstyle.media.outputs import describe_os_error

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 128 + signal.SIGINT
# Upper bounds that keep integer options inside what torch, FFmpeg and memory can take.
MAX_STEPS, MAX_SIZE, MAX_BATCH, MAX_SEED = 1_000_000, 16384, 256, 2**63 - 1


class Finite(click.ParamType):
    """A float option that refuses NaN and infinities (they pass every range check and turn
    frames black), optionally within [min, max]."""

    name = "float"

    def __init__(self, min: float | None = None, max: float | None = None) -> None:  # noqa: A002
        self.min, self.max = min, max

    def convert(self, value, param, ctx) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            low = "" if self.min is None else f"{self.min:g} <= "
            high = "" if self.max is None else f" <= {self.max:g}"
            self.fail(f"{number:g} is not in the range {low}x{high}", param, ctx)
        return number


class KeyframePolicy(click.ParamType):
    """``auto``, ``every`` or a whole number of frames (1 is every frame)."""

    name = "auto|every|N"

    def convert(self, value, param, ctx) -> str:
        text = str(value).strip().lower()
        if text in ("auto", "every"):
            return text
        if text.isdigit() and 1 <= int(text) <= CarryConfig.look_ahead:
            return "every" if int(text) == 1 else str(int(text))
        self.fail(f"{value!r} is not auto, every or a number of frames from 1 to {CarryConfig.look_ahead}", param, ctx)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so that every cleanup runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP stop the run like Ctrl-C: temporary outputs are
    removed and the exit code is 128 + the signal's number (the shell's convention)."""
    def stop(signum, _frame):
        raise Terminated(signum)

    catch = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    try:
        previous = {s: signal.signal(s, stop) for s in catch}
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# Each stylize option names the RunConfig field it sets ("train.steps": RunConfig.train.steps);
# its default is that field's default. `_run_config` builds the config from these alone.
FIELDS: dict[str, str] = {}


def field_option(path: str, *decls: str, **attrs: Any) -> Callable:
    """A click option for the config field at ``path``, defaulting to the field's own default."""
    *sections, name = path.split(".")
    owner = RunConfig
    for section in sections:
        owner = RunConfig.__dataclass_fields__[section].default_factory
    attrs.setdefault("default", owner.__dataclass_fields__[name].default)
    attrs.setdefault("show_default", attrs["default"] is not None)
    FIELDS[path.replace(".", "__")] = path
    return click.option(*decls, path.replace(".", "__"), **attrs)


def _empty_is_none(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return value or None


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@field_option("style", "-s", "--style", type=click.Path(), help="Style image (PNG/JPEG/WebP).")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file (or folder, for a folder input). Default: INPUT_styled.EXT beside the input.")
@click.option("--out-dir", type=click.Path(path_type=Path), help="Folder for the outputs of several inputs.")
@field_option("train.steps", "--steps", type=click.IntRange(0, MAX_STEPS),
              help=f"Training steps. Default: {CPU_STEPS} on CPU, {GPU_STEPS} on GPU ("
                   f"--photoreal: {PHOTOREAL_SCHEDULE[0][0]}, {PHOTOREAL_SCHEDULE[1][0]}).")
@field_option("train.train_size", "--train-size", type=click.IntRange(MIN_TRAIN_SIZE, MAX_SIZE),
              help=f"Long side of the training frame, aspect kept. Default: {CPU_TRAIN_SIZE} on CPU, "
                   f"{GPU_TRAIN_SIZE} on GPU (--photoreal: {PHOTOREAL_SCHEDULE[0][1]}, {PHOTOREAL_SCHEDULE[1][1]}).")
@field_option("train.strength", "--strength", type=Finite(0.05, 20.0),
              help="How strongly the style shows: 0.5 subtle, 1 balanced, 2-3 strong (scales the style weight).")
@field_option("train.loss_network", "--loss-network", type=click.Choice(LOSS_NETWORKS), envvar="VIDSTYLE_LOSS_NETWORK",
              help="auto: VGG19 ImageNet when its weights are at hand, else the built-in random-vgg (no download). "
                   "[env: VIDSTYLE_LOSS_NETWORK]")
@field_option("train.photoreal", "--photoreal", is_flag=True,
              help="The style is a photo: grade the clip to its colour, tone and light and keep every edge where it "
                   "is (a smooth colour transform; no strokes), instead of painting.")
@field_option("save_lut", "--save-lut", type=click.Path(),
              help="With --photoreal: also bake the look into this 33-point .cube 3D LUT (Resolve, Premiere, Final "
                   "Cut, FFmpeg's lut3d).")
@field_option("lut", "--lut", type=click.Path(),
              help="Apply this .cube 3D LUT (vidstyle's or any editor's) as it is: no style image, no training; "
                   "the fastest render.")
@field_option("preview_only", "--preview-only", is_flag=True,
              help="Train, write the preview (training frame | stylized | style) and stop before rendering.")
@field_option("train.content_weight", "--content-weight", type=Finite(min=0.0),
              help="Expert: content loss weight. Default: the loss network's (150 for vgg19, 1 built in).")
@field_option("train.style_weight", "--style-weight", type=Finite(min=0.0),
              help="Expert: style loss weight before --strength. Default: 1.")
@field_option("train.stability_weight", "--stability", type=Finite(0.0, 1e6),
              help="Expert: weight of a training term that keeps the output still under codec-sized input noise "
                   "(steadier, but flatter at high values).")
@field_option("train_frame", "--train-frame", "--keyframe",
              help="Frame to train on: seconds (2.5) or a frame index (#40). Default: the middle. "
                   "(--keyframe is the older name.)")
@field_option("train.finetune_frames", "--finetune-frames", type=click.IntRange(0, 1000),
              help="Fine-tune on this many more frames spread over the clip.")
@field_option("train.finetune_steps", "--finetune-steps", type=click.IntRange(1, MAX_STEPS),
              help="Fine-tuning steps. Default: half of --steps.")
@field_option("inference.batch_size", "--batch-size", type=click.IntRange(1, MAX_BATCH),
              help="Frames per forward pass. Default: 1 on CPU, 4 on GPU.")
@field_option("inference.fast", "--fast/--no-fast",
              help="Run the generator at --fast-size and carry the result to full resolution with guided "
                   "upsampling (5-10x faster at 720p). Default: on for frames over 640 px on the CPU, off on a GPU.")
@field_option("inference.fast_size", "--fast-size", type=click.IntRange(64, MAX_SIZE),
              help="Long side of the fast path's working resolution.")
@field_option("inference.runtime", "--runtime", type=click.Choice(RUNTIME_CHOICES),
              help="Keyframe generator runtime: openvino (2.4-3x faster on a CPU; 2-3 s to convert a model once, "
                   "then kept in ~/.cache/vidstyle [env: VIDSTYLE_CACHE, 'off' for none]), compile (torch.compile, "
                   "2.4x, ~27 s first compile), torch. auto: on a CPU the fastest one the clip's keyframes repay.")
@field_option("inference.precision", "--precision", type=click.Choice(PRECISIONS),
              help="Generator arithmetic while stylizing: auto is fp32 (measured fastest on CUDA too, run eagerly; "
                   "under --runtime compile, fp16 with --channels-last was fastest).")
@field_option("inference.channels_last", "--channels-last/--no-channels-last", default=False,
              help="Generator memory layout while stylizing. On an H200 at 1080p: slower run eagerly, the "
                   "fastest with --runtime compile --precision fp16 (116 fps against fp32 NCHW's 73).")
@field_option("encode.crf", "--crf", type=click.IntRange(0, 51), help="H.264 quality (lower is better).")
@field_option("encode.preset", "--preset", type=click.Choice(X264_PRESETS), help="x264 speed preset.")
@field_option("device", "--device", type=click.Choice(DEVICE_CHOICES))
@field_option("train.seed", "--seed", type=click.IntRange(0, MAX_SEED),
              help="Seed for the generator's initial weights.")
@field_option("vgg_weights", "--vgg-weights", envvar="VIDSTYLE_VGG_WEIGHTS", callback=_empty_is_none,
              help="VGG19 ImageNet weights file (a torchvision vgg19 state dict). Default: torchvision's file in "
                   "the torch hub cache. [env: VIDSTYLE_VGG_WEIGHTS]")
@field_option("model_path", "--model", type=click.Path(), help="Reuse a style model saved with --save-model.")
@field_option("save_model", "--save-model", type=click.Path(), help="Save the trained style model here.")
@field_option("carry.keyframes", "--keyframes", type=KeyframePolicy(),
              help="Frames the generator runs on: auto (on a CPU a keyframe at most every 8 frames, the look carried "
                   "along the motion between them, 5-8x faster; on a GPU every frame), every, or N (at most N apart). "
                   "Cuts and motion the flow cannot follow always start a keyframe.")
@field_option("stabilize.enabled", "--stabilize/--no-stabilize",
              help="Flow-guided temporal blending against flicker, where every frame is stylized "
                   "(carried frames need none). Default: on.")
@field_option("stabilize.strength", "--stabilize-strength", type=Finite(0.0, 0.99),
              help="Weight of the previous stylized frame where the motion is trusted.")
@field_option("strict", "--strict", is_flag=True,
              help="Fail (and write nothing) when a clip delivers fewer frames than it announces or an audio "
                   "stream cannot be kept, instead of warning.")
@field_option("max_pixels", "--max-pixels", type=click.IntRange(1, 2**40),
              help="Largest frame or image accepted, in pixels (about 100 bytes of memory each).")
@field_option("overwrite", "--overwrite", is_flag=True, help="Replace existing outputs.")
@field_option("skip_existing", "--skip-existing", is_flag=True,
              help="Leave outputs that exist alone and stylize the rest: a stopped batch resumes where it stopped "
                   "(outputs are written whole or not at all).")
@click.option("--ray", "ray", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
              help="Run on a Ray cluster (pip install 'vidstyle[ray]'): the one RAY_ADDRESS names, else one running "
                   "here, else a local one with every core; or --ray ADDRESS (auto, ray://host:10001).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or info messages (warnings still show).")
@click.version_option(__version__, "--version", prog_name="vidstyle")
def command(inputs: tuple[Path, ...], output: Path | None, out_dir: Path | None, quiet: bool, ray: str | None,
            **options: Any) -> int:
    """Stylize videos, images or folders of frames with a neural network trained on a style image.

    \b
    vidstyle clip.mp4 --style art.jpg            -> clip_styled.mp4
    vidstyle clip.mp4 --style still.jpg --photoreal --save-lut look.cube
    vidstyle other.mp4 --lut look.cube
    vidstyle photo.jpg --style art.jpg           -> photo_styled.png
    vidstyle a.mp4 b.mov --style art.jpg --out-dir out/
    """
    if not inputs:
        raise click.UsageError("no input given; pass a video, an image or a folder of frames")
    from vidstyle.api import stylize_files  # torch loads here, not for --help/--version

    results = stylize_files(list(inputs), _run_config(options), output=output, out_dir=out_dir, quiet=quiet, ray=ray)
    if len(inputs) > 1:
        _print_summary(results)
    return 0 if all(r.ok for r in results) else EXIT_FAILED


def _run_config(options: dict[str, Any]) -> RunConfig:
    """The RunConfig the options describe: each sets the field `FIELDS` names."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for key, value in options.items():
        *section, name = FIELDS[key].split(".")
        (sections.setdefault(section[0], {}) if section else top)[name] = value
    parts = {name: RunConfig.__dataclass_fields__[name].default_factory(**values) for name, values in sections.items()}
    return RunConfig(**top, **parts)


def _print_summary(results: list) -> None:
    ok = sum(r.ok for r in results)
    click.echo(f"vidstyle: {ok} of {len(results)} inputs stylized", err=True)
    for r in results:
        status = f"FAILED  {r.message}" if not r.ok else (
            f"skipped {printable(r.output)} (exists)" if r.skipped else f"ok      {printable(r.output)}")
        click.echo(f"  {printable(r.input)}: {status}", err=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("styled", type=click.Path(path_type=Path))
@click.option("-s", "--style", type=click.Path(path_type=Path), required=True, help="The style image used.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--frames", type=click.IntRange(2, 10**9), help="Evaluate only the first N frames.")
@click.option("--loss-network", type=click.Choice(LOSS_NETWORKS), default=TrainConfig.loss_network, show_default=True,
              envvar="VIDSTYLE_LOSS_NETWORK",
              help="Network for the style distance; measure under another one than the clip was trained with.")
@click.option("--vgg-weights", envvar="VIDSTYLE_VGG_WEIGHTS", help="VGG19 ImageNet weights file (as for stylizing).")
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default=RunConfig.device, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def eval_command(source: Path, styled: Path, style: Path, as_json: bool, frames: int | None,
                 loss_network: str, vgg_weights: str | None, device: str, quiet: bool) -> int:
    """Measure a stylized clip against its input: temporal stability, structure, colour, style.

    \b
    vidstyle eval clip.mp4 clip_styled.mp4 --style art.jpg [--json] [--frames N]
    """
    import json

    from vidstyle.devices import resolve_device
    from vidstyle.quality.evaluate import evaluate, format_report
    from vidstyle.reporting import Reporter

    reporter = Reporter(quiet or as_json)
    result = evaluate(source, styled, style, frames=frames, loss_network=loss_network,
                      vgg_weights=vgg_weights or None, device=resolve_device(device), reporter=reporter)
    click.echo(json.dumps(result.to_dict()) if as_json else format_report(result, styled))
    return 0


SUBCOMMANDS = {"eval": eval_command}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code instead of exiting. ``vidstyle eval ...`` runs
    the evaluation; anything else is a stylize run."""
    debug = os.environ.get("VIDSTYLE_DEBUG", "") not in ("", "0")
    argv = list(sys.argv[1:] if argv is None else argv)
    target, prog = command, "vidstyle"
    if argv and argv[0] in SUBCOMMANDS:
        target, prog, argv = SUBCOMMANDS[argv[0]], f"vidstyle {argv[0]}", argv[1:]
    tune_allocator()
    with command_line_names():  # messages name options as flags
        return _run(target, argv, prog, debug)


def _run(target: click.Command, argv: list[str], prog: str, debug: bool) -> int:
    try:
        with signals_as_interrupts():
            code = target.main(args=argv, prog_name=prog, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except (click.Abort, KeyboardInterrupt) as exc:  # click turns KeyboardInterrupt into Abort
        cause = exc if isinstance(exc, Terminated) else exc.__cause__
        if isinstance(cause, Terminated):
            click.echo(f"vidstyle: stopped by {cause}; no partial output was left behind", err=True)
            return 128 + cause.signum
        click.echo("vidstyle: interrupted; no partial output was left behind", err=True)
        return EXIT_INTERRUPTED
    except VidstyleError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"vidstyle: error: {exc}", err=True)
        return exc.exit_code
    except OSError as exc:  # the file system said no (a full disk, a vanished folder): not a bug
        if debug:
            traceback.print_exc()
        where = f" ({printable(exc.filename)})" if getattr(exc, "filename", None) else ""
        click.echo(f"vidstyle: error: {describe_os_error(exc)}{where}; check the paths, permissions and free space",
                   err=True)
        return EXIT_FAILED
    except Exception as exc:  # a bug: say so in one line, traceback on request
        if debug:
            traceback.print_exc()
        detail = printable(str(exc).splitlines()[0]) if str(exc) else ""
        click.echo(f"vidstyle: internal error: {exc.__class__.__name__}: {detail} "
                   "(set VIDSTYLE_DEBUG=1 for the traceback)", err=True)
        return EXIT_FAILED
    return int(code or 0)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
