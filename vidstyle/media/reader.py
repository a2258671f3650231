"""Reading clips with PyAV: probing, decoding in order, and finding the frame shown at a time
or an index. PyAV/FFmpeg errors become the tool's own exception types here, at the boundary.

Knows nothing of the model, of progress bars or of what the frames are for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from vidstyle.errors import InputError, VideoError
from vidstyle.limits import DEFAULT_MAX_PIXELS, check_frame_size
from vidstyle.media.ffmpeg import SWS_FLAGS, ffmpeg_path, reason
from vidstyle.media.frames import Frame


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about a clip before it starts."""

    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None  # average frame rate, None if unknown
    frames: int  # container's count, or an estimate from duration; 0 if unknown
    frames_exact: bool  # True when ``frames`` is the container's own count, not an estimate
    duration: float  # seconds, 0.0 if unknown
    start: float  # seconds of the first frame
    rotation: int  # display rotation in degrees, as PyAV reports it
    colorspace: int  # AVColorSpace of the source frames (matrix for YUV<->RGB)
    color_range: int  # AVColorRange: 1 limited (MPEG), 2 full (JPEG), 0 unspecified
    audio_streams: int
    codec: str


def open_input(path: Path) -> av.container.InputContainer:
    """Open a clip for reading; missing, unreadable and non-media files become InputError.
    Metadata in a broken or legacy text encoding is read with replacement characters."""
    if not path.exists():
        raise InputError(f"input {path} does not exist; check the path")
    try:
        container = av.open(ffmpeg_path(path), mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"input {path} is not a readable video ({reason(exc)}); "
                         "pass an MP4, MOV, MKV or WebM clip") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"input {path} has no video stream; pass a video file")
    return container


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads: several times faster decoding
    return stream


def probe(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """Read the clip's geometry, timing and rotation (decodes the first frame only); refuse
    frames too small to stylize or too large for memory."""
    with open_input(path) as container:
        stream = video_stream(container)
        first = next(decode(container, stream), None)
        if first is None:
            raise InputError(f"input {path} has a video stream but no decodable frame; pass a working clip")
        check_frame_size(first.width, first.height, f"{path.name}'s frames", max_pixels)
        time_base = stream.time_base or Fraction(1, 1000)
        rate = stream.average_rate or stream.guessed_rate
        duration = 0.0
        if stream.duration is not None:
            duration = float(stream.duration * time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        frames = stream.frames or (round(duration * float(rate)) if rate and duration else 0)
        return VideoInfo(
            width=first.width, height=first.height, time_base=Fraction(time_base),
            rate=Fraction(rate) if rate else None, frames=int(frames), frames_exact=bool(stream.frames),
            duration=duration,
            start=float(first.time or 0.0), rotation=int(getattr(first, "rotation", 0) or 0),
            colorspace=int(first.colorspace), color_range=int(first.color_range),
            audio_streams=len(container.streams.audio), codec=stream.codec_context.name,
        )


def decode(container: av.container.InputContainer, stream) -> Iterator[av.VideoFrame]:
    try:
        yield from container.decode(stream)
    except av.error.FFmpegError as exc:
        raise VideoError(f"decoding {container.name} failed ({reason(exc)}); the file may be damaged") from None


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """Decoded frame -> uint8 RGB with the frame's own matrix and range (full-range too)."""
    rgb = frame.reformat(format="rgb24", interpolation=SWS_FLAGS, src_color_range=frame.color_range or None)
    return rgb.to_ndarray()


def frame_by_index(path: Path, index: int) -> tuple[np.ndarray | None, int]:
    """The ``index``-th frame in decoding order, or None and the number of frames the clip
    holds when it ends first. Read from a fresh open: counting must start at the very first
    frame, which a seek back cannot promise."""
    n = 0
    with open_input(path) as container:
        for n, frame in enumerate(decode(container, video_stream(container)), start=1):
            if n == index + 1:
                return to_rgb(frame), n
    return None, n


def frames_at_times(container: av.container.InputContainer, times: list[float], path: Path) -> list[np.ndarray]:
    """The frames shown at each time (seconds), found by seeking in ``container`` (the clip at
    ``path``): cheap on long clips. Where a container's seeking misses (MPEG-TS often lands past
    the time, or nowhere), the clip is decoded from its start instead."""
    stream = container.streams.video[0]  # threading set by whoever opened it (`video_stream`)
    out = []
    for t in times:
        frame = _seek_frame(container, stream, t)
        out.append(to_rgb(frame) if frame is not None else _scan_frame(path, t))
    return out


def _seek_frame(container, stream, t: float) -> av.VideoFrame | None:
    offset = int(t / stream.time_base) if stream.time_base else int(t * av.time_base)
    if not seek_before(container, stream, offset):
        return None
    return _shown_at(decode(container, stream), t, strict_start=True)


def seek_before(container: av.container.InputContainer, stream, pts: int) -> bool:
    """Seek to the keyframe at or before ``pts`` (in ``stream``'s time base); False where the
    container cannot seek (the caller decodes from the start instead). Where a seek lands past
    ``pts`` (MPEG-TS often does), the first frame decoded tells."""
    try:
        container.seek(max(pts, 0), stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError:
        return False
    return True


def _scan_frame(path: Path, t: float) -> np.ndarray:
    with open_input(path) as container:
        shown = _shown_at(decode(container, video_stream(container)), t, strict_start=False)
    if shown is None:
        raise VideoError(f"no frame found at {t:.3f}s in {path.name}; the file may be damaged")
    return to_rgb(shown)


def _shown_at(frames: Iterator[av.VideoFrame], t: float, strict_start: bool) -> av.VideoFrame | None:
    """The last frame starting at or before ``t`` (the first frame if all start later, unless
    ``strict_start``: then a first frame past ``t`` means the seek missed, and None)."""
    shown = None
    for frame in frames:
        late = frame.time is not None and frame.time > t + 1e-6
        if late and shown is None and strict_start:
            return None
        if late and shown is not None:
            break
        shown = frame
    return shown


def demux(container: av.container.InputContainer, stream, audio_streams: list) -> Iterator[Frame | av.Packet]:
    """Stream the clip in file order: decoded video frames as `Frame`, audio as raw packets.

    Nothing is held back, so memory does not grow with the clip's length.
    """
    try:
        for packet in container.demux(stream, *audio_streams):
            if packet.stream.type == "video":
                for frame in packet.decode():
                    yield Frame(rgb=to_rgb(frame), pts=frame.pts)
            else:
                yield packet
    except av.error.FFmpegError as exc:
        raise VideoError(f"decoding {container.name} failed ({reason(exc)}); the file may be damaged") from None


def iter_rgb(path: Path, limit: int | None = None) -> Iterator[np.ndarray]:
    """The clip's frames as RGB arrays, in order, streaming (the first ``limit`` only)."""
    with open_input(path) as container:
        stream = video_stream(container)
        for n, item in enumerate(demux(container, stream, [])):
            if limit is not None and n >= limit:
                return
            yield item.rgb


def missing_frames(info: VideoInfo, written: int) -> int:
    """How many frames the clip announced but did not deliver (damaged or truncated files).
    The container's own count must be met exactly; an estimate from the duration only to a
    tolerance, since variable-rate clips make it approximate."""
    short = info.frames - written
    if info.frames_exact:
        return max(0, short)
    return short if short > max(2, 0.05 * info.frames) else 0
