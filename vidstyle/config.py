"""Typed option objects: the contract between the CLI, the pipeline, the trainer and the model.

Options flow as these frozen dataclasses from `cli.py` down; nothing reads globals. Device-
dependent defaults (training steps and size) are left as ``None`` here and resolved once the
device is known, so one config describes a run on a laptop CPU and on a GPU alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from vidstyle.limits import DEFAULT_MAX_PIXELS

# Reference style-layer weights (Li et al. 2019 code): deeper layers count more.
STYLE_LAYER_WEIGHTS: dict[str, float] = {
    "conv1_1": 0.1,
    "conv2_1": 0.2,
    "conv3_1": 0.4,
    "conv4_1": 0.8,
    "conv5_1": 1.6,
}
CONTENT_LAYER = "conv4_2"

# Defaults that depend on the device. The GPU ones follow the reference schedule; the CPU
# ones keep the bundled sample under ten minutes on a 2-core laptop (see README, "Defaults").
GPU_STEPS, GPU_TRAIN_SIZE = 1000, 512
CPU_STEPS, CPU_TRAIN_SIZE = 200, 256
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
GPU_TYPES = ("cuda", "mps")  # what "GPU" means in every device-dependent default
LOSS_NETWORKS = ("auto", "vgg19", "pyramid", "random-vgg")  # see lossnet.py


@dataclass(frozen=True)
class GeneratorConfig:
    """Shape of the HRNet generator; stored inside every saved style model.

    ``base_channels`` is the width of the full-resolution branch (16 in the paper); the
    other widths follow from it (x2 at stage 2, x4 from stage 3 on).
    """

    base_channels: int = 16
    image_channels: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class TrainConfig:
    """How the generator is trained on a keyframe and optionally fine-tuned on more frames."""

    steps: int | None = None  # None: CPU_STEPS or GPU_STEPS, by device
    train_size: int | None = None  # long side in pixels; None: by device
    content_weight: float | None = None  # None: the loss network's default balance (lossnet.PLANS)
    style_weight: float | None = None
    strength: float = 1.0  # multiplies the style weight: 0.5 subtle, 1 default, 2-3 strong
    loss_network: str = "auto"  # auto, vgg19, pyramid (built in) or random-vgg
    stability_weight: float = 0.0  # weight of the output's change under input noise (train.py); off by
                                   # default: steadier but flatter (README, "Quality")
    lr: float = 5e-3
    lr_decay: float = 0.9
    lr_decay_every: int = 200
    seed: int = 0
    finetune_frames: int = 0
    finetune_steps: int | None = None  # None: half of `steps`
    precision: str = "auto"  # autocast dtype of the forward passes; auto: bf16 on CUDA, fp32 elsewhere
    channels_last: bool | None = None  # None: on CUDA only

    def for_device(self, device_type: str) -> TrainConfig:
        """Every device-dependent default filled in for ``device_type`` (steps, train size,
        precision, memory layout); values already set are kept, so resolving twice is harmless."""
        gpu = on_gpu(device_type)
        steps = self.steps if self.steps is not None else (GPU_STEPS if gpu else CPU_STEPS)
        size = self.train_size if self.train_size is not None else (GPU_TRAIN_SIZE if gpu else CPU_TRAIN_SIZE)
        ft_steps = self.finetune_steps if self.finetune_steps is not None else max(1, steps // 2)
        return replace(self, steps=steps, train_size=size, finetune_steps=ft_steps,
                       precision=_precision(self.precision, device_type, cuda_default="bf16"),
                       channels_last=_channels_last(self.channels_last, device_type))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EncodeConfig:
    """Video encoder settings: H.264 in yuv420p plays everywhere."""

    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str = "yuv420p"


@dataclass(frozen=True)
class StabilizeConfig:
    """Flow-guided temporal blending (see stabilize.py). ``strength`` is the weight of the
    previous stylized frame where the motion is trusted; ``sigma`` the input change (RGB
    distance in [0, 1] units) at which that weight has fallen to ~60 %."""

    enabled: bool = True
    strength: float = 0.95  # measured: README, Quality (0.8 let the built-in network's strokes shimmer)
    sigma: float = 0.1
    max_detail_gain: float = 2.0
    flow_size: int = 640  # motion is estimated with the long side at most this (flow is smooth;
                          # at 720p full-resolution DIS cost more than the fast-path generator)


@dataclass(frozen=True)
class CarryConfig:
    """Which frames the generator runs on (render/carry.py). ``keyframes``: ``auto`` (on a CPU,
    keyframes at most ``interval`` frames apart with the look carried along the motion between
    them; on a GPU, every frame), ``every`` (the generator on every frame, then the stabilizer),
    or a number N (keyframes at most N frames apart). Carrying also starts a new keyframe
    wherever it fails: a scene cut, or less than ``min_trusted`` of the frame explained by the
    motion."""

    keyframes: str = "auto"
    interval: int = 8  # auto's longest gap (measured: README, Speed)
    min_trusted: float = 0.8
    residual: float = 0.05  # grey change (0-1) above which a carried pixel is not trusted
    smoothing: float = 0.8  # weight of the previous frame's look, warped, where the step is trusted (measured)
    look_ahead: int = 64  # upper bound on a user's N: frames held back at most (memory)

    def interval_for(self, device_type: str) -> int:
        """Longest gap between keyframes on ``device_type``; 1 means every frame."""
        if self.keyframes == "every":
            return 1
        if self.keyframes == "auto":
            return 1 if on_gpu(device_type) else self.interval
        return max(1, min(int(self.keyframes), self.look_ahead))


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
FAST_SIZE = 512  # working long side of the fast path
FAST_ABOVE = 640  # on the CPU, frames with a longer side than this take the fast path by default
RUNTIME_CHOICES = ("auto", "torch", "openvino", "compile")
RUNTIME_SETUP_SECONDS = {"openvino": 5.0, "compile": 27.0}  # one-off per frame size (benchmarks/runtimes.py)
RUNTIME_SPEED_UP = {"openvino": 3.0, "compile": 2.4}


@dataclass(frozen=True)
class InferenceConfig:
    """How the trained generator is applied to frames (see stylize.py and guided.py).

    ``fast``: run the generator at ``fast_size`` (long side) and carry the result to full
    resolution with guided upsampling; ``None`` decides by device and frame size (on the CPU
    above ``FAST_ABOVE`` px, never on a GPU). ``precision``: ``auto`` is fp16 on a CUDA GPU
    and fp32 elsewhere.
    """

    batch_size: int | None = None  # None: 1 on the CPU, 4 on a GPU (cuda or mps)
    fast: bool | None = None
    fast_size: int = FAST_SIZE
    guide_radius: int = 2  # in working-resolution pixels
    guide_eps: float = 1e-4
    precision: str = "auto"
    channels_last: bool | None = None  # None: on CUDA only (on the CPU it measured slower)
    runtime: str = "auto"  # keyframe generator: auto, torch, openvino (optional extra) or compile (render/runtimes.py)

    def runtime_for(self, device_type: str, keyframes: float, pixels: int, openvino: bool) -> str:
        """The runtime for a clip of about ``keyframes`` generator runs on frames of ``pixels``
        (the working size). ``auto`` on a CPU: the fastest one whose one-off set-up the clip
        repays (OpenVINO when installed, else torch.compile; a 512x288 generator run saves
        ~0.26 s and ~0.22 s), else plain torch; plain torch on a GPU."""
        if self.runtime != "auto":
            return self.runtime
        if device_type != "cpu":
            return "torch"
        saved_per_run = 0.39 * pixels / (512 * 288)  # eager seconds at that size, measured
        for name in (("openvino",) if openvino else ()) + ("compile",):
            speed_up, setup = RUNTIME_SPEED_UP[name], RUNTIME_SETUP_SECONDS[name]
            if keyframes * saved_per_run * (1 - 1 / speed_up) >= setup:
                return name
        return "torch"

    def for_device(self, device_type: str) -> InferenceConfig:
        """Every device-dependent default filled in for ``device_type`` (batch size, precision,
        memory layout), as `TrainConfig.for_device` does for training; resolving twice is harmless.
        The fast path also depends on the frame size: `fast_for`."""
        batch = self.batch_size if self.batch_size is not None else (4 if on_gpu(device_type) else 1)
        return replace(self, batch_size=max(1, batch),
                       precision=_precision(self.precision, device_type, cuda_default="fp16"),
                       channels_last=_channels_last(self.channels_last, device_type))

    def fast_for(self, height: int, width: int, device_type: str) -> bool:
        """Whether frames of this size take the fast path on ``device_type``."""
        if max(height, width) <= self.fast_size:
            return False  # nothing to gain: the working size is the frame size
        if self.fast is not None:
            return self.fast
        return not on_gpu(device_type) and max(height, width) > FAST_ABOVE


def on_gpu(device_type: str) -> bool:
    return device_type in GPU_TYPES


def _precision(name: str, device_type: str, cuda_default: str) -> str:
    """``auto``: 16-bit on CUDA (its tensor cores; fp16 for stylizing, bf16 for training, see
    devices.dtype_of), fp32 elsewhere: laptop CPUs have no fast 16-bit units and MPS autocast is
    not what we measured."""
    if name != "auto":
        return name
    return cuda_default if device_type == "cuda" else "fp32"


def _channels_last(value: bool | None, device_type: str) -> bool:
    """``None``: channels-last on CUDA only (cuDNN's tensor-core kernels want it; on the CPU it
    measured slower)."""
    return device_type == "cuda" if value is None else value


@dataclass(frozen=True)
class RunConfig:
    """Everything one `vidstyle` invocation needs besides its inputs and outputs."""

    style: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    stabilize: StabilizeConfig = field(default_factory=StabilizeConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    carry: CarryConfig = field(default_factory=CarryConfig)
    device: str = "auto"
    keyframe: str | None = None  # "12.5" seconds or "#40" frame index; None: middle
    vgg_weights: str | None = None  # None: torchvision ImageNet weights from the hub cache; or a path
    model_path: str | None = None  # load a saved style model instead of training
    save_model: str | None = None  # save the trained style model here
    overwrite: bool = False
    preview: bool = True  # write OUTPUT_preview.png (keyframe | stylized | style) before rendering
    preview_only: bool = False  # stop after writing the preview image
    strict: bool = False  # fail, instead of warning, when a clip delivers fewer frames than announced
    max_pixels: int = DEFAULT_MAX_PIXELS  # largest frame or image accepted (see limits.py)
