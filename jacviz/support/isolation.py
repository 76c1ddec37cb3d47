"""Run work that may never end in a child process, with a time limit that really stops it.

Some of what users hand jacviz runs code we cannot bound in advance: a TorchScript network's
``forward`` may loop forever or allocate gigabytes, and a formula that passes every size guard
may still send sympy into minutes of exact arithmetic inside one C call. A thread cannot be
stopped, and a signal handler never runs while C code holds the interpreter; a process can
be killed. So such work runs in a child process:

- :class:`Isolated` starts a child that builds one object (a loaded network, say) and then
  answers calls on it; every call has a time limit, after which the child is killed and the
  caller gets :class:`TimeLimitExceeded`. :meth:`Isolated.cancel` kills it from any thread.
- :func:`run_isolated` does one piece of work in a fresh child and returns its answer.
- The child's memory is capped (``RLIMIT_AS``), its ``print`` output and Python warnings are
  captured and summarised in each reply (they never reach the user's terminal or ``--json``),
  and its death (a crash, the memory cap) is reported as :class:`ChildDied`.

Messages between the processes are data only, never pickles: a JSON header and raw arrays of
a few plain dtypes (:func:`pack`, :func:`unpack`), so even a child subverted by a crafted file
cannot make the parent run anything.

Children start from a *fork server* on POSIX (a clean process started once, with jacviz's
modules already imported: starting a child then takes milliseconds, and it never inherits the
GUI's threads or torch's thread pool, which would deadlock a plain ``fork``); on Windows they
are spawned. :func:`warm_up` starts the fork server ahead of time.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import re
import sys
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from jacviz.support.text_input import MAX_LINE, one_line

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "CancelScope",
    "Cancelled",
    "ChildDied",
    "ChildFailed",
    "Isolated",
    "IsolationError",
    "Reply",
    "Server",
    "TimeLimitExceeded",
    "error_line",
    "pack",
    "run_isolated",
    "unpack",
    "warm_up",
]

DEFAULT_MEMORY_LIMIT: int = 3 * 1024**3
"""Bytes of memory a child may allocate beyond what it has when it starts."""

PRELOAD = (
    "jacviz.support.isolation",
    "jacviz.math.maps",
    "jacviz.math.formula.parse",
    "jacviz.nets.hosted",
    "jacviz.nets.networks",
)
"""Modules the fork server imports once, so that children start with them loaded.

``jacviz.math.formula.parse`` brings sympy (about 0.7 s to import): every formula the user
types is checked in a child, which would otherwise import it each time. The server imports
it in its own process, after the window's first paint (see :func:`warm_up`)."""

_MAX_HEADER = 1 << 20  # a reply's JSON header; arrays carry the bulk
_DTYPES = {"float64": np.float64, "float32": np.float32, "int64": np.int64, "bool": np.bool_}
_NOTE_LENGTH = 160


class IsolationError(Exception):
    """Work in a child process did not give an answer; ``str()`` is one line saying why."""


class TimeLimitExceeded(IsolationError):
    """The child was still working when its time limit ran out, so it was killed."""


class Cancelled(IsolationError):
    """The work was cancelled (:meth:`Isolated.cancel`) and its child killed."""


class ChildDied(IsolationError):
    """The child process ended without answering: a crash, or its memory cap."""


class ChildFailed(IsolationError):
    """The work raised an exception in the child; the message is its one-line summary.

    ``kind`` is the exception's class name (e.g. ``"NetworkError"``), so that callers can
    turn it back into their own error type.
    """

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


# ---- messages: a JSON header and plain arrays ------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One message: a JSON-able ``header`` and a list of plain numpy ``arrays``."""

    header: dict[str, Any] = field(default_factory=dict)
    arrays: tuple[np.ndarray, ...] = ()


def pack(message: Reply) -> bytes:
    """Encode ``message`` as bytes: 4-byte header length, JSON header, then raw arrays."""
    arrays = [np.ascontiguousarray(a) for a in message.arrays]
    for array in arrays:
        if array.dtype.name not in _DTYPES:
            raise TypeError(f"cannot send arrays of dtype {array.dtype}")
    header = {
        "header": message.header,
        "arrays": [[a.dtype.name, list(a.shape)] for a in arrays],
    }
    text = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return b"".join([len(text).to_bytes(4, "little"), text, *(a.tobytes() for a in arrays)])


