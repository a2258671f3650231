"""Video in and out with PyAV: probing, frame access, streaming demux/decode, and an encoder
that keeps every timestamp, the rotation, the colour tags and the audio packets of the source.

PyAV/FFmpeg errors are turned into the tool's own exception types here, at the boundary.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.video.reformatter import Interpolation

from vidstyle.config import EncodeConfig
from vidstyle.errors import InputError, OutputError, VideoError
from vidstyle.limits import DEFAULT_MAX_PIXELS, check_frame_size
from vidstyle.reporting import Reporter
from vidstyle.stages import batched, read_ahead, write_behind

# Containers that hold H.264; any other input suffix gets an .mp4 output by default.
H264_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".ts", ".mts", ".m2ts", ".avi", ".flv", ".3gp"}
# MPEG-TS keeps no codec list in FFmpeg (its `supported_codecs` names only its defaults): the
# audio codecs its muxer carries, so that they are copied rather than re-encoded.
_TS_AUDIO = {"aac", "aac_latm", "mp2", "mp3", "ac3", "eac3", "opus", "dts", "truehd", "s302m", "pcm_bluray"}
_CONTAINER_OPTIONS = {".mp4": {"movflags": "+faststart"}, ".m4v": {"movflags": "+faststart"},
                      ".mov": {"movflags": "+faststart"}}

Warn = Callable[[str], None]
# swscale's default RGB<->yuv420p path darkens by about one level per round trip; accurate
# rounding with full chroma interpolation makes decode+encode unbiased (tests check this).
_SWS_FLAGS = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


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


@dataclass(frozen=True)
class Frame:
    """A decoded frame as RGB with the timestamp it must keep."""

    rgb: np.ndarray  # (H, W, 3) uint8 in coded orientation
    pts: int | None


def ffmpeg_path(path: Path) -> str:
    """The path as FFmpeg must see it: absolute, so that a relative name with a colon
    (``take:2.mp4``) is a file, not a protocol URL."""
    return os.path.abspath(path)


def open_input(path: Path) -> av.container.InputContainer:
    """Open a clip for reading; missing, unreadable and non-media files become InputError.
    Metadata in a broken or legacy text encoding is read with replacement characters."""
    if not path.exists():
        raise InputError(f"input {path} does not exist; check the path")
    try:
        container = av.open(ffmpeg_path(path), mode="r", metadata_errors="replace")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"input {path} is not a readable video ({_reason(exc)}); "
                         "pass an MP4, MOV, MKV or WebM clip") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"input {path} has no video stream; pass a video file")
    return container


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0] or exc.__class__.__name__


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame + slice threads: several times faster decoding
    return stream


def probe(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> VideoInfo:
    """Read the clip's geometry, timing and rotation (decodes the first frame only); refuse
    frames too small to stylize or too large for memory."""
    with open_input(path) as container:
        stream = video_stream(container)
        first = next(_decode(container, stream), None)
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


def _decode(container: av.container.InputContainer, stream) -> Iterator[av.VideoFrame]:
    try:
        yield from container.decode(stream)
    except av.error.FFmpegError as exc:
        raise VideoError(f"decoding {container.name} failed ({_reason(exc)}); the file may be damaged") from None


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """Decoded frame -> uint8 RGB with the frame's own matrix and range (full-range too)."""
    rgb = frame.reformat(format="rgb24", interpolation=_SWS_FLAGS, src_color_range=frame.color_range or None)
    return rgb.to_ndarray()


def parse_keyframe(spec: str | None) -> tuple[str, float]:
    """'12.5' -> ('time', 12.5); '#40' -> ('index', 40); None -> ('middle', 0)."""
    if spec is None or spec == "":
        return "middle", 0.0
    try:
        if spec.startswith("#"):
            index = int(spec[1:])
            if index < 0:
                raise ValueError
            return "index", float(index)
        seconds = float(spec)
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError
        return "time", seconds
    except ValueError:
        raise InputError(f"--keyframe '{spec}' is not a time in seconds or #N frame index; "
                         "use e.g. --keyframe 2.5 or --keyframe '#40'") from None


def keyframe(path: Path, spec: str | None, info: VideoInfo) -> np.ndarray:
    """The frame the style model is trained on: a time, a frame index, or the middle."""
    kind, value = parse_keyframe(spec)
    if kind == "index":
        return _frame_by_index(path, int(value))
    t = info.start + (info.duration / 2 if kind == "middle" else value)
    if kind == "time" and info.duration and value > info.duration:
        raise InputError(f"--keyframe {value:g}s is past the end of {path.name} "
                         f"({info.duration:.2f}s); pick an earlier time")
    return frames_at_times(path, [t])[0]


def _frame_by_index(path: Path, index: int) -> np.ndarray:
    with open_input(path) as container:
        for n, frame in enumerate(_decode(container, video_stream(container))):
            if n == index:
                return to_rgb(frame)
    raise InputError(f"--keyframe #{index} is past the end of {path.name} ({n + 1} frames); pick a smaller index")


