"""Where outputs go, and writing them safely: a temporary file beside the target, renamed
into place only when complete, removed on any failure or Ctrl-C. Inputs are never touched.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidstyle.errors import OutputError

SUFFIX = "_styled"


def default_output(input_path: Path, suffix: str, out_dir: Path | None = None) -> Path:
    """``clip.mp4`` -> ``clip_styled<suffix>`` beside the input (or in ``out_dir``)."""
    folder = out_dir if out_dir is not None else input_path.parent
    return folder / f"{input_path.stem}{SUFFIX}{suffix}"


def check_output(input_path: Path, output: Path, overwrite: bool) -> None:
    """Refuse an output that is the input, or that exists without --overwrite."""
    if _same_path(input_path, output):
        raise OutputError(f"output {output} is the input itself; choose another -o path")
    if output.exists() and not overwrite:
        raise OutputError(f"output {output} already exists; pass --overwrite to replace it or choose another -o path")
    if not output.parent.is_dir():
        raise OutputError(f"output folder {output.parent} does not exist; create it first")


def _same_path(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


@contextmanager
def atomic_output(target: Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds.

    The temporary name keeps the target's suffix so that writers can pick the format from it.
    """
    temp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.partial{target.suffix}")
    if directory:
        temp.mkdir()
    try:
        yield temp
        _replace(temp, target, directory)
    except BaseException:
        _remove(temp)
        raise


def _replace(temp: Path, target: Path, directory: bool) -> None:
    if directory and target.exists():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        target.rename(old)
        temp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temp, target)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
