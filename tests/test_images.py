import numpy as np
import pytest
from PIL import Image

from vidstyle.errors import InputError
from vidstyle.media.images import load_image, resize_long_side, resize_to_area, save_image


def _rgb(w=20, h=10):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 10, yy * 20, xx + yy], -1).astype(np.uint8)


def test_rgba_keeps_alpha(tmp_path):
    rgba = np.dstack([_rgb(), np.full((10, 20), 77, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.rgb.shape == (10, 20, 3) and img.alpha is not None and (img.alpha == 77).all()
    save_image(tmp_path / "b.png", img.rgb, img.alpha)
    back = Image.open(tmp_path / "b.png")
    assert back.mode == "RGBA" and np.asarray(back)[..., 3].max() == 77


@pytest.mark.parametrize("mode", ["L", "P", "LA", "CMYK"])
def test_other_modes_become_rgb(tmp_path, mode):
    path = tmp_path / ("x.png" if mode != "CMYK" else "x.jpg")
    Image.fromarray(_rgb()).convert(mode).save(path)
    img = load_image(path)
    assert img.rgb.shape == (10, 20, 3) and img.rgb.dtype == np.uint8
    assert (img.alpha is not None) == (mode == "LA")


def test_palette_with_transparency(tmp_path):
    im = Image.fromarray(_rgb()).convert("P")
    im.info["transparency"] = 0
    im.save(tmp_path / "p.png", transparency=0)
    assert load_image(tmp_path / "p.png").alpha is not None


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    arr = np.linspace(0, 65535, 200, dtype=np.uint16).reshape(10, 20)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    img = load_image(tmp_path / "g16.png")
    assert img.rgb[..., 0].min() == 0 and img.rgb[..., 0].max() == 255
    assert len(np.unique(img.rgb)) > 100


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(_rgb(20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    im.save(tmp_path / "o.jpg", exif=exif)
    assert load_image(tmp_path / "o.jpg").rgb.shape == (20, 10, 3)


def test_webp_in_and_out(tmp_path):
    Image.fromarray(_rgb()).save(tmp_path / "w.webp", lossless=True)
    img = load_image(tmp_path / "w.webp")
    assert np.array_equal(img.rgb, _rgb())
    save_image(tmp_path / "w2.webp", img.rgb)
    assert Image.open(tmp_path / "w2.webp").format == "WEBP"


def test_not_an_image(tmp_path):
    (tmp_path / "fake.png").write_text("hello")
    with pytest.raises(InputError, match="is not a readable image"):
        load_image(tmp_path / "fake.png", role="style")
    with pytest.raises(InputError, match="does not exist"):
        load_image(tmp_path / "none.png")


def test_resizing_keeps_the_aspect_ratio():
    rgb = _rgb(300, 100)
    assert resize_long_side(rgb, 150).shape == (50, 150, 3)
    small = resize_to_area(rgb, 300 * 100 // 4)
    assert small.shape == (50, 150, 3)
