"""The streaming render of a clip: decode -> stylize -> stabilize -> encode, each stage in its
own thread joined by bounded queues (stages.py), audio passed straight through.

Here, not in the PyAV reader or writer: they know nothing of reporters, models or stabilizers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from vidstyle.config import EncodeConfig
from vidstyle.media.reader import Frame, VideoInfo, demux, open_input, video_stream
from vidstyle.media.writer import VideoWriter, open_output
from vidstyle.render.stages import batched, read_ahead, write_behind
from vidstyle.reporting import Reporter

QUEUE_CHUNKS = 4  # batches (or audio packets) waiting between two stages: bounds the memory


def transcode(source_path: Path, temp_path: Path, container_suffix: str, info: VideoInfo,
              process: Callable[[list[np.ndarray]], list[np.ndarray]], batch_size: int,
              encode: EncodeConfig, reporter: Reporter,
              finish: Callable[[list[np.ndarray], list[np.ndarray]], list[np.ndarray]] | None = None,
              strict: bool = False) -> int:
    """Decode -> ``process`` in batches -> ``finish(sources, processed)`` -> encode, streaming.

    Decoding runs in one thread, ``process`` in the caller's, ``finish`` (the stabilizer:
    CPU work while ``process`` keeps a GPU busy) and encoding in a third, so all overlap
    (stages.py); audio packets pass straight through. ``process`` may hand back fewer frames
    than it was given — the oldest ones, in order — and the rest from its ``flush()`` at the
    end (the keyframe carrier holds frames until their next keyframe). Returns the number of
    frames written."""
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
            waiting: deque[Frame] = deque()  # given to ``process``, not yet handed back

            def done(outputs: list[np.ndarray]) -> tuple[list[Frame], list[np.ndarray]]:
                return [waiting.popleft() for _ in outputs], outputs

            with read_ahead(chunks, QUEUE_CHUNKS, "decoder") as decoded, \
                    write_behind(write, QUEUE_CHUNKS, "encoder") as encode_later:
                for chunk in decoded:
                    if isinstance(chunk, list):
                        waiting.extend(chunk)
                        chunk = done(process([f.rgb for f in chunk]))
                    encode_later(chunk)
                flush = getattr(process, "flush", None)
                if flush is not None:
                    encode_later(done(flush()))
        writer.finish()
        return writer.frames
