"""The app's whole view state as one plain, immutable value.

Widgets never change this directly: they emit intents, the controller makes a new state with
:func:`dataclasses.replace`, and views are handed arrays computed from it. Keeping it plain
data (strings, floats, a :class:`~jacviz.math.grid.Domain`) is what lets a session be saved
as JSON later.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jacviz.math.formula import MAX_TEXT_LENGTH
from jacviz.math.grid import MAX_BOUND, Domain
from jacviz.math.jacobian import HEATMAP_QUANTITIES
from jacviz.support.json_input import (
    optional,
    parse_json,
    read_choice,
    read_integer,
    read_list,
    read_number,
    read_object,
    read_text,
    shown,
)

DEFAULT_FORMULA = "x**2 + y, x*y"
CLASSES = "classes"
"""The heatmap key of decision regions (argmax class, shaded by confidence)."""
HEATMAPS: tuple[str, ...] = (*HEATMAP_QUANTITIES, CLASSES)
"""What the input plane can be coloured by (besides nothing)."""
MAX_INDEX = 999_999
"""Largest output or layer unit a view names: six digits, far beyond any network shown."""
MAX_INPUTS = 100_000
"""Most inputs a network's plane (``slice``) may have: bounds the work of reading one."""
MAX_PATH = 4096
"""Longest network path a view holds (the usual PATH_MAX)."""
_OUTPUTS = re.compile(r"outputs\(([0-9]{1,6}),([0-9]{1,6})\)")  # ASCII digits only, as written
PCA_VIEW = "pca"
"""The output view of a classifier's top-2 principal directions (the default)."""
MARGIN_VIEW = "margin"
"""The output view of a 2-class classifier: its logit margin z1 − z0 against the position
along the decision boundary (see :class:`jacviz.nets.margin.MarginView`)."""
HIDDEN_VIEW = "hidden"
"""The output view of an MLP classifier's last hidden layer, by its top-2 principal directions
(see :func:`jacviz.nets.hidden_view.hidden_layer_view`)."""


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
    """A key of :data:`jacviz.math.jacobian.HEATMAP_QUANTITIES`, ``"classes"`` (decision
    regions of a map with more than 2 outputs), or None for no heatmap."""
    jacobian_of: str = "logits"
    """For maps with more than 2 outputs: inspect the Jacobian of the "logits" themselves or
    of the softmax "probabilities"."""
    output_view: str = PCA_VIEW
    """For classifiers: the output plane shows the top-2 principal directions ("pca"), two
    outputs ("outputs(i,j)", counted from 0), for 2 classes the logit margin against the
    position along the decision boundary ("margin"), or for an MLP its last hidden layer
    ("hidden"). A map of 2 outputs shows them as they are under "pca" and "outputs(0,1)"
    (a 2-class classifier's two logits are nearly opposite: a line)."""
    morph: float = 1.0
    """t in [0, 1]: the output plane shows (1 − t)·p + t·f(p)."""
    layer_units: tuple[int, int] | None = None
    """How "Inside the network" shows a network's layers wider than 2: through their units
    (i, j), counted from 0, or None for their top-2 principal directions."""

    def __post_init__(self) -> None:
        if self.heatmap is not None and self.heatmap not in HEATMAPS:
            raise ValueError(
                f"unknown heatmap {shown(self.heatmap)}; choose from {', '.join(HEATMAPS)}"
            )
        if self.jacobian_of not in ("logits", "probabilities"):
            raise ValueError(
                f"jacobian_of must be 'logits' or 'probabilities', not {shown(self.jacobian_of)}"
            )
        if not _is_output_view(self.output_view):
            raise ValueError(
                f"output_view must be 'pca' or 'outputs(i,j)' of two different outputs, or "
                f"'margin' or 'hidden', not {shown(self.output_view)}"
            )
        if not 2 <= self.grid_lines <= 201:
            raise ValueError(f"grid lines must be between 2 and 201, got {shown(self.grid_lines)}")
        if not self.h > 0:
            raise ValueError(f"the square size h must be positive, got {self.h}")
        if not 0.0 <= self.morph <= 1.0:
            raise ValueError(f"morph t must be in [0, 1], got {self.morph}")
        units = self.layer_units
        if units is not None and not (
            len(units) == 2 and 0 <= min(units) and max(units) <= MAX_INDEX and units[0] != units[1]
        ):
            raise ValueError(
                f"layer_units must be two different units (i, j) from 0 to {MAX_INDEX} or None, "
                f"not {tuple(shown(u) for u in units)}"
            )

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

        Missing fields take their defaults (files from older versions). Unknown fields, wrong
        types and invalid values raise ValueError with one line naming the field: text must
        be one line of valid Unicode of bounded length (no NUL, no lone surrogate), numbers
        finite (the domain's extent too), indices and sizes in range.
        """
        fields = read_object(data, "the view", (), _FIELD_READERS)
        values = {
            name: _FIELD_READERS[name](value, f"view field {name!r}")
            for name, value in fields.items()
        }
        return cls(**values)

    def to_json(self) -> str:
        """The state as one line of ASCII JSON (for settings stores); :meth:`from_json` reads it.

        Never fails: a path that is not valid Unicode (an undecodable file name) is written as
        an ASCII escape, a number that overflowed as ``Infinity``; :meth:`from_json` then
        refuses the text, and the default state is shown instead.
        """
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> ViewState:
        """The state in ``text`` (written by :meth:`to_json`), checked as :meth:`from_dict` does.

        For state restored from a settings store: the same rules as a session's view, and
        numbers only in JSON's plain decimal spelling.

        Raises
        ------
        ValueError
            One line saying what is wrong.

        """
        if not isinstance(text, str):
            raise ValueError(f"the view must be JSON text, got {type(text).__name__}")
        return cls.from_dict(parse_json(text))


def _finite(value: object, where: str) -> float:
    return read_number(value, where)


def _positive(value: object, where: str) -> float:
    number = read_number(value, where)
    if not number > 0:
        raise ValueError(f"{where} must be a number > 0, got {shown(value)}")
    return number


def _domain(value: object, where: str) -> Domain:
    bounds = read_list(value, where, _finite, length=4)
    try:
        domain = Domain(*bounds)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    if not (math.isfinite(domain.width) and math.isfinite(domain.height)):
        raise ValueError(f"{where} is too large: its width and height must be finite numbers")
    return domain


def _plane(value: object, where: str) -> tuple[tuple[float, ...], ...]:
    def coordinate(item: object, at: str) -> float:
        # A point of the plane, b + s·u + t·v with s, t inside a domain, stays finite.
        return read_number(item, at, -MAX_BOUND, MAX_BOUND)

    def vector(item: object, at: str) -> tuple[float, ...]:
        return read_list(item, at, coordinate, max_length=MAX_INPUTS)

    plane = read_list(value, where, vector, length=3)
    if not 2 < len(plane[0]) == len(plane[1]) == len(plane[2]):
        raise ValueError(f"{where} must be three vectors [b, u, v] of the same length, 3 or more")
    return plane


def _is_output_view(text: str) -> bool:
    """Whether ``text`` is "pca", "margin", "hidden" or "outputs(i,j)" of two different outputs."""
    match = _OUTPUTS.fullmatch(text)
    pair = match is not None and int(match[1]) != int(match[2])
    return text in (PCA_VIEW, MARGIN_VIEW, HIDDEN_VIEW) or pair


def _output_view(value: object, where: str) -> str:
    text = read_text(value, where, len("outputs(,)") + 12)
    if not _is_output_view(text):
        raise ValueError(
            f"{where} must be 'pca' or 'outputs(i,j)' of two different outputs, or 'margin' or "
            f"'hidden', got {shown(text)}"
        )
    return text


def _units(value: object, where: str) -> tuple[int, int]:
    first, second = read_list(value, where, lambda v, at: read_integer(v, at, 0, MAX_INDEX), 2)
    return first, second


_FIELD_READERS: dict[str, Callable[[object, str], Any]] = {
    "formula": lambda value, where: read_text(value, where, MAX_TEXT_LENGTH),
    "network": optional(lambda value, where: read_text(value, where, MAX_PATH, allow_empty=False)),
    "slice": optional(_plane),
    "domain": _domain,
    "probe": lambda value, where: read_list(value, where, _finite, length=2),
    "h": _positive,
    "grid_lines": lambda value, where: read_integer(value, where, 2, 201),
    "heatmap": optional(lambda value, where: read_choice(value, where, HEATMAPS)),
    "jacobian_of": lambda value, where: read_choice(value, where, ("logits", "probabilities")),
    "output_view": _output_view,
    "morph": lambda value, where: read_number(value, where, 0.0, 1.0),
    "layer_units": optional(_units),
}
