"""End to end on the bundled samples, as the README's first command runs it (built-in loss network, few steps)."""

from conftest import SAMPLES
from media import read_clip

from vidstyle.cli import main


def test_bundled_clip_end_to_end(tmp_path):
    clip = SAMPLES / "clip.mp4"
    before = read_clip(clip)
    assert before.frames <= 4 * 25 + 1 and before.size[0] <= 480 and before.audio  # the sample's own promise
    out = tmp_path / "clip_styled.mp4"
    code = main([str(clip), "--style", str(SAMPLES / "starry_night.jpg"), "-o", str(out),
                 "--steps", "3", "--train-size", "96", "--device", "cpu", "-q"])
    assert code == 0
    after = read_clip(out)
    assert (after.frames, after.pts, after.rate, after.size) == (before.frames, before.pts, before.rate, before.size)
    assert after.audio == before.audio
    assert after.duration == before.duration


def test_bundled_styles_are_images():
    from PIL import Image

    for name in ("starry_night.jpg", "the_scream.jpg"):
        with Image.open(SAMPLES / name) as im:
            assert max(im.size) <= 512
