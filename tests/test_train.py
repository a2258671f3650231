from dataclasses import replace

import numpy as np
import pytest
import torch

from vidstyle.config import GeneratorConfig, TrainConfig
from vidstyle.model.lossnet import build_losses, resolve_loss_network
from vidstyle.model.tensors import to_tensor, to_uint8
from vidstyle.model.train import build_generator, train_generator

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny_pair():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    content = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
    style = (rng.random((40, 76, 3)) * 255).astype(np.uint8)
    cfg = TrainConfig().for_device("cpu")
    content_tensor = to_tensor(content, CPU)
    loss = build_losses(resolve_loss_network("pyramid", None), style, cfg, CPU)(*content_tensor.shape[-2:])
    return content_tensor, loss, cfg


def _train(tiny_pair, steps, seed=0):
    content, loss, cfg = tiny_pair
    g = build_generator(GeneratorConfig(), seed, CPU)
    history = train_generator(g, loss, [content], steps, cfg)
    return g, history


def test_training_lowers_the_loss(tiny_pair):
    _, history = _train(tiny_pair, 40)
    assert len(history.total) == 40
    first, last = np.mean(history.total[:3]), np.mean(history.total[-3:])
    assert last < 0.5 * first
    assert history.style[-1] < history.style[0]


def test_losses_are_read_in_stretches_yet_every_step_is_recorded_and_a_nan_names_its_step(tiny_pair, monkeypatch):
    """The loop reads losses back every READ_EVERY steps (a read waits for a GPU); every step
    still gets its own values, and a divergence names the step it happened at, not the read."""
    from vidstyle.errors import TrainingError
    from vidstyle.model import train

    content, loss, cfg = tiny_pair
    real_read = train._read_losses

    class Watched:  # the loss, recording each step's total, and from ``nan_from`` on turning it NaN
        def __init__(self, nan_from=None):
            self.seen, self.nan_from = [], nan_from

        def content_target(self, frame):
            return loss.content_target(frame)

        def __call__(self, output, target):
            values = loss(output, target)
            self.seen.append(values.total.item())
            if self.nan_from is not None and len(self.seen) >= self.nan_from:
                values = replace(values, total=values.total * float("nan"))
            return values

    steps = train.READ_EVERY + 3  # a full stretch and a short last one
    watched = Watched()
    history = train_generator(build_generator(GeneratorConfig(), 0, CPU), watched, [content], steps, cfg)
    assert history.total == watched.seen and len(watched.seen) == steps
    assert history.total[-1] < history.total[0]

    reads = []
    monkeypatch.setattr(train, "_read_losses", lambda *a: (reads.append(len(a[0])), real_read(*a))[1])
    history = train_generator(build_generator(GeneratorConfig(), 0, CPU), Watched(), [content], steps, cfg)
    assert reads == [train.READ_EVERY, 3] and len(history.total) == steps  # one read per stretch

    for nan_from in (4, steps - 1):  # in the first stretch, and in the short last one
        with pytest.raises(TrainingError, match=f"at step {nan_from};"):
            train_generator(build_generator(GeneratorConfig(), 0, CPU), Watched(nan_from), [content], steps, cfg)


def test_seeded_runs_repeat_exactly_on_cpu(tiny_pair):
    a, ha = _train(tiny_pair, 5)
    b, hb = _train(tiny_pair, 5)
    assert ha.total == hb.total
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_learning_rate_schedule_follows_the_reference():
    cfg = TrainConfig().for_device("cuda")
    assert (cfg.lr, cfg.lr_decay, cfg.lr_decay_every, cfg.steps, cfg.train_size) == (5e-3, 0.9, 200, 1000, 512)
    from vidstyle.model.lossnet import PLANS, weights_for

    reference = weights_for(PLANS["vgg19"], cfg)
    assert (reference.content_weight, reference.style_weight, reference.scale_free) == (150.0, 1.0, False)
    assert reference.style_layers == {"conv1_1": 0.1, "conv2_1": 0.2, "conv3_1": 0.4, "conv4_1": 0.8, "conv5_1": 1.6}
    stronger = weights_for(PLANS["vgg19"], TrainConfig(strength=2.5))
    assert (stronger.content_weight, stronger.style_weight) == (150.0, 2.5)
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
    from support import smooth

    g, _ = _train(tiny_pair, 40)
    with torch.inference_mode():
        out = to_uint8(g(to_tensor(smooth(128, 96, 0), CPU)))[0].astype(int)
    edge_steps = [np.abs(out[0] - out[1]).mean(), np.abs(out[:, 0] - out[:, 1]).mean(),
                  np.abs(out[-1] - out[-2]).mean(), np.abs(out[:, -1] - out[:, -2]).mean()]
    assert max(edge_steps) < 5.0