def unpack(data: bytes) -> Reply:
    """Decode what :func:`pack` made, checking every length, dtype and shape.

    Raises
    ------
    ValueError
        If ``data`` is not a well-formed message (truncated, oversized header, unknown dtype,
        shapes that do not match the bytes).

    """
    if len(data) < 4:
        raise ValueError("truncated message")
    size = int.from_bytes(data[:4], "little")
    if size > _MAX_HEADER or 4 + size > len(data):
        raise ValueError("malformed message header")
    document = json.loads(data[4 : 4 + size].decode("utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("header"), dict):
        raise ValueError("malformed message header")
    descriptions = document.get("arrays")
    if not isinstance(descriptions, list):
        raise ValueError("malformed message header")
    arrays = []
    offset = 4 + size
    for description in descriptions:
        dtype_name, shape = description
        if dtype_name not in _DTYPES or not isinstance(shape, list):
            raise ValueError("malformed array description")
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
            raise ValueError("malformed array shape")
        dtype = np.dtype(_DTYPES[dtype_name])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        end = offset + count * dtype.itemsize
        if end > len(data):
            raise ValueError("truncated array")
        arrays.append(np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape))
        offset = end
    if offset != len(data):
        raise ValueError("trailing bytes after the arrays")
    return Reply(document["header"], tuple(arrays))


# ---- the child's side ------------------------------------------------------------------------


class Server(Protocol):
    """What a factory run by :class:`Isolated` builds in the child.

    ``ready`` is sent to the parent once the object is built (e.g. a network's sizes);
    ``serve(method, request)`` answers each call.
    """

    ready: Reply

    def serve(self, method: str, request: Reply) -> Reply:
        """Answer one call of ``method`` with ``request``'s data."""
        ...


class _Output:
    """The child's stdout and stderr, caught in a temporary file and summarised per reply."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        for fd in (1, 2):
            os.dup2(self._file.fileno(), fd)
        self._seen = 0

    def summary(self) -> dict[str, Any]:
        """What was printed since the last summary: its size and first line, if anything."""
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
        start, end = self._seen, os.fstat(self._file.fileno()).st_size
        if end <= start:
            return {}
        self._file.seek(start)
        head = self._file.read(min(end - start, 4096)).decode("utf-8", "replace")
        self._seen = end
        line = next((x.strip() for x in head.splitlines() if x.strip()), "")
        return {"printed": end - start, "first_line": one_line(line, _NOTE_LENGTH)}


_ERROR_LINE = re.compile(r"(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception)): (.+)")


def error_line(error: BaseException, limit: int = MAX_LINE) -> str:
    """One readable line of at most ``limit`` characters from an exception's message.

    Multi-line messages (TorchScript's, with a traceback of the scripted code) are read for
    their last ``SomeError: ...`` line, where the real error is; otherwise the first line.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = lines[0]
    if len(lines) > 1:
        for line in reversed(lines):
            match = _ERROR_LINE.fullmatch(line)
            if match:
                text = f"{match.group(1)}: {match.group(2)}"
                break
    return one_line(text.rstrip(" :"), limit)


def _limit_memory(extra: int | None) -> None:
    """Cap the child's address space at what it has now plus ``extra`` bytes (POSIX only)."""
    if extra is None:
        return
    try:
        import resource

        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[0])
        current = pages * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        return  # no /proc (macOS) or no resource module (Windows): no cap
    limit = current + extra
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _send(connection: multiprocessing.connection.Connection, message: Reply) -> None:
    connection.send_bytes(pack(message))


def _failure(error: BaseException) -> Reply:
    if isinstance(error, MemoryError):
        return Reply({"error": "it ran out of memory", "kind": "MemoryError"})
    # Long enough for a loader's sentence with its advice; one line all the same.
    return Reply({"error": error_line(error, 1000), "kind": type(error).__name__})


def _annotated(reply: Reply, output: _Output, caught: list[warnings.WarningMessage]) -> Reply:
    notes = dict(output.summary())
    if caught:
        notes["warnings"] = len(caught)
        first = caught[0]
        warning = f"{first.category.__name__}: {first.message}"
        notes["first_warning"] = one_line(warning, _NOTE_LENGTH)
    if not notes:
        return reply
    return Reply({**reply.header, "notes": notes}, reply.arrays)


def _die_with_parent() -> None:
    """End this child when the process that started it ends, even in the middle of its work.

    A child busy in a network's endless loop never reads its pipe, so it would not notice the
    app crash or be killed; it would burn a core for ever (seen here). On Linux the kernel
    kills it when its parent ends (``PR_SET_PDEATHSIG``); elsewhere a thread watches the
    parent. A child started from the fork server has the server as its parent, and the server
    only ends once every holder of its "alive" pipe has: each child gets a copy, so this
    one gives its copy back, and the server (then the child) ends with the app.
    """
    parent = os.getppid()
    try:
        from multiprocessing import forkserver

        server = forkserver._forkserver
        if server._forkserver_alive_fd is not None:
            os.close(server._forkserver_alive_fd)
            server._forkserver_alive_fd = None
    except (AttributeError, OSError):
        pass  # another Python's internals: the watcher below still works
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent ended before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main(
    connection: multiprocessing.connection.Connection,
    factory: Callable[..., Server | Reply],
    args: tuple,
    memory: int | None,
) -> None:
    """Build ``factory(*args)`` and answer calls until the parent hangs up."""
    _die_with_parent()
    output = _Output()
    _limit_memory(memory)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            built = factory(*args)
            reply = built if isinstance(built, Reply) else built.ready
        except BaseException as error:  # the parent reports it; nothing may escape uncaught
            _send(connection, _annotated(_failure(error), output, caught))
            return
        _send(connection, _annotated(reply, output, caught))
        caught.clear()
        if isinstance(built, Reply):
            return
        while True:
            try:
                request = unpack(connection.recv_bytes())
            except (EOFError, OSError):
                return  # the parent closed the connection: done
            try:
                reply = built.serve(str(request.header.get("method", "")), request)
            except BaseException as error:
                reply = _failure(error)
            _send(connection, _annotated(reply, output, caught))
            caught.clear()


# ---- the parent's side -----------------------------------------------------------------------

_context_lock = threading.Lock()
_start_lock = threading.Lock()


@contextmanager
def _main_module_left_alone() -> Iterator[None]:
    """Start children without re-running the parent's main script in them.

    multiprocessing imports the parent's ``__main__`` script in every child it spawns or
    forks from a server, so a script that opens jacviz without an ``if __name__ ==
    "__main__":`` guard would run again (and open another window) in each child. Children
    here only need jacviz's own functions, so the main module is left out of what they are
    told to prepare.
    """
    from multiprocessing import spawn

    original = spawn.get_preparation_data

    def prepared(name: str) -> dict[str, Any]:
        data = original(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    with _start_lock:
        spawn.get_preparation_data = prepared
        try:
            yield
        finally:
            spawn.get_preparation_data = original


def _context() -> multiprocessing.context.BaseContext:
    """Fork server on POSIX (clean, fast children), spawn on Windows."""
    with _context_lock:
        if sys.platform == "win32" or "forkserver" not in multiprocessing.get_all_start_methods():
            return multiprocessing.get_context("spawn")
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))
        return context


