import socket

import numpy as np
import pytest
import torch
from torchvision.models.vgg import cfgs, make_layers

from vidstyle.errors import WeightsError
from vidstyle.model.vgg import VGG19_URL, _vgg19_layers, hub_weights_path, load_vgg_features

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


def test_the_spelled_out_vgg19_is_torchvisions():
    """vgg.py spells out torchvision's layer plan and weights URL (importing torchvision.models
    costs seconds at every start): they must stay torchvision's."""
    from torchvision.models import VGG19_Weights

    ours, theirs = _vgg19_layers(), make_layers(cfgs["E"])
    assert [repr(m) for m in ours] == [repr(m) for m in theirs]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    assert VGG19_Weights.IMAGENET1K_V1.url == VGG19_URL
    assert hub_weights_path().name == "vgg19-dcbb9e9d.pth"


def test_starting_the_cli_does_not_import_torchvision():
    import subprocess
    import sys

    code = "import sys, vidstyle.cli, vidstyle.pipeline, vidstyle.model.lossnet; print('torchvision' in sys.modules)"
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "False"


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


def test_random_vgg_reflects_where_it_can_and_takes_maps_too_small_to_reflect():
    """Reflection padding as before wherever the map allows it (the same numbers as torch's
    padding_mode="reflect"); replicate padding along a side too short to reflect and 2x2 pooling
    of a 1-pixel side, so that a 32-pixel --train-size (1x2 maps at conv5_1) works."""
    import torch.nn.functional as F

    from vidstyle.model.vgg import _CONV_INDEX, _random_features

    net = load_vgg_features("random", LAYERS)
    reference = torch.nn.Sequential(*[torch.nn.ReLU() if isinstance(m, torch.nn.ReLU) else m
                                      for m in _random_features(30)])
    assert all(m.padding_mode == "reflect" for m in reference if isinstance(m, torch.nn.Conv2d))
    x = torch.randn(1, 3, 37, 50)
    got, y = net(x), x
    for index, module in enumerate(reference):
        y = module(y)
        for name in LAYERS:
            if _CONV_INDEX[name] + 1 == index:
                assert torch.equal(got[name], y), name
    with pytest.raises(RuntimeError, match="Padding size"):  # what a tiny map did before
        reference(torch.randn(1, 3, 18, 32))
    for shape, deepest in [((18, 32), (1, 2)), ((1, 1), (1, 1)), ((3, 200), (1, 12)), ((40, 1), (2, 1))]:
        out = net(torch.randn(1, 3, *shape))
        assert tuple(out["conv5_1"].shape[-2:]) == deepest
        assert all(torch.isfinite(v).all() for v in out.values())
    # a 1-pixel-high map: replicated rows above and below, reflected columns left and right
    conv = net.body[0]
    row = torch.randn(1, 3, 1, 6)
    padded = F.pad(F.pad(row, (1, 1, 0, 0), mode="reflect"), (0, 0, 1, 1), mode="replicate")
    assert torch.allclose(conv(row), F.conv2d(padded, conv.weight, conv.bias), atol=1e-6)
    pool = net.body[4]
    assert torch.equal(pool(torch.tensor([[[[1.0, 5.0, 2.0, 0.0]]]])), torch.tensor([[[[5.0, 2.0]]]]))


def test_the_weights_download_times_out_per_connection_not_process_wide(tmp_path, monkeypatch):
    """The probe and the download carry their own timeout; the process-wide socket default,
    which other threads share, is never touched. The file lands in place only with its hash."""
    import hashlib
    import io
    import urllib.request

    from vidstyle.model import vgg

    model = _reference(6)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    data = buffer.getvalue()
    calls = []

    class Answer(io.BytesIO):
        headers = {"Content-Length": str(len(data))}

    def urlopen(request, *args, **kwargs):
        calls.append((request.get_method(), kwargs.get("timeout"), socket.getdefaulttimeout()))
        return Answer(b"" if request.get_method() == "HEAD" else data)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    good = tmp_path / "hub" / f"vgg19-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setattr(vgg, "hub_weights_path", lambda: good)
    net = load_vgg_features(None, LAYERS, progress=False, timeout=7)
    assert torch.equal(net.body[0].weight, model.features[0].weight) and good.is_file()
    assert calls == [("HEAD", 7, None), ("GET", 7, None)]
    bad = tmp_path / "hub" / "vgg19-00000000.pth"
    monkeypatch.setattr(vgg, "hub_weights_path", lambda: bad)
    with pytest.raises(WeightsError, match="download failed: invalid hash"):
        load_vgg_features(None, LAYERS, progress=False, timeout=7)
    assert sorted(p.name for p in bad.parent.iterdir()) == [good.name]  # no partial file left behind
    assert socket.getdefaulttimeout() is None


def test_random_vgg_is_numpys_seeded_stream_in_layer_order():
    """Every conv weight through conv5_1 recomputed here from numpy's frozen RandomState stream
    (He-normal, fan-out, layers in order, zero biases), plus taps pinned as numbers: the network
    is drawn only as deep as it is cut, so a cut must not change the weights it keeps."""
    from vidstyle.model.vgg import _random_features

    net = load_vgg_features("random", LAYERS)
    rs = np.random.RandomState(0)
    convs = [m for m in net.body if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13  # conv1_1 .. conv5_1
    for conv in convs:
        shape = tuple(conv.weight.shape)
        expected = rs.standard_normal(shape) * np.sqrt(2.0 / (shape[0] * shape[2] * shape[3]))
        assert np.array_equal(conv.weight.numpy(), expected.astype(np.float32))
        assert not conv.bias.any()
    assert convs[0].weight[0, 0, 0].tolist() == pytest.approx([0.1039478, 0.0235795, 0.0576727], abs=1e-6)
    assert convs[-1].weight[511, 511, 2].tolist() == pytest.approx([-0.0245840, -0.0101948, -0.0283103], abs=1e-6)
    shallow = load_vgg_features("random", ["conv2_1"])
    assert torch.equal(shallow.body[5].weight, net.body[5].weight) and len(shallow.body) == 7
    assert len(_random_features(7)) == 7  # drawn only as deep as asked
