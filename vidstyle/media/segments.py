"""One clip rendered as segments in parallel, then joined without re-encoding the video.

Why: a long clip (or a batch with fewer clips than workers) keeps one worker busy while the
others wait. Each segment is rendered on its own: its source seeks to a keyframe before the
segment and decodes from there, frame-exact by timestamp; the renderer runs over a few
warm-up frames before the segment's first frame (the keyframe carrier and the stabilizer
carry state from frame to frame) and, for the carrier, a keyframe gap after its last (it
blends each frame with the next keyframe), whose pictures are dropped; the segment's own
frames are encoded at their source timestamps, without audio, into a hidden file beside the
output.
`join` then copies the segments' video packets, in order, and the source's audio packets
into the output: no frame is encoded twice and the audio is the source's, packet for packet.

Segments are written as MOV, which keeps each stream's time base and negative dts (NUT shifts
a stream whose first dts is negative; Matroska rounds to milliseconds); its edit list may
shift a segment by a tick, which the join puts back from the segment's known first pts. The
output container is the one its suffix names, as for a one-machine run.
Torch-free: the renderer comes from the caller.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from vidstyle.config import EncodeConfig
from vidstyle.errors import VideoError
from vidstyle.loop import Sink
from vidstyle.media import reader
from vidstyle.media.ffmpeg import ffmpeg_path, reason
from vidstyle.media.frames import Frame
from vidstyle.media.outputs import NAME_MAX
from vidstyle.media.sinks import VideoSink, Warn
from vidstyle.media.sources import VideoSource
from vidstyle.media.writer import audio_passthroughs, open_output

SEGMENT_SUFFIX = ".mov"  # keeps pts and dts exactly (see the module docstring)
JOINABLE_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv"}  # outputs a join is checked to match a plain run in
UNSEEKABLE_FORMATS = {"mpegts"}  # seeking misses in these (reader.frames_at_times): never split
CARRIED_WARMUP_GAPS = 3  # keyframe gaps rendered before a carried segment (measured: README, Scale out)
STABILIZED_WARMUP_FRAMES = 32  # frames rendered before a stabilized one (measured: README, Scale out)


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` to ``end`` (indices, end excluded) of a clip, written to ``path``; the
    renderer also sees ``warmup`` frames before them and ``cooldown`` after, whose pictures are
    dropped. Timestamps in the video stream's time base: ``warm_pts`` is the first frame decoded,
    ``start_pts`` the first written, ``end_pts`` the first not written and ``stop_pts`` the first
    not decoded (None: the clip's end)."""

    index: int
    start: int
    end: int
    warmup: int
    cooldown: int
    warm_pts: int
    start_pts: int
    end_pts: int | None
    stop_pts: int | None
    path: Path

    @property
    def frames(self) -> int:
        return self.end - self.start


def frame_timestamps(path: Path) -> list[int] | None:
    """Every frame's pts in presentation order, read from the packets (nothing decoded); None
    when the clip cannot be split frame-exactly: a format whose seeking misses, or a packet
    without a timestamp, or two frames sharing one."""
    with reader.open_input(path) as container:
        if container.format.name in UNSEEKABLE_FORMATS:
            return None
        stream = container.streams.video[0]
        try:
            pts = [packet.pts for packet in container.demux(stream) if packet.size]
        except av.error.FFmpegError:
            return None
    if any(p is None for p in pts) or len(set(pts)) != len(pts):
        return None
    return sorted(pts)


def margins(keyframe_interval: int, stabilized: bool) -> tuple[int, int]:
    """Frames rendered before and after a segment (and dropped) so that its pictures are those of
    a plain run: the keyframe carrier smooths each look with the last one (a memory that fades
    by 0.8 a frame) and starts keyframes by its own schedule, so a few keyframe gaps before; and
    it blends each frame with the next keyframe, so one gap after. The stabilizer blends each
    frame with the last one: its memory must fade. Every frame stylized on its own needs none."""
    if keyframe_interval > 1:
        return CARRIED_WARMUP_GAPS * keyframe_interval, keyframe_interval
    return (STABILIZED_WARMUP_FRAMES if stabilized else 0), 0


