"""The preview: keyframe, its stylized version and the style image side by side, written right
after training so a look can be judged (and tuned with --strength) before a clip renders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from vidstyle.media.images import resize

MARK = "vidstyle-preview"  # PNG text key: a file carrying it is vidstyle's own and may be refreshed
HEIGHT = 360
GAP = 8


SUFFIX = "_preview.png"


def preview_path(output: Path) -> Path:
    """``clip_styled.mp4`` -> ``clip_styled_preview.png`` beside it (the stem shortened where
    the name would pass the file-system's 255-byte limit)."""
    stem = output.stem if output.suffix else output.name
    if len(os.fsencode(stem)) > 255 - len(SUFFIX):  # os.fsencode: a name may hold bytes that are not UTF-8
        stem = os.fsencode(stem)[:255 - len(SUFFIX)].decode(errors="ignore")
    return output.with_name(f"{stem}{SUFFIX}")


def sheet(keyframe: np.ndarray, stylized: np.ndarray, style: np.ndarray | None, height: int = HEIGHT) -> np.ndarray:
    """The images at one height, on a white strip (the style image where there is one: a LUT
    applied on its own has none)."""
    panels = []
    for rgb in (keyframe, stylized, *([style] if style is not None else [])):
        h, w = rgb.shape[:2]
        panels.append(resize(rgb, height, max(1, round(w * height / h))))
    width = sum(p.shape[1] for p in panels) + GAP * (len(panels) + 1)
    out = np.full((height + 2 * GAP, width, 3), 255, np.uint8)
    x = GAP
    for panel in panels:
        out[GAP:GAP + height, x:x + panel.shape[1]] = panel
        x += panel.shape[1] + GAP
    return out


def save_preview(path: Path, rgb: np.ndarray, note: str) -> None:
    """Write the sheet as PNG, marked as vidstyle's own (``note`` says how it was made)."""
    info = PngImagePlugin.PngInfo()
    info.add_text(MARK, note)
    Image.fromarray(rgb).save(path, format="PNG", pnginfo=info)


def is_preview(path: Path) -> bool:
    """Whether ``path`` is a preview vidstyle wrote (so a new run may replace it)."""
    try:
        with Image.open(path) as im:
            return im.format == "PNG" and MARK in getattr(im, "text", {})
    except (OSError, ValueError):
        return False
