"""The frozen VGG19 loss network: features returned by layer name, run only as deep as needed.

Weights come the standard way (torchvision's ImageNet VGG19 file, cached in the torch hub
folder), from a local state-dict file, or — for tests and smoke runs only, and only when asked
for by name — from a seeded random initialisation. There is no silent fallback.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vidstyle.errors import WeightsError, printable

# torchvision's vgg19 ("E" in torchvision.models.vgg.cfgs) and its ImageNet weights
# (VGG19_Weights.IMAGENET1K_V1), spelled out: importing torchvision.models pulls in torch._dynamo
# (1.1-2.7 s on a 2-core laptop), which only --runtime compile needs (training avoids torch.optim for the
# same reason: model/adam.py). tests/test_vgg.py checks both against torchvision.
VGG19_PLAN: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                     512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"

RANDOM = "random"
RANDOM_SEED = 0  # the untrained VGG is the same in every run, so test results repeat

# Index of each conv layer in torchvision's vgg19().features; we read the ReLU right after it.
_CONV_INDEX = {
    "conv1_1": 0, "conv1_2": 2,
    "conv2_1": 5, "conv2_2": 7,
    "conv3_1": 10, "conv3_2": 12, "conv3_3": 14, "conv3_4": 16,
    "conv4_1": 19, "conv4_2": 21, "conv4_3": 23, "conv4_4": 25,
    "conv5_1": 28, "conv5_2": 30, "conv5_3": 32, "conv5_4": 34,
}


def hub_weights_path() -> Path:
    """Where torchvision keeps the ImageNet VGG19 file once downloaded."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(VGG19_URL)


class VGGFeatures(nn.Module):
    """VGG19 ``features`` cut after the deepest layer needed; returns {layer name: activation}.

    Activations are taken after each conv's ReLU (what the reference code effectively reads,
    since torchvision's ReLUs run in place). Parameters are frozen.
    """

    def __init__(self, features: nn.Sequential, layers: Iterable[str]) -> None:
        super().__init__()
        wanted = sorted(set(layers), key=lambda name: _CONV_INDEX[name])
        self._at = {_CONV_INDEX[name] + 1: name for name in wanted}  # ReLU index -> name
        depth = max(self._at) + 1
        self.body = nn.Sequential(*[_for_features(m) for m in list(features)[:depth]])
        self.requires_grad_(False)
        self.eval()

    def only(self, layers: Iterable[str]) -> VGGFeatures:
        """The same network cut after the deepest of ``layers`` (parameters shared): a shallow
        term need not pay for the deep layers."""
        return VGGFeatures(self.body, layers)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for index, layer in enumerate(self.body):
            x = layer(x)
            if index in self._at:
                out[self._at[index]] = x
        return out


def _for_features(module: nn.Module) -> nn.Module:
    """``module`` as the loss network runs it: ReLUs not in place, and layers that take maps of
    any size (a small --train-size or a panoramic style image leaves 1-pixel maps deep down)."""
    if isinstance(module, nn.ReLU):
        return nn.ReLU()
    if isinstance(module, nn.Conv2d) and module.padding_mode == "reflect":
        return _ReflectConv2d.like(module)
    if isinstance(module, nn.MaxPool2d):
        return _MaxPool2d(module.kernel_size, module.stride, module.padding, module.dilation,
                          ceil_mode=module.ceil_mode)
    return module


