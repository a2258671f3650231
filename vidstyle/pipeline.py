"""The jobs vidstyle runs: a video, an image, a folder of frames, or a batch of them.

A `StyleSession` owns what a batch shares — the device, the loss network, the style image
and the style model, trained once — and each job streams its input through the model into a
temporary output that is renamed into place when complete.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from vidstyle.config import GeneratorConfig, RunConfig, TrainConfig
from vidstyle.devices import resolve_device
from vidstyle.errors import InputError, OutputError, VideoError, VidstyleError
from vidstyle.limits import DEFAULT_MAX_PIXELS
from vidstyle.media import writer
from vidstyle.media.images import load_image, resize_long_side, save_image
from vidstyle.media.outputs import atomic_output, check_output, check_paths, default_output
from vidstyle.media.preview import is_preview, preview_path, save_preview, sheet
from vidstyle.media.sources import FolderSource, ImageSource, Source, VideoSource, source_class, training_frames
from vidstyle.model.checkpoint import Checkpoint, load_style_model, save_style_model
from vidstyle.model.generator import HRNetGenerator
from vidstyle.model.losses import LossesBySize, PerceptualLoss
from vidstyle.model.lossnet import LossNetwork, build_losses, resolve_loss_network
from vidstyle.model.tensors import to_tensor
from vidstyle.model.train import build_generator, train_generator
from vidstyle.render import stream
from vidstyle.render.stabilize import stabilizer_step, stylize_then_stabilize
from vidstyle.render.stylize import Stylizer
from vidstyle.reporting import Reporter


@dataclass(frozen=True)
class Job(ABC):
    """One source and where its stylized copy goes; the subclass knows how to render it."""

    source: Source
    output: Path
    source_type: ClassVar[type[Source]]
    directory: ClassVar[bool] = False  # the output is a folder
    previews: ClassVar[bool] = True  # a preview is written before rendering

    @property
    def input(self) -> Path:
        return self.source.path

    @staticmethod
    def output_suffix(input_path: Path) -> str:
        return ""

    @staticmethod
    def check_output_name(output: Path) -> None:
        """Refuse an output name this kind of job cannot write (before any work); any name by default."""
        return None

    @abstractmethod
    def render(self, stylizer: Stylizer, session: StyleSession) -> str:
        """Stylize every frame into ``output`` (atomically); a one-line summary of what was written."""


@dataclass
class JobResult:
    input: Path
    output: Path | None
    ok: bool
    message: str = ""
    seconds: float = 0.0


def plan_job(input_path: Path, output: Path | None, out_dir: Path | None, overwrite: bool,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> Job:
    """Decide what ``input_path`` is and where its output goes; refuse unreadable or unfit
    inputs and unsafe outputs — all before any training or decoding starts."""
    job_type = job_type_for(input_path)
    target = output or default_output(input_path, job_type.output_suffix(input_path), out_dir)
    if output is not None:
        job_type.check_output_name(output)
    check_paths([("input", input_path)], [("output", target)])
    check_output(target, overwrite, directory=job_type.directory)
    return job_type(source=job_type.source_type(input_path, max_pixels), output=target)


def job_type_for(input_path: Path) -> type[Job]:
    kind = source_class(input_path)
    return next(job_type for job_type in JOB_TYPES if job_type.source_type is kind)


def wants_preview(job: Job, config: RunConfig) -> bool:
    """Clips and frame folders get a preview before they render; a still image is its own
    preview unless --preview-only asks for the sheet."""
    return config.preview and (job.previews or config.preview_only)


def check_run_paths(jobs: list[Job], config: RunConfig) -> None:
    """Every path the run writes (outputs, the saved model) apart from every path it reads
    (inputs, style image, model) and from each other — checked before any work starts."""
    reads = [("input", job.input) for job in jobs]
    reads += [(role, Path(path)) for role, path in (("style image", config.style), ("style model", config.model_path))
              if path]
    writes = [(f"output of {job.input}", job.output) for job in jobs]
    for job in (j for j in jobs if wants_preview(j, config)):
        preview = preview_path(job.output)
        writes.append((f"preview of {job.input}", preview))
        check_output(preview, config.overwrite or is_preview(preview), role="preview", option="-o")
    if config.save_model:
        writes.append(("--save-model file", Path(config.save_model)))
        check_output(Path(config.save_model), config.overwrite, role="style model", option="--save-model")
    check_paths(reads, writes)


MIN_TRAIN_SIDE = 32  # the loss network halves four times


class StyleSession:
    """Device, loss network, style targets and the style model, shared by every job of a run."""

    def __init__(self, config: RunConfig, reporter: Reporter, *, model: HRNetGenerator | None = None,
                 style_rgb: np.ndarray | None = None) -> None:
        """``model`` and ``style_rgb``: a trained generator and a style image already in memory
        (the Python API's), instead of ``config.model_path`` and ``config.style``."""
        self.config = config
        self.reporter = reporter
        self.device = resolve_device(config.device)
        self.train_config: TrainConfig = config.train.for_device(self.device.type)
        self.style_rgb = style_rgb
        self.style_name = Path(config.style).name if config.style else None
        self.network: LossNetwork | None = None
        self._base = model.to(self.device) if model is not None else None
        self._losses: LossesBySize | None = None

    # -- set-up, before any work -------------------------------------------------------
    def prepare(self) -> None:
        """Load what every job needs, so that a bad style or missing weights stop the run
        before any decoding or training starts."""
        cfg = self.config
        if self._base is None and cfg.model_path is not None:
            saved = load_style_model(Path(cfg.model_path), self.device)
            self._base = saved.generator
            self.reporter.info(f"loaded style model {cfg.model_path} ({saved.info.get('style', 'unknown style')}, "
                               f"loss network {saved.info.get('loss_network', 'vgg19')})")
        if self.style_rgb is None and cfg.style is not None:
            self.style_rgb = load_image(Path(cfg.style), role="style", max_pixels=cfg.max_pixels).rgb
        if self._base is not None and cfg.train.finetune_frames == 0:
            return  # nothing to train
        if self.style_rgb is None:
            raise InputError("no style image given; pass --style IMAGE (or --model FILE to reuse a trained model)")
        self.network = resolve_loss_network(self.train_config.loss_network, cfg.vgg_weights,
                                            progress=not self.reporter.quiet, notice=self.reporter.notice)
        self.reporter.info(f"loss network: {self.network.source}")
        self._losses = build_losses(self.network, self.style_rgb, self.train_config, self.device)

    # -- the style model -----------------------------------------------------------------
    def model_for(self, keyframe: np.ndarray, extra_frames: list[np.ndarray] | None = None) -> HRNetGenerator:
        """The base model (trained on the first keyframe, once per run), fine-tuned on
        ``extra_frames`` when fine-tuning is asked for."""
        if self._base is None:
            self._base = self._train_base(keyframe)
        if not extra_frames:
            return self._base
        tuned = copy.deepcopy(self._base)
        contents = [self._content_tensor(f) for f in [keyframe, *extra_frames]]
        history = train_generator(tuned, self._loss_for(contents[0]), contents, self.train_config.finetune_steps,
                                  self.train_config, desc="fine-tuning", reporter=self.reporter)
        self.reporter.info(f"fine-tuned on {len(contents)} frames in {history.seconds:.1f}s")
        return tuned

    def _train_base(self, keyframe: np.ndarray) -> HRNetGenerator:
        tc = self.train_config
        generator = build_generator(GeneratorConfig(), tc.seed, self.device)
        content = self._content_tensor(keyframe)
        h, w = content.shape[-2:]
        self.reporter.info(f"training the style model: {tc.steps} steps at {w}x{h} on {self.device.type}")
        history = train_generator(generator, self._loss_for(content), [content], tc.steps, tc,
                                  reporter=self.reporter)
        if history.total:
            self.reporter.info(f"trained in {history.seconds:.1f}s (loss {history.total[0]:.4g} -> "
                               f"{history.total[-1]:.4g})")
        if self.config.save_model:
            self._save(generator)
        return generator

    def checkpoint(self, generator: HRNetGenerator) -> Checkpoint:
        """``generator`` with what it was trained with (style, loss network, settings), to save."""
        return Checkpoint(generator=generator, info={"style": self.style_name,
                                                     "loss_network": self.network.name if self.network else None,
                                                     "train": self.train_config.to_dict()})

    def _save(self, generator: HRNetGenerator) -> None:
        path = Path(self.config.save_model)
        with atomic_output(path) as temp:
            save_style_model(self.checkpoint(generator), temp)
        self.reporter.info(f"saved style model to {path}")

    def _content_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """The frame at the training size; small or thin frames are scaled up so that the loss
        network's deepest layer still sees a few pixels."""
        long, short = max(rgb.shape[:2]), min(rgb.shape[:2])
        size = max(min(self.train_config.train_size, long), round(long * MIN_TRAIN_SIDE / short))
        return to_tensor(resize_long_side(rgb, size), self.device)

    def _loss_for(self, content: torch.Tensor) -> PerceptualLoss:
        return self._losses(*content.shape[-2:])

    def stylizer(self, generator: HRNetGenerator) -> Stylizer:
        return Stylizer(generator, self.config.inference)

    def preview(self, job: Job, keyframe: np.ndarray, stylizer: Stylizer) -> bool:
        """Write the job's preview (keyframe | stylized | style); True if the run stops here."""
        if self.style_rgb is None or not wants_preview(job, self.config):
            return self.config.preview_only
        path = preview_path(job.output)
        note = f"strength {self.train_config.strength:g}, loss network {self.network.name if self.network else '-'}"
        with atomic_output(path) as temp:
            save_preview(temp, sheet(keyframe, stylizer.one(keyframe), self.style_rgb), note)
        self.reporter.info(f"preview: {path}")
        return self.config.preview_only


# -- the three kinds of job ---------------------------------------------------------------
@dataclass(frozen=True)
class VideoJob(Job):
    source: VideoSource
    source_type: ClassVar[type[Source]] = VideoSource

    @staticmethod
    def output_suffix(input_path: Path) -> str:
        return writer.output_suffix(input_path)

    @staticmethod
    def check_output_name(output: Path) -> None:
        if output.suffix.lower() not in writer.H264_SUFFIXES:
            raise OutputError(f"cannot write H.264 video to '{output.suffix}'; use an .mp4, .mov or .mkv output")

    def render(self, stylizer: Stylizer, session: StyleSession) -> str:
        cfg, info = session.config, self.source.info
        finish = stabilizer_step(cfg.stabilize) if cfg.stabilize.enabled else None
        with atomic_output(self.output) as temp:
            frames = stream.transcode(self.input, temp, self.output.suffix.lower(), info, stylizer,
                                      stylizer.batch_size, cfg.encode, session.reporter, finish, cfg.strict)
            self._check_frame_count(frames, session)
        return f"{frames} frames, {info.width}x{info.height}, {info.audio_streams} audio stream(s)"

    def _check_frame_count(self, written: int, session: StyleSession) -> None:
        """A damaged or truncated clip must not pass for a complete one: say so, or fail with --strict."""
        missing = self.source.missing_frames(written)
        if not missing:
            return
        info = self.source.info
        counted = "announces" if info.frames_exact else "should hold about"
        message = (f"{self.input.name} {counted} {info.frames} frames but only {written} could be decoded "
                   f"({missing} missing); the file may be damaged or truncated")
        if session.config.strict:
            raise VideoError(f"{message}; nothing was written (--strict)")
        session.reporter.warn(f"{message}; the output has {written} frames (pass --strict to fail instead)")


@dataclass(frozen=True)
class ImageJob(Job):
    source: ImageSource
    source_type: ClassVar[type[Source]] = ImageSource
    previews: ClassVar[bool] = False

    @staticmethod
    def output_suffix(input_path: Path) -> str:
        return ".png"

    def render(self, stylizer: Stylizer, session: StyleSession) -> str:
        image = self.source.image()
        with atomic_output(self.output) as temp:
            save_image(temp, stylizer.one(image.rgb), image.alpha, fmt_from=self.output)
        h, w = image.rgb.shape[:2]
        return f"{w}x{h}"


@dataclass(frozen=True)
class FolderJob(Job):
    source: FolderSource
    source_type: ClassVar[type[Source]] = FolderSource
    directory: ClassVar[bool] = True

    def render(self, stylizer: Stylizer, session: StyleSession) -> str:
        cfg, paths = session.config, self.source.paths
        process = stylize_then_stabilize(stylizer, cfg.stabilize) if cfg.stabilize.enabled else stylizer
        with atomic_output(self.output, directory=True) as temp, \
                session.reporter.bar(len(paths), self.input.name, "frame") as bar:
            for index, path in enumerate(paths):
                image = self.source.image(index)
                save_image(temp / path.name, process([image.rgb])[0], image.alpha)
                bar.update(1)
        return f"{len(paths)} frames"


JOB_TYPES: tuple[type[Job], ...] = (VideoJob, ImageJob, FolderJob)


def run_job(job: Job, session: StyleSession) -> str:
    """Train (or reuse) the style model on the job's training frames, write the preview, render."""
    cfg = session.config
    chosen = training_frames(job.source, cfg.keyframe, cfg.train.finetune_frames)
    stylizer = session.stylizer(session.model_for(chosen.keyframe, chosen.extra))
    if session.preview(job, chosen.keyframe, stylizer):
        return "preview only"
    return job.render(stylizer, session)


def stylize_paths(inputs: list[Path], config: RunConfig, reporter: Reporter, output: Path | None = None,
                  out_dir: Path | None = None, session: StyleSession | None = None) -> list[JobResult]:
    """Stylize every input. One input: its error is raised. Several: each failure is
    recorded and the rest go on. ``session``: one holding a model already (the Python API's)."""
    if output is not None and len(inputs) > 1:
        raise OutputError("-o/--output names one output; with several inputs use --out-dir DIR")
    if out_dir is not None and not out_dir.is_dir():
        raise OutputError(f"--out-dir {out_dir} does not exist; create it first")
    single = len(inputs) == 1
    planned: list[Job | JobResult] = []
    for path in inputs:
        try:
            planned.append(plan_job(path, output, out_dir, config.overwrite, config.max_pixels))
        except VidstyleError as exc:
            if single:
                raise
            planned.append(JobResult(input=path, output=None, ok=False, message=str(exc)))
    jobs = [p for p in planned if isinstance(p, Job)]
    check_run_paths(jobs, config)
    session = session or StyleSession(config, reporter)
    if jobs:
        session.prepare()
    results = []
    for item in planned:
        if isinstance(item, JobResult):
            results.append(item)
            continue
        results.append(_run_one(item, session, raise_errors=single))
    return results


def _run_one(job: Job, session: StyleSession, raise_errors: bool) -> JobResult:
    start = time.perf_counter()
    try:
        message = run_job(job, session)
    except VidstyleError as exc:
        if raise_errors:
            raise
        return JobResult(input=job.input, output=job.output, ok=False, message=str(exc),
                         seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if not session.config.preview_only:
        session.reporter.info(f"wrote {job.output} ({message}) in {seconds:.1f}s")
    return JobResult(input=job.input, output=job.output, ok=True, message=message, seconds=seconds)
