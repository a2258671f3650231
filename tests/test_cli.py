"""The command line as users run it: modes, batch, errors, and never a partial output."""

import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from support import FAST, leftovers, make_clip, read_clip, run

from vidstyle import __version__
from vidstyle.cli import main
from vidstyle.media.preview import MARK


@pytest.fixture
def photo(tmp_path):
    yy, xx = np.mgrid[0:45, 0:61]
    rgb = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg")
    return tmp_path / "photo.jpg"


def test_video_default_output_beside_the_input(clip, style_path):
    assert run(clip, "--style", style_path, *FAST) == 0
    out = clip.with_name("clip_styled.mp4")
    assert read_clip(out).frames == 5
    assert leftovers(clip.parent) == []


def test_image_mode_keeps_size_and_writes_png(photo, style_path):
    assert run(photo, "--style", style_path, *FAST) == 0
    out = Image.open(photo.with_name("photo_styled.png"))
    assert out.format == "PNG" and out.size == (61, 45)


def test_rgba_image_keeps_its_alpha(tmp_path, style_path):
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 3] = np.arange(30, dtype=np.uint8)[None, :] * 8
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert run(tmp_path / "a.png", "--style", style_path, "-o", tmp_path / "b.png", *FAST) == 0
    out = np.asarray(Image.open(tmp_path / "b.png"))
    assert out.shape == (20, 30, 4) and np.array_equal(out[..., 3], rgba[..., 3])


