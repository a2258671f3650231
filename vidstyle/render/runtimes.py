"""Faster CPU runtimes for the keyframe generator: OpenVINO and torch.compile. Each turns the
eval-mode generator into a callable of the same signature (normalised (B, 3, H, W) float tensor
in, out), built for one input size.

Measured by benchmarks/runtimes.py at 512x288 on the 2-core VM: OpenVINO in fp32 2.4-3.0x eager
torch (max difference 2e-3); torch.compile 2.0-2.6x (1.6e-5) after a ~27 s first compile (~2.4 s
from Inductor's cache later). ONNX Runtime is not offered: the generator's instance norm does not
export to ONNX.

OpenVINO's conversion (tracing the model) is most of its set-up, so it is done once per model:
traced at a tiny size (the converted model takes any size: 1.9-2.9 s instead of 4.3 s at 512x288),
and kept on disk under the weights' own hash (`cache_dir`), where a saved model's next run, or
any process that meets the same weights, reads it back (0.5 s to a first frame at 512x288). A
model saved with --save-model is converted then (`prepare`), so that its first render starts
warm.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import shutil
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from vidstyle.media.outputs import atomic_output

Forward = Callable[[torch.Tensor], torch.Tensor]


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


# Measured by benchmarks/runtimes.py at 512x288 on the 2-core VM (see the module docstring).
SETUP_SECONDS = {"openvino": 3.0, "compile": 27.0}  # one-off per model (OpenVINO) or frame size
WARM_SETUP_SECONDS = 0.5  # OpenVINO with the model's conversion on disk already (read, compile, a first run)
SPEED_UP = {"openvino": 2.6, "compile": 2.4}  # over eager torch
EAGER_SECONDS_512x288 = 0.39  # one eager generator run at 512x288; the cost scales with the pixels
OPENVINO_TRACE_SHAPE = (1, 3, 32, 32)  # the conversion traces at this size; the result takes any
# TorchScript's tracer (and the warnings filter around it) is one per process: two threads tracing
# at once fail its sanity check ("graphs differed across invocations"), so conversions take turns
_TRACING = threading.RLock()  # reentrant: a failed read forgets its entry while converting


def choose(policy: str, device_type: str, runs: float, pixels: int, openvino: bool | None = None,
           converted: Callable[[], bool] = lambda: False) -> str:
    """The runtime for about ``runs`` generator runs on frames of ``pixels`` (the working size).
    ``auto`` on a CPU: the fastest one whose one-off set-up those runs repay (OpenVINO when
    installed, at once where the model is ``converted()`` already, on disk — asked only then;
    else torch.compile; a 512x288 run saves ~0.24 s and ~0.22 s), else plain torch; plain torch
    on a GPU. Any other policy is taken as given."""
    if policy != "auto":
        return policy
    if device_type != "cpu":
        return "torch"
    openvino = openvino_available() if openvino is None else openvino
    saved_per_run = EAGER_SECONDS_512x288 * pixels / (512 * 288)
    for name in (("openvino",) if openvino else ()) + ("compile",):
        setup = WARM_SETUP_SECONDS if name == "openvino" and converted() else SETUP_SECONDS[name]
        if runs * saved_per_run * (1 - 1 / SPEED_UP[name]) >= setup:
            return name
    return "torch"


OFF = ("off", "0", "false", "no", "none")


def cache_dir() -> Path | None:
    """Where converted models are kept between runs: $VIDSTYLE_CACHE (an absolute folder; "off"
    for nowhere), else vidstyle's folder in the user's cache ($XDG_CACHE_HOME or ~/.cache)."""
    chosen = os.environ.get("VIDSTYLE_CACHE")
    if chosen:
        return Path(chosen) if Path(chosen).is_absolute() and chosen.lower() not in OFF else None
    try:
        xdg = os.environ.get("XDG_CACHE_HOME")
        home = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    except RuntimeError:  # no home folder to be found (a bare container): nothing is kept
        return None
    return home / "vidstyle"


def is_converted(model: nn.Module) -> bool:
    """Whether ``model``'s OpenVINO conversion is on disk. Never raises: a cache that cannot be
    read is no cache."""
    return _kept(_openvino_entry(model) if openvino_available() else None)


def prepare(model: nn.Module) -> bool:
    """Convert ``model`` for OpenVINO now and keep it on disk, so that runs that apply it later
    on this CPU start warm (about 3 s once). False where that is not done: a model on a GPU, no
    OpenVINO, no cache, a conversion that fails (those runs convert, or run on torch, then)."""
    if next(model.parameters()).device.type != "cpu":
        return False
    entry = _openvino_entry(model)
    if entry is None:
        return False
    try:
        import openvino as ov

        _openvino_model(ov.Core(), model)
    except Exception:  # noqa: BLE001 - a speed-up for later runs, never a reason for this one to fail
        return False
    return _kept(entry)


def build(name: str, model: nn.Module, example: torch.Tensor, check: bool = True) -> Forward:
    """``model`` under runtime ``name`` for inputs shaped like ``example`` (run once here with
    ``check``, so a failing runtime fails now; torch.compile always runs it: that is where it
    compiles). Raises what the runtime raises."""
    if name == "openvino":
        return _openvino(model, example, check)
    if name == "compile":
        return _compiled(model, example)
    raise ValueError(f"unknown runtime {name}")


def deferred(name: str, model: nn.Module, example: torch.Tensor, fallback: Callable[[Exception], None]) -> Forward:
    """``model`` under runtime ``name``, built at its first call, in the thread that makes it.
    Why: the keyframe carrier runs the generator in its keyframe thread while the main thread
    decodes and tracks the frames that wait for the first keyframe; built there, OpenVINO's
    set-up (at 512x288 with its conversion on disk: 0.26 s, most of it a first run) no longer
    holds up the start. Where building or that first run fails and plain torch does not,
    ``fallback`` is told why, once, and ``model`` runs as it is from then on; where torch fails
    too, the input is at fault and torch's error is raised."""
    lock = threading.Lock()
    chosen: list[Forward] = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        with lock:
            if not chosen:
                try:
                    fast = build(name, model, example, check=False)
                    out = fast(x)  # the first run is the check
                except Exception as exc:  # noqa: BLE001 - any runtime failure: plain torch, and say so
                    try:
                        out = model(x)
                    except Exception as plain:
                        raise plain from exc
                    chosen.append(model)  # before the warning: one that cannot be shown must not rebuild
                    if name == "openvino":
                        _forget(_openvino_entry(model))  # a kept conversion that does not run: converted afresh
                    fallback(exc)
                    return out
                chosen.append(fast)
                return out
        return chosen[0](x)

    return forward


