"""Ray itself: importing it (an optional extra), choosing the cluster, and checking that every
node sees the files a run reads and writes.

Which cluster, as Ray users expect: an ``address`` given (``auto``, ``ray://host:10001``,
``host:6379``), else the one ``RAY_ADDRESS`` names, else one already running on this machine
(``ray start --head``), else a local cluster with every core of this machine, started for the
run and stopped after it. A connection the caller made already (``ray.init`` in a notebook or
a test) is used as it is.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from vidstyle.errors import InputError, OutputError, VidstyleError

INSTALL = "--ray needs the ray extra: pip install 'vidstyle[ray]'"
PROBE_TIMEOUT_S = 120  # a node that cannot start a task in this long is reported


def import_ray() -> ModuleType:
    """The ``ray`` module, or a one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise VidstyleError(INSTALL) from None
    return ray


def local_cpus() -> int:
    """The cores this process may use (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextmanager
def connect(address: str | None = None, quiet: bool = False) -> Iterator[ModuleType]:
    """Connected to the cluster ``address`` names (see the module docstring) within the block;
    a local cluster started here is stopped after it. Yields the ``ray`` module."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    import logging

    options = {"logging_level": logging.ERROR if quiet else logging.WARNING, "include_dashboard": False}
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if address is None and not os.environ.get("RAY_ADDRESS"):
            try:
                ray.init(address="auto", **options)  # one already running here (`ray start --head`)
            except ConnectionError:
                ray.init(num_cpus=local_cpus(), **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
        where = address or os.environ.get("RAY_ADDRESS")
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise VidstyleError(f"cannot connect to the Ray cluster at {where} ({reason}); start one with "
                            "`ray start --head` or check the address") from None
    finally:
        for sig, handler in handlers.items():  # ray.init replaces them; the caller's Ctrl-C and SIGTERM stay
            if handler is not None:
                signal.signal(sig, handler)
    try:
        yield ray
    finally:
        ray.shutdown()


def check_nodes(ray: ModuleType, reads: list[Path], folders: list[Path]) -> None:
    """Every node of a cluster of several machines (or a remote one) can read ``reads`` and write
    into ``folders``, checked by a small task on each before any work; a one-line error names the
    first node and path that fail and says that a shared filesystem is needed."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if all(n["NodeID"] == here for n in nodes):
        return  # this machine alone: the driver's own checks (pipeline.plan_job) saw the files
    probe = ray.remote(num_cpus=0, max_retries=0)(paths_problem)
    refs = {n["NodeManagerAddress"]: probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        n["NodeID"], soft=False)).remote(reads, folders) for n in nodes}
    for node, problem in zip(refs, ray.get(list(refs.values()), timeout=PROBE_TIMEOUT_S), strict=True):
        if problem is not None:
            kind, path, reason = problem
            error = InputError if kind == "read" else OutputError
            raise error(f"node {node} cannot {kind} {path} ({reason}): a cluster of several machines needs a shared "
                        "filesystem that holds the inputs and the output folders at the same paths on every node; "
                        "mount it on every node, or run on one machine")


def paths_problem(reads: list[Path], folders: list[Path]) -> tuple[str, Path, str] | None:
    """The first path this machine cannot read or folder it cannot write into, as (what, path,
    why); None when all is well. Runs on each node."""
    for path in reads:
        if not path.exists():
            return "read", path, "not found"
        if not os.access(path, os.R_OK):
            return "read", path, "permission denied"
    for folder in folders:
        probe = folder / f".vidstyle-probe.{uuid.uuid4().hex[:8]}.partial"
        try:
            probe.touch(exist_ok=False)
            probe.unlink()
        except OSError as exc:
            return "write into", folder, exc.strerror or exc.__class__.__name__
    return None
