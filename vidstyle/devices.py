"""Choosing the torch device from the --device option (no global device anywhere else)."""

from __future__ import annotations

import torch

from vidstyle.config import DEVICE_CHOICES as CHOICES
from vidstyle.errors import VidstyleError


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit choice must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise VidstyleError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if name == "mps" and not _mps_available():
        raise VidstyleError("--device mps: Apple's Metal backend is not available here; use --device cpu or auto")
    if name not in CHOICES:
        raise VidstyleError(f"--device {name} is unknown; use one of {', '.join(CHOICES)}")
    return torch.device(name)
