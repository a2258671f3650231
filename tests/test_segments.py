"""Segments of a clip rendered apart and joined by remuxing (media/segments.py), without Ray:
the join must equal a plain run in frame count, timestamps and audio packets, and a stateful
renderer's pictures must come out the same at the seams once it has warmed up."""

from fractions import Fraction

import numpy as np
import pytest
from support import leftovers, make_clip, pictures, read_clip

from vidstyle.cluster.connect import paths_problem
from vidstyle.cluster.tasks import clear_partials
from vidstyle.cluster.units import split_counts
from vidstyle.config import EncodeConfig
from vidstyle.loop import Renderer, run
from vidstyle.media import segments as sg
from vidstyle.media.outputs import NAME_MAX, atomic_output, temp_path
from vidstyle.media.sources import VideoSource
from vidstyle.pipeline import transcode

LOSSLESS = EncodeConfig(crf=0)  # decoded pictures are the rendered ones: any difference is the renderer's


class Same(Renderer):
    def submit(self, frames):
        return frames

    def draw(self, frames, staged):
        return staged


class Trailing(Renderer):
    """A renderer with memory, as the carrier and the stabilizer have: each picture is half the
    frame and half the last picture, so a segment's first pictures need warm-up frames."""

    def __init__(self):
        self.last = None

    def submit(self, frames):
        out = []
        for rgb in frames:
            self.last = rgb.astype(np.float32) if self.last is None else (self.last + rgb) / 2
            out.append(self.last.round().astype(np.uint8))
        return out

    def draw(self, frames, staged):
        return staged


def plain(clip, out, renderer, encode=LOSSLESS):
    return transcode(clip, out, renderer, encode)


def segmented(clip, out, make_renderer, parts, margin=(8, 0), encode=LOSSLESS):
    pts = sg.frame_timestamps(clip)
    segments = sg.plan_segments(pts, parts, out, "0123abcd", align=8, margin=margin)
    for segment in segments:
        with VideoSource(clip) as video, sg.SegmentSource(video, segment, threads=1) as source, \
                atomic_output(segment.path) as temp, sg.SegmentSink(temp, source, encode, print, threads=1) as sink:
            run(source, make_renderer(), sink)
            assert sink.written == segment.frames
    with VideoSource(clip) as video, atomic_output(out) as temp:
        written = sg.join(segments, video, temp, out.suffix.lower(), print)
    for segment in segments:
        segment.path.unlink()
    return segments, written


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_join_equals_a_plain_run_frames_timestamps_audio_and_pixels(tmp_path, suffix):
    clip = make_clip(tmp_path / f"c{suffix}", frames=40, audio_streams=2, rotation=90)
    plain(clip, tmp_path / f"plain{suffix}", Same())
    segments, written = segmented(clip, tmp_path / f"joined{suffix}", Same, parts=3)
    assert [s.start for s in segments] == [0, 16, 24] and written == 40
    a, b = read_clip(tmp_path / f"plain{suffix}"), read_clip(tmp_path / f"joined{suffix}")
    assert (b.frames, b.pts, b.audio, b.rotation, b.time_base) == (a.frames, a.pts, a.audio, a.rotation, a.time_base)
    assert len(b.audio) == 2 and all(packets > 0 for _, packets, _ in b.audio)
    assert all(np.array_equal(x, y) for x, y in zip(pictures(tmp_path / f"plain{suffix}"),
                                                    pictures(tmp_path / f"joined{suffix}"), strict=True))
    assert leftovers(tmp_path) == [] and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_variable_frame_rate_keeps_every_timestamp(tmp_path):
    pts = [0, 1001, 3003, 4004, 4505, 7007] * 1
    pts = sorted({p + 8008 * k for k in range(8) for p in pts})  # 48 frames, irregular gaps
    clip = make_clip(tmp_path / "vfr.mp4", time_base=Fraction(1, 30000), pts=pts, rate=Fraction(30000, 1001))
    plain(clip, tmp_path / "plain.mp4", Same(), EncodeConfig())
    segmented(clip, tmp_path / "joined.mp4", Same, parts=3, encode=EncodeConfig())
    a, b = read_clip(tmp_path / "plain.mp4"), read_clip(tmp_path / "joined.mp4")
    assert b.pts == a.pts and b.frames == len(pts) and b.audio == a.audio


