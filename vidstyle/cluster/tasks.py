"""What runs on the workers of a Ray cluster: a whole job; for a clip split into segments, its
preparation (training frame, preview, photoreal grade: once per clip), each segment and their
join; the training on a GPU node; and the board that counts frames for the driver's progress
bar.

Each task uses exactly the CPUs it was given (torch's, OpenCV's and, for segments, the codecs'
threads: Ray's OMP_NUM_THREADS is read once per reused worker, so it is not enough), first
removes what an attempt of it that was killed left behind (its temporary files: Ray retries a
task whose worker died), and gives a user's error (a `VidstyleError`) back as a failed
`Outcome` rather than raising: such a failure is the clip's alone and is not retried.
Warnings are gathered and shown by the driver, in the caller's words.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidstyle.config import RunConfig
from vidstyle.errors import VideoError, VidstyleError
from vidstyle.media.outputs import remove, temp_path
from vidstyle.media.preview import preview_path
from vidstyle.media.segments import Segment
from vidstyle.reporting import Reporter

if TYPE_CHECKING:
    from vidstyle.pipeline import Job

FEED_EVERY_S = 0.25  # how often a task tells the board how far it is


@dataclass
class Outcome:
    """What a task gives back: the job's one-line summary, or its user error; the warnings and
    notes it met, as (kind, message) in the words of whoever shows them; seconds it worked."""

    ok: bool
    message: str = ""
    error: VidstyleError | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    treatment: Any = None  # prepare_clip's: the clip's photoreal grade (None: the segments need none)


class ProgressBoard:
    """Frames done per unit of work (a Ray actor): a unit sets its own count, so a retried
    attempt counts from zero again instead of adding to the killed one's."""

    def __init__(self) -> None:
        self.done: dict[Any, int] = {}

    def set(self, key: Any, done: int) -> None:
        self.done[key] = done

    def total(self) -> int:
        return sum(self.done.values())


