"""Frames as the model sees them: uint8 RGB arrays <-> float tensors, and the ImageNet
normalisation the generator and the loss networks work in.

Apart from the image files (images.py, torch-free) so that reading and writing media never
loads torch, and so that every conversion rounds the same way.
"""

from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """[0,1] RGB -> ImageNet-normalised (a new tensor)."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(-1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(-1, 1, 1)
    return (x - mean) / std


def imagenet_denormalize(x: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised -> [0,1] RGB, clipped (a new tensor)."""
    return imagenet_denormalize_raw(x).clamp(0.0, 1.0)


def imagenet_denormalize_raw(x: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised -> RGB, not clipped (keeps gradients where the generator overshoots)."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(-1, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(-1, 1, 1)
    return x * std + mean


def to_tensor(rgb: np.ndarray | list[np.ndarray], device: torch.device) -> torch.Tensor:
    """uint8 (H, W, 3) or a list of them -> normalised float (B, 3, H, W) on ``device``."""
    return imagenet_normalize(upload_rgb(rgb if isinstance(rgb, list) else [rgb], device))


def to_uint8(output: torch.Tensor) -> np.ndarray:
    """Model output (B, 3, H, W), normalised space -> uint8 (B, H, W, 3) on the CPU."""
    return download_rgb(imagenet_denormalize(output.float()))


def upload_rgb(frames: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """uint8 (H, W, 3) frames -> (B, 3, H, W) float in [0, 1] on ``device``; to a GPU the uint8
    bytes go (4x fewer than floats) from pinned memory, asynchronously."""
    batch = torch.from_numpy(np.stack(frames))  # a writable copy
    if device.type == "cuda":  # pinned memory is CUDA's
        batch = batch.pin_memory()
    batch = batch.to(device, non_blocking=True)
    return batch.permute(0, 3, 1, 2).float().div_(255.0)


def download_rgb(rgb: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] -> uint8 (B, H, W, 3) on the CPU, rounded to nearest."""
    out = rgb.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return out.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def to_channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with its 4-D weights and buffers channels-last, in place (as Module.to does);
    other ranks stay as they are, where Module.to(memory_format=...) raises on the 5-D filter
    banks of the pyramid loss network."""
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return module
