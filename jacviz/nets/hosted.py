"""Networks whose files carry code run in a child process, stopped when they take too long.

A TorchScript or ``torch.export`` network is code: its ``forward`` may loop forever, crawl,
allocate gigabytes, print, or fail only for some batch sizes. :class:`HostedNetwork` loads
such a file in a child process (:mod:`jacviz.support.isolation`) and is the parent's handle on
it: a :class:`~jacviz.math.maps.Map` whose values and Jacobians are computed over there, one
chunk of points per call, each call with a time limit after which the child is killed.

Loading checks the network where it will be used: the file's screening and small-batch checks
(by the ``load`` function the caller hands over; for network files,
:func:`jacviz.nets.networks.loading.load_in_process`), then values *and* Jacobians on a batch
as large as any the parent will send (:data:`~jacviz.math.jacobian.CHUNK_SIZE`), so a forward
that only fails or loops for large batches is refused at once rather than in the middle of
drawing.

This module does not import :mod:`jacviz.nets.networks`: that package's loader creates
hosted networks, so it depends on this module, and the loader reaches the child as an argument.
Both raise :class:`~jacviz.nets.errors.NetworkError`, which sits below them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from jacviz.math.jacobian import CHUNK_SIZE
from jacviz.math.maps import Map, as_points
from jacviz.nets.errors import NetworkError
from jacviz.support.isolation import (
    DEFAULT_MEMORY_LIMIT,
    Cancelled,
    ChildFailed,
    Isolated,
    IsolationError,
    Reply,
    TimeLimitExceeded,
)

__all__ = [
    "CALL_TIME_LIMIT",
    "LOAD_TIME_LIMIT",
    "MEMORY_LIMIT",
    "HostedNetwork",
    "LoadCancelled",
    "LocalNetwork",
    "NetworkLoader",
    "jacobian_method",
]

LOAD_TIME_LIMIT: float = 60.0
"""Seconds a network may take to load and pass its checks (values and Jacobians on a chunk)."""
CALL_TIME_LIMIT: float = 30.0
"""Seconds a network may take for one chunk of points (values, or values and Jacobians)."""

MEMORY_LIMIT: int = DEFAULT_MEMORY_LIMIT
"""Bytes a network's process may allocate beyond its start-up size."""

JACOBIAN_METHOD = "autograd, in a separate process"


class LoadCancelled(Exception):
    """Loading was cancelled by the user (:meth:`HostedNetwork.cancel`); not an error."""


class LocalNetwork(Protocol):
    """A network loaded and checked in the child's own process (a ``LoadedNetwork``)."""

    @property
    def input_dim(self) -> int:
        """Number of inputs n."""
        ...

    @property
    def output_dim(self) -> int:
        """Number of outputs m."""
        ...

    @property
    def format(self) -> str:
        """The file's format, e.g. ``"torchscript"``."""
        ...

    @property
    def metadata(self) -> dict[str, object]:
        """The JSON metadata stored with the network."""
        ...

    def as_map(self) -> Map:
        """The network as a map, evaluated in the child."""
        ...


NetworkLoader = Callable[[bytes, str], LocalNetwork]
"""Turns a network file's bytes and name into a checked network, in the calling process.

It runs in the child, which gets it by reference: it must be a module-level function (such
as :func:`jacviz.nets.networks.loading.load_in_process`), and it raises
:class:`~jacviz.nets.errors.NetworkError` for files it refuses.
"""


