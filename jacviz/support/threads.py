"""jacviz's torch thread policy: one intra-op thread for all of its work off the GUI thread.

Training steps, pictures of models (the lab's 256² decision regions, the map view's Jacobian
fields) and attacks all run on worker threads, each with one torch intra-op thread
(:func:`worker_threads`, :func:`single_threaded`); the lab's training worker takes one core
and its pictures and the GUI the other. ``benchmarks/bench_threads.py`` measured the choice on
this project's 2-core machine, shared with other work (load average 2.2-2.3 before the
"quiet" column; the second adds one busy-loop process), median ms of 1 thread / 2 threads:

============================  ==================  ====================
workload                      as the machine is   one more core busy
============================  ==================  ====================
training step (lab default)   1.43 / 6.88         0.66 / 32.6
256² regions (lab default)    36.1 / 63.8         40.9 / 130
256² Jacobian, 2-64-64-64-2   180 / 250           147 / 3444
PGD attack on 60 test points  485 / 3177          465 / 9373
============================  ==================  ====================

Two threads never won: tiny ops pay OpenMP's fork/join for nothing, and when the other core
is busy (the GUI drawing, another program) each op waits for a thread that is not running,
which made the attack 20× and the Jacobian field 23× slower. Users' machines are often busy,
so one thread everywhere; a user with many idle cores still has the other workers running in
parallel (training, pictures, the GUI).

With torch's OpenMP backend the count belongs to the calling thread, so each block sets and
restores its own thread's (tests/test_threads.py checks a worker's count leaves the GUI
thread's alone). Torch is imported inside the functions, never at import time: formula maps
and the command line's formula paths use this package without torch.
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

    Usable as a decorator too (``@torch_threads(1)``). With torch's OpenMP backend the count
    belongs to the calling thread (a worker thread setting it leaves the GUI thread's alone;
    tests/test_threads.py checks this), so each block saves and restores its own thread's.
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
