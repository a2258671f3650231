"""The loss network as one piece: the built-in pyramid (deterministic, no file, really
stylizes), the choice between networks, the strength knob, the preview, and eval's scene cuts."""

import numpy as np
import pytest
import torch
from PIL import Image
from support import FAST, error_line, make_clip, read_clip, run

from vidstyle.config import TrainConfig
from vidstyle.media.images import load_image
from vidstyle.media.preview import is_preview
from vidstyle.model.lossnet import PLANS, build_losses, resolve_loss_network, weights_for
from vidstyle.model.pyramid import PyramidFeatures
from vidstyle.model.tensors import to_tensor, to_uint8
from vidstyle.model.train import build_generator, train_generator
from vidstyle.quality.evaluate import evaluate
from vidstyle.quality.metrics import lab_pixels, sliced_wasserstein, to_float
from vidstyle.render.flow import is_cut

CPU = torch.device("cpu")


def _unit(w: np.ndarray, zero_mean: bool) -> np.ndarray:
    if zero_mean:
        w = w - w.mean(axis=(1, 2, 3), keepdims=True)
    return w / np.sqrt((w**2).sum(axis=(1, 2, 3), keepdims=True))


def test_pyramid_filters_are_numpys_seeded_stream_on_every_install():
    """Every filter, recomputed here from numpy's frozen RandomState stream (five levels of 64
    zero-mean 5x5 texture filters, then five levels of 16 colour projections), plus a few taps
    pinned as numbers: a change of seed, order, shape or normalisation shows."""
    net = PyramidFeatures()
    rs = np.random.RandomState(20170101)
    texture = [_unit(rs.standard_normal((64, 3, 5, 5)), True) for _ in range(5)]
    colour = [_unit(rs.standard_normal((16, 3, 1, 1)), False) for _ in range(5)]
    assert np.allclose(net.texture.numpy(), np.stack(texture), atol=1e-6)
    assert np.allclose(net.colour.numpy(), np.stack(colour), atol=1e-6)
    assert net.texture[0, 0, 0, 0, :3].tolist() == pytest.approx([0.0216648, 0.1266901, -0.1471687], abs=1e-6)
    assert net.colour[4, 15, :, 0, 0].tolist() == pytest.approx([-0.2458109, 0.4394725, 0.8639681], abs=1e-6)
    # a second instance is the same network; another seed is another one
    again, other = PyramidFeatures(), PyramidFeatures(seed=1)
    assert all(torch.equal(x, y) for x, y in zip(net.state_dict().values(), again.state_dict().values(), strict=True))
    assert not torch.allclose(net.texture, other.texture) and not torch.allclose(net.colour, other.colour)
    assert sum(p.numel() for p in net.parameters()) == 0  # buffers only: nothing to train, nothing to ship


def test_pyramid_features_match_an_independent_computation_and_stored_values():
    """Level 0 recomputed in numpy (reflect-padded 5x5 correlation and 1x1 projections of the
    image centred on grey, each through a ReLU); every level's mean and mean square pinned."""
    net = PyramidFeatures()
    rgb = np.random.RandomState(0).randint(0, 256, (40, 56, 3)).astype(np.uint8)
    feats = net(to_tensor(rgb, CPU))
    x = rgb.astype(np.float64).transpose(2, 0, 1) / 255.0 - 0.5  # (3, H, W)
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, ((0, 0), (2, 2), (2, 2)), mode="reflect"),
                                                       (5, 5), axis=(1, 2))  # (3, H, W, 5, 5)
    texture = np.einsum("cijkl,fckl->fij", windows, net.texture[0].double().numpy())
    colour = np.einsum("cij,fc->fij", x, net.colour[0, :, :, 0, 0].double().numpy())
    expected = np.maximum(np.concatenate([texture, colour]), 0.0)
    assert np.abs(feats["level0"][0].double().numpy() - expected).max() < 1e-4
    stored = {"level0": (0.115849, 0.0414747), "level1": (0.0303561, 0.00296222), "level2": (0.0163652, 0.000824228),
              "level3": (0.00858832, 0.000232804), "level4": (0.00624954, 0.000103146)}
    got = {name: (f.double().mean().item(), f.double().pow(2).mean().item()) for name, f in feats.items()}
    assert got == {name: pytest.approx(values, rel=1e-4) for name, values in stored.items()}


