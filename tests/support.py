"""Helpers shared by the command-line tests: run the CLI in-process, read its one-line
errors, and prove that a failed run left the folder exactly as it found it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from vidstyle.cli import main

FAST = ["--steps", "2", "--train-size", "64", "--device", "cpu", "-q"]


def run(*args) -> int:
    return main([str(a) for a in args])


def leftovers(folder: Path) -> list[str]:
    """Hidden temporary files or folders a run left behind, anywhere below ``folder``."""
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name or p.name.endswith(".old"))


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (outside the torch cache) with the SHA-256 of its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if "torch-home" in p.parts or p.is_symlink() or not p.is_file():
            continue
        out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def error_line(capsys, *args, code: int | None = None) -> str:
    """Run a CLI call that must fail; return its one error line (checked: no traceback, no
    'internal error', exactly one line that says error)."""
    got = run(*args)
    err = capsys.readouterr().err
    assert got != 0, err
    if code is not None:
        assert got == code, err
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [line for line in err.splitlines() if line.startswith(("vidstyle: error:", "Error:"))]
    assert len(errors) == 1, err
    return errors[0]
