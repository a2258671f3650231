import numpy as np
import pytest
import torch

from vidstyle.config import GeneratorConfig, TrainConfig
from vidstyle.images import to_tensor, to_uint8
from vidstyle.losses import PerceptualLoss
from vidstyle.train import build_generator, train_generator
from vidstyle.vgg import load_vgg_features

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny_pair():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    content = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
    style = (rng.random((40, 76, 3)) * 255).astype(np.uint8)
    cfg = TrainConfig()
    feats = load_vgg_features("random", [*cfg.style_layer_weights, cfg.content_layer])
    loss = PerceptualLoss(feats, to_tensor(style, CPU), cfg.style_layer_weights, cfg.content_layer,
                          cfg.content_weight, cfg.style_weight)
    return to_tensor(content, CPU), loss, cfg


def _train(tiny_pair, steps, seed=0):
    content, loss, cfg = tiny_pair
    g = build_generator(GeneratorConfig(), seed, CPU)
    history = train_generator(g, loss, [content], steps, cfg, quiet=True)
    return g, history


def test_training_lowers_the_loss(tiny_pair):
    _, history = _train(tiny_pair, 40)
    assert len(history.total) == 40
    first, last = np.mean(history.total[:3]), np.mean(history.total[-3:])
    assert last < 0.5 * first
    assert history.style[-1] < history.style[0]


def test_seeded_runs_repeat_exactly_on_cpu(tiny_pair):
    a, ha = _train(tiny_pair, 5)
    b, hb = _train(tiny_pair, 5)
    assert ha.total == hb.total
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_learning_rate_schedule_follows_the_reference():
    cfg = TrainConfig().for_device("cuda")
    assert (cfg.lr, cfg.lr_decay, cfg.lr_decay_every, cfg.steps, cfg.train_size) == (5e-3, 0.9, 200, 1000, 512)
    assert (cfg.content_weight, cfg.style_weight) == (150.0, 1.0)
    cpu = TrainConfig().for_device("cpu")
    assert cpu.steps < cfg.steps and cpu.train_size < cfg.train_size
    assert TrainConfig(steps=7).for_device("cpu").steps == 7


def test_training_does_not_change_the_content_tensor(tiny_pair):
    content, _, _ = tiny_pair
    before = content.clone()
    _train(tiny_pair, 2)
    assert torch.equal(content, before)


def test_trained_model_draws_no_line_along_the_borders(tiny_pair):
    """Zero-padded convolutions leave a bright or dark line along the image's edges once
    trained; the generator's replicated margin keeps it out (32-44 levels without it)."""
    from media import smooth

    g, _ = _train(tiny_pair, 40)
    with torch.inference_mode():
        out = to_uint8(g(to_tensor(smooth(128, 96, 0), CPU)))[0].astype(int)
    edge_steps = [np.abs(out[0] - out[1]).mean(), np.abs(out[:, 0] - out[:, 1]).mean(),
                  np.abs(out[-1] - out[-2]).mean(), np.abs(out[:, -1] - out[:, -2]).mean()]
    assert max(edge_steps) < 5.0
