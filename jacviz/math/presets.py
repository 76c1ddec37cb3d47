"""Ready-made maps that each show one idea about Jacobians, with a domain that shows it well.

Several come from the worked examples jacviz grew from: (x² + y, xy) with J(1, 2) =
[[2, 1], [2, 1]], z ↦ z² with det = 4(x² + y²), and linear maps whose Jacobian is their matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from jacviz.math.grid import Domain


@dataclass(frozen=True)
class Preset:
    """A named formula map, the domain to show it on, and what it illustrates."""

    name: str
    formula: str
    domain: Domain
    note: str


def linear_formula(a: float, b: float, c: float, d: float) -> str:
    """Formula text of the linear map with matrix [[a, b], [c, d]] (its Jacobian everywhere)."""

    def term(coefficient: float, variable: str) -> str:
        return f"{coefficient:g}*{variable}"

    return f"{term(a, 'x')} + {term(b, 'y')}, {term(c, 'x')} + {term(d, 'y')}"


_SWIRL_ANGLE = "1.5*exp(-(x**2 + y**2))"

PRESETS: tuple[Preset, ...] = (
    Preset("Identity", "x, y", Domain(), "J = I everywhere: nothing moves, det = 1."),
    Preset(
        "Linear map",
        linear_formula(1.5, 0.5, 0.25, 1.0),
        Domain(),
        "A linear map is its own best linear approximation: J is its matrix everywhere.",
    ),
    Preset("Shear", "x + y, y", Domain(), "Slides rows sideways: det = 1, yet σ1 ≠ σ2."),
    Preset(
        "Rotation + scale",
        "1.5*(cos(0.6)*x - sin(0.6)*y), 1.5*(sin(0.6)*x + cos(0.6)*y)",
        Domain(),
        "A similarity: σ1 = σ2 = 1.5, det = 2.25, circles stay circles.",
    ),
    Preset(
        "(x² + y, xy)",
        "x**2 + y, x*y",
        Domain(),
        "J = [[2x, 1], [y, x]], det = 2x² − y: singular on the parabola y = 2x², e.g. at (1, 2).",
    ),
    Preset(
        "z² = (x² − y², 2xy)",
        "x**2 - y**2, 2*x*y",
        Domain(),
        "Conformal: det = 4(x² + y²) = σ1², angles kept, areas grow away from 0.",
    ),
    Preset(
        "Polar → cartesian",
        "x*cos(y), x*sin(y)",
        Domain(0.0, 2.0, -math.pi, math.pi),
        "x is the radius r, y the angle θ: det = r, so area scales with the radius.",
    ),
    Preset(
        "Complex exp",
        "exp(x)*cos(y), exp(x)*sin(y)",
        Domain(-1.0, 1.0, -math.pi, math.pi),
        "e^z: conformal, det = e^(2x); vertical lines become circles.",
    ),
    Preset(
        "sin(z)",
        "sin(x)*cosh(y), cos(x)*sinh(y)",
        Domain(-math.pi, math.pi, -1.0, 1.0),
        "Conformal except where cos z = 0 (x = ±π/2, y = 0): there det = 0.",
    ),
    Preset(
        "Swirl",
        f"x*cos({_SWIRL_ANGLE}) - y*sin({_SWIRL_ANGLE}),"
        f" x*sin({_SWIRL_ANGLE}) + y*cos({_SWIRL_ANGLE})",
        Domain(),
        "Rotates more near the centre: det = 1 everywhere (area-preserving), σ1 ≠ σ2.",
    ),
    Preset(
        "Hénon map",
        "1 - 1.4*x**2 + y, 0.3*x",
        Domain(-1.5, 1.5, -0.5, 0.5),
        "det = −0.3 everywhere: areas shrink and orientation is reversed.",
    ),
    Preset(
        "tanh layer",
        "tanh(1.5*x - 0.8*y + 0.2), tanh(0.6*x + 1.2*y - 0.3)",
        Domain(-3.0, 3.0, -3.0, 3.0),
        "One neural-network layer: J = diag(1 − tanh²)·W, squashing far from the origin.",
    ),
    Preset(
        "Fold",
        "x, y**2",
        Domain(),
        "det = 2y: the line y = 0 is singular and the plane folds onto a half-plane.",
    ),
    Preset(
        "Cusp",
        "x, y**3 + x*y",
        Domain(),
        "det = 3y² + x: the fold curve x = −3y² meets itself in a cusp.",
    ),
)


def preset(name: str) -> Preset:
    """The preset called ``name``; raises KeyError listing the known names otherwise."""
    for candidate in PRESETS:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no preset {name!r}; known: {', '.join(p.name for p in PRESETS)}")
