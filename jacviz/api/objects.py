"""Turn what a script holds into a :class:`~jacviz.math.maps.Map`: the API's one entry door.

Every function of ``import jacviz`` accepts the same things: a formula string, a torch
``nn.Module`` (any module), a plain callable on ``(N, d)`` tensors, or the path of a network
file. :func:`opened_map` reads one into a map, and anything else is refused with one line.
A module held in memory is used where it is, never copied to disk, and handed back as it
came: its training mode and its parameters' ``requires_grad`` are restored after every call,
and no hook is added.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from jacviz.math.maps import FormulaMap, Map, TorchMap, as_points

if TYPE_CHECKING:  # a formula never needs torch: it is imported where a module is used
    import torch

MapLike = Union[str, "os.PathLike[str]", "torch.nn.Module", Callable[..., Any]]
"""What the API accepts as a map: formula text, a module, a callable, or a network file."""

NETWORK_SUFFIXES = (".safetensors", ".pt", ".pth", ".pt2", ".ts", ".jit")
"""File endings read as a network file when a string names no existing file."""


class ObjectError(ValueError):
    """What the API was given cannot be read as a map; the message says why in one line."""


class Borrowing:
    """Use a module in eval mode with its parameters frozen, then hand it back as it was.

    Eval mode makes the map fixed (dropout off, batch norm's running statistics); freezing
    keeps autograd from building graphs through the weights. Each submodule's ``training``
    flag and each parameter's ``requires_grad`` come back when the last user is done: the
    app evaluates a map from its GUI thread and its heatmap thread at once, and the first to
    finish must not switch the module back under the other.
    """

    def __init__(self, module: torch.nn.Module):
        self._module = module
        self._lock = threading.Lock()
        self._users = 0
        self._modes: list[tuple[torch.nn.Module, bool]] = []
        self._grads: list[tuple[torch.nn.Parameter, bool]] = []

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                self._modes = [(m, m.training) for m in self._module.modules()]
                self._grads = [(p, p.requires_grad) for p in self._module.parameters()]
                self._module.eval()
                for parameter, _ in self._grads:
                    parameter.requires_grad_(False)
            self._users += 1

    def __exit__(self, *_exception: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                for submodule, training in self._modes:
                    submodule.training = training
                for parameter, requires_grad in self._grads:
                    parameter.requires_grad_(requires_grad)


def is_module(obj: object) -> bool:
    """Whether ``obj`` is a torch ``nn.Module``, without importing torch to find out.

    If torch was never imported, nothing the caller holds can be a module.
    """
    torch_module = sys.modules.get("torch")
    return torch_module is not None and isinstance(obj, torch_module.nn.Module)


def _callable_module(
    function: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype
) -> torch.nn.Module:
    """A plain callable seen as a module, so that :class:`TorchMap` can run it."""
    import torch

    class CallableModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.function = function
            self.dtype = dtype
            # A weightless marker, so that TorchMap computes in the callable's dtype.
            marker = torch.nn.Parameter(torch.empty(0, dtype=dtype), requires_grad=False)
            self.register_parameter("dtype_marker", marker)

        def forward(self, points: torch.Tensor) -> torch.Tensor:
            output = self.function(points.to(self.dtype))
            return output.unsqueeze(1) if output.ndim == 1 else output

    return CallableModule()


class ModuleMap:
    """A module or callable held by the caller, as a :class:`~jacviz.math.maps.Map`.

    Jacobians come from :class:`~jacviz.math.maps.TorchMap`: forward tangents through a
    chain of Linear layers and activations, autograd for anything else. The module is
    borrowed (:class:`Borrowing`) for each call only.
    """

    def __init__(self, module: torch.nn.Module, name: str, input_dim: int):
        self._borrowing = Borrowing(module)
        with self._borrowing:
            output_dim = _output_dim(module, input_dim, name)
            self._torch = TorchMap(module, name, input_dim, output_dim)

    @property
    def name(self) -> str:
        """The module's class name, or the callable's name."""
        return self._torch.name

    @property
    def input_dim(self) -> int:
        """Number of inputs n."""
        return self._torch.input_dim

    @property
    def output_dim(self) -> int:
        """Number of outputs m."""
        return self._torch.output_dim

    @property
    def jacobian_method(self) -> str:
        """``"forward tangents"`` or ``"autograd"``: how Jacobians are computed."""
        return self._torch.jacobian_method

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Values ``(N, m)`` as float64."""
        with self._borrowing:
            return self._torch.evaluate(points)

    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(N, m)`` and Jacobians ``(N, m, n)`` as float64."""
        with self._borrowing:
            return self._torch.evaluate_with_jacobian(points)


def _output_dim(module: torch.nn.Module, input_dim: int, name: str) -> int:
    """Number of outputs, from one evaluation at the origin; an ObjectError if it fails."""
    import torch

    parameter = next(module.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    try:
        with torch.no_grad():
            output = module(torch.zeros(1, input_dim, dtype=dtype))
    except Exception as error:  # the user's code: any failure is theirs to read
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ObjectError(
            f"{name} failed on a batch of shape (1, {input_dim}): {type(error).__name__}: {first}"
        ) from None
    if not isinstance(output, torch.Tensor) or output.ndim not in (1, 2) or len(output) != 1:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ObjectError(f"{name} must map (N, {input_dim}) tensors to (N, m); got {shape}")
    return 1 if output.ndim == 1 else int(output.shape[1])


def _callable_dtype(
    function: Callable[[torch.Tensor], torch.Tensor], input_dim: int
) -> torch.dtype:
    """float64 if ``function`` accepts float64 input, else float32 (weights it closes over)."""
    import torch

    try:
        with torch.no_grad():
            function(torch.zeros(1, input_dim, dtype=torch.float64))
    except Exception:  # tried again in float32, where the errors are reported
        return torch.float32
    return torch.float64


def is_network_path(obj: object) -> bool:
    """Whether ``obj`` names a network file rather than holding formula text."""
    if isinstance(obj, os.PathLike):
        return True
    if not isinstance(obj, str):
        return False
    return Path(obj).suffix.lower() in NETWORK_SUFFIXES or os.path.isfile(obj)


def checked_activation(path: str | os.PathLike[str], activation: str | None) -> str | None:
    """``activation`` for the network file at ``path``, checked; an ObjectError if it lacks one.

    A state dict (``torch.save(model.state_dict())``) holds no activation, so one must be
    given; for other files ``activation`` is not used.
    """
    from jacviz.nets.networks import ACTIVATIONS, is_state_dict_file

    if activation is not None and activation not in ACTIVATIONS:
        raise ObjectError(
            f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r:.40}"
        )
    if activation is None and is_state_dict_file(path):
        raise ObjectError(
            f"{Path(path).name} is a PyTorch state dict (torch.save(model.state_dict())): it "
            "holds the weights but not the activation; pass activation='tanh' (or "
            f"{', '.join(list(ACTIVATIONS)[1:])}) and jacviz rebuilds an nn.Sequential of "
            "Linear layers with it"
        )
    return activation


def hand_activation(path: str, activation: str | None) -> None:
    """Check ``activation`` for the network file ``path`` and give it to the app's loader.

    For the entry points that open the file in the app's window (render, animate, show),
    as ``jacviz FILE --activation`` does. Raises ObjectError as :func:`checked_activation`.
    """
    activation = checked_activation(path, activation)
    if activation is not None:
        from jacviz.gui.mapview.loaded_network import choose_activation

        choose_activation(path, activation)


@contextmanager
def opened_map(obj: MapLike, input_dim: int = 2, activation: str | None = None) -> Iterator[Map]:
    """The map ``obj`` stands for, closed (a hosted network's child ended) on exit.

    ``input_dim`` is the number of inputs a module or callable takes (it cannot say);
    formulas always have 2, a network file says how many. ``activation`` is that of a
    state dict file (see :func:`checked_activation`).

    Raises
    ------
    ObjectError
        With one line saying why ``obj`` is not a map jacviz can read.

    """
    from jacviz.math.formula import FormulaError

    if is_network_path(obj):
        from jacviz.nets.networks import NetworkError, load_network  # torch: networks only

        try:
            activation = checked_activation(obj, activation)  # type: ignore[arg-type]
            map_ = load_network(os.fspath(obj), activation=activation).as_map()  # type: ignore[arg-type]
        except NetworkError as error:
            raise ObjectError(str(error)) from None
        try:
            yield map_
        finally:
            close = getattr(map_, "close", None)
            if close is not None:
                close()
        return
    if isinstance(obj, str):
        try:
            formula = FormulaMap.from_text(obj)
        except FormulaError as error:
            raise ObjectError(f"bad formula: {error}") from None
        yield formula
        return
    yield module_map(obj, input_dim)


def in_memory_name(obj: object) -> str:
    """What messages call a module (its class name) or a callable (its ``__name__``).

    Raises ObjectError for anything that is neither.
    """
    if is_module(obj):
        return type(obj).__name__
    if callable(obj):
        return str(getattr(obj, "__name__", type(obj).__name__))
    raise ObjectError(
        f"cannot read a {type(obj).__name__} as a map: pass formula text like "
        '"x**2 + y, x*y", a torch nn.Module, a callable on (N, d) tensors, or a network file'
    )


def module_map(obj: object, input_dim: int = 2) -> ModuleMap:
    """The module or callable ``obj`` as a map of ``input_dim`` inputs, used where it is.

    Runs ``obj`` once (on the origin, to count its outputs; a callable also once in float64
    to find its dtype). Raises ObjectError, with one line, for anything else or a failure.
    """
    name = in_memory_name(obj)
    if is_module(obj):
        return ModuleMap(obj, name, input_dim)  # type: ignore[arg-type]
    module = _callable_module(obj, _callable_dtype(obj, input_dim))  # type: ignore[arg-type]
    return ModuleMap(module, name, input_dim)


def points_of(at: object, what: str = "at") -> np.ndarray:
    """``at`` as a 1-D float64 point, or an ObjectError saying what it should be."""
    try:
        point = np.asarray(at, dtype=np.float64)
    except (TypeError, ValueError):
        point = np.empty((0, 0))
    if point.ndim != 1 or point.size == 0:
        raise ObjectError(f"{what} must be a point like (1.0, 2.0), got {at!r}")
    return as_points(point, point.size)[0]
