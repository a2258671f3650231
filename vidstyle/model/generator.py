"""The HRNet generator of Li et al. 2019 ("High-Resolution Network for Photorealistic Style
Transfer"), written from the layer plan in the design notes.

A full-resolution branch runs through the whole network and is fused with half- and
quarter-resolution branches, so fine structure survives stylization. Input and output live
in ImageNet-normalised space: there is no output activation, the caller de-normalises.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidstyle.config import GeneratorConfig

SIZE_MULTIPLE = 4  # two halvings: height and width must divide by 4 inside the network
BORDER = 8  # replicated margin around the image, cropped off again: keeps the zero-padded
            # convolutions' border artefacts out of the picture


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    """Zero-padded convolution (reflection padding was reported to look worse)."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


class InstanceNorm(nn.InstanceNorm2d):
    """InstanceNorm2d (no affine, no running statistics) that, when stylizing on a CUDA GPU,
    normalises by per-channel moments instead of cuDNN's instance norm (a batch norm over the
    reshaped batch). Measured on an H200, the whole generator at 1920x1080, batch 4: 16.3 fps
    with cuDNN's, 30.3 with moments (fp16, channels-last), 38.4 (fp32, NCHW). Training keeps
    cuDNN's (moments' backward was slower there: 43.7 against 39.5 ms a step), and so does the
    CPU (moments were 1.6x slower on the 2-core VM). The same function either way."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda and not torch.is_grad_enabled():
            return instance_norm_by_moments(x, self.eps)
        return super().forward(x)


def instance_norm_by_moments(x: torch.Tensor, eps: float) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) per sample and channel, the moments in fp32."""
    var, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, unbiased=False)
    return ((x.float() - mean) * torch.rsqrt(var + eps)).to(x.dtype)


class Bottleneck(nn.Module):
    """ResNet bottleneck with InstanceNorm: 1x1 -> 3x3 -> 1x1, each conv-IN-ReLU, plus a shortcut.

    The shortcut is the identity when the width does not change, else a 1x1 conv + IN.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = cout // 4
        self.body = nn.Sequential(
            _conv(cin, mid, 1), InstanceNorm(mid), nn.ReLU(inplace=True),
            _conv(mid, mid, 3), InstanceNorm(mid), nn.ReLU(inplace=True),
            _conv(mid, cout, 1), InstanceNorm(cout), nn.ReLU(inplace=True),
        )
        self.shortcut: nn.Module = (
            nn.Identity() if cin == cout else nn.Sequential(_conv(cin, cout, 1), InstanceNorm(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu_(self.body(x) + self.shortcut(x))

    def forward_concat(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """``forward(cat([upsampled(p) for p in parts]))``, without building the concatenation.

        The block's first layers are 1x1 convolutions, which commute with bilinear upsampling,
        so each part is convolved at its own resolution and only the narrower result is
        upsampled: the same function with a third of the full-resolution work. Needs a
        convolution shortcut (in the generator: the 192->64 block after the fusion).
        """
        size = parts[0].shape[-2:]
        body = self.body[1:](_conv1x1_of_concat(self.body[0], parts, size))
        shortcut = self.shortcut[1:](_conv1x1_of_concat(self.shortcut[0], parts, size))
        return torch.relu_(body + shortcut)


def _conv1x1_of_concat(conv: nn.Conv2d, parts: list[torch.Tensor], size: torch.Size) -> torch.Tensor:
    """``conv(cat(upsampled parts))`` as a sum of per-part convolutions, upsampled afterwards.

    Exact up to rounding: both operations are linear, and bilinear weights sum to one, so
    the bias (added once) passes through the interpolation unchanged.
    """
    out: torch.Tensor | None = None
    start = 0
    for part in parts:
        width = part.shape[1]
        bias = conv.bias if start == 0 else None
        term = _upsample(F.conv2d(part, conv.weight[:, start:start + width], bias), size)
        out = term if out is None else out + term
        start += width
    assert out is not None and start == conv.in_channels, "parts must cover the input channels"
    return out


def _upsample(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Bilinear (align_corners=False) to ``size``; a map already that size passes unchanged."""
    if x.shape[-2:] == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class HRNetGenerator(nn.Module):
    """Stages 1-8 of the reference HRNet (about 71k parameters at base width 16).

    Any height and width is accepted: the input is edge-padded by a margin and up to a
    multiple of 4, and the output cropped back, never resized.
    """

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = config or GeneratorConfig()
        c1 = self.config.base_channels
        c2, c4 = 2 * c1, 4 * c1
        rgb = self.config.image_channels
        # stage 1-2: full resolution, and the first strided jump to 1/2
        self.full1 = Bottleneck(rgb, c1)
        self.full2 = Bottleneck(c1, c2)
        self.down_1to2 = _conv(c1, c2, stride=2)
        # stage 3: three branches, each a concatenation of two paths
        self.full3 = Bottleneck(c2, c2)
        self.half3_from_full = _conv(c2, c2, stride=2)
        self.half3 = Bottleneck(c2, c2)
        self.quarter3_from_full = _conv(c2, c2, stride=4)
        self.quarter3_from_half = _conv(c2, c2, stride=2)
        # stage 4: full resolution fuses all three branches
        self.full4 = Bottleneck(2 * c2, c4)
        # stages 5-8: back down to an image
        self.head = nn.Sequential(
            Bottleneck(3 * c4, c4),
            Bottleneck(c4, c2),
            Bottleneck(c2, c1),
            _conv(c1, rgb),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._cropped(x, factored=True)

    def forward_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The layer plan evaluated literally (concatenate, then convolve): the yardstick that
        tests and the training benchmark compare the factored ``forward`` with."""
        return self._cropped(x, factored=False)

    def _cropped(self, x: torch.Tensor, factored: bool) -> torch.Tensor:
        h, w = x.shape[-2:]
        out = self._forward_padded(_pad(x, BORDER, SIZE_MULTIPLE), factored)
        return out[..., BORDER:BORDER + h, BORDER:BORDER + w]

    def _forward_padded(self, x: torch.Tensor, factored: bool) -> torch.Tensor:
        m1 = self.full1(x)
        m2 = self.full2(m1)
        m3 = self.down_1to2(m1)
        full = torch.cat((self.full3(m2), _upsample(m3, m2.shape[-2:])), dim=1)
        half = torch.cat((self.half3_from_full(m2), self.half3(m3)), dim=1)
        quarter = torch.cat((self.quarter3_from_full(m2), self.quarter3_from_half(m3)), dim=1)
        full = self.full4(full)
        # stage 5 reads cat(full, half upsampled, quarter upsampled), 192 channels at full
        # resolution; forward_concat gets the same values without building that tensor
        if factored:
            fused = self.head[0].forward_concat([full, half, quarter])
        else:
            size = full.shape[-2:]
            fused = self.head[0](torch.cat((full, _upsample(half, size), _upsample(quarter, size)), dim=1))
        return self.head[1:](fused)


def _pad(x: torch.Tensor, border: int, multiple: int) -> torch.Tensor:
    """Replicate-pad ``border`` pixels on every side, plus bottom/right up to a multiple."""
    h, w = x.shape[-2:]
    extra_h, extra_w = (-(h + 2 * border)) % multiple, (-(w + 2 * border)) % multiple
    return F.pad(x, (border, border + extra_w, border, border + extra_h), mode="replicate")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
