"""The jobs vidstyle runs: a video, an image, a folder of frames, or a batch of them.

Each job is a source (media/sources.py) and an output: planned and checked before any work,
then given a style model by the run's `StyleSession` (session.py, trained once per batch),
previewed, and rendered through the model into a temporary output that is renamed into place
when complete.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from vidstyle.config import EncodeConfig, RunConfig
from vidstyle.errors import OutputError, VideoError, VidstyleError, option
from vidstyle.limits import DEFAULT_MAX_PIXELS
from vidstyle.loop import Renderer, Sink, run
from vidstyle.media import writer
from vidstyle.media.outputs import atomic_output, check_output, check_paths, default_output
from vidstyle.media.preview import is_preview, preview_path, save_preview, sheet
from vidstyle.media.sinks import FolderSink, ImageSink, VideoSink
from vidstyle.media.sources import FolderSource, ImageSource, Source, VideoSource, source_class, training_frames
from vidstyle.render.renderer import Treatment
from vidstyle.reporting import Reporter
from vidstyle.session import StyleSession


@dataclass(frozen=True)
class Job(ABC):
    """One source and where its stylized copy goes; the subclass names its renderer and sink,
    and every kind renders through the same run loop (`render`)."""

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
    def renderer(self, treatment: Treatment, session: StyleSession) -> Renderer:
        """How this source's frames become pictures under ``treatment``."""

    @abstractmethod
    def sink(self, temp: Path, session: StyleSession) -> Sink:
        """Where the pictures go: ``temp``, renamed to ``output`` once the run succeeds."""

    def check_written(self, written: int, session: StyleSession) -> None:  # noqa: B027 - most outputs need none
        """Refuse (or report) an output that is not what the source promised, before it is renamed into place."""

    @abstractmethod
    def summary(self, written: int) -> str:
        """A one-line account of what was written."""

    def render(self, treatment: Treatment, session: StyleSession) -> str:
        """Treat every frame into ``output`` (atomically); a one-line summary of what was written."""
        renderer = self.renderer(treatment, session)
        if (how := renderer.describe()) is not None:
            session.reporter.info(f"{self.input.name}: {how}")
        with atomic_output(self.output, directory=self.directory) as temp, self.sink(temp, session) as sink, \
                session.reporter.bar(self.source.frame_count, self.input.name, "frame") as bar:
            written = run(self.source, renderer, sink, bar)
            self.check_written(written, session)
        return self.summary(written)


