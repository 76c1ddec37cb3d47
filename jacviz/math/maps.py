"""One protocol for every map jacviz shows: formula maps and torch networks look the same.

Everything downstream (grids, linearizations, heatmaps, the probe, the app) talks to a
:class:`Map` and receives plain float64 numpy arrays, so a network and a typed formula go
through exactly the same Jacobian-field code (:mod:`jacviz.math.jacobian`).

Formula maps compute in float64 numpy and never import torch; :class:`TorchMap` imports it
when one is made (a network is loaded), so that the app and ``jacviz probe --map`` start
without it. Importing this module imports no sympy either: formulas import it when parsed.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from jacviz.math.formula import FormulaError, count_outputs
from jacviz.math.jacobian import CHUNK_SIZE, JacobianField
from jacviz.math.jacobian.small import model_chain
from jacviz.support.isolation import (
    Cancelled,
    IsolationError,
    Reply,
    TimeLimitExceeded,
    run_isolated,
)

if TYPE_CHECKING:
    import torch

    from jacviz.math.formula import Formula
    from jacviz.math.jacobian.small import NumpyChain


@runtime_checkable
class Map(Protocol):
    """A vectorised map from R^n to R^m with Jacobians.

    Implementations accept points as an ``(N, input_dim)`` array and return float64 arrays:
    values ``(N, output_dim)`` and Jacobians ``(N, output_dim, input_dim)`` with row ``i`` =
    output ``i`` and column ``j`` = input ``j``. Points where the map is not finite give
    inf/NaN entries; they never raise.
    """

    @property
    def name(self) -> str:
        """Short human-readable description (the formula text, or the network's file name)."""
        ...

    @property
    def input_dim(self) -> int:
        """Number of inputs n."""
        ...

    @property
    def output_dim(self) -> int:
        """Number of outputs m."""
        ...

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Values ``(N, m)`` at ``points`` ``(N, n)``."""
        ...

    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(N, m)`` and Jacobians ``(N, m, n)`` at ``points`` ``(N, n)``."""
        ...


def as_points(points: np.ndarray | list | tuple, input_dim: int) -> np.ndarray:
    """Return ``points`` as a C-contiguous float64 ``(N, input_dim)`` array.

    A single point (shape ``(input_dim,)``) becomes a batch of one.

    Raises
    ------
    ValueError
        If the trailing dimension does not match ``input_dim``.

    """
    array = np.ascontiguousarray(points, dtype=np.float64)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2 or array.shape[1] != input_dim:
        raise ValueError(
            f"expected points with {input_dim} coordinates, got an array of shape {array.shape}"
        )
    return array


FORMULA_TIME_LIMIT: float = 10.0
"""Seconds a formula typed by a user may take to parse and differentiate (normally < 0.1)."""


def check_formula(text: str, time_limit: float | None = None) -> None:
    """Raise :class:`FormulaError` unless ``text`` parses within ``time_limit`` seconds.

    The parse runs in a child process that is killed at the limit: sympy's exact arithmetic
    can spend minutes inside one C call on formulas that pass every size guard (say
    ``sinh(3**(y-10**8)), y``), and nothing but a process boundary stops that. Default limit:
    :data:`FORMULA_TIME_LIMIT`, read at call time.

    Raises
    ------
    FormulaError
        With the parser's message and column, or "formula too complex: ..." when the time
        limit ran out (or the child died, e.g. of its memory cap).
    Cancelled
        If the check ran in a :class:`~jacviz.support.isolation.CancelScope` that was cancelled.

    """
    if not isinstance(text, str):
        raise TypeError(f"formula text must be a str, got {type(text).__name__}")
    limit = FORMULA_TIME_LIMIT if time_limit is None else time_limit
    try:
        reply = run_isolated(_parse_verdict, text, time_limit=limit)
    except TimeLimitExceeded:
        message = f"formula too complex: it took longer than {limit:g} s to differentiate"
        raise FormulaError(message) from None
    except Cancelled:
        raise
    except IsolationError as error:
        raise FormulaError(f"formula too complex ({error})") from None
    if "message" in reply.header:
        column = reply.header.get("column")
        column = column if isinstance(column, int) and not isinstance(column, bool) else None
        raise FormulaError(str(reply.header["message"]), column)


def _parse_verdict(text: str) -> Reply:
    """In the child: parse ``text``; the reply is empty, or the error's message and column."""
    from jacviz.math.formula import parse_formula

    try:
        parse_formula(text)
    except FormulaError as error:
        return Reply({"message": error.message, "column": error.column})
    return Reply()


class FormulaMap:
    """A map typed by the user, e.g. ``"x**2 + y, x*y"``, computed in float64.

    Values and Jacobians both come from the parsed formula, in float64 numpy: the Jacobian
    is the lambdified *symbolic* Jacobian, exact up to float64 rounding and cheaper than
    differentiating numerically (about the cost of one more forward pass). No torch.

    Make one with :meth:`from_text`. A formula jacviz wrote itself (``isolated=False``) is
    read as far as its syntax at once, without sympy, and parsed in full when first used
    (:meth:`prepare`, :attr:`formula`, or an evaluation): that is how the app's window shows
    its saved map's text and paints before sympy is imported. Two maps of the same text are
    equal, since parsing is deterministic.
    """

    def __init__(self, text: str, output_dim: int, formula: Formula | None = None) -> None:
        """Prefer :meth:`from_text`; this takes ``text`` already read (``formula`` if parsed).

        ``output_dim`` is the number of outputs the text was read to have.
        """
        self._text = text
        self._output_dim = output_dim
        self._formula = formula
        self._error: FormulaError | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_text(cls, text: str, *, isolated: bool = True) -> FormulaMap:
        """Parse ``text``; raises :class:`jacviz.math.formula.FormulaError` on bad input.

        With ``isolated`` (the default, for anything a user typed or a file held) the text is
        first parsed in a child process with a time limit (:func:`check_formula`), so that no
        formula can hang the caller, then parsed here. ``isolated=False`` is for text jacviz
        wrote itself or accepted before (presets, the default formula, the last map shown):
        its syntax is checked now, without sympy, and the rest of the parse runs on first use,
        where a text hand-edited into the settings may still raise FormulaError.
        """
        if isolated:
            check_formula(text)
            from jacviz.math.formula import parse_formula

            formula = parse_formula(text)
            return cls(text, formula.output_dim, formula)
        return cls(text, count_outputs(text))

    def prepare(self) -> None:
        """Parse the formula now if that is not done yet (thread-safe; sympy is imported).

        Raises
        ------
        FormulaError
            If the text does not parse (only for text given with ``isolated=False``); every
            later use raises the same error.

        """
        self._parsed()

    @property
    def prepared(self) -> bool:
        """Whether the formula is parsed (its first use will not wait for sympy)."""
        return self._formula is not None

    @property
    def formula(self) -> Formula:
        """The parsed formula (parsed now if it is not yet; see :meth:`prepare`)."""
        return self._parsed()

    def _parsed(self) -> Formula:
        formula = self._formula
        if formula is not None:
            return formula
        with self._lock:
            if self._formula is None and self._error is None:
                from jacviz.math.formula import parse_formula

                try:
                    self._formula = parse_formula(self._text)
                except FormulaError as error:
                    self._error = error
            if self._error is not None:
                raise FormulaError(self._error.message, self._error.column)
            assert self._formula is not None
            return self._formula

    def __eq__(self, other: object) -> bool:
        """Maps of the same formula text are the same map."""
        if not isinstance(other, FormulaMap):
            return NotImplemented
        return self._text == other._text

    def __hash__(self) -> int:
        """Hash of the formula text (see :meth:`__eq__`)."""
        return hash(("FormulaMap", self._text))

    def __repr__(self) -> str:
        """``FormulaMap('x**2 + y, x*y')``."""
        return f"FormulaMap({self._text!r})"

    @property
    def name(self) -> str:
        """The formula as the user typed it."""
        return self._text

    @property
    def input_dim(self) -> int:
        """Formulas are always in the two variables x and y."""
        return 2

    @property
    def output_dim(self) -> int:
        """Number of comma-separated components."""
        return self._output_dim

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Values ``(N, m)`` in float64."""
        return self._parsed().evaluate(as_points(points, 2))

    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(N, m)`` and closed-form Jacobians ``(N, m, 2)`` in float64."""
        return self._parsed().evaluate_with_jacobian(as_points(points, 2))


class TorchMap:
    """A torch module seen as a map R^n -> R^m.

    The Jacobian is computed by pushing the input tangent directions through the layers
    (forward mode, by hand) when the module is a walkable chain of Linear layers and
    elementwise activations; otherwise by one forward and m backward passes.
    :attr:`jacobian_method` says which path is used, so a slow fallback is never silent.
    A few points at a time (a probe move) go through the chain in numpy
    (:mod:`jacviz.math.jacobian.small`), whose arrays the map keeps while the module is
    unchanged.
    """

    def __init__(self, module: torch.nn.Module, name: str, input_dim: int, output_dim: int):
        import torch

        from jacviz.math.jacobian.sequential import sequential_jacobian

        self._module = module.eval()
        self._name = name
        self._input_dim = input_dim
        self._output_dim = output_dim
        parameter = next(module.parameters(), None)
        self._dtype = parameter.dtype if parameter is not None else torch.float32
        probe = torch.zeros(1, input_dim, dtype=self._dtype)
        self.jacobian_method = (
            "forward tangents" if sequential_jacobian(module, probe) is not None else "autograd"
        )

    @property
    def name(self) -> str:
        """Display name given at construction (usually the file name)."""
        return self._name

    @property
    def input_dim(self) -> int:
        """Number of inputs of the network."""
        return self._input_dim

    @property
    def output_dim(self) -> int:
        """Number of outputs of the network."""
        return self._output_dim

    @property
    def module(self) -> torch.nn.Module:
        """The wrapped module (in eval mode)."""
        return self._module

    def _tensor(self, points: np.ndarray) -> torch.Tensor:
        import torch

        array = as_points(points, self._input_dim)
        # torch warns on read-only arrays (datasets hand those out): copy them, share the rest.
        return torch.from_numpy(array if array.flags.writeable else array.copy()).to(self._dtype)

    def _small_chain(self, points: np.ndarray) -> NumpyChain | None:
        """The module's numpy chain, for a few ``points`` of a walkable chain (else None).

        A probe move's points go through it without torch tensors in between
        (:mod:`jacviz.math.jacobian.small`).
        """
        if self.jacobian_method != "forward tangents":
            return None
        return model_chain(self._module, len(points))

    def evaluate(self, points: np.ndarray) -> np.ndarray:
        """Values ``(N, m)``, computed in chunks in the module's dtype, returned as float64."""
        import torch

        from jacviz.math.jacobian.sequential import sequential_values

        array = as_points(points, self._input_dim)
        chain = self._small_chain(array)
        if chain is not None:
            return chain.values(array).astype(np.float64)
        tensor = self._tensor(array)
        if self.jacobian_method == "forward tangents":  # a walkable chain: the fast walk
            values = sequential_values(self._module, tensor)
            if values is not None:
                return values.to(torch.float64).numpy()
        with torch.inference_mode():
            chunks = [self._module(chunk) for chunk in tensor.split(CHUNK_SIZE)]
        if not chunks:
            return np.zeros((0, self._output_dim))
        return torch.cat(chunks).to(torch.float64).numpy()

    def evaluate_with_jacobian(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values ``(N, m)`` and Jacobians ``(N, m, n)`` as float64."""
        import torch

        from jacviz.math.jacobian.autograd import autograd_jacobian
        from jacviz.math.jacobian.sequential import sequential_jacobian

        array = as_points(points, self._input_dim)
        chain = self._small_chain(array)
        if chain is not None:
            values, jacobian = chain.jacobian(array)
            return values.astype(np.float64), jacobian.astype(np.float64)
        tensor = self._tensor(array)
        result = None
        if self.jacobian_method == "forward tangents":
            result = sequential_jacobian(self._module, tensor)
        if result is None:
            result = autograd_jacobian(self._module, tensor)
        values, jacobian = result
        return (
            values.detach().to(torch.float64).numpy(),
            jacobian.detach().to(torch.float64).numpy(),
        )


def require_planar(map_: Map) -> None:
    """Raise ValueError unless the app's planes can show ``map_``.

    That takes 2 inputs (the input plane) and at least 2 outputs: 2 are drawn directly, more
    (a classifier's logits) through a 2D view of the outputs.
    """
    if map_.input_dim != 2 or map_.output_dim < 2:
        raise ValueError(
            f"{map_.name} maps {map_.input_dim} inputs to {map_.output_dim} "
            f"output{'' if map_.output_dim == 1 else 's'}; the planes show maps of 2 inputs "
            "and at least 2 outputs"
        )


def jacobian_field(map_: Map, points: np.ndarray) -> JacobianField:
    """Values, Jacobians and all derived quantities (det, σ, ‖J‖F, ...) of a map at points."""
    values, jacobian = map_.evaluate_with_jacobian(as_points(points, map_.input_dim))
    return JacobianField.from_arrays(values, jacobian)