def test_pyramid_levels_halve_and_take_any_size():
    feats = PyramidFeatures()(torch.randn(1, 3, 37, 50))
    assert [tuple(f.shape[-2:]) for f in feats.values()] == [(37, 50), (19, 25), (10, 13), (5, 7), (3, 4)]
    assert all(f.shape[1] == 80 and (f >= 0).all() for f in feats.values())


def _style_and_content():
    style = load_image(__import__("conftest").SAMPLES / "starry_night.jpg").rgb
    yy, xx = np.mgrid[0:64, 0:96]
    content = np.stack([90 + xx, 120 + yy, 100 + 0 * xx], -1).clip(0, 255).astype(np.uint8)
    return style, content


def test_builtin_network_moves_the_generator_towards_the_style():
    """Trained as the product trains it, the output's colours move towards the painting's
    (measured by the Lab sliced-Wasserstein distance, not by the loss itself)."""
    style, content = _style_and_content()
    cfg = TrainConfig().for_device("cpu")
    tensor = to_tensor(content, CPU)
    loss = build_losses(resolve_loss_network("pyramid", None), style, cfg, CPU)(*tensor.shape[-2:])
    generator = build_generator(__import__("vidstyle.config").config.GeneratorConfig(), 0, CPU)
    history = train_generator(generator, loss, [tensor], 80, cfg)
    assert np.mean(history.style[-10:]) < 0.5 * history.style[0]
    with torch.no_grad():
        out = to_uint8(generator(tensor))[0]
    target = lab_pixels(to_float(style), 20000)
    before = sliced_wasserstein(lab_pixels(to_float(content), 20000), target)
    after = sliced_wasserstein(lab_pixels(to_float(out), 20000), target)
    assert after < 0.7 * before


def test_strength_scales_the_style_weight_and_expert_weights_win():
    plan = PLANS["pyramid"]
    assert weights_for(plan, TrainConfig(strength=3)).style_weight == pytest.approx(3 * plan.style_weight)
    expert = weights_for(plan, TrainConfig(content_weight=7, style_weight=2, strength=0.5))
    assert (expert.content_weight, expert.style_weight, expert.scale_free) == (7, 1.0, True)


def test_unknown_network_and_random_alias():
    from vidstyle.errors import VidstyleError

    with pytest.raises(VidstyleError, match="unknown"):
        resolve_loss_network("alexnet", None)
    assert resolve_loss_network("auto", "random").name == "random-vgg"


def test_preview_then_preview_only_stops_before_rendering(tmp_path, style_path, capsys):
    clip = make_clip(tmp_path / "clip.mp4", frames=4)
    assert run(clip, "--style", style_path, "--preview-only", *FAST) == 0
    preview = tmp_path / "clip_styled_preview.png"
    assert is_preview(preview) and not (tmp_path / "clip_styled.mp4").exists()
    sheet = np.asarray(Image.open(preview))
    assert sheet.shape[0] == 360 + 16 and sheet.shape[1] > 3 * 360  # three panels side by side
    # a later full run refreshes its own preview without --overwrite, then renders
    assert run(clip, "--style", style_path, *FAST) == 0
    assert read_clip(tmp_path / "clip_styled.mp4").frames == 4 and is_preview(preview)
    # a user's file of that name is never replaced
    (tmp_path / "clip_styled.mp4").unlink()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(preview)
    line = error_line(capsys, clip, "--style", style_path, *FAST)
    assert "preview" in line and "already exists" in line
    assert np.asarray(Image.open(preview)).shape == (20, 20, 3)


def test_eval_leaves_out_pairs_across_a_scene_cut(tmp_path, style_path):
    def two_shots(w, h, i):
        if i < 6:
            yy, xx = np.mgrid[0:h, 0:w]
            return np.stack([(xx * 3 + i * 4) % 256, yy * 3, 0 * xx + 60], -1).astype(np.uint8)
        yy, xx = np.mgrid[0:h, 0:w]
        return np.stack([200 - yy * 2, 150 + (xx + i) % 40, 250 - xx], -1).clip(0, 255).astype(np.uint8)

    clip = make_clip(tmp_path / "cut.mp4", painter=two_shots, frames=10, audio=None)
    result = evaluate(clip, clip, style_path, loss_network="pyramid")
    assert result.pairs_skipped_at_cuts == 1 and result.style_network == "pyramid"
    frames = [np.asarray(Image.fromarray(two_shots(96, 64, i)).convert("L")) for i in (4, 5, 6)]
    assert not is_cut(frames[0], frames[1]) and is_cut(frames[1], frames[2])


