"""3D LUTs: .cube reading (strict, one-line errors) and writing, fitting a LUT to colour pairs,
and applying one in numpy and through FFmpeg's lut3d filter (which must agree)."""

from __future__ import annotations

import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidstyle.errors import InputError, OutputError
from vidstyle.media.cube import Lut3D, identity, lattice, read_cube, write_cube
from vidstyle.render.lut import (
    INTERPOLATIONS,
    LutFilter,
    LutTable,
    apply_lut,
    apply_lut_float,
    fit_lut,
    lut3d_graph,
)

PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "photoreal"
TRICKY = "look v2: it's, [final].cube"  # a space, a colon, a quote, a comma and brackets
MATRIX = np.array([[0.90, 0.15, -0.05], [0.05, 0.85, 0.10], [-0.10, 0.20, 0.95]])


def look(rgb: np.ndarray) -> np.ndarray:
    """A known smooth transform: a colour matrix, then a gamma curve, then a tint."""
    x = np.clip((rgb.astype(np.float64) / 255) @ MATRIX.T, 0, 1) ** 0.8 * np.array([1.0, 0.95, 1.05])
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def random_lut(size: int, seed: int = 0) -> Lut3D:
    """A smooth-ish but far from identity LUT."""
    rng = np.random.default_rng(seed)
    grid = lattice(size).astype(np.float64)
    table = grid @ rng.uniform(-0.3, 1.0, (3, 3)).T + 0.3 * np.sin(6 * grid[..., ::-1])
    table += rng.normal(0, 0.05, grid.shape)
    return Lut3D(np.clip(table, 0, 1), title="random")


def random_image(h: int = 120, w: int = 160, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def made_photo(h: int = 180, w: int = 320) -> np.ndarray:
    """A colourful, smooth-ish picture made in code: gradients, blobs and some noise."""
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    img = np.stack([0.5 + 0.4 * np.sin(5 * xx + 2 * yy), 0.45 + 0.35 * np.cos(4 * yy - 3 * xx),
                    0.4 + 0.3 * np.sin(7 * xx * yy + 1)], axis=-1)
    img += 0.03 * np.random.default_rng(2).normal(size=img.shape)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def photo(name: str) -> np.ndarray:
    from PIL import Image

    path = PHOTOS / f"{name}.png"
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    return np.asarray(Image.open(path).convert("RGB"))


def through_filter(lut, rgb: np.ndarray, interp: str = "tetrahedral") -> np.ndarray:
    return LutFilter(lut, interp=interp)(rgb)


def levels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int32) - b.astype(np.int32))


# -- .cube files ----------------------------------------------------------------------------
def test_write_read_round_trip(tmp_path):
    lut = random_lut(33)
    path = write_cube(lut, tmp_path / "look.cube")
    back = read_cube(path)
    assert back.size == 33 and back.title == "random" and back.default_domain
    np.testing.assert_allclose(back.table, lut.table, atol=1e-6, rtol=0)
    lines = path.read_text().splitlines()
    assert 'TITLE "random"' in lines and "LUT_3D_SIZE 33" in lines
    assert not any(line.startswith("DOMAIN") for line in lines)  # only when not [0, 1]
    data = [line for line in lines if line[:1].isdigit()]
    assert len(data) == 33 ** 3
    # red changes fastest: the second entry is node r=1, g=0, b=0; entry 33 is g=1
    np.testing.assert_allclose([float(v) for v in data[1].split()], lut.table[1, 0, 0], atol=1e-6)
    np.testing.assert_allclose([float(v) for v in data[33].split()], lut.table[0, 1, 0], atol=1e-6)
    assert not list(tmp_path.glob(".*partial*"))  # written atomically, nothing left behind


