"""single_threaded: one torch thread inside the block, the previous count restored after."""

import subprocess
import sys
import threading

import torch

from jacviz.support.threads import single_threaded


def test_nested_blocks_and_decorator_restore_the_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:

        @single_threaded()
        def inner() -> int:
            return torch.get_num_threads()

        with single_threaded():
            assert torch.get_num_threads() == 1
            assert inner() == 1
            assert torch.get_num_threads() == 1  # the inner block did not restore early
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_worker_thread_block_leaves_the_calling_threads_count_alone():
    # The premise of the per-thread save/restore: a training worker going single-threaded
    # must not make the GUI thread's heatmap computations single-threaded too.
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    inside, main_meanwhile = [], []
    entered, release = threading.Event(), threading.Event()

    def worker() -> None:
        with single_threaded():
            inside.append(torch.get_num_threads())
            entered.set()
            release.wait(5)

    try:
        thread = threading.Thread(target=worker)
        thread.start()
        entered.wait(5)
        main_meanwhile.append(torch.get_num_threads())
        release.set()
        thread.join(5)
        assert inside == [1]
        assert main_meanwhile == [2]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_importing_the_policy_does_not_import_torch():
    # Formula paths import jacviz.support without paying torch's import time.
    code = "import sys, jacviz.support.threads; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_worker_policy_is_one_thread_and_restores_the_count():
    from jacviz.support.threads import WORKER_THREADS, torch_threads, worker_threads

    assert WORKER_THREADS == 1
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with worker_threads():
            assert torch.get_num_threads() == 1
            with torch_threads(2):
                assert torch.get_num_threads() == 2
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_apps_blas_policy_holds_numpy_to_one_thread_and_only_when_asked():
    """jacviz's API leaves numpy's BLAS as it found it; limit_blas_threads (the app's) holds it
    to one thread, once, for the whole process (checked in a clean one)."""
    import subprocess
    import sys

    script = (
        "import numpy, jacviz\n"
        "from threadpoolctl import threadpool_info\n"
        "from jacviz.support.threads import blas_on_one_thread, limit_blas_threads\n"
        "def blas(): return [i['num_threads'] for i in threadpool_info()"
        " if i['user_api'] == 'blas']\n"
        "before = blas()\n"
        "jacviz.probe('x**2 + y, x*y', (1.0, 2.0))\n"
        "assert blas() == before and not blas_on_one_thread(), (blas(), before)\n"
        "limit_blas_threads(); limit_blas_threads()\n"
        "assert blas_on_one_thread() and blas() and set(blas()) == {1}, blas()\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
