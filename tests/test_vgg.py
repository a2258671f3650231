import socket

import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from vidstyle.errors import WeightsError
from vidstyle.model.vgg import hub_weights_path, load_vgg_features

LAYERS = ["conv1_1", "conv4_2", "conv5_1"]


def test_random_vgg_is_seeded_and_stops_at_conv5_1():
    a = load_vgg_features("random", LAYERS)
    b = load_vgg_features("random", LAYERS)
    x = torch.randn(1, 3, 32, 32)
    fa, fb = a(x), b(x)
    assert set(fa) == set(LAYERS)
    assert all(torch.equal(fa[k], fb[k]) for k in LAYERS)
    assert len(a.body) == 30  # conv5_1 + its ReLU is index 29: nothing deeper runs
    assert not any(p.requires_grad for p in a.parameters())
    assert (fa["conv1_1"] >= 0).all()  # read after the ReLU


class _Reference(torch.nn.Module):
    """Stands in for torchvision's vgg19 (same key names) without its 120M-parameter head."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = make_layers(cfgs["E"])
        self.classifier = torch.nn.Linear(4, 2)


def _reference(seed: int) -> torch.nn.Module:
    return _Reference(seed)


@pytest.mark.parametrize("which", ["whole", "features"])
def test_local_state_dict_file(tmp_path, which):
    model = _reference(3)
    state = model.state_dict() if which == "whole" else model.features.state_dict()
    path = tmp_path / "vgg.pth"
    torch.save(state, path)
    net = load_vgg_features(str(path), LAYERS)
    x = torch.randn(1, 3, 32, 32)
    expected = model.features[:23](x)  # relu4_2
    assert torch.allclose(net(x)["conv4_2"], expected, atol=1e-5)


def test_bad_weight_files_give_one_line_errors(tmp_path):
    with pytest.raises(WeightsError, match="does not exist; pass an existing file"):
        load_vgg_features(str(tmp_path / "nope.pth"), LAYERS)
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read VGG19 weights"):
        load_vgg_features(str(junk), LAYERS)
    wrong = tmp_path / "wrong.pth"
    torch.save({"0.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(WeightsError, match="not a VGG19 state dict"):
        load_vgg_features(str(wrong), LAYERS)


def test_offline_without_weights_names_the_file_and_the_option(monkeypatch):
    def no_network(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(WeightsError) as info:
        load_vgg_features(None, LAYERS, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert str(hub_weights_path()) in message
    assert "vgg19-dcbb9e9d.pth" in message and "--vgg-weights" in message


def test_cached_hub_file_is_used_without_network(monkeypatch):
    model = _reference(4)
    path = hub_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(model.state_dict(), path)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("network used"))
    net = load_vgg_features(None, LAYERS)
    assert torch.equal(net.body[0].weight, model.features[0].weight)