def test_auto_takes_vgg19_from_the_torch_cache_without_network_and_without_a_note(monkeypatch):
    import socket

    from test_vgg import _reference

    from vidstyle.model.vgg import hub_weights_path

    path = hub_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(_reference(5).state_dict(), path)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("network used"))
    notes = []
    network = resolve_loss_network("auto", None, notice=notes.append)
    assert network.name == "vgg19" and notes == [] and str(path) in network.source
    assert network.plan.scale_free is False and network.plan.content_weight == 150.0


def test_auto_offline_falls_back_with_one_note(monkeypatch):
    import socket

    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(socket.gaierror(-2, "x")))
    notes = []
    network = resolve_loss_network("auto", None, notice=notes.append)
    assert network.name == "random-vgg" and len(notes) == 1 and "--vgg-weights" in notes[0]


@pytest.mark.parametrize("name", ["random-vgg", "pyramid"])
def test_builtin_networks_take_the_smallest_training_size(name):
    """--train-size 32 leaves 1x2 maps deep in the random VGG (2x2 at the pyramid's top): the
    losses of a 32x18 image against a 32x18 style are finite and fall as the image is optimised."""
    from vidstyle.media.images import resize

    style, _ = _style_and_content()
    style = resize(style, 18, 32)
    yy, xx = np.mgrid[0:18, 0:32]
    content = np.stack([90 + 4 * xx, 120 + 5 * yy, 100 + 0 * xx], -1).clip(0, 255).astype(np.uint8)
    target = to_tensor(content, CPU)
    loss = build_losses(resolve_loss_network(name, None), style, TrainConfig(), CPU)(18, 32)
    content_target = loss.content_target(target)
    image = target.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([image], lr=0.05)
    totals = []
    for _ in range(6):
        optimiser.zero_grad()
        values = loss(image, content_target)
        totals.append(values.total.item())
        values.total.backward()
        optimiser.step()
    assert all(np.isfinite(totals)) and totals[-1] < totals[0], totals


@pytest.mark.parametrize("name", ["random-vgg", "pyramid"])
def test_channels_last_loss_networks_give_the_same_losses(name):
    """CUDA's default training layout is channels-last. The pyramid's 5-D filter banks made
    Module.to(memory_format=...) raise there (first seen on an H200, in `vidstyle eval`'s
    judge): only the 4-D weights change layout, and the losses stay those of NCHW."""
    style, content = _style_and_content()
    tensor = to_tensor(content, CPU)
    values = []
    for channels_last in (False, True):
        cfg = TrainConfig(channels_last=channels_last).for_device("cpu")
        network = resolve_loss_network(name, None)
        loss = build_losses(network, style, cfg, CPU)(*tensor.shape[-2:])
        x = tensor.contiguous(memory_format=torch.channels_last) if channels_last else tensor
        values.append(loss(x, loss.content_target(x)))
        four_d = [t for t in (*network.features.parameters(), *network.features.buffers()) if t.dim() == 4]
        assert four_d and all(t.is_contiguous(memory_format=torch.channels_last) is channels_last
                              for t in four_d if t.shape[1] > 1 and t.shape[-1] > 1)
    nchw, last = values
    assert torch.allclose(nchw.total, last.total, rtol=1e-4), (nchw.total, last.total)
    assert nchw.total > 0


def test_cli_trains_at_the_smallest_train_size_with_the_random_vgg(tmp_path, style_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=3, audio=None)
    out = tmp_path / "out.mp4"
    from vidstyle.cli import main

    assert main([str(clip), "--style", str(style_path), "--train-size", "32", "--steps", "2", "-o", str(out),
                 "--loss-network", "random-vgg", "--keyframes", "every", "--device", "cpu", "-q"]) == 0
    assert read_clip(out).frames == 3
