"""Keyframes and the look carried along the motion (render/carry.py)."""

import importlib.util
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import torch
from support import FAST, SAMPLES, make_clip, read_clip, run

from vidstyle.config import CarryConfig, GeneratorConfig, InferenceConfig, RunConfig
from vidstyle.errors import command_line_names, spell
from vidstyle.loop import pictures
from vidstyle.media.images import load_image, resize
from vidstyle.media.sources import ArraySource
from vidstyle.model.train import build_generator
from vidstyle.render import carry
from vidstyle.render.carry import KeyframeCarrier, apply_maps, fill_untrusted
from vidstyle.render.stylize import Stylizer


@pytest.fixture(scope="module")
def stylizer():
    return Stylizer(build_generator(GeneratorConfig(), 3, torch.device("cpu")))


def _pan(picture: np.ndarray, frames: int, step: int = 4, size=(72, 120)) -> list[np.ndarray]:
    h, w = size
    return [np.ascontiguousarray(picture[20:20 + h, 10 + i * step:10 + i * step + w]) for i in range(frames)]


@pytest.fixture(scope="module")
def painting():
    return resize(load_image(SAMPLES / "starry_night.jpg").rgb, 160, 256)


def test_every_frame_comes_back_in_order_with_few_keyframes(stylizer, painting, monkeypatch):
    frames = _pan(painting, 11)
    carrier = KeyframeCarrier(stylizer, CarryConfig(), interval=4)
    held = []

    def watched():
        for frame in frames:
            yield frame
            held.append(len(carrier._waiting))  # after the carrier took the frame

    painters, look = [], stylizer.look

    def painting_in(rgb):  # the generator paints keyframes in a thread of its own, and only there
        painters.append(threading.current_thread().name)
        return look(rgb)

    monkeypatch.setattr(stylizer, "look", painting_in)
    before = set(threading.enumerate())
    out = list(pictures(ArraySource(watched()), carrier))
    assert len(out) == 11 and all(o.shape == (72, 120, 3) and o.dtype == np.uint8 for o in out)
    assert carrier.keyframes == 4  # frames 0, 4, 8, and the last (9 blends 8 and 10)
    assert len(painters) == 4 and all(name.startswith("vidstyle-keyframe") for name in painters)
    assert set(threading.enumerate()) <= before  # the keyframe thread ended with the clip
    assert max(held) == 3  # never more than interval - 1 frames wait: memory is bounded
    # a carried frame looks like that frame stylized on its own (the every-frame output; steps of
    # 4 px, which the generator's strided branches see alike), strokes included: closer than the
    # keyframe's look unwarped (28-34 levels off with this untrained generator) and than the
    # frame's own colour transform without its strokes (17 levels off)
    keys = {i: stylizer.look(frames[i]) for i in (0, 4, 8)}
    for i in (1, 2, 3, 5, 6, 7, 9, 10):
        own_look = stylizer.look(frames[i])
        own = apply_maps(own_look, frames[i]).astype(int)
        carried = np.abs(out[i].astype(int) - own).mean()
        unwarped = np.abs(apply_maps(keys[i // 4 * 4], frames[i]).astype(int) - own).mean()
        strokeless = np.abs(apply_maps(own_look[:12], frames[i]).astype(int) - own).mean()
        assert carried < 0.4 * unwarped and carried < 0.7 * strokeless, i
    # and it follows the motion: the carried frame is not the keyframe's pixels
    assert np.abs(out[2].astype(int) - out[0].astype(int)).mean() > 4.0


def test_an_error_painting_a_keyframe_is_raised_in_the_callers_thread(stylizer, painting, monkeypatch):
    look, calls = stylizer.look, []

    def failing(rgb):
        calls.append(rgb)
        if len(calls) == 2:
            raise ValueError("the generator broke on the second keyframe")
        return look(rgb)

    monkeypatch.setattr(stylizer, "look", failing)
    carrier = KeyframeCarrier(stylizer, CarryConfig(), interval=4)
    before = set(threading.enumerate())
    with pytest.raises(ValueError, match="second keyframe"):
        list(pictures(ArraySource(iter(_pan(painting, 11))), carrier))
    assert set(threading.enumerate()) <= before  # nothing goes on painting behind the error


def test_a_cut_starts_a_keyframe_and_nothing_crosses_it(stylizer, painting):
    other = np.ascontiguousarray(painting[::-1, ::-1] // 2 + 60)
    frames = _pan(painting, 3) + _pan(other, 3)
    carrier = KeyframeCarrier(stylizer, CarryConfig(), interval=8)
    out = list(pictures(ArraySource(frames), carrier))
    # the first frame, the last before the cut (its scene's frames blend two keyframes, as at a
    # clip's end), the first after it, the last
    assert len(out) == 6 and carrier.keyframes == 4
    own = apply_maps(stylizer.look(frames[3]), frames[3])
    assert np.array_equal(out[3], own)


class _RedLifter:
    """A stand-in generator whose look lifts red pixels by half the range and leaves the rest:
    where a red object's look lands shows in the output."""

    batch_size = 1

    def working_shape(self, height: int, width: int) -> tuple[int, int]:
        return height, width

    def look(self, rgb: np.ndarray) -> np.ndarray:
        look = np.zeros((15, *rgb.shape[:2]), np.float32)
        look[[0, 4, 8]] = 1.0  # the identity colour transform
        look[9:12] = 0.5 * (rgb[..., 0] > rgb[..., 1])  # its offset: lifted where red
        return look


def _red_disc_over_a_field(count: int, speed: int) -> list[np.ndarray]:
    """A red disc crossing a green field of the same grey (81 levels), ``speed`` px a frame."""
    h, w = 64, 128
    yy, xx = np.mgrid[:h, :w]
    frames = []
    for t in range(count):
        frame = np.empty((h, w, 3), np.uint8)
        frame[:] = (40, 110, 40)
        frame[(yy - 32) ** 2 + (xx - 30 - speed * t) ** 2 < 14**2] = (200, 30, 30)
        frames.append(frame)
    return frames


def _assert_no_trail(frames: list[np.ndarray], out: list[np.ndarray], checked: tuple[int, ...]) -> None:
    for t in checked:
        behind = (frames[0][..., 0] > 100) & (frames[t][..., 0] < 100)  # red at the keyframe, green now
        trail = np.abs(out[t][behind].astype(int) - frames[t][behind]).mean()
        assert trail < 3.0, (t, trail)  # the field as it is (the look of a green pixel: unchanged)
        disc = frames[t][..., 0] > 100
        assert np.abs(out[t][disc].astype(int) - frames[t][disc]).mean() > 40  # and the disc is lifted


def test_a_moving_object_of_the_same_grey_leaves_no_trail():
    # the grey residual explained the field behind the disc by the disc, and carried its look there
    frames = _red_disc_over_a_field(9, speed=4)
    carrier = KeyframeCarrier(_RedLifter(), CarryConfig(), interval=8)
    out = list(pictures(ArraySource(iter(frames)), carrier))
    assert carrier.keyframes == 2
    _assert_no_trail(frames, out, (2, 4, 6))


@pytest.mark.parametrize("before", [6, 8])  # a cut inside a window, and one where a keyframe is due anyway
def test_a_moving_object_leaves_no_trail_before_a_cut(before):
    """The frames before a cut had no keyframe after them to blend with, and kept their one
    carried look untrusted areas included: the disc's look dragged along the flow over the field
    it uncovers (seen on a real render as a growing smear behind a disc before a cut: 128 levels
    here). The last frame before a cut is a keyframe now, as a clip's last frame is."""
    frames = _red_disc_over_a_field(before, speed=4)
    cut = np.empty_like(frames[0])
    cut[:] = (30, 30, 160)
    cut[10:30, 80:110] = (230, 220, 40)
    frames += [cut, cut.copy()]
    carrier = KeyframeCarrier(_RedLifter(), CarryConfig(), interval=8)
    out = list(pictures(ArraySource(iter(frames)), carrier))
    assert carrier.keyframes == 4  # the first frame, the last before the cut, the cut, the clip's last frame
    _assert_no_trail(frames, out, tuple(range(2, before)))


def _disc_over_panned_ground(count: int, *, speed: int, radius: int, centre: tuple[int, int],
                             colour: tuple[int, int, int], sky: bool) -> list[np.ndarray]:
    """A camera panning 1 px a frame over textured ground (under a flat sky, with ``sky``: its
    top half), and a flat disc of ``colour`` moving ``speed`` px a frame to the right from
    ``centre`` (row, column)."""
    rng = np.random.default_rng(0)
    h, w = 96, 192
    top = h // 2 if sky else 0
    ground = cv2.GaussianBlur((rng.random((h - top, w + count, 3)) * 120 + 60).astype(np.uint8), (0, 0), 1.0)
    yy, xx = np.mgrid[:h, :w]
    frames = []
    for t in range(count):
        frame = np.empty((h, w, 3), np.uint8)
        frame[:top] = (150, 165, 205)
        frame[top:] = ground[:, t:t + w]
        frame[(yy - centre[0]) ** 2 + (xx - centre[1] - speed * t) ** 2 < radius**2] = colour
        frames.append(frame)
    return frames


def _flow_to_the_first_keyframe(frames: list[np.ndarray]) -> np.ndarray:
    """The last frame's carried flow to the first (the keyframe), chained frame by frame as the
    carrier chains it."""
    carrier = KeyframeCarrier(_RedLifter(), CarryConfig(), interval=8)
    carrier.submit(frames[:1])
    neighbour = carrier._last
    for rgb in frames[1:]:
        small = carrier._small(rgb)
        track = carrier._track(carrier._key.small, small, *neighbour)
        neighbour = (small, track.flow)
    carrier.flush()  # its keyframe thread ends
    return track.flow


def test_a_flat_sky_beside_a_moving_disc_is_carried_with_the_camera(monkeypatch):
    # DIS gives the sky around the disc the disc's motion; along it, the sky's look came from next
    # to the disc in the keyframe (a haze trailing it on a grainy street clip). The camera's pan
    # explains the sky as well, and is what the sky does.
    frames = _disc_over_panned_ground(5, speed=6, radius=11, centre=(24, 30), colour=(235, 205, 40), sky=True)
    disc = frames[4][..., 2] < 100
    around = cv2.dilate(disc.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0
    beside = around & ~(cv2.dilate(disc.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    beside[48:] = False  # the sky only

    def straying(camera: bool) -> float:
        """Median distance, in px, of the sky's flow to the keyframe from the camera's (4 px)."""
        if not camera:
            monkeypatch.setattr(carry, "camera_flow", lambda flow, trust: None)
        flow = _flow_to_the_first_keyframe(frames)
        return float(np.median(np.hypot(flow[..., 0] - 4.0, flow[..., 1])[beside]))

    assert straying(camera=True) < 2.0
    assert straying(camera=False) > 5.0  # without it: the disc's motion


def test_the_flat_inside_of_a_large_moving_object_keeps_its_own_motion():
    # a flat red disc larger than its motion overlaps where it was: the camera's pan "explains"
    # its inside as well, but the inside moves with the disc (which the chained flow follows)
    speed = 3
    frames = _disc_over_panned_ground(5, speed=speed, radius=26, centre=(48, 50), colour=(200, 40, 40), sky=False)
    yy, xx = np.mgrid[:96, :192]
    inside = (yy - 48) ** 2 + (xx - 50 - speed * 4) ** 2 < 18**2
    flow = _flow_to_the_first_keyframe(frames)
    assert np.median(flow[..., 0][inside]) < -6.0  # the disc's way (-12), not the camera's (+4)


def test_untrusted_pixels_take_the_nearest_trusted_transform():
    maps = np.zeros((12, 40, 40), np.float32)
    maps[:, :, :20] = 1.0
    maps[:, :, 20:] = 3.0
    weight = np.ones((40, 40), np.float32)
    weight[10:30, 2:12] = 0.0  # a hole in the left half
    filled = fill_untrusted(maps * weight, weight)
    assert np.allclose(filled[:, :, 20:], 3.0) and np.allclose(filled[:, :10, :20], 1.0)
    assert 0.9 < filled[:, 20, 7].mean() < 1.6  # from its own side, not the mean of the frame


def test_untrusted_pixels_take_the_transform_of_their_own_colour_nearby():
    # a red region (transform 1) beside a green one (transform 3), a hole across their border:
    # the neighbourhood's mean gives the hole ~2 on both sides; the frame's colours tell them apart
    maps = np.zeros((12, 48, 48), np.float32)
    maps[:, :, :24] = 1.0
    maps[:, :, 24:] = 3.0
    guide = np.zeros((48, 48, 3), np.uint8)
    guide[:, :24] = (200, 25, 25)
    guide[:, 24:] = (40, 115, 40)
    weight = np.ones((48, 48), np.float32)
    weight[12:36, 16:32] = 0.0
    plain = fill_untrusted(maps * weight, weight)
    by_colour = fill_untrusted(maps * weight, weight, guide)
    hole_red, hole_green = (slice(None), slice(12, 36), slice(16, 24)), (slice(None), slice(12, 36), slice(24, 32))
    assert np.abs(plain[hole_red] - 1.0).max() > 0.5 and np.abs(plain[hole_green] - 3.0).max() > 0.5
    assert np.abs(by_colour[hole_red] - 1.0).max() < 0.05 and np.abs(by_colour[hole_green] - 3.0).max() < 0.05
    assert np.array_equal(by_colour[:, weight > 0], maps[:, weight > 0])  # trusted pixels keep their own
    # a hole at the frame's edge, wider than a window, beside nothing trusted of its colour: the
    # windows that reach past the edge find nothing there, and the fill stays within the frame's values
    weight = np.ones((96, 96), np.float32)
    weight[0:40, 30:60] = 0.0
    guide = np.zeros((96, 96, 3), np.uint8)
    guide[:, :48] = (200, 25, 25)
    guide[:, 48:] = (40, 115, 40)
    maps = np.where(np.arange(96) < 48, 1.0, 3.0).astype(np.float32)[None, None].repeat(96, 1).repeat(12, 0)
    edge = fill_untrusted(maps * weight, weight, guide)
    assert np.isfinite(edge).all() and edge.min() >= 1.0 - 1e-4 and edge.max() <= 3.0 + 1e-4


@pytest.mark.parametrize(("source", "target"),
                         [((9, 16), (36, 64)), ((7, 11), (29, 45)), ((1, 20), (3, 40)), ((12, 20), (12, 20))])
def test_the_fill_is_upsampled_at_the_untrusted_pixels_as_opencv_upsamples_the_whole(source, target):
    # the fill is computed at the pixels it fills alone (a few % of a frame: 13.6 -> 9.1 ms a
    # 512x288 blend); it must be the bilinear upsampling OpenCV gave the whole plane before
    from vidstyle.render.carry import _upsampled_at

    planes = np.random.default_rng(1).random((3, *source)).astype(np.float32)
    ys, xs = np.nonzero(np.ones(target, bool))
    whole = np.stack([cv2.resize(p, target[::-1], interpolation=cv2.INTER_LINEAR) for p in planes])
    assert np.abs(_upsampled_at(planes, target, ys, xs) - whole[:, ys, xs]).max() < 1e-6


def test_keyframes_option(tmp_path, style_path, capsys):
    src = make_clip(tmp_path / "c.mp4", frames=9)
    assert run(src, "--style", style_path, "-o", tmp_path / "k3.mp4", "--keyframes", "3", *FAST) == 0
    assert read_clip(tmp_path / "k3.mp4").pts == read_clip(src).pts
    assert run(src, "--style", style_path, "-o", tmp_path / "x.mp4", "--keyframes", "0", *FAST) == 2
    assert "'0' is not auto, every or a number of frames from 1 to 64" in capsys.readouterr().err
    assert CarryConfig().interval_for("cpu") == 8 and CarryConfig().interval_for("cuda") == 1
    assert CarryConfig(keyframes="every").interval_for("cpu") == 1
    assert CarryConfig(keyframes="12").interval_for("cuda") == 12


def test_faster_runtimes_only_where_they_repay_and_a_failure_falls_back(stylizer, monkeypatch):
    from vidstyle.render import renderer, runtimes

    working, choose = 512 * 288, runtimes.choose
    assert choose("auto", "cpu", 7, working, openvino=True) == "torch"  # a 50-frame clip: conversion not repaid
    assert choose("auto", "cpu", 7, working, openvino=True, converted=lambda: True) == "openvino"  # converted before
    assert choose("auto", "cpu", 20, working, openvino=True) == "openvino"
    assert choose("auto", "cpu", 20, working, openvino=False) == "torch"
    assert choose("auto", "cpu", 120, working, openvino=False) == "compile"
    assert choose("auto", "cpu", 187, 160 * 90, openvino=False) == "torch"  # a minute at 320x180 saves too little
    assert choose("auto", "cuda", 10**4, working, openvino=True) == "torch"
    assert choose("compile", "cuda", 1, 100, openvino=False) == "compile"

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(runtimes, "build", broken)
    warnings = []
    every = renderer.clip_renderer(stylizer, RunConfig(carry=CarryConfig(keyframes="every")).plan("cpu"),
                                   frames=10**6, size=(72, 120), warn=warnings.append)
    assert every.stylizer is stylizer  # built at once for every frame: plain torch, and the run goes on
    assert len(warnings) == 1 and warnings[0].startswith("the ")
    carrier = renderer.clip_renderer(stylizer, RunConfig().plan("cpu"), frames=10**6, size=(72, 120),
                                     warn=warnings.append)
    assert len(warnings) == 1  # the carrier's runtime is built at its first keyframe
    frame = np.ascontiguousarray(np.random.default_rng(4).integers(0, 255, (72, 120, 3), dtype=np.uint8))
    for _ in range(2):  # it fails there, once: plain torch from then on, the same looks
        assert np.array_equal(carrier.stylizer.look(frame), stylizer.look(frame))
    assert len(warnings) == 2 and warnings[1] == warnings[0]
    with command_line_names():  # what the command line shows; Python callers read InferenceConfig(runtime=...)
        assert "runtime failed here (RuntimeError); the generator runs on plain torch (set --runtime to torch to " \
            "skip trying)" in spell(warnings[0])
    assert "(set InferenceConfig(runtime=...) to torch" in spell(warnings[0])
    shown = []  # on the command line, the warning the keyframe thread gives is spelled as the command line's
    with command_line_names():
        carrier = renderer.clip_renderer(stylizer, RunConfig().plan("cpu"), frames=10**6, size=(72, 120),
                                         warn=lambda message: shown.append((threading.current_thread().name,
                                                                            spell(message))))
        carrier.submit([frame, frame])
        carrier.flush()
    (thread, message), = shown
    assert thread.startswith("vidstyle-keyframe") and "(set --runtime to torch to skip trying)" in message


def test_a_runtime_sees_only_the_batch_it_was_built_for(monkeypatch):
    """A runtime's generator is built for one batch shape (torch.compile would compile again for
    each new one, OpenVINO's model takes no other): every-frame batches of 4 with a shorter last
    one, and the carrier's single keyframes, reach it at the size it was built for, and the
    frames come out as plain torch draws them."""
    from vidstyle.render import renderer, runtimes

    seen = {}

    def recording(name, model, example, check=True):
        shapes = seen.setdefault(name, [tuple(example.shape)])
        return lambda x: shapes.append(tuple(x.shape)) or model(x)

    monkeypatch.setattr(runtimes, "build", recording)
    plain = Stylizer(build_generator(GeneratorConfig(), 3, torch.device("cpu")), InferenceConfig(batch_size=4))
    frames = [np.ascontiguousarray(f) for f in np.random.default_rng(5).integers(0, 255, (6, 36, 60, 3), np.uint8)]
    every = renderer.clip_renderer(plain, RunConfig(inference=InferenceConfig(runtime="compile", batch_size=4),
                                                    carry=CarryConfig(keyframes="every")).plan("cpu"),
                                   frames=6, size=(36, 60))
    assert every.stylizer.runtime_batch == 4
    drawn = [out for i in range(0, 6, 4) for out in every.submit(frames[i:i + 4])]
    assert seen["compile"] == [(4, 3, 36, 60)] * 3  # built at 4; then 4 frames, then 2 padded to 4
    for a, b in zip(drawn, plain(frames), strict=True):  # the padding changes nothing but rounding
        diff = np.abs(a.astype(int) - b.astype(int))
        assert diff.max() <= 1 and diff.mean() < 0.01, (diff.max(), diff.mean())
    carrier = renderer.clip_renderer(plain, RunConfig(inference=InferenceConfig(runtime="openvino")).plan("cpu"),
                                     frames=6, size=(36, 60))
    assert carrier.stylizer.runtime_batch == 1 and "openvino" not in seen  # built at the first keyframe ...
    carrier.stylizer.look(frames[0])
    assert seen["openvino"] == [(1, 3, 36, 60)] * 2  # ... for one frame at a time


def test_openvino_gives_the_same_looks(stylizer):
    pytest.importorskip("openvino")
    frame = np.ascontiguousarray(np.random.default_rng(2).integers(0, 255, (72, 120, 3), dtype=np.uint8))
    eager = apply_maps(stylizer.look(frame), frame).astype(int)
    fast = stylizer.with_runtime("openvino", 72, 120)
    assert np.abs(apply_maps(fast.look(frame), frame).astype(int) - eager).max() <= 2


def test_an_openvino_conversion_is_kept_on_disk_read_back_and_replaced_when_damaged(stylizer, tmp_path, monkeypatch):
    """A model converted once (`prepare`, as --save-model does) starts warm in later runs: `auto`
    takes OpenVINO for a short clip then, the conversion is read back instead of traced again,
    it serves sizes that are not multiples of 4, and a damaged entry is converted afresh."""
    ov = pytest.importorskip("openvino")
    from vidstyle.render import renderer, runtimes

    monkeypatch.setenv("VIDSTYLE_CACHE", str(tmp_path / "cache"))
    model = stylizer.model
    short = RunConfig().plan("cpu")  # a 50-frame 288x512 clip: 7 keyframes
    assert not runtimes.is_converted(model)
    assert renderer.clip_renderer(stylizer, short, frames=50, size=(288, 512)).stylizer is stylizer  # torch
    assert runtimes.prepare(model)
    entry, = (tmp_path / "cache" / "openvino").iterdir()
    assert sorted(f.name for f in entry.iterdir()) == ["model.bin", "model.xml"]  # no partial folder left
    assert runtimes.is_converted(model)
    warm = renderer.clip_renderer(stylizer, short, frames=50, size=(288, 512))
    assert warm.stylizer is not stylizer and warm.stylizer.runtime_batch == 1  # OpenVINO at once
    other = build_generator(GeneratorConfig(), 4, torch.device("cpu")).eval()
    assert not runtimes.is_converted(other)  # other weights, another entry

    converted = []
    real_convert = ov.convert_model
    monkeypatch.setattr(ov, "convert_model", lambda *a, **k: converted.append(1) or real_convert(*a, **k))
    frame = np.ascontiguousarray(np.random.default_rng(7).integers(0, 255, (70, 118, 3), dtype=np.uint8))
    eager = apply_maps(stylizer.look(frame), frame).astype(int)
    for damage in (None, "model.xml", "model.bin"):
        if damage:
            (entry / damage).write_bytes(b"<net>cut off")
        fast = stylizer.with_runtime("openvino", 70, 118)
        assert np.abs(apply_maps(fast.look(frame), frame).astype(int) - eager).max() <= 2
        assert len(converted) == (0, 1, 2)[(None, "model.xml", "model.bin").index(damage)]  # read back unless damaged
        assert runtimes.is_converted(model) and len(list(entry.parent.iterdir())) == 1
    (entry / "model.xml").unlink()  # half removed: the folder must not block the next conversion for good
    assert runtimes.prepare(model) and sorted(f.name for f in entry.iterdir()) == ["model.bin", "model.xml"]
    real_compile = ov.Core.compile_model
    monkeypatch.setattr(ov.Core, "compile_model", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("plugin")))
    with pytest.raises(RuntimeError, match="plugin"):  # the renderer falls back to torch (tested above) ...
        stylizer.with_runtime("openvino", 70, 118)
    assert not runtimes.is_converted(model)  # ... and a kept conversion that does not run is not kept
    monkeypatch.setattr(ov.Core, "compile_model", lambda *a, **k: lambda *x: (_ for _ in ()).throw(RuntimeError("run")))
    assert runtimes.prepare(model)
    failures = []
    late = stylizer.with_runtime("openvino", 70, 118, deferred=failures.append)  # built at its first run, which
    assert not failures and np.array_equal(late.look(frame), stylizer.look(frame))  # fails: it runs on torch ...
    assert [str(f) for f in failures] == ["run"] and not runtimes.is_converted(model)  # ... and forgets it
    monkeypatch.setattr(ov.Core, "compile_model", real_compile)

    monkeypatch.setattr(ov, "convert_model", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("tracer")))
    assert not runtimes.prepare(other)  # a conversion that fails costs a later run its head start, nothing more
    for off in ("off", "0", "relative/dir"):
        monkeypatch.setenv("VIDSTYLE_CACHE", off)
        assert runtimes.cache_dir() is None and not runtimes.prepare(model) and not runtimes.is_converted(model)
    monkeypatch.delenv("VIDSTYLE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtimes.cache_dir() == tmp_path / "xdg" / "vidstyle"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(runtimes.Path, "home", lambda: (_ for _ in ()).throw(RuntimeError("no home")))
    assert runtimes.cache_dir() is None  # no home folder: nothing kept, and the run goes on


def test_the_log_says_how_a_clip_is_rendered_and_on_what(tmp_path, style_path, capsys):
    clip, model = make_clip(tmp_path / "c.mp4", frames=12), tmp_path / "m.pt"
    assert run(clip, "--style", style_path, "--save-model", model, "-o", tmp_path / "a.mp4", *FAST) == 0
    capsys.readouterr()
    assert run(clip, "--model", model, "-o", tmp_path / "b.mp4", "--device", "cpu") == 0
    err = capsys.readouterr().err
    assert "c.mp4: keyframes at most 8 frames apart, their looks carried between them (generator on torch)" in err
    if importlib.util.find_spec("openvino"):
        assert run(clip, "--model", model, "-o", tmp_path / "d.mp4", "--device", "cpu", "--keyframes", "every",
                   "--runtime", "openvino", "--no-stabilize") == 0
        assert "c.mp4: every frame through the generator (generator on openvino)" in capsys.readouterr().err


def test_two_runs_converting_one_model_at_once_leave_one_whole_entry(stylizer, tmp_path, monkeypatch):
    """Two runs that save the same model at once both convert it (threads here: the tracer is one
    per process, so conversions take turns; processes each have their own); one rename wins, the
    other's folder is dropped, and nothing half-written is left behind."""
    pytest.importorskip("openvino")
    from concurrent.futures import ThreadPoolExecutor

    from vidstyle.render import runtimes

    monkeypatch.setenv("VIDSTYLE_CACHE", str(tmp_path / "cache"))
    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(runtimes.prepare, [stylizer.model, stylizer.model])) == [True, True]
    entry, = (tmp_path / "cache" / "openvino").iterdir()
    assert sorted(f.name for f in entry.iterdir()) == ["model.bin", "model.xml"]
    assert runtimes.is_converted(stylizer.model)


def test_a_look_carries_the_strokes_a_colour_transform_cannot_draw(stylizer, painting):
    frame = np.ascontiguousarray(painting[:64, :96])
    look = stylizer.look(frame)
    assert look.shape == (15, 64, 96)
    generated = stylizer.download(stylizer._generate(stylizer.upload([frame])))[0].astype(int)
    full, transform_only = apply_maps(look, frame).astype(int), apply_maps(look[:12], frame).astype(int)
    assert np.abs(full - generated).max() <= 1  # the look is the generator's output, strokes and all
    assert np.abs(transform_only - generated).mean() > 5  # the colour transform alone misses them
    fast = Stylizer(stylizer.model, stylizer.config.__class__(fast=True, fast_size=64))
    big = np.ascontiguousarray(painting[:128, :192])
    fast_look = fast.look(big)
    assert fast_look.shape == (15, 43, 64)
    rendered = fast.one(big).astype(int)  # the fast path adds the strokes too, upsampled
    assert np.abs(rendered - apply_maps(fast_look, big).astype(int)).mean() < 1.0
    assert np.abs(rendered - apply_maps(fast_look[:12], big).astype(int)).mean() > 5


def test_a_look_at_the_frames_own_size_does_not_turn_the_next_frames_grain_into_shimmer(stylizer):
    # a flat, grainy area whose grain differs in the next frame, as a still part of a clip does:
    # carried there, the look's colour transform must not pass that change on, let alone amplify it
    rng = np.random.default_rng(0)
    flat = np.full((64, 96, 3), (90, 120, 150), np.float32)
    first, second = (np.clip(flat + rng.normal(0, 2, flat.shape), 0, 255).astype(np.uint8) for _ in range(2))
    change_in = np.abs(second.astype(int) - first).mean()

    def change_out(model: Stylizer) -> float:
        look = model.look(first)
        return float(np.abs(apply_maps(look, second).astype(int) - apply_maps(look, first)).mean())

    assert change_out(stylizer) < 0.1 * change_in
    weak = Stylizer(stylizer.model, InferenceConfig(look_eps=InferenceConfig().guide_eps))
    assert change_out(weak) > change_in  # the fast path's weak ridge at this size: the grain, amplified
    # the fast path keeps its own ridge: upsampled, its transform brings back the frame's detail
    big = np.ascontiguousarray(np.tile(first, (2, 2, 1)))
    fast, other = (Stylizer(stylizer.model, InferenceConfig(fast=True, fast_size=64, look_eps=eps))
                   for eps in (1e-2, 1e3))
    assert np.array_equal(fast.look(big), other.look(big)) and np.array_equal(fast.one(big), other.one(big))


def test_the_cameras_motion_is_fitted_past_a_region_that_moves_otherwise():
    from vidstyle.render.flow import camera_flow, grid

    h, w = 120, 200
    homography = np.array([[1.02, 0.01, 3.0], [-0.005, 1.02, -2.0], [1e-5, 0.0, 1.0]])  # a zoom, a turn, a pan
    points = np.dstack(grid(h, w))
    truth = cv2.perspectiveTransform(points, homography) - points
    flow = truth.copy()
    flow[40:80, 60:140] += 9.0  # an object, trusted (its colours match): the fit must pass it by
    trust = np.ones((h, w), np.float32)
    assert np.abs(camera_flow(flow, trust) - truth).max() < 0.01
    trust[:] = 0.0
    trust[:5, :100] = 1.0  # 12 points: too few to guess from
    assert camera_flow(flow, trust) is None
    noise = np.random.default_rng(0).normal(0, 20, flow.shape).astype(np.float32)  # what DIS makes of a flat sky
    assert camera_flow(noise, np.ones((h, w), np.float32)) is None  # no one motion for most points


def test_stretch_sees_a_fan_behind_a_moving_object_not_a_pan_a_zoom_or_an_outline():
    from vidstyle.render.flow import stretch

    h, w = 80, 120
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pan = np.dstack([np.full((h, w), 6.0, np.float32), np.full((h, w), -2.0, np.float32)])
    zoom = np.dstack([(xx - w / 2) * 0.1, (yy - h / 2) * 0.1]).astype(np.float32)
    outline = np.zeros((h, w, 2), np.float32)
    outline[20:60, 30:70, 0] = 8.0  # an object moving, the background still: a tear along its outline
    fan = np.zeros((h, w, 2), np.float32)
    fan[..., 0] = np.clip((90 - xx) / 12.0, 0, 1) * 12.0  # the flow fades out across a 12-px band
    assert stretch(pan).max() < 1e-3
    assert stretch(zoom)[10:-10, 10:-10].max() < 0.25
    assert stretch(outline).max() < 0.3
    assert stretch(fan)[:, 80:88].min() > 0.7


def test_the_forward_backward_check_rejects_a_step_interpolated_across_an_uncovered_gap():
    """The smoothing's step flow (frame t -> t-1) in an area a moving object uncovered: DIS fills
    it by interpolating the object's motion, so it points into the object's old place or the
    still background, and the forward flow found there does not point back. A pan and the
    object itself point back and stay trusted."""
    from vidstyle.render.flow import consistent

    h, w = 40, 80
    pan_back = np.dstack([np.full((h, w), -3.0, np.float32), np.full((h, w), 1.0, np.float32)])
    assert consistent(pan_back, -pan_back)[5:-5, 5:-5].all()
    forward = np.zeros((h, w, 2), np.float32)  # frame t-1 -> t: a disc at x 20-30 moves 6 px right
    forward[10:30, 20:30, 0] = 6.0
    back = np.zeros((h, w, 2), np.float32)  # t -> t-1: the disc (now x 26-36) points back 6 px
    back[10:30, 26:36, 0] = -6.0
    back[10:30, 20:26, 0] = -3.0  # the uncovered gap: the disc's motion, half interpolated into it
    ok = consistent(back, forward)
    assert ok[10:30, 26:36].all() and ok[:, 40:].all() and ok[:8].all()  # the disc, the still background
    assert not ok[10:30, 20:26].any()  # the gap


def test_detail_fades_where_no_keyframe_is_trusted_while_the_transform_is_filled():
    from vidstyle.render.carry import _blend

    look0, look1 = np.ones((15, 40, 40), np.float32), np.full((15, 40, 40), 3.0, np.float32)
    t0, t1 = np.ones((40, 40), np.float32), np.ones((40, 40), np.float32)
    t0[10:30, 10:30] = t1[10:30, 10:30] = 0.0  # revealed in neither keyframe
    out = _blend(look0, t0, look1, t1, 0.5)
    assert np.allclose(out[:, :5, :5], 2.0)  # trusted: the mean of the two
    assert np.allclose(out[:12, 20, 20], 2.0, atol=0.05)  # untrusted: the neighbourhood's transform
    assert np.allclose(out[12:, 20, 20], 0.0)  # ...but no strokes dragged in from it


def test_strokes_stay_whole_where_only_the_far_keyframe_sees_the_place():
    """Behind a moving object only the next keyframe sees what the object uncovers; a frame near
    the previous keyframe gives that look little nearness weight (alpha 0.2), and fading the
    strokes by it left a strokeless haze there. The fade follows trust, not nearness."""
    from vidstyle.render.carry import _blend

    rng = np.random.default_rng(1)
    look0 = np.concatenate([np.ones((12, 32, 32)), rng.normal(0, 0.1, (3, 32, 32))]).astype(np.float32)
    look1 = np.concatenate([np.full((12, 32, 32), 3.0), rng.normal(0, 0.1, (3, 32, 32))]).astype(np.float32)
    t0, t1 = np.ones((32, 32), np.float32), np.ones((32, 32), np.float32)
    t0[:, 16:] = 0.0  # uncovered: the previous keyframe does not see the right half
    out = _blend(look0, t0, look1, t1, 0.2)
    assert np.allclose(out[:, :, 16:], look1[:, :, 16:], atol=1e-5)  # the far keyframe's look, strokes whole
    assert np.allclose(out[:12, :, :16], 0.8 * 1.0 + 0.2 * 3.0, atol=1e-5)  # both trusted: by nearness
    t1[:, 16:] = 0.2  # seen, but poorly: the strokes fade in proportion to that trust
    faded = _blend(look0, t0, look1, t1, 0.2)
    assert np.allclose(faded[12:, :, 16:], 0.4 * look1[12:, :, 16:], atol=1e-5)


def test_blending_two_keyframes_strokes_keeps_their_strength_unless_they_agree():
    """Midway between keyframes whose strokes lie in different places, a plain mean has half
    their energy (the strokes faded mid-gap); the blend keeps it. Agreeing strokes stay as
    they are: a blind boost would make them pulse."""
    from vidstyle.render.carry import _blend

    rng = np.random.default_rng(0)
    transform = np.ones((12, 64, 64), np.float32)
    strokes0, strokes1 = (rng.normal(0, 0.1, (3, 64, 64)).astype(np.float32) for _ in range(2))
    trusted = np.ones((64, 64), np.float32)

    def energy(look):
        return float((look[12:] ** 2).mean())

    apart = _blend(np.concatenate([transform, strokes0]), trusted, np.concatenate([transform, strokes1]), trusted, 0.5)
    plain_mean = (strokes0 + strokes1) / 2
    assert float((plain_mean**2).mean()) < 0.55 * energy(np.concatenate([transform, strokes0]))
    assert energy(apart) == pytest.approx(0.01, rel=0.12)  # the strokes' own energy (0.1²)
    assert np.corrcoef(apart[12:].ravel(), plain_mean.ravel())[0, 1] > 0.97  # the same strokes, stronger
    agree = _blend(np.concatenate([transform, strokes0]), trusted, np.concatenate([transform, strokes0]), trusted, 0.5)
    assert np.allclose(agree[12:], strokes0, atol=1e-5)


def test_strokes_trusted_at_a_third_do_not_come_back_at_full_strength():
    """A stroke carried from where a moving object was in one keyframe is trusted at about a
    third; taking half the blend, then the energy gain, it came back at two thirds of its strength
    among the other keyframe's trusted strokes (a purple fleck on the sample's hill for a dozen
    frames). The strokes now follow the trusted look (the first assertion fails on the old
    blend); the transform, and equally trusted strokes, blend as before (guards)."""
    from vidstyle.render.carry import _blend

    rng = np.random.default_rng(2)
    strokes0, strokes1 = (rng.normal(0, 0.1, (3, 64, 64)).astype(np.float32) for _ in range(2))
    look0 = np.concatenate([np.ones((12, 64, 64), np.float32), strokes0])
    look1 = np.concatenate([np.full((12, 64, 64), 3.0, np.float32), strokes1])
    t0, t1 = np.full((64, 64), 1 / 3, np.float32), np.ones((64, 64), np.float32)
    out = _blend(look0, t0, look1, t1, 0.25)

    def part(strokes):  # how much of a pattern the blend's strokes hold (least squares)
        return float((out[12:] * strokes).sum() / (strokes**2).sum())

    assert part(strokes0) < 0.05  # the old blend: 0.71
    assert part(strokes1) > 0.9
    w0, w1 = 0.75 / 3, 0.25
    assert np.allclose(out[:12], (w0 * 1.0 + w1 * 3.0) / (w0 + w1), atol=1e-5)  # the transform: by trust
    even = _blend(look0, t1, look1, t1, 0.25)  # equally trusted: strokes by nearness
    assert np.corrcoef(even[12:].ravel(), (0.75 * strokes0 + 0.25 * strokes1).ravel())[0, 1] > 0.99
    assert np.isfinite(_blend(look0, t0 * 0, look1, t1 * 0, 0.5)).all()  # trusted nowhere: no 0/0


def test_a_keyframe_forced_by_a_carry_that_fails_is_eased_in_like_any_other(stylizer, painting, monkeypatch):
    """Where too little of a frame is explained by the motion (heavy shake), that frame becomes
    a keyframe early. It must ease in from the frame before, as a keyframe at the window's end
    does: unsmoothed, a shaky 320x180 clip popped 8-17x its source's frame-to-frame change at every
    forced keyframe (temporal ratio 2.98 against 1.27 eased, README Quality)."""
    frames = _pan(painting, 8, step=3)
    real = KeyframeCarrier._track
    forced = frames[4]

    def failing_at_frame_4(self, key, small, *rest, strict=True, **given):
        if strict and np.array_equal(small.rgb, self._small(forced).rgb):
            return None  # as if the shake left too little explained
        return real(self, key, small, *rest, strict=strict, **given)

    monkeypatch.setattr(KeyframeCarrier, "_track", failing_at_frame_4)
    carrier = KeyframeCarrier(stylizer, CarryConfig(), interval=8)
    out = [o.astype(int) for o in pictures(ArraySource(iter(frames)), carrier)]
    assert carrier.keyframes == 3  # frames 0, 4 (forced) and the last
    own = apply_maps(stylizer.look(frames[4]), frames[4]).astype(int)  # the keyframe's look alone
    before = out[3][:, 3:]  # the frame before, moved with the pan (3 px a frame) onto frame 4's pixels
    jump, unsmoothed = np.abs(out[4][:, :-3] - before).mean(), np.abs(own[:, :-3] - before).mean()
    assert jump < 0.5 * unsmoothed, (jump, unsmoothed)  # it moved towards the frame before (0.21x here)


def test_the_carriers_runtime_is_built_in_its_keyframe_thread(stylizer, painting, monkeypatch):
    """The keyframe runtime's set-up (0.26 s for OpenVINO) overlaps the tracking of the frames
    that wait for the first keyframe: built once, at that keyframe, in the keyframe thread."""
    from vidstyle.render import renderer, runtimes

    builders = []

    def recording(name, model, example, check=True):
        builders.append((name, threading.current_thread().name, tuple(example.shape), check))
        return model

    monkeypatch.setattr(runtimes, "build", recording)
    carrier = renderer.clip_renderer(stylizer, RunConfig(inference=InferenceConfig(runtime="openvino")).plan("cpu"),
                                     frames=9, size=(72, 120))
    assert builders == []
    out = list(pictures(ArraySource(iter(_pan(painting, 9))), carrier))
    assert len(out) == 9 and carrier.keyframes >= 2
    assert len(builders) == 1
    name, thread, shape, check = builders[0]
    assert name == "openvino" and thread.startswith("vidstyle-keyframe") and shape == (1, 3, 72, 120)
    assert not check  # the first keyframe's own run is the check


def test_a_deferred_runtime_builds_once_and_blames_only_itself(monkeypatch):
    """`runtimes.deferred`: one build however many threads ask first; a warning that cannot be
    given does not make it build again; an input that plain torch refuses too is the input's
    fault: torch's error, no warning, the kept conversion left alone."""
    from vidstyle.render import runtimes

    model = torch.nn.Conv2d(3, 3, 3, padding=1).eval()
    builds, forgotten = [], []
    monkeypatch.setattr(runtimes, "_forget", forgotten.append)
    monkeypatch.setattr(runtimes, "_openvino_entry", lambda m: "entry")

    def slow_build(name, model, example, check=True):
        builds.append(name)
        time.sleep(0.2)  # long enough for the second thread to arrive while the first builds
        return model

    monkeypatch.setattr(runtimes, "build", slow_build)
    warned = []
    forward = runtimes.deferred("openvino", model, torch.zeros(1, 3, 8, 8), warned.append)
    x = torch.rand(1, 3, 8, 8)
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda _: forward(x), range(2)))
    assert builds == ["openvino"] and not warned and torch.equal(outs[0], outs[1])

    def broken(name, model, example, check=True):
        builds.append(name)
        return lambda x: (_ for _ in ()).throw(RuntimeError("plugin"))

    monkeypatch.setattr(runtimes, "build", broken)
    builds.clear()

    def unshowable(exc):
        raise OSError("stderr is closed")

    forward = runtimes.deferred("openvino", model, torch.zeros(1, 3, 8, 8), unshowable)
    with pytest.raises(OSError):
        forward(x)
    with torch.inference_mode():
        assert torch.equal(forward(x), model(x))  # plain torch from then on, not built again
    assert builds == ["openvino"] and forgotten == ["entry"]

    forgotten.clear()
    forward = runtimes.deferred("openvino", model, torch.zeros(1, 3, 8, 8), warned.append)
    with pytest.raises(RuntimeError, match="channels") as refused:  # torch refuses 4 channels too
        forward(torch.zeros(1, 4, 8, 8))
    assert str(refused.value.__cause__) == "plugin" and not warned and not forgotten
