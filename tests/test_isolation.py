"""Work in a child process: answers as plain data, time limits that really stop it.

The child-side functions live at module level so that children import them by name.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
import warnings

import numpy as np
import pytest

from jacviz.support.isolation import (
    PRELOAD,
    Cancelled,
    ChildDied,
    ChildFailed,
    Isolated,
    Reply,
    TimeLimitExceeded,
    pack,
    run_isolated,
    unpack,
)

# ---- child-side work ---------------------------------------------------------------------


def add_one(values: list) -> Reply:
    return Reply({"pid": os.getpid()}, (np.asarray(values, dtype=np.float64) + 1,))


def sympy_at_start() -> Reply:
    return Reply({"sympy": "sympy" in sys.modules})


def spin_in_python() -> Reply:
    while True:
        pass


def spin_in_c() -> Reply:
    # One C call that holds the interpreter for minutes: no signal handler or thread could
    # interrupt it; only killing the process stops it.
    return Reply({"digits": len(str(3 ** (10**9)))})


def raise_error() -> Reply:
    raise ValueError("first line\nsecond line: the real reason")


def allocate_too_much() -> Reply:
    blocks = [bytearray(256 * 1024 * 1024) for _ in range(64)]  # 16 GB
    return Reply({"blocks": len(blocks)})


def crash() -> Reply:
    os.abort()


def chatty() -> Reply:
    print("hello from the child")
    os.write(1, b"raw bytes on fd 1\n")
    warnings.warn("something odd", UserWarning, stacklevel=1)
    return Reply({"ok": True})


class Counter:
    """A server: counts calls; "sleep" sleeps as long as asked."""

    def __init__(self, start: int) -> None:
        self.count = start
        self.ready = Reply({"start": start})

    def serve(self, method: str, request: Reply) -> Reply:
        if method == "sleep":
            time.sleep(float(request.header["seconds"]))
        if method == "fail":
            raise RuntimeError("this call fails, the server lives on")
        self.count += 1
        return Reply({"count": self.count})


def counter(start: int) -> Counter:
    return Counter(start)


# ---- messages ----------------------------------------------------------------------------


def test_messages_round_trip_plain_arrays():
    arrays = (np.arange(6, dtype=np.float64).reshape(2, 3), np.array([True, False]))
    message = unpack(pack(Reply({"a": [1, "x"]}, arrays)))
    assert message.header == {"a": [1, "x"]}
    for got, sent in zip(message.arrays, arrays, strict=True):
        np.testing.assert_array_equal(got, sent)
        assert got.dtype == sent.dtype


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xff\xff\x7f{}",
        pack(Reply({}, (np.zeros(4),)))[:-1],  # truncated array
        pack(Reply({}, (np.zeros(4),))) + b"x",  # trailing bytes
        pack(Reply({}, (np.zeros(4),))).replace(b"float64", b"object\x00"),
    ],
)
def test_malformed_messages_are_refused(data):
    with pytest.raises(ValueError):
        unpack(data)


def test_objects_are_never_sent():
    with pytest.raises(TypeError):
        pack(Reply({}, (np.array([object()]),)))


# ---- one-shot work -----------------------------------------------------------------------


@pytest.mark.parametrize("name", PRELOAD)
def test_the_fork_server_preloads_modules_that_exist(name):
    # multiprocessing skips a preload module it cannot import without a word, so a renamed
    # module would only make every child slower to start; this notices it.
    importlib.import_module(name)


@pytest.mark.timeout(120)
def test_children_start_with_sympy_loaded_so_a_formula_check_is_quick():
    # Without it in the server, each formula check imported sympy again (~0.8 s, not ~0.1).
    assert run_isolated(sympy_at_start, time_limit=60).header["sympy"] is True


@pytest.mark.timeout(120)
def test_work_runs_in_another_process_and_answers_with_data():
    reply = run_isolated(add_one, [1.0, 2.0], time_limit=60)
    assert reply.header["pid"] != os.getpid()
    np.testing.assert_array_equal(reply.arrays[0], [2.0, 3.0])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("work", [spin_in_python, spin_in_c])
def test_the_time_limit_really_stops_the_work(work):
    with pytest.raises(TimeLimitExceeded, match=r"took longer than 1 s"):
        run_isolated(work, time_limit=1)


@pytest.mark.timeout(120)
def test_an_exception_in_the_child_is_one_line_with_its_kind():
    with pytest.raises(ChildFailed) as raised:
        run_isolated(raise_error, time_limit=60)
    assert raised.value.kind == "ValueError"
    assert str(raised.value) == "first line"


@pytest.mark.timeout(120)
def test_the_memory_cap_stops_a_runaway_allocation():
    with pytest.raises((ChildFailed, ChildDied)) as raised:
        run_isolated(allocate_too_much, time_limit=60, memory_limit=512 * 1024 * 1024)
    assert "memory" in str(raised.value)


@pytest.mark.timeout(120)
def test_a_crash_is_reported_not_felt():
    with pytest.raises(ChildDied, match="crashed"):
        run_isolated(crash, time_limit=60)


@pytest.mark.timeout(120)
def test_output_and_warnings_are_caught_and_summarised(capfd):
    with Isolated(chatty, time_limit=60) as child:
        assert child.ready.header["ok"] is True
        (notes,) = child.notes
    assert notes["first_line"] == "hello from the child"
    assert notes["printed"] == len("hello from the child\nraw bytes on fd 1\n")
    assert notes["warnings"] == 1 and "something odd" in notes["first_warning"]
    out, err = capfd.readouterr()
    assert "hello" not in out + err and "raw bytes" not in out + err


# ---- servers -----------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_a_server_answers_calls_and_survives_their_errors():
    with Isolated(counter, (10,), time_limit=60) as child:
        assert child.ready.header == {"start": 10}
        assert child.call("next", time_limit=60).header == {"count": 11}
        with pytest.raises(ChildFailed, match="the server lives on"):
            child.call("fail", time_limit=60)
        assert child.call("next", time_limit=60).header == {"count": 12}
        assert child.alive


@pytest.mark.timeout(120)
def test_a_call_over_its_time_limit_kills_the_server_for_good():
    with Isolated(counter, (0,), time_limit=60) as child:
        with pytest.raises(TimeLimitExceeded):
            child.call("sleep", {"seconds": 600}, time_limit=1)
        assert not child.alive
        with pytest.raises(ChildDied, match="stopped earlier: took longer than 1 s"):
            child.call("next", time_limit=60)


@pytest.mark.timeout(120)
def test_cancel_from_another_thread_ends_a_waiting_call():
    child = Isolated(counter, (0,), time_limit=60)
    threading.Timer(0.5, child.cancel).start()
    with pytest.raises(Cancelled):
        child.call("sleep", {"seconds": 600}, time_limit=300)
    assert not child.alive
    child.close()


@pytest.mark.timeout(180)
def test_a_script_without_a_main_guard_is_not_run_again_in_children(tmp_path):
    """A user's script that calls jacviz at import time must run once, not once per child."""
    import subprocess
    import sys

    runs = tmp_path / "runs.txt"
    script = tmp_path / "my_script.py"
    script.write_text(
        "from pathlib import Path\n"
        f"with open({str(runs)!r}, 'a') as f:\n"
        "    f.write('run\\n')\n"
        "from jacviz.math.maps import check_formula\n"
        "check_formula('x**2 + y, x*y')\n"
    )
    subprocess.run([sys.executable, str(script)], check=True, timeout=170)
    assert runs.read_text() == "run\n"


@pytest.mark.timeout(180)
def test_a_busy_child_ends_when_its_parent_is_killed(tmp_path):
    """An app that crashes (or is killed) leaves no child looping for ever behind it."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(tmp_path.parent)!r})\n"
        f"sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})\n"
        "from jacviz.support.isolation import Isolated, TimeLimitExceeded\n"
        "from test_isolation import counter\n"
        "child = Isolated(counter, (0,), time_limit=120)\n"
        "print(child.pid, flush=True)\n"
        "child.call('sleep', {'seconds': 600}, time_limit=600)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # alive, and busy in its call
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 60  # a hang guard, not a speed check
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        if _is_zombie(child):
            return
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the child outlived its killed parent")


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.startswith("State:\tZ") for line in status)
    except OSError:
        return True