def boundaries(frames: int, parts: int, align: int = 1) -> list[int]:
    """Start indices of ``parts`` segments of about equal length (0 first), each a multiple of
    ``align`` (the carrier's keyframe gap, so that a segment's keyframes fall where a plain
    run's do); fewer where the clip is too short for that many."""
    align = max(1, align)
    starts = sorted({round(frames * k / parts / align) * align for k in range(parts)})
    return [s for s in starts if s < frames]


def plan_segments(pts: list[int], parts: int, output: Path, token: str, align: int = 1,
                  margin: tuple[int, int] = (0, 0)) -> list[Segment]:
    """The segments of a clip whose frames have timestamps ``pts`` (presentation order), split in
    about ``parts`` at multiples of ``align``, with ``margin`` = (warm-up, cool-down) frames
    (see `margins`); each written beside ``output`` under a hidden name with the run's ``token``."""
    starts = boundaries(len(pts), parts, align)
    ends = [*starts[1:], len(pts)]
    count = len(pts)
    segments = []
    for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
        warm, stop = min(start, margin[0]), min(end + margin[1], count)
        segments.append(Segment(index=k, start=start, end=end, warmup=warm, cooldown=stop - end,
                                warm_pts=pts[start - warm], start_pts=pts[start],
                                end_pts=pts[end] if end < count else None, stop_pts=pts[stop] if stop < count else None,
                                path=segment_path(output, token, k)))
    return segments


def segment_path(output: Path, token: str, index: int) -> Path:
    """A hidden name beside ``output`` for its segment ``index``, short enough that the
    temporary name made from it (outputs.temp_path) fits the file-system's limit."""
    tail = f".{token}.seg{index:04d}{SEGMENT_SUFFIX}"
    room = NAME_MAX - len(".") - 8 - len(".partial") - len(".") - len(tail) - 8
    stem = os.fsencode(output.stem)[:max(room, 1)].decode(errors="ignore")
    return output.with_name(f".{stem}{tail}")


class SegmentSource:
    """The frames of one segment of ``clip``: its warm-up frames and its own, as `Frame`s at their
    source timestamps, found by seeking to the keyframe before them and decoding from there
    (from the start where the seek lands late). No audio: the join copies it from the clip.
    Decodes with ``threads`` threads (0: FFmpeg's choice)."""

    audio_streams: list = []  # what a VideoSink copies: nothing
    dropped_streams = 0

    def __init__(self, clip: VideoSource, segment: Segment, threads: int = 0) -> None:
        self.clip, self.segment, self.threads = clip, segment, threads
        self.info = clip.info
        self.path = clip.path

    @property
    def video_stream(self):
        return self.clip.video_stream

    def stream(self) -> Iterator[Frame]:
        seg = self.segment
        for frame in self._decoded(seek=seg.start - seg.warmup > 0):
            if frame.pts < seg.warm_pts:
                continue
            if seg.stop_pts is not None and frame.pts >= seg.stop_pts:
                return
            yield Frame(rgb=reader.to_rgb(frame), pts=frame.pts)

    def _decoded(self, seek: bool) -> Iterator[av.VideoFrame]:
        warm = self.segment.warm_pts
        with reader.open_input(self.path) as container:
            stream = reader.video_stream(container)
            stream.codec_context.thread_count = self.threads
            missed = seek and not reader.seek_before(container, stream, warm)  # a container that cannot seek
            if not missed:
                frames = reader.decode(container, stream)
                first = next(frames, None)
                missed = seek and (first is None or first.pts is None or first.pts > warm)  # landed past the warm-up
                if not missed:
                    yield from ([first] if first is not None else [])
                    yield from frames
        if missed:  # read from the start, as reader.frames_at_times does
            yield from self._decoded(seek=False)

    def close(self) -> None:
        self.clip.close()

    def __enter__(self) -> SegmentSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SegmentSink(Sink):
    """A segment's own pictures into a video-only file at ``temp``: the warm-up and cool-down
    frames' pictures are dropped, the rest encoded as a one-machine run encodes them (the same
    `VideoSink`), with ``threads`` encoder threads (0: x264's choice)."""

    def __init__(self, temp: Path, source: SegmentSource, encode: EncodeConfig, warn: Warn, threads: int = 0) -> None:
        self.sink = VideoSink(temp, SEGMENT_SUFFIX, source, encode, warn)  # type: ignore[arg-type] - a clip's view
        self.sink.writer.stream.codec_context.thread_count = threads  # before the encoder opens
        self.segment = source.segment
        self.written = 0

    def write(self, frame: Frame, picture) -> None:
        end = self.segment.end_pts
        if frame.pts is not None and frame.pts >= self.segment.start_pts and (end is None or frame.pts < end):
            self.sink.write(frame, picture)
            self.written += 1

    def __enter__(self) -> SegmentSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.sink.__exit__(kind, *exc)


