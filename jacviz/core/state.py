"""The app's whole view state as one plain, immutable value.

Widgets never change this directly: they emit intents, the controller makes a new state with
:func:`dataclasses.replace`, and views are handed arrays computed from it. Keeping it plain
data (strings, floats, a :class:`~jacviz.core.grid.Domain`) is what lets a session be saved
as JSON later.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jacviz.core.grid import Domain
from jacviz.core.jacobian import HEATMAP_QUANTITIES

DEFAULT_FORMULA = "x**2 + y, x*y"
CLASSES = "classes"
"""The heatmap key of decision regions (argmax class, shaded by confidence)."""


@dataclass(frozen=True)
class ViewState:
    """What the app shows: the map, where, the probe, and which overlays."""

    formula: str = DEFAULT_FORMULA
    """The last typed map; shown unless ``network`` is set."""
    network: str | None = None
    """Path of the network file shown instead of the formula, or None."""
    slice: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]] | None = None
    """(b, u, v): the plane b + s·u + t·v through a network's input space when it has more
    than 2 inputs; None means the first two inputs, the others held at 0."""
    domain: Domain = field(default_factory=Domain)
    probe: tuple[float, float] = (1.0, 0.5)
    h: float = 0.25
    """Side of the small square (and radius of the circle) at the probe."""
    grid_lines: int = 21
    """Grid lines in each direction."""
    heatmap: str | None = "det"
    """A key of :data:`jacviz.core.jacobian.HEATMAP_QUANTITIES`, ``"classes"`` (decision
    regions of a map with more than 2 outputs), or None for no heatmap."""
    jacobian_of: str = "logits"
    """For maps with more than 2 outputs: inspect the Jacobian of the "logits" themselves or
    of the softmax "probabilities"."""
    output_view: str = "pca"
    """For maps with more than 2 outputs: the output plane shows the top-2 principal
    directions ("pca") or two outputs ("outputs(i,j)", counted from 0)."""
    morph: float = 1.0
    """t in [0, 1]: the output plane shows (1 − t)·p + t·f(p)."""
    layer_units: tuple[int, int] | None = None
    """How "Inside the network" shows a network's layers wider than 2: through their units
    (i, j), counted from 0, or None for their top-2 principal directions."""

    def __post_init__(self) -> None:
        if self.heatmap is not None and self.heatmap not in (*HEATMAP_QUANTITIES, CLASSES):
            raise ValueError(
                f"unknown heatmap {self.heatmap!r}; choose from "
                f"{', '.join((*HEATMAP_QUANTITIES, CLASSES))}"
            )
        if self.jacobian_of not in ("logits", "probabilities"):
            raise ValueError(
                f"jacobian_of must be 'logits' or 'probabilities', not {self.jacobian_of!r}"
            )
        if self.output_view != "pca" and not re.fullmatch(r"outputs\(\d+,\d+\)", self.output_view):
            raise ValueError(
                f"output_view must be 'pca' or 'outputs(i,j)', not {self.output_view!r}"
            )
        if not 2 <= self.grid_lines <= 201:
            raise ValueError(f"grid lines must be between 2 and 201, got {self.grid_lines}")
        if not self.h > 0:
            raise ValueError(f"the square size h must be positive, got {self.h}")
        if not 0.0 <= self.morph <= 1.0:
            raise ValueError(f"morph t must be in [0, 1], got {self.morph}")
        units = self.layer_units
        if units is not None and not (len(units) == 2 and 0 <= min(units) and units[0] != units[1]):
            raise ValueError(f"layer_units must be two different units (i, j) or None, not {units}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (for sessions); :meth:`from_dict` reads them back."""
        data = dataclasses.asdict(self)
        domain = self.domain
        data["domain"] = [domain.xmin, domain.xmax, domain.ymin, domain.ymax]
        data["probe"] = list(self.probe)
        data["slice"] = None if self.slice is None else [list(v) for v in self.slice]
        data["layer_units"] = None if self.layer_units is None else list(self.layer_units)
        return data

    @classmethod
    def from_dict(cls, data: object) -> ViewState:
        """The state :meth:`to_dict` wrote, checked field by field.

        Missing fields take their defaults (files from older versions); unknown fields, wrong
        types and invalid values raise ValueError with a message naming the field.
        """
        if not isinstance(data, dict):
            raise ValueError(f"the view must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown view field(s): {', '.join(map(str, unknown))}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            values[name] = _FIELD_READERS[name](name, value)
        return cls(**values)


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"view field {name!r} must be a finite number, got {value!r:.60}")
    return float(value)


def _numbers(name: str, value: object, length: int | None = None) -> tuple[float, ...]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        size = "a list" if length is None else f"a list of {length} numbers"
        raise ValueError(f"view field {name!r} must be {size}, got {value!r:.60}")
    return tuple(_number(name, v) for v in value)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"view field {name!r} must be text, got {value!r:.60}")
    return value


def _optional(read: Callable[[str, object], Any]) -> Callable[[str, object], Any]:
    return lambda name, value: None if value is None else read(name, value)


def _integer(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"view field {name!r} must be a whole number, got {value!r:.60}")
    return value


def _plane(name: str, value: object) -> tuple[tuple[float, ...], ...]:
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError(f"view field {name!r} must be [b, u, v], got {value!r:.60}")
    return tuple(_numbers(name, v) for v in value)


def _units(name: str, value: object) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"view field {name!r} must be [i, j], got {value!r:.60}")
    return (_integer(name, value[0]), _integer(name, value[1]))


_FIELD_READERS: dict[str, Callable[[str, object], Any]] = {
    "formula": _text,
    "network": _optional(_text),
    "slice": _optional(_plane),
    "domain": lambda name, value: Domain(*_numbers(name, value, 4)),
    "probe": lambda name, value: _numbers(name, value, 2),
    "h": _number,
    "grid_lines": _integer,
    "heatmap": _optional(_text),
    "jacobian_of": _text,
    "output_view": _text,
    "morph": _number,
    "layer_units": _optional(_units),
}