def warm_up() -> None:
    """Start the fork server in a background thread, so that the first child starts at once.

    Starting it imports jacviz's core modules in a fresh process (a second or two); the app
    calls this at start-up. Harmless to call more than once, and a no-op on Windows.
    """
    context = _context()
    if context.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    starter = threading.Thread(target=forkserver.ensure_running, name="fork-server", daemon=True)
    starter.start()


class CancelScope:
    """Cancel, from any thread, the isolated work started inside ``with scope:`` blocks.

    The app opens a network or checks a formula on a worker thread inside a scope; when the
    user cancels, or asks for something else, ``scope.cancel()`` kills every child started in
    the scope (and any started later), and the waiting worker gets :class:`Cancelled`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._children: weakref.WeakSet[Isolated] = weakref.WeakSet()
        self._tokens: list[Any] = []

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancelled

    def cancel(self) -> None:
        """Kill the children of this scope; later ones are killed as soon as they start."""
        with self._lock:
            self._cancelled = True
            children = list(self._children)
        for child in children:
            child.cancel()

    def adopt(self, child: Isolated) -> None:
        """Make ``child`` one of this scope's (it is killed at once if the scope is cancelled)."""
        with self._lock:
            if not self._cancelled:
                self._children.add(child)
                return
        child.cancel()

    def __enter__(self) -> CancelScope:
        self._tokens.append(_current_scope.set(self))
        return self

    def __exit__(self, *_exc: object) -> None:
        _current_scope.reset(self._tokens.pop())


_current_scope: ContextVar[CancelScope | None] = ContextVar("cancel_scope", default=None)


