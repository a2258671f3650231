"""Optical flow between frames (OpenCV's DIS), warping, and the occlusion / motion-boundary
masks of Lai et al. 2018, and scene cuts. Shared by the temporal metric, the stabilizer and the
keyframe carrier, so all see motion the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np


def gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> uint8 grey, the input DIS flow works on."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """DIS optical flow (Kroeger et al. 2016): fast on a CPU, dense, good at large motion."""

    def __init__(self, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> None:
        self._dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow F (H, W, 2) with source(p) ≈ target(p + F(p)); inputs are grey uint8."""
        return self._dis.calc(source, target, None)


@lru_cache(maxsize=4)
def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y) of a frame size, built once per size (read-only)."""
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid_x.flags.writeable = grid_y.flags.writeable = False
    return grid_x, grid_y


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at p + flow(p): brings a frame into the pixel grid the flow starts on."""
    grid_x, grid_y = grid(*flow.shape[:2])
    map_x, map_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class Motion:
    """Where frame t's pixels were in frame t-1, and which of them can be trusted."""

    flow: np.ndarray  # (H, W, 2): frame t -> frame t-1
    valid: np.ndarray  # (H, W) bool: not occluded, not on a motion boundary, inside the frame


def motion(flow_estimator: FlowEstimator, current_gray: np.ndarray, previous_gray: np.ndarray) -> Motion:
    """Backward flow with the forward-backward occlusion check and motion-boundary mask."""
    back = flow_estimator(current_gray, previous_gray)
    occluded = ~consistent(back, flow_estimator(previous_gray, current_gray))
    du_dy, du_dx = np.gradient(back[..., 0])
    dv_dy, dv_dx = np.gradient(back[..., 1])
    boundary = du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2 > 0.01 * np.sum(back**2, axis=-1) + 0.002
    return Motion(flow=back, valid=~occluded & ~boundary & lands_inside(back))


def consistent(back: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) bool: where the backward flow and the forward flow at its landing point cancel
    (Sundaram et al. 2010's occlusion test): False where the pixel was hidden the frame before,
    or where a flow interpolated across an uncovered gap points somewhere that does not point back."""
    forward_at = warp(forward, back)  # the forward flow where each backward vector lands
    mismatch = sum_of_squares(cv2.add(back, forward_at))
    return mismatch <= cv2.add(sum_of_squares(back), sum_of_squares(forward_at)) * 0.01 + 0.5


def sum_of_squares(planes: np.ndarray) -> np.ndarray:
    """(H, W, C) float32 -> (H, W) Σ over the channels of x² (OpenCV: a third of numpy's time):
    a flow vector's squared length, an RGB difference's squared distance."""
    return cv2.transform(cv2.multiply(planes, planes), np.ones((1, planes.shape[-1]), np.float32))


def lands_inside(flow: np.ndarray) -> np.ndarray:
    """(H, W) bool: where p + flow(p) falls inside the frame."""
    h, w = flow.shape[:2]
    grid_x, grid_y = grid(h, w)
    lands_x, lands_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    return (lands_x >= 0) & (lands_x <= w - 1) & (lands_y >= 0) & (lands_y <= h - 1)


def stretch(flow: np.ndarray, width: int = 7) -> np.ndarray:
    """(H, W) how much the flow field fans out around each pixel: the summed magnitudes of its
    four spatial derivatives (pixels per pixel), kept only where they stay high across at least
    ``width`` pixels (a morphological opening). Where a moving object uncovers what lay behind
    it, the flow is interpolated across the gap and fans out over a band as wide as the motion
    (around 1): anything carried along it there is drawn out into streaks. An object's own
    outline is a tear a few pixels wide that the opening removes (the flow on each side is
    right); a camera's zoom or pan stays small (a 10 % zoom: 0.2)."""
    total = np.zeros(flow.shape[:2], np.float32)
    for c in range(2):
        component = np.ascontiguousarray(flow[..., c])
        total += np.abs(cv2.Sobel(component, cv2.CV_32F, 1, 0, ksize=3)) / 8
        total += np.abs(cv2.Sobel(component, cv2.CV_32F, 0, 1, ksize=3)) / 8
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    return cv2.GaussianBlur(cv2.morphologyEx(total, cv2.MORPH_OPEN, kernel), (0, 0), 1.0)


def camera_flow(flow: np.ndarray, trust: np.ndarray, spacing: int = 8) -> np.ndarray | None:
    """(H, W, 2) the flow a move of the camera alone would give: a homography fitted (RANSAC,
    1 px) to ``flow`` at points ``spacing`` px apart where ``trust`` is over 0.8. Why: in a flat
    area (a clear sky, a wall) DIS has nothing to match and interpolates its flow from around,
    and beside a moving object it takes on the object's motion; the camera's motion is what such
    an area really does, where it is not an object. None where too few points are trusted or no
    homography fits."""
    h, w = trust.shape
    ys, xs = np.mgrid[spacing // 2:h:spacing, spacing // 2:w:spacing]
    good = trust[ys, xs] > 0.8
    if int(good.sum()) < 16:
        return None
    points = np.stack((xs[good], ys[good]), axis=1).astype(np.float32)
    homography, inliers = cv2.findHomography(points, points + flow[ys[good], xs[good]], cv2.RANSAC, 1.0)
    if homography is None or int(inliers.sum()) < max(16, len(points) // 2):
        return None  # no one motion for most of the trusted points
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], np.float64)
    divisors = corners @ homography[2] / homography[2, 2]
    if divisors.min() < 0.5 or divisors.max() > 2.0:
        return None  # a perspective no camera move between nearby frames makes: a fit to noise
    pixels = np.dstack(grid(h, w))
    return cv2.perspectiveTransform(pixels, homography) - pixels


CUT_DISTANCE = 0.35  # Bhattacharyya distance of grey histograms above which a pair is a scene cut


def is_cut(gray_a: np.ndarray, gray_b: np.ndarray) -> bool:
    """Whether two consecutive input frames straddle a scene cut: their grey-level histograms
    barely overlap (within a shot, motion and lighting keep them alike)."""
    ha = cv2.calcHist([gray_a], [0], None, [64], [0, 256])
    hb = cv2.calcHist([gray_b], [0], None, [64], [0, 256])
    return cv2.compareHist(ha, hb, cv2.HISTCMP_BHATTACHARYYA) > CUT_DISTANCE
