"""Regenerate samples/before_after.png, the README's picture: README command 1's own preview
(keyframe | stylized keyframe | style), made with the default settings and no download.

    python samples/make_before_after.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

from vidstyle.cli import main

SAMPLES = Path(__file__).resolve().parent
WIDTH = 960  # small enough to commit, large enough to see the brushwork


def make(out: Path = SAMPLES / "before_after.png") -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "clip_styled.mp4"
        code = main([str(SAMPLES / "clip.mp4"), "--style", str(SAMPLES / "starry_night.jpg"), "-o", str(target),
                     "--preview-only", "-q"])
        if code:
            sys.exit(code)
        preview = Path(tmp) / "clip_styled_preview.png"
        with Image.open(preview) as im:
            im.convert("RGB").resize((WIDTH, round(im.height * WIDTH / im.width)), Image.Resampling.LANCZOS).save(
                Path(tmp) / "small.png", optimize=True)
        shutil.move(Path(tmp) / "small.png", out)
    return out


if __name__ == "__main__":
    print(make())