def test_warm_up_makes_a_stateful_renderer_seamless(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=48)
    plain(clip, tmp_path / "plain.mp4", Trailing())
    want = pictures(tmp_path / "plain.mp4")

    def seam_error(warmup):
        out = tmp_path / f"w{warmup}.mp4"
        segments, _ = segmented(clip, out, Trailing, parts=2, margin=(warmup, 0))
        got = pictures(out)
        start = segments[1].start
        first = max(float(np.abs(g - w).max()) for g, w in zip(got[:start], want[:start], strict=True))
        return float(np.abs(got[start] - want[start]).mean()), first

    cold, before = seam_error(0)
    warm, _ = seam_error(8)
    assert before == 0  # the first segment is the plain run's, picture for picture
    assert cold > 5 and warm < 0.2, (cold, warm)  # without warm-up the seam shows (8 levels); with it, 0.1


def test_boundaries_fall_on_keyframe_gaps_and_names_fit(tmp_path):
    assert sg.boundaries(100, 2, 8) == [0, 48]
    assert sg.boundaries(100, 4, 1) == [0, 25, 50, 75]
    assert sg.boundaries(10, 4, 8) == [0, 8]  # a short clip gets fewer
    assert sg.margins(8, True) == (24, 8) and sg.margins(1, True) == (32, 0) and sg.margins(1, False) == (0, 0)
    long_name = tmp_path / ("x" * 250 + ".mp4")
    segments = sg.plan_segments(list(range(0, 200, 2)), 2, long_name, "0123abcd", align=8, margin=(24, 8))
    first, second = segments
    assert (first.warmup, first.cooldown, first.end_pts, first.stop_pts) == (0, 8, 96, 112)
    assert (second.warmup, second.warm_pts, second.start_pts, second.stop_pts) == (24, 48, 96, None)
    assert all(len(temp_path(s.path).name.encode()) <= NAME_MAX for s in segments)


def test_timestamps_read_from_packets(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=20)
    assert sg.frame_timestamps(clip) == read_clip(clip).pts
    ts = make_clip(tmp_path / "c.ts", frames=20, options=None)
    assert sg.frame_timestamps(ts) is None  # MPEG-TS seeking misses: never split


def test_split_counts():
    assert split_counts([100, 100, 100], workers=2) == [1, 1, 1]  # enough clips: one task each
    assert split_counts([100], workers=2) == [2]
    assert split_counts([100, 20], workers=4) == [2, 1]  # pieces keep 48 frames at least
    assert split_counts([100], workers=1, max_frames=50) == [2]  # an explicit longest segment is kept
    assert split_counts([4000], workers=1) == [3]  # long clips are split however many workers
    assert split_counts([None, 500], workers=3) == [1, 2]  # an image or folder stays whole


def test_a_killed_attempts_temporary_files_are_cleared_and_nobody_elses(tmp_path):
    target = tmp_path / "clip_styled.mp4"
    mine = [temp_path(target), temp_path(target)]
    others = [temp_path(tmp_path / "clip_styled.mkv"), temp_path(tmp_path / "other_styled.mp4")]
    folder = temp_path(tmp_path / "frames_styled")
    for path in mine + others:
        path.write_bytes(b"partial")
    folder.mkdir()
    clear_partials(target)
    clear_partials(tmp_path / "frames_styled")
    assert [p.exists() for p in mine + others + [folder]] == [False, False, True, True, False]


def test_paths_problem_names_what_a_node_cannot_see(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=2)
    assert paths_problem([clip], [tmp_path]) is None
    assert paths_problem([tmp_path / "gone.mp4"], [tmp_path]) == ("read", tmp_path / "gone.mp4", "not found")
    kind, path, _ = paths_problem([clip], [tmp_path / "missing"])
    assert (kind, path) == ("write into", tmp_path / "missing")