def test_stability_term_makes_the_output_steadier_under_input_noise(tiny_pair):
    """Trained with the stability term, the generator's output moves less when the input moves
    by codec-sized noise (what consecutive frames of a still shot differ by)."""
    from dataclasses import replace

    from vidstyle.model.train import _instability

    content, loss, cfg = tiny_pair
    moved = {}
    for weight in (0.0, 3000.0):  # large: on this tiny, calm pair the default 30 has little to correct
        g = build_generator(GeneratorConfig(), 0, CPU)
        train_generator(g, loss, [content], 40, replace(cfg, stability_weight=weight))
        with torch.no_grad():
            noise = torch.Generator().manual_seed(1)
            moved[weight] = float(np.mean([_instability(g, content, g(content), noise) for _ in range(4)]))
    assert moved[3000.0] < 0.7 * moved[0.0]


def test_training_reports_through_the_callers_reporter(tiny_pair, capsys):
    from vidstyle.reporting import Reporter

    content, loss, cfg = tiny_pair
    seen = []
    reporter = Reporter(quiet=True, progress=lambda what, done, total: seen.append((what, done, total)))
    train_generator(build_generator(GeneratorConfig(), 0, CPU), loss, [content], 3, cfg, desc="tuning",
                    reporter=reporter)
    assert seen == [("tuning", 1, 3), ("tuning", 2, 3), ("tuning", 3, 3)]
    assert capsys.readouterr().err == ""  # quiet: no bar drawn


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_adam_follows_torch_optim_adam_with_step_lr(device):
    """vidstyle's Adam (written out: torch.optim imports torch._dynamo) against torch.optim.Adam
    (its default path on the device) and StepLR, through four decays and with a parameter that
    has no gradient on some steps: the same parameters and rates, bit for bit."""
    from vidstyle.model.adam import Adam

    rng = torch.Generator().manual_seed(0)
    start = [torch.randn(4, 3, generator=rng), torch.randn(5, generator=rng), torch.randn(2, 2, generator=rng)]
    mine = [torch.nn.Parameter(t.clone().to(device)) for t in start]
    theirs = [torch.nn.Parameter(t.clone().to(device)) for t in start]
    ours = Adam(mine, 0.05, decay=0.9, decay_every=3)
    reference = torch.optim.Adam(theirs, lr=0.05)
    schedule = torch.optim.lr_scheduler.StepLR(reference, step_size=3, gamma=0.9)
    for step in range(13):
        targets = [torch.randn(t.shape, generator=rng).to(device) for t in start]
        for params in (mine, theirs):
            loss = sum(((p - t) ** 3).abs().sum() for p, t in zip(params, targets, strict=True)
                       if not (p is params[2] and step % 3 == 1))  # the third skips every third step
            loss.backward()
        ours.step()
        reference.step()
        schedule.step()
        ours.zero_grad()
        reference.zero_grad()
        assert ours.current_lr == schedule.get_last_lr()[0]
        for a, b in zip(mine, theirs, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)  # the same kernels in the same order
    assert ours.current_lr < 0.05 * 0.9**3  # four decays happened
    moved = [float((p.detach().cpu() - s).abs().max()) for p, s in zip(mine, start, strict=True)]
    assert min(moved) > 0.05  # every parameter moved: the comparison is not of two idle tensors


def test_adam_has_work_to_do():
    from vidstyle.model.adam import Adam

    with pytest.raises(ValueError, match="at least one parameter"):
        Adam([torch.nn.Parameter(torch.zeros(2), requires_grad=False)], 0.1)
    with pytest.raises(ValueError, match="decays every 0 steps"):
        Adam([torch.nn.Parameter(torch.zeros(2))], 0.1, decay_every=0)


def test_training_does_not_import_the_compiler():
    """torch.optim's optimizers import torch._dynamo when built (1.1-2.2 s of a CPU run's minute to
    the preview); a training run through the public API must not pay it."""
    import subprocess
    import sys

    code = ("import sys, numpy as np, vidstyle\n"
            "rgb = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)\n"
            "cfg = vidstyle.TrainConfig(steps=2, train_size=64, loss_network='random-vgg')\n"
            "vidstyle.train(rgb[::-1].copy(), rgb, config=cfg, device='cpu')\n"
            "print('torch._dynamo' in sys.modules, 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.split() == ["False", "True"], out.stderr[-2000:]
