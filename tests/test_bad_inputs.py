"""The bad-input matrix: each case goes through the real CLI and must end in a non-zero exit,
one error line, no traceback, no 'internal error', nothing left behind and every file in
the folder unchanged, byte for byte."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support import FAST, error_line, leftovers, make_clip, snapshot


def _world(root: Path, style_path: Path) -> dict[str, Path]:
    """A folder as a user might have it: a clip, a photo, a folder of frames, a style, a model."""
    clip = make_clip(root / "clip.mp4", frames=4)
    photo = root / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(photo)
    frames = root / "frames"
    frames.mkdir()
    for i in range(2):
        shutil.copy(photo, frames / f"{i}.png")
    style = Path(shutil.copy(style_path, root / "style.jpg"))
    text = root / "notes.txt"
    text.write_text("hello")
    return {"clip": clip, "photo": photo, "frames": frames, "style": style, "text": text, "root": root}


# (id, args built from the world, what the error line must contain (one fragment or several), exit code)
CASES = [
    ("no-input", lambda w: ["--style", w["style"]], "no input given", 2),
    ("missing-input", lambda w: [w["root"] / "nope.mp4", "--style", w["style"]], "nope.mp4 does not exist", 1),
    ("text-as-video", lambda w: [w["text"], "--style", w["style"]], "notes.txt is not a readable video", 1),
    ("empty-video", lambda w: [_write(w, "empty.mp4", b""), "--style", w["style"]],
     "empty.mp4 is not a readable video", 1),
    ("zero-bytes-video", lambda w: [_write(w, "z.mov", b"\0" * 4096), "--style", w["style"]],
     "z.mov is not a readable video", 1),
    ("random-bytes-video", lambda w: [_write(w, "r.mkv", np.random.default_rng(1).bytes(20000)), "--style", w["style"]],
     "r.mkv is not a readable video", 1),
    ("text-as-image", lambda w: [_write(w, "fake.png", b"text"), "--style", w["style"]],
     "fake.png is not a readable image", 1),
    ("truncated-png", lambda w: [_write(w, "half.png", w["photo"].read_bytes()[:200]), "--style", w["style"]],
     "half.png is not a readable image", 1),
    ("empty-folder", lambda w: [_mkdir(w, "empty"), "--style", w["style"]], "empty holds no images", 1),
    ("folder-of-text", lambda w: [_folder_with(w, "txt", "a.txt"), "--style", w["style"]], "txt holds no images", 1),
    ("missing-style", lambda w: [w["clip"], "--style", w["root"] / "nope.jpg"],
     ("style image", "nope.jpg does not exist"), 1),
    ("style-not-image", lambda w: [w["clip"], "--style", w["text"]],
     ("style file", "notes.txt is not a readable image"), 1),
    ("style-is-folder", lambda w: [w["clip"], "--style", w["frames"]],
     ("style file", "frames is not a readable image"), 1),
    ("no-style", lambda w: [w["clip"]], "no style image given", 1),
    ("output-is-input", lambda w: [w["clip"], "--style", w["style"], "-o", w["clip"], "--overwrite"],
     "clip.mp4 is the input itself", 1),
    ("output-is-style", lambda w: [w["photo"], "--style", w["style"], "-o", w["style"], "--overwrite"],
     "style.jpg is the style image itself", 1),
    ("output-exists", lambda w: [w["photo"], "--style", w["style"], "-o", w["root"] / "clip.mp4"],
     ("clip.mp4 already exists", "--overwrite"), 1),
    ("output-bad-suffix", lambda w: [w["clip"], "--style", w["style"], "-o", w["root"] / "o.webm"],
     "cannot write H.264 video to '.webm'", 1),
    ("image-output-bad-suffix", lambda w: [w["photo"], "--style", w["style"], "-o", w["root"] / "o.xyz"],
     "cannot write images as '.xyz'", 1),
    ("output-folder-missing", lambda w: [w["clip"], "--style", w["style"], "-o", w["root"] / "a" / "b.mp4"],
     ("output folder", "does not exist; create it"), 1),
    ("output-is-folder", lambda w: [w["clip"], "--style", w["style"], "-o", _mkdir(w, "d.mp4"), "--overwrite"],
     "d.mp4 is a folder and cannot be replaced by a file", 1),
    ("folder-out-contains-input", lambda w: [w["frames"], "--style", w["style"], "-o", w["root"], "--overwrite"],
     ("contains the input", "replacing it would delete the input"), 1),
    ("folder-out-inside-input", lambda w: [w["frames"], "--style", w["style"], "-o", w["frames"] / "o"],
     "lies inside the input", 1),
    ("folder-out-contains-style", lambda w: [w["clip"], "--style", w["style"], "--save-model", w["root"],
                                             "--overwrite"],
     ("style model", "is a folder and cannot be replaced by a file"), 1),
    ("save-model-is-input", lambda w: [w["clip"], "--style", w["style"], "--save-model", w["clip"], "--overwrite"],
     "clip.mp4 is the input itself", 1),
    ("save-model-is-style", lambda w: [w["clip"], "--style", w["style"], "--save-model", w["style"],
                                       "--overwrite"], "style.jpg is the style image itself", 1),
    ("save-model-is-output", lambda w: [w["clip"], "--style", w["style"], "--save-model", w["root"] / "x.mp4",
                                        "-o", w["root"] / "x.mp4"],
     ("are both", "x.mp4: one would replace the other"), 1),
    ("save-model-exists", lambda w: [w["clip"], "--style", w["style"], "--save-model", w["text"]],
     ("style model", "notes.txt already exists"), 1),
    ("two-inputs-one-output", lambda w: [w["clip"], w["photo"], "--style", w["style"], "-o", w["root"] / "o.mp4"],
     ("names one output", "--out-dir"), 1),
    ("out-dir-missing", lambda w: [w["clip"], w["photo"], "--style", w["style"], "--out-dir", w["root"] / "no"],
     ("--out-dir", "does not exist"), 1),
    ("batch-collision", lambda w: [w["clip"], _copy(w, "clip", "clip.webm"), "--style", w["style"], "--out-dir",
                                   _mkdir(w, "out"), "--overwrite"],
     ("are both", "clip_styled.mp4: one would replace the other"), 1),
    ("model-missing", lambda w: [w["clip"], "--model", w["root"] / "nope.pt"],
     ("style model", "nope.pt does not exist"), 1),
    ("model-is-text", lambda w: [w["clip"], "--model", w["text"]], "notes.txt is not a vidstyle style model", 1),
    ("model-is-other-pickle", lambda w: [w["clip"], "--model", _torch_save(w, "o.pt", {"a": 1})],
     "o.pt is not a vidstyle style model", 1),
    ("weights-file-missing", lambda w: [w["clip"], "--style", w["style"], "--vgg-weights", w["root"] / "n.pth",
                                        "--loss-network", "vgg19"], "n.pth does not exist", 1),
    ("weights-file-is-text", lambda w: [w["clip"], "--style", w["style"], "--vgg-weights", w["text"],
                                        "--loss-network", "vgg19"], "cannot read VGG19 weights from", 1),
    ("weights-wrong-dict", lambda w: [w["clip"], "--style", w["style"], "--vgg-weights",
                                      _torch_save(w, "w.pth", {"x": torch.zeros(2)}), "--loss-network", "auto"],
     "is not a VGG19 state dict", 1),
    ("weights-not-tensors", lambda w: [w["clip"], "--style", w["style"], "--vgg-weights",
                                       _torch_save(w, "v.pth", {"features.0.weight": "no"}), "--loss-network",
                                       "auto"], "v.pth holds no state dict of tensors", 1),
    ("keyframe-garbage", lambda w: [w["clip"], "--style", w["style"], "--keyframe", "abc"],
     "'abc' is not a time in seconds or #N frame index", 1),
    ("keyframe-past-end", lambda w: [w["clip"], "--style", w["style"], "--keyframe", "#999"],
     "#999 is past the end of clip.mp4 (4 frames)", 1),
    ("keyframe-time-past-end", lambda w: [w["clip"], "--style", w["style"], "--keyframe", "99"],
     "99s is past the end of clip.mp4", 1),
    ("keyframe-nan", lambda w: [w["clip"], "--style", w["style"], "--keyframe", "nan"],
     "'nan' is not a time in seconds", 1),
    ("folder-keyframe-time", lambda w: [w["frames"], "--style", w["style"], "--keyframe", "1.5"],
     ("a folder of frames takes", "(a frame index), not a time"), 1),
    ("crf-out-of-range", lambda w: [w["clip"], "--style", w["style"], "--crf", "99"],
     ("--crf", "99 is not in the range"), 2),
    ("steps-negative", lambda w: [w["clip"], "--style", w["style"], "--steps", "-3"],
     ("--steps", "-3 is not in the range"), 2),
    ("steps-huge", lambda w: [w["clip"], "--style", w["style"], "--steps", "1" + "0" * 30],
     ("--steps", "is not in the range"), 2),
    ("seed-huge", lambda w: [w["clip"], "--style", w["style"], "--seed", "1" + "0" * 30],
     ("--seed", "is not in the range"), 2),
    ("train-size-tiny", lambda w: [w["clip"], "--style", w["style"], "--train-size", "3"],
     ("--train-size", "3 is not in the range 32<=x"), 2),
    ("strength-nan", lambda w: [w["clip"], "--style", w["style"], "--stabilize-strength", "nan"],
     ("--stabilize-strength", "'nan' is not a finite number"), 2),
    ("strength-too-high", lambda w: [w["clip"], "--style", w["style"], "--stabilize-strength", "5"],
     ("--stabilize-strength", "5 is not in the range"), 2),
    ("content-weight-inf", lambda w: [w["clip"], "--style", w["style"], "--content-weight", "inf"],
     ("--content-weight", "'inf' is not a finite number"), 2),
    ("style-weight-text", lambda w: [w["clip"], "--style", w["style"], "--style-weight", "lots"],
     ("--style-weight", "'lots' is not a number"), 2),
    ("unknown-option", lambda w: [w["clip"], "--style", w["style"], "--colour", "red"], "No such option '--colour'", 2),
    ("bad-device", lambda w: [w["clip"], "--style", w["style"], "--device", "tpu"],
     ("--device", "'tpu' is not one of"), 2),
    ("cuda-absent", lambda w: [w["clip"], "--style", w["style"], "--device", "cuda"], "no CUDA GPU is available", 1),
    ("bad-preset", lambda w: [w["clip"], "--style", w["style"], "--preset", "warp"],
     ("--preset", "'warp' is not one of"), 2),
    ("max-pixels-small", lambda w: [w["photo"], "--style", w["style"], "--max-pixels", "100"],
     ("photo.png is 60x40", "--max-pixels 2400"), 1),
    ("weights-with-builtin", lambda w: [w["clip"], "--style", w["style"], "--vgg-weights", w["text"],
                                        "--loss-network", "pyramid"],
     "--vgg-weights is for the vgg19 loss network, not pyramid", 1),
    ("unknown-loss-network", lambda w: [w["clip"], "--style", w["style"], "--loss-network", "alexnet"],
     ("--loss-network", "'alexnet' is not one of"), 2),
    ("strength-out-of-range", lambda w: [w["clip"], "--style", w["style"], "--strength", "0"],
     ("--strength", "0 is not in the range"), 2),
    ("pipe-input", lambda w: [_fifo(w), "--style", w["style"]], "pipe.mp4 is not a regular file", 1),
    ("eval-missing-styled", lambda w: ["eval", w["clip"], w["root"] / "nope.mp4", "--style", w["style"]],
     "nope.mp4 does not exist", 1),
    ("eval-different-clip", lambda w: ["eval", w["clip"], _clip(w, "other.mp4", 2), "--style", w["style"]],
     "other.mp4 has fewer frames than clip.mp4", 1),
]


def _write(w, name: str, data: bytes) -> Path:
    path = w["root"] / name
    path.write_bytes(data)
    return path


def _mkdir(w, name: str) -> Path:
    path = w["root"] / name
    path.mkdir(exist_ok=True)
    return path


def _folder_with(w, name: str, file: str) -> Path:
    folder = _mkdir(w, name)
    (folder / file).write_text("x")
    return folder


def _copy(w, key: str, name: str) -> Path:
    return Path(shutil.copy(w[key], w["root"] / name))


def _torch_save(w, name: str, obj) -> Path:
    path = w["root"] / name
    torch.save(obj, path)
    return path


def _fifo(w) -> Path:
    path = w["root"] / "pipe.mp4"
    os.mkfifo(path)
    return path


def _clip(w, name: str, frames: int) -> Path:
    return make_clip(w["root"] / name, frames=frames)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, style_path, capsys, case):
    _, build, expected, code = case
    world = _world(tmp_path, style_path)
    args = build(world)
    before = snapshot(tmp_path)
    fast = [] if args and args[0] == "eval" else FAST
    line = error_line(capsys, *fast, *args, code=code)  # the case's own options come last and win
    for fragment in (expected,) if isinstance(expected, str) else expected:
        assert fragment and fragment in line, (fragment, line)
    assert leftovers(tmp_path) == []
    assert snapshot(tmp_path) == before
