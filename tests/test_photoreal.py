"""Photoreal looks: the reference photo's colour on the frame, every edge kept; LUTs baked and applied."""

import av
import cv2
import numpy as np
import pytest
from PIL import Image
from support import make_clip, read_clip, run

import vidstyle
from vidstyle.errors import InputError
from vidstyle.media import reader
from vidstyle.media.cube import read_cube
from vidstyle.quality.metrics import colour_ratio, gradient_correlation
from vidstyle.render.lut import lut3d_graph

PHOTOS = ["--steps", "40", "--device", "cpu", "-q"]


def scene(width: int, height: int, i: int) -> np.ndarray:
    """A bright sky over a green field with a red house that slides: colour regions and edges."""
    img = np.zeros((height, width, 3), np.uint8)
    img[: height // 2] = (150, 190, 235)
    img[height // 2:] = (70, 140, 60)
    x = 10 + 3 * i
    img[height // 2 - 14:height // 2 + 6, x:x + 24] = (190, 50, 40)
    img[height // 2 - 20:height // 2 - 14, x + 4:x + 20] = (90, 40, 30)
    return img


def dusk(width: int = 120, height: int = 80) -> np.ndarray:
    """A reference photo: an orange dusk sky over dark purple ground."""
    img = np.zeros((height, width, 3), np.uint8)
    img[: height // 2] = (240, 140, 60)
    img[height // 2:] = (60, 30, 70)
    return img


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "dusk.png"
    Image.fromarray(dusk()).save(path)
    return path


def test_photoreal_clip_takes_the_colours_and_keeps_every_edge(tmp_path, reference):
    clip = make_clip(tmp_path / "c.mp4", painter=scene, width=96, height=64, frames=8)
    out = tmp_path / "graded.mp4"
    assert run(clip, "--style", reference, "--photoreal", "-o", out, "--crf", "0", *PHOTOS) == 0
    before, after = read_clip(clip), read_clip(out)
    assert after.frames == before.frames and after.pts == before.pts and after.audio == before.audio
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        pairs = list(zip((f.to_ndarray(format="rgb24") for f in a.decode(video=0)),
                         (f.to_ndarray(format="rgb24") for f in b.decode(video=0)), strict=True))
    target = dusk()
    for source, graded in pairs:
        assert gradient_correlation(graded, source) > 0.95  # edges where they were
        assert colour_ratio(graded, source, target) < 0.6  # the reference's colours
    # one grade for the clip: a frame that did not change stays as it was graded (no flicker)
    still = slice(0, 10)  # the sky: the same in every source frame
    assert np.abs(pairs[1][0][still].astype(int) - pairs[2][0][still]).mean() < 1.0
    assert np.abs(pairs[1][1][still].astype(int) - pairs[2][1][still]).mean() < 1.0


def test_save_lut_bakes_the_look_for_editors_and_ffmpeg(tmp_path, reference):
    clip = make_clip(tmp_path / "c.mp4", painter=scene, width=96, height=64, frames=4)
    cube = tmp_path / "look.cube"
    assert run(clip, "--style", reference, "--photoreal", "--save-lut", cube, "-o", tmp_path / "g.mp4",
               *PHOTOS) == 0
    lut = read_cube(cube)
    assert lut.size == 33 and "LUT_3D_SIZE 33" in cube.read_text().splitlines()[:4]
    # FFmpeg's own lut3d filter, from the command line where there is one, reads the file and moves
    # the colours where vidstyle's --lut does
    frame = scene(96, 64, 0)
    Image.fromarray(frame).save(tmp_path / "f.png")
    assert run(tmp_path / "f.png", "--lut", cube, "-o", tmp_path / "f_lut.png", "-q") == 0
    ours = np.asarray(Image.open(tmp_path / "f_lut.png"))
    assert colour_ratio(ours, frame, dusk()) < 0.7
    assert gradient_correlation(ours, frame) > 0.95
    # FFmpeg's own lut3d filter reads the file as written and moves the colours the same way
    graph = lut3d_graph(cube, 96, 64)
    graph.push(av.VideoFrame.from_ndarray(frame, format="rgb24"))
    theirs = graph.pull().to_ndarray().astype(int)
    assert np.abs(theirs - ours).max() <= 2  # FFmpeg truncates to 8 bits where vidstyle rounds


def test_lut_applies_to_clips_images_and_folders_keeping_the_clip(tmp_path):
    from vidstyle.media.cube import Lut3D, lattice, write_cube

    table = lattice(17)[..., ::-1].copy()  # swap red and blue
    cube = write_cube(Lut3D(table, title="swap"), tmp_path / "swap.cube")
    clip = make_clip(tmp_path / "c.mp4", painter=scene, width=96, height=64, frames=6)
    assert run(clip, "--lut", cube, "-o", tmp_path / "s.mp4", "--crf", "0", "-q") == 0
    before, after = read_clip(clip), read_clip(tmp_path / "s.mp4")
    assert after.pts == before.pts and after.audio == before.audio and after.frames == 6
    first = after.first_rgb.astype(int)
    assert np.abs(first[..., 0] - before.first_rgb[..., 2].astype(int)).mean() < 3  # red now holds blue
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(scene(48, 32, i)).save(folder / f"f{i}.png")
    assert run(folder, "--lut", cube, "-q") == 0
    swapped = np.asarray(Image.open(tmp_path / "frames_styled" / "f1.png"))
    assert np.abs(swapped.astype(int) - scene(48, 32, 1)[..., ::-1]).max() <= 1


@pytest.mark.parametrize("text, fragment", [
    ("LUT_3D_SIZE 2\n0 0 0\n1 0 0\n", "has 2 colour lines but LUT_3D_SIZE 2 needs 8"),
    ("LUT_1D_SIZE 2\n0 0 0\n1 1 1\n", "is a 1D LUT"),
    ("LUT_3D_SIZE 2\n" + "0 0 x\n" * 8, "line 2 is not three numbers"),
])
def test_a_malformed_cube_is_one_line_and_writes_nothing(tmp_path, text, fragment, capsys):
    clip = make_clip(tmp_path / "c.mp4", frames=3, audio=None)
    (tmp_path / "bad.cube").write_text(text)
    assert run(clip, "--lut", tmp_path / "bad.cube", "-o", tmp_path / "o.mp4", "-q") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0] and err[0].startswith("vidstyle: error: LUT")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.cube", "c.mp4"]


def test_options_that_contradict_are_refused_before_any_work(tmp_path, reference, capsys):
    clip = make_clip(tmp_path / "c.mp4", frames=3, audio=None)
    assert run(clip, "--style", reference, "--save-lut", tmp_path / "l.cube", "-q") == 1
    assert "--save-lut bakes a photoreal look; add --photoreal" in capsys.readouterr().err
    assert run(clip, "--style", reference, "--photoreal", "--save-lut", tmp_path / "l.txt", "-q") == 1
    assert "--save-lut writes a .cube file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4"]


def test_python_api_trains_bakes_and_applies(tmp_path):
    content = scene(96, 64, 0)
    model = vidstyle.train(dusk(), content, photoreal=True, config=vidstyle.TrainConfig(steps=40), device="cpu")
    assert model.photoreal and model.info["train"]["photoreal"] is True
    graded = model.stylize_image(content)
    assert gradient_correlation(graded, content) > 0.95
    assert colour_ratio(graded, content, dusk()) < 0.6
    cube = model.to_lut(tmp_path / "dusk.cube")
    baked = vidstyle.apply_lut(cube, content)
    assert np.abs(baked.astype(int) - graded.astype(int)).mean() < 6  # the LUT is the look, global
    frames = [scene(96, 64, i) for i in range(3)]
    assert len(list(model.stylize_frames(frames))) == 3
    # a video through the API is graded too (it used to be painted: the session did not know the
    # model it was handed was photoreal), with the grade fitted on the clip's own training frame
    clip = make_clip(tmp_path / "c.mp4", painter=scene, frames=5)
    model.stylize_video(clip, tmp_path / "graded.mp4")
    decoded = list(reader.iter_rgb(tmp_path / "graded.mp4"))
    source = list(reader.iter_rgb(clip))
    expected = model._treatment(source[2]).picture(source[4])  # the middle frame trains; frame 4 shown
    assert np.abs(decoded[4].astype(int) - expected.astype(int)).mean() < 3  # the codec's rounding
    painted = vidstyle.StyleModel(model.generator).stylize_image(source[4])
    assert np.abs(decoded[4].astype(int) - painted.astype(int)).mean() > 3 * \
        np.abs(decoded[4].astype(int) - expected.astype(int)).mean()
    painter = vidstyle.train(dusk(), content, config=vidstyle.TrainConfig(steps=2, train_size=64), device="cpu")
    with pytest.raises(InputError, match=r"to_lut bakes a photoreal look; train with photoreal=True"):
        painter.to_lut(tmp_path / "x.cube")


def test_gradient_correlation_is_tone_free_and_sees_moved_edges():
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (64, 64, 3)).astype(np.uint8), (0, 0), 2)
    assert gradient_correlation((image * 0.5).astype(np.uint8), image) > 0.99
    assert gradient_correlation(np.roll(image, 4, axis=1), image) < 0.5


def test_tone_curve_matches_the_reference_tones_with_bounded_slope():
    from vidstyle.model.photoreal import tone_curve

    rng = np.random.default_rng(0)
    day = rng.uniform(20, 90, 20000)  # a bright, even frame
    night = np.concatenate([rng.normal(12, 4, 18000), rng.normal(75, 8, 2000)]).clip(0, 100)  # dark, a few lights
    x, y = tone_curve(day, night)
    toned = np.interp(day, x, y)
    assert np.all(np.diff(y) >= 0)  # monotone: no tone overtakes another
    assert abs(toned.mean() - night.mean()) < 0.5  # the reference's mean lightness
    gain = np.clip(night.std() / day.std(), 0.5, 2.0)
    inside = (x > day.min()) & (x < day.max()) & (y > 0) & (y < 100)  # tones pushed past black clip to it
    assert inside.sum() > 40
    slopes = np.diff(y)[inside[1:] & inside[:-1]] / np.diff(x)[inside[1:] & inside[:-1]]
    assert slopes.min() >= gain / 1.5 * 0.999 and slopes.max() <= gain * 1.5 * 1.001
    # closer to the reference's distribution than the untouched frame, in quantiles
    q = np.linspace(0.05, 0.95, 19)
    assert np.abs(np.quantile(toned, q) - np.quantile(night, q)).mean() < \
        0.5 * np.abs(np.quantile(day, q) - np.quantile(night, q)).mean()


def test_regions_take_the_colours_of_regions_like_them_in_the_reference_mix():
    from vidstyle.model.photoreal import match_regions

    def centres(rows):  # (L, a, b, x, y) with y in the units of regions(): 50/diagonal per pixel
        scale = 50.0 / np.hypot(100, 100)
        return np.array([[L, 0, 0, 50 * scale, y * scale] for L, y in rows], np.float32)

    # a day frame, toned: sky at the top; a night reference: dark sky at the top, the
    # brightest region (the lights) at the bottom
    day, day_area = centres([(45, 10), (30, 45), (20, 70), (10, 90)]), np.array([0.4, 0.2, 0.2, 0.2])
    night, night_area = centres([(35, 10), (8, 45), (15, 70), (70, 90)]), np.array([0.4, 0.2, 0.3, 0.1])
    shares = match_regions(day, day_area, (100, 100), night, night_area, (100, 100))
    assert np.allclose(shares.sum(1), 1.0)
    assert shares[0].argmax() == 0 and shares[0, 0] > 0.7  # the sky takes mostly the night sky's colours,
    assert shares[:, 0].argmax() == 0  # more of them than any other region does
    assert shares[3, 3] < 1e-3 and shares[3].argmax() == 1  # the bottom, darkest region: the darkest, not the lights
    # the frame as a whole takes the reference's mix: the area each reference region receives
    assert np.allclose(day_area @ shares, night_area, atol=1e-3)


def test_a_region_unlike_every_reference_region_still_takes_colours():
    """k-means hands float32 centres: a kernel in float32 underflows to 0 for a region some
    50 L from every reference region, and that region came out grey."""
    from vidstyle.model.photoreal import match_regions

    scale = 50.0 / np.hypot(100, 100)
    frame = np.array([[5, 0, 0, 50 * scale, 50 * scale], [90, 0, 0, 50 * scale, 10 * scale]], np.float32)
    reference = np.array([[65, 0, 0, 50 * scale, y * scale] for y in (10, 40, 70, 90)], np.float32)
    area, reference_area = np.float32([0.5, 0.5]), np.float32([0.25] * 4)
    shares = match_regions(frame, area, (100, 100), reference, reference_area, (100, 100))
    assert np.allclose(shares.sum(1), 1.0)  # every region takes the colours of some reference regions