def test_folder_of_frames_keeps_names(tmp_path, photo, style_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        shutil.copy(photo, frames / f"f{i:03d}.jpg")
    (frames / "notes.txt").write_text("not a frame")
    assert run(frames, "--style", style_path, *FAST) == 0
    out = tmp_path / "frames_styled"
    assert sorted(p.name for p in out.iterdir()) == ["f000.jpg", "f001.jpg", "f002.jpg"]
    assert Image.open(out / "f001.jpg").size == (61, 45)
    assert leftovers(tmp_path) == []


def test_batch_trains_once_and_survives_a_bad_input(tmp_path, clip, photo, style_path, capsys):
    other = make_clip(tmp_path / "second.mkv", frames=4)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    out = tmp_path / "out"
    out.mkdir()
    code = main([str(clip), str(bad), str(other), str(photo), "--style", str(style_path), "--out-dir", str(out),
                 "--steps", "2", "--train-size", "64", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["clip_styled.mp4", "clip_styled_preview.png", "photo_styled.png",
                                                     "second_styled.mkv", "second_styled_preview.png"]
    assert err.count("training the style model") == 1  # trained once, reused for all inputs
    assert "3 of 4 inputs stylized" in err and "bad.mp4: FAILED" in err and "not a readable video" in err
    assert "Traceback" not in err


def test_saved_model_is_reused_without_training(tmp_path, photo, style_path, capsys):
    model = tmp_path / "starry.pt"
    assert run(photo, "--style", style_path, "--save-model", model, "-o", tmp_path / "a.png", *FAST) == 0
    capsys.readouterr()
    assert run(photo, "--model", model, "-o", tmp_path / "b.png", "--device", "cpu") == 0
    err = capsys.readouterr().err
    assert "training" not in err and "loaded style model" in err
    a, b = np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png"))
    assert np.array_equal(a, b)


def test_a_saved_painting_model_renders_a_clip_without_seeking_a_training_frame(tmp_path, style_path, monkeypatch,
                                                                                capsys):
    from vidstyle import pipeline

    clip, model = make_clip(tmp_path / "c.mp4", frames=6), tmp_path / "m.pt"
    assert run(clip, "--style", style_path, "--save-model", model, "--preview-only", "-o", tmp_path / "p.mp4",
               "--strength", "2", *FAST) == 0
    seeks = []
    read = pipeline.training_frames
    monkeypatch.setattr(pipeline, "training_frames", lambda *args, **kw: seeks.append(args) or read(*args, **kw))
    assert run(clip, "--model", model, "-o", tmp_path / "o.mp4", "--device", "cpu", "-q") == 0
    assert seeks == [] and read_clip(tmp_path / "o.mp4").frames == 6  # no preview to write: nothing to seek
    capsys.readouterr()
    # a frame the user names is still read, and checked: past the end is an error, not ignored
    assert run(clip, "--model", model, "-o", tmp_path / "x.mp4", "--train-frame", "#40", "--device", "cpu") != 0
    assert len(seeks) == 1 and "#40 is past the end" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()
    # and for a preview: its note names the network and the strength the model was trained with,
    # not "-" nor this run's --strength (which trains nothing)
    assert run(clip, "--model", model, "--style", style_path, "--preview-only", "-o", tmp_path / "y.mp4", "-q") == 0
    with Image.open(tmp_path / "y_preview.png") as sheet:
        assert sheet.text[MARK] == "strength 2, loss network pyramid"


def _error(capsys, *args):
    code = run(*args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0
    assert "Traceback" not in err
    return code, lines[-1]


def test_missing_input(tmp_path, style_path, capsys):
    code, line = _error(capsys, tmp_path / "nope.mp4", "--style", style_path, *FAST)
    assert line == f"vidstyle: error: input {tmp_path / 'nope.mp4'} does not exist; check the path"
    assert list(tmp_path.iterdir()) == []


def test_not_a_video(tmp_path, style_path, capsys):
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00" * 1000)
    _, line = _error(capsys, fake, "--style", style_path, *FAST)
    assert "is not a readable video" in line and "pass an MP4" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.mp4"]


def test_audio_only_file_is_not_a_video(tmp_path, style_path, capsys):
    import av

    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as out:
        s = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp", layout="stereo")
        frame.sample_rate = 48000
        out.mux(s.encode(frame))
        out.mux(s.encode(None))
    _, line = _error(capsys, path, "--style", style_path, *FAST)
    assert "has no video stream" in line


def test_style_that_is_not_an_image(clip, tmp_path, capsys):
    bad_style = tmp_path / "style.jpg"
    bad_style.write_text("text")
    _, line = _error(capsys, clip, "--style", bad_style, *FAST)
    assert "style file" in line and "is not a readable image" in line
    assert not clip.with_name("clip_styled.mp4").exists()


def test_missing_style_option(clip, capsys):
    _, line = _error(capsys, clip, *FAST)
    assert "--style" in line


def test_output_equal_to_input(clip, style_path, capsys):
    before = clip.read_bytes()
    _, line = _error(capsys, clip, "--style", style_path, "-o", clip, "--overwrite", *FAST)
    assert "is the input itself" in line
    assert clip.read_bytes() == before


def test_existing_output_needs_overwrite(clip, style_path, capsys):
    out = clip.with_name("clip_styled.mp4")
    out.write_bytes(b"keep me")
    _, line = _error(capsys, clip, "--style", style_path, *FAST)
    assert "already exists; pass --overwrite" in line
    assert out.read_bytes() == b"keep me"
    assert run(clip, "--style", style_path, "--overwrite", *FAST) == 0
    assert read_clip(out).frames == 5


def _offline(monkeypatch):
    monkeypatch.delenv("VIDSTYLE_LOSS_NETWORK")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(socket.gaierror(-2, "offline")))


def test_offline_vgg19_asked_for_by_name_stops_before_any_work(clip, style_path, capsys, monkeypatch):
    _offline(monkeypatch)
    _, line = _error(capsys, clip, "--style", style_path, "--loss-network", "vgg19", *FAST)
    assert "VGG19 ImageNet weights are not available" in line and "--vgg-weights" in line
    assert sorted(p.name for p in clip.parent.iterdir() if p.name != "torch-home") == ["clip.mp4"]


def test_offline_auto_stylizes_with_the_builtin_network_and_says_so_in_one_line(tmp_path, clip, style_path, capsys,
                                                                                monkeypatch):
    _offline(monkeypatch)
    model = tmp_path / "m.pt"
    assert run(clip, "--style", style_path, "--save-model", model, *FAST) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vidstyle: note:")]
    assert len(notes) == 1 and "built-in loss network" in notes[0] and "--vgg-weights" in notes[0]
    assert read_clip(clip.with_name("clip_styled.mp4")).frames == 5
    import torch

    assert torch.load(model, weights_only=True)["info"]["loss_network"] == "random-vgg"


def test_a_weights_file_that_fails_is_never_replaced_by_the_fallback(tmp_path, clip, style_path, capsys, monkeypatch):
    _offline(monkeypatch)
    _, line = _error(capsys, clip, "--style", style_path, "--vgg-weights", tmp_path / "nope.pth", *FAST)
    assert "does not exist" in line


def test_bad_option_value_is_a_usage_error(clip, style_path, capsys):
    code = run(clip, "--style", style_path, "--crf", "99")
    assert code == 2 and "--crf" in capsys.readouterr().err


def test_debug_flag_shows_the_traceback(tmp_path, style_path, capsys, monkeypatch):
    monkeypatch.setenv("VIDSTYLE_DEBUG", "1")
    run(tmp_path / "nope.mp4", "--style", style_path)
    assert "Traceback" in capsys.readouterr().err


def test_ctrl_c_leaves_no_partial_output(clip, style_path, capsys, monkeypatch):
    from vidstyle.render import stylize

    calls = []

    def interrupted(self, frames):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return frames

    monkeypatch.setattr(stylize.Stylizer, "__call__", interrupted)
    code = run(clip, "--style", style_path, *FAST, "--keyframes", "every")  # the generator on every frame
    assert code == 130 and "interrupted" in capsys.readouterr().err
    # the preview, complete before rendering began, stays; nothing of the render does
    assert sorted(p.name for p in clip.parent.iterdir() if p.name != "torch-home") == ["clip.mp4",
                                                                                        "clip_styled_preview.png"]


def test_version_and_python_dash_m():
    assert main(["--version"]) == 0
    done = subprocess.run([sys.executable, "-m", "vidstyle", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and __version__ in done.stdout


def test_fast_path_video_keeps_frames_timestamps_size_and_audio(tmp_path, style_path):
    src = make_clip(tmp_path / "wide.mp4", width=200, height=120, frames=8)
    model = tmp_path / "m.pt"
    assert run(src, "--style", style_path, "--save-model", model, "-o", tmp_path / "a.mp4", "--no-fast", *FAST) == 0
    outputs = {}
    for flag in ("--fast", "--no-fast"):
        outputs[flag] = tmp_path / f"out{flag}.mp4"
        assert run(src, "--model", model, flag, "--fast-size", "64", "-o", outputs[flag], "-q", "--device", "cpu") == 0
    before, fast, full = read_clip(src), read_clip(outputs["--fast"]), read_clip(outputs["--no-fast"])
    assert fast.frames == before.frames == 8 and fast.pts == before.pts
    assert fast.size == (200, 120) and fast.audio == before.audio
    assert not np.array_equal(fast.first_rgb, full.first_rgb)  # it did take another path
    assert leftovers(tmp_path) == []


def test_unknown_precision_is_a_usage_error(clip, style_path, capsys):
    assert run(clip, "--style", style_path, "--precision", "fp8", *FAST) == 2
    assert "fp8" in capsys.readouterr().err


def test_the_gpu_speed_options_reach_the_run_config(clip, style_path, monkeypatch):
    """--runtime compile --precision fp16 --channels-last: the fastest 1080p stylizing measured
    on an H200 (README, On a GPU); each option lands in the config the run is given."""
    import vidstyle.api

    given = []
    monkeypatch.setattr(vidstyle.api, "stylize_files", lambda inputs, config, **kw: given.append(config) or [])
    assert run(clip, "--style", style_path, "--runtime", "compile", "--precision", "fp16", "--channels-last") == 0
    assert run(clip, "--style", style_path) == 0
    fast, default = (c.inference for c in given)
    assert (fast.runtime, fast.precision, fast.channels_last) == ("compile", "fp16", True)
    assert (default.runtime, default.precision, default.channels_last) == ("auto", "auto", False)


def test_skip_existing_resumes_a_stopped_batch(tmp_path, style_path, capsys):
    a, b = make_clip(tmp_path / "a.mp4", frames=4), make_clip(tmp_path / "b.mp4", frames=4)
    out = tmp_path / "out"
    out.mkdir()
    assert run(a, "--style", style_path, "--out-dir", out, *FAST) == 0  # the batch stopped after a
    done = (out / "a_styled.mp4").read_bytes()
    capsys.readouterr()
    assert run(a, b, "--style", style_path, "--out-dir", out, "--skip-existing", *FAST) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "a_styled.mp4 (exists)" in err
    assert (out / "a_styled.mp4").read_bytes() == done  # left alone
    assert read_clip(out / "b_styled.mp4").frames == 4
    assert run(a, b, "--style", style_path, "--out-dir", out, *FAST) == 1  # without it, existing outputs refuse


def test_help_states_the_training_defaults_a_run_resolves(capsys):
    """The --steps and --train-size help must name what a run actually uses on each device
    (it once said 200 steps on a CPU after the default had become 90)."""
    import re

    from vidstyle.config import TrainConfig

    assert run("--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    steps = re.search(r"Training steps\. Default: (\d+) on CPU, (\d+) on GPU \(--photoreal: (\d+), (\d+)\)", text)
    size = re.search(r"training frame, aspect kept\. Default: (\d+) on CPU, (\d+) on GPU \(--photoreal: (\d+), (\d+)\)",
                     text)
    assert steps and size, text[:300]
    for index, (device, photoreal) in enumerate([("cpu", False), ("cuda", False), ("cpu", True), ("cuda", True)]):
        resolved = TrainConfig(photoreal=photoreal).for_device(device)
        assert (int(steps.group(index + 1)), int(size.group(index + 1))) == (resolved.steps, resolved.train_size)