class HostedNetwork:
    """A network file's code running in a child process, seen as a map R^n -> R^m.

    Create it with :func:`jacviz.nets.networks.load_network` (which picks hosting for
    TorchScript and ``torch.export`` files, and passes its in-process loader as ``load``). It
    has the attributes of a :class:`~jacviz.nets.networks.LoadedNetwork` (``name``,
    ``input_dim``, ``output_dim``, ``format``, ``metadata``) except ``module``, and is its own
    map (:meth:`as_map`).

    Every method that runs the network raises :class:`~jacviz.nets.networks.NetworkError` with
    one line if it fails, and, if the child had to be stopped (time limit, crash, memory cap,
    :meth:`cancel`), every later call raises too.
    """

    jacobian_method = JACOBIAN_METHOD

    def __init__(
        self,
        data: bytes,
        name: str,
        *,
        load: NetworkLoader,
        load_time_limit: float | None = None,
        call_time_limit: float | None = None,
        memory_limit: int | None = None,
    ) -> None:
        # Defaults are read now, not at import, so that a test (or a setting) can change them.
        load_time_limit = LOAD_TIME_LIMIT if load_time_limit is None else load_time_limit
        call_time_limit = CALL_TIME_LIMIT if call_time_limit is None else call_time_limit
        memory_limit = MEMORY_LIMIT if memory_limit is None else memory_limit
        self.name = name
        self.call_time_limit = float(call_time_limit)
        try:
            self._child = Isolated(
                _serve_network,
                (load, bytes(data), name, CHUNK_SIZE),
                time_limit=load_time_limit,
                memory_limit=memory_limit,
            )
        except Cancelled:
            raise LoadCancelled(f"opening {name} was cancelled") from None
        except TimeLimitExceeded:
            raise NetworkError(
                f"{name} was stopped: loading and checking it took longer than "
                f"{load_time_limit:g} s (its forward pass may never end)"
            ) from None
        except ChildFailed as error:
            raise NetworkError(_failure_message(name, error)) from None
        except IsolationError as error:
            raise NetworkError(f"{name} could not be loaded: {error}") from None
        header = self._child.ready.header
        self.input_dim: int = int(header["input_dim"])
        self.output_dim: int = int(header["output_dim"])
        self.format: str = str(header["format"])
        self.metadata: dict[str, object] = dict(header.get("metadata") or {})
        self.jacobian_method: str = str(header.get("jacobian_method") or JACOBIAN_METHOD)
        """Which path computes the Jacobians, in the child, for the status bar."""
        self.seconds_per_point: float = float(header.get("seconds_per_point", 0.0))
        """Time per point of values and Jacobians, measured when the network was checked."""

    # ---- the network ----------------------------------------------------------------------------
    @property
    def module(self) -> None:
        """Hosted networks have no module in this process (their code runs in the child)."""
        return None

    @property
    def alive(self) -> bool:
        """True while the network can still be evaluated."""
        return self._child.alive

    def as_map(self) -> HostedNetwork:
        """The network as a map: itself."""
        return self

    def notes(self) -> list[str]:
        """What the network's code printed or warned so far, summarised in plain words."""
        lines = []
        for note in self._child.notes:
            if note.get("printed"):
                lines.append(
                    f"{self.name} printed {note['printed']} bytes (first line: "
                    f"{note.get('first_line', '')!r})"
                )
            if note.get("warnings"):
                lines.append(
                    f"{self.name} raised {note['warnings']} warning(s) (first: "
                    f"{note.get('first_warning', '')})"
                )
        return list(dict.fromkeys(lines))

    def cancel(self) -> None:
        """Stop the network's process now, from any thread (e.g. the window closes)."""
        self._child.cancel()

    def close(self) -> None:
        """Stop the network's process; later calls raise NetworkError."""
        self._child.close()

    # ---- the Map protocol -----------------------------------------------------------------------
    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Values ``(N, m)`` as float64, computed in the child one chunk at a time."""
        array = as_points(points, self.input_dim)
        parts = [self._call("values", chunk)[0] for chunk in _chunks(array)]
        if not parts:
            return np.zeros((0, self.output_dim))
        return np.concatenate(parts)

    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(N, m)`` and Jacobians ``(N, m, n)`` as float64, by autograd in the child."""
        array = as_points(points, self.input_dim)
        parts = [self._call("jacobian", chunk) for chunk in _chunks(array)]
        if not parts:
            return np.zeros((0, self.output_dim)), np.zeros((0, self.output_dim, self.input_dim))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _call(self, method: str, points: np.ndarray) -> tuple[np.ndarray, ...]:
        try:
            reply = self._child.call(method, arrays=[points], time_limit=self.call_time_limit)
        except TimeLimitExceeded:
            raise NetworkError(
                f"{self.name} was stopped: it took longer than {self.call_time_limit:g} s on "
                f"{_points(len(points))}"
            ) from None
        except ChildFailed as error:
            raise NetworkError(_failure_message(self.name, error, len(points))) from None
        except IsolationError as error:
            raise NetworkError(f"{self.name} is not running any more: {error}") from None
        m, n = self.output_dim, self.input_dim
        shapes = [(len(points), m)] + ([(len(points), m, n)] if method == "jacobian" else [])
        arrays = reply.arrays
        if [a.shape for a in arrays] != shapes or any(a.dtype != np.float64 for a in arrays):
            raise NetworkError(f"{self.name} answered with arrays of the wrong shape")
        return arrays


