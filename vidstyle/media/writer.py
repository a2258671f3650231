"""Writing clips with PyAV: an H.264 encoder that keeps the source's timestamps, rotation and
colour tags, the source's audio packets copied (or re-encoded only where the container cannot
hold them), and which container an output suffix means.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from vidstyle.config import EncodeConfig
from vidstyle.errors import OutputError, VideoError, option
from vidstyle.media.ffmpeg import SWS_FLAGS, ffmpeg_path, reason
from vidstyle.media.reader import VideoInfo

# Containers that hold H.264; any other input suffix gets an .mp4 output by default.
H264_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".ts", ".mts", ".m2ts", ".avi", ".flv", ".3gp"}
# MPEG-TS keeps no codec list in FFmpeg (its `supported_codecs` names only its defaults): the
# audio codecs its muxer carries, so that they are copied rather than re-encoded.
_TS_AUDIO = {"aac", "aac_latm", "mp2", "mp3", "ac3", "eac3", "opus", "dts", "truehd", "s302m", "pcm_bluray"}
_CONTAINER_OPTIONS = {".mp4": {"movflags": "+faststart"}, ".m4v": {"movflags": "+faststart"},
                      ".mov": {"movflags": "+faststart"}}

Warn = Callable[[str], None]


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


def audio_passthroughs(output: av.container.OutputContainer, streams: list, warn: Warn,
                       strict: bool = False) -> dict[int, AudioPassthrough]:
    """The source's audio ``streams`` in ``output``, by source index; one that the container
    cannot hold is left out with a warning (or, ``strict``, refused)."""
    kept = {}
    for stream in streams:
        try:
            kept[stream.index] = AudioPassthrough(output, stream, warn)
        except (av.error.FFmpegError, ValueError, TypeError) as exc:
            message = (f"audio stream #{stream.index} ({stream.codec_context.name}) cannot be written to "
                       f"this container ({reason(exc)})")
            if strict:
                raise VideoError(f"{message}; choose an .mkv output (or drop {option('strict')} to leave it out)"
                                 ) from None
            warn(f"{message}: it is left out; choose an .mkv output to keep it")
    return kept


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
        self._audio_by_index = audio_passthroughs(output, audio_streams, warn, strict)
        self.audio = list(self._audio_by_index.values())
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
        frame = frame.reformat(format=self.pix_fmt, interpolation=SWS_FLAGS,
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
                raise VideoError(f"writing audio failed ({reason(exc)})") from None

    def finish(self) -> None:
        self._mux(self.stream.encode(None))
        for passthrough in self.audio:
            passthrough.finish()

    def _mux(self, packets) -> None:
        try:
            self.output.mux(packets)
        except av.error.FFmpegError as exc:
            raise VideoError(f"encoding failed ({reason(exc)}); check free space and the output folder") from None


def open_output(path: Path, container_suffix: str) -> av.container.OutputContainer:
    """Open the (temporary) output file with the container chosen by ``container_suffix``."""
    try:
        return av.open(ffmpeg_path(path), mode="w", format=_format_for(container_suffix),
                       options=_CONTAINER_OPTIONS.get(container_suffix, {}))
    except (av.error.FFmpegError, ValueError) as exc:
        raise OutputError(f"cannot write a {container_suffix} video at {path.parent} ({reason(exc)}); "
                          "check the folder is writable or pick .mp4") from None


def _format_for(suffix: str) -> str | None:
    return {".mkv": "matroska", ".m4v": "mp4", ".ts": "mpegts", ".mts": "mpegts",
            ".m2ts": "mpegts", ".mov": "mov", ".mp4": "mp4", ".avi": "avi", ".flv": "flv",
            ".3gp": "3gp"}.get(suffix)
