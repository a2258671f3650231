"""Quality metrics of a stylized clip, measurable without learned weights (design notes):
temporal warping error, SSIM structure, sliced-Wasserstein colour distance, Gram style distance.

Images are float32 in [0, 1] unless said otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidstyle.render.flow import Motion, warp


def to_float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) / 255.0


@dataclass
class WarpAccumulator:
    """Running warping error (Lai et al. 2018: the masked mean squared difference of each
    frame pair, averaged over pairs) and mean spatial variance over a clip."""

    pair_errors: float = 0.0
    pairs: int = 0
    variance: float = 0.0
    frames: int = 0

    def add_frame(self, image: np.ndarray) -> None:
        """Count ``image``'s spatial variance (per channel, averaged) into the clip's mean."""
        self.variance += float(image.reshape(-1, image.shape[-1]).var(axis=0).mean())
        self.frames += 1

    def add_pair(self, current: np.ndarray, previous: np.ndarray, moved: Motion) -> None:
        """Warp ``previous`` onto ``current`` with the input's motion; add the masked error."""
        valid = moved.valid
        if not valid.any():
            return  # nothing visible in both frames (a cut): no evidence either way
        diff = (current - warp(previous, moved.flow)) ** 2
        self.pair_errors += float(diff[valid].mean())
        self.pairs += 1

    @property
    def error(self) -> float:
        return self.pair_errors / self.pairs if self.pairs else 0.0

    @property
    def mean_variance(self) -> float:
        return self.variance / self.frames if self.frames else 0.0


def temporal_ratio(output: WarpAccumulator, source: WarpAccumulator) -> float | None:
    """(E_out / Var_out) / (E_in / Var_in): 1.0 is as stable as the source. ``None`` where it
    is undefined (a source with no warping error, or a flat clip)."""
    if source.error == 0.0 or output.mean_variance == 0.0 or source.mean_variance == 0.0:
        return 1.0 if output.error == 0.0 and source.error == 0.0 else None
    return (output.error / output.mean_variance) / (source.error / source.mean_variance)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two grey images in [0, 1] (Wang et al. 2004: Gaussian window σ=1.5,
    K1=0.01, K2=0.03, population statistics)."""
    c1, c2 = 0.01**2, 0.03**2
    a, b = a.astype(np.float64), b.astype(np.float64)

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    valid = (slice(5, -5), slice(5, -5)) if min(a.shape) > 10 else (slice(None), slice(None))
    return float((num / den)[valid].mean())


def gray_float(rgb01: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb01, cv2.COLOR_RGB2GRAY)


def lab_pixels(rgb01: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` pixels of an image as CIE Lab (L 0..100, a/b about -128..127), at positions
    drawn from ``seed``: two same-sized frames are sampled at the same places."""
    lab = cv2.cvtColor(rgb01.astype(np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)
    if count >= len(lab):
        return lab
    return lab[np.random.default_rng(seed).choice(len(lab), size=count, replace=False)]


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int = 128, seed: int = 0) -> float:
    """SW₂ between two point clouds (N, D): sqrt of the mean over random directions of the
    squared 1-D Wasserstein-2 distance of the projections (POT's definition)."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(projections, a.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    pa, pb = np.sort(a @ directions.T, axis=0), np.sort(b @ directions.T, axis=0)
    if len(pa) != len(pb):  # compare the two quantile functions on a common grid
        pa, pb = _quantiles(pa, QUANTILES), _quantiles(pb, QUANTILES)
    return float(np.sqrt(np.mean((pa - pb) ** 2)))


QUANTILES = 1000


def _quantiles(sorted_columns: np.ndarray, count: int) -> np.ndarray:
    """Linear-interpolated quantiles at the centres of ``count`` equal slices, per column."""
    position = (np.arange(count) + 0.5) / count * (len(sorted_columns) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(sorted_columns) - 1)
    frac = (position - low)[:, None]
    return sorted_columns[low] * (1 - frac) + sorted_columns[high] * frac


# -- photoreal looks: structure kept, colour taken (design notes, "Photorealistic transfer") --------
def gradient_correlation(output: np.ndarray, content: np.ndarray, border: int = 4) -> float:
    """Pearson correlation of the Sobel gradient magnitudes of two uint8 RGB images' grey:
    1 where every edge is where it was, whatever the tone (SSIM punishes a legitimate grade)."""
    def magnitude(rgb: np.ndarray) -> np.ndarray:
        grey = gray_float(to_float(rgb))
        gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        inner = (slice(border, -border), slice(border, -border)) if min(grey.shape) > 4 * border else ...
        return np.hypot(gx, gy)[inner].ravel().astype(np.float64)

    a, b = magnitude(output), magnitude(content)
    if a.std() < 1e-9 or b.std() < 1e-9:
        return 1.0 if np.allclose(a, b) else 0.0
    return float(np.corrcoef(a, b)[0, 1])


def colour_ratio(output: np.ndarray, content: np.ndarray, reference: np.ndarray, count: int = 20000) -> float:
    """How far ``output``'s Lab colours are from ``reference``'s, as a share of how far
    ``content``'s were (uint8 RGB images): 0 = the reference's palette, 1 = unchanged."""
    target = lab_pixels(to_float(reference), count, seed=1)
    before = sliced_wasserstein(lab_pixels(to_float(content), count), target)
    return sliced_wasserstein(lab_pixels(to_float(output), count), target) / max(before, 1e-9)