class _ReflectConv2d(nn.Conv2d):
    """A reflect-padded conv that replicates instead along a side too short to reflect (torch
    cannot reflect a pad as wide as the map); identical to ``padding_mode="reflect"`` elsewhere."""

    @classmethod
    def like(cls, conv: nn.Conv2d) -> _ReflectConv2d:
        twin = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                   conv.groups, conv.bias is not None, "reflect")
        twin.weight, twin.bias = conv.weight, conv.bias  # the same parameters, not copies
        return twin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (ph, pw), (h, w) = self.padding, x.shape[-2:]
        if h > ph and w > pw:
            x = F.pad(x, (pw, pw, ph, ph), mode="reflect")
        else:  # one side at a time: reflect where it fits, replicate where it does not
            x = F.pad(x, (pw, pw, 0, 0), mode="reflect" if w > pw else "replicate")
            x = F.pad(x, (0, 0, ph, ph), mode="reflect" if h > ph else "replicate")
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class _MaxPool2d(nn.MaxPool2d):
    """VGG's 2x2 pooling, which keeps a side shorter than the window at 1 pixel (its maximum)
    instead of failing on it; unchanged on every map at least as large as the window."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = (self.kernel_size,) * 2 if isinstance(self.kernel_size, int) else self.kernel_size
        short_h, short_w = max(0, kh - x.shape[-2]), max(0, kw - x.shape[-1])
        if short_h or short_w:  # repeating the last row or column leaves its maximum as it is
            x = F.pad(x, (0, short_w, 0, short_h), mode="replicate")
        return super().forward(x)


def load_vgg_features(spec: str | None, layers: Iterable[str], *, progress: bool = True,
                      timeout: float | None = None) -> VGGFeatures:
    """Build the frozen loss network for ``layers``.

    ``spec``: None for torchvision's ImageNet weights (download once into the hub cache),
    a path to a torchvision-format state dict (whole ``vgg19`` or its ``.features``), or
    ``"random"`` for a seeded untrained network (tests and smoke runs only).
    """
    layers = list(layers)
    unknown = [name for name in layers if name not in _CONV_INDEX]
    if unknown:
        raise WeightsError(f"unknown VGG19 layer(s) {unknown}; use names like conv4_2")
    depth = max(_CONV_INDEX[n] for n in layers) + 2  # through the deepest layer's ReLU
    if spec == RANDOM:
        return VGGFeatures(_random_features(depth), layers)
    if spec is None:
        state, where = _imagenet_state_dict(progress, timeout or 30), f"ImageNet VGG19 ({hub_weights_path()})"
    else:
        state, where = _state_dict_from_file(Path(spec)), f"VGG19 weights from {spec}"
    features = _vgg19_features()
    _load_features(features, state, where, depth=depth)
    return VGGFeatures(features, layers)


def _vgg19_features() -> nn.Sequential:
    """torchvision's vgg19 ``features`` with its own initialisation, without building the
    classifier (120M parameters that the loss network never uses)."""
    features = _vgg19_layers()
    for module in features.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return features


def _vgg19_layers() -> nn.Sequential:
    """torchvision's ``make_layers(cfgs["E"])``: the same modules at the same indices, so that
    its state dicts load as they are."""
    layers: list[nn.Module] = []
    channels = 3
    for width in VGG19_PLAN:
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(width), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = int(width)
    return nn.Sequential(*layers)


def _random_features(depth: int) -> nn.Sequential:
    """VGG19's first ``depth`` layers with He-normal weights drawn from numpy's RandomState,
    whose stream is frozen across versions (torch's is not across devices and releases): the
    same network on every install. The layers are drawn in order, so a shallower cut has the
    same weights; they are built without torch's own initialisation, which would be overwritten."""
    with torch.device("meta"):
        features = _vgg19_layers()[:depth]
    features = features.to_empty(device="cpu")
    rs = np.random.RandomState(RANDOM_SEED)
    with torch.no_grad():
        for module in features.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
                weight = rs.standard_normal(tuple(module.weight.shape))
                weight *= np.sqrt(2.0 / fan_out)
                module.weight.copy_(torch.from_numpy(weight))  # rounds to float32 as numpy's astype does
                module.bias.zero_()
                module.padding_mode = "reflect"  # zero padding reads as an edge: the generator paints borders
    return features


def _missing_weights_message(reason: str) -> str:
    return (
        f"VGG19 ImageNet weights are not available ({reason}). Download {VGG19_URL} "
        f"and put it at {hub_weights_path()}, or pass --vgg-weights PATH "
        f"(a torchvision vgg19 state dict)"
    )


def _imagenet_state_dict(progress: bool, timeout: float) -> dict[str, torch.Tensor]:
    """Load from the hub cache, downloading once if needed; offline, stop with the fix."""
    path = hub_weights_path()
    if path.is_file():
        return _state_dict_from_file(path)
    url = VGG19_URL
    try:
        # Every connection has its own timeout (an offline machine that drops packets must not
        # hang forever), never the process-wide socket default that other threads share.
        _reachable(url, timeout)  # offline: fail before the download's banner prints
        _download(url, path, timeout, progress)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsError(_missing_weights_message(f"not in the cache and the download failed: {reason}")) from exc
    return _state_dict_from_file(path)


def _reachable(url: str, timeout: float) -> None:
    """A HEAD request: raises URLError/OSError when the weights' host cannot be reached."""
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
        pass


def _download(url: str, path: Path, timeout: float, progress: bool) -> None:
    """torch.hub's download (a hidden partial file, moved into place once its SHA-256 matches the
    prefix in the file's name), with ``timeout`` on the connection and on every read."""
    digest_prefix = path.stem.rsplit("-", 1)[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    request = urllib.request.Request(url, headers={"User-Agent": "torch.hub"})
    if progress:
        print(f'Downloading: "{url}" to {printable(path)}', file=sys.stderr)
    sha256 = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer, open(partial, "wb") as out:
            size = answer.headers.get("Content-Length")
            with tqdm(total=int(size) if size else None, disable=not progress, unit="B", unit_scale=True,
                      unit_divisor=1024, file=sys.stderr) as bar:
                while chunk := answer.read(1 << 16):
                    out.write(chunk)
                    sha256.update(chunk)
                    bar.update(len(chunk))
        if not sha256.hexdigest().startswith(digest_prefix):
            raise RuntimeError(f"invalid hash value (expected {digest_prefix}, got {sha256.hexdigest()[:16]})")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _state_dict_from_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"VGG19 weights file {path} does not exist; pass an existing file to --vgg-weights")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise WeightsError(f"cannot read VGG19 weights from {path} ({exc.__class__.__name__}); "
                           "pass a torchvision vgg19 state dict saved with torch.save") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} holds no state dict of tensors; pass a torchvision vgg19 state dict")
    return state


def _load_features(features: nn.Sequential, state: dict, where: str, depth: int) -> None:
    """Copy the conv weights up to ``depth`` from a whole-vgg19 or a features-only state dict."""
    prefix = "features." if any(str(k).startswith("features.") for k in state) else ""
    wanted = {k: v for k, v in features.state_dict().items() if int(k.split(".")[0]) < depth}
    missing, bad_shape = [], []
    loaded = {}
    for key, ref in wanted.items():
        value = state.get(prefix + key)
        if value is None:
            missing.append(prefix + key)
        elif tuple(value.shape) != tuple(ref.shape):
            bad_shape.append(prefix + key)
        else:
            loaded[key] = value
    if missing or bad_shape:
        problem = f"missing {missing[:3]}" if missing else f"wrong shape for {bad_shape[:3]}"
        raise WeightsError(f"{where} is not a VGG19 state dict ({problem}); "
                           "pass torchvision's vgg19 weights to --vgg-weights")
    features.load_state_dict(loaded, strict=False)
