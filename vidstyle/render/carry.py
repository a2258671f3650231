"""Stylize keyframes, carry the look along the motion.

Why: on a laptop CPU the generator costs about half a second a frame even at the fast path's
working size, while decoding, a few optical flows and a per-pixel colour transform cost a few
tens of milliseconds. So the generator runs on keyframes only, and every other frame gets the
look of its neighbouring keyframes carried along the input's optical flow.

What is carried is a *transform*, not pixels: a keyframe's look is its local colour transform
(out = A·in + b per working-resolution pixel, the fast path's guided-filter maps, guided.py).
The maps of the previous and the next keyframe are warped to the frame along the flow, blended
by how near each keyframe is and how well the motion explains each pixel (the strokes mostly
from the better explained look, at the strength the two keyframes' strokes have: a plain mean
of two patterns is flatter than either),
and applied to the frame's own full-resolution content. Pixels carried along a flow smear; a transform re-applied
to the frame's own content keeps its edges and follows whatever the flow got wrong.

Where a flat area's flow strays from the camera's motion (a homography fitted to the trusted
flow) and the camera's explains it too, the camera's is taken: beside a moving object DIS gives
a flat sky the object's motion, and the look came from next to the object. How well the motion
explains a pixel is judged on colour, not grey (a red ball crossing a green
field of the same grey explains the field in grey, and trailed its look over it). Where neither
keyframe's motion can be trusted (newly revealed areas, occlusions), the transform comes from
trusted pixels of the pixel's own colour nearby (a weighted guided regression, `_fill_by_colour`),
else from the nearest trusted neighbourhood (a push-pull fill). Where carrying fails as a
whole — a scene cut, or too little of the frame explained by the motion — that frame becomes a
keyframe. Frames wait for their next keyframe at most ``interval`` frames: memory is bounded.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from vidstyle.config import CarryConfig
from vidstyle.loop import Renderer
from vidstyle.render.flow import (
    FlowEstimator,
    camera_flow,
    consistent,
    gray,
    grid,
    is_cut,
    lands_inside,
    stretch,
    sum_of_squares,
    warp,
)
from vidstyle.render.stages import Worker
from vidstyle.render.stylize import Stylizer


class _Small(NamedTuple):
    """A frame at the working resolution: grey for the flow, colour for the trust check (a red
    ball over a green hill of the same grey explains it in grey: its look was carried there)."""

    gray: np.ndarray  # (h, w) uint8
    rgb: np.ndarray  # (h, w, 3) uint8


@dataclass
class _Keyframe:
    index: int
    small: _Small
    painting: Future[np.ndarray]  # its look, (15, h, w) float32, painted in the carrier's keyframe thread

    @property
    def maps(self) -> np.ndarray:
        """The look, once painted (re-raises what painting it raised)."""
        return self.painting.result()


@dataclass
class _Waiting:
    index: int
    rgb: np.ndarray
    small: _Small
    maps: np.ndarray  # the previous keyframe's maps warped here
    trust: np.ndarray  # (h, w) float32 in [0, 1]: how well the motion explains each pixel
    step: np.ndarray | None  # flow to the frame before


class _Track(NamedTuple):
    """How a frame's pixels move to a keyframe, and how far that can be trusted."""

    flow: np.ndarray  # this frame -> the keyframe, (h, w, 2) at the working resolution
    trust: np.ndarray  # (h, w) float32 in [0, 1]
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
        # the generator paints a keyframe in a thread of its own while the frames waiting for it are
        # tracked to it (README, Speed); one at a time (a runtime's compiled model is not shared)
        self._painter: Worker | None = None  # started with the clip's first keyframe
        self._key: _Keyframe | None = None
        self._last: tuple[_Small, np.ndarray] | None = None  # the last frame, and its flow to the keyframe
        self._waiting: list[_Waiting] = []
        self._shown: tuple[_Small, np.ndarray] | None = None  # the last frame handed back, and its look
        self._count = 0
        self.keyframes = 0  # how many frames the generator ran on (for reports and tests)

    def submit(self, frames: list[np.ndarray]) -> list[Look]:
        out: list[Look] = []
        try:
            for rgb in frames:
                out.extend(self._push(rgb))
        except BaseException:
            self._stop_painting()  # the run stops: no painting goes on behind it
            raise
        return out

    def draw(self, frames: list[np.ndarray], staged: list[Look]) -> list[np.ndarray]:
        return apply_looks(frames, staged)

    def describe(self) -> str:
        return (f"keyframes at most {self.interval} frames apart, their looks carried between them "
                f"(generator on {self.stylizer.runtime})")

    def flush(self) -> list[Look]:
        """The frames still waiting, at the clip's end: its last frame becomes a keyframe, so
        that they too blend the keyframes on both sides. The keyframe thread ends here."""
        try:
            return self._end_window()
        finally:
            self._stop_painting()

    def _stop_painting(self) -> None:
        """End the keyframe thread: at once after the painting it is on, if any (none waits after
        a clip's last keyframe, whose look has been waited for)."""
        if self._painter is not None:
            self._painter.shutdown(cancel_futures=True)
            self._painter = None

    def _end_window(self) -> list[Look]:
        """The frames waiting for a keyframe, where none comes after them in their scene (a cut,
        the clip's end): the last of them becomes one."""
        if not self._waiting:
            return []
        last = self._waiting.pop()
        return self._close_window(last.index, last.rgb, last.small, last.step)

    # -- one frame ---------------------------------------------------------------------------
    def _push(self, rgb: np.ndarray) -> list[np.ndarray]:
        index, self._count = self._count, self._count + 1
        small = self._small(rgb)
        key = self._key
        if key is None or key.small.gray.shape != small.gray.shape or self.interval == 1:
            done = self._end_window()
            self._shown = None
            self._new_keyframe(index, rgb, small)
            return [*done, *self._smoothed([(small, None, self._key.maps)])]
        if self._waiting and is_cut(small.gray, self._last[0].gray):
            # a cut: the frames before it have no keyframe after them in their scene, so the last of
            # them becomes one, as at the clip's end (carried from one side only, a moving object's
            # look streaks across what it uncovers); then this frame starts afresh
            return [*self._end_window(), *self._close_window(index, rgb, small, None)]
        step = self._step(small, self._last[0])  # to the frame before; None across a cut
        if index - key.index < self.interval and step is not None:
            track = self._track(key.small, small, *self._last, step=step)
            if track is not None:
                self._last = (small, track.flow)
                self._waiting.append(_Waiting(index, rgb, small, _warp_look(key.maps, track.flow), track.trust,
                                              track.step))
                return []
        # the window's last frame, or too little of this one explained by the motion: a keyframe,
        # eased in from the frame before where the step between them is trusted
        return self._close_window(index, rgb, small, step)

    def _close_window(self, index: int, rgb: np.ndarray, small: _Small,
                      step: np.ndarray | None) -> list[np.ndarray]:
        """``rgb`` becomes the next keyframe; the frames waiting for it blend both keyframes. They
        are tracked to it while the generator paints it, then its look is warped to them."""
        previous = self._key
        self._new_keyframe(index, rgb, small)
        key = self._key
        later = (key.small, np.zeros((*key.small.gray.shape, 2), np.float32))  # the next frame and its flow to the key
        tracks: list[_Track | None] = []  # back from the new keyframe, one step at a time
        for waiting in reversed(self._waiting):
            track = self._track(key.small, waiting.small, *later, strict=False)  # None: a cut between them
            tracks.append(track)
            later = (waiting.small, None if track is None else track.flow)
        done = []
        for waiting, track in zip(reversed(self._waiting), tracks, strict=True):
            if track is None:  # the previous keyframe alone, given way where it is not trusted as in any
                # blend (else an uncovered area drags a look in)
                done.append(_blend(waiting.maps, waiting.trust, waiting.maps, waiting.trust, 0.0, waiting.small.rgb))
                continue
            alpha = (waiting.index - previous.index) / (key.index - previous.index)
            done.append(_blend(waiting.maps, waiting.trust, _warp_look(key.maps, track.flow), track.trust, alpha,
                               waiting.small.rgb))
        # each waiting frame's step to the frame after it (the forward flow): frame i's forward flow
        # from the frame before it is that frame's step ahead (the first: computed)
        ahead = [None if track is None else track.step for track in reversed(tracks)]
        frames = [(w.small, w.step, look) for w, look in zip(self._waiting, reversed(done), strict=True)]
        self._waiting = []
        return self._smoothed([*frames, (small, step, key.maps)], [None, *ahead])

    def _smoothed(self, frames: list[tuple[_Small, np.ndarray | None, np.ndarray]],
                  forwards: list[np.ndarray | None] | None = None) -> list[np.ndarray]:
        """The looks of consecutive frames, each blended with the look before it warped along
        the step between them, where that step is trusted: the stabilizer's job, done on the
        working-resolution transform (cheap) instead of full-resolution pixels. Trusted means
        explained by the colours, not stretched, and consistent with the forward flow from the
        frame before (``forwards``, where known; else estimated here): a step interpolated across
        an area a moving object uncovers points into it from the object's side and drags the look
        there into streaks, but the frame before does not point back."""
        strength, detail_strength = self.config.smoothing, self.config.detail_smoothing
        out = []
        for (small, step, look), forward in zip(frames, forwards or [None] * len(frames), strict=True):
            if self._shown is not None and step is not None and (strength or detail_strength):
                shown, shown_look = self._shown
                if forward is None:
                    forward = self._flow(shown.gray, small.gray)
                moving = self._explained(small, shown, step) * self._unstretched(step) * consistent(step, forward)
                change = _warp_look(shown_look, step)  # look + strength · moving · (warped - look), in place
                change -= look
                change[:TRANSFORM] *= strength * moving
                change[TRANSFORM:] *= detail_strength * moving
                change += look
                look = change
            self._shown = (small, look)
            out.append(look)
        return out

    def _new_keyframe(self, index: int, rgb: np.ndarray, small: _Small) -> None:
        """``rgb`` becomes the keyframe; its look is painted in the keyframe thread (``.maps`` waits)."""
        if self._painter is None:
            self._painter = Worker("keyframe")  # in the caller's context: a warning it gives is spelled alike
        self._key = _Keyframe(index=index, small=small, painting=self._painter.submit(self.stylizer.look, rgb))
        self._last = (small, np.zeros((*small.gray.shape, 2), np.float32))
        self.keyframes += 1

    def _track(self, key: _Small, small: _Small, neighbour: _Small, neighbour_flow: np.ndarray | None,
               strict: bool = True, step: np.ndarray | None = None) -> _Track | None:
        """This frame's flow to the keyframe ``key``, and the per-pixel trust; None at a cut,
        and (``strict``) where too little of the frame is trusted.

        The flow to the keyframe is chained through the neighbouring frame (the one between
        this frame and the keyframe): a short step estimated between adjacent frames, plus the
        neighbour's own flow to the keyframe. Adjacent frames share most of that path, so the
        look moves smoothly from frame to frame; a long flow estimated afresh for every frame
        jitters by a fraction of a pixel, which the look's fine texture shows as shimmer.
        ``step``: the flow to the neighbour, where the caller has estimated it already."""
        if neighbour_flow is None or is_cut(small.gray, key.gray):
            return None
        step = self._step(small, neighbour) if step is None else step
        if step is None:
            return None
        flow = step + warp(neighbour_flow, step)  # -> the keyframe
        flow, trust = self._with_camera(small, key, flow, self._explained(small, key, flow))
        if strict and float((trust > 0.5).mean()) < self.config.min_trusted:
            return None
        trust *= self._unstretched(flow)  # not a reason for a keyframe: extra keyframes pop
        return _Track(flow=flow, trust=trust, step=step)

    def _with_camera(self, small: _Small, key: _Small, flow: np.ndarray,
                     trust: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The flow to the keyframe and its trust, with the camera's motion (flow.camera_flow)
        where that explains a pixel and the chained flow is less trusted or strays from it by
        over CAMERA_STRAY px. Why: in a flat area DIS takes on the motion of a moving object
        beside it, the colours still match, and the look carried along it came from next to
        the object in the keyframe: a pale haze trailing a disc across a grainy sky, a lighter
        column above the sample's ball. Not within CAMERA_MARGIN px of where the keyframe shows
        something else: the generator paints an object's rim onto what lies around it. Nor
        where the chained flow strays as a rigid whole: the flat inside of a moving object moves
        with its edges, and the camera's motion explains it too."""
        if float((trust < 0.5).mean()) <= CAMERA_UNTRUSTED:  # nothing moves against the camera
            return flow, trust
        camera = camera_flow(flow, trust)
        if camera is None:
            return flow, trust
        margin = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * CAMERA_MARGIN + 1,) * 2)
        explained = cv2.erode(self._explained(small, key, camera), margin, borderType=cv2.BORDER_REPLICATE)
        deviation = flow - camera
        # strays, and not as a rigid whole (an object's flat inside moves with its edges): a fan
        strays = (sum_of_squares(deviation) > CAMERA_STRAY ** 2) & (stretch(deviation) > CAMERA_FAN)
        take = (explained > trust + 0.2) | (strays & (explained > 0.8))
        return np.where(take[..., None], camera, flow), np.where(take, explained, trust)

    def _step(self, small: _Small, neighbour: _Small) -> np.ndarray | None:
        """The flow from this frame to its neighbour; None across a cut."""
        return None if is_cut(small.gray, neighbour.gray) else self._flow(small.gray, neighbour.gray)

    def _explained(self, small: _Small, other: _Small, flow: np.ndarray) -> np.ndarray:
        """(h, w) in [0, 1]: how well ``other`` warped along ``flow`` explains each pixel of
        ``small`` — its colour residual (the channels' mean), blurred, and whether the flow
        lands inside."""
        residual = cv2.transform(cv2.absdiff(small.rgb, warp(other.rgb, flow)).astype(np.float32), _CHANNEL_MEAN)
        residual = cv2.GaussianBlur(residual, (0, 0), 1.5)
        return np.exp(-((residual / self.config.residual) ** 2)) * lands_inside(flow)

    def _unstretched(self, flow: np.ndarray) -> np.ndarray:
        """(h, w) in [0, 1]: low where the flow fans out behind a moving object (flow.stretch),
        which the colour residual cannot see in a flat area: carried along it, a look streaks."""
        return np.exp(-((stretch(flow) / self.config.stretch) ** 2))

    def _small(self, rgb: np.ndarray) -> _Small:
        h, w = self.stylizer.working_shape(*rgb.shape[:2])
        small = rgb if (h, w) == rgb.shape[:2] else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        return _Small(gray(small), small)


