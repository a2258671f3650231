import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidstyle.config import InferenceConfig
from vidstyle.media.images import long_side_shape as working_size
from vidstyle.model.generator import HRNetGenerator
from vidstyle.render.guided import (
    _fit_affine_opencv,
    _fit_affine_torch,
    apply_affine,
    box_filter,
    downscale,
    fit_affine,
)
from vidstyle.render.stylize import Stylizer


def _scene(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth colour ramps plus a hard-edged square: something with flat parts and edges."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    img = torch.stack((xx, yy, 0.5 * (xx + yy)))
    img[:, h // 4: h // 2, w // 3: 2 * w // 3] = torch.rand(3, 1, 1, generator=g)
    return img[None].clamp(0, 1)


def test_box_filter_is_the_mean_over_the_clipped_window():
    x = torch.rand(2, 3, 17, 23)
    expected = F.avg_pool2d(x, 7, stride=1, padding=3, count_include_pad=False)
    assert torch.allclose(box_filter(x, 3), expected, atol=1e-5)


def test_a_global_colour_transform_is_recovered_exactly_at_full_resolution():
    full = _scene(90, 160)
    small = downscale(full, (36, 64))
    matrix = torch.tensor([[0.5, 0.3, 0.0], [0.1, 0.2, 0.6], [-0.2, 0.0, 0.9]])
    offset = torch.tensor([0.1, -0.05, 0.2]).view(1, 3, 1, 1)
    transform = lambda img: torch.einsum("oi,bihw->bohw", matrix, img) + offset  # noqa: E731
    out = apply_affine(fit_affine(small, transform(small), radius=2, eps=1e-6), full)
    assert out.shape == full.shape
    assert (out - transform(full)).abs().max() < 2e-3


def test_the_cpu_fit_agrees_with_the_torch_fit_and_a_float64_one():
    # the CPU fit (OpenCV box filters, the 3x3 solve written out) and the torch one (a GPU's) must
    # give the same looks, sample by sample and border included; both are checked against the
    # torch fit in float64, which the CPU one matches more closely (its solve is exact in form)
    g = torch.Generator().manual_seed(1)
    guide = torch.cat([(_scene(72, 128, seed) + 0.02 * torch.rand(1, 3, 72, 128, generator=g)).clamp(0, 1)
                       for seed in (0, 1)])
    target = torch.stack((guide[:, 1] ** 2, torch.sin(3 * guide[:, 0]) * 0.5 + 0.3, 1 - guide[:, 2]), dim=1)
    reference = _fit_affine_torch(guide, target, 2, 1e-4, dtype=torch.float64)

    def output(maps):
        return torch.einsum("boihw,bihw->bohw", maps.a.double(), guide.double()) + maps.b.double()

    errors = {}
    for fit in (_fit_affine_opencv, _fit_affine_torch):
        maps = fit(guide, target, 2, 1e-4)
        assert maps.a.shape == (2, 3, 3, 72, 128) and maps.b.shape == (2, 3, 72, 128)
        assert maps.a.dtype == maps.b.dtype == torch.float32 and maps.a.device == maps.b.device == guide.device
        assert (output(maps) - output(reference)).abs().max() < 0.1 / 255  # each sample, borders included
        errors[fit] = (maps.a.double() - reference.a).abs().max()
    assert errors[_fit_affine_opencv] < errors[_fit_affine_torch]
    assert torch.equal(fit_affine(guide, target, 2, 1e-4).a, _fit_affine_opencv(guide, target, 2, 1e-4).a)
    wanting_gradients = guide.clone().requires_grad_(True)  # the OpenCV fit cannot pass them back
    fit_affine(wanting_gradients, target, 2, 1e-4).a.sum().backward()
    assert wanting_gradients.grad is not None


def test_edges_come_from_the_full_resolution_input():
    full = _scene(180, 320)
    small = downscale(full, (72, 128))
    styled_small = 1.0 - small  # a colour transform the maps can express
    guided = apply_affine(fit_affine(small, styled_small, radius=2, eps=1e-4), full)
    plain = F.interpolate(styled_small, size=full.shape[-2:], mode="bilinear", align_corners=False)
    truth = 1.0 - full
    guided_err = (guided - truth).abs().mean()
    plain_err = (plain - truth).abs().mean()
    assert guided_err < 0.25 * plain_err
    # the square's left edge is one pixel wide in the guided result, as in the input
    row, col = 60, 320 // 3
    step = (guided[0, :, row, col] - guided[0, :, row, col - 1]).abs().max()
    truth_step = (truth[0, :, row, col] - truth[0, :, row, col - 1]).abs().max()
    assert step > 0.8 * truth_step


def test_the_stylizers_working_shape_keeps_the_aspect_ratio_on_the_fast_path_only():
    generator = HRNetGenerator()
    fast = Stylizer(generator, InferenceConfig(fast=True, fast_size=128))
    assert fast.working_shape(200, 360) == (71, 128) and fast.uses_fast_path(200, 360)
    assert fast.working_shape(360, 200) == (128, 71)  # portrait: the long side is the height
    assert fast.working_shape(90, 120) == (90, 120)  # at or under the working size: nothing to gain
    full = Stylizer(generator, InferenceConfig(fast=False, fast_size=128))
    assert full.working_shape(200, 360) == (200, 360) and not full.uses_fast_path(200, 360)
    default = Stylizer(generator)  # on the CPU the fast path starts above 640 px, at 512
    assert default.working_shape(720, 1280) == (288, 512) and default.working_shape(480, 640) == (480, 640)
    # and it is the size the generator really sees on the fast path
    seen = []
    default.model.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape[-2:])))
    default(_frames(720, 1280, 1))
    assert seen == [(288, 512)]