class TaskReporter(Reporter):
    """Quiet on the worker: warnings and notes kept for the driver, frame counts sent to the
    board every `FEED_EVERY_S` (``name``: the bar whose frames count; None: none)."""

    def __init__(self, board=None, key: Any = None, name: str | None = None) -> None:
        super().__init__(quiet=True, progress=self._feed if board is not None else None)
        self.board, self.key, self.name = board, key, name
        self.notes: list[tuple[str, str]] = []
        self._sent = 0.0
        if board is not None:
            board.set.remote(key, 0)

    def warn(self, message: str) -> None:
        self.notes.append(("warn", message))

    def notice(self, message: str) -> None:
        self.notes.append(("notice", message))

    def _feed(self, what: str, done: int, total: int | None) -> None:
        if what == self.name:
            self.count(done, final=done == total)

    def count(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self._sent >= FEED_EVERY_S:
            self.board.set.remote(self.key, done)
            self._sent = now


class _SegmentFeed:
    """The run loop's progress (loop.Progress) as the segment's own frames written."""

    def __init__(self, reporter: TaskReporter, sink) -> None:
        self.reporter, self.sink = reporter, sink

    def update(self, count: int = 1) -> None:
        self.reporter.count(self.sink.written)


def use_task_cpus() -> int:
    """Set torch's and OpenCV's threads to the CPUs Ray gave this task; returns that number."""
    import ray

    from vidstyle.devices import set_cpu_threads

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    threads = max(1, int(cpus))
    set_cpu_threads(threads)
    return threads


def clear_partials(target: Path) -> None:
    """Remove the temporary files (or folders) an attempt to write ``target`` left behind when
    its worker was killed: ``.{stem}.XXXXXXXX.partial{suffix}`` beside it (outputs.temp_path),
    those of ``target`` only."""
    name = temp_path(target).name
    cut = name.rfind(".partial")
    pattern = re.compile(re.escape(name[:cut - 8]) + "[0-9a-f]{8}" + re.escape(name[cut:]))
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        if pattern.fullmatch(entry.name):
            remove(Path(entry.path))


def job_targets(job: Job, segments: list[Segment] | None = None) -> list[Path]:
    """Every path a job's tasks write: the output, its preview, its segments."""
    return [job.output, preview_path(job.output), *(s.path for s in segments or [])]


def _session(config: RunConfig, reporter: Reporter, model, model_info: dict | None, style_rgb: np.ndarray | None):
    from vidstyle.session import StyleSession

    session = StyleSession(config, reporter, model=model, model_info=model_info, style_rgb=style_rgb)
    session.prepare()
    return session


def render_job(job: Job, model, model_info: dict | None, style_rgb: np.ndarray | None, config: RunConfig, board,
               key: Any) -> Outcome:
    """One whole job (a clip, an image, a folder) exactly as the one-machine run renders it."""
    from vidstyle.pipeline import run_job

    use_task_cpus()
    for target in job_targets(job):
        clear_partials(target)
    reporter = TaskReporter(board, key, job.input.name)
    start = time.perf_counter()
    try:
        message = run_job(job, _session(config, reporter, model, model_info, style_rgb))
    except VidstyleError as exc:
        return Outcome(False, error=exc, notes=reporter.notes, seconds=time.perf_counter() - start)
    return Outcome(True, message, notes=reporter.notes, seconds=time.perf_counter() - start)


def prepare_clip(job: Job, model, model_info: dict | None, style_rgb: np.ndarray | None,
                 config: RunConfig) -> Outcome:
    """What a split clip's segments share, done once before them: its training frame read, its
    preview written (as the one-machine run does before rendering) and, for a photoreal look,
    the grade fitted on that frame (``treatment``; every segment applies the same one)."""
    from vidstyle.pipeline import prepare_job

    use_task_cpus()
    clear_partials(preview_path(job.output))
    reporter = TaskReporter()
    start = time.perf_counter()
    try:
        session = _session(config, reporter, model, model_info, style_rgb)
        with job.source:
            treatment = prepare_job(job, session)
    except VidstyleError as exc:
        return Outcome(False, error=exc, notes=reporter.notes, seconds=time.perf_counter() - start)
    return Outcome(True, notes=reporter.notes, seconds=time.perf_counter() - start,
                   treatment=treatment if session.photoreal else None)


def render_segment(job: Job, segment: Segment, prepared: Outcome, model, model_info: dict | None,
                   style_rgb: np.ndarray | None, config: RunConfig, board, key: Any) -> Outcome:
    """One segment of a clip into its hidden file (atomically), with what `prepare_clip` made
    for the clip (``prepared``; where it failed, so does the segment, with nothing to add)."""
    from vidstyle.loop import run
    from vidstyle.media.outputs import atomic_output
    from vidstyle.media.segments import SegmentSink, SegmentSource

    if not prepared.ok:
        return Outcome(False, error=prepared.error)
    threads = use_task_cpus()
    clear_partials(segment.path)
    reporter = TaskReporter(board, key)
    start = time.perf_counter()
    try:
        session = _session(config, reporter, model, model_info, style_rgb)
        treatment = prepared.treatment or session.treatment(None)
        with job.source as clip, SegmentSource(clip, segment, threads) as source:
            renderer = job.renderer(treatment, session, segment.warmup + segment.frames + segment.cooldown)
            with atomic_output(segment.path) as temp, \
                    SegmentSink(temp, source, session.plan.encode, reporter.warn, threads) as sink:
                run(source, renderer, sink, _SegmentFeed(reporter, sink))
                if sink.written != segment.frames:
                    raise VideoError(f"{job.input.name}: frames {segment.start}-{segment.end - 1} gave {sink.written} "
                                     f"frames instead of {segment.frames}; the file may be damaged")
        reporter.count(sink.written, final=True)
    except VidstyleError as exc:
        return Outcome(False, error=exc, notes=reporter.notes, seconds=time.perf_counter() - start)
    return Outcome(True, notes=reporter.notes, seconds=time.perf_counter() - start)


def join_clip(job: Job, segments: list[Segment], config: RunConfig, *rendered: Outcome) -> Outcome:
    """The clip's output from its rendered segments and its audio (atomically); the segment files
    are removed whatever happens. Runs once the clip's preparation and every segment task have
    ended (``rendered``, in that order)."""
    from vidstyle.media.outputs import atomic_output
    from vidstyle.media.segments import join

    start = time.perf_counter()
    notes = _unique(note for outcome in rendered for note in outcome.notes)
    worked = sum(outcome.seconds for outcome in rendered)
    try:
        failed = next((outcome for outcome in rendered if not outcome.ok), None)
        if failed is not None:
            return replace(failed, notes=notes, seconds=worked)
        clear_partials(job.output)
        reporter = TaskReporter()
        with job.source as clip, atomic_output(job.output) as temp:
            written = join(segments, clip, temp, job.output.suffix.lower(), reporter.warn,
                           config.strict)
        return Outcome(True, job.summary(written), notes=notes + reporter.notes,
                       seconds=worked + time.perf_counter() - start)
    except VidstyleError as exc:
        return Outcome(False, error=exc, notes=notes, seconds=worked + time.perf_counter() - start)
    finally:
        for segment in segments:
            remove(segment.path)
            clear_partials(segment.path)


def train_on_worker(config: RunConfig, job: Job) -> tuple[Any, dict[str, Any], list[tuple[str, str]]]:
    """The style model trained on ``job``'s training frame where this task runs (a GPU node):
    the generator on the CPU, what it was trained with (to save), the notes met."""
    from vidstyle.media.sources import training_frames

    reporter = TaskReporter()
    session = _session(replace(config, save_model=None), reporter, None, None, None)
    with job.source:
        chosen = training_frames(job.source, config.train_frame)
    generator = session.model_for(chosen.frame)
    return generator.to("cpu"), session.model_info, reporter.notes


def _unique(notes) -> list[tuple[str, str]]:
    return list(dict.fromkeys(notes))
