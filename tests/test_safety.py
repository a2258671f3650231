"""Nothing lost, ever: outputs never touch what a run reads, signals leave nothing behind, damaged
clips and bad values are refused or named, and expected failures are one-line errors."""

import errno
import os
import shutil
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest
import torch
from PIL import Image
from support import FAST, error_line, leftovers, make_clip, read_clip, run, snapshot

from vidstyle.media.sources import VideoSource, training_frames
from vidstyle.pipeline import transcode
from vidstyle.render.renderer import Unchanged


@pytest.fixture
def frames_folder(tmp_path):
    folder = tmp_path / "shots" / "frames"
    folder.mkdir(parents=True)
    rgb = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    for i in range(2):
        Image.fromarray(rgb).save(folder / f"f{i}.png")
    (tmp_path / "shots" / "sibling.txt").write_text("keep me")
    return folder


# -- data loss -----------------------------------------------------------------------------
def test_output_folder_containing_the_input_folder_is_refused(tmp_path, frames_folder, style_path, capsys):
    before = snapshot(tmp_path)
    line = error_line(capsys, frames_folder, "--style", style_path, "-o", frames_folder.parent, "--overwrite", *FAST)
    assert "contains the input" in line
    assert snapshot(tmp_path) == before


def test_output_inside_the_input_folder_is_refused(tmp_path, frames_folder, style_path, capsys):
    line = error_line(capsys, frames_folder, "--style", style_path, "-o", frames_folder / "out", *FAST)
    assert "lies inside the input" in line
    assert not (frames_folder / "out").exists()


def test_output_folder_containing_the_style_image_is_refused(tmp_path, frames_folder, style_path, capsys):
    style = tmp_path / "looks" / "style.jpg"
    style.parent.mkdir()
    shutil.copy(style_path, style)
    before = snapshot(tmp_path)
    line = error_line(capsys, frames_folder, "--style", style, "-o", style.parent, "--overwrite", *FAST)
    assert "contains the style image" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("target", ["input", "style"])
def test_save_model_never_replaces_what_the_run_reads(tmp_path, clip, style_path, capsys, target):
    style = shutil.copy(style_path, tmp_path / "style.jpg")
    before = snapshot(tmp_path)
    victim = clip if target == "input" else style
    line = error_line(capsys, clip, "--style", style, "--save-model", victim, "--overwrite", *FAST)
    assert "itself" in line
    assert snapshot(tmp_path) == before


def test_save_model_and_output_on_one_path_are_refused_before_work(tmp_path, clip, style_path, capsys):
    same = tmp_path / "x.mp4"
    line = error_line(capsys, clip, "--style", style_path, "--save-model", same, "-o", same, *FAST)
    assert "are both" in line and str(same) in line
    assert not same.exists()


def test_save_model_may_not_be_the_model_it_loads(tmp_path, clip, style_path, capsys):
    model = tmp_path / "m.pt"
    assert run(clip, "--style", style_path, "--save-model", model, "-o", tmp_path / "a.mp4", *FAST) == 0
    capsys.readouterr()
    before = model.read_bytes()
    line = error_line(capsys, clip, "--model", model, "--style", style_path, "--finetune-frames", "2",
                      "--save-model", model, "-o", tmp_path / "b.mp4", "--overwrite", *FAST)
    assert "style model" in line and "itself" in line
    assert model.read_bytes() == before


@pytest.mark.parametrize("layout", ["same-name-two-folders", "same-stem-two-containers"])
def test_batch_outputs_that_collide_are_refused_before_work(tmp_path, style_path, capsys, layout):
    if layout == "same-name-two-folders":
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        inputs = [make_clip(tmp_path / "a" / "clip.mp4", frames=3), make_clip(tmp_path / "b" / "clip.mp4", frames=3)]
    else:
        first = make_clip(tmp_path / "clip.mp4", frames=3)
        inputs = [first, shutil.copy(first, tmp_path / "clip.webm")]  # .webm in: an .mp4 out
    out = tmp_path / "out"
    out.mkdir()
    line = error_line(capsys, *inputs, "--style", style_path, "--out-dir", out, "--overwrite", *FAST)
    assert "are both" in line and "clip_styled.mp4" in line
    assert list(out.iterdir()) == []


