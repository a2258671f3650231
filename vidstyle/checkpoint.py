"""Saved style models: the generator's weights next to the config that built them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vidstyle import __version__
from vidstyle.config import GeneratorConfig
from vidstyle.errors import ModelError
from vidstyle.generator import HRNetGenerator

FORMAT = "vidstyle-style-model"
FORMAT_VERSION = 1


@dataclass
class StyleModel:
    """A trained generator and what it was trained with (style image, settings)."""

    generator: HRNetGenerator
    info: dict[str, Any]


def save_style_model(model: StyleModel, path: Path) -> None:
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "vidstyle_version": __version__,
        "generator_config": model.generator.config.to_dict(),
        "info": model.info,
        "state_dict": {k: v.detach().cpu() for k, v in model.generator.state_dict().items()},
    }
    torch.save(payload, path)


def load_style_model(path: Path, device: torch.device) -> StyleModel:
    """Load a model saved by ``save_style_model``; a one-line error for anything else."""
    if not path.is_file():
        raise ModelError(f"style model {path} does not exist; train one with --save-model PATH")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelError(f"{path} is not a vidstyle style model ({exc.__class__.__name__}); "
                         "save one with --save-model") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{path} is not a vidstyle style model; save one with --save-model")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{path} was saved by a newer vidstyle; upgrade vidstyle to load it")
    generator = HRNetGenerator(GeneratorConfig.from_dict(payload["generator_config"]))
    try:
        generator.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise ModelError(f"{path} does not fit its own generator config ({str(exc).splitlines()[0]})") from None
    return StyleModel(generator=generator.to(device).eval(), info=dict(payload.get("info", {})))
