"""Video I/O: what goes in comes out — frame count, timestamps, rate, size, rotation, audio."""

from fractions import Fraction

import numpy as np
import pytest
from support import FAST, make_clip, pattern, read_clip, run, smooth, stylize_clip

from vidstyle.errors import InputError
from vidstyle.media.sources import VideoSource, parse_frame_spec, training_frames
from vidstyle.pipeline import transcode
from vidstyle.render.renderer import Unchanged


def identity_transcode(src, out, messages=None):
    frames = transcode(src, out, Unchanged(), warn=messages.append if messages is not None else None)
    return frames, read_clip(out)


def test_2997_fps_with_aac_keeps_frames_timestamps_and_audio(tmp_path, style_path):
    src = make_clip(tmp_path / "ntsc.mp4", frames=15, time_base=Fraction(1, 30000), rate=Fraction(30000, 1001))
    before = read_clip(src)
    after = stylize_clip(src, tmp_path / "out.mp4", style_path)
    assert after.frames == before.frames == 15
    assert after.pts == before.pts and after.time_base == before.time_base
    assert after.rate == Fraction(30000, 1001)
    assert after.size == before.size
    assert after.duration == pytest.approx(before.duration, abs=1e-3)
    assert after.audio == before.audio  # same codec, packet count and bytes: copied, not re-encoded
    assert after.audio[0][0] == "aac" and after.audio[0][1] > 10
    assert after.pix_fmt == "yuv420p"
    assert not np.array_equal(after.first_rgb, before.first_rgb)  # it was stylized


def test_variable_frame_rate_stays_variable(tmp_path, style_path):
    pts = [0, 40, 90, 100, 180, 260, 270, 400, 410, 500]
    src = make_clip(tmp_path / "vfr.mp4", frames=len(pts), time_base=Fraction(1, 1000), pts=pts)
    before = read_clip(src)
    after = stylize_clip(src, tmp_path / "out.mp4", style_path)
    assert after.times == pytest.approx(before.times, abs=1e-6)
    gaps = np.diff(after.times)
    assert gaps.max() > 3 * gaps.min()


def test_odd_size_and_rotation_are_kept(tmp_path, style_path):
    src = make_clip(tmp_path / "rot.mp4", width=318, height=242, frames=4, rotation=90)
    before = read_clip(src)
    assert before.rotation == 90
    after = stylize_clip(src, tmp_path / "out.mp4", style_path)
    assert after.size == (318, 242) and after.rotation == 90 and after.frames == 4


def test_odd_width_and_height_keep_their_exact_size(tmp_path):
    src = make_clip(tmp_path / "odd.mkv", width=97, height=63, frames=3, audio=None)
    messages = []
    frames, after = identity_transcode(src, tmp_path / "out.mkv", messages=messages)
    assert frames == 3 and after.size == (97, 63) and after.pix_fmt == "yuv444p"
    assert any("odd side" in m for m in messages)


def _first_rgb(path):
    with VideoSource(path) as source:
        return source.frame_at_time(0.0).astype(int)


def test_identity_transcode_keeps_pixels(tmp_path):
    src = make_clip(tmp_path / "c.mp4", painter=smooth, width=128, height=96, frames=3, audio=None)
    assert np.abs(_first_rgb(src) - smooth(128, 96, 0)).mean() < 1.0  # our decode is exact
    identity_transcode(src, tmp_path / "out.mp4")
    before, after = _first_rgb(src), _first_rgb(tmp_path / "out.mp4")
    # no colour-matrix, range or rounding shift: a decode+encode round trip stays put
    assert np.abs(after - before).mean() < 1.0
    assert np.abs(after.mean(axis=(0, 1)) - before.mean(axis=(0, 1))).max() < 0.3


def test_every_audio_stream_is_copied(tmp_path):
    src = make_clip(tmp_path / "two.mkv", frames=6, audio="libopus", audio_streams=2)
    before = read_clip(src)
    _, after = identity_transcode(src, tmp_path / "out.mp4")
    assert len(after.audio) == 2 and after.audio == before.audio


def test_audio_is_reencoded_only_where_the_container_cannot_hold_it(tmp_path):
    src = make_clip(tmp_path / "opus.mkv", frames=6, audio="libopus")
    messages = []
    _, after = identity_transcode(src, tmp_path / "out.3gp", messages=messages)
    assert after.audio[0][0] == "aac" and after.audio[0][1] > 0
    assert any("re-encoding audio" in m and "opus" in m for m in messages)


def test_mkv_output_keeps_frame_timing_to_the_millisecond(tmp_path):
    src = make_clip(tmp_path / "ntsc.mp4", frames=8, time_base=Fraction(1, 30000), rate=Fraction(30000, 1001))
    before = read_clip(src)
    _, after = identity_transcode(src, tmp_path / "out.mkv")
    # Matroska stores no negative times, so its muxer shifts the whole file by the AAC
    # priming delay (as `ffmpeg -c copy` does); the timing between frames is unchanged.
    offset = after.times[0] - before.times[0]
    assert 0 <= offset < 0.05
    assert [t - offset for t in after.times] == pytest.approx(before.times, abs=1e-3)
    assert after.audio[0][1] == before.audio[0][1]


def test_keyframe_by_index_time_and_middle(tmp_path):
    src = make_clip(tmp_path / "k.mp4", width=64, height=48, frames=10, audio=None)
    source = VideoSource(src)
    info = source.info
    assert info.frames == 10 and info.rate == 25 and info.duration == pytest.approx(0.4)

    def nearest(rgb):
        errors = [np.abs(rgb.astype(int) - pattern(64, 48, i)).mean() for i in range(10)]
        return int(np.argmin(errors))

    assert nearest(training_frames(source, "#7").frame) == 7
    assert nearest(training_frames(source, "0.2").frame) == 5
    assert nearest(training_frames(source, None).frame) == 5
    assert [nearest(f) for f in training_frames(source, None, finetune_frames=2).extra] == [2, 7]


@pytest.mark.parametrize("spec", ["abc", "#-1", "-2", "#x"])
def test_bad_keyframe_spec(spec):
    with pytest.raises(InputError, match=r"^train_frame= '.*' is not a time in seconds or #N frame index; use e\.g\."):
        parse_frame_spec(spec)


def test_finetuning_on_more_frames_changes_the_model(tmp_path, style_path, capsys):
    src = make_clip(tmp_path / "f.mp4", frames=6)
    plain = stylize_clip(src, tmp_path / "plain.mp4", style_path)
    out = tmp_path / "tuned.mp4"
    loud = [a for a in FAST if a != "-q"]
    assert run(src, "--style", style_path, "-o", out, *loud, "--finetune-frames", "2", "--finetune-steps", "2") == 0
    assert "fine-tuned on 3 frames" in capsys.readouterr().err  # the keyframe and 2 more
    tuned = read_clip(out)
    assert tuned.frames == 6 and tuned.pts == plain.pts
    change = np.abs(tuned.first_rgb.astype(int) - plain.first_rgb.astype(int)).mean()
    assert change > 0.5, change  # the same seed and keyframe: only the fine-tuning differs