def test_batch_output_may_not_replace_another_input(tmp_path, style_path, capsys):
    first = make_clip(tmp_path / "clip.mp4", frames=3)
    second = make_clip(tmp_path / "clip_styled.mp4", frames=3)  # the first input's default output
    before = snapshot(tmp_path)
    line = error_line(capsys, first, second, "--style", style_path, "--overwrite", *FAST)
    assert "is the input itself" in line
    assert snapshot(tmp_path) == before


def _trained_model(tmp_path, style_path):
    model = tmp_path / "m.pt"
    seed = make_clip(tmp_path / "seed.mp4", frames=2, audio=None)
    assert run(seed, "--style", style_path, "--save-model", model, "-o", tmp_path / "seed_out.mp4", *FAST) == 0
    return model


@pytest.mark.parametrize("signum,kind", [(signal.SIGTERM, "video"), (signal.SIGHUP, "video"),
                                         (signal.SIGTERM, "folder")])
def test_termination_signals_leave_nothing_behind(tmp_path, style_path, signum, kind):
    model = _trained_model(tmp_path, style_path)
    if kind == "video":
        source = make_clip(tmp_path / "long.mp4", width=320, height=240, frames=400, audio=None)
        target = tmp_path / "long_out.mp4"
    else:
        source = tmp_path / "frames"
        source.mkdir()
        rgb = np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8)
        for i in range(300):
            Image.fromarray(rgb).save(source / f"{i:04d}.png")
        target = tmp_path / "frames_out"
    env = {**os.environ, "VIDSTYLE_LOSS_NETWORK": "pyramid", "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vidstyle", str(source), "--model", str(model), "-o", str(target),
                             "--device", "cpu", "-q", "--no-stabilize"], stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120

    def writing() -> bool:  # a temporary output seen twice 50 ms apart: the planner's writability probe
        # creates and removes one within microseconds, and a poll that met it once failed this test
        if not leftovers(tmp_path):
            return False
        time.sleep(0.05)
        return bool(leftovers(tmp_path))

    while not writing() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not leftovers(tmp_path):  # say where the run was stuck: SIGABRT makes faulthandler print every thread's stack
        ended = proc.poll() is not None
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"the run never started writing in {time.monotonic() - deadline + 120:.0f} s "
                    f"(ended by itself: {ended}): {err}")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert f"stopped by {signal.Signals(signum).name}" in err and "Traceback" not in err
    assert leftovers(tmp_path) == [] and not target.exists()


# -- silently wrong output -------------------------------------------------------------------
@pytest.mark.parametrize("option,value", [("--stabilize-strength", "nan"), ("--content-weight", "nan"),
                                          ("--style-weight", "inf"), ("--content-weight", "-1")])
def test_non_finite_or_negative_weights_are_usage_errors(clip, style_path, capsys, option, value):
    line = error_line(capsys, clip, "--style", style_path, option, value, *FAST, code=2)
    assert option in line
    assert not clip.with_name("clip_styled.mp4").exists()


def test_a_loss_that_turns_nan_stops_training(clip, style_path, capsys, monkeypatch):
    from vidstyle.model import losses

    real = losses.ContentLoss.forward
    monkeypatch.setattr(losses.ContentLoss, "forward", lambda self, f, t: real(self, f, t) * float("nan"))
    line = error_line(capsys, clip, "--style", style_path, *FAST)
    assert "diverged" in line and "nan" in line
    assert not clip.with_name("clip_styled.mp4").exists()


@pytest.mark.parametrize("suffix,options", [(".mp4", {"movflags": "+faststart"}), (".mkv", None)])
def test_a_truncated_clip_is_named_and_strict_refuses_it(tmp_path, style_path, capsys, suffix, options):
    whole = make_clip(tmp_path / f"whole{suffix}", frames=30, options=options)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / f"out{suffix}"
    assert run(cut, "--style", style_path, "-o", out, *FAST) == 0
    err = capsys.readouterr().err
    written = read_clip(out).frames
    assert 0 < written < 30
    assert f"only {written} could be decoded" in err and "30" in err or "31" in err
    line = error_line(capsys, cut, "--style", style_path, "-o", tmp_path / f"strict{suffix}", "--strict", *FAST)
    assert "--strict" in line and "missing" in line
    assert not (tmp_path / f"strict{suffix}").exists() and leftovers(tmp_path) == []


