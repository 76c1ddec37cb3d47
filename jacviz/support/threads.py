"""jacviz's torch thread policy: one intra-op thread for all of its work off the GUI thread.

Training steps, the lab's pictures of models and attacks run on worker threads, each with
one torch intra-op thread (:func:`worker_threads`, :func:`single_threaded`); the lab's
training worker takes one core and its pictures and the GUI the other. The map view's
Jacobian fields are measured too: the same policy is meant for them.

``benchmarks/bench_threads.py`` measured the choice on this project's 2-core machine while
other work shared it (load average 2.3-3.8 before each run): time on 2 threads / time on 1,
three runs (min-max), as the machine was and with one more busy-loop process:

============================  =============  ==================
workload                      as it was      one more core busy
============================  =============  ==================
training step (lab default)   1.3-5.9        4.9-49
256² regions (lab default)    0.83-1.8       0.86-3.2
256² Jacobian, 2-64-64-64-2   0.72-2.9       2.8-23
PGD attack on 60 test points  1.0-16         5.5-20
============================  =============  ==================

(medians of 1 thread: 0.3-1.4 ms a step, 8-36 ms a regions picture, 54-180 ms a Jacobian
field, 0.18-0.49 s an attack.) Two threads won only for the two 256² fields, by at most 1.4×,
and only when the other core happened to be free; whenever it was busy (the GUI drawing,
training, another program) every op waited for a thread that was not running, up to 20-50×
slower. Users' machines are often busy, so one thread everywhere; the cores are used by
running training, pictures and the GUI side by side instead.

The app also holds numpy's BLAS to one thread (:func:`limit_blas_threads`, process-wide, so
never done for a script using the API): the same reasoning, and small products in numpy then
never wait for the other core.

With torch's OpenMP backend the count belongs to the calling thread, so each block sets and
restores its own thread's (tests/test_threads.py checks a worker's count leaves the GUI
thread's alone). Torch is imported inside the functions, never at import time: formula maps
and the command line's formula paths use this package without torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_blas_on_one_thread = False  # set once by limit_blas_threads, for the whole process

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


def limit_blas_threads() -> None:
    """Hold numpy's BLAS to one thread in this process: the app's policy, as for torch.

    Process-wide, so only the app calls it (after its first picture); a script using jacviz's
    API keeps its own setting. A product of a few hundred rows then never waits for a second
    core (busy drawing, or with the heatmap's worker), and a network's probe outline can run
    in numpy (:data:`jacviz.math.jacobian.small.ONE_THREAD_WORK`) instead of through torch's
    op launches: 0.35 ms less per probe move of a 2-64-64-64-2 MLP (interleaved, in the app).
    """
    global _blas_on_one_thread
    if _blas_on_one_thread:
        return
    from threadpoolctl import threadpool_limits  # here: only the app needs it

    threadpool_limits(1, user_api="blas")
    _blas_on_one_thread = True


def blas_on_one_thread() -> bool:
    """Whether numpy's BLAS is held to one thread (:func:`limit_blas_threads`)."""
    return _blas_on_one_thread
