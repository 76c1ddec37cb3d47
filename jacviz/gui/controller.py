"""Turns the user's intents into a new :class:`ViewState` and hands views plain arrays.

The controller is the only place that calls the core: widgets emit intents (a new formula, a
picked point, a heatmap choice), the controller computes, and the views draw what they are
given. Heatmaps (a Jacobian field over a 256² grid) run off the GUI thread through a
:class:`LatestOnlyRunner`; everything at the probe is cheap enough to compute at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from jacviz.core.contour import zero_contour
from jacviz.core.formula import FormulaError
from jacviz.core.grid import Domain, WarpedGrid, grid_lines, sample_points, warp_grid
from jacviz.core.jacobian import HEATMAP_QUANTITIES, JacobianField
from jacviz.core.layers import Factor, LayerError, LayerImage, factorize, layer_images, layer_path
from jacviz.core.linearize import Linearization, linearize, unit_circle
from jacviz.core.maps import FormulaMap, Map, TorchMap, jacobian_field, require_planar
from jacviz.core.networks import NetworkError, load_network_bytes, read_network_file
from jacviz.core.presets import Preset
from jacviz.core.probe import probe
from jacviz.core.state import CLASSES, DEFAULT_FORMULA, ViewState
from jacviz.core.views import DecisionRegions, OutputView, ProbabilityMap, SliceMap
from jacviz.gui.runner import LatestOnlyRunner

HEATMAP_RESOLUTION = 256
PATH_CIRCLE_SAMPLES = 64
"""Samples of the circle |δ| = h whose image the layer view draws: few, as it follows the probe."""


@dataclass(frozen=True)
class HeatmapImage:
    """The input plane's field overlay, ready to draw: row 0 is the bottom row (y = ymin)."""

    key: str | None
    """Which quantity colours the plane, or None for no colouring (fold lines only)."""
    label: str
    image: np.ndarray | None
    """(rows, cols) values to colour: the quantity, or log10 of it for the condition number."""
    folds: np.ndarray | None
    """(K, 2, 2) segments of the fold lines det J = 0; None when the map is not 2→2."""
    domain: Domain
    regions: DecisionRegions | None = None
    """(rows, cols) argmax class and confidence, when ``key`` is "classes"."""


@dataclass(frozen=True)
class _FieldResult:
    map_: Map
    domain: Domain
    field: JacobianField
    folds: np.ndarray | None
    regions: DecisionRegions | None
    rows: int
    cols: int


@dataclass(frozen=True)
class _Network:
    """A loaded network, kept so that changing the plane it is shown on needs no reloading."""

    inner: TorchMap
    description: str
    class_names: tuple[str, ...] | None = None
    """Set when the file says its outputs are class logits (even just 2 of them)."""
    domain: Domain | None = None
    """The input rectangle the file suggests (e.g. its training data's), if valid."""
    data: bytes = b""
    """The file's content as loaded: what a session embeds, even if the file changes later."""

    @classmethod
    def load(cls, path: str) -> _Network:
        data = read_network_file(path)
        network = load_network_bytes(data, Path(path).name or str(path))
        metadata = network.metadata
        names = metadata.get("class_names")
        if not (
            isinstance(names, list)
            and len(names) == network.output_dim
            and all(isinstance(n, str) for n in names)
        ):
            names = None
        domain = None
        bounds = metadata.get("domain")
        if isinstance(bounds, list) and len(bounds) == 4:
            try:
                domain = Domain(*(float(b) for b in bounds))
            except (TypeError, ValueError):
                domain = None
        return cls(
            network.as_map(),
            str(metadata.get("description", "")),
            None if names is None else tuple(names),
            domain,
            data,
        )

    def planar(self, plane: tuple | None = None) -> Map:
        """The network on the input plane: itself, or its slice by ``plane = (b, u, v)``.

        Raises ValueError if even a slice cannot be shown (1 output, a bad plane).
        """
        inner = self.inner
        map_: Map = inner if inner.input_dim == 2 else SliceMap(inner, *(plane or ()))
        require_planar(map_)
        return map_

    def note(self, shown: Map) -> str:
        """What the status bar says about the network ``shown``."""
        text = f"{self.inner.name}: {self.description + '; ' if self.description else ''}"
        if shown is not self.inner:
            text += f"shown on the {shown.name}; "
        return text + f"Jacobians by {self.inner.jacobian_method}."


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


