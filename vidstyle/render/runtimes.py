"""Faster CPU runtimes for the keyframe generator: OpenVINO (an optional extra) and
torch.compile. Each turns the eval-mode generator into a callable of the same signature
(normalised (B, 3, H, W) float tensor in, out), built for one input size.

Measured by benchmarks/runtimes.py at 512x288 on the 2-core VM: OpenVINO in fp32 3.0x eager
torch (max difference 2e-3) after a ~5 s conversion; torch.compile 2.0-2.6x (1.6e-5) after a
~27 s first compile (~2.4 s from Inductor's cache later). ONNX Runtime is not offered: the
generator's instance norm does not export to ONNX.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import warnings
from collections.abc import Callable

import torch
from torch import nn

Forward = Callable[[torch.Tensor], torch.Tensor]


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


# Measured by benchmarks/runtimes.py at 512x288 on the 2-core VM (see the module docstring).
SETUP_SECONDS = {"openvino": 5.0, "compile": 27.0}  # one-off per frame size
SPEED_UP = {"openvino": 3.0, "compile": 2.4}  # over eager torch
EAGER_SECONDS_512x288 = 0.39  # one eager generator run at 512x288; the cost scales with the pixels


def choose(policy: str, device_type: str, runs: float, pixels: int, openvino: bool | None = None) -> str:
    """The runtime for about ``runs`` generator runs on frames of ``pixels`` (the working size).
    ``auto`` on a CPU: the fastest one whose one-off set-up those runs repay (OpenVINO when
    installed, else torch.compile; a 512x288 run saves ~0.26 s and ~0.22 s), else plain torch;
    plain torch on a GPU. Any other policy is taken as given."""
    if policy != "auto":
        return policy
    if device_type != "cpu":
        return "torch"
    openvino = openvino_available() if openvino is None else openvino
    saved_per_run = EAGER_SECONDS_512x288 * pixels / (512 * 288)
    for name in (("openvino",) if openvino else ()) + ("compile",):
        if runs * saved_per_run * (1 - 1 / SPEED_UP[name]) >= SETUP_SECONDS[name]:
            return name
    return "torch"


def build(name: str, model: nn.Module, example: torch.Tensor) -> Forward:
    """``model`` under runtime ``name`` for inputs shaped like ``example`` (run once here, so a
    failing runtime fails now). Raises what the runtime raises."""
    if name == "openvino":
        return _openvino(model, example)
    if name == "compile":
        return _compiled(model, example)
    raise ValueError(f"unknown runtime {name}")


def _openvino(model: nn.Module, example: torch.Tensor) -> Forward:
    import openvino as ov

    with warnings.catch_warnings():  # torch's tracer warns about asserts it cannot record: not the user's concern
        warnings.simplefilter("ignore")
        converted = ov.convert_model(model, example_input=example)
    # fp32: the CPU plugin may otherwise pick 16-bit on CPUs that have it (measured 0.33 off)
    compiled = ov.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(compiled(x.float().contiguous().numpy())[0])

    forward(example)
    return forward


def _compiled(model: nn.Module, example: torch.Tensor) -> Forward:
    compiled = torch.compile(model, dynamic=False)
    noisy = logging.getLogger("torch.utils.cpp_extension")  # "No CUDA runtime is found" on CPU machines
    quiet = _BelowErrorFrom(threading.get_ident())
    noisy.addFilter(quiet)  # not setLevel: the logger's level is every thread's, this filter only ours
    try:
        with torch.inference_mode():
            compiled(example)
    finally:
        noisy.removeFilter(quiet)
    return compiled


class _BelowErrorFrom(logging.Filter):
    """Drops the records under ERROR that one thread logs; every other thread's go through."""

    def __init__(self, thread: int) -> None:
        super().__init__()
        self.thread = thread

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or record.thread != self.thread
