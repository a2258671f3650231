"""File names that are not valid UTF-8 (Linux allows any bytes but / and NUL; Python carries
the odd bytes as lone surrogates, see os.fsdecode): a clip, an image and a folder of frames
named so are stylized and written beside the input under names that keep those bytes, and
messages that show such a path print it with replacement characters instead of crashing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import FAST, error_line, make_clip, read_clip, run

from vidstyle.errors import printable


def _name(raw: bytes) -> str:
    return os.fsdecode(raw)


@pytest.fixture
def odd(tmp_path) -> Path:
    """``tmp_path``, where a name with a byte that is not UTF-8 can be created (else skip)."""
    probe = os.path.join(os.fsencode(tmp_path), b"probe\xff")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:  # e.g. a filesystem that insists on UTF-8 names
        pytest.skip(f"this filesystem refuses names that are not UTF-8 ({exc.strerror})")
    os.unlink(probe)
    return tmp_path


def _names_in(folder: Path) -> set[bytes]:
    return set(os.listdir(os.fsencode(folder)))


def test_a_clip_whose_name_is_not_utf8_is_stylized_beside_itself(odd, style_path):
    clip = make_clip(odd / _name(b"clip\xff.mp4"), frames=3)
    assert run(clip, "--style", style_path, *FAST) == 0
    out = odd / _name(b"clip\xff_styled.mp4")
    assert b"clip\xff_styled.mp4" in _names_in(odd)
    assert read_clip(out).frames == 3
    assert not [n for n in _names_in(odd) if b".partial" in n]


def test_an_image_whose_name_is_not_utf8_is_stylized_and_the_messages_print(odd, style_path, capsys):
    photo = odd / _name(b"photo\xfe.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(photo)
    # not quiet: the messages that name the input and the output must print too (capsys, like a
    # pipe with a strict encoding, refuses lone surrogates)
    assert run(photo, "--style", style_path, *[a for a in FAST if a != "-q"]) == 0
    err = capsys.readouterr().err
    assert "photo\ufffd_styled.png" in err and "\udcfe" not in err
    assert b"photo\xfe_styled.png" in _names_in(odd)
    with Image.open(odd / _name(b"photo\xfe_styled.png")) as out:
        assert out.size == (60, 40) and getattr(out, "n_frames", 1) == 1


def test_a_folder_of_frames_whose_names_are_not_utf8_is_stylized(odd, style_path):
    frames = odd / _name(b"frames\xfd")
    frames.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        image = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
        Image.fromarray(image).save(frames / _name(b"f\xe9%d.png" % i))  # Latin-1 'é', not UTF-8
    assert run(frames, "--style", style_path, *FAST) == 0
    out = odd / _name(b"frames\xfd_styled")
    assert out.is_dir() and b"frames\xfd_styled" in _names_in(odd)
    written = sorted(_names_in(out))
    assert len(written) == 3 and all(b"\xe9" in n for n in written)
    for name in written:
        with Image.open(os.path.join(os.fsencode(out), name)) as image:
            assert image.size == (48, 32)


def test_an_error_about_such_a_name_is_one_printable_line(odd, style_path, capsys):
    line = error_line(capsys, odd / _name(b"gone\xff.mp4"), "--style", style_path, *FAST)
    assert "gone\ufffd.mp4 does not exist" in line
    shutil.copy(style_path, odd / _name(b"style\xff.jpg"))
    out = odd / _name(b"taken\xff.png")
    out.write_bytes(b"x")
    photo = odd / "photo.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(photo)
    line = error_line(capsys, photo, "--style", odd / _name(b"style\xff.jpg"), "-o", out, *FAST)
    assert "taken\ufffd.png already exists" in line


def test_printable_replaces_only_what_cannot_be_printed():
    assert printable("plain ascii and ünïcode") == "plain ascii and ünïcode"
    assert printable(Path(_name(b"/a/clip\xff.mp4"))) == "/a/clip\ufffd.mp4"
    assert printable(b"caf\xc3\xa9 \xff") == "café \ufffd"
    assert printable(_name("café".encode())) == "café"
    assert printable("lone \ud800 surrogate") == "lone ? surrogate"
