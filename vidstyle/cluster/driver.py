"""`stylize_on_ray`: the one-machine run (pipeline.stylize_paths), spread over a Ray cluster.

Every guarantee of the one-machine run holds: every job is planned and every path checked
before any work (and, on a cluster of several machines, checked from every node); the style
model is trained once (here, or in a task that asks for a GPU where the cluster has GPUs, and
then saved here) or loaded, and put in the object store once; each clip is one task (or, where
workers would idle, segments joined by remuxing: cluster/units.py), retried where its worker
dies, failing alone on a user's error; one progress bar counts the whole batch's frames;
Ctrl-C cancels every task and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vidstyle.cluster import tasks
from vidstyle.cluster.connect import check_nodes, connect
from vidstyle.cluster.units import MAX_SEGMENT_FRAMES, MIN_SEGMENT_FRAMES, split_counts
from vidstyle.config import RunConfig
from vidstyle.errors import VidstyleError
from vidstyle.media.outputs import remove
from vidstyle.media.segments import JOINABLE_SUFFIXES, Segment, frame_timestamps, margins, plan_segments
from vidstyle.reporting import Reporter

RETRIES = 3  # attempts after a worker dies (Ray's max_retries)
TASK_CPUS = 1  # what each render task asks for: the codecs' and torch's threads are set to it
GPU_SHARE = 0.25  # a render task's share of a GPU by default (README, Scale out)
POLL_S = 0.5  # how often the progress bar is brought up to date
CANCEL_WAIT_S = 30  # how long cancelled tasks get to end before their files are removed


@dataclass
class _Clip:
    """A job handed out: its tasks' results (the job's own result last) and its segments."""

    job: Any
    done: Any  # ObjectRef of the job's Outcome (its render, or its segments' join)
    refs: list  # every ObjectRef of its tasks
    segments: list[Segment]


def stylize_on_ray(inputs: list[Path], config: RunConfig, reporter: Reporter, output: Path | None = None,
                   out_dir: Path | None = None, address: str | None = None, *, task_gpus: float | None = None,
                   segment_frames: int = MAX_SEGMENT_FRAMES) -> list:
    """Stylize every input on a Ray cluster (``address``: see connect.connect); a list of
    `pipeline.JobResult` in input order, as `pipeline.stylize_paths` gives (``config.skip_existing``
    too). One input: its error is raised. ``task_gpus``: the GPUs each render task asks for
    (None: `GPU_SHARE` where the cluster has GPUs, else none; CPUs: `TASK_CPUS`).
    ``segment_frames``: the longest segment a long clip is split into."""
    from vidstyle.pipeline import JobResult, plan_run

    planned, jobs = plan_run(inputs, config, output, out_dir)
    for item in planned:
        if isinstance(item, JobResult) and item.skipped:
            reporter.info(f"skipped {item.input}: {item.output} exists")
    if not jobs:
        return planned
    with connect(address, reporter.quiet) as ray:
        reads = [job.input for job in jobs] + ([Path(config.lut)] if config.lut else [])
        check_nodes(ray, reads, sorted({job.output.parent for job in jobs}))
        resources = ray.cluster_resources()
        gpus = task_gpus if task_gpus is not None else (
            GPU_SHARE if resources.get("GPU", 0) and config.device in ("auto", "cuda") else 0.0)
        model, info, style_rgb = _style_model(ray, config, reporter, jobs, resources.get("GPU", 0) > 0,
                                              single=len(inputs) == 1)
        task_config = replace(config, model_path=None, save_model=None, save_lut=None)
        plan = config.plan("cuda" if gpus and config.device != "cpu" else "cpu")  # the workers' plan
        margin = margins(plan.keyframe_interval, plan.stabilize.enabled)
        counts = split_counts([_splittable(job, config) for job in jobs], _workers(resources, TASK_CPUS, gpus),
                              segment_frames, max(MIN_SEGMENT_FRAMES, 3 * sum(margin)))
        token = uuid.uuid4().hex[:8]  # this run's segment names
        pieces = [_segments(job, parts, token, plan.keyframe_interval, margin) if parts > 1 else []
                  for job, parts in zip(jobs, counts, strict=True)]
        outcomes = _run(ray, jobs, pieces, task_config, reporter, (ray.put(model), info, ray.put(style_rgb)),
                        {"num_cpus": TASK_CPUS, "num_gpus": gpus, "max_retries": RETRIES, "retry_exceptions": False},
                        single=len(inputs) == 1)
    results = iter(outcomes)
    return [item if isinstance(item, JobResult) else next(results) for item in planned]


def _style_model(ray, config: RunConfig, reporter: Reporter, jobs: list, gpu: bool, single: bool):
    """The style model (on the CPU, to put in the object store), trained once — here, or on a
    GPU node where the cluster has GPUs and this machine none — or loaded; what it was trained
    with (painting or photoreal, its size: how the workers apply it); the style image, which
    previews and fine-tuning need on the workers.
    ``--save-model`` and ``--save-lut`` are written here. A LUT run has no model.

    As on one machine, the model is trained on the first job whose training frame can be read
    (a job whose frame cannot fails in its own task, with the same error)."""
    from vidstyle.devices import resolve_device
    from vidstyle.media.outputs import atomic_output
    from vidstyle.media.sources import training_frames
    from vidstyle.model.checkpoint import Checkpoint, save_style_model
    from vidstyle.session import StyleSession

    if config.lut:
        return None, None, None
    remote = (gpu and config.model_path is None and config.device in ("auto", "cuda")
              and resolve_device(config.device).type == "cpu")
    generator, info = None, None
    if remote:
        reporter.info("training the style model on a GPU node of the cluster")
        train = ray.remote(tasks.train_on_worker).options(num_cpus=1, num_gpus=1, max_retries=RETRIES)
        try:
            generator, info, notes = ray.get(train.remote(config, jobs[0]))
        except ray.exceptions.RayTaskError as exc:
            raise exc.cause if isinstance(exc.cause, VidstyleError) else exc from None
        _show(reporter, notes, set())
        if config.save_model:
            with atomic_output(Path(config.save_model)) as temp:
                save_style_model(Checkpoint(generator=generator, info=info), temp)
            reporter.info(f"saved style model to {config.save_model}")
        config = replace(config, save_model=None)
    session = StyleSession(config, reporter, model=generator, model_info=info)
    session.prepare()
    frame = None
    if session.trains() or config.save_lut:  # the frame a model is trained on here, or a LUT is baked from
        for job in jobs:
            try:
                with job.source:
                    frame = training_frames(job.source, config.train_frame).frame
                break
            except VidstyleError:
                if single:
                    raise
        else:
            return None, None, session.style_rgb  # no job can be rendered: each says why in its task
    generator = session.model_for(frame)  # trained here unless given or loaded
    if config.save_lut:
        session.save_lut_once(session.treatment(frame), frame)
    return generator.to("cpu"), session.model_info, session.style_rgb


def _workers(resources: dict[str, float], cpus: float, gpus: float) -> int:
    """How many render tasks the cluster runs at once."""
    count = math.floor(resources.get("CPU", 0) / cpus)
    if gpus:
        count = min(count, math.floor(resources.get("GPU", 0) / gpus))
    if count < 1:
        raise VidstyleError(f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} "
                            f"GPUs, too few for one render task ({cpus:g} CPUs, {gpus:g} GPUs); add nodes")
    return int(min(count, 1_000_000))


def _splittable(job, config: RunConfig) -> int | None:
    """A clip's frame count where it may be split into segments (a video into an output whose
    join is checked, decoded exactly as a plain run decodes it, rendered without fine-tuning or
    stopping at the preview); None otherwise."""
    from vidstyle.media.sources import VideoSource

    if not isinstance(job.source, VideoSource) or job.output.suffix.lower() not in JOINABLE_SUFFIXES:
        return None
    if config.train.finetune_frames or config.preview_only:
        return None
    return job.source.frame_count or None


def _segments(job, parts: int, token: str, align: int, margin: tuple[int, int]) -> list[Segment]:
    """The clip's segments, or none where its timestamps do not allow an exact split (or it
    holds a different number of frames than it announces: the plain run must say so)."""
    pts = frame_timestamps(job.input)
    if pts is None or len(pts) < job.source.frame_count:
        return []
    segments = plan_segments(pts, parts, job.output, token, align=align, margin=margin)
    return segments if len(segments) > 1 else []


def _run(ray, jobs: list, pieces: list[list[Segment]], config: RunConfig, reporter: Reporter, style: tuple,
         options: dict[str, Any], single: bool) -> list:
    """Hand out every job, follow them to the end with one progress bar, and give back their
    `JobResult`s in order; Ctrl-C (or any failure here) cancels every task and removes what they
    were writing. ``style``: the model (ref), what it was trained with, the style image (ref)."""
    from vidstyle.pipeline import JobResult

    board = ray.remote(num_cpus=0)(tasks.ProgressBoard).remote()
    render = ray.remote(tasks.render_job).options(**options)
    prepare = ray.remote(tasks.prepare_clip).options(**options)
    segment = ray.remote(tasks.render_segment).options(**options)
    joiner = ray.remote(tasks.join_clip).options(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)
    clips: list[_Clip] = []
    results: dict[int, JobResult] = {}
    seen: set[tuple[str, str]] = set()
    try:
        for i, (job, segments) in enumerate(zip(jobs, pieces, strict=True)):
            if not segments:
                ref = render.remote(job, *style, config, board, (i, 0))
                clips.append(_Clip(job, ref, [ref], []))
                continue
            prepared = prepare.remote(job, *style, config)
            refs = [segment.remote(job, s, prepared, *style, config, board, (i, s.index)) for s in segments]
            done = joiner.remote(job, segments, config, prepared, *refs)
            clips.append(_Clip(job, done, [prepared, *refs, done], segments))
        waiting = {clip.done: i for i, clip in enumerate(clips)}
        total = sum(job.source.frame_count for job in jobs)
        with reporter.bar(total, f"{len(jobs)} input(s) on Ray", "frame") as bar:
            while waiting:
                ready, _ = ray.wait(list(waiting), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    i = waiting.pop(ref)
                    results[i] = _result(ray, clips[i], reporter, seen, config, single)
                bar.update(max(0, min(total, ray.get(board.total.remote())) - bar.done))
    except BaseException:
        _cancel(ray, clips)
        raise
    finally:
        ray.kill(board)
    return [results[i] for i in range(len(clips))]


def _result(ray, clip: _Clip, reporter: Reporter, seen: set, config: RunConfig, single: bool):
    """The `JobResult` of a clip whose last task has ended; its warnings shown (each once per run).
    A user's error of a single input is raised, as the one-machine run raises it; a bug in a task
    is raised as itself."""
    from vidstyle.pipeline import JobResult

    job = clip.job
    try:
        outcome = ray.get(clip.done)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, VidstyleError):
            outcome = tasks.Outcome(False, error=exc.cause)
        else:
            raise exc.cause if isinstance(exc.cause, Exception) else exc from None
    except ray.exceptions.RayError as exc:  # a worker that died on every attempt, a node lost
        for target in tasks.job_targets(job, clip.segments):
            tasks.clear_partials(target)
        for segment in clip.segments:
            remove(segment.path)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        outcome = tasks.Outcome(False, error=VidstyleError(
            f"{job.input.name}: the worker rendering it was lost {RETRIES + 1} times ({exc.__class__.__name__}: "
            f"{reason[:200]}); check the nodes' memory and the Ray logs"))
    _show(reporter, outcome.notes, seen)
    if not outcome.ok:
        if single:
            raise outcome.error
        return JobResult(input=job.input, output=job.output, ok=False, message=str(outcome.error),
                         seconds=outcome.seconds)
    if not config.preview_only:
        parts = f"; {len(clip.segments)} segments" if clip.segments else ""
        reporter.info(f"wrote {job.output} ({outcome.message}{parts}) in {outcome.seconds:.1f}s")
    return JobResult(input=job.input, output=job.output, ok=True, message=outcome.message, seconds=outcome.seconds)


def _show(reporter: Reporter, notes: list[tuple[str, str]], seen: set) -> None:
    for kind, message in notes:
        if (kind, message) not in seen:
            seen.add((kind, message))
            (reporter.warn if kind == "warn" else reporter.notice)(message)


def _cancel(ray, clips: list[_Clip]) -> None:
    """Stop every task (killing its worker), wait for them to end, and remove what they were
    writing: temporary outputs and previews, segments."""
    refs = [ref for clip in clips for ref in clip.refs]
    for ref in refs:
        with contextlib.suppress(Exception):  # a task that ended meanwhile
            ray.cancel(ref, force=True)
    deadline = time.monotonic() + CANCEL_WAIT_S
    left = refs
    while left and time.monotonic() < deadline:
        _, left = ray.wait(left, num_returns=len(left), timeout=1.0)
    for clip in clips:
        for target in tasks.job_targets(clip.job, clip.segments):
            tasks.clear_partials(target)
        for segment in clip.segments:
            remove(segment.path)