def heatmap_values(field: JacobianField, key: str) -> np.ndarray:
    """The values to colour for ``key``: log10 for the condition number, as labelled."""
    values = field.quantity(key)
    if key == "cond":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(values)
    return values


def heatmap_label(key: str) -> str:
    """Colour-bar label for ``key``."""
    if key == CLASSES:
        return "decision regions (shade = confidence)"
    label = HEATMAP_QUANTITIES[key]
    return f"log10 {label}" if key == "cond" else label


class Controller(QObject):
    """Owns the app state and the current map; computes what the views draw.

    Signals carry plain data: ``sigGridChanged(WarpedGrid)``,
    ``sigProbeChanged(Linearization)``, ``sigHeatmapChanged(HeatmapImage)`` (the previous
    one stays until the new field is ready), ``sigHoverChanged(ndarray or None)`` (the image
    of the hovered point), ``sigStateChanged(ViewState)``, ``sigFormulaError(message,
    column)`` ('' when the formula is fine; column 0 when there is no position),
    ``sigStatus(str)`` for the status bar and ``sigFactorsChanged`` (a network's chain-rule
    factors at the probe, a string saying why there are none, or None for formulas),
    ``sigLayerImagesChanged`` (the grid in each layer of a walkable network, or None) and
    ``sigLayerPathChanged`` (a :class:`LayerPath`: the probe in each of those layers, or None).

    Three maps are kept: the *source* the user chose (on the input plane: 2 inputs, k
    outputs), the *analysed* map whose Jacobian the inspector and heatmaps show (the source,
    or its softmax probabilities), and the *shown* 2→2 map the planes draw (the analysed map
    itself when k = 2, else a 2D view of its outputs). ``sigInspected(Linearization)``
    carries the inspector's numbers, which are the analysed map's.
    """

    sigStateChanged = pyqtSignal(object)
    sigGridChanged = pyqtSignal(object)
    sigProbeChanged = pyqtSignal(object)
    sigHeatmapChanged = pyqtSignal(object)
    sigHoverChanged = pyqtSignal(object)
    sigFormulaError = pyqtSignal(str, int)
    sigStatus = pyqtSignal(str)
    sigFactorsChanged = pyqtSignal(object)
    sigInspected = pyqtSignal(object)
    sigLayerImagesChanged = pyqtSignal(object)
    sigLayerPathChanged = pyqtSignal(object)

    def __init__(self, state: ViewState | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._state = state or ViewState()
        self._source: Map = FormulaMap.from_text(self._state.formula)
        try:
            require_planar(self._source)
        except ValueError:  # e.g. a 1-output formula in hand-edited settings
            self._state = dataclasses.replace(self._state, formula=DEFAULT_FORMULA)
            self._source = FormulaMap.from_text(DEFAULT_FORMULA)
        self._network: _Network | None = None  # the network shown, if any
        if self._state.network is not None:
            try:
                network = _Network.load(self._state.network)
                self._source, self._network = network.planar(self._state.slice), network
            except (NetworkError, ValueError):
                self._state = dataclasses.replace(self._state, network=None, slice=None)
        self._analysed, self._map = self._derive(self._source)
        self._grid: WarpedGrid | None = None
        self._linearization: Linearization | None = None
        self._field: _FieldResult | None = None
        self._layers: list[LayerImage] | None = None  # the grid in each layer, as shown
        # Whether a view of the layers is on screen: the probe's path is followed only then,
        # to keep probe updates quick when nobody looks inside the network.
        self._path_shown = False
        self._runner = LatestOnlyRunner(self)
        self._runner.sigResult.connect(self._on_field_ready)
        self._runner.sigFailed.connect(self._on_field_failed)

    # ---- read-only views of what is shown ---------------------------------------------------
    @property
    def state(self) -> ViewState:
        """The current state."""
        return self._state

    @property
    def map(self) -> Map:
        """The 2→2 map the planes draw (for k > 2 outputs, a 2D view of them)."""
        return self._map

    @property
    def source(self) -> Map:
        """The map the user chose: the last formula that parsed, or a network (on a plane)."""
        return self._source

    @property
    def analysed(self) -> Map:
        """The map whose Jacobian the inspector and heatmaps show."""
        return self._analysed

    @property
    def is_classifier(self) -> bool:
        """True when the outputs are class logits.

        That is: more than 2 outputs, or a network whose file names its classes (a 2-class
        classifier is also a 2→2 map, so det still applies to it).
        """
        network = self._network
        return self._source.output_dim > 2 or (
            network is not None and network.class_names is not None
        )

    @property
    def grid(self) -> WarpedGrid | None:
        """The current warped grid."""
        return self._grid

    @property
    def linearization(self) -> Linearization | None:
        """The local linear picture at the probe."""
        return self._linearization

    @property
    def heatmap_runner(self) -> LatestOnlyRunner:
        """The background runner of heatmap jobs (tests wait on it)."""
        return self._runner

    @property
    def network_data(self) -> bytes | None:
        """The content of the network file shown, as it was loaded (None for other maps).

        A session embeds these bytes rather than the file's current content, so that it
        saves the network on screen even if the file was overwritten since.
        """
        return None if self._network is None else self._network.data

    # ---- intents -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Recompute everything for the current state (at start-up)."""
        self.sigStateChanged.emit(self._state)
        self._update_map()
        if self._network is not None:
            self.sigStatus.emit(self._network.note(self._source))

    def set_formula(self, text: str) -> bool:
        """Switch to the map typed in ``text``; on error keep the current map and say why."""
        try:
            map_ = FormulaMap.from_text(text)
        except FormulaError as error:
            self.sigFormulaError.emit(str(error), error.column or 0)
            return False
        try:
            require_planar(map_)
        except ValueError as error:
            self.sigFormulaError.emit(str(error), 0)
            return False
        self.sigFormulaError.emit("", 0)
        self._source, self._network = map_, None
        self._set(formula=text, network=None, slice=None)
        self._update_map()
        return True

    def set_map(self, map_: Map) -> None:
        """Show any map of 2 inputs and 2 outputs (a network held in memory, for instance).

        The state's formula text is left as it was: it describes the last typed map.
        """
        require_planar(map_)
        self._source, self._network = map_, None
        self.sigFormulaError.emit("", 0)
        self._update_map()

    def open_network(self, path: str) -> str | None:
        """Show the network saved at ``path``; returns None, or why it cannot be shown.

        On failure nothing changes: the current map stays on screen.
        """
        try:
            network = _Network.load(path)
            self._source, self._network = network.planar(), network
        except (NetworkError, ValueError) as error:
            message = str(error)
            self.sigStatus.emit(f"Network not opened: {message}")
            return message
        self.sigFormulaError.emit("", 0)
        changes: dict[str, object] = {"network": str(path), "slice": None}
        if network.domain is not None:
            domain = network.domain
            changes["domain"] = domain
            changes["probe"] = (
                domain.xmin + 0.6 * domain.width,
                domain.ymin + 0.6 * domain.height,
            )
        if network.class_names is not None:
            changes["heatmap"] = CLASSES  # what a classifier's user opens it for
        self._set(**changes)
        self._update_map()
        self.sigStatus.emit(network.note(self._source))
        return None

    def show_state(self, state: ViewState) -> str | None:
        """Show ``state`` as it is: its map, plane, domain, probe and overlays (a session).

        Unlike :meth:`open_network`, nothing comes from the network file's suggestions: the
        state is the user's saved choice. Returns None, or why it cannot be shown (a formula
        that does not parse, a network that does not load or does not fit the plane); then
        nothing changes. Choices the map cannot honour are adjusted as for any new map (a
        heatmap it has no values for, outputs or layer units it does not have).
        """
        try:
            formula = FormulaMap.from_text(state.formula)
            require_planar(formula)
            network = None if state.network is None else _Network.load(state.network)
            source = formula if network is None else network.planar(state.slice)
        except (FormulaError, NetworkError, ValueError) as error:
            return str(error)
        self._source, self._network = source, network
        self.sigFormulaError.emit("", 0)
        self._state = state
        self.sigStateChanged.emit(state)
        self._update_map()
        if network is not None:
            self.sigStatus.emit(network.note(source))
        return None

    def set_slice(self, base: tuple, u: tuple, v: tuple) -> str | None:
        """Show the network on the plane b + s·u + t·v of its input space.

        Returns None, or why not (the current plane stays): only networks with more than 2
        inputs are sliced, and the directions must be independent.
        """
        network = self._network
        if network is None or not isinstance(self._source, SliceMap):
            message = "only networks with more than 2 inputs are shown on a plane"
        else:
            try:
                self._source = network.planar((base, u, v))
            except ValueError as error:
                message = str(error)
            else:
                self._set(slice=(tuple(base), tuple(u), tuple(v)))
                self._update_map()
                self.sigStatus.emit(network.note(self._source))
                return None
        self.sigStatus.emit(f"Plane not changed: {message}")
        return message

    def load_preset(self, preset: Preset) -> None:
        """Show ``preset`` on its own domain, probe at the domain's centre-right."""
        domain = preset.domain
        probe = (
            domain.xmin + 0.6 * domain.width,
            domain.ymin + 0.6 * domain.height,
        )
        self._source, self._network = FormulaMap.from_text(preset.formula), None
        self.sigFormulaError.emit("", 0)
        self._set(formula=preset.formula, network=None, slice=None, domain=domain, probe=probe)
        self._update_map()
        self.sigStatus.emit(f"{preset.name}: {preset.note}")

    def set_domain(self, domain: Domain) -> None:
        """Show the input plane over ``domain``."""
        if domain != self._state.domain:
            self._set(domain=domain)
            self._update_map()

    def set_grid_lines(self, lines: int) -> None:
        """Draw ``lines`` grid lines in each direction."""
        if lines != self._state.grid_lines:
            self._set(grid_lines=lines)
            self._update_grid()

    def set_probe(self, x: float, y: float) -> None:
        """Move the probe to (x, y) and recompute the local picture there."""
        if not (np.isfinite(x) and np.isfinite(y)):
            return
        self._set(probe=(float(x), float(y)))
        self._update_probe()

    def set_h(self, h: float) -> None:
        """Use squares of side ``h`` (and circles of radius ``h``) at the probe."""
        if h > 0 and h != self._state.h:
            self._set(h=float(h))
            self._update_probe()

    def set_heatmap(self, key: str | None) -> None:
        """Colour the input plane by ``key`` (see ``HEATMAP_QUANTITIES``), or not at all."""
        if key == self._state.heatmap:
            return
        problem = self._heatmap_problem(key)
        if problem:
            self.sigStatus.emit(problem)
            self.sigStateChanged.emit(self._state)  # put the widgets back
            return
        self._set(heatmap=key)
        if self._field is not None and self._field_is_current(self._field):
            self._emit_heatmap(self._field)
        else:
            self._request_field()

    def set_jacobian_of(self, kind: str) -> None:
        """Inspect the Jacobian of a classifier's "logits" or of its softmax "probabilities"."""
        if kind != self._state.jacobian_of:
            self._set(jacobian_of=kind)
            self._update_map()

    def set_output_view(self, kind: str) -> None:
        """Draw a classifier's outputs by their top-2 directions ("pca") or "outputs(i,j)"."""
        if kind != self._state.output_view:
            self._set(output_view=kind)
            self._update_map()

    def set_layer_units(self, units: tuple[int, int] | None) -> None:
        """Show layers wider than 2 through units ``(i, j)``, or None: top-2 principal directions.

        Units that do not exist in every such layer are refused with a message, and the
        layer view is handed the current images again so that its controls go back.
        """
        units = None if units is None else (int(units[0]), int(units[1]))
        if units == self._state.layer_units:
            return
        try:
            images = self._layer_images(units)
        except ValueError as error:
            self.sigStatus.emit(f"Projection not changed: {error}")
            self.sigLayerImagesChanged.emit(self._layers)
            return
        self._set(layer_units=units)
        self._show_layers(images)

    def set_layer_path_shown(self, shown: bool) -> None:
        """A view of the layers appeared (True) or went away: follow the probe there or not."""
        self._path_shown = bool(shown)
        if self._path_shown:
            self._update_layer_path()

    def set_morph(self, t: float) -> None:
        """Show the output plane at (1 − t)·p + t·f(p)."""
        self._set(morph=float(np.clip(t, 0.0, 1.0)))

    def hover(self, x: float, y: float) -> None:
        """The pointer is at (x, y) in the input plane: mark its image."""
        value = self._map.evaluate(np.array([[x, y]]))[0]
        self.sigHoverChanged.emit(value if np.all(np.isfinite(value)) else None)

    def hover_left(self) -> None:
        """The pointer left the input plane."""
        self.sigHoverChanged.emit(None)

    def shutdown(self) -> None:
        """Drop pending work and wait for the running job (call before the window closes)."""
        self._runner.cancel()
        self._runner.wait()

    # ---- computation ---------------------------------------------------------------------------
    def _set(self, **changes: object) -> None:
        self._state = dataclasses.replace(self._state, **changes)
        self.sigStateChanged.emit(self._state)

    def _derive(self, source: Map) -> tuple[Map, Map]:
        """The analysed and shown maps of ``source`` under the current state."""
        state = self._state
        probabilities = self.is_classifier and state.jacobian_of == "probabilities"
        analysed = ProbabilityMap(source) if probabilities else source
        if source.output_dim <= 2:
            return analysed, analysed
        if state.output_view == "pca":
            # Principal directions of the outputs over the domain, fitted once per map.
            points = sample_points(state.domain, 32)
            return analysed, OutputView(analysed, "pca", points=points)
        return analysed, OutputView(analysed, state.output_view)

    def _heatmap_problem(self, key: str | None) -> str:
        """Why ``key`` cannot colour the current map ('' if it can)."""
        if key in ("det", "logdet") and self._source.output_dim > 2:
            return f"{HEATMAP_QUANTITIES[key]} needs a map with 2 outputs; this one has " + str(
                self._source.output_dim
            )
        if key == CLASSES and not self.is_classifier:
            return (
                "decision regions need class logits: a map with more than 2 outputs, or a "
                "network whose file names its classes"
            )
        return ""

    def _update_map(self) -> None:
        if self._output_view_problem():
            self._set(output_view="pca")
        if self._heatmap_problem(self._state.heatmap):
            self._set(heatmap=CLASSES if self.is_classifier else "det")
        self._analysed, self._map = self._derive(self._source)
        self._request_field()  # first, so the worker runs while the grid is computed here
        self._update_grid()
        self._update_probe()

    def _output_view_problem(self) -> bool:
        """True when the chosen pair of outputs does not exist in the current map."""
        view = self._state.output_view
        if view == "pca":
            return False
        first, second = (int(i) for i in view[len("outputs(") : -1].split(","))
        return max(first, second) >= self._source.output_dim or first == second

    def _update_grid(self) -> None:
        state = self._state
        self._grid = warp_grid(self._map, state.domain, lines=state.grid_lines)
        self.sigGridChanged.emit(self._grid)
        try:
            images = self._layer_images(self._state.layer_units)
        except ValueError:  # the chosen units are not in this network's layers: PCA instead
            self._set(layer_units=None)
            images = self._layer_images(None)
        self._show_layers(images)

    def _walkable_network(self) -> tuple[TorchMap | None, SliceMap | None]:
        """The torch network behind the source, and the slice it is seen through, if any."""
        source = self._source
        if isinstance(source, TorchMap):
            return source, None
        if isinstance(source, SliceMap) and isinstance(source.inner, TorchMap):
            return source.inner, source
        return None, None

    def _layer_images(self, units: tuple[int, int] | None) -> list[LayerImage] | None:
        """The input grid in every layer's space, for networks that can be walked.

        Wide layers are seen through ``units``, or their principal directions for None.
        Raises ValueError when those units are not in every layer wider than 2.
        """
        network, plane = self._walkable_network()
        if network is None:
            return None
        # The unrefined grid: the layer views show shapes, and this keeps map changes quick.
        lines = grid_lines(self._state.domain, self._state.grid_lines)
        if plane is not None:
            lines = plane.lift(lines.reshape(-1, 2)).reshape(*lines.shape[:2], -1)
        try:
            return layer_images(network.module, lines, "pca" if units is None else units)
        except LayerError:
            return None

    def _show_layers(self, images: list[LayerImage] | None) -> None:
        self._layers = images
        self.sigLayerImagesChanged.emit(images)
        self._update_layer_path()

    def _update_layer_path(self) -> None:
        """Follow the probe and its circle through the layers shown (a few points: cheap)."""
        if not self._path_shown:
            return  # sent when a view appears (set_layer_path_shown)
        network, plane = self._walkable_network()
        if network is None or self._layers is None:
            self.sigLayerPathChanged.emit(None)
            return
        state = self._state
        point = np.asarray(state.probe, dtype=np.float64)
        points = np.concatenate([point[None], point + state.h * unit_circle(PATH_CIRCLE_SAMPLES)])
        if plane is not None:
            points = plane.lift(points)
        path = layer_path(network.module, points, self._layers)
        self.sigLayerPathChanged.emit(LayerPath(points=path[:, 0], circles=path[:, 1:]))

    def _update_probe(self) -> None:
        lin = linearize(self._map, self._state.probe, self._state.h)
        self._linearization = lin
        self.sigProbeChanged.emit(lin)
        if self._analysed is not self._map:
            # The planes draw a 2D view; the inspector reads the classifier's own Jacobian.
            lin = dataclasses.replace(lin, report=probe(self._analysed, self._state.probe))
        self.sigInspected.emit(lin)
        self.sigFactorsChanged.emit(self._factors())
        self._update_layer_path()

    def _factors(self) -> list[Factor] | str | None:
        """The network's chain-rule factors at the probe, why there are none, or None.

        On a slice the first factor is the slice's own ``[u v]``, so that the products end
        with the Jacobian of the map shown.
        """
        network, plane = self._walkable_network()
        if network is None:
            return None
        point = np.asarray(self._state.probe, dtype=np.float64)
        try:
            if plane is None:
                return factorize(network.module, point)
            return factorize(network.module, plane.lift(point)[0], plane.directions)
        except LayerError as error:
            return f"Not available for this network:\n{error}"

    def _request_field(self) -> None:
        """Compute the Jacobian field and its fold lines off the GUI thread."""
        map_, source, domain = self._analysed, self._source, self._state.domain
        classifier = self.is_classifier
        rows = cols = HEATMAP_RESOLUTION

        def compute() -> _FieldResult:
            points = sample_points(domain, cols, rows)
            field = jacobian_field(map_, points)
            det = field.det
            folds = None if det is None else zero_contour(det.reshape(rows, cols), domain)
            regions = None
            if classifier:
                logits = source.evaluate(points).reshape(rows, cols, -1)
                regions = DecisionRegions.from_logits(logits)
            return _FieldResult(map_, domain, field, folds, regions, rows, cols)

        self._runner.submit(compute)

    def _field_is_current(self, result: _FieldResult) -> bool:
        return result.map_ is self._analysed and result.domain == self._state.domain

    def _on_field_ready(self, result: _FieldResult) -> None:
        if not self._field_is_current(result):
            return
        self._field = result
        self._emit_heatmap(result)
        undefined = float(np.mean(result.field.nonfinite))
        if undefined > 0:
            self.sigStatus.emit(
                f"The map is not finite on {100 * undefined:.3g}% of the plane (shown blank)."
            )

    def _on_field_failed(self, message: str) -> None:
        self.sigStatus.emit(f"Could not compute the heatmap: {message}")

    def _emit_heatmap(self, result: _FieldResult) -> None:
        key = self._state.heatmap
        shape = (result.rows, result.cols)
        quantity = key is not None and key != CLASSES
        self.sigHeatmapChanged.emit(
            HeatmapImage(
                key=key,
                label="" if key is None else heatmap_label(key),
                image=heatmap_values(result.field, key).reshape(shape) if quantity else None,
                # Over decision regions, det = 0 curves of the logits would read as boundaries.
                folds=None if key == CLASSES else result.folds,
                domain=result.domain,
                regions=result.regions if key == CLASSES else None,
            )
        )
