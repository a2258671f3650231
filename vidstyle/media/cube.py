"""3D colour LUTs in the ``.cube`` format (Adobe/Resolve): reading with strict, one-line errors, and
writing files that FFmpeg's ``lut3d`` filter, DaVinci Resolve and other editors read.

The format: optional ``TITLE "..."``, ``DOMAIN_MIN r g b`` and ``DOMAIN_MAX r g b`` (Resolve also
writes ``LUT_3D_INPUT_RANGE lo hi``), then ``LUT_3D_SIZE N`` and N³ lines ``r g b`` with red
changing fastest, then green, then blue. ``#`` starts a comment line. Keywords come before the
table; unknown keywords there are ignored (as FFmpeg and Resolve do), a 1D LUT is refused.

Torch-free: numpy only.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidstyle import __version__
from vidstyle.errors import InputError
from vidstyle.media.outputs import atomic_output

MIN_SIZE, MAX_SIZE = 2, 256
DEFAULT_SIZE = 33  # the usual size: Resolve's and most editors' default
DECIMALS = 6  # what Resolve writes; the error (5e-7) is far below one 16-bit level
MAX_BYTES = MAX_SIZE ** 3 * 64  # 64 bytes a line is generous even for 12 decimals and CRLF
_DEFAULT_MIN = (0.0, 0.0, 0.0)
_DEFAULT_MAX = (1.0, 1.0, 1.0)
_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")

Triple = tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class Lut3D:
    """A 3D LUT: ``table[r, g, b]`` is the output colour (float32 r, g, b) for the input at lattice
    node (r, g, b), node i of N standing for ``domain_min + i / (N - 1) * (domain_max - domain_min)``
    in that channel. Note the index order: red first, unlike the file, where red changes fastest.
    The table is stored read-only."""

    table: np.ndarray  # (N, N, N, 3) float32, indexed [r, g, b, channel]
    domain_min: Triple = _DEFAULT_MIN
    domain_max: Triple = _DEFAULT_MAX
    title: str = field(default="")

    def __post_init__(self) -> None:
        table = np.array(self.table, dtype=np.float32)  # a private copy
        n = table.shape[0] if table.ndim == 4 else 0
        if table.shape != (n, n, n, 3) or not MIN_SIZE <= n <= MAX_SIZE:
            raise ValueError(f"a 3D LUT table must be (N, N, N, 3) with N in {MIN_SIZE}..{MAX_SIZE}, "
                             f"got {table.shape}")
        if not np.isfinite(table).all():
            raise ValueError("a 3D LUT table must hold finite numbers")
        lo = tuple(float(v) for v in self.domain_min)
        hi = tuple(float(v) for v in self.domain_max)
        if len(lo) != 3 or len(hi) != 3 or not all(map(math.isfinite, lo + hi)):
            raise ValueError("domain_min and domain_max must be three finite numbers each")
        if any(a >= b for a, b in zip(lo, hi, strict=True)):
            raise ValueError(f"domain_min {lo} must be below domain_max {hi} in every channel")
        table.flags.writeable = False
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "domain_min", lo)
        object.__setattr__(self, "domain_max", hi)
        object.__setattr__(self, "title", " ".join(str(self.title).split()))  # one line

    @property
    def size(self) -> int:
        return self.table.shape[0]

    @property
    def default_domain(self) -> bool:
        return self.domain_min == _DEFAULT_MIN and self.domain_max == _DEFAULT_MAX


def lattice(size: int) -> np.ndarray:
    """The lattice inputs in [0, 1]: (size, size, size, 3) float32, indexed [r, g, b]."""
    axis = np.linspace(0.0, 1.0, size, dtype=np.float64)
    r, g, b = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def identity(size: int = DEFAULT_SIZE, title: str = "identity") -> Lut3D:
    """The LUT that leaves every colour as it is."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"LUT size must be {MIN_SIZE}..{MAX_SIZE}, got {size}")
    return Lut3D(lattice(size), title=title)