def test_a_complete_clip_gives_no_frame_warning(clip, style_path, capsys):
    assert run(clip, "--style", style_path, "--strict", *FAST) == 0
    assert "missing" not in capsys.readouterr().err


def test_aac_into_mpeg_ts_is_copied_not_reencoded(tmp_path, clip):
    messages = []
    out = tmp_path / "out.ts"
    transcode(clip, out, Unchanged(), warn=messages.append)
    assert messages == []
    (codec, packets, size), = read_clip(out).audio
    (_, src_packets, src_size), = read_clip(clip).audio
    # the same packets, each behind the 7-byte ADTS header MPEG-TS requires (a re-encode would
    # change the sizes, and usually the count)
    assert codec == "aac" and packets == src_packets and size == src_size + 7 * packets


# -- one-line errors for expected failures ------------------------------------------------------
def test_relative_path_with_colons_is_a_file_not_a_protocol(tmp_path, clip, style_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(clip, tmp_path / "take:2.mp4")
    assert run("take:2.mp4", "--style", style_path, "-o", "out:put.mp4", *FAST) == 0
    assert read_clip(tmp_path / "out:put.mp4").frames == 5


def test_mpeg_ts_input_trains_at_the_default_keyframe(tmp_path, clip, style_path):
    ts = tmp_path / "clip.ts"
    transcode(clip, ts, Unchanged())
    with VideoSource(ts) as source:
        middle = training_frames(source, None).frame
    assert middle.shape == (64, 96, 3)
    assert run(ts, "--style", style_path, "-o", tmp_path / "out.mp4", *FAST) == 0
    assert read_clip(tmp_path / "out.mp4").frames == 5


def test_metadata_in_a_broken_encoding_is_read(tmp_path, clip, style_path):
    tagged = tmp_path / "tagged.mkv"
    with av.open(str(clip)) as src, av.open(str(tagged), "w") as out:
        out.metadata["title"] = "QQQQQQQQ"
        copied = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.stream = copied
                out.mux(packet)
    data = tagged.read_bytes()
    assert data.count(b"QQQQQQQQ") == 1
    tagged.write_bytes(data.replace(b"QQQQQQQQ", b"\xe9\xff\xfe\xe9Q\xe9QQ"))  # not UTF-8
    assert run(tagged, "--style", style_path, "-o", tmp_path / "out.mkv", *FAST) == 0
    assert read_clip(tmp_path / "out.mkv").frames == 5


def test_a_pipe_input_is_refused_with_the_fix(tmp_path, style_path, capsys):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    line = error_line(capsys, fifo, "--style", style_path, *FAST)
    assert "not a regular file" in line and "save it to a file" in line


@pytest.mark.parametrize("size", [(8, 8), (11, 40)])
def test_frames_too_small_are_refused_before_work(tmp_path, style_path, capsys, size):
    w, h = size
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(tmp_path / "tiny.png")
    line = error_line(capsys, tmp_path / "tiny.png", "--style", style_path, *FAST)
    assert "too small" in line and "12 px" in line
    clip = make_clip(tmp_path / "tiny.mp4", width=w, height=h, frames=2, audio=None)
    assert "too small" in error_line(capsys, clip, "--style", style_path, *FAST)


def test_small_frames_just_above_the_limit_work(tmp_path, style_path):
    Image.fromarray(np.full((12, 16, 3), 90, np.uint8)).save(tmp_path / "small.png")
    assert run(tmp_path / "small.png", "--style", style_path, *FAST) == 0
    assert Image.open(tmp_path / "small_styled.png").size == (16, 12)


def test_pixel_limit_from_the_header_and_the_option_that_raises_it(tmp_path, style_path, capsys, monkeypatch):
    from vidstyle import session

    small_style = tmp_path / "style.png"
    Image.fromarray(np.full((100, 100, 3), 200, np.uint8)).save(small_style)
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(tmp_path / "big.png")
    with monkeypatch.context() as patched:
        patched.setattr(session, "train_generator", lambda *a, **k: pytest.fail("trained before the check"))
        line = error_line(capsys, tmp_path / "big.png", "--style", small_style, "--max-pixels", "100000", *FAST)
    assert "400x300 (0.12 MP), over the 0.1 MP limit" in line and "--max-pixels 120000" in line
    assert run(tmp_path / "big.png", "--style", small_style, "--max-pixels", "120000", *FAST) == 0


def test_decompression_bomb_header_is_refused(tmp_path, style_path, capsys):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (60000, 60000)).save(bomb)  # a few hundred KB on disk, 3.6 gigapixels
    assert bomb.stat().st_size < 2_000_000
    line = error_line(capsys, bomb, "--style", style_path, *FAST)
    assert "bomb.png" in line and ("limit" in line)


