"""The attacks' names and default sizes, importable without torch.

Command-line parsers and the lab's labels show these before any network exists; keeping them
apart from the attacks lets ``jacviz probe --map`` and the app on a formula start without
loading torch.
"""

from __future__ import annotations

__all__ = ["ATTACKS", "NORMS", "PGD_RESTARTS", "PGD_STEPS"]

ATTACKS: tuple[str, ...] = ("fgsm", "pgd")
"""Names of the attacks :func:`~jacviz.nets.robustness.accuracy.robust_accuracy` runs."""

NORMS: tuple[str, ...] = ("2", "inf")
"""Names of the attack norms: the Euclidean ball (``"2"``) and the cube (``"inf"``; in the
plane, the disc and the square)."""

PGD_STEPS: int = 20
"""Default steps of each PGD run (Madry et al.'s step size 2.5·ε/steps crosses the ball twice)."""

PGD_RESTARTS: int = 12
"""Default PGD runs per point: in the plane from starts spread round the ball's edge, in other
dimensions from the point itself and seeded random points of the edge (see :func:`pgd`)."""
