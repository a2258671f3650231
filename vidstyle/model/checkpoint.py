"""Saved style models: the generator's weights next to the config that built them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vidstyle import __version__
from vidstyle.config import GeneratorConfig
from vidstyle.errors import ModelError, option
from vidstyle.model.generator import HRNetGenerator

FORMAT = "vidstyle-style-model"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A trained generator and what it was trained with (style image, settings)."""

    generator: HRNetGenerator
    info: dict[str, Any]


@dataclass(frozen=True)
class TrainedFor:
    """What a model's saved ``info`` says about how to apply it: a painting, or a photoreal
    grade fitted at the size it was trained at, and the strength it was trained at (None where
    the info does not say)."""

    photoreal: bool
    train_size: int | None
    strength: float | None = None

    @classmethod
    def of(cls, info: dict[str, Any]) -> TrainedFor:
        trained = info.get("train") or {}
        size, strength = trained.get("train_size"), trained.get("strength")
        return cls(photoreal=bool(trained.get("photoreal")), train_size=int(size) if size else None,
                   strength=float(strength) if strength is not None else None)


def save_style_model(model: Checkpoint, path: Path) -> None:
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vidstyle_version": __version__,
        "generator_config": model.generator.config.to_dict(),
        "info": model.info,
        "state_dict": {k: v.detach().cpu() for k, v in model.generator.state_dict().items()},
    }
    torch.save(payload, path)


def load_style_model(path: Path, device: torch.device) -> Checkpoint:
    """Load a model saved by ``save_style_model``; a one-line error for anything else."""
    if not path.is_file():
        raise ModelError(f"style model {path} does not exist; train one and save it with {option('save_model')}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path} is not a vidstyle style model ({exc.__class__.__name__}); "
                         f"save one with {option('save_model')}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{path} is not a vidstyle style model; save one with {option('save_model')}")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{path} was saved by a newer vidstyle; upgrade vidstyle to load it")
    config = _generator_config(payload.get("generator_config"), path)
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path} holds no generator weights (damaged file?); save the model again with "
                         f"{option('save_model')}")
    generator = HRNetGenerator(config)
    try:
        generator.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path} does not fit its own generator config ({str(exc).splitlines()[0][:200]}); "
                         f"save the model again with {option('save_model')}") from None
    if not all(torch.isfinite(t).all() for t in generator.state_dict().values() if t.is_floating_point()):
        raise ModelError(f"{path} holds NaN or infinite weights; train and save the model again")
    info = payload.get("info")
    return Checkpoint(generator=generator.to(device).eval(), info=dict(info) if isinstance(info, dict) else {})


MAX_BASE_CHANNELS = 256


def _generator_config(data: object, path: Path) -> GeneratorConfig:
    """The stored generator shape, checked before anything is built from it (a damaged or
    hostile file must not allocate gigabytes or crash the constructor)."""
    try:
        config = GeneratorConfig.from_dict(data)  # type: ignore[arg-type]
    except (AttributeError, TypeError, ValueError):
        config = None
    if (config is None or type(config.base_channels) is not int or not 4 <= config.base_channels <= MAX_BASE_CHANNELS
            or config.image_channels != 3):
        raise ModelError(f"{path} has a damaged generator config; save the model again with {option('save_model')}")
    return config