def test_domain_round_trip_and_after_the_size_line(tmp_path):
    lut = Lut3D(random_lut(9).table, domain_min=(0, 0, -0.1), domain_max=(2, 1.5, 1), title="wide")
    back = read_cube(write_cube(lut, tmp_path / "wide.cube"))
    assert back.domain_min == (0, 0, -0.1) and back.domain_max == (2, 1.5, 1)
    np.testing.assert_allclose(back.table, lut.table, atol=1e-6, rtol=0)
    lines = (tmp_path / "wide.cube").read_text().splitlines()
    assert lines.index("LUT_3D_SIZE 9") < lines.index(next(x for x in lines if x.startswith("DOMAIN_MIN")))


def test_reads_an_editors_file(tmp_path):
    """Comments, blank lines, CRLF, a BOM, Resolve's LUT_3D_INPUT_RANGE and unknown keywords."""
    rows = "\r\n".join(" ".join(f"{v:.4f}" for v in (r / 2, g / 2, b / 2))
                       for b in range(3) for g in range(3) for r in range(3))
    text = ("\ufeff# Created by an editor\r\nTITLE \"Warm look\"\r\n\r\nLUT_3D_SIZE\t3\r\n"
            "LUT_3D_INPUT_RANGE 0.0 1.0\r\nVENDOR_THING 12\r\n# the table\r\n" + rows + "\r\n\r\n")
    (tmp_path / "warm.cube").write_bytes(text.encode("utf-8"))
    lut = read_cube(tmp_path / "warm.cube")
    assert lut.title == "Warm look" and lut.size == 3 and lut.default_domain
    np.testing.assert_allclose(lut.table, lattice(3), atol=1e-6)


def test_identity():
    lut = identity(17)
    assert lut.size == 17 and lut.table.shape == (17, 17, 17, 3)
    np.testing.assert_allclose(lut.table[4, 8, 16], [0.25, 0.5, 1.0])
    with pytest.raises(ValueError):
        lut.table[0, 0, 0, 0] = 1  # read-only


def test_lut3d_refuses_bad_tables():
    with pytest.raises(ValueError, match="N, N, N, 3"):
        Lut3D(np.zeros((3, 3, 4, 3)))
    with pytest.raises(ValueError, match="finite"):
        Lut3D(np.full((2, 2, 2, 3), np.nan))
    with pytest.raises(ValueError, match="below domain_max"):
        Lut3D(np.zeros((2, 2, 2, 3)), domain_min=(0, 1, 0), domain_max=(1, 1, 1))


def _cube(size: int = 2, rows: list[str] | None = None, head: str | None = None) -> str:
    head = f"LUT_3D_SIZE {size}\n" if head is None else head
    if rows is None:
        rows = [f"{r} {g} {b}" for b in range(2) for g in range(2) for r in range(2)]
    return head + "\n".join(rows) + "\n"


GOOD = [f"{r} {g} {b}" for b in range(2) for g in range(2) for r in range(2)]


