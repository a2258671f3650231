"""Stylize keyframes, carry the look along the motion.

Why: on a laptop CPU the generator costs about half a second a frame even at the fast path's
working size, while decoding, a few optical flows and a per-pixel colour transform cost a few
tens of milliseconds. So the generator runs on keyframes only, and every other frame gets the
look of its neighbouring keyframes carried along the input's optical flow.

What is carried is a *transform*, not pixels: a keyframe's look is its local colour transform
(out = A·in + b per working-resolution pixel, the fast path's guided-filter maps, guided.py).
The maps of the previous and the next keyframe are warped to the frame along the flow, blended
by how near each keyframe is and how well the motion explains each pixel (the strokes at the
strength the two keyframes' strokes have: a plain mean of two patterns is flatter than either),
and applied to the frame's own full-resolution content. Pixels carried along a flow smear; a transform re-applied
to the frame's own content keeps its edges and follows whatever the flow got wrong.

Where neither keyframe's motion can be trusted (newly revealed areas, occlusions), the maps
come from the nearest trusted neighbourhood (a push-pull fill). Where carrying fails as a
whole — a scene cut, or too little of the frame explained by the motion — that frame becomes a
keyframe. Frames wait for their next keyframe at most ``interval`` frames: memory is bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidstyle.config import CarryConfig
from vidstyle.loop import Renderer
from vidstyle.render.flow import FlowEstimator, gray, grid, is_cut, lands_inside, stretch, warp
from vidstyle.render.stylize import Stylizer


@dataclass
class _Keyframe:
    index: int
    gray: np.ndarray  # working resolution, uint8
    maps: np.ndarray  # (12, h, w) float32


@dataclass
class _Waiting:
    index: int
    rgb: np.ndarray
    gray: np.ndarray
    maps: np.ndarray  # the previous keyframe's maps warped here
    trust: np.ndarray  # (h, w) float32 in [0, 1]: how well the motion explains each pixel
    step: np.ndarray | None  # flow to the frame before


@dataclass
class _Carried:
    maps: np.ndarray
    trust: np.ndarray
    flow: np.ndarray  # this frame -> the keyframe, (h, w, 2) at the working resolution
    step: np.ndarray  # this frame -> the neighbour it was chained through


Look = np.ndarray  # (15, h, w) float32: a frame's local colour transform at the working resolution
# (12 planes) and the detail (strokes) added after it (stylize.Stylizer.look)
TRANSFORM = 12  # planes of a look that are its colour transform


class KeyframeCarrier(Renderer[Look]):
    """A renderer (loop.py) that decides one clip's look frame by frame, in order: `submit`
    takes uint8 RGB frames and hands back the looks of the frames that are done (possibly
    fewer: frames wait for their next keyframe, at most ``interval`` of them), `flush` the rest
    at the end; `draw` applies each look to its frame's own pixels. Frames of a new size start
    afresh."""

    def __init__(self, stylizer: Stylizer, config: CarryConfig, interval: int) -> None:
        self.stylizer = stylizer
        self.batch_size = stylizer.batch_size
        self.config = config
        self.interval = max(1, interval)
        self._flow = FlowEstimator()  # DIS medium: the fast preset's jitter showed as shimmer (README, Speed)
        self._key: _Keyframe | None = None
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # grey and flow to the keyframe of the last frame
        self._waiting: list[_Waiting] = []
        self._shown: tuple[np.ndarray, np.ndarray] | None = None  # grey and look of the last frame handed back
        self._count = 0
        self.keyframes = 0  # how many frames the generator ran on (for reports and tests)
        # each plane's weight for the previous frame's look in `_smoothed`: transform, then detail
        self._strength = np.float32([config.smoothing] * TRANSFORM + [config.detail_smoothing] * 3)[:, None, None]

    def submit(self, frames: list[np.ndarray]) -> list[Look]:
        out: list[Look] = []
        for rgb in frames:
            out.extend(self._push(rgb))
        return out

    def draw(self, frames: list[np.ndarray], staged: list[Look]) -> list[np.ndarray]:
        return apply_looks(frames, staged)

    def flush(self) -> list[Look]:
        """The frames still waiting, at the clip's end: its last frame becomes a keyframe, so
        that they too blend the keyframes on both sides."""
        if not self._waiting:
            return []
        last = self._waiting.pop()
        return self._close_window(last.index, last.rgb, last.gray, last.step)

    # -- one frame ---------------------------------------------------------------------------
    def _push(self, rgb: np.ndarray) -> list[np.ndarray]:
        index, self._count = self._count, self._count + 1
        small = self._small_gray(rgb)
        key = self._key
        if key is None or key.gray.shape != small.shape or self.interval == 1:
            done = self.flush()
            self._shown = None
            return [*done, *self._smoothed([(small, None, self._new_keyframe(index, rgb, small))])]
        carried = self._carry(key, small, *self._last)
        if carried is None or index - key.index >= self.interval:
            return self._close_window(index, rgb, small, carried.step if carried is not None else None)
        self._last = (small, carried.flow)
        self._waiting.append(_Waiting(index, rgb, small, carried.maps, carried.trust, carried.step))
        return []

    def _close_window(self, index: int, rgb: np.ndarray, small: np.ndarray,
                      step: np.ndarray | None) -> list[np.ndarray]:
        """``rgb`` becomes the next keyframe; the frames waiting for it blend both keyframes."""
        previous = self._key
        output = self._new_keyframe(index, rgb, small)
        key = self._key
        done = []
        later = (key.gray, np.zeros((*key.gray.shape, 2), np.float32))  # the next frame's grey and flow to the key
        for waiting in reversed(self._waiting):  # back from the new keyframe, one step at a time
            alpha = (waiting.index - previous.index) / (key.index - previous.index)
            carried = self._carry(key, waiting.gray, *later, strict=False)
            if carried is None:  # a cut between this frame and the new keyframe: the previous one alone
                done.append(waiting.maps)
                later = (waiting.gray, None)
                continue
            later = (waiting.gray, carried.flow)
            done.append(_blend(waiting.maps, (1.0 - alpha) * waiting.trust, carried.maps, alpha * carried.trust))
        frames = [(w.gray, w.step, look) for w, look in zip(self._waiting, reversed(done), strict=True)]
        self._waiting = []
        return self._smoothed([*frames, (small, step, output)])

    def _smoothed(self, frames: list[tuple[np.ndarray, np.ndarray | None, np.ndarray]]) -> list[np.ndarray]:
        """The looks of consecutive frames, each blended with the look before it warped along
        the step between them, where that step is trusted: the stabilizer's job, done on the
        working-resolution transform (cheap) instead of full-resolution pixels."""
        out = []
        for small, step, look in frames:
            if self._shown is not None and step is not None and self._strength.any():
                shown_gray, shown_look = self._shown
                moving = self._explained(small, shown_gray, step) * self._unstretched(step)
                look = look + self._strength * moving * (_warp_look(shown_look, step) - look)
            self._shown = (small, look)
            out.append(look)
        return out

    def _new_keyframe(self, index: int, rgb: np.ndarray, small: np.ndarray) -> np.ndarray:
        maps = self.stylizer.look(rgb)
        self._key = _Keyframe(index=index, gray=small, maps=maps)
        self._last = (small, np.zeros((*small.shape, 2), np.float32))
        self.keyframes += 1
        return maps

    def _carry(self, key: _Keyframe, small: np.ndarray, neighbour: np.ndarray, neighbour_flow: np.ndarray | None,
               strict: bool = True) -> _Carried | None:
        """The keyframe's maps warped to this frame, and the per-pixel trust; None at a cut,
        and (``strict``) where too little of the frame is trusted.

        The flow to the keyframe is chained through the neighbouring frame (the one between
        this frame and the keyframe): a short step estimated between adjacent frames, plus the
        neighbour's own flow to the keyframe. Adjacent frames share most of that path, so the
        look moves smoothly from frame to frame; a long flow estimated afresh for every frame
        jitters by a fraction of a pixel, which the look's fine texture shows as shimmer."""
        if neighbour_flow is None or is_cut(small, key.gray) or is_cut(small, neighbour):
            return None
        step = self._flow(small, neighbour)  # this frame -> its neighbour
        flow = step + warp(neighbour_flow, step)  # -> the keyframe
        trust = self._explained(small, key.gray, flow)
        if strict and float((trust > 0.5).mean()) < self.config.min_trusted:
            return None
        trust *= self._unstretched(flow)  # not a reason for a keyframe: extra keyframes pop
        return _Carried(maps=_warp_look(key.maps, flow), trust=trust, flow=flow, step=step)

    def _explained(self, small: np.ndarray, other: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """(h, w) in [0, 1]: how well ``other`` (grey) warped along ``flow`` explains each pixel
        of ``small`` — its grey residual, blurred, and whether the flow lands inside."""
        residual = np.abs(small.astype(np.float32) - warp(other, flow).astype(np.float32)) / 255.0
        residual = cv2.GaussianBlur(residual, (0, 0), 1.5)
        return np.exp(-((residual / self.config.residual) ** 2)) * lands_inside(flow)

    def _unstretched(self, flow: np.ndarray) -> np.ndarray:
        """(h, w) in [0, 1]: low where the flow fans out behind a moving object (flow.stretch),
        which the grey residual cannot see in a flat area: carried along it, a look streaks."""
        return np.exp(-((stretch(flow) / self.config.stretch) ** 2))

    def _small_gray(self, rgb: np.ndarray) -> np.ndarray:
        h, w = self.stylizer.working_shape(*rgb.shape[:2])
        small = rgb if (h, w) == rgb.shape[:2] else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        return gray(small)


def apply_looks(sources: list[np.ndarray], looks: list[Look]) -> list[np.ndarray]:
    """Each frame stylized by its look (the carrier's output)."""
    return [apply_maps(look, rgb) for rgb, look in zip(sources, looks, strict=True)]


def apply_maps(maps: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Apply a working-resolution look (12 or 15 planes) to a full-resolution uint8 RGB frame:
    the planes are upsampled bilinearly, the frame keeps its own edges, the detail planes (if
    any) are added. Returns uint8 RGB. The same sum as `guided.apply_affine`, on CPU arrays
    with OpenCV, one plane upsampled at a time into one buffer: 29 ms a 720p frame on this
    machine, where upsampling all 15 planes first took 92 (fresh 55-MB arrays) and the torch
    einsum 44 for 12 (it runs in the encoder thread, on numpy frames)."""
    height, width = rgb.shape[:2]
    size = (width, height)
    if len(maps) > TRANSFORM:  # the detail joins the offsets before upsampling (bilinear is linear): 12 planes
        maps = np.concatenate([maps[:9], maps[9:TRANSFORM] + maps[TRANSFORM:]])

    def plane(index: int, dst: np.ndarray) -> np.ndarray:
        """Plane ``index`` at the frame's size, written into ``dst``."""
        if maps.shape[1:] == (height, width):
            np.copyto(dst, maps[index])
            return dst
        return cv2.resize(maps[index], size, dst=dst, interpolation=cv2.INTER_LINEAR)

    frame = [cv2.multiply(p, 1.0 / 255.0, dtype=cv2.CV_32F) for p in cv2.split(rgb)]
    up = np.empty((height, width), np.float32)
    term = np.empty((height, width), np.float32)
    out = []
    for o in range(3):
        channel = plane(9 + o, np.empty((height, width), np.float32))
        for i in range(3):
            cv2.multiply(plane(3 * o + i, up), frame[i], dst=term)
            cv2.add(channel, term, dst=channel)
        out.append(channel)
    return cv2.convertScaleAbs(cv2.merge(out), alpha=255.0)  # rounds and saturates to 0-255


def _warp_look(look: Look, flow: np.ndarray) -> Look:
    """A look sampled along the flow: its transform bilinearly (smooth planes), its detail with
    a cubic kernel (bilinear sampling at fractional offsets blurs fine strokes). The sampling
    grid is converted once to OpenCV's fixed-point form, then each plane is remapped with it."""
    grid_x, grid_y = grid(*flow.shape[:2])
    fixed, fraction = cv2.convertMaps(grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.CV_16SC2)
    out = np.empty_like(look)
    for index, (plane, target) in enumerate(zip(look, out, strict=True)):
        interpolation = cv2.INTER_LINEAR if index < TRANSFORM else cv2.INTER_CUBIC
        cv2.remap(plane, fixed, fraction, interpolation, dst=target, borderMode=cv2.BORDER_REPLICATE)
    return out


def _resize(maps: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """(c, h, w) planes resized to ``size`` (width, height)."""
    out = np.empty((maps.shape[0], size[1], size[0]), np.float32)
    for plane, target in zip(maps, out, strict=True):
        cv2.resize(plane, size, dst=target, interpolation=interpolation)
    return out


def _blend(maps0: np.ndarray, w0: np.ndarray, maps1: np.ndarray, w1: np.ndarray) -> np.ndarray:
    """Per-pixel weighted mean of two carried looks. Where neither is trusted (newly revealed
    areas), the transform comes from the nearest trusted neighbourhood (push-pull fill) and the
    detail fades out: strokes pulled in from a neighbourhood would be streaks."""
    weight = w0 + w1
    total = maps0 * w0 + maps1 * w1
    out = fill_untrusted(total[:TRANSFORM], weight)
    detail = total[TRANSFORM:] / np.maximum(weight, DETAIL_FLOOR)
    detail *= _energy_gain(maps0[TRANSFORM:], w0, maps1[TRANSFORM:], w1)
    return np.concatenate([out, detail])


DETAIL_FLOOR = 0.5  # trust below which carried detail fades (in proportion)
ENERGY_RADIUS = 4  # working-resolution pixels: the neighbourhood whose stroke energy a blend keeps
MAX_ENERGY_GAIN = 2.0  # at most this boost: beyond it the two patterns cancel, and noise would be boosted


def _energy_gain(d0: np.ndarray, w0: np.ndarray, d1: np.ndarray, w1: np.ndarray) -> np.ndarray:
    """(h, w) factor, 1 to MAX_ENERGY_GAIN, that gives the weighted mean of two keyframes' detail the local
    strength (RMS) of the two patterns themselves, weighted alike. Why: two keyframes' strokes lie in different places,
    and their mean is flatter than either (half the energy midway between uncorrelated ones):
    the strokes faded towards the middle of every gap. Where the two agree (their local
    correlation, measured), the mean is as strong as they are and the factor stays 1 — a blind
    √2 would make agreeing strokes pulse (variance-preserving blending, Heitz & Neyret
    2018, with the correlation term)."""
    weight = np.maximum(w0 + w1, 1e-6)
    a, b = w0 / weight, w1 / weight
    e0, e1, cross = (_local_mean(np.einsum("chw,chw->hw", x, y)) for x, y in ((d0, d0), (d1, d1), (d0, d1)))
    kept = (a * np.sqrt(e0) + b * np.sqrt(e1)) ** 2  # the blend's strength: the two strengths' mean
    blended = a * a * e0 + b * b * e1 + 2.0 * a * b * cross
    return np.sqrt(kept / np.maximum(blended, 1e-3 * kept + 1e-12)).clip(1.0, MAX_ENERGY_GAIN)


def _local_mean(plane: np.ndarray) -> np.ndarray:
    size = 2 * ENERGY_RADIUS + 1
    return cv2.boxFilter(plane, -1, (size, size))


def fill_untrusted(weighted: np.ndarray, weight: np.ndarray, floor: float = 0.05) -> np.ndarray:
    """``weighted / weight`` where the weight is enough; elsewhere the weighted mean over ever
    larger neighbourhoods (a pyramid: halve until the coarse level has weight everywhere)."""
    if float(weight.min()) >= floor:
        return weighted / weight
    h, w = weight.shape
    coarse_w, coarse_m = weight, weighted
    levels = []
    while float(coarse_w.min()) < 1e-3 and min(coarse_w.shape) > 2:
        size = (max(1, coarse_w.shape[1] // 2), max(1, coarse_w.shape[0] // 2))
        coarse_m = _resize(coarse_m, size, cv2.INTER_AREA)
        coarse_w = cv2.resize(coarse_w, size, interpolation=cv2.INTER_AREA)
        levels.append((coarse_m, coarse_w))
    filled = coarse_m / np.maximum(coarse_w, 1e-6)
    for level_m, level_w in reversed(levels[:-1]):
        up = _resize(filled, (level_w.shape[1], level_w.shape[0]), cv2.INTER_LINEAR)
        share = np.clip(level_w / floor, 0.0, 1.0)
        filled = share * (level_m / np.maximum(level_w, 1e-6)) + (1.0 - share) * up
    filled = _resize(filled, (w, h), cv2.INTER_LINEAR)
    share = np.clip(weight / floor, 0.0, 1.0)
    return share * (weighted / np.maximum(weight, 1e-6)) + (1.0 - share) * filled
