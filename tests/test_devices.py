"""Device policy: every device-dependent default is decided in the config objects, and "GPU"
means CUDA or MPS everywhere."""

import pytest
import torch

from vidstyle.config import CPU_STEPS, GPU_STEPS, InferenceConfig, TrainConfig
from vidstyle.devices import dtype_of
from vidstyle.errors import VidstyleError


@pytest.mark.parametrize(("device", "batch", "precision", "channels_last", "steps"), [
    ("cpu", 1, "fp32", False, CPU_STEPS),
    ("cuda", 4, "fp32", False, GPU_STEPS),  # stylizing: fp32 NCHW measured fastest on an H200
    ("mps", 4, "fp32", False, GPU_STEPS),  # a GPU for sizes and batches; 16-bit and channels-last are CUDA's
])
def test_defaults_resolved_once_per_device(device, batch, precision, channels_last, steps):
    inference = InferenceConfig().for_device(device)
    assert (inference.batch_size, inference.precision, inference.channels_last) == (batch, precision, channels_last)
    assert inference.for_device(device) == inference  # resolving twice changes nothing
    train = TrainConfig().for_device(device)
    assert train.steps == steps and train.channels_last is (device == "cuda")  # training: CUDA channels-last
    assert train.precision == ("bf16" if device == "cuda" else "fp32")
    assert InferenceConfig().fast_for(720, 1280, device) is (device == "cpu")


def test_explicit_choices_are_kept():
    chosen = InferenceConfig(batch_size=3, precision="bf16", channels_last=True).for_device("cpu")
    assert (chosen.batch_size, chosen.precision, chosen.channels_last) == (3, "bf16", True)
    assert dtype_of(chosen.precision) is torch.bfloat16
    with pytest.raises(VidstyleError, match=r"InferenceConfig\(precision=...\) fp8 is unknown"):
        dtype_of("fp8")  # a Python caller is told the parameter; the command line says --precision