@dataclass
class JobResult:
    input: Path
    output: Path | None
    ok: bool
    message: str = ""
    seconds: float = 0.0
    skipped: bool = False  # the output was there already (skip_existing): complete, since outputs are atomic


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
    preview unless only the preview is asked for."""
    return config.preview and (job.previews or config.preview_only)


def check_run_paths(jobs: list[Job], config: RunConfig) -> None:
    """Every path the run writes (outputs, the saved model) apart from every path it reads
    (inputs, style image, model) and from each other — checked before any work starts."""
    reads = [("input", job.input) for job in jobs]
    reads += [(role, Path(path)) for role, path in (("style image", config.style), ("style model", config.model_path),
                                                    ("LUT", config.lut)) if path]
    writes = [(f"output of {job.input}", job.output) for job in jobs]
    for job in (j for j in jobs if wants_preview(j, config)):
        preview = preview_path(job.output)
        writes.append((f"preview of {job.input}", preview))
        check_output(preview, config.overwrite or is_preview(preview), role="preview", option=option("output"))
    if config.save_model:
        writes.append(("style model file", Path(config.save_model)))
        check_output(Path(config.save_model), config.overwrite, role="style model", option=option("save_model"))
    if config.save_lut:
        if Path(config.save_lut).suffix.lower() != ".cube":
            raise OutputError(f"{option('save_lut')} writes a .cube file; name it e.g. look.cube")
        writes.append(("LUT file", Path(config.save_lut)))
        check_output(Path(config.save_lut), config.overwrite, role="LUT", option=option("save_lut"))
    check_paths(reads, writes)


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

    def renderer(self, treatment: Treatment, session: StyleSession, frames: int | None = None) -> Renderer:
        """``frames``: how many frames it will see, where not the whole clip (a segment): what
        the choice of runtime weighs its set-up against."""
        info = self.source.info
        return treatment.clip_renderer(session.plan, frames or info.frames, (info.height, info.width),
                                       session.reporter.warn)

    def sink(self, temp: Path, session: StyleSession) -> Sink:
        return VideoSink(temp, self.output.suffix.lower(), self.source, session.plan.encode, session.reporter.warn,
                         session.config.strict)

    def check_written(self, written: int, session: StyleSession) -> None:
        """A damaged or truncated clip must not pass for a complete one: say so, or fail with --strict."""
        missing = self.source.missing_frames(written)
        if not missing:
            return
        info = self.source.info
        counted = "announces" if info.frames_exact else "should hold about"
        message = (f"{self.input.name} {counted} {info.frames} frames but only {written} could be decoded "
                   f"({missing} missing); the file may be damaged or truncated")
        if session.config.strict:
            raise VideoError(f"{message}; nothing was written ({option('strict')})")
        session.reporter.warn(f"{message}; the output has {written} frames (set {option('strict')} to fail instead)")

    def summary(self, written: int) -> str:
        info = self.source.info
        return f"{written} frames, {info.width}x{info.height}, {info.audio_streams} audio stream(s)"


@dataclass(frozen=True)
class ImageJob(Job):
    source: ImageSource
    source_type: ClassVar[type[Source]] = ImageSource
    previews: ClassVar[bool] = False

    @staticmethod
    def output_suffix(input_path: Path) -> str:
        return ".png"

    def renderer(self, treatment: Treatment, session: StyleSession) -> Renderer:
        return treatment.image_renderer()

    def sink(self, temp: Path, session: StyleSession) -> Sink:
        return ImageSink(temp, fmt_from=self.output)

    def summary(self, written: int) -> str:
        width, height = self.source.size
        return f"{width}x{height}"


@dataclass(frozen=True)
class FolderJob(Job):
    source: FolderSource
    source_type: ClassVar[type[Source]] = FolderSource
    directory: ClassVar[bool] = True

    def renderer(self, treatment: Treatment, session: StyleSession) -> Renderer:
        return treatment.clip_renderer(session.plan, self.source.frame_count, warn=session.reporter.warn)

    def sink(self, temp: Path, session: StyleSession) -> Sink:
        return FolderSink(temp)

    def summary(self, written: int) -> str:
        return f"{written} frames"


JOB_TYPES: tuple[type[Job], ...] = (VideoJob, ImageJob, FolderJob)


def run_job(job: Job, session: StyleSession) -> str:
    """Train (or reuse) the style model on the job's training frames, write the preview, render."""
    with job.source:
        treatment = prepare_job(job, session)
        if session.config.preview_only:
            return "preview only"
        return job.render(treatment, session)


def prepare_job(job: Job, session: StyleSession) -> Treatment:
    """The job's treatment, from its training frame(s) where one is needed (the model trained on
    it, or a photoreal grade fitted), the look baked into a LUT and the preview written where the
    run asks: what a render starts from, on one machine or before a clip's segments on a cluster.
    ``job.source`` is open."""
    cfg = session.config
    preview = (session.style_rgb is not None or session.lut is not None) and wants_preview(job, cfg)
    if not session.needs_frame(preview):  # a model at hand that paints, nothing to preview or check
        return session.treatment(None)
    chosen = training_frames(job.source, cfg.train_frame, session.plan.train.finetune_frames)
    treatment = session.treatment(chosen.frame, chosen.extra)
    session.save_lut_once(treatment, chosen.frame)
    if preview:
        write_preview(job, session, chosen.frame, treatment)
    return treatment


