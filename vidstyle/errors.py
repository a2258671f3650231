"""The tool's own exception types: every expected failure becomes one of these at the boundary.

The CLI prints their message as one line and exits non-zero; anything else is a bug.

Messages name options through `option(name)`, spelled when the message is shown in the words of
whoever called: ``--keyframe`` on the command line, ``keyframe=`` in Python. The CLI says which
with `command_line_names()`, for its own context only (a context variable: no process-wide state).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# option -> (command line, Python API)
OPTIONS: dict[str, tuple[str, str]] = {
    "style": ("--style", "style="),
    "output": ("-o/--output", "output="),
    "out_dir": ("--out-dir", "out_dir="),
    "overwrite": ("--overwrite", "overwrite=True"),
    "train_frame": ("--train-frame", "train_frame="),
    "keyframes": ("--keyframes", "CarryConfig(keyframes=...)"),
    "model": ("--model", "vidstyle.load(path)"),
    "save_model": ("--save-model", "StyleModel.save(path)"),
    "vgg_weights": ("--vgg-weights", "vgg_weights="),
    "loss_network": ("--loss-network", "TrainConfig(loss_network=...)"),
    "style_weight": ("--style-weight", "TrainConfig(style_weight=...)"),
    "content_weight": ("--content-weight", "TrainConfig(content_weight=...)"),
    "train_size": ("--train-size", "TrainConfig(train_size=...)"),
    "device": ("--device", "device="),
    "precision": ("--precision", "InferenceConfig(precision=...)"),
    "runtime": ("--runtime", "InferenceConfig(runtime=...)"),
    "max_pixels": ("--max-pixels", "RunConfig(max_pixels=...)"),
    "strict": ("--strict", "RunConfig(strict=True)"),
    "stabilize": ("--stabilize/--no-stabilize", "StabilizeConfig(enabled=...)"),
    "stabilize_strength": ("--stabilize-strength", "StabilizeConfig(strength=...)"),
    "strength": ("--strength", "TrainConfig(strength=...)"),
    "photoreal": ("--photoreal", "photoreal=True"),
    "lut": ("--lut", "RunConfig(lut=...)"),
    "save_lut": ("--save-lut", "StyleModel.to_lut(path)"),
    "ray": ("--ray", "ray="),
}
_COMMAND_LINE: ContextVar[bool] = ContextVar("vidstyle_command_line_names", default=False)
_MARK = "\x1f"  # unit separator: never in a path a user types, never shown
_MARKED = re.compile(f"{_MARK}(\\w+){_MARK}")


def option(name: str) -> str:
    """The option ``name`` (a key of `OPTIONS`) inside a message, spelled when it is shown."""
    if name not in OPTIONS:
        raise KeyError(name)
    return f"{_MARK}{name}{_MARK}"


def spell(message: str) -> str:
    """``message`` with its options in the caller's words, printable (see `printable`)."""
    column = 0 if _COMMAND_LINE.get() else 1
    return printable(_MARKED.sub(lambda m: OPTIONS[m.group(1)][column], message))


def printable(text: object) -> str:
    """``text`` (a message or a path) as a str that every stream can write: the bytes of a file
    name that are not UTF-8, which Python carries as lone surrogates (os.fsdecode), become U+FFFD."""
    if isinstance(text, os.PathLike):
        text = os.fspath(text)
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    text = str(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a surrogate no file name decodes to
            return text.encode("utf-8", "replace").decode("utf-8")


@contextmanager
def command_line_names() -> Iterator[None]:
    """Within the block (and threads started from it with its context), options are spelled as flags."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)


class VidstyleError(Exception):
    """A failure the user can fix; the message names the problem and the fix."""

    exit_code = 1

    def __str__(self) -> str:
        return spell(super().__str__())


class InputError(VidstyleError):
    """An input file is missing, unreadable or of the wrong kind."""


class OutputError(VidstyleError):
    """The output cannot be written where asked (exists, equals the input, not writable)."""


class WeightsError(VidstyleError):
    """The VGG19 loss-network weights cannot be found or loaded."""


class VideoError(VidstyleError):
    """PyAV/FFmpeg failed while decoding or encoding a clip."""


class ModelError(VidstyleError):
    """A saved style model cannot be loaded or does not fit."""


class TrainingError(VidstyleError):
    """Training went wrong in a way settings can fix (the loss turned NaN or infinite)."""