@pytest.mark.parametrize("payload", ["garbage", "not-a-dict", "bad-config", "huge-config", "no-weights", "nan"])
def test_malformed_style_models_are_one_line_errors(tmp_path, clip, style_path, capsys, payload):
    model = _trained_model(tmp_path, style_path)
    data = torch.load(model, weights_only=True)
    if payload == "garbage":
        model.write_bytes(b"\x80\x02garbage" * 10)
    elif payload == "not-a-dict":
        torch.save([1, 2, 3], model)
    else:
        if payload == "bad-config":
            data["generator_config"] = {"base_channels": "sixteen"}
        elif payload == "huge-config":
            data["generator_config"] = {"base_channels": 10**9}
        elif payload == "no-weights":
            data["state_dict"] = {"a": 1}
        else:
            data["state_dict"] = {k: v * float("nan") for k, v in data["state_dict"].items()}
        torch.save(data, model)
    line = error_line(capsys, clip, "--model", model, "-o", tmp_path / "o.mp4", "--device", "cpu")
    assert str(model) in line and "save" in line or "train" in line


@pytest.mark.parametrize("option,value", [("--seed", str(2**70)), ("--steps", str(10**12)),
                                          ("--batch-size", "100000"), ("--train-size", "99999999"),
                                          ("--fast-size", "1000000"), ("--max-pixels", "0")])
def test_out_of_range_integers_are_usage_errors(clip, style_path, capsys, option, value):
    assert option in error_line(capsys, clip, "--style", style_path, option, value, code=2)


def test_output_that_is_a_folder_or_a_link_loop_is_refused_before_work(tmp_path, clip, style_path, capsys):
    (tmp_path / "dir.mp4").mkdir()
    assert "is a folder" in error_line(capsys, clip, "--style", style_path, "-o", tmp_path / "dir.mp4",
                                       "--overwrite", *FAST)
    loop = tmp_path / "loop.mp4"
    loop.symlink_to(loop)
    assert "link loop" in error_line(capsys, clip, "--style", style_path, "-o", loop, "--overwrite", *FAST)


def test_read_only_or_missing_output_folder_is_refused_before_work(tmp_path, clip, style_path, capsys):
    assert "does not exist" in error_line(capsys, clip, "--style", style_path, "-o", tmp_path / "no" / "o.mp4", *FAST)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anywhere: nothing to check
            pytest.skip("running as a user that can write to read-only folders")
        assert "cannot write" in error_line(capsys, clip, "--style", style_path, "-o", locked / "o.mp4", *FAST)
    finally:
        locked.chmod(0o700)


def test_names_near_the_length_limit(tmp_path, clip, style_path, capsys):
    longest = tmp_path / ("x" * 251 + ".mp4")  # 255 bytes: the hidden temporary name must still fit
    assert run(clip, "--style", style_path, "-o", longest, *FAST) == 0
    assert read_clip(longest).frames == 5
    assert "longer than 255 bytes" in error_line(capsys, clip, "--style", style_path, "-o",
                                                 tmp_path / ("y" * 256 + ".mp4"), *FAST)


def test_a_full_disk_is_a_one_line_error_and_leaves_nothing(tmp_path, style_path, capsys, monkeypatch):
    from vidstyle.media import sinks

    Image.fromarray(np.full((30, 40, 3), 120, np.uint8)).save(tmp_path / "p.png")

    def full(path, *args, **kwargs):
        path.write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sinks, "save_image", full)
    line = error_line(capsys, tmp_path / "p.png", "--style", style_path, *FAST)
    assert "no space left on the device" in line
    assert leftovers(tmp_path) == [] and not (tmp_path / "p_styled.png").exists()
