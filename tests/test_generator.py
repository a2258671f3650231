import pytest
import torch

from vidstyle.config import GeneratorConfig
from vidstyle.model.generator import Bottleneck, HRNetGenerator, count_parameters, instance_norm_by_moments
from vidstyle.model.train import build_generator


@pytest.mark.parametrize("height,width", [(64, 64), (37, 53), (242, 318), (1, 7), (33, 4)])
def test_any_size_comes_back_at_the_same_size(height, width):
    g = HRNetGenerator().eval()
    x = torch.randn(2, 3, height, width)
    with torch.inference_mode():
        y = g(x)
    assert y.shape == (2, 3, height, width)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("height,width", [(39, 47), (40, 48), (5, 3)])
def test_padding_is_cropped_back_exactly_never_resized(monkeypatch, height, width):
    """With the network body replaced by the identity, pad + crop must give back the very
    same pixels: the image is never resampled to fit the multiple of 4."""
    seen = []

    def body(self, x, factored):
        seen.append(x.shape[-2:])
        return x

    monkeypatch.setattr(HRNetGenerator, "_forward_padded", body)
    x = torch.randn(1, 3, height, width)
    assert torch.equal(HRNetGenerator()(x), x)
    assert seen[0][0] % 4 == 0 and seen[0][1] % 4 == 0 and seen[0][0] > height


def test_layer_plan_matches_the_reference():
    g = HRNetGenerator()
    # Used parameters of the reference HRNet (its ~71k also counts three unused shortcuts).
    assert count_parameters(g) == 64607
    assert sum(isinstance(m, Bottleneck) for m in g.modules()) == 8
    norms = [m for m in g.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(not m.affine for m in norms)
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(m.padding_mode == "zeros" for m in convs)
    assert sorted({m.stride[0] for m in convs}) == [1, 2, 4]
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.Dropout, torch.nn.Tanh, torch.nn.Sigmoid))
                   for m in g.modules())
    assert isinstance(g.head[-1], torch.nn.Conv2d)  # no output activation


def test_output_is_not_squashed_into_a_range():
    g = HRNetGenerator().eval()
    with torch.inference_mode():
        y = g(torch.randn(1, 3, 32, 32) * 5)
    assert y.min() < 0 or y.max() > 1  # lives in normalised space, unbounded


def test_forward_does_not_change_its_input():
    g = HRNetGenerator()
    x = torch.randn(1, 3, 30, 34)
    before = x.clone()
    g(x).sum().backward()
    assert torch.equal(x, before)


def test_seeded_build_repeats_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_generator(GeneratorConfig(), seed=5, device=torch.device("cpu"))
    b = build_generator(GeneratorConfig(), seed=5, device=torch.device("cpu"))
    assert torch.rand(1) == expected_next
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    c = build_generator(GeneratorConfig(), seed=6, device=torch.device("cpu"))
    assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_width_comes_from_the_config():
    g = HRNetGenerator(GeneratorConfig(base_channels=8))
    assert g.full1.body[-3].out_channels == 8
    assert count_parameters(g) < 64607 / 2


@pytest.mark.parametrize("height,width", [(45, 61), (64, 48)])
def test_factored_forward_is_the_layer_plan_with_the_same_gradients(height, width):
    """forward() convolves the stage-5 input per branch before upsampling; in float64 (so
    rounding cannot hide a difference) values and every parameter's gradient must match the
    literal concatenate-then-convolve evaluation."""
    g = build_generator(GeneratorConfig(), seed=3, device=torch.device("cpu")).double()
    x = torch.randn(2, 3, height, width, dtype=torch.float64)
    results = []
    for forward in (g.forward_reference, g.forward):
        g.zero_grad()
        y = forward(x)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        results.append((y.detach(), [p.grad.clone() for p in g.parameters()]))
    (ref, ref_grads), (out, out_grads) = results
    assert (out - ref).abs().max() < 1e-10 * ref.abs().max()
    scale = max(b.abs().max() for b in ref_grads)  # biases before an InstanceNorm get ~0
    for a, b in zip(out_grads, ref_grads, strict=True):
        assert (a - b).abs().max() <= 1e-12 * scale
    weight_grads = [b for b in ref_grads if b.dim() == 4]
    assert all(b.abs().max() > 1e-3 for b in weight_grads)  # gradients reach every convolution


def test_factored_forward_needs_every_input_channel():
    block = Bottleneck(12, 8)
    with pytest.raises(AssertionError, match="cover the input channels"):
        block.forward_concat([torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4)])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_instance_norm_by_moments_is_instance_norm(dtype):
    """The CUDA inference path of the generator's InstanceNorm (per-channel moments) computes
    what torch's instance norm does, in the input's dtype (moments in fp32)."""
    x = (torch.randn(2, 16, 23, 31) * 3 + 1.5).to(dtype)
    out = instance_norm_by_moments(x, 1e-5)
    reference = torch.nn.functional.instance_norm(x.float(), eps=1e-5)
    assert out.dtype == dtype and out.shape == x.shape
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    assert (out.float() - reference).abs().max() < tolerance * reference.abs().max()
    assert not torch.equal(out.float(), x.float())  # it did normalise