class Isolated:
    """An object built and used in a child process, with a time limit on every step.

    Parameters
    ----------
    factory : callable
        A module-level function (children import it by name) returning a :class:`Server`, or
        a :class:`Reply` for one-shot work (the child then exits).
    args : tuple
        Its arguments (plain data: bytes, str, numbers).
    time_limit : float
        Seconds the child may take to build the object; the child is killed after that.
    memory_limit : int or None
        Bytes the child may allocate beyond its start-up size (None: no cap).

    Started inside ``with scope:`` (a :class:`CancelScope`), it is killed when the scope is
    cancelled.

    Raises
    ------
    TimeLimitExceeded, ChildDied, ChildFailed, Cancelled
        If building the object did not give an answer (see :meth:`call`).

    """

    def __init__(
        self,
        factory: Callable[..., Server | Reply],
        args: tuple = (),
        *,
        time_limit: float,
        memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    ) -> None:
        context = _context()
        receiver, sender = context.Pipe(duplex=True)
        self._connection = receiver
        self._lock = threading.Lock()
        self._stopped: IsolationError | None = None
        self._process = context.Process(
            target=_child_main,
            args=(sender, factory, args, memory_limit),
            daemon=True,
            name="jacviz-isolated",
        )
        self.notes: list[dict[str, Any]] = []
        """What the child printed or warned, one summary per answer that had any."""
        with _main_module_left_alone():
            self._process.start()
        sender.close()
        scope = _current_scope.get()
        if scope is not None:
            scope.adopt(self)
        try:
            with self._lock:
                self.ready = self._answer(time_limit, "starting")
        except BaseException:
            self.close()
            raise
        self._keep_notes(self.ready)

    @property
    def alive(self) -> bool:
        """True while the child can answer calls."""
        return self._stopped is None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        """The child's process id (for diagnostics), or None once it is gone."""
        return self._process.pid if self._process.is_alive() else None

    def call(
        self,
        method: str,
        header: dict[str, Any] | None = None,
        arrays: Sequence[np.ndarray] = (),
        *,
        time_limit: float,
    ) -> Reply:
        """Ask the child to run ``method`` on the given data; wait at most ``time_limit`` s.

        Calls from several threads are answered one after the other.

        Raises
        ------
        TimeLimitExceeded
            No answer in time: the child was killed, and every later call raises too.
        Cancelled
            :meth:`cancel` was called during this call.
        ChildDied
            The child crashed or hit its memory cap, or was stopped before this call.
        ChildFailed
            The method raised; the child lives on for further calls.

        """
        request = Reply({**(header or {}), "method": method}, tuple(arrays))
        with self._lock:
            if self._stopped is not None:
                raise ChildDied(f"it was stopped earlier: {self._stopped}")
            try:
                self._connection.send_bytes(pack(request))
            except (OSError, ValueError):
                self._stop(ChildDied("it stopped unexpectedly"))
                raise type(self._stopped)(str(self._stopped)) from None  # type: ignore[arg-type]
            reply = self._answer(time_limit, method)
        self._keep_notes(reply)
        return reply

    def cancel(self) -> None:
        """Kill the child now, from any thread; a call waiting on it raises :class:`Cancelled`."""
        self._stop(Cancelled("cancelled"))

    def close(self) -> None:
        """Stop the child (idempotent); later calls raise :class:`Cancelled`."""
        self._stop(Cancelled("closed"))
        self._connection.close()

    def __enter__(self) -> Isolated:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None and process.is_alive():
            process.kill()

    # ---- internals ------------------------------------------------------------------------------
    def _stop(self, reason: IsolationError) -> None:
        if self._stopped is None:
            self._stopped = reason
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5)

    def _answer(self, time_limit: float, what: str) -> Reply:
        """The child's next message, or the reason there is none (the child is then gone)."""
        connection = self._connection
        try:
            ready = connection.poll(max(0.0, time_limit))
            data = connection.recv_bytes() if ready else None
        except (EOFError, OSError):
            data, ready = None, True
        if self._stopped is not None:  # cancelled meanwhile
            raise type(self._stopped)(str(self._stopped))
        if not ready:
            self._stop(TimeLimitExceeded(f"took longer than {time_limit:g} s ({what})"))
            raise type(self._stopped)(str(self._stopped))  # type: ignore[arg-type]
        if data is None:
            self._process.join(5)
            code = self._process.exitcode
            self._stop(ChildDied(_death(code)))
            raise type(self._stopped)(str(self._stopped))  # type: ignore[arg-type]
        try:
            reply = unpack(data)
        except ValueError as error:
            self._stop(ChildDied(f"it sent a malformed answer ({error})"))
            raise type(self._stopped)(str(self._stopped)) from None  # type: ignore[arg-type]
        problem = reply.header.get("error")
        if problem is not None:
            self._keep_notes(reply)
            if not self._process.is_alive() or what == "starting":
                self._process.join(5)  # a failed start ends the child
            raise ChildFailed(str(problem), str(reply.header.get("kind", "")))
        return reply

    def _keep_notes(self, reply: Reply) -> None:
        notes = reply.header.get("notes")
        if isinstance(notes, dict):
            self.notes.append(notes)


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGKILL":
            return "its process was killed (out of memory?)"
        return f"its process crashed ({name})"
    return f"its process ended unexpectedly (exit status {code})"


def run_isolated(
    function: Callable[..., Reply],
    *args: Any,
    time_limit: float,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> Reply:
    """Run ``function(*args)`` in a fresh child process and return its :class:`Reply`.

    ``function`` must be a module-level function returning a :class:`Reply`.

    Raises
    ------
    TimeLimitExceeded, ChildDied, ChildFailed
        As for :class:`Isolated`.

    """
    with Isolated(function, args, time_limit=time_limit, memory_limit=memory_limit) as child:
        return child.ready