@pytest.mark.parametrize(("fast", "size", "device", "expected"), [
    (None, (720, 1280), "cpu", True),  # CPU default above 640 px
    (None, (270, 480), "cpu", False),
    (None, (720, 1280), "cuda", False),  # a GPU runs full resolution unless asked
    (True, (720, 1280), "cuda", True),
    (False, (720, 1280), "cpu", False),
    (True, (300, 400), "cpu", False),  # at or under the working size there is nothing to gain
])
def test_when_the_fast_path_is_taken(fast, size, device, expected):
    assert InferenceConfig(fast=fast).fast_for(*size, device) is expected


def _frames(h, w, n=2):
    rng = np.random.default_rng(0)
    base = (_scene(h, w)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return [np.clip(base.astype(int) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def test_fast_stylizer_returns_full_size_frames_close_to_its_working_resolution_result():
    torch.manual_seed(0)
    generator = HRNetGenerator()
    frames = _frames(200, 360)
    fast = Stylizer(generator, InferenceConfig(fast=True, fast_size=128))
    out = fast(frames)
    assert [o.shape for o in out] == [(200, 360, 3)] * 2 and out[0].dtype == np.uint8
    # the working-resolution result, upscaled, agrees with it in the smooth parts
    small = fast.stylize_tensor(downscale(fast.upload(frames[:1]), working_size(200, 360, 128)))
    up = F.interpolate(small, size=(200, 360), mode="bilinear", align_corners=False)
    reference = fast.download(up)[0].astype(int)
    assert np.abs(out[0].astype(int) - reference)[100:, :100].mean() < 6


def test_stylizer_leaves_the_callers_generator_unchanged_and_channels_last_agrees():
    torch.manual_seed(0)
    generator = HRNetGenerator()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    frames = _frames(64, 96, 1)
    plain = Stylizer(generator, InferenceConfig(channels_last=False))(frames)[0].astype(int)
    cl = Stylizer(generator, InferenceConfig(channels_last=True))(frames)[0].astype(int)
    assert np.abs(plain - cl).max() <= 1
    assert all(torch.equal(before[k], v) for k, v in generator.state_dict().items())
    assert next(generator.parameters()).requires_grad


def test_half_precision_stays_close_to_fp32():
    torch.manual_seed(0)
    generator = HRNetGenerator()  # untrained: amplifies rounding more than a trained model
    frames = _frames(64, 96, 1)
    fp32 = Stylizer(generator, InferenceConfig(precision="fp32"))(frames)[0].astype(int)
    fp16 = Stylizer(generator, InferenceConfig(precision="fp16"))(frames)[0].astype(int)
    bf16 = Stylizer(generator, InferenceConfig(precision="bf16"))(frames)[0].astype(int)
    assert 0 < np.abs(fp32 - fp16).mean() < 1.0  # it did run in fp16, and stayed close
    assert np.abs(fp32 - bf16).mean() < 5.0
    assert Stylizer(generator).dtype == torch.float32  # auto on the CPU


def test_the_compile_runtime_quiets_its_own_thread_without_touching_the_loggers_level(monkeypatch):
    """torch.compile's "No CUDA runtime is found" is dropped while the runtime builds, by a filter
    on the compiling thread's records: the logger's level, which every thread shares, stays."""
    import logging
    import threading

    from vidstyle.render import runtimes

    noisy = logging.getLogger("torch.utils.cpp_extension")
    seen, levels = [], []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    def fake_compile(model, dynamic):
        def forward(x):
            levels.append(noisy.level)
            noisy.warning("compiling thread")
            other = threading.Thread(target=lambda: noisy.warning("other thread"))
            other.start()
            other.join()
            noisy.error("compiling thread, an error")
            return x
        return forward

    handler = Keep()
    noisy.addHandler(handler)
    level, filters = noisy.level, list(noisy.filters)
    monkeypatch.setattr(runtimes.torch, "compile", fake_compile)
    try:
        runtimes.build("compile", torch.nn.Identity(), torch.zeros(1, 3, 4, 4))
        noisy.warning("after the build")
    finally:
        noisy.removeHandler(handler)
    assert levels == [level] and noisy.level == level and noisy.filters == filters
    assert seen == ["other thread", "compiling thread, an error", "after the build"]