def join(segments: list[Segment], clip: VideoSource, temp: Path, suffix: str, warn: Warn,
         strict: bool = False) -> int:
    """Remux the video packets of ``segments`` (in order) and ``clip``'s audio packets into a
    ``suffix`` container at ``temp``: no re-encoding, every frame at its source pts. Audio is
    copied as a one-machine run copies it (re-encoded only where the container cannot hold the
    codec). Returns the number of video packets written."""
    if clip.dropped_streams:
        warn(f"{clip.path.name}: {clip.dropped_streams} subtitle/data/extra video stream(s) are not copied")
    source = clip.container  # open already (its header read), never seeked here
    with av.open(ffmpeg_path(segments[0].path)) as first:
        output = open_output(temp, suffix)
        try:
            template = first.streams.video[0]
            video = output.add_stream_from_template(template)
            video.time_base = clip.info.time_base  # as the one-machine run's encoder sets it
            audio = audio_passthroughs(output, list(source.streams.audio), warn, strict)
            kept = [stream for stream in source.streams.audio if stream.index in audio]
            packets = heapq.merge(_video_packets(segments, first, clip.info.time_base,
                                                 template.codec_context.extradata),
                                  _audio_packets(source, kept), key=lambda item: item[0])
            written = 0
            for _, packet in packets:
                passthrough = audio.get(packet.stream.index) if packet.stream.type == "audio" else None
                if passthrough is not None:
                    passthrough.push(packet)
                    continue
                packet.stream = video
                output.mux(packet)
                written += 1
            for passthrough in audio.values():
                passthrough.finish()
        except av.error.FFmpegError as exc:
            raise VideoError(f"joining the segments of {clip.path.name} failed ({reason(exc)}); check free space "
                             "and the output folder") from None
        finally:
            output.close()
    return written


def _video_packets(segments: list[Segment], first, time_base: Fraction,
                   extradata: bytes | None) -> Iterator[tuple[float, av.Packet]]:
    """Every segment's video packets in order, keyed by their decoding time in seconds (the
    first segment's from ``first``, open already, the others' opened in turn).

    A segment file may give its timestamps back shifted by a constant (MOV's edit list is kept in
    milliseconds: a segment that starts at 20521/30000 s came back at 20520): each segment's
    first packet, its first frame, is put back at the segment's source pts and the rest moved
    with it. A dts that would not increase across a seam is moved up to the last one + 1."""
    last_dts = None
    for index, segment in enumerate(segments):
        with contextlib.nullcontext(first) if index == 0 else av.open(ffmpeg_path(segment.path)) as container:
            stream = container.streams.video[0]
            if stream.codec_context.extradata != extradata:
                raise VideoError(f"segment {segment.path.name} was encoded with other settings than the first; "
                                 "render the clip again")
            start = Fraction(segment.start_pts) * time_base / stream.time_base
            shift, count = None, 0
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                if shift is None:
                    shift = round(start) - packet.pts
                packet.pts += shift
                packet.dts = packet.pts if packet.dts is None else packet.dts + shift
                if last_dts is not None and packet.dts <= last_dts:
                    packet.dts = min(last_dts + 1, packet.pts)
                last_dts = packet.dts
                count += 1
                yield _seconds(packet), packet
        if count != segment.frames:
            raise VideoError(f"segment {segment.path.name} holds {count} frames instead of {segment.frames}; "
                             "render the clip again")


def _audio_packets(source, streams: list) -> Iterator[tuple[float, av.Packet]]:
    if not streams:
        return
    for packet in source.demux(*streams):
        if packet.size:
            yield _seconds(packet), packet


def _seconds(packet: av.Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float(stamp * Fraction(packet.time_base)) if stamp is not None else 0.0

