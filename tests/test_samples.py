"""End to end on the bundled samples, as the README's first command runs it (built-in loss network, few steps)."""


import numpy as np
from support import SAMPLES, read_clip

from vidstyle.cli import main
from vidstyle.media.images import load_image


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


def test_bundled_styles_are_real_paintings():
    """Each bundled style decodes to a textured RGB picture of at most 512 px with its own
    palette: Starry Night's night blues, The Scream's sunset oranges."""
    starry, scream = (load_image(SAMPLES / name) for name in ("starry_night.jpg", "the_scream.jpg"))
    for image in (starry, scream):
        assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3 and image.alpha is None
        assert 256 <= max(image.rgb.shape[:2]) <= 512
        assert image.rgb.std() > 40  # texture and contrast, not a flat or blank file
    r, g, b = starry.rgb.reshape(-1, 3).mean(axis=0)
    assert b > r + 20
    r, g, b = scream.rgb.reshape(-1, 3).mean(axis=0)
    assert r > b + 40
