"""vidstyle: neural style transfer for videos and images that keeps the clip intact.

The Python API (see `vidstyle.api` and the README's "Python" section)::

    import vidstyle

    model = vidstyle.train("art.jpg", "clip.mp4")            # or a PIL image / RGB array
    model.save("art.pt")                                     # vidstyle.load("art.pt") reads it back
    model.stylize_video("clip.mp4", "clip_styled.mp4")       # timestamps, audio, atomic output
    styled = model.stylize_image(PIL.Image.open("photo.jpg"))
    for frame in model.stylize_frames(frames): ...           # your own I/O, streaming

Names load on first use, so ``import vidstyle`` stays instant (torch is imported only when a
model is trained, loaded or applied).
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = {
    "train": "vidstyle.api", "load": "vidstyle.api", "StyleModel": "vidstyle.api",
    "stylize_files": "vidstyle.api", "apply_lut": "vidstyle.api", "JobResult": "vidstyle.pipeline",
    "evaluate": "vidstyle.quality.evaluate",
    "TrainConfig": "vidstyle.config", "RunConfig": "vidstyle.config", "InferenceConfig": "vidstyle.config",
    "StabilizeConfig": "vidstyle.config", "EncodeConfig": "vidstyle.config", "CarryConfig": "vidstyle.config",
    "VidstyleError": "vidstyle.errors",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'vidstyle' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_API[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