def write_preview(job: Job, session: StyleSession, frame: np.ndarray, treatment: Treatment) -> None:
    """The job's preview sheet (training frame | treated | reference), written before the render."""
    path = preview_path(job.output)
    if session.lut is not None:
        note = f"LUT {Path(session.config.lut).name}"
    else:
        trained = session.model_info or {}  # a loaded model, or one a worker was handed, says what it was trained with
        network = session.network.name if session.network else trained.get("loss_network") or "-"
        strength = "strength ?" if session.strength is None else f"strength {session.strength:g}"
        kind = "photoreal look" if session.photoreal else strength
        note = f"{kind}, loss network {network}"
    with atomic_output(path) as temp:
        save_preview(temp, sheet(frame, treatment.picture(frame), session.style_rgb), note)
    session.reporter.info(f"preview: {path}")


def plan_jobs(inputs: list[Path], config: RunConfig, output: Path | None = None,
              out_dir: Path | None = None) -> list[Job | JobResult]:
    """Every input planned and checked (`plan_job`), in order. One input: its error is raised;
    several: it becomes a failed result. With ``config.skip_existing`` an output that exists is
    a result too (skipped): writes are atomic, so an existing output is a whole one, and a
    stopped batch picks up where it stopped."""
    single = len(inputs) == 1
    planned: list[Job | JobResult] = []
    for path in inputs:
        try:
            job = plan_job(path, output, out_dir, config.overwrite or config.skip_existing, config.max_pixels)
        except VidstyleError as exc:
            if single:
                raise
            planned.append(JobResult(input=path, output=None, ok=False, message=str(exc)))
            continue
        if config.skip_existing and not config.overwrite and job.output.exists():
            planned.append(JobResult(input=path, output=job.output, ok=True, message="skipped: the output exists",
                                     skipped=True))
        else:
            planned.append(job)
    return planned


def plan_run(inputs: list[Path], config: RunConfig, output: Path | None = None,
             out_dir: Path | None = None) -> tuple[list[Job | JobResult], list[Job]]:
    """Every input planned (a job, or a result where its output exists and is skipped) and every
    path the jobs read and write checked, before any work: here or on a cluster."""
    if output is not None and len(inputs) > 1:
        raise OutputError(f"{option('output')} names one output; with several inputs use {option('out_dir')} DIR")
    if out_dir is not None and not out_dir.is_dir():
        raise OutputError(f"{option('out_dir')} {out_dir} does not exist; create it first")
    planned = plan_jobs(inputs, config, output, out_dir)
    jobs = [p for p in planned if isinstance(p, Job)]
    check_run_paths(jobs, config)
    return planned, jobs


def stylize_paths(inputs: list[Path], config: RunConfig, reporter: Reporter, output: Path | None = None,
                  out_dir: Path | None = None, session: StyleSession | None = None) -> list[JobResult]:
    """Stylize every input. One input: its error is raised. Several: each failure is
    recorded and the rest go on. ``session``: one holding a model already (the Python API's)."""
    single = len(inputs) == 1
    planned, jobs = plan_run(inputs, config, output, out_dir)
    session = session or StyleSession(config, reporter)
    if jobs:
        session.prepare()
    results = []
    for item in planned:
        if isinstance(item, JobResult):
            if item.skipped:
                reporter.info(f"skipped {item.input}: {item.output} exists")
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


def transcode(input_path: Path, output: Path, renderer: Renderer, encode: EncodeConfig | None = None,
              warn: Callable[[str], None] | None = None, strict: bool = False) -> int:
    """A clip through ``renderer`` into ``output`` (atomically), timestamps and audio kept, with no
    model, session or preview: what the benchmarks time and the tests check the video path with.
    Returns the number of frames written."""
    with VideoSource(input_path) as source, atomic_output(output) as temp, \
            VideoSink(temp, output.suffix.lower(), source, encode or EncodeConfig(), warn or (lambda _: None),
                      strict) as sink:
        return run(source, renderer, sink)
