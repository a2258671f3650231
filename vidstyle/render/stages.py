"""Running the stages of a stream (decode, stylize, encode) at the same time, in threads joined
by bounded queues.

Why threads: FFmpeg's decoders and encoders and torch's kernels all release the GIL, so the
stages overlap; and unlike processes, frames need no copying between them. Why bounded: a
fast decoder must wait for a slow stylizer instead of filling memory, so memory stays flat
however long the clip is. Errors (and Ctrl-C in the main thread) stop every stage and surface
in the caller's thread, the first one raised winning.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()
_POLL_S = 0.05  # how often a blocked side checks whether the other side has stopped


class _Channel(Generic[T]):
    """A bounded queue with a stop flag that unblocks both ends. Bounded by the items' summed
    ``weight`` (1 each by default): an item waits while it and what waits would weigh more than
    ``size``, and goes alone, however heavy, once nothing waits."""

    def __init__(self, size: int, weight: Callable[[T], int] | None = None) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._size = max(1, size)
        self._weight = weight or (lambda item: 1)
        self._load = 0  # the summed weight of what waits
        self._room = threading.Condition()
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def put(self, item: object) -> bool:
        """Block until there is room; False if the channel was stopped meanwhile."""
        weight = self._weight(item) if item is not _END else 0
        with self._room:
            while weight and self._load and self._load + weight > self._size:
                if self.stopped.is_set():
                    return False
                self._room.wait(_POLL_S)
            if self.stopped.is_set():
                return False
            self._load += weight
        self._queue.put((item, weight))
        return True

    def get(self) -> object:
        """Block until an item comes; `_END` once the channel is stopped."""
        while not self.stopped.is_set():
            try:
                item, weight = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            with self._room:
                self._load -= weight
                self._room.notify_all()
            return item
        return _END

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.stopped.set()


@contextmanager
def read_ahead(items: Iterable[T], size: int, name: str = "reader") -> Iterator[Iterator[T]]:
    """Iterate ``items`` in a background thread, at most ``size`` items ahead of the caller.

    An exception raised while producing the items is raised from the caller's loop.
    """
    channel: _Channel[T] = _Channel(size)

    def produce() -> None:
        try:
            for item in items:
                if not channel.put(item):
                    return
            channel.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            channel.fail(exc)

    def consume() -> Iterator[T]:
        while True:
            item = channel.get()
            if item is _END:
                if channel.error is not None:
                    raise channel.error
                return
            yield item  # type: ignore[misc]

    thread = _thread(produce, name)
    thread.start()
    try:
        yield consume()
    finally:
        channel.stopped.set()
        thread.join()


@contextmanager
def write_behind(handle: Callable[[T], None], size: int, name: str = "writer",
                 weight: Callable[[T], int] | None = None) -> Iterator[Callable[[T], None]]:
    """A ``put`` function whose items ``handle`` takes, in order, in a background thread;
    at most ``size`` items wait (or, given ``weight``, items of that summed weight, or one
    heavier item alone: `_Channel`). On a clean
    exit every item is handled before the context ends; an exception in ``handle`` is raised
    from the next ``put`` or at the exit."""
    channel: _Channel[T] = _Channel(size, weight)

    def work() -> None:
        try:
            while (item := channel.get()) is not _END:
                handle(item)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            channel.fail(exc)

    def put(item: T) -> None:
        if channel.error is not None or not channel.put(item):
            raise channel.error or RuntimeError(f"{name} stopped")

    thread = _thread(work, name)
    thread.start()
    try:
        yield put
        channel.put(_END)  # drained before the join below returns
    except BaseException:
        channel.stopped.set()
        raise
    finally:
        thread.join()
    if channel.error is not None:
        raise channel.error


def _thread(target: Callable[[], None], name: str) -> threading.Thread:
    """A daemon thread that runs ``target`` in a copy of the caller's context (so messages it
    raises or reports are spelled for the same caller: errors.option)."""
    return threading.Thread(target=contextvars.copy_context().run, args=(target,), name=f"vidstyle-{name}",
                            daemon=True)


class Worker(ThreadPoolExecutor):
    """A one-thread executor for work handed off one piece at a time (the carrier's keyframe
    paintings), named like this module's threads, each piece run in a copy of the submitting
    caller's context, as `_thread`'s targets are."""

    def __init__(self, name: str) -> None:
        super().__init__(max_workers=1, thread_name_prefix=f"vidstyle-{name}")

    def submit(self, fn: Callable[..., T], /, *args, **kwargs) -> Future[T]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


def batched(items: Iterable[T], size: int, is_batchable: Callable[[T], bool]) -> Iterator[list[T] | T]:
    """Group consecutive batchable items into lists of up to ``size``; others pass alone, in
    order (a lone item arriving while a batch is open goes out first: it does not wait)."""
    batch: list[T] = []
    for item in items:
        if not is_batchable(item):
            yield item
            continue
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
