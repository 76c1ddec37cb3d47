"""jacviz's torch thread policy: one intra-op thread for all of its background work.

MEASUREMENTS

Torch is imported inside the functions, never at import time: formula maps and the
command line's formula paths use this package without torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

WORKER_THREADS = 1
"""Torch intra-op threads for jacviz's background work: training steps, pictures of models
(decision regions, Jacobian fields) and attacks (see the module docstring for why)."""


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` intra-op threads inside this block, then restore the previous count.

    Usable as a decorator (``@torch_threads(1)()``-style through :func:`single_threaded`) too.
    With torch's OpenMP backend the count belongs to the calling thread (a worker thread
    setting it leaves the GUI thread's alone; tests/test_threads.py checks this), so each
    block saves and restores its own thread's.
    """
    import torch  # here, not at the top: see the module docstring

    previous = torch.get_num_threads()
    if previous == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch on one intra-op thread inside this block (``@single_threaded()`` decorates)."""
    with torch_threads(1):
        yield


@contextmanager
def worker_threads() -> Iterator[None]:
    """Run torch on :data:`WORKER_THREADS` threads inside this block.

    jacviz's policy for work off the GUI thread (training, pictures, attacks).
    """
    with torch_threads(WORKER_THREADS):
        yield
