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


def test_pyramid_is_the_same_network_on_every_install():
    a, b = PyramidFeatures(), PyramidFeatures()
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    # numpy's RandomState stream is frozen: the first filter's first tap is a fixed number
    assert a.texture[0, 0, 0, 0, 0].item() == pytest.approx(PyramidFeatures().texture[0, 0, 0, 0, 0].item())
    rs = np.random.RandomState(20170101).standard_normal((64, 3, 5, 5))
    rs -= rs.mean(axis=(1, 2, 3), keepdims=True)
    rs /= np.sqrt((rs**2).sum(axis=(1, 2, 3), keepdims=True))
    assert np.allclose(a.texture[0].numpy(), rs, atol=1e-6)
    assert sum(p.numel() for p in a.parameters()) == 0  # buffers only: nothing to train, nothing to ship


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
    cfg = TrainConfig()
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
