"""One torch thread for the many small operations of training and attacks.

Training steps and adversarial attacks on 2D classifiers run hundreds of tiny operations; a
second intra-op thread gains nothing on them, and when the other core is busy (the GUI
drawing, another run, another process) the two threads wait on each other at every op.
Measured on this project's 2-core machine under load: a 2-32-32-2 training step took 0.46 ms
on one thread against 6.7 ms on two (48 ms with the Jacobian regularizer), and
``boundary_distance`` for 300 points 0.13 s against 12.6 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch on one intra-op thread inside this block, then restore the previous count.

    Usable as a decorator (``@single_threaded()``) too. With torch's OpenMP backend the count
    belongs to the calling thread (a worker thread setting it leaves the GUI thread's alone;
    tests/test_threads.py checks this), so each block saves and restores its own thread's.
    """
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