def _points(count: int) -> str:
    return "1 point" if count == 1 else f"{count} points"


def _chunks(points: np.ndarray) -> list[np.ndarray]:
    return [points[i : i + CHUNK_SIZE] for i in range(0, len(points), CHUNK_SIZE)]


def _failure_message(name: str, error: ChildFailed, points: int | None = None) -> str:
    if error.kind == "NetworkError":
        return str(error)  # the loader's own sentence, which names the file
    if error.kind == "MemoryError":
        where = f" on {_points(points)}" if points else " while loading"
        return f"{name} was stopped: it ran out of the memory jacviz allows it{where}"
    where = f" on a batch of {_points(points)}" if points else " while loading"
    return f"{name} failed{where}: {error}"


# ---- in the child ------------------------------------------------------------------------------


class _NetworkServer:
    """The child's side: the loaded network, answering "values" and "jacobian" calls."""

    def __init__(self, load: NetworkLoader, data: bytes, name: str, chunk: int) -> None:
        import torch

        # One thread: the child shares the machine with the app, and torch's two-thread ops
        # slow down many times over when the other core is busy.
        torch.set_num_threads(1)
        network = load(data, name)
        self._map = network.as_map()
        self._name = name
        self._m, self._n = network.output_dim, network.input_dim
        # The largest batch the parent sends, values and Jacobians: a forward that fails,
        # allocates or loops only for big batches is refused now, not while drawing.
        points = np.sin(np.arange(1, chunk * self._n + 1, dtype=np.float64) * 1.7)
        points = points.reshape(chunk, self._n)
        start = time.perf_counter()
        values, jacobian = self._check("jacobian", points)
        seconds = (time.perf_counter() - start) / chunk
        if not (np.isfinite(values).all() and np.isfinite(jacobian).all()):
            raise NetworkError(
                f"{name} gives NaN or infinite values or derivatives at ordinary points in [-1, 1]"
            )
        self.ready = Reply(
            {
                "input_dim": self._n,
                "output_dim": self._m,
                "format": network.format,
                "metadata": _plain(network.metadata),
                "jacobian_method": jacobian_method(self._map, network),
                "seconds_per_point": seconds,
            }
        )

    def serve(self, method: str, request: Reply) -> Reply:
        (points,) = request.arrays
        if points.ndim != 2 or points.shape[1] != self._n or points.dtype != np.float64:
            raise ValueError("malformed request")
        return Reply(arrays=self._check(method, points))

    def _check(self, method: str, points: np.ndarray) -> tuple[np.ndarray, ...]:
        if method == "values":
            arrays: tuple[np.ndarray, ...] = (self._map.evaluate(points),)
        elif method == "jacobian":
            arrays = self._map.evaluate_with_jacobian(points)
        else:
            raise ValueError(f"unknown method {method!r}")
        batch = len(points)
        expected = [(batch, self._m), (batch, self._m, self._n)][: len(arrays)]
        for array, shape in zip(arrays, expected, strict=True):
            if array.shape != shape:
                raise NetworkError(
                    f"{self._name} maps a batch of {batch} points to shape {array.shape[:2]}, "
                    f"not ({batch}, {self._m}): its outputs depend on the batch size"
                )
        return tuple(np.ascontiguousarray(a, dtype=np.float64) for a in arrays)


def jacobian_method(map_: Map, network: LocalNetwork) -> str:
    """Which path computes a hosted network's Jacobians: the map's method, through what.

    E.g. "autograd through torch.func.vmap over the torch.export program for one point, in a
    separate process", so that a slow path is never silent.
    """
    method = str(getattr(map_, "jacobian_method", "autograd"))
    evaluation = str(getattr(network, "evaluation", "") or "")
    if not evaluation and network.format == "torchscript":
        evaluation = "the TorchScript module"
    through = f" through {evaluation}" if evaluation else ""
    return f"{method}{through}, in a separate process"


def _plain(value: Any) -> Any:
    """``value`` as strict JSON data (no NaN): the metadata crosses to the parent as JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _serve_network(load: NetworkLoader, data: bytes, name: str, chunk: int) -> _NetworkServer:
    """The child's factory (module level, so that children can import it by name)."""
    return _NetworkServer(load, data, name, chunk)
