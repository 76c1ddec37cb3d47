"""What the lab's plane shows of a model: its decision regions or its ‖J‖_F, from weights.

No Qt here: the training worker calls :func:`compute_field` on its own thread with a snapshot's
weights (a copy, never the live module), and hands the result to the GUI as plain arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from jacviz.math.grid import Domain, sample_points
from jacviz.math.maps import TorchMap
from jacviz.nets.training import TrainConfig, jacobian_frobenius, load_state
from jacviz.nets.views import DecisionRegions, decision_regions

FIELD_RESOLUTION = 256
"""Pixels per side of the regions and ‖J‖_F images."""

REGIONS = "regions"
FROBENIUS = "frobenius"
DISPLAYS: dict[str, str] = {REGIONS: "decision regions", FROBENIUS: "‖J‖F of the logits"}
"""What each of the lab's displays (:data:`~jacviz.state.lab.LAB_DISPLAYS`) shows."""
"""What the plane can show, with the name the user picks it by."""


@dataclass(frozen=True, eq=False)  # arrays: == would be elementwise
class FieldImage:
    """A model's picture over the plane, ready to draw; row 0 of the arrays is at ``ymin``.

    Attributes
    ----------
    display : str
        :data:`REGIONS` or :data:`FROBENIUS`.
    step : int
        Training step of the weights it was computed from.
    domain : Domain
        The rectangle the image covers.
    n_classes : int
        Classes of the model, so region colours are shaded on the right scale.
    regions : DecisionRegions or None
        Argmax class and confidence per pixel, for :data:`REGIONS`.
    values : numpy.ndarray or None
        ``(rows, cols)`` exact ‖J‖_F of the logits per pixel, for :data:`FROBENIUS`.

    """

    display: str
    step: int
    domain: Domain
    n_classes: int
    regions: DecisionRegions | None = None
    values: np.ndarray | None = None


def compute_field(
    config: TrainConfig,
    state: Mapping[str, torch.Tensor],
    n_classes: int,
    domain: Domain,
    display: str,
    step: int,
    resolution: int = FIELD_RESOLUTION,
) -> FieldImage:
    """The ``display`` picture of the model ``config`` with weights ``state`` over ``domain``.

    Parameters
    ----------
    config : TrainConfig
        The architecture the weights belong to.
    state : mapping of str to torch.Tensor
        The weights, e.g. :attr:`jacviz.nets.training.Snapshot.state`.
    n_classes : int
        Outputs of the network.
    domain : Domain
        The rectangle to cover.
    display : str
        :data:`REGIONS` or :data:`FROBENIUS`.
    step : int
        Step of the weights, carried along so the view can say what it shows.
    resolution : int
        Pixels per side.

    Raises
    ------
    ValueError
        For an unknown ``display``.

    """
    model = load_state(config, state, 2, n_classes)
    if display == REGIONS:
        network = TorchMap(model, "lab model", 2, n_classes)
        regions = decision_regions(network, domain, resolution)
        return FieldImage(display, step, domain, n_classes, regions=regions)
    if display == FROBENIUS:
        values = jacobian_frobenius(model, sample_points(domain, resolution))
        return FieldImage(
            display, step, domain, n_classes, values=values.reshape(resolution, resolution)
        )
    raise ValueError(f"unknown display {display!r}; choose from {', '.join(DISPLAYS)}")