CAMERA_UNTRUSTED = 0.002  # share of a frame untrusted above which the camera's motion is checked
CAMERA_STRAY = 3.0  # working-resolution pixels a chained flow may stray from the camera's where both explain
CAMERA_FAN = 0.2  # flow.stretch of that straying above which it is a fan, not a flat object moving whole
CAMERA_MARGIN = 3  # working-resolution pixels around what the keyframe shows otherwise: its painted rim
_CHANNEL_MEAN = np.full((1, 3), 1.0 / (3 * 255), np.float32)  # uint8 RGB -> the mean channel in 0-1 (float32)


def apply_looks(sources: list[np.ndarray], looks: list[Look]) -> list[np.ndarray]:
    """Each frame stylized by its look (the carrier's output)."""
    return [apply_maps(look, rgb) for rgb, look in zip(sources, looks, strict=True)]


def apply_maps(maps: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Apply a working-resolution look (12 or 15 planes) to a full-resolution uint8 RGB frame:
    the planes are upsampled bilinearly, the frame keeps its own edges, the detail planes (if
    any) are added. Returns uint8 RGB. The same sum as `guided.apply_affine`, on CPU arrays
    with OpenCV, one plane upsampled at a time into one buffer: 29 ms a 720p frame on this
    machine, where upsampling all 15 planes first took 92 (fresh 55-MB arrays) and the torch
    einsum 44 for 12 (it runs in the drawer thread, on numpy frames)."""
    height, width = rgb.shape[:2]
    size = (width, height)
    full = maps.shape[1:] == (height, width)  # off the fast path the look is at the frame's size: no copies

    def plane(index: int, dst: np.ndarray) -> np.ndarray:
        """Matrix plane ``index`` at the frame's size (upsampled into ``dst``)."""
        return maps[index] if full else cv2.resize(maps[index], size, dst=dst, interpolation=cv2.INTER_LINEAR)

    def offset(o: int) -> np.ndarray:
        """Channel ``o``'s offset with the detail (if any) added before upsampling (bilinear is
        linear), at the frame's size, in a fresh array."""
        sum_ = maps[9 + o] + maps[TRANSFORM + o] if len(maps) > TRANSFORM else maps[9 + o]
        if full:
            return sum_ if len(maps) > TRANSFORM else sum_.copy()
        return cv2.resize(sum_, size, interpolation=cv2.INTER_LINEAR)

    frame = [cv2.multiply(p, 1.0 / 255.0, dtype=cv2.CV_32F) for p in cv2.split(rgb)]
    up = np.empty((height, width), np.float32)
    term = np.empty((height, width), np.float32)
    out = []
    for o in range(3):
        channel = offset(o)
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


def _blend(maps0: np.ndarray, trust0: np.ndarray, maps1: np.ndarray, trust1: np.ndarray, alpha: float,
           guide: np.ndarray | None = None) -> np.ndarray:
    """Per-pixel mean of two carried looks, weighted by nearness (``alpha``: the second one's
    share) and by trust; the strokes by trust more steeply (`_stroke_weights`). Where neither is
    trusted (newly revealed areas), the transform comes from trusted pixels nearby, of the same
    colour in ``guide`` (the frame at the working resolution, uint8 RGB; `fill_untrusted`), and
    the detail fades out: strokes pulled in from a neighbourhood would be streaks. Where one is
    trusted, its strokes stay whole however far its keyframe is: what a moving object uncovers
    is seen by one keyframe only, and fading the strokes there by that keyframe's nearness left
    a strokeless haze behind every moving object."""
    w0, w1 = (1.0 - alpha) * trust0, alpha * trust1
    weight = w0 + w1
    s0, s1 = _stroke_weights(trust0, trust1, alpha, weight)
    out = np.empty_like(maps0)  # the weighted sums, in place (15 planes: temporaries cost more than the sums)
    for planes, a, b in ((slice(None, TRANSFORM), w0, w1), (slice(TRANSFORM, None), s0, s1)):
        np.multiply(maps0[planes], a, out=out[planes])
        out[planes] += np.multiply(maps1[planes], b)
    out[:TRANSFORM] = fill_untrusted(out[:TRANSFORM], weight, guide)
    safe = np.maximum(weight, 1e-6)
    confidence = (s0 * trust0 + s1 * trust1) / safe  # the trust of the strokes the blend is made of
    out[TRANSFORM:] *= _energy_gain(maps0[TRANSFORM:], s0, maps1[TRANSFORM:], s1) * np.minimum(
        confidence / DETAIL_FLOOR, 1.0) / safe
    return out


def _stroke_weights(trust0: np.ndarray, trust1: np.ndarray, alpha: float,
                    weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two looks' weights for the strokes: ``weight`` in all, as for the transform, but split
    by nearness and the fourth power of trust. Why: a stroke carried from the ball's rim in one
    keyframe, a third trusted where the ball had been, took half the blend, and `_energy_gain`
    gave it back most of its strength among the other keyframe's trusted strokes: a purple fleck
    that stayed on the sample's blue hill for a dozen frames. Measured (README, Quality): the
    square left the fleck faint, the eighth power cost the shaky scene more. Equally trusted
    looks split by nearness, as before."""
    top = np.maximum(trust0, trust1)

    def steep(trust: np.ndarray, nearness: float) -> np.ndarray:
        """nearness · (trust / top)⁴: as a fraction of the larger trust, a tiny one keeps its ratio."""
        part = np.divide(trust, top, out=np.zeros_like(top), where=top > 0)
        np.square(part, out=part)
        np.square(part, out=part)  # the fourth power, without pow's cost
        part *= nearness
        return part

    p0, p1 = steep(trust0, 1.0 - alpha), steep(trust1, alpha)
    total = p0 + p1
    share = np.divide(p0, total, out=np.zeros_like(total), where=total > 0)  # 0 where neither is trusted
    share *= weight
    return share, weight - share


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


def fill_untrusted(weighted: np.ndarray, weight: np.ndarray, guide: np.ndarray | None = None,
                   floor: float = 0.05) -> np.ndarray:
    """``weighted / weight`` where the weight is enough; elsewhere the weighted mean over ever
    larger neighbourhoods (a pyramid: halve until the coarse level has weight everywhere). With
    ``guide`` (the frame's colours, (h, w, 3) uint8 RGB), what trusted pixels *of the
    pixel's own colour* nearby have (`_fill_by_colour`): a neighbourhood's mean would hand the
    look of a moving red ball to the green field it uncovers."""
    out = weighted / np.maximum(weight, 1e-6)
    if float(weight.min()) >= floor:
        return out
    ys, xs = np.nonzero(weight < floor)  # the pixels filled (a few %): computed there alone
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
    fill = _upsampled_at(filled, weight.shape, ys, xs)  # (c, n)
    if guide is not None:
        fill = _fill_by_colour(weighted, weight, guide, fill, ys, xs)
    mean = out[:, ys, xs]
    fill -= mean
    fill *= 1.0 - np.clip(weight[ys, xs] / floor, 0.0, 1.0)
    out[:, ys, xs] = mean + fill  # share · mean + (1 - share) · fill, share = min(weight / floor, 1)
    return out


def _upsampled_at(planes: np.ndarray, shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(c, n): ``planes`` (c, h', w') resized bilinearly to ``shape`` (as cv2.resize's INTER_LINEAR,
    replicated borders), at the pixels (ys, xs) alone: a fill needs a few % of a frame."""
    def taps(at: np.ndarray, source: int, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The two source indices and the second one's weight for target coordinates ``at``."""
        where = ((at + 0.5) * (source / target) - 0.5).astype(np.float32)
        first = np.floor(where)
        frac = np.where(first < 0, 0.0, where - first).astype(np.float32)
        first = np.clip(first, 0, source - 1).astype(np.intp)
        frac[first >= source - 1] = 0.0
        return first, np.minimum(first + 1, source - 1), frac

    y0, y1, fy = taps(ys, planes.shape[1], shape[0])
    x0, x1, fx = taps(xs, planes.shape[2], shape[1])
    top = planes[:, y0, x0] * (1 - fx) + planes[:, y0, x1] * fx
    bottom = planes[:, y1, x0] * (1 - fx) + planes[:, y1, x1] * fx
    return top * (1 - fy) + bottom * fy


FILL_CELL = 4  # working-resolution pixels per cell of the colour-aware fill
FILL_RADIUS = 3  # cells: the window (7x7 cells) whose trusted colours and transforms a pixel's fill regresses on
FILL_EPS = 1e-3  # ridge on the window's colour covariance: where its trusted colours barely vary, their mean
FILL_MIN = 0.05  # mean trust of a window below which its regression gives way to the plain fill


def _fill_by_colour(weighted: np.ndarray, weight: np.ndarray, guide: np.ndarray, fill: np.ndarray,
                    ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(c, n): the fill at the untrusted pixels (ys, xs), from a weighted guided regression (He
    et al.'s guided filter, weighted by trust): over a window of cells, the trusted transforms as a
    linear function of the trusted colours, evaluated at the pixel's own colour and kept within
    the window's trusted range; ``fill`` (c, n) where a window has nothing trusted. Cells of
    FILL_CELL² pixels (their trusted mean colour and transform) keep it cheap, and only the cells
    next to an untrusted pixel are solved for."""
    guide = guide.astype(np.float32) / 255.0
    h, w = weight.shape
    size = (max(2, w // FILL_CELL), max(2, h // FILL_CELL))
    cells = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    inverse = 1.0 / np.maximum(cells, 1e-6)
    weighted_colour = np.ascontiguousarray((guide * weight[..., None]).transpose(2, 0, 1))
    colour = _resize(weighted_colour, size, cv2.INTER_AREA) * inverse  # (3, h2, w2): each cell's trusted means
    maps = _resize(weighted, size, cv2.INTER_AREA) * inverse  # (12, h2, w2)
    trusted = cells > 1e-3
    window = (2 * FILL_RADIUS + 1,) * 2
    kernel = np.ones(window, np.uint8)  # replicated borders: OpenCV's default pads with ±FLT_MAX, not ±inf
    low = cv2.erode(np.where(trusted, maps, np.inf).transpose(1, 2, 0).copy(), kernel,
                    borderType=cv2.BORDER_REPLICATE)
    high = cv2.dilate(np.where(trusted, maps, -np.inf).transpose(1, 2, 0).copy(), kernel,
                      borderType=cv2.BORDER_REPLICATE)

    # the points' cells (bilinear corners) and the few cells they touch
    cx = ((xs + 0.5) * (size[0] / w) - 0.5).astype(np.float32).clip(0, size[0] - 1)
    cy = ((ys + 0.5) * (size[1] / h) - 0.5).astype(np.float32).clip(0, size[1] - 1)
    x0, y0 = np.minimum(cx.astype(np.int32), size[0] - 2), np.minimum(cy.astype(np.int32), size[1] - 2)
    fx, fy = (cx - x0)[:, None], (cy - y0)[:, None]
    corners = [(y0 + dy) * size[0] + x0 + dx for dy in (0, 1) for dx in (0, 1)]
    needed, where = np.unique(np.concatenate(corners), return_inverse=True)

    total = cv2.boxFilter(cells, -1, window).ravel()[needed]
    safe = np.maximum(total, 1e-6)[:, None]

    def mean(x: np.ndarray) -> np.ndarray:  # trust-weighted window means at the needed cells: (k, c)
        flat = np.stack([cv2.boxFilter(cells * plane, -1, window).ravel()[needed] for plane in x], axis=1)
        return flat / safe

    mu_g, mu_m = mean(colour), mean(maps)  # (k, 3), (k, 12)
    gg = mean(np.stack([colour[i] * colour[j] for i in range(3) for j in range(3)])).reshape(-1, 3, 3)
    sigma = gg - mu_g[:, :, None] * mu_g[:, None, :] + FILL_EPS * np.eye(3, dtype=np.float32)
    mg = mean((maps[:, None] * colour[None]).reshape(-1, *cells.shape)).reshape(-1, TRANSFORM, 3)
    cov = mg - mu_m[:, :, None] * mu_g[:, None, :]  # (k, 12, 3)
    beta = np.linalg.solve(sigma, cov.transpose(0, 2, 1))  # (k, 3, 12): transform per unit of colour
    alpha = mu_m - np.einsum("kcm,kc->km", beta, mu_g)
    keep = np.clip(total / FILL_MIN, 0.0, 1.0)[:, None]
    table = np.concatenate([alpha, beta.reshape(-1, 3 * TRANSFORM), keep], axis=1).astype(np.float32)

    def at(corner: int) -> np.ndarray:
        return table[where[corner * len(ys):(corner + 1) * len(ys)]]

    point = (at(0) * (1 - fx) + at(1) * fx) * (1 - fy) + (at(2) * (1 - fx) + at(3) * fx) * fy  # (n, 49)
    fit = point[:, :TRANSFORM] + np.einsum("ncm,nc->nm", point[:, TRANSFORM:-1].reshape(-1, 3, TRANSFORM),
                                             guide[ys, xs])
    # within the window's trusted range (nearest cell): a colour the window lacks is not extrapolated far
    near_y, near_x = np.rint(cy).astype(np.int32), np.rint(cx).astype(np.int32)
    lo, hi = low[near_y, near_x], high[near_y, near_x]
    known = np.isfinite(lo[:, :1])  # one trust mask for every plane: all finite (and low <= high) or none
    fit = np.where(known, np.clip(fit, lo, hi), 0.0)  # (0 where unknown: keep is 0 there, and 0·inf is nan)
    keep = point[:, -1:] * known
    return (keep * fit + (1.0 - keep) * fill.T).T
