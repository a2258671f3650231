"""Size limits every frame and image must meet, checked when a file is opened, before work.

Too small: the generator halves a frame twice and the optical flow needs a neighbourhood, so
frames under ``MIN_SIDE`` pixels cannot be stylized. Too large: a frame's tensors and the
fast path's colour maps take about 100 bytes a pixel, so an image past ``max_pixels`` (or a
decompression-bomb header) is refused with the option that raises the limit.
"""

from __future__ import annotations

from vidstyle.errors import InputError, option

MIN_SIDE = 12
DEFAULT_MAX_PIXELS = 50_000_000  # 50 MP: 8K video (33 MP) and large photos pass; ~5 GB of working memory


def check_frame_size(width: int, height: int, what: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse a frame to stylize, ``what`` (e.g. "photo.png"), when a side is under MIN_SIDE or
    it exceeds ``max_pixels``."""
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{what} is {width}x{height}: too small to stylize; vidstyle needs at least "
                         f"{MIN_SIDE} px on each side")
    check_pixels(width, height, what, max_pixels)


def check_pixels(width: int, height: int, what: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse an image of more than ``max_pixels`` before it is decoded."""
    if width * height > max_pixels:
        raise InputError(f"{what} is {width}x{height} ({width * height / 1e6:.3g} MP), over the "
                         f"{max_pixels / 1e6:g} MP limit; set {option('max_pixels')} {width * height} to allow it "
                         "(it needs about 100 bytes of memory a pixel)")
