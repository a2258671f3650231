import pytest
import torch

from vidstyle.config import CONTENT_LAYER, STYLE_LAYER_WEIGHTS
from vidstyle.model.losses import ContentLoss, GramLoss, PerceptualLoss, gram_matrix
from vidstyle.model.vgg import load_vgg_features

LAYERS = [*STYLE_LAYER_WEIGHTS, CONTENT_LAYER]


@pytest.fixture(scope="module")
def features():
    return load_vgg_features("random", LAYERS)


def test_gram_matrix_is_unnormalised_f_ft():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])  # (1, 2, 2, 2)
    g = gram_matrix(f)
    assert g.shape == (1, 2, 2)
    assert torch.allclose(g[0], torch.tensor([[30.0, 6.0], [6.0, 2.0]]))


def test_gram_loss_scaling_and_zero_at_target():
    f = torch.randn(1, 4, 5, 6)
    assert GramLoss(f, weight=0.8)(f).item() == 0.0
    other = torch.randn(1, 4, 5, 6)
    expected = 0.8 * (gram_matrix(other) - gram_matrix(f)).pow(2).mean() / (4 * 5 * 6)
    assert torch.allclose(GramLoss(f, 0.8)(other), expected)


def test_scale_free_gram_loss_is_relative_and_ignores_scale_and_size():
    f = torch.rand(1, 4, 6, 6)
    other = torch.rand(1, 4, 6, 6)
    a = gram_matrix(f) / 36
    expected = (gram_matrix(other) / 36 - a).pow(2).sum() / a.pow(2).sum()
    loss = GramLoss(f, 1.0, scale_free=True)
    assert torch.allclose(loss(other), expected)
    assert GramLoss(f * 7.0, 1.0, scale_free=True)(other * 7.0).item() == pytest.approx(expected.item(), rel=1e-5)
    tiled = f.repeat(1, 1, 2, 3)  # the same texture on a larger canvas: the same per-pixel Gram
    assert loss(tiled).item() == pytest.approx(0.0, abs=1e-6)


def test_content_loss_is_mse_or_relative_mse():
    a, b = torch.zeros(1, 2, 3, 3), torch.full((1, 2, 3, 3), 2.0)
    assert ContentLoss()(a, b).item() == pytest.approx(4.0)
    assert ContentLoss(scale_free=True)(a, b).item() == pytest.approx(1.0)


def test_perceptual_loss_one_vgg_pass_per_call_and_reference_weights(features):
    style = torch.randn(1, 3, 48, 48)
    loss = PerceptualLoss(features, style, STYLE_LAYER_WEIGHTS, CONTENT_LAYER, 150.0, 1.0)
    assert {n: m.weight for n, m in loss.style_losses.items()} == STYLE_LAYER_WEIGHTS
    calls = []
    handle = features.register_forward_hook(lambda *a: calls.append(1))
    content = torch.randn(1, 3, 48, 48)
    target = loss.content_target(content)
    values = loss(content.clone().requires_grad_(True), target)
    handle.remove()
    assert len(calls) == 2  # one for the content target (once), one shared by content and style
    assert values.content.item() == pytest.approx(0.0, abs=1e-10)
    assert values.style.item() > 0
    assert values.total.item() == pytest.approx(150.0 * values.content.item() + values.style.item(), rel=1e-6)


def test_style_target_computed_once_and_frozen(features):
    style = torch.randn(1, 3, 32, 32)
    loss = PerceptualLoss(features, style, STYLE_LAYER_WEIGHTS, CONTENT_LAYER, 1.0, 1.0)
    style.add_(100.0)  # changing the caller's tensor afterwards must not change the targets
    out = loss(style - 100.0, loss.content_target(style - 100.0))
    assert out.style.item() == pytest.approx(0.0, abs=1e-6)
