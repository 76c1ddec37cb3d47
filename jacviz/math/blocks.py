"""A field's points in blocks, on two cores at once when the map can take it.

The 256² Jacobian field of a network is most of a map change: about 55–90 ms of one core for
the 2-64-64-64-2 tanh MLP of the benchmarks, against a target of 100 ms for the whole change.
Torch's own intra-op threads are the wrong way to use the second core: each operation waits
for its slowest thread, and with the other core busy a field measured up to 20× slower on two
threads than on one (``benchmarks/bench_threads.py``). Here the points are cut into blocks
that two Python threads take in turn from one queue, each thread running torch on one thread
of its own: nothing waits for the other thread but the end of the field, so when a core is
busy its thread simply takes fewer blocks, and the field costs at most one block more than on
one thread. Blocks are computed exactly as one thread would, so the field is the same to the
bit.

The caller says whether its function may run on two threads at once (``parallel``): the
heatmaps (:func:`jacviz.gui.mapview.heatmaps.splittable`) split only in-process networks
walked by forward tangents, never a network hosted in another process (one pipe) or a
user's in-memory module (run under its time limit).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar

import numpy as np

from jacviz.support.threads import worker_threads

__all__ = ["available_cores", "map_blocks", "thread_policy"]

T = TypeVar("T")

_helper: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS says, else the count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_policy() -> AbstractContextManager[None]:
    """jacviz's torch thread policy for a field's work (:mod:`jacviz.support.threads`).

    One torch thread per thread computing blocks (the count belongs to each thread): a 256²
    field of a network measured up to 23× slower on two intra-op threads when the other core
    was busy. Nothing when torch is not loaded: a formula's field never needs it.
    """
    return worker_threads() if "torch" in sys.modules else nullcontext()


def _helper_pool() -> ThreadPoolExecutor:
    """The one helper thread every split field shares (made on first use, then kept)."""
    global _helper
    with _helper_lock:
        if _helper is None:
            _helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jacviz-blocks")
        return _helper


class _Queue:
    """Block indices handed out in order to whichever thread asks; stops everyone on a stop."""

    def __init__(self, count: int, superseded: Callable[[], bool]):
        self._next = 0
        self._count = count
        self._lock = threading.Lock()
        self._superseded = superseded
        self.stopped = False

    def take(self) -> int | None:
        with self._lock:
            if self.stopped or self._next >= self._count:
                return None
            if self._superseded():
                self.stopped = True
                return None
            index, self._next = self._next, self._next + 1
            return index


def _work(
    queue: _Queue, fn: Callable[[np.ndarray], T], blocks: list[np.ndarray], out: list
) -> None:
    with thread_policy():
        try:
            for index in iter(queue.take, None):
                out[index] = fn(blocks[index])
        except BaseException:
            queue.stopped = True
            raise


def map_blocks(
    fn: Callable[[np.ndarray], T],
    points: np.ndarray,
    block: int,
    superseded: Callable[[], bool],
    parallel: bool,
) -> list[T] | None:
    """``fn`` of each block of ``block`` rows of ``points``, in order; None once superseded.

    ``superseded()`` is asked before each block; once it is True no block starts and None is
    returned. With ``parallel`` (and at least two cores and two blocks), a helper thread takes
    blocks too (see the module docstring); an exception raised by ``fn`` in either thread is
    raised here, after both threads have stopped taking blocks.
    """
    blocks = [points[start : start + block] for start in range(0, len(points), block)]
    out: list = [None] * len(blocks)
    queue = _Queue(len(blocks), superseded)
    helper: Future | None = None
    if parallel and len(blocks) >= 2 and available_cores() >= 2:
        helper = _helper_pool().submit(_work, queue, fn, blocks, out)
    try:
        _work(queue, fn, blocks, out)
    finally:
        # Wait for the helper whatever happened here: no block may outlive this call.
        helper_error = helper.exception() if helper is not None else None
    if helper_error is not None:
        raise helper_error
    if queue.stopped:
        return None
    return out
