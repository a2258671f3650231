"""Choosing the torch device from the device option (no global device anywhere else)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from vidstyle.config import DEVICE_CHOICES as CHOICES
from vidstyle.errors import VidstyleError, option


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit choice must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise VidstyleError(f"{option('device')} cuda: no CUDA GPU is available here; "
                            f"use {option('device')} cpu or auto")
    if name == "mps" and not _mps_available():
        raise VidstyleError(f"{option('device')} mps: Apple's Metal backend is not available here; "
                            f"use {option('device')} cpu or auto")
    if name not in CHOICES:
        raise VidstyleError(f"{option('device')} {name} is unknown; use one of {', '.join(CHOICES)}")
    return torch.device(name)


def cudnn_autotune(device: torch.device) -> contextlib.AbstractContextManager:
    """Within the block, let cuDNN time its convolution algorithms for each new input size and
    keep the fastest (frames of a clip, and training steps, all share one size); a no-op off CUDA.
    Scoped, not global, so nothing else in the process changes."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.backends.cudnn.flags(enabled=True, benchmark=True, deterministic=False, allow_tf32=True)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (timings of asynchronous CUDA kernels); no-op elsewhere."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def dtype_of(precision: str) -> torch.dtype:
    """The torch dtype of a resolved precision name (see `TrainConfig.for_device` and
    `InferenceConfig.for_device`, which turn ``auto`` into one: bf16 for training on CUDA, fp32
    elsewhere and for stylizing; asked for, fp16 stylizes within 0.1 level of fp32 on trained
    models, p99 1 level, bf16 drifts 0.8, p99 7)."""
    if precision not in _DTYPES:
        raise VidstyleError(f"{option('precision')} {precision} is unknown; use one of auto, {', '.join(_DTYPES)}")
    return _DTYPES[precision]


def set_cpu_threads(threads: int, cv2_threads: int | None = None) -> tuple[int, int]:
    """torch's CPU threads set to ``threads`` and OpenCV's to ``cv2_threads`` (default: the same);
    returns what they were."""
    import cv2

    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads if cv2_threads is None else cv2_threads)
    return before


@contextlib.contextmanager
def cpu_threads(threads: int) -> Iterator[None]:
    """torch and OpenCV on ``threads`` CPU threads inside the block, as before after it: what a
    Ray task of that many CPUs runs on (cluster/tasks.py), so that one machine can render the
    same bytes to compare with."""
    before = set_cpu_threads(threads)
    try:
        yield
    finally:
        set_cpu_threads(*before)