@pytest.mark.parametrize(("content", "fragments"), [
    (_cube(head="LUT_3D_SIZE 1\n"), ["LUT_3D_SIZE 1 is out of range", "2..256"]),
    (_cube(head="LUT_3D_SIZE 300\n"), ["LUT_3D_SIZE 300 is out of range"]),
    (_cube(head="LUT_3D_SIZE big\n"), ["line 1", "LUT_3D_SIZE must be one whole number", "'big'"]),
    (_cube(head="LUT_3D_SIZE 2\nLUT_3D_SIZE 2\n"), ["LUT_3D_SIZE twice", "line 2"]),
    (_cube(rows=GOOD[:3] + ["0.5 oops 0.2"] + GOOD[4:]), ["line 5 is not three numbers", "oops"]),
    (_cube(rows=GOOD[:3] + ["0.5 0.2"] + GOOD[4:]), ["line 5 is not three numbers"]),
    (_cube(rows=GOOD[:6]), ["has 6 colour lines", "LUT_3D_SIZE 2 needs 8", "truncated"]),
    (_cube(rows=GOOD + ["1 1 1"]), ["has 9 colour lines", "needs 8", "extra lines"]),
    (_cube(rows=GOOD[:2] + ["nan 0 0"] + GOOD[3:]), ["line 4", "NaN or infinity"]),
    (_cube(rows=GOOD[:7] + ["0 inf 0"]), ["line 9", "NaN or infinity"]),
    (_cube(rows=GOOD[:4] + ["DOMAIN_MIN 0 0 0"] + GOOD[4:]), ["line 6", "keyword DOMAIN_MIN after the colour table"]),
    ("LUT_1D_SIZE 4\n0 0 0\n0.3 0.3 0.3\n0.6 0.6 0.6\n1 1 1\n", ["is a 1D LUT", "LUT_3D_SIZE"]),
    ("TITLE \"x\"\n" + "\n".join(GOOD) + "\n", ["no LUT_3D_SIZE line", "not a 3D .cube LUT"]),
    ("\n".join(GOOD) + "\nLUT_3D_SIZE 2\n", ["LUT_3D_SIZE comes after colour values", "line 9"]),
    ("", ["is empty"]),
    ("  \n\n", ["is empty"]),
    ("# only a comment\nTITLE \"nothing\"\n", ["is empty", "no LUT_3D_SIZE"]),
    (_cube(head="LUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 0 1\n"),
     ["DOMAIN_MIN 0 0 0 must be below DOMAIN_MAX 1 0 1"]),
    (_cube(head="LUT_3D_SIZE 2\nDOMAIN_MAX 1 1\n"), ["line 2", "DOMAIN_MAX needs three numbers"]),
    (_cube(head="LUT_3D_SIZE 2\nDOMAIN_MIN nan 0 0\n"), ["line 2", "DOMAIN_MIN holds NaN"]),
])
def test_malformed_cube_is_refused_in_one_line(tmp_path, content, fragments):
    path = tmp_path / "bad.cube"
    path.write_text(content)
    with pytest.raises(InputError) as info:
        read_cube(path)
    message = str(info.value)
    assert "\n" not in message and "bad.cube" in message
    for fragment in fragments:
        assert fragment in message, message


def test_binary_and_missing_files_are_refused(tmp_path):
    png = tmp_path / "photo.cube"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(InputError, match=r"photo\.cube is not a text file \(it holds binary data\)"):
        read_cube(png)
    noise = tmp_path / "noise.cube"
    noise.write_bytes(bytes(np.random.default_rng(0).integers(1, 256, 4000, dtype=np.uint8)))
    with pytest.raises(InputError, match="not a text file"):
        read_cube(noise)
    with pytest.raises(InputError, match=r"missing\.cube does not exist; check the path"):
        read_cube(tmp_path / "missing.cube")
    with pytest.raises(InputError, match="is a folder, not a .cube file"):
        read_cube(tmp_path)


def test_latin1_title_is_accepted(tmp_path):
    (tmp_path / "old.cube").write_bytes('TITLE "Café"\n'.encode("latin-1") + _cube().encode())
    assert read_cube(tmp_path / "old.cube").title == "Café"


def test_write_cube_into_a_missing_folder_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="writing"):
        write_cube(identity(2), tmp_path / "nowhere" / "look.cube")


# -- applying ------------------------------------------------------------------------------
@pytest.mark.parametrize("interp", INTERPOLATIONS)
@pytest.mark.parametrize("size", [33, 25, 2])
def test_identity_leaves_the_image_unchanged(size, interp):
    image = random_image()
    assert levels(apply_lut(identity(size), image, interp), image).max() <= 1
    assert levels(through_filter(identity(size), image, interp), image).max() <= 1


@pytest.mark.parametrize("interp", INTERPOLATIONS)
@pytest.mark.parametrize("size", [33, 17])
def test_numpy_and_ffmpeg_agree(size, interp):
    lut, image = random_lut(size, seed=size), random_image(240, 320, seed=size)
    ours, ffmpeg = apply_lut(lut, image, interp), through_filter(lut, image, interp)
    diff = levels(ours, ffmpeg)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01  # only rounding ties differ
    assert levels(ours, image).mean() > 20  # the LUT really does something