# -- reading -------------------------------------------------------------------------------
def read_cube(path: str | os.PathLike) -> Lut3D:
    """Read a 3D ``.cube`` LUT, refusing anything malformed with one `InputError` line that names
    the problem and the fix."""
    path = Path(path)
    name = path.name
    text = _read_text(path)
    lines = text.splitlines()
    size: int | None = None
    title = ""
    domain_min, domain_max = _DEFAULT_MIN, _DEFAULT_MAX
    data_start: int | None = None  # index into lines of the first table line
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, rest = (line.split(None, 1) + [""])[:2]
        if not _KEYWORD.match(word) or _is_number(word):
            data_start = i
            break
        rest = rest.strip()
        if word == "LUT_1D_SIZE":
            raise InputError(f"LUT {name} is a 1D LUT; vidstyle applies 3D LUTs (LUT_3D_SIZE): "
                             "export a 3D .cube LUT instead")
        if word == "LUT_3D_SIZE":
            if size is not None:
                raise InputError(f"LUT {name} has LUT_3D_SIZE twice (line {i + 1}); keep one and export it again")
            size = _parse_size(rest, name, i + 1)
        elif word == "TITLE":
            title = rest[1:-1] if len(rest) >= 2 and rest[0] == rest[-1] == '"' else rest
        elif word in ("DOMAIN_MIN", "DOMAIN_MAX"):
            value = _parse_triple(rest, name, i + 1, word)
            domain_min, domain_max = (value, domain_max) if word == "DOMAIN_MIN" else (domain_min, value)
        elif word == "LUT_3D_INPUT_RANGE":
            lo, hi = _parse_range(rest, name, i + 1)
            domain_min, domain_max = (lo, lo, lo), (hi, hi, hi)
        # other keywords (vendor extensions) are ignored, as FFmpeg and Resolve do
    if size is None:
        _refuse_sizeless(lines, data_start, name)
    if any(a >= b for a, b in zip(domain_min, domain_max, strict=True)):
        raise InputError(f"LUT {name}: DOMAIN_MIN {_fmt(domain_min)} must be below DOMAIN_MAX {_fmt(domain_max)} "
                         "in every channel; fix the DOMAIN lines")
    values = _parse_table(lines, data_start, size, name)
    # file order: red fastest, then green, then blue -> reshape gives [b, g, r]; store [r, g, b]
    table = values.reshape(size, size, size, 3).transpose(2, 1, 0, 3)
    return Lut3D(table, domain_min, domain_max, title)


def _refuse_sizeless(lines: list[str], data_start: int | None, name: str) -> None:
    if data_start is None:
        raise InputError(f"LUT {name} is empty (only comments or keywords, no LUT_3D_SIZE and no colours); "
                         "export the .cube LUT again")
    for i in range(data_start, len(lines)):
        word = (lines[i].split() or [""])[0]
        if word == "LUT_1D_SIZE":
            raise InputError(f"LUT {name} is a 1D LUT; vidstyle applies 3D LUTs (LUT_3D_SIZE): "
                             "export a 3D .cube LUT instead")
        if word == "LUT_3D_SIZE":
            raise InputError(f"LUT {name} line {i + 1}: LUT_3D_SIZE comes after colour values; keywords go "
                             "before the table: export the LUT again")
    raise InputError(f"LUT {name} has no LUT_3D_SIZE line, so it is not a 3D .cube LUT; "
                     "export a 3D LUT in .cube format")


def _read_text(path: Path) -> str:
    name = path.name
    if not path.exists():
        raise InputError(f"LUT file {path} does not exist; check the path")
    if path.is_dir():
        raise InputError(f"LUT {path} is a folder, not a .cube file; give the .cube file itself")
    binary = InputError(f"LUT {name} is not a text file (it holds binary data), so it is not a .cube LUT; "
                        "give a .cube text file")
    try:
        with path.open("rb") as fh:
            if b"\x00" in fh.read(1 << 16):  # a video or image given by mistake: refused unread
                raise binary
            if path.stat().st_size > MAX_BYTES:
                raise InputError(f"LUT {name} is {path.stat().st_size / 1e9:.1f} GB, larger than any .cube LUT "
                                 f"(LUT_3D_SIZE {MAX_SIZE} needs under {MAX_BYTES / 1e9:.1f} GB); give a .cube file")
            fh.seek(0)
            data = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read LUT {path} ({exc.strerror or exc.__class__.__name__}); "
                         "check its permissions") from None
    if not data.strip():
        raise InputError(f"LUT {name} is empty (no LUT_3D_SIZE and no colours); export the .cube LUT again")
    if b"\x00" in data:
        raise binary
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # a title or comment in a legacy 8-bit encoding is harmless; the numbers must be ASCII anyway
    text = data.decode("latin-1")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\r\n\t\f\v")
    if controls > len(text) // 100:
        raise InputError(f"LUT {name} is not a text file (it cannot be decoded as text), so it is not a .cube "
                         "LUT; give a .cube text file")
    return text


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _parse_size(rest: str, name: str, lineno: int) -> int:
    try:
        size = int(rest.split()[0]) if len(rest.split()) == 1 else None
    except ValueError:
        size = None
    if size is None:
        raise InputError(f"LUT {name} line {lineno}: LUT_3D_SIZE must be one whole number, found {rest!r}; "
                         "fix the size line")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise InputError(f"LUT {name}: LUT_3D_SIZE {size} is out of range ({MIN_SIZE}..{MAX_SIZE}; 33 is usual); "
                         "export the LUT at a supported size")
    return size


