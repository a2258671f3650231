"""Process-level tuning of the running `vidstyle` command, done once by `cli.main` (never at
import, so a library user's process is left alone)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_KEEP_BLOCKS_UP_TO = 32 * 1024 * 1024  # glibc's ceiling for the mmap threshold on 64-bit
_TRIM_ABOVE = 1024 * 1024 * 1024
_TOP_PAD = 256 * 1024 * 1024


def tune_allocator() -> bool:
    """Keep freed blocks of up to 32 MiB in glibc's heap instead of returning them to the kernel.

    Why: torch allocates and frees frame-sized activations in every layer; by default glibc
    maps each large block fresh from the kernel and unmaps it on free, so every frame pays
    for zeroed pages again. On the 2-core development VM that was 45 % of the CPU time:
    tuned, applying a model to the 480x270 sample ran 1.7x faster (105 s -> 61 s) and a
    training step 1.2x faster. Memory stays bounded (reused, not grown). Skipped off glibc,
    and where the user set MALLOC_* variables themselves. Returns whether it was applied."""
    if not sys.platform.startswith("linux") or any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(option, value) == 1 for option, value in (
        (_M_MMAP_THRESHOLD, _KEEP_BLOCKS_UP_TO), (_M_TRIM_THRESHOLD, _TRIM_ABOVE), (_M_TOP_PAD, _TOP_PAD)))
