"""Still images in and out: every PIL mode users meet, EXIF orientation, alpha, and resizing.

PIL and numpy only: torch-free, so that file I/O never loads the model's stack (tensors.py
converts frames for the model).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vidstyle.errors import InputError, OutputError
from vidstyle.limits import DEFAULT_MAX_PIXELS, check_pixels

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                 ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


@dataclass(frozen=True)
class LoadedImage:
    """An image as the stylizer sees it: 8-bit RGB, plus the alpha channel to put back."""

    rgb: np.ndarray  # (H, W, 3) uint8, upright (EXIF orientation applied)
    alpha: np.ndarray | None  # (H, W) uint8, or None


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_image(path: Path, role: str = "input", max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read any common image as upright 8-bit RGB (+ alpha); a one-line error otherwise.

    The size is checked from the header, before any pixel is decoded, against ``max_pixels``
    (PIL's own decompression-bomb guard is replaced by this documented, adjustable limit)."""
    with _opened(path, role, max_pixels) as im:
        try:
            im.load()
            image = ImageOps.exif_transpose(im)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise _unreadable(path, role, exc) from None
    return from_pil(image)


def image_size(path: Path, role: str = "input", max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) from the header alone, refusing unreadable or too large images (cheap:
    for checking every input before a run starts)."""
    with _opened(path, role, max_pixels) as im:
        return im.size


@contextmanager
def _opened(path: Path, role: str, max_pixels: int) -> Iterator[Image.Image]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except FileNotFoundError:
        raise InputError(f"{role} image {path} does not exist; check the path") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"{role} image {path} is over PIL's decompression-bomb limit ({str(exc).split(',')[0]}); "
                         "vidstyle cannot read an image that large") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise _unreadable(path, role, exc) from None
    with im:
        check_pixels(*im.size, f"{role} image {path}", max_pixels)
        yield im


def _unreadable(path: Path, role: str, exc: Exception) -> InputError:
    return InputError(f"{role} file {path} is not a readable image ({exc.__class__.__name__}); "
                      "use a PNG, JPEG or WebP file")


def from_pil(image: Image.Image) -> LoadedImage:
    """Any PIL image as 8-bit RGB (+ alpha): palettes, grey, 16-bit and float modes included."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return LoadedImage(rgb=np.repeat(_high_depth_to_uint8(image)[..., None], 3, axis=2), alpha=None)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "PA"):
        image = image.convert("RGBA")
    alpha = None
    if image.mode == "RGBA":
        alpha = np.asarray(image.getchannel("A"), dtype=np.uint8).copy()
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    return LoadedImage(rgb=rgb, alpha=alpha)


def _high_depth_to_uint8(image: Image.Image) -> np.ndarray:
    """16-bit and 32-bit grey images: PIL's own convert clips them, so scale by hand."""
    arr = np.asarray(image).astype(np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or arr.max() > 255 else 255.0
    if image.mode == "F":
        top = max(1.0, float(arr.max()))
    return np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)


def save_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None, fmt_from: Path | None = None) -> None:
    """Write ``rgb`` (+ alpha where the format holds it); the format comes from ``fmt_from``'s suffix."""
    suffix = (fmt_from or path).suffix.lower()
    fmt = _SAVE_FORMATS.get(suffix)
    if fmt is None:
        raise OutputError(f"cannot write images as '{suffix}'; use .png, .jpg or .webp")
    image = to_pil(rgb, alpha if fmt in ("PNG", "WEBP", "TIFF") else None)
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    image.save(path, format=fmt, **options)


def to_pil(rgb: np.ndarray, alpha: np.ndarray | None = None) -> Image.Image:
    """uint8 RGB (+ alpha) as a PIL image (RGBA when there is an alpha channel)."""
    image = Image.fromarray(rgb, "RGB")
    if alpha is not None:
        image.putalpha(Image.fromarray(alpha, "L"))
    return image


def resize_to_area(rgb: np.ndarray, area: int) -> np.ndarray:
    """Resize keeping the aspect ratio so that height·width ≈ ``area`` (antialiased)."""
    h, w = rgb.shape[:2]
    scale = (area / (h * w)) ** 0.5
    return resize(rgb, max(1, round(h * scale)), max(1, round(w * scale)))


def long_side_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) scaled so that the longer side is ``long_side``, aspect ratio kept."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_long_side(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Resize so the longer side is ``long_side`` pixels, aspect ratio kept (never squashed)."""
    return resize(rgb, *long_side_shape(*rgb.shape[:2], long_side))


def shrink_long_side(image: np.ndarray, long_side: int, *, area: bool = False) -> np.ndarray:
    """``image`` with its longer side at most ``long_side`` (aspect ratio kept), unchanged if it
    already is: a picture (uint8 RGB) by Lanczos, or with ``area`` any image by OpenCV's area
    averaging (fast; for what is measured rather than shown)."""
    if max(image.shape[:2]) <= long_side:
        return image
    if not area:
        return resize_long_side(image, long_side)
    h, w = long_side_shape(*image.shape[:2], long_side)
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def resize(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    if (height, width) == rgb.shape[:2]:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))