def frames_at_times(path: Path, times: list[float]) -> list[np.ndarray]:
    """The frames shown at each time (seconds), found by seeking: cheap on long clips. Where a
    container's seeking misses (MPEG-TS often lands past the time, or nowhere), the clip is
    decoded from its start instead."""
    out = []
    with open_input(path) as container:
        stream = video_stream(container)
        for t in times:
            frame = _seek_frame(container, stream, t)
            out.append(to_rgb(frame) if frame is not None else _scan_frame(path, t))
    return out


def _seek_frame(container, stream, t: float) -> av.VideoFrame | None:
    offset = int(t / stream.time_base) if stream.time_base else int(t * av.time_base)
    try:
        container.seek(max(offset, 0), stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError:
        return None
    return _shown_at(_decode(container, stream), t, strict_start=True)


def _scan_frame(path: Path, t: float) -> np.ndarray:
    with open_input(path) as container:
        shown = _shown_at(_decode(container, video_stream(container)), t, strict_start=False)
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


def spread_times(info: VideoInfo, count: int) -> list[float]:
    """``count`` times evenly spread over the clip (centres of equal slices)."""
    length = info.duration or (info.frames / float(info.rate) if info.rate and info.frames else 0.0)
    return [info.start + length * (i + 0.5) / count for i in range(count)]


def output_suffix(input_path: Path) -> str:
    """Keep the source's container when it can hold H.264, else write MP4."""
    suffix = input_path.suffix.lower()
    return suffix if suffix in H264_SUFFIXES else ".mp4"


class AudioPassthrough:
    """One source audio stream in the output: packets copied as they are, or — only where the
    output container cannot hold the codec — decoded and re-encoded to AAC."""

    def __init__(self, output: av.container.OutputContainer, source, warn: Warn) -> None:
        self.output = output
        self.source = source
        name = source.codec_context.name
        self.copy = name in _audio_codecs(output)
        if self.copy:
            self.stream = output.add_stream_from_template(source)
        else:
            warn(f"the output container cannot hold {name} audio: re-encoding audio stream "
                 f"#{source.index} to AAC (choose an .mkv output to copy it unchanged)")
            self.stream = output.add_stream("aac", rate=source.codec_context.sample_rate)
            self.stream.layout = source.codec_context.layout

    def push(self, packet: av.Packet) -> None:
        if self.copy:
            if packet.size == 0:  # demuxer flush marker, not data
                return
            packet.stream = self.stream
            self.output.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            self.output.mux(self.stream.encode(frame))

    def finish(self) -> None:
        if not self.copy:
            self.output.mux(self.stream.encode(None))


def _audio_codecs(output: av.container.OutputContainer) -> set[str]:
    if output.format.name == "mpegts":
        return _TS_AUDIO
    return set(output.supported_codecs)


class VideoWriter:
    """H.264 encoder for stylized frames: the source's pts, time base, rate, size, rotation,
    sample aspect ratio and colour tags; plus the source's audio streams."""

    def __init__(self, output: av.container.OutputContainer, source_stream, audio_streams: list,
                 info: VideoInfo, encode: EncodeConfig, warn: Warn, strict: bool = False) -> None:
        self.output = output
        self.info = info
        self.pix_fmt = encode.pix_fmt
        if encode.pix_fmt == "yuv420p" and (info.width % 2 or info.height % 2):
            self.pix_fmt = "yuv444p"
            warn(f"{info.width}x{info.height} has an odd side, which yuv420p cannot hold: "
                 "encoding yuv444p to keep the exact size (some players need even sizes)")
        stream = output.add_stream(encode.codec, rate=info.rate or Fraction(25))
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = self.pix_fmt
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        stream.options = {"crf": str(encode.crf), "preset": encode.preset}
        src = source_stream.codec_context
        ctx = stream.codec_context
        if src.sample_aspect_ratio:
            ctx.sample_aspect_ratio = src.sample_aspect_ratio
        for tag in ("color_primaries", "color_trc", "colorspace", "color_range"):
            value = getattr(src, tag, None)
            if value:
                setattr(ctx, tag, value)
        if info.rotation:
            stream.set_display_rotation(info.rotation)  # before the header is written
        self.stream = stream
        self.audio = []
        for source in audio_streams:
            try:
                self.audio.append(AudioPassthrough(output, source, warn))
            except (av.error.FFmpegError, ValueError, TypeError) as exc:
                message = (f"audio stream #{source.index} ({source.codec_context.name}) cannot be written to "
                           f"this container ({_reason(exc)})")
                if strict:
                    raise VideoError(f"{message}; choose an .mkv output (or drop --strict to leave it out)") from None
                warn(f"{message}: it is left out; choose an .mkv output to keep it")
        self._audio_by_index = {a.source.index: a for a in self.audio}
        self._last_pts: int | None = None
        self._step = max(1, round(1 / (float(info.rate) * info.time_base))) if info.rate else 1
        self.frames = 0

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        """Encode one stylized frame at the source timestamp ``pts`` (strictly increasing)."""
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._step
        elif self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # a broken source repeats a timestamp; the encoder cannot
        self._last_pts = pts
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.colorspace, frame.color_range = self.info.colorspace, self.info.color_range  # the source's matrix
        frame = frame.reformat(format=self.pix_fmt, interpolation=_SWS_FLAGS,
                               dst_color_range=self.info.color_range or None)
        frame.pts = pts
        frame.time_base = self.info.time_base
        self._mux(self.stream.encode(frame))
        self.frames += 1

    def copy(self, packet: av.Packet) -> None:
        """Pass one source audio packet through (copied, or re-encoded where it must be)."""
        passthrough = self._audio_by_index.get(packet.stream.index)
        if passthrough is not None:
            try:
                passthrough.push(packet)
            except av.error.FFmpegError as exc:
                raise VideoError(f"writing audio failed ({_reason(exc)})") from None

    def finish(self) -> None:
        self._mux(self.stream.encode(None))
        for passthrough in self.audio:
            passthrough.finish()

    def _mux(self, packets) -> None:
        try:
            self.output.mux(packets)
        except av.error.FFmpegError as exc:
            raise VideoError(f"encoding failed ({_reason(exc)}); check free space and the output folder") from None


def open_output(path: Path, container_suffix: str) -> av.container.OutputContainer:
    """Open the (temporary) output file with the container chosen by ``container_suffix``."""
    try:
        return av.open(ffmpeg_path(path), mode="w", format=_format_for(container_suffix),
                       options=_CONTAINER_OPTIONS.get(container_suffix, {}))
    except (av.error.FFmpegError, ValueError) as exc:
        raise OutputError(f"cannot write a {container_suffix} video at {path.parent} ({_reason(exc)}); "
                          "check the folder is writable or pick .mp4") from None


def _format_for(suffix: str) -> str | None:
    return {".mkv": "matroska", ".m4v": "mp4", ".ts": "mpegts", ".mts": "mpegts",
            ".m2ts": "mpegts", ".mov": "mov", ".mp4": "mp4", ".avi": "avi", ".flv": "flv",
            ".3gp": "3gp"}.get(suffix)


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
        raise VideoError(f"decoding {container.name} failed ({_reason(exc)}); the file may be damaged") from None


def iter_rgb(path: Path, limit: int | None = None) -> Iterator[np.ndarray]:
    """The clip's frames as RGB arrays, in order, streaming (the first ``limit`` only)."""
    with open_input(path) as container:
        stream = video_stream(container)
        for n, item in enumerate(demux(container, stream, [])):
            if limit is not None and n >= limit:
                return
            yield item.rgb


QUEUE_CHUNKS = 4  # batches (or audio packets) waiting between two stages: bounds the memory


def transcode(source_path: Path, temp_path: Path, container_suffix: str, info: VideoInfo,
              process: Callable[[list[np.ndarray]], list[np.ndarray]], batch_size: int,
              encode: EncodeConfig, reporter: Reporter,
              finish: Callable[[list[np.ndarray], list[np.ndarray]], list[np.ndarray]] | None = None,
              strict: bool = False) -> int:
    """Decode -> ``process`` in batches -> ``finish(sources, processed)`` -> encode, streaming.

    Decoding runs in one thread, ``process`` in the caller's, ``finish`` (the stabilizer:
    CPU work while ``process`` keeps a GPU busy) and encoding in a third, so all overlap
    (stages.py); audio packets pass straight through. Returns the number of frames written."""
    with open_input(source_path) as source, open_output(temp_path, container_suffix) as sink:
        stream = video_stream(source)
        audio = list(source.streams.audio)
        dropped = len(source.streams) - 1 - len(audio)
        if dropped:
            reporter.warn(f"{source_path.name}: {dropped} subtitle/data/extra video stream(s) are not copied")
        writer = VideoWriter(sink, stream, audio, info, encode, reporter.warn, strict)
        with reporter.bar(info.frames, source_path.name, "frame") as bar:

            def write(chunk: av.Packet | tuple[list[Frame], list[np.ndarray]]) -> None:
                if isinstance(chunk, av.Packet):
                    writer.copy(chunk)
                    return
                frames, outputs = chunk
                if finish is not None:
                    outputs = finish([f.rgb for f in frames], outputs)
                for frame, rgb in zip(frames, outputs, strict=True):
                    writer.write(rgb, frame.pts)
                bar.update(len(frames))

            chunks = batched(demux(source, stream, audio), batch_size, lambda item: isinstance(item, Frame))
            with read_ahead(chunks, QUEUE_CHUNKS, "decoder") as decoded, \
                    write_behind(write, QUEUE_CHUNKS, "encoder") as encode_later:
                for chunk in decoded:
                    if isinstance(chunk, list):
                        chunk = (chunk, process([f.rgb for f in chunk]))
                    encode_later(chunk)
        writer.finish()
        return writer.frames


def missing_frames(info: VideoInfo, written: int) -> int:
    """How many frames the clip announced but did not deliver (damaged or truncated files).
    The container's own count must be met exactly; an estimate from the duration only to a
    tolerance, since variable-rate clips make it approximate."""
    short = info.frames - written
    if info.frames_exact:
        return max(0, short)
    return short if short > max(2, 0.05 * info.frames) else 0
