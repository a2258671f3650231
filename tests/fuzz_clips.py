"""Fuzz the CLI with damaged clips: small clips made in code, mutated (bytes flipped, zeroed,
duplicated, inserted, truncated), each run through ``python -m vidstyle`` in its own process.

Every run is classed as: a clean error (non-zero exit, one ``vidstyle: error:`` line), a success
(exit 0, and the output decodes, has frames, is not black, and any shortfall against the
source's announced frame count was warned about), a traceback, an "internal error", a bad
success (exit 0 but the output fails those checks), a hang (past the timeout) or a signal.

    python tests/fuzz_clips.py --mutants 300 [--seed 1] [--jobs 2]

CI runs a few dozen through tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from support import make_clip

OUTCOMES = ("clean_error", "success", "bad_success", "traceback", "internal_error", "hang", "signal")



@dataclass
class Outcome:
    name: str
    kind: str
    detail: str


def seeds(folder: Path) -> list[Path]:
    """Small clips of several containers and codecs, with and without audio."""
    return [
        make_clip(folder / "a.mp4", frames=8),
        make_clip(folder / "b.mkv", frames=8, width=48, height=36),
        make_clip(folder / "c.mp4", frames=10, options={"movflags": "+faststart"}, audio=None),
        make_clip(folder / "d.mov", frames=6, width=40, height=30, audio="pcm_s16le"),
    ]


def mutate(data: bytes, rng: np.random.RandomState) -> tuple[bytes, str]:
    """One random damage of ``data``; returns the new bytes and what was done."""
    buf = bytearray(data)
    kind = rng.choice(["flip", "zero", "duplicate", "insert", "truncate", "flip-header"])
    if kind in ("flip", "flip-header"):
        top = min(len(buf), 400) if kind == "flip-header" else len(buf)
        for _ in range(rng.randint(1, 20)):
            buf[rng.randint(0, top)] ^= 1 << rng.randint(0, 8)
    elif kind == "zero":
        start = rng.randint(0, len(buf))
        buf[start:start + rng.randint(1, 2000)] = b"\0" * len(buf[start:start + rng.randint(1, 2000)])
    elif kind == "duplicate":
        start = rng.randint(0, len(buf))
        buf[start:start] = buf[start:start + rng.randint(1, 3000)]
    elif kind == "insert":
        start = rng.randint(0, len(buf))
        buf[start:start] = rng.bytes(rng.randint(1, 500))
    else:
        buf = buf[:rng.randint(0, len(buf))]
    return bytes(buf), str(kind)


def announced_frames(path: Path) -> int:
    try:
        with av.open(str(path), metadata_errors="replace") as c:
            return c.streams.video[0].frames if c.streams.video else 0
    except Exception:  # noqa: BLE001 - a mutant may not open at all
        return 0


def check_output(path: Path) -> str:
    """'' if the output is a playable, non-black clip; else what is wrong."""
    if not path.is_file():
        return "exit 0 but no output file"
    try:
        with av.open(str(path)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]
    except Exception as exc:  # noqa: BLE001
        return f"output does not decode ({exc.__class__.__name__})"
    if not frames:
        return "output has no frames"
    if max(float(f.mean()) for f in frames) < 2.0:
        return "output is black"
    return ""


def run_one(mutant: Path, model: Path, timeout: float) -> Outcome:
    out = mutant.with_name(mutant.stem + "_out.mp4")
    env = {**os.environ, "VIDSTYLE_DEBUG": "", "VIDSTYLE_CACHE": "off"}  # nothing kept in the user's cache
    try:
        done = subprocess.run([sys.executable, "-m", "vidstyle", str(mutant), "--model", str(model), "-o", str(out),
                               "--device", "cpu", "-q", "--overwrite"], capture_output=True, text=True,
                              timeout=timeout, env=env, errors="replace")
    except subprocess.TimeoutExpired:
        return Outcome(mutant.name, "hang", f"no exit in {timeout:.0f}s")
    err = done.stderr
    if done.returncode < 0:
        return Outcome(mutant.name, "signal", f"killed by signal {-done.returncode}")
    if "Traceback" in err:
        return Outcome(mutant.name, "traceback", err.strip().splitlines()[-1])
    if "internal error" in err:
        return Outcome(mutant.name, "internal_error", err.strip().splitlines()[-1])
    if done.returncode != 0:
        errors = [line for line in err.splitlines() if line.startswith("vidstyle: error:")]
        kind = "clean_error" if len(errors) == 1 else "bad_success"
        return Outcome(mutant.name, kind, errors[0] if errors else err.strip()[-200:])
    problem = check_output(out)
    if not problem:
        with av.open(str(out)) as c:
            written = sum(1 for _ in c.decode(c.streams.video[0]))
        announced = announced_frames(mutant)
        if announced and written < announced and "could be decoded" not in err:
            problem = f"{written} of {announced} frames written without a warning"
    return Outcome(mutant.name, "bad_success" if problem else "success", problem or "ok")


def train_model(folder: Path) -> Path:
    """A real (tiny) style model, trained once, so each mutant run only decodes and encodes."""
    model = folder / "model.pt"
    style = Path(__file__).resolve().parent.parent / "samples" / "starry_night.jpg"
    seed = make_clip(folder / "seed.mp4", frames=2, audio=None)
    subprocess.run([sys.executable, "-m", "vidstyle", str(seed), "--style", str(style), "--steps", "2",
                    "--train-size", "64", "--device", "cpu", "-q", "--save-model", str(model),
                    "-o", str(folder / "seed_out.mp4")], check=True, capture_output=True,
                   env={**os.environ, "VIDSTYLE_CACHE": "off"})
    return model


def fuzz(count: int, seed: int = 0, jobs: int = 2, timeout: float = 120.0,
         folder: Path | None = None) -> tuple[Counter, list[Outcome]]:
    """Make ``count`` mutants and run each; returns the count per outcome and every outcome."""
    with tempfile.TemporaryDirectory(prefix="vidstyle-fuzz-") as tmp:
        work = folder or Path(tmp)
        model = train_model(work)
        sources = seeds(work)
        rng = np.random.RandomState(seed)
        mutants = []
        for i in range(count):
            source = sources[i % len(sources)]
            data, kind = mutate(source.read_bytes(), rng)
            path = work / f"m{i:04d}_{kind}{source.suffix}"
            path.write_bytes(data)
            mutants.append(path)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            outcomes = list(pool.map(lambda m: run_one(m, model, timeout), mutants))
    return Counter(o.kind for o in outcomes), outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--json", action="store_true", help="print every outcome as JSON")
    args = parser.parse_args(argv)
    counts, outcomes = fuzz(args.mutants, args.seed, args.jobs, args.timeout)
    if args.json:
        print(json.dumps([o.__dict__ for o in outcomes], indent=1))
    for outcome in outcomes:
        if outcome.kind not in ("clean_error", "success"):
            print(f"{outcome.kind:15s} {outcome.name}: {outcome.detail}")
    print(f"{args.mutants} mutants: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in OUTCOMES))
    bad = sum(counts.get(k, 0) for k in OUTCOMES[2:])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
