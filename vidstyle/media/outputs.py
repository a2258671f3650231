"""Where outputs go, and writing them safely.

Before any work starts, every path a run writes is checked against every path it reads and
against the other writes: none may be another, contain another or lie inside another (an
output folder replaced with --overwrite would take whatever is inside it along). Each output
is then written to a temporary file beside the target, renamed into place only when complete,
and removed on any failure, Ctrl-C or termination signal. Inputs are never touched.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from vidstyle.errors import OutputError
from vidstyle.errors import option as option_name

SUFFIX = "_styled"
NAME_MAX = 255  # bytes in one file name on every common filesystem
_TEMP_EXTRA = len(".") + 8 + len(".partial")  # what the temporary name adds around stem and suffix

Role = tuple[str, Path]  # ("input", path), ("style image", path), ("output", path) ...


def default_output(input_path: Path, suffix: str, out_dir: Path | None = None) -> Path:
    """``clip.mp4`` -> ``clip_styled<suffix>`` beside the input (or in ``out_dir``)."""
    folder = out_dir if out_dir is not None else input_path.parent
    return folder / f"{input_path.stem}{SUFFIX}{suffix}"


def temp_path(target: Path) -> Path:
    """A hidden, unique name beside ``target`` that keeps its suffix (writers pick the format
    from it); the stem is shortened so the name stays within the filesystem's limit."""
    suffix = target.suffix
    room = NAME_MAX - _TEMP_EXTRA - len(".") - len(os.fsencode(suffix))
    stem = os.fsencode(target.stem)[:max(room, 1)].decode(errors="ignore")
    return target.with_name(f".{stem}.{uuid.uuid4().hex[:8]}.partial{suffix}")


def check_output(output: Path, overwrite: bool, *, directory: bool = False, role: str = "output",
                 option: str = option_name("output")) -> None:
    """Refuse an output that exists without --overwrite, has the wrong kind (a folder where a
    file goes), is a broken link or link loop, or whose folder is missing or not writable — all
    before any work, so that a long render never fails at its last step."""
    if len(os.fsencode(output.name)) > NAME_MAX:
        raise OutputError(f"{role} name {output.name[:40]}... is longer than {NAME_MAX} bytes; choose a shorter name")
    if output.is_symlink() and not output.exists():
        raise OutputError(f"{role} {output} is a broken symbolic link or a link loop; choose another {option} path")
    if output.exists():
        if not overwrite:
            raise OutputError(f"{role} {output} already exists; pass {option_name('overwrite')} to replace it "
                              f"or choose another {option} path")
        if output.is_dir() != directory:
            kind = "a folder" if output.is_dir() else "a file"
            raise OutputError(f"{role} {output} is {kind} and cannot be replaced by a "
                              f"{'folder' if directory else 'file'}; choose another {option} path")
    if not output.parent.is_dir():
        raise OutputError(f"{role} folder {output.parent} does not exist; create it first")
    _probe_writable(output, role, option)


def _probe_writable(output: Path, role: str, option: str) -> None:
    """Create and remove the temporary name once: read-only folders, full quotas and
    over-long names show up now rather than after the render."""
    probe = temp_path(output)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write {role} {output} ({describe_os_error(exc)}); "
                          f"choose a writable folder with {option}") from None


def check_paths(reads: Sequence[Role], writes: Sequence[Role]) -> None:
    """No written path may be a read path, contain one or lie inside one, and written paths
    must be distinct and apart from each other. Links are followed."""
    for i, (wrole, wpath) in enumerate(writes):
        for rrole, rpath in reads:
            _refuse_overlap(wrole, wpath, rrole, rpath)
        for orole, opath in writes[i + 1:]:
            if _same(wpath, opath):
                raise OutputError(f"the {orole} and the {wrole} are both {opath}: one would replace the other; "
                                  "give each its own name")
            _refuse_overlap(orole, opath, wrole, wpath)


def _refuse_overlap(wrole: str, wpath: Path, rrole: str, rpath: Path) -> None:
    if _same(wpath, rpath):
        raise OutputError(f"{wrole} {wpath} is the {rrole} itself; choose another path")
    w, r = _real(wpath), _real(rpath)
    if w in r.parents:
        raise OutputError(f"{wrole} {wpath} contains the {rrole} {rpath}: replacing it would delete the "
                          f"{rrole}; choose a path outside it")
    if r in w.parents:
        raise OutputError(f"{wrole} {wpath} lies inside the {rrole} {rpath}; choose a path outside it")


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists() and os.path.samefile(a, b):  # hard links too
            return True
    except OSError:
        pass
    return _real(a) == _real(b)


def describe_os_error(exc: OSError) -> str:
    """A short reason for a failed file operation, in the words users search for."""
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EDQUOT:
        return "disk quota exceeded"
    return exc.strerror or exc.__class__.__name__


@contextmanager
def atomic_output(target: Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it into place only if the block succeeds.

    Any failure — an exception, Ctrl-C, a termination signal turned into an exception by the
    CLI — removes the temporary path. File-system errors become one-line `OutputError`s.
    """
    temp = temp_path(target)
    try:
        if directory:
            temp.mkdir()
        yield temp
        _replace(temp, target, directory)
    except BaseException as exc:
        remove(temp)
        if isinstance(exc, OSError):
            raise OutputError(f"writing {target} failed ({describe_os_error(exc)}); nothing was written — "
                              "check the folder and free space") from None
        raise


def _replace(temp: Path, target: Path, directory: bool) -> None:
    if directory and target.exists():
        old = target.with_name(f".{target.name[:200]}.{uuid.uuid4().hex[:8]}.old")
        target.rename(old)
        temp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(temp, target)


def remove(path: Path) -> None:
    """Delete a file or a folder written in its place (a frame folder), if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
