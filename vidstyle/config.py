"""Typed option objects: the contract between the CLI, the pipeline, the trainer and the model.

Options flow as these frozen dataclasses from `cli.py` down; nothing reads globals. Device-
dependent defaults (training steps and size) are left as ``None`` here and resolved once the
device is known, so one config describes a run on a laptop CPU and on a GPU alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from vidstyle.errors import InputError, option
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
CPU_STEPS, CPU_TRAIN_SIZE = 90, 256
# Photoreal looks need colour statistics, not texture: a small, short training (measured: README,
# "Photorealistic looks"). ((CPU steps, size), (GPU steps, size))
PHOTOREAL_SCHEDULE = ((120, 160), (400, 256))
MIN_TRAIN_SIZE = 32  # smallest training long side; thinner frames are scaled up to this short side
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
    photoreal: bool = False  # the reference is a photo: its colour and tone, every edge kept (model/photoreal.py)

    def for_device(self, device_type: str) -> TrainConfig:
        """Every device-dependent default filled in for ``device_type`` (steps, train size,
        precision, memory layout); values already set are kept, so resolving twice is harmless."""
        gpu = on_gpu(device_type)
        (cpu_steps, cpu_size), (gpu_steps, gpu_size) = PHOTOREAL_SCHEDULE if self.photoreal else (
            (CPU_STEPS, CPU_TRAIN_SIZE), (GPU_STEPS, GPU_TRAIN_SIZE))
        steps = self.steps if self.steps is not None else (gpu_steps if gpu else cpu_steps)
        size = self.train_size if self.train_size is not None else (gpu_size if gpu else cpu_size)
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
    """Flow-guided temporal blending (see stabilize.py), where every frame is stylized.
    ``enabled``: None is on (an explicit choice is checked against the render: carried looks
    need no stabilizer). ``strength`` is the weight of the previous stylized frame where the
    motion is trusted; ``sigma`` the input change (RGB distance in [0, 1] units) at which that
    weight has fallen to ~60 %."""

    enabled: bool | None = None
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
    residual: float = 0.05  # colour change (0-1, the channels' mean) above which a carried pixel is not trusted
    stretch: float = 1.0  # flow stretch (render/flow.stretch) above which a carried pixel is not trusted
    smoothing: float = 0.8  # weight of the previous frame's look, warped, where the step is trusted (measured)
    detail_smoothing: float = 0.95  # the same for its detail (strokes): measured, README "Quality"
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
RUNTIME_CHOICES = ("auto", "torch", "openvino", "compile")  # chosen per clip: render/runtimes.choose


@dataclass(frozen=True)
class InferenceConfig:
    """How the trained generator is applied to frames (see stylize.py and guided.py).

    ``fast``: run the generator at ``fast_size`` (long side) and carry the result to full
    resolution with guided upsampling; ``None`` decides by device and frame size (on the CPU
    above ``FAST_ABOVE`` px, never on a GPU). ``precision``: ``auto`` is fp32 everywhere, and
    frames stay NCHW unless ``channels_last`` asks: on an H200 at 1920x1080 (batch 4) the
    generator ran 38.4 fps in fp32 NCHW, 32.1 in fp16 NCHW, 30.3 in fp16 channels-last (with
    generator.InstanceNorm's CUDA path).
    """

    batch_size: int | None = None  # None: 1 on the CPU, 4 on a GPU (cuda or mps)
    fast: bool | None = None
    fast_size: int = FAST_SIZE
    guide_radius: int = 2  # in working-resolution pixels
    guide_eps: float = 1e-4  # ridge of the fast path's colour transform (guided.fit_affine)
    look_eps: float = 1e-2  # the same for a carried look at the frame's own size (README, Quality): there
    # the transform only follows the frame between keyframes, and a weak ridge amplified its noise
    precision: str = "auto"
    channels_last: bool | None = None  # None: off (slower on the CPU and, for stylizing, on CUDA too)
    runtime: str = "auto"  # keyframe generator: auto, torch, openvino or compile (render/runtimes.py)

    def for_device(self, device_type: str) -> InferenceConfig:
        """Every device-dependent default filled in for ``device_type`` (batch size, precision,
        memory layout), as `TrainConfig.for_device` does for training; resolving twice is harmless.
        The fast path also depends on the frame size: `fast_for`."""
        batch = self.batch_size if self.batch_size is not None else (4 if on_gpu(device_type) else 1)
        return replace(self, batch_size=max(1, batch),
                       precision=_precision(self.precision, device_type, cuda_default="fp32"),
                       channels_last=bool(self.channels_last))

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
    """``auto``: ``cuda_default`` on CUDA (bf16 for training; fp32 for stylizing, measured faster
    there, see `InferenceConfig`), fp32 elsewhere: laptop CPUs have no fast 16-bit units and MPS
    autocast is not what we measured."""
    if name != "auto":
        return name
    return cuda_default if device_type == "cuda" else "fp32"


def _channels_last(value: bool | None, device_type: str) -> bool:
    """``None``: channels-last on CUDA only (cuDNN's tensor-core kernels want it; on the CPU it
    measured slower)."""
    return device_type == "cuda" if value is None else value


@dataclass(frozen=True)
class RunConfig:
    """Everything one `vidstyle` invocation needs besides its inputs and outputs, as given:
    device-dependent defaults are decided once, by `plan`."""

    style: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    encode: EncodeConfig = field(default_factory=EncodeConfig)
    stabilize: StabilizeConfig = field(default_factory=StabilizeConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    carry: CarryConfig = field(default_factory=CarryConfig)
    device: str = "auto"
    train_frame: str | None = None  # the frame trained on: "12.5" seconds or "#40" frame index; None: middle
    vgg_weights: str | None = None  # None: torchvision ImageNet weights from the hub cache; or a path
    model_path: str | None = None  # load a saved style model instead of training
    save_model: str | None = None  # save the trained style model here
    overwrite: bool = False
    preview: bool = True  # write OUTPUT_preview.png (keyframe | stylized | style) before rendering
    preview_only: bool = False  # stop after writing the preview image
    strict: bool = False  # fail, instead of warning, when a clip delivers fewer frames than announced
    max_pixels: int = DEFAULT_MAX_PIXELS  # largest frame or image accepted (see limits.py)
    lut: str | None = None  # apply this .cube 3D LUT as it is (no style, no model)
    save_lut: str | None = None  # bake the photoreal look into this .cube 3D LUT
    skip_existing: bool = False  # leave outputs that exist alone (a stopped batch resumes)

    def _check_combinations(self) -> None:
        """Options that contradict each other: refused before any work."""
        if self.lut is not None:
            given = [name for name, value in (("style", self.style), ("model", self.model_path),
                                              ("photoreal", self.train.photoreal), ("save_lut", self.save_lut),
                                              ("save_model", self.save_model)) if value]
            if given:
                raise InputError(f"{option('lut')} applies a LUT as it is; drop {', '.join(map(option, given))}")
        elif self.save_lut is not None and not self.train.photoreal and self.model_path is None:
            raise InputError(f"{option('save_lut')} bakes a photoreal look; add {option('photoreal')} "
                             "(a painting's strokes cannot live in a LUT)")

    def plan(self, device_type: str, warn: Callable[[str], None] | None = None) -> Plan:
        """Every device-dependent default decided for ``device_type``, once per run; an option
        given that cannot apply to this run is named through ``warn`` (never silently ignored)."""
        interval = self.carry.interval_for(device_type)
        self._check_combinations()
        notes = []
        stabilizer = [option(name) for name, given in (
            ("stabilize", self.stabilize.enabled is not None),
            ("stabilize_strength", self.stabilize.strength != StabilizeConfig.strength)) if given]
        if interval > 1 and stabilizer:
            notes.append(f"{' and '.join(stabilizer)}: no effect where looks are carried between keyframes (they "
                         f"need no stabilizer); set {option('keyframes')} every to stylize every frame")
        trained = self.model_path is None or self.train.finetune_frames > 0
        given = [name for name, value in (("train_size", self.train.train_size),
                                          ("content_weight", self.train.content_weight),
                                          ("style_weight", self.train.style_weight)) if value is not None]
        if not trained and (given or self.train.steps is not None):
            names = ", ".join(option(name) for name in given) or "the training steps"
            notes.append(f"{names}: no effect with a saved style model (it is not trained again)")
        if warn is not None:
            for note in notes:
                warn(note)
        return Plan(device_type=device_type, train=self.train.for_device(device_type),
                    inference=self.inference.for_device(device_type), carry=self.carry,
                    keyframe_interval=interval, encode=self.encode,
                    stabilize=replace(self.stabilize, enabled=self.stabilize.enabled is not False))


@dataclass(frozen=True)
class Plan:
    """One run's settings with every device-dependent default decided (`RunConfig.plan`): what
    the session, the trainer and the renderers read."""

    device_type: str
    train: TrainConfig  # steps, size, precision, layout resolved
    inference: InferenceConfig  # batch size, precision, layout resolved (fast path: per frame size)
    carry: CarryConfig
    keyframe_interval: int  # 1: every frame through the generator
    stabilize: StabilizeConfig  # enabled resolved
    encode: EncodeConfig