def _parse_triple(rest: str, name: str, lineno: int, word: str) -> Triple:
    parts = rest.split()
    try:
        value = tuple(float(p) for p in parts)
    except ValueError:
        value = ()
    if len(value) != 3:
        raise InputError(f"LUT {name} line {lineno}: {word} needs three numbers, found {rest!r}; fix that line")
    if not all(map(math.isfinite, value)):
        raise InputError(f"LUT {name} line {lineno}: {word} holds NaN or infinity ({rest}); fix that line")
    return value  # type: ignore[return-value]


def _parse_range(rest: str, name: str, lineno: int) -> tuple[float, float]:
    parts = rest.split()
    try:
        value = tuple(float(p) for p in parts)
    except ValueError:
        value = ()
    if len(value) != 2 or not all(map(math.isfinite, value)):
        raise InputError(f"LUT {name} line {lineno}: LUT_3D_INPUT_RANGE needs two finite numbers, found {rest!r}; "
                         "fix that line")
    return value  # type: ignore[return-value]


def _parse_table(lines: list[str], start: int | None, size: int, name: str) -> np.ndarray:
    expected = size ** 3
    rows: list[str] = []
    numbers: list[int] = []  # 1-based line number of each row
    if start is not None:
        for i in range(start, len(lines)):
            line = lines[i].strip()
            if line and not line.startswith("#"):
                rows.append(line)
                numbers.append(i + 1)
    tokens = " ".join(rows).split()
    values = None
    if len(tokens) == 3 * len(rows):
        try:
            values = np.array(tokens, dtype=np.float64).reshape(-1, 3)
        except ValueError:
            values = None
    if values is None:  # find the first line that is not three numbers, to name it
        for row, lineno in zip(rows, numbers, strict=True):
            parts = row.split()
            if len(parts) != 3 or not all(_is_number(p) for p in parts):
                word = parts[0]
                hint = (f"keyword {word} after the colour table began (keywords go before it)"
                        if _KEYWORD.match(word) and not _is_number(word) else "not three numbers")
                raise InputError(f"LUT {name} line {lineno} is {hint}: {row[:60]!r}; "
                                 "fix that line or export the LUT again")
        raise AssertionError("unreachable: every row parsed")  # pragma: no cover
    found = len(values)
    if found != expected:
        what = "the file is truncated" if found < expected else "there are extra lines"
        raise InputError(f"LUT {name} has {found} colour lines but LUT_3D_SIZE {size} needs {expected} "
                         f"({size}³): {what}; export the LUT again")
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"LUT {name} line {numbers[row]} holds NaN or infinity ({rows[row][:60]}); "
                         "fix the LUT in the tool that made it")
    return values


def _fmt(triple: Triple) -> str:
    return " ".join(f"{v:g}" for v in triple)


# -- writing -------------------------------------------------------------------------------
def cube_text(lut: Lut3D, *, offset: float = 0.0, decimals: int = DECIMALS, comment: str | None = None) -> str:
    """The ``.cube`` text of ``lut`` (``offset`` is added to every value: the streaming filter
    uses it to make FFmpeg round rather than truncate)."""
    n = lut.size
    head = []
    if comment:
        head.append(f"# {' '.join(comment.split())}")
    if lut.title:
        head.append(f'TITLE "{lut.title.replace(chr(34), chr(39))}"')
    head.append(f"LUT_3D_SIZE {n}")
    if not lut.default_domain:  # after LUT_3D_SIZE: FFmpeg ignores DOMAIN lines before it
        head.append(f"DOMAIN_MIN {' '.join(f'{v:.{decimals}f}' for v in lut.domain_min)}")
        head.append(f"DOMAIN_MAX {' '.join(f'{v:.{decimals}f}' for v in lut.domain_max)}")
    rows = lut.table.astype(np.float64).transpose(2, 1, 0, 3).reshape(-1, 3) + offset  # red fastest
    rows = np.round(rows, decimals) + 0.0  # no "-0.000000"
    row = f"%.{decimals}f %.{decimals}f %.{decimals}f\n"
    return "\n".join(head) + "\n" + (row * (n ** 3)) % tuple(rows.ravel().tolist())


def write_cube(lut: Lut3D, path: str | os.PathLike) -> Path:
    """Write ``lut`` as a ``.cube`` file, atomically (a temporary file beside ``path`` renamed into
    place when complete). DOMAIN lines are written only when the domain is not [0, 1]."""
    path = Path(path)
    text = cube_text(lut, comment=f"written by vidstyle {__version__}")
    with atomic_output(path) as temp:
        temp.write_text(text, encoding="utf-8", newline="\n")
    return path