def test_the_table_gives_the_filters_bytes_for_every_frame():
    lut = random_lut(17, seed=3)
    table = LutTable(lut)
    for image in (random_image(240, 320, seed=5), random_image(37, 53, seed=6)):  # sizes change between frames
        looked_up = table(image)
        assert looked_up.shape == image.shape and looked_up.dtype == np.uint8
        assert np.array_equal(looked_up, through_filter(lut, image, "tetrahedral"))
        assert levels(looked_up, image).mean() > 20
    image = random_image(24, 32, seed=7)
    before = image.copy()
    first = table(image)
    table(random_image(24, 32, seed=8))  # buffers are reused: an output handed back must not change
    assert np.array_equal(first, through_filter(lut, before, "tetrahedral")) and np.array_equal(image, before)


def test_both_interpolations_reproduce_an_affine_lut():
    """Tetrahedra and trilinear both reproduce an affine map exactly: a check independent of FFmpeg."""
    gain = np.array([[0.5, 0.2, 0.1], [0.1, 0.6, 0.1], [0.2, 0.1, 0.4]])
    lut = Lut3D(lattice(9).astype(np.float64) @ gain.T + 0.1)
    image = random_image()
    exact = np.floor(((image / 255) @ gain.T + 0.1) * 255 + 0.5)
    for interp in INTERPOLATIONS:
        assert levels(apply_lut(lut, image, interp), exact).max() <= 1


def test_domain_is_honoured_by_both_paths():
    """A LUT over [0, 2] (FFmpeg cannot place it: the filter gets a resampled copy)."""
    lut = Lut3D(np.clip(lattice(17) * 2 * 0.8, 0, 1), domain_min=(0, 0, 0), domain_max=(2, 2, 2))
    image = random_image()
    expected = np.floor(image * 0.8 + 0.5)
    assert levels(apply_lut(lut, image), expected).max() <= 1
    assert levels(through_filter(lut, image), expected).max() <= 1


