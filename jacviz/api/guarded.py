"""A map made of the caller's code, run off the calling thread with a time limit per call.

``jacviz.show(module)`` hands the app a module held in memory: its ``forward`` is the user's
code, which may loop, sleep or crawl, and the app's GUI thread must never run it nor hang on
it for ever. :class:`GuardedMap` builds the map and evaluates it in a short-lived daemon
thread per chunk of points, and waits for each chunk at most ``time_limit`` seconds. When a
chunk takes longer, the map is *abandoned*: that call and every later one raise
:class:`~jacviz.nets.errors.NetworkError` with one line saying so, which the app reads as a
network that failed (it goes back to the last formula and says why).

A Python thread cannot be killed, so an abandoned call goes on in the background until the
user's code returns (if ever): it keeps using CPU, and the module stays borrowed (in eval
mode, parameters frozen) until then. A network *file* is hosted in a child process instead,
which is killed at its limit (:mod:`jacviz.nets.hosted`); an in-memory module cannot be moved
to another process without copying it, which jacviz never does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from jacviz.math.jacobian import CHUNK_SIZE
from jacviz.math.maps import Map, as_points
from jacviz.nets.errors import NetworkError
from jacviz.nets.hosted import CALL_TIME_LIMIT
from jacviz.support.isolation import error_line

__all__ = ["GuardedMap"]

_Result = TypeVar("_Result")


class GuardedMap:
    """The map ``build()`` returns, evaluated off the calling thread, ``time_limit`` s a chunk.

    Parameters
    ----------
    build : callable
        Returns the map (it may run the user's code, e.g. once to count the outputs); it is
        called in a worker thread too, under the same time limit.
    name : str
        What messages call the map (the module's class name, the callable's name).
    time_limit : float
        Seconds one chunk of at most :data:`~jacviz.math.jacobian.CHUNK_SIZE` points may take.

    Raises
    ------
    NetworkError
        If building takes longer than ``time_limit`` or fails for a reason other than a
        ValueError; a ValueError (an object that is no map) goes on as it is.

    """

    def __init__(
        self, build: Callable[[], Map], name: str, time_limit: float = CALL_TIME_LIMIT
    ) -> None:
        if not time_limit > 0:
            raise ValueError(f"time_limit must be a number of seconds > 0, got {time_limit!r}")
        self.name = name
        self.time_limit = float(time_limit)
        self._abandoned: str | None = None
        self._closed = False
        self._map: Map | None = None
        inner = self._run(build, "its first point", passes=(ValueError,))
        self._map = inner
        self.input_dim: int = inner.input_dim
        self.output_dim: int = inner.output_dim
        method = str(getattr(inner, "jacobian_method", "autograd"))
        self.jacobian_method: str = (
            f"{method}, in a worker thread (at most {self.time_limit:g} s per {CHUNK_SIZE} points)"
        )
        """Which path computes the Jacobians, and where, for the status bar."""
        self.seconds_per_point: float = self._measure()
        """Time per point of values and Jacobians on one chunk, for the work budget."""

    @property
    def abandoned(self) -> str | None:
        """Why the map is no longer used (a call over its time limit), or None."""
        return self._abandoned

    def close(self) -> None:
        """Stop using the map (the window replaced it): later calls raise NetworkError.

        Drops jacviz's reference to the map, so that the caller's module is not kept alive.
        """
        self._closed = True
        self._map = None

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Values ``(N, m)`` as float64, one chunk of points per worker thread."""
        array = as_points(points, self.input_dim)
        parts = [self._chunk("values", chunk)[0] for chunk in _chunks(array)]
        return np.concatenate(parts) if parts else np.zeros((0, self.output_dim))

    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(N, m)`` and Jacobians ``(N, m, n)`` as float64, chunk by chunk."""
        array = as_points(points, self.input_dim)
        parts = [self._chunk("jacobian", chunk) for chunk in _chunks(array)]
        if not parts:
            return np.zeros((0, self.output_dim)), np.zeros((0, self.output_dim, self.input_dim))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    # ---- running the caller's code -------------------------------------------------------------
    def _measure(self) -> float:
        """Seconds per point of values and Jacobians on a full chunk (the largest call made)."""
        points = np.sin(np.arange(1, CHUNK_SIZE * self.input_dim + 1) * 1.7)
        start = time.perf_counter()
        self._chunk("jacobian", points.reshape(CHUNK_SIZE, self.input_dim))
        return (time.perf_counter() - start) / CHUNK_SIZE

    def _chunk(self, method: str, points: np.ndarray) -> tuple[np.ndarray, ...]:
        map_ = self._map
        if self._closed or map_ is None:
            raise NetworkError(f"{self.name} is no longer shown")

        def work() -> tuple[np.ndarray, ...]:
            if method == "values":
                return (map_.evaluate(points),)
            return map_.evaluate_with_jacobian(points)

        count = len(points)
        return self._run(work, "1 point" if count == 1 else f"{count} points")

    def _run(
        self,
        work: Callable[[], _Result],
        what: str,
        passes: tuple[type[Exception], ...] = (),
    ) -> _Result:
        """``work()`` in a daemon thread; its result, or NetworkError after the time limit."""
        if self._abandoned is not None:
            raise NetworkError(self._abandoned)
        outcome: list[_Result] = []
        failure: list[BaseException] = []
        done = threading.Event()

        def target() -> None:
            try:
                outcome.append(work())
            except BaseException as error:  # the caller's code: anything may come out of it
                failure.append(error)
            finally:
                done.set()

        thread = threading.Thread(target=target, name=f"jacviz: {self.name}", daemon=True)
        thread.start()
        if not done.wait(self.time_limit):
            self._abandoned = (
                f"{self.name} took longer than {self.time_limit:g} s on {what}: jacviz stopped "
                "using it (its call may still be running in the background)"
            )
            raise NetworkError(self._abandoned)
        if failure:
            error = failure[0]
            if isinstance(error, (MemoryError, NetworkError, *passes)):
                raise error
            raise NetworkError(
                f"{self.name} failed on {what}: {type(error).__name__}: {error_line(error)}"
            ) from None
        return outcome[0]


def _chunks(points: np.ndarray) -> list[np.ndarray]:
    return [points[i : i + CHUNK_SIZE] for i in range(0, len(points), CHUNK_SIZE)]
