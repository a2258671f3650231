"""A clip whose true motion is known: a camera that pans, zooms and shakes over a photo, and a
textured disc crossing it (uncovering what lies behind). The quality benchmarks make their real-
footage stand-ins with it, and judge a render's steadiness against that truth as well as against
estimated flow.

Why the truth: a temporal metric that warps with an estimated flow judges a render partly by
the estimate's errors. In a flat sky DIS and Farnebäck interpolate the flow from around, and a
render whose strokes follow the true motion there scores worse than one whose strokes follow
the estimate's mistakes (README, Quality: "What the temporal ratio can reach").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidstyle.media import reader
from vidstyle.media.synthetic import pan_matrix, view_flow, write_clip
from vidstyle.quality.metrics import WarpAccumulator, temporal_ratio, to_float
from vidstyle.render.flow import Motion, lands_inside, warp

RIM = 2  # pixels around the disc's outline left out of the truth: its anti-aliased edge and the codec's smear


@dataclass(frozen=True)
class MovingScene:
    """``photo`` seen by the camera, ``thing`` (its top-left quarter) on a disc moving across."""

    photo: np.ndarray  # RGB uint8
    thing: np.ndarray  # RGB uint8
    size: tuple[int, int] = (320, 180)
    frames: int = 50
    zoom: tuple[float, float] = (0.75, 0.1)
    shake: tuple[float, float] = (8.0, 6.0)
    wobble: tuple[float, float] = (7.0, 5.0)

    @property
    def radius(self) -> int:
        return int(0.16 * self.size[1])

    def camera(self, index: int) -> np.ndarray:
        w, h = self.size
        return pan_matrix(self.photo.shape, w, h, index / (self.frames - 1), zoom=self.zoom, shake=self.shake,
                          wobble=self.wobble)

    def disc_corner(self, index: int) -> tuple[int, int]:
        """The disc's bounding square's top-left corner (may lie outside the frame)."""
        w, h = self.size
        t = index / (self.frames - 1)
        return (int(w * (0.1 + 0.8 * t)) - self.radius,
                int(h * (0.3 + 0.4 * abs(math.sin(3 * t)))) - self.radius)

    def disc_alpha(self, index: int) -> np.ndarray:
        """(h, w) float64: the disc's coverage of each pixel (anti-aliased edge)."""
        w, h = self.size
        r = self.radius
        ox, oy = self.disc_corner(index)
        ys, xs = np.mgrid[0:h, 0:w]
        return np.clip(r - np.hypot(xs - ox - r, ys - oy - r), 0, 1)

    def frame(self, index: int) -> np.ndarray:
        w, h = self.size
        view = cv2.warpAffine(self.photo, self.camera(index), (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
        r = self.radius
        patch = cv2.resize(self.thing[: self.thing.shape[0] // 2, : self.thing.shape[1] // 2], (2 * r, 2 * r))
        ox, oy = self.disc_corner(index)
        shifted = cv2.warpAffine(patch, np.float32([[1, 0, ox], [0, 1, oy]]), (w, h), flags=cv2.INTER_NEAREST)
        alpha = self.disc_alpha(index)[..., None]
        return (view * (1 - alpha) + shifted * alpha).astype(np.uint8)

    def write(self, out: Path, fps: int = 25, audio: str | None = None) -> Path:
        return write_clip(out, (self.frame(i) for i in range(self.frames)), rate=fps, crf=16, preset="medium",
                          audio=audio)

    def truth(self, index: int) -> Motion:
        """Frame ``index``'s true backward motion to the frame before, and where it holds: the
        camera's for the photo, the disc's own for the disc; not on the disc's rim, nor where the
        photo was hidden by the disc the frame before (uncovered), nor landing outside."""
        w, h = self.size
        flow = view_flow(self.camera(index), self.camera(index - 1), w, h)
        (x1, y1), (x0, y0) = self.disc_corner(index), self.disc_corner(index - 1)
        alpha, before = self.disc_alpha(index), self.disc_alpha(index - 1)
        on_disc = alpha >= 1
        flow[on_disc] = (x0 - x1, y0 - y1)
        rim = np.ones((2 * RIM + 1,) * 2, np.uint8)
        inside_before = cv2.dilate((before > 0).astype(np.uint8), rim) > 0  # the disc the frame before, widened
        edge = cv2.dilate(((alpha > 0) & (alpha < 1)).astype(np.uint8), rim) > 0
        hidden = warp(inside_before.astype(np.float32), flow) > 0  # landed where the disc was
        valid = lands_inside(flow) & ~edge & (on_disc | (~hidden & (alpha == 0)))
        return Motion(flow=flow, valid=valid)


def true_temporal_ratio(scene: MovingScene, source: Path, styled: Path) -> float | None:
    """The temporal ratio (vidstyle eval's definition: warping error over spatial variance,
    against the source's own) with the scene's true motion in place of an estimated flow."""
    out_acc, in_acc = WarpAccumulator(), WarpAccumulator()
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for index, (src, out) in enumerate(zip(_floats(reader.iter_rgb(source)), _floats(reader.iter_rgb(styled)),
                                           strict=True)):
        in_acc.add_frame(src)
        out_acc.add_frame(out)
        if previous is not None:
            motion = scene.truth(index)
            in_acc.add_pair(src, previous[0], motion)
            out_acc.add_pair(out, previous[1], motion)
        previous = (src, out)
    return temporal_ratio(out_acc, in_acc)


def _floats(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    return (to_float(f) for f in frames)