def _openvino(model: nn.Module, example: torch.Tensor, check: bool = True) -> Forward:
    import openvino as ov

    core = ov.Core()
    converted = _openvino_model(core, model)
    try:
        converted.reshape(list(example.shape))  # a fixed shape: 10 % faster than compiling for any
        # fp32: the CPU plugin may otherwise pick 16-bit on CPUs that have it (measured 0.33 off)
        compiled = core.compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

        def forward(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(compiled(x.float().contiguous().numpy())[0])

        if check:
            forward(example)
    except Exception:
        _forget(_openvino_entry(model))  # a kept conversion that does not run: the next run converts afresh
        raise
    return forward


def _openvino_model(core, model: nn.Module):
    """``model`` as an OpenVINO model that takes any size: read from the cache, or converted
    (traced at a tiny size, from a copy: the tracer switches the module it is given to eval
    mode) and written there whole or not at all. A cache that cannot be read or written costs
    only the conversion. One at a time in a process (the tracer is the process's)."""
    entry = _openvino_entry(model)
    with _TRACING:
        if _kept(entry):
            try:
                return core.read_model(entry / "model.xml")
            except Exception:  # noqa: BLE001 - a damaged entry: convert again
                _forget(entry)
        converted = _convert(model)
        if entry is not None:
            _keep(converted, entry)
    return converted


def _convert(model: nn.Module):
    import openvino as ov

    with warnings.catch_warnings():  # the tracer warns about asserts it cannot record: not the user's concern
        warnings.simplefilter("ignore")
        return ov.convert_model(copy.deepcopy(model).eval(), example_input=torch.zeros(OPENVINO_TRACE_SHAPE))


def _keep(converted, entry: Path) -> None:
    """Write the conversion to ``entry`` whole or not at all (`atomic_output`: a folder of its
    own, renamed into place, any half-removed entry moved aside first)."""
    import openvino as ov

    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(entry, directory=True) as temp:
            ov.save_model(converted, temp / "model.xml", compress_to_fp16=False)
    except Exception:  # noqa: BLE001 - read-only or full: this run converted, later ones convert again
        pass


def _kept(entry: Path | None) -> bool:
    try:
        return entry is not None and (entry / "model.xml").is_file()
    except OSError:  # a folder that cannot be searched
        return False


def _forget(entry: Path | None) -> None:
    """Delete a kept conversion, never while another thread reads or writes one."""
    if entry is not None:
        with _TRACING:
            shutil.rmtree(entry, ignore_errors=True)


def _openvino_entry(model: nn.Module) -> Path | None:
    """The cache folder of ``model``'s conversion: named by a hash of its weights, the code that
    defines it, the trace size and the OpenVINO and torch versions, so a changed model, generator
    or library never reads a stale one. None where nothing can be kept (never raises)."""
    root = cache_dir()
    if root is None:
        return None
    try:
        digest = hashlib.sha256(f"openvino-1 {OPENVINO_TRACE_SHAPE} torch {torch.__version__}".encode())
        digest.update(importlib.metadata.version("openvino").encode())
        digest.update(Path(inspect.getfile(type(model))).read_bytes())
    except (OSError, TypeError, importlib.metadata.PackageNotFoundError):  # no version to name it by
        return None
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        digest.update(f"{key}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return root / "openvino" / digest.hexdigest()[:32]


def _compiled(model: nn.Module, example: torch.Tensor) -> Forward:
    compiled = torch.compile(model, dynamic=False)
    noisy = logging.getLogger("torch.utils.cpp_extension")  # "No CUDA runtime is found" on CPU machines
    quiet = _BelowErrorFrom(threading.get_ident())
    noisy.addFilter(quiet)  # not setLevel: the logger's level is every thread's, this filter only ours
    try:
        with torch.inference_mode():
            compiled(example)
    finally:
        noisy.removeFilter(quiet)
    return compiled


class _BelowErrorFrom(logging.Filter):
    """Drops the records under ERROR that one thread logs; every other thread's go through."""

    def __init__(self, thread: int) -> None:
        super().__init__()
        self.thread = thread

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or record.thread != self.thread
