"""What the map view draws of a map, computed from the map the user chose and the view state.

Plain functions, with no Qt, so that the controller calls them on the GUI thread and the
request loader calls the same ones off it (:func:`try_out`): the *analysed* and *shown* maps
of a source (:func:`derive`), the warped grid (:func:`warp`), a network's chain-rule factors
at the probe (:func:`probe_factors`), which heatmaps and pairs of outputs a map can show,
and, for networks that can be walked layer by layer, the grid in each layer's space
(:func:`layer_pictures`) and the probe's way through them (:class:`LayerPath`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from jacviz.gui.mapview.loaded_network import LoadedNetwork
from jacviz.math.budget import grid_samples_within_budget, points_within_budget
from jacviz.math.grid import WarpedGrid, grid_lines, sample_points, warp_grid
from jacviz.math.jacobian import HEATMAP_QUANTITIES
from jacviz.math.linearize import linearize, unit_circle
from jacviz.math.maps import Map, TorchMap, require_planar
from jacviz.math.probe import probe
from jacviz.nets.hidden_view import hidden_layer, hidden_layer_view
from jacviz.nets.hosted import HostedNetwork
from jacviz.nets.layers import (
    Factor,
    LayerError,
    LayerImage,
    factorize,
    layer_images,
    layer_path,
    layer_widths,
)
from jacviz.nets.margin import MarginView
from jacviz.nets.views import OutputView, ProbabilityMap, SliceMap
from jacviz.state.view import CLASSES, HIDDEN_VIEW, MARGIN_VIEW, PCA_VIEW, ViewState
from jacviz.support.threads import single_threaded

PATH_CIRCLE_SAMPLES = 64
"""Samples of the circle |δ| = h whose image the layer view draws: few, as it follows the probe."""
GRID_SAMPLES = 2049
"""Most samples per grid line (the grid refines until it draws smooth, up to this)."""


@dataclass(frozen=True)
class LayerPath:
    """The probe p and the circle of radius h around it, seen in every layer's space.

    Projected exactly as the layer images of the grid they are drawn over, so that p's marker
    sits where p's grid cell went.
    """

    points: np.ndarray
    """(L, 2): where p lands after each of the L layers."""
    circles: np.ndarray
    """(L, C, 2): the image of the closed circle |δ| = h around p after each layer."""


def is_classifier(source: Map, network: LoadedNetwork | None) -> bool:
    """Whether ``source``'s outputs are class logits.

    That is: more than 2 outputs, or a network whose file names its classes (a 2-class
    classifier is also a 2→2 map, so det still applies to it).
    """
    return source.output_dim > 2 or (network is not None and network.class_names is not None)


def derive(source: Map, state: ViewState, classifier: bool) -> tuple[Map, Map]:
    """The analysed and shown maps of ``source`` under ``state``.

    The analysed map is the one whose Jacobian the inspector and heatmaps show (the source,
    or its softmax probabilities); the shown map is the 2→2 map the planes draw (the analysed
    map itself with 2 outputs, else a 2D view of its outputs). A 2-class classifier under the
    "margin" view is drawn by its logits' margin against the boundary direction
    (:class:`MarginView`), whichever Jacobian is analysed: the margin is a logit quantity.
    Under "hidden" a 2-class MLP is drawn in its last hidden layer, also whichever.
    """
    probabilities = classifier and state.jacobian_of == "probabilities"
    analysed = ProbabilityMap(source) if probabilities else source
    if state.output_view == MARGIN_VIEW and offers_margin(source, classifier):
        return analysed, MarginView(source, points=sample_points(state.domain, 32))
    if state.output_view == HIDDEN_VIEW and offers_margin(source, classifier):
        hidden = hidden_layer_view(source, sample_points(state.domain, 32))
        if hidden is not None:
            return analysed, hidden
    if source.output_dim <= 2:
        return analysed, analysed
    if state.output_view == PCA_VIEW:
        # Principal directions of the outputs over the domain, fitted once per map.
        points = sample_points(state.domain, 32)
        return analysed, OutputView(analysed, "pca", points=points)
    return analysed, OutputView(analysed, state.output_view)


_Function = TypeVar("_Function", bound=Callable[..., Any])


def one_torch_thread(function: _Function) -> _Function:
    """Run ``function`` on one torch thread, as all of jacviz's torch work (support.threads).

    For what the probe, the pointer and a new grid ask of a network on the GUI thread: a few
    hundred points at the probe, where a second thread never helps, and the grid's lines. On
    a busy machine an op on two threads waits for a thread that is not running:
    bench_interaction's MLP probe moves took ~95 ms instead of ~15 in some runs, and MLP map
    changes ~440 ms instead of ~350. A formula map never loads torch: nothing is set then.
    """

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if "torch" not in sys.modules:
            return function(*args, **kwargs)
        with single_threaded():
            return function(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def warp(map_: Map, state: ViewState) -> WarpedGrid:
    """The grid's image, with as many samples per line as one picture's budget allows."""
    curves = 2 * state.grid_lines
    samples = grid_samples_within_budget(map_, curves, GRID_SAMPLES)
    return warp_grid(map_, state.domain, lines=state.grid_lines, max_samples=samples)


def walkable(source: Map) -> tuple[TorchMap | None, SliceMap | None]:
    """The torch network behind ``source`` and the slice it is seen through, if any."""
    if isinstance(source, TorchMap):
        return source, None
    if isinstance(source, SliceMap) and isinstance(source.inner, TorchMap):
        return source.inner, source
    return None, None


def factorize_at(source: Map, probe_point: tuple[float, float]) -> list[Factor] | str | None:
    """A walkable network's chain-rule factors at the probe, why there are none, or None.

    On a slice the first factor is the slice's own ``[u v]``, so that the products end with
    the Jacobian of the map shown.
    """
    network, plane = walkable(source)
    if network is None:
        return None
    point = np.asarray(probe_point, dtype=np.float64)
    try:
        if plane is None:
            return factorize(network.module, point)
        return factorize(network.module, plane.lift(point)[0], plane.directions)
    except LayerError as error:
        return f"Not available for this network:\n{error}"


def probe_factors(source: Map, probe_point: tuple[float, float]) -> list[Factor] | str | None:
    """The network's chain-rule factors at the probe, why there are none, or None (formulas).

    A network whose code runs in a child process cannot be walked layer by layer.
    """
    inner = source.inner if isinstance(source, SliceMap) else source
    if isinstance(inner, HostedNetwork):
        return (
            "Not available for this network:\nits code runs in a separate process "
            f"({inner.format}), so its layers cannot be read"
        )
    return factorize_at(source, probe_point)


def heatmap_problem(key: str | None, source: Map, classifier: bool) -> str:
    """Why ``key`` cannot colour the map ``source`` ('' if it can)."""
    if key in ("det", "logdet") and source.output_dim > 2:
        return f"{HEATMAP_QUANTITIES[key]} needs a map with 2 outputs; this one has " + str(
            source.output_dim
        )
    if key == CLASSES and not classifier:
        return (
            "decision regions need class logits: a map with more than 2 outputs, or a "
            "network whose file names its classes"
        )
    return ""


def offers_margin(source: Map, classifier: bool) -> bool:
    """Whether ``source`` can be shown by its logit margin: a classifier of 2 classes."""
    return classifier and source.output_dim == 2 and source.input_dim == 2


def offers_hidden(source: Map, classifier: bool) -> bool:
    """Whether ``source`` can be shown in its last hidden layer: an MLP of 2 classes.

    That is a torch ``Sequential`` ending with a Linear layer whose input (the last hidden
    layer) has at least 2 units. (More classes have an informative plane of their own: the
    top-2 principal directions of their logits.)
    """
    if not offers_margin(source, classifier):
        return False
    hidden = hidden_layer(source)
    return hidden is not None and hidden.output_dim >= 2


def fallback_output_view(source: Map, classifier: bool) -> str:
    """The output view used when the chosen one does not apply to ``source``."""
    return default_output_view(source, classifier) or PCA_VIEW


def default_output_view(source: Map, classifier: bool) -> str | None:
    """The output view a newly opened ``source`` is best seen through, or None to keep it.

    A 2-class classifier's logits are nearly opposite, so their own plane shows a line: an
    MLP opens in its last hidden layer (the grid spread in 2D, the classes pulled apart),
    any other 2-class classifier on its margin view.
    """
    if offers_hidden(source, classifier):
        return HIDDEN_VIEW
    return MARGIN_VIEW if offers_margin(source, classifier) else None


def output_view_problem(output_view: str, source: Map, classifier: bool) -> bool:
    """True when ``source`` cannot be shown through ``output_view`` (PCA is then used)."""
    if output_view == MARGIN_VIEW:
        return not offers_margin(source, classifier)
    if output_view == HIDDEN_VIEW:
        return not offers_hidden(source, classifier)
    return missing_outputs(output_view, source.output_dim)


def missing_outputs(output_view: str, output_dim: int) -> bool:
    """True when the pair of outputs ``output_view`` names does not exist in the map."""
    if output_view in (PCA_VIEW, MARGIN_VIEW, HIDDEN_VIEW):
        return False
    first, second = (int(i) for i in output_view[len("outputs(") : -1].split(","))
    return max(first, second) >= output_dim or first == second


def layers_offered(source: Map, state: ViewState) -> tuple[bool, bool]:
    """Whether "Inside the network" can show ``source``, and whether it can on the state's units.

    Cheap (the network is walked, not run): the layers are drawn only while the view is on
    screen. The first is False for maps that are not walkable networks and for networks
    too big to draw within the budget; the second is False when ``state.layer_units`` are
    not in every layer wider than 2 (the view then shows principal directions).
    """
    network, _plane = walkable(source)
    if network is None:
        return False, False
    lines = grid_lines(state.domain, state.grid_lines)
    if lines.shape[0] * lines.shape[1] > points_within_budget(network, jacobian=False):
        return False, False
    try:
        widths = layer_widths(network.module, network.input_dim)
    except ValueError:  # LayerError too: a layer that cannot be walked
        return False, False
    units = state.layer_units
    fits = units is None or (
        units[0] != units[1]
        and min(units) >= 0
        and all(width <= 2 or max(units) < width for width in widths)
    )
    return True, fits


def layer_pictures(
    source: Map, state: ViewState, units: tuple[int, int] | None
) -> list[LayerImage] | None:
    """The input grid in every layer's space, for networks that can be walked.

    Wide layers are seen through ``units``, or their principal directions for None.
    Raises ValueError when those units are not in every layer wider than 2. None also
    when drawing them would cost more than one picture's budget (a huge network).
    """
    network, plane = walkable(source)
    if network is None:
        return None
    # The unrefined grid: the layer views show shapes, and this keeps map changes quick.
    lines = grid_lines(state.domain, state.grid_lines)
    if lines.shape[0] * lines.shape[1] > points_within_budget(network, jacobian=False):
        return None
    if plane is not None:
        lines = plane.lift(lines.reshape(-1, 2)).reshape(*lines.shape[:2], -1)
    try:
        return layer_images(network.module, lines, "pca" if units is None else units)
    except LayerError:
        return None


def probe_path(source: Map, state: ViewState, layers: list[LayerImage] | None) -> LayerPath | None:
    """The probe and its circle of radius h through the ``layers`` shown (a few points: cheap).

    None when ``source`` cannot be walked or no layers are shown.
    """
    network, plane = walkable(source)
    if network is None or layers is None:
        return None
    point = np.asarray(state.probe, dtype=np.float64)
    points = np.concatenate([point[None], point + state.h * unit_circle(PATH_CIRCLE_SAMPLES)])
    if plane is not None:
        points = plane.lift(points)
    path = layer_path(network.module, points, layers)
    return LayerPath(points=path[:, 0], circles=path[:, 1:])


def try_out(source: Map, network: LoadedNetwork | None, state: ViewState) -> None:
    """Compute, off the GUI thread, what showing ``source`` in ``state`` will ask of it.

    The grid, the picture at the probe and the network's chain-rule factors (whose weight
    SVDs are cached), so that a network failing or crawling at those sizes is refused
    before it replaces the map, and so that the GUI thread then finds the slow parts done.
    Raises what the map raises (NetworkError for a hosted network that fails).
    """
    require_planar(source)
    analysed, shown = derive(source, state, is_classifier(source, network))
    warp(shown, state)
    linearize(shown, state.probe, state.h)
    if analysed is not shown:
        probe(analysed, state.probe)
    factorize_at(source, state.probe)