def test_apply_lut_float_and_bad_input():
    lut = random_lut(9)
    nodes = lattice(9)[[0, 3, 8], [1, 4, 8], [2, 5, 0]]
    np.testing.assert_allclose(apply_lut_float(lut, nodes), lut.table[[0, 3, 8], [1, 4, 8], [2, 5, 0]], atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        apply_lut(lut, np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="interp"):
        apply_lut(lut, random_image(), "cubic")


# -- the streaming filter --------------------------------------------------------------------
def test_a_path_with_spaces_and_a_colon_reaches_ffmpeg(tmp_path):
    lut = random_lut(9)
    folder = tmp_path / "grade: day 1"
    folder.mkdir()
    path = write_cube(lut, folder / TRICKY)
    image = random_image()
    graph = lut3d_graph(path, image.shape[1], image.shape[0], time_base=Fraction(1, 25))
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    frame.pts = 0
    graph.push(frame)
    direct = graph.pull().to_ndarray()
    assert levels(direct, apply_lut(lut, image)).max() <= 1  # FFmpeg read this very file
    assert levels(LutFilter(path)(image), apply_lut(read_cube(path), image)).max() <= 1


def test_the_filters_temporary_copy_is_removed(tmp_path, monkeypatch):
    """Its temporary folder (here a tricky name too) is gone once the graph is built."""
    temp = tmp_path / "tmp dir: x"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    image = random_image()
    out = LutFilter(random_lut(9), image.shape[1], image.shape[0])(image)
    assert levels(out, apply_lut(random_lut(9), image)).max() <= 1
    assert list(temp.iterdir()) == []


def test_filter_on_decoded_frames_keeps_timing(tmp_path):
    from support import make_clip, smooth

    from vidstyle.media.reader import to_rgb

    clip = make_clip(tmp_path / "clip.mp4", painter=smooth, width=96, height=64, frames=4, audio=None)
    lut = random_lut(17)
    stream_filter = LutFilter(lut)
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            out = stream_filter.filter(frame)  # yuv420p in, rgb24 out
            assert out.format.name == "rgb24" and (out.width, out.height) == (96, 64)
            assert out.pts == frame.pts and out.time_base == frame.time_base
            assert levels(out.to_ndarray(), apply_lut(lut, to_rgb(frame))).max() <= 1
    bigger = random_image(80, 120)  # a new size rebuilds the graph
    assert levels(stream_filter(bigger), apply_lut(lut, bigger)).max() <= 1


def test_filter_refuses_bad_arrays_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        LutFilter(identity(2))(np.zeros((4, 4), np.uint8))
    (tmp_path / "one.cube").write_text("LUT_1D_SIZE 2\n0 0 0\n1 1 1\n")
    with pytest.raises(InputError, match="is a 1D LUT"):
        LutFilter(tmp_path / "one.cube")


# -- fitting -------------------------------------------------------------------------------
def test_fit_reproduces_a_known_transform_on_a_made_picture():
    image = made_photo()
    lut = fit_lut(image, look(image))
    assert levels(apply_lut(lut, image), look(image)).mean() < 1.0
    assert lut.table.min() >= 0 and lut.table.max() <= 1 and lut.size == 33


def test_fit_reproduces_a_known_transform_on_photos():
    """The figures in fit_lut's docstring: trained on in1 at 512x288, checked on in1 and held-out in2."""
    from PIL import Image

    in1, in2 = photo("in1"), photo("in2")
    keyframe = np.asarray(Image.fromarray(in1).resize((512, 288), Image.BILINEAR))
    start = time.perf_counter()
    lut = fit_lut(keyframe, look(keyframe))
    elapsed = time.perf_counter() - start
    assert levels(apply_lut(lut, in1), look(in1)).mean() < 0.5
    assert levels(apply_lut(lut, in2), look(in2)).mean() < 1.0
    assert np.percentile(levels(apply_lut(lut, in2), look(in2)), 99) <= 4
    assert elapsed < 10  # about 0.5 s; generous for a busy machine


def test_fit_continues_smoothly_where_there_are_no_samples():
    """Samples only in the dark half: the bright half follows the same affine map, neither
    flattened nor pulled to identity."""
    rng = np.random.default_rng(4)
    src = rng.uniform(0, 0.5, (20000, 3))
    gain = np.array([[0.8, 0.1, 0.0], [0.0, 0.9, 0.05], [0.1, 0.0, 0.7]])
    lut = fit_lut(src, src @ gain.T + 0.05, size=17)
    bright = rng.uniform(0.6, 0.9, (2000, 3))
    np.testing.assert_allclose(apply_lut_float(lut, bright), bright @ gain.T + 0.05, atol=0.02)


def test_fit_float_pairs_weights_and_degenerate_input():
    rng = np.random.default_rng(5)
    src = rng.uniform(0, 1, (5000, 3))
    # half the pixels say "invert", half say "keep": weights pick the inverted half
    dst = np.concatenate([1 - src[:2500], src[2500:]])
    weights = np.r_[np.ones(2500), np.zeros(2500)]
    lut = fit_lut(src, dst, size=9, weights=weights)
    probe = rng.uniform(0.1, 0.9, (500, 3))
    np.testing.assert_allclose(apply_lut_float(lut, probe), 1 - probe, atol=0.03)
    flat = np.full((10, 10, 3), 128, np.uint8)  # one colour only: fitted there, sane elsewhere
    lut = fit_lut(flat, np.full((10, 10, 3), 200, np.uint8), size=9)
    assert abs(int(apply_lut(lut, flat)[0, 0, 0]) - 200) <= 1
    assert np.isfinite(lut.table).all()
    with pytest.raises(ValueError, match="same, non-zero number of pixels"):
        fit_lut(flat, flat[:5])
    with pytest.raises(ValueError, match="weights"):
        fit_lut(flat, flat, weights=np.zeros(100))
