"""Turns the user's intents into a new :class:`ViewState` and hands views plain arrays.

The controller is the only place that calls the core: widgets emit intents (a new formula, a
picked point, a heatmap choice), the controller computes, and the views draw what they are
given. Heatmaps (a Jacobian field over a 256² grid) run off the GUI thread through a
:class:`LatestOnlyRunner`; everything at the probe is cheap enough to compute at once.

What the user hands the app is prepared off the GUI thread too, by a second runner: a typed
formula is parsed in a child process with a time limit, a network file is loaded (its code,
if any, in a child process of its own) and tried on the grid and the probe, a session's map
likewise. Only then does it replace the map on screen; until then the previous map stays and
the window stays responsive, and the user can cancel. If a network fails later (a call over
its time limit, an error at some batch size), the app falls back to the last formula.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PyQt6.QtCore import QEventLoop, QObject, pyqtSignal

from jacviz.gui.common.runner import LatestOnlyRunner
from jacviz.math.budget import grid_samples_within_budget, points_within_budget, side_within_budget
from jacviz.math.contour import zero_contour
from jacviz.math.formula import FormulaError
from jacviz.math.grid import Domain, WarpedGrid, grid_lines, sample_points, warp_grid
from jacviz.math.jacobian import CHUNK_SIZE, HEATMAP_QUANTITIES, JacobianField
from jacviz.math.linearize import Linearization, linearize, unit_circle
from jacviz.math.maps import FormulaMap, Map, TorchMap, require_planar
from jacviz.math.presets import Preset
from jacviz.math.probe import probe
from jacviz.nets.hosted import HostedNetwork, LoadCancelled
from jacviz.nets.layers import Factor, LayerError, LayerImage, factorize, layer_images, layer_path
from jacviz.nets.networks import Network, NetworkError, load_network_bytes, read_network_file
from jacviz.nets.views import DecisionRegions, OutputView, ProbabilityMap, SliceMap
from jacviz.state.view import CLASSES, DEFAULT_FORMULA, ViewState
from jacviz.support.isolation import Cancelled, CancelScope

HEATMAP_RESOLUTION = 256
PATH_CIRCLE_SAMPLES = 64
"""Samples of the circle |δ| = h whose image the layer view draws: few, as it follows the probe."""
GRID_SAMPLES = 2049
"""Most samples per grid line (the grid refines until it draws smooth, up to this)."""
FIELD_BLOCK = 4 * CHUNK_SIZE
"""Points per step of a heatmap's computation: between steps a superseded job stops."""

_Method = TypeVar("_Method", bound=Callable[..., Any])


@dataclass(frozen=True)
class Outcome:
    """How a request to show something (a formula, network or session's map) ended."""

    problem: str | None = None
    """None when it is on screen; else why not, in one line."""
    cancelled: bool = False
    """True when the user cancelled it, or a newer request replaced it."""


@dataclass(frozen=True)
class _Refused:
    """A request that cannot be shown: why, and where in a typed formula (column, or 0)."""

    message: str
    title: str = ""
    """The dialog's title, for problems worth a dialog ('' for none)."""
    column: int = 0
    formula: bool = False
    """True for a typed formula: the editor shows the message under the text."""


@dataclass
class _Request:
    """A request being prepared off the GUI thread."""

    number: int
    description: str
    scope: CancelScope
    done: Callable[[Outcome], None] | None


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

    inner: Map
    """The network as a map: a TorchMap, or a HostedNetwork whose code runs in a child."""
    description: str
    class_names: tuple[str, ...] | None = None
    """Set when the file says its outputs are class logits (even just 2 of them)."""
    domain: Domain | None = None
    """The input rectangle the file suggests (e.g. its training data's), if valid."""
    data: bytes = b""
    """The file's content as loaded: what a session embeds, even if the file changes later."""

    @classmethod
    def load(cls, path: str) -> _Network:
        """Read and load the file at ``path`` (blocking: call it off the GUI thread)."""
        data = read_network_file(path)
        network: Network = load_network_bytes(data, Path(path).name or str(path))
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
        text += f"Jacobians by {self.inner.jacobian_method}."
        if isinstance(self.inner, HostedNetwork):
            text += "".join(f" Note: {note}." for note in self.inner.notes()[:2])
        return text

    def close(self) -> None:
        """Stop the network's process, if it has one (a hosted network)."""
        if isinstance(self.inner, HostedNetwork):
            self.inner.close()


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


def _falls_back(method: _Method) -> _Method:
    """Run an intent; if the network shown fails meanwhile, fall back to the last formula.

    A hosted network can stop answering at any call (its time limit, an error for some batch
    size, its process dying); the map on screen must never be left half drawn by it.
    """

    @functools.wraps(method)
    def guarded(self: Controller, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (NetworkError, MemoryError) as error:
            if self._network is None:
                raise
            self._fall_back(str(error) or "it ran out of memory")
            return None

    return guarded  # type: ignore[return-value]


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
    ``sigLoading(str)`` says what is being prepared off the GUI thread ('' when nothing is),
    and ``sigProblem(title, message)`` reports a request that could not be shown (a network
    that does not load) or a network that failed and was replaced by the last formula.

    Three maps are kept: the *source* the user chose (on the input plane: 2 inputs, k
    outputs), the *analysed* map whose Jacobian the inspector and heatmaps show (the source,
    or its softmax probabilities), and the *shown* 2→2 map the planes draw (the analysed map
    itself when k = 2, else a 2D view of its outputs). ``sigInspected(Linearization)``
    carries the inspector's numbers, which are the analysed map's.

    Requests that take user input (:meth:`request_formula`, :meth:`request_network`,
    :meth:`request_state`) are prepared off the GUI thread, newest first, and end with a
    callback; :meth:`set_formula`, :meth:`open_network` and :meth:`show_state` do the same
    and wait for the outcome while the event loop runs (for scripts, renders and tests).
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
    sigLoading = pyqtSignal(str)
    sigProblem = pyqtSignal(str, str)
    sigRequestEnded = pyqtSignal(int)

    def __init__(self, state: ViewState | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._state = state or ViewState()
        # The state's own formula was accepted when it was saved (the app's settings, or a
        # caller that checked it): parsed here at once, so the first picture needs no wait.
        try:
            self._source: Map = FormulaMap.from_text(self._state.formula, isolated=False)
            require_planar(self._source)
        except (FormulaError, ValueError):  # e.g. a 1-output formula in hand-edited settings
            self._state = dataclasses.replace(self._state, formula=DEFAULT_FORMULA)
            self._source = FormulaMap.from_text(DEFAULT_FORMULA, isolated=False)
        self._network: _Network | None = None  # the network shown, if any
        restore = self._state
        if restore.network is not None:  # opened off the GUI thread, once the window is up
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
        self._loader = LatestOnlyRunner(self)
        self._loader.sigResult.connect(self._on_prepared)
        self._loader.sigFailed.connect(self._on_prepare_crashed)
        self._request: _Request | None = None
        self._requests = 0
        self._restore = restore if restore.network is not None else None

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
        return _is_classifier(self._source, self._network)

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
    def loading(self) -> str:
        """What is being prepared off the GUI thread ('' when nothing is)."""
        return "" if self._request is None else self._request.description

    @property
    def network_data(self) -> bytes | None:
        """The content of the network file shown, as it was loaded (None for other maps).

        A session embeds these bytes rather than the file's current content, so that it
        saves the network on screen even if the file was overwritten since.
        """
        return None if self._network is None else self._network.data

    # ---- intents -------------------------------------------------------------------------------
    @_falls_back
    def refresh(self) -> None:
        """Recompute everything for the current state (at start-up).

        A network in the initial state is then opened off the GUI thread, as a session's is.
        """
        self.sigStateChanged.emit(self._state)
        self._update_map()
        if self._network is not None:
            self.sigStatus.emit(self._network.note(self._source))
        restore, self._restore = self._restore, None
        if restore is not None:
            self.request_state(restore)

    def request_formula(self, text: str, done: Callable[[Outcome], None] | None = None) -> None:
        """Switch to the map typed in ``text``, once it has been checked off the GUI thread.

        On error the current map stays and ``sigFormulaError`` says why (and where).
        """
        description = "Checking the formula…"

        def prepare() -> Callable[[], None] | _Refused:
            try:
                map_ = FormulaMap.from_text(text)  # in a child process, with a time limit
                require_planar(map_)
            except FormulaError as error:
                return _Refused(str(error), column=error.column or 0, formula=True)
            except ValueError as error:
                return _Refused(str(error), formula=True)
            return lambda: self._show_formula(text, map_)

        self._submit(description, prepare, done)

    def set_formula(self, text: str) -> bool:
        """:meth:`request_formula`, waiting for the outcome; True if the map was switched."""
        return self._wait(self.request_formula, text).problem is None

    def set_map(self, map_: Map) -> None:
        """Show any map of 2 inputs and 2 outputs (a network held in memory, for instance).

        The state's formula text is left as it was: it describes the last typed map.
        """
        require_planar(map_)
        self.cancel_loading()
        self._replace_network(None)
        self._source = map_
        self.sigFormulaError.emit("", 0)
        self._update_map()

    def request_network(self, path: str, done: Callable[[Outcome], None] | None = None) -> None:
        """Show the network saved at ``path``, once loaded and tried off the GUI thread.

        Its code, if the file carries any, runs in a child process with time limits. Until it
        is ready the current map stays; if it cannot be shown, ``sigProblem`` says why.
        A classifier opens on its decision regions and a file's suggested domain is used.
        """
        state = self._state
        name = Path(path).name or str(path)

        def prepare() -> Callable[[], None] | _Refused:
            network = _Network.load(path)
            try:
                changes = _suggestions(network, state)
                source = network.planar()
                _try_out(source, network, dataclasses.replace(state, **changes))
            except BaseException:
                network.close()
                raise
            return lambda: self._show_network(path, network, source, changes)

        self._submit(f"Opening {name}…", prepare, done, title="Network not opened")

    def open_network(self, path: str) -> str | None:
        """:meth:`request_network`, waiting; returns None, or why it cannot be shown.

        On failure nothing changes: the current map stays on screen.
        """
        return self._wait(self.request_network, path).problem

    def request_state(
        self, state: ViewState, done: Callable[[Outcome], None] | None = None
    ) -> None:
        """Show ``state`` as it is (a session's, or the one saved at the last exit).

        Its formula is checked and its network loaded and tried off the GUI thread, as for
        :meth:`request_formula` and :meth:`request_network`. Unlike those, nothing comes from
        the network file's suggestions: the state is the user's saved choice. If it cannot be
        shown, nothing changes. Choices the map cannot honour are adjusted as for any new map
        (a heatmap it has no values for, outputs or layer units it does not have).
        """
        description = (
            "Opening the saved map…"
            if state.network is None
            else f"Opening {Path(state.network).name or state.network}…"
        )

        def prepare() -> Callable[[], None] | _Refused:
            try:
                formula = FormulaMap.from_text(state.formula)
                require_planar(formula)
            except (FormulaError, ValueError) as error:
                return _Refused(f"its formula cannot be used: {error}")
            network = None if state.network is None else _Network.load(state.network)
            try:
                source = formula if network is None else network.planar(state.slice)
                _try_out(source, network, state)
            except BaseException:
                if network is not None:
                    network.close()
                raise
            return lambda: self._show_state(state, source, network)

        self._submit(description, prepare, done)  # the caller reports a refusal (sessions)

    def show_state(self, state: ViewState) -> str | None:
        """:meth:`request_state`, waiting; returns None, or why it cannot be shown."""
        return self._wait(self.request_state, state).problem

    def finish_loading(self) -> None:
        """Run the event loop until no request is pending (for renders and scripts)."""
        while self._request is not None:
            loop = QEventLoop()
            self.sigRequestEnded.connect(loop.quit)
            try:
                if self._request is not None:
                    loop.exec()
            finally:
                self.sigRequestEnded.disconnect(loop.quit)

    def cancel_loading(self) -> None:
        """Stop preparing the pending request (its child process is killed); the map stays."""
        request, self._request = self._request, None
        if request is None:
            return
        request.scope.cancel()
        self._loader.cancel()
        self.sigLoading.emit("")
        self.sigStatus.emit(f"Cancelled: {request.description.rstrip('…')}")
        self._end(request, Outcome("cancelled", cancelled=True))

    @_falls_back
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
        self.cancel_loading()
        domain = preset.domain
        probe = (
            domain.xmin + 0.6 * domain.width,
            domain.ymin + 0.6 * domain.height,
        )
        self._replace_network(None)
        self._source = FormulaMap.from_text(preset.formula, isolated=False)  # ours: trusted
        self.sigFormulaError.emit("", 0)
        self._set(formula=preset.formula, network=None, slice=None, domain=domain, probe=probe)
        self._update_map()
        self.sigStatus.emit(f"{preset.name}: {preset.note}")

    @_falls_back
    def set_domain(self, domain: Domain) -> None:
        """Show the input plane over ``domain``."""
        if domain != self._state.domain:
            self._set(domain=domain)
            self._update_map()

    @_falls_back
    def set_grid_lines(self, lines: int) -> None:
        """Draw ``lines`` grid lines in each direction."""
        if lines != self._state.grid_lines:
            self._set(grid_lines=lines)
            self._update_grid()

    @_falls_back
    def set_probe(self, x: float, y: float) -> None:
        """Move the probe to (x, y) and recompute the local picture there."""
        if not (np.isfinite(x) and np.isfinite(y)):
            return
        self._set(probe=(float(x), float(y)))
        self._update_probe()

    @_falls_back
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

    @_falls_back
    def set_jacobian_of(self, kind: str) -> None:
        """Inspect the Jacobian of a classifier's "logits" or of its softmax "probabilities"."""
        if kind != self._state.jacobian_of:
            self._set(jacobian_of=kind)
            self._update_map()

    @_falls_back
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

    @_falls_back
    def hover(self, x: float, y: float) -> None:
        """The pointer is at (x, y) in the input plane: mark its image."""
        value = self._map.evaluate(np.array([[x, y]]))[0]
        self.sigHoverChanged.emit(value if np.all(np.isfinite(value)) else None)

    def hover_left(self) -> None:
        """The pointer left the input plane."""
        self.sigHoverChanged.emit(None)

    def shutdown(self) -> None:
        """Stop all background work at once and wait for it (call before the window closes).

        A request being prepared is cancelled (its child process killed), and a network's
        own process is stopped, so that a heatmap job waiting on it ends now: closing the
        window never waits for a slow network.
        """
        self.cancel_loading()
        self._runner.cancel()
        if self._network is not None:
            self._network.close()
        self._runner.wait()
        self._loader.wait()

    # ---- requests prepared off the GUI thread ---------------------------------------------
    def _submit(
        self,
        description: str,
        prepare: Callable[[], Callable[[], None] | _Refused],
        done: Callable[[Outcome], None] | None,
        title: str = "",
    ) -> None:
        """Prepare a request on the loader thread; a newer request replaces this one."""
        previous = self._request
        if previous is not None:  # superseded: stop its work, tell whoever waits on it
            self._request = None
            previous.scope.cancel()
            self._end(previous, Outcome("replaced by a newer request", cancelled=True))
        self._requests += 1
        scope = CancelScope()
        request = _Request(self._requests, description, scope, done)
        self._request = request

        def run() -> Callable[[], None] | _Refused:
            with scope:
                try:
                    return prepare()
                except (LoadCancelled, Cancelled):
                    return _Refused("cancelled")
                except (NetworkError, ValueError) as error:
                    return _Refused(str(error), title)
                except MemoryError:
                    return _Refused("it needs more memory than this machine has", title)

        self.sigLoading.emit(description)
        self._loader.submit(run)

    def _on_prepared(self, prepared: Callable[[], None] | _Refused) -> None:
        request, self._request = self._request, None
        if request is None:
            return  # cancelled after its result was on its way
        self.sigLoading.emit("")
        if isinstance(prepared, _Refused):
            if prepared.formula:
                self.sigFormulaError.emit(prepared.message, prepared.column)
            else:
                self.sigStatus.emit(f"{prepared.title or 'Not shown'}: {prepared.message}")
                if prepared.title:
                    self.sigProblem.emit(prepared.title, prepared.message)
            self._end(request, Outcome(prepared.message))
            return
        try:
            prepared()
        except (NetworkError, MemoryError) as error:  # failed while being put on screen
            self._fall_back(str(error) or "it ran out of memory")
            self._end(request, Outcome(str(error)))
            return
        self._end(request, Outcome())

    def _on_prepare_crashed(self, message: str) -> None:
        """An unexpected error while preparing (a bug): say so, keep the map."""
        request, self._request = self._request, None
        if request is None:
            return
        self.sigLoading.emit("")
        self.sigStatus.emit(f"Could not prepare the map: {message}")
        self._end(request, Outcome(message))

    def _end(self, request: _Request, outcome: Outcome) -> None:
        if request.done is not None:
            request.done(outcome)
        self.sigRequestEnded.emit(request.number)

    def _wait(self, start: Callable[..., None], argument: object) -> Outcome:
        """Start a request and run the event loop until it ends (it may be cancelled)."""
        loop = QEventLoop()
        ended: list[Outcome] = []

        def finish(outcome: Outcome) -> None:
            ended.append(outcome)
            loop.quit()

        start(argument, finish)
        if not ended:
            loop.exec()
        return ended[0]

    def _show_formula(self, text: str, map_: Map) -> None:
        self.sigFormulaError.emit("", 0)
        self._replace_network(None)
        self._source = map_
        self._set(formula=text, network=None, slice=None)
        self._update_map()

    def _show_network(
        self, path: str, network: _Network, source: Map, changes: dict[str, object]
    ) -> None:
        self.sigFormulaError.emit("", 0)
        self._replace_network(network)
        self._source = source
        self._set(network=str(path), slice=None, **changes)
        self._update_map()
        self.sigStatus.emit(network.note(self._source))

    def _show_state(self, state: ViewState, source: Map, network: _Network | None) -> None:
        self._replace_network(network)
        self._source = source
        self.sigFormulaError.emit("", 0)
        self._state = state
        self.sigStateChanged.emit(state)
        self._update_map()
        if network is not None:
            self.sigStatus.emit(network.note(source))

    def _replace_network(self, network: _Network | None) -> None:
        """Make ``network`` the one shown, stopping the process of the one it replaces."""
        old, self._network = self._network, network
        if old is not None and old is not network:
            old.close()

    def _fall_back(self, message: str) -> None:
        """The network shown failed: show the last formula instead, and say why."""
        self._runner.cancel()
        self._replace_network(None)
        formula = self._state.formula
        self._source = FormulaMap.from_text(formula, isolated=False)  # it was accepted before
        self._set(network=None, slice=None)
        self._update_map()
        note = f"{message}; showing the formula {formula!r} again"
        self.sigStatus.emit(f"Network failed: {note}")
        self.sigProblem.emit("Network failed", note)

    # ---- computation ---------------------------------------------------------------------------
    def _set(self, **changes: object) -> None:
        self._state = dataclasses.replace(self._state, **changes)
        self.sigStateChanged.emit(self._state)

    def _derive(self, source: Map) -> tuple[Map, Map]:
        """The analysed and shown maps of ``source`` under the current state."""
        return _derive(source, self._state, self.is_classifier)

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
        self._grid = _warp(self._map, state)
        self.sigGridChanged.emit(self._grid)
        try:
            images = self._layer_images(self._state.layer_units)
        except ValueError:  # the chosen units are not in this network's layers: PCA instead
            self._set(layer_units=None)
            images = self._layer_images(None)
        self._show_layers(images)

    def _walkable_network(self) -> tuple[TorchMap | None, SliceMap | None]:
        """The torch network behind the source, and the slice it is seen through, if any."""
        return _walkable(self._source)

    def _layer_images(self, units: tuple[int, int] | None) -> list[LayerImage] | None:
        """The input grid in every layer's space, for networks that can be walked.

        Wide layers are seen through ``units``, or their principal directions for None.
        Raises ValueError when those units are not in every layer wider than 2. None also
        when drawing them would cost more than one picture's budget (a huge network).
        """
        network, plane = self._walkable_network()
        if network is None:
            return None
        # The unrefined grid: the layer views show shapes, and this keeps map changes quick.
        lines = grid_lines(self._state.domain, self._state.grid_lines)
        if lines.shape[0] * lines.shape[1] > points_within_budget(network, jacobian=False):
            return None
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
        source = self._source
        inner = source.inner if isinstance(source, SliceMap) else source
        if isinstance(inner, HostedNetwork):
            return (
                "Not available for this network:\nits code runs in a separate process "
                f"({inner.format}), so its layers cannot be read"
            )
        return _factorize(source, self._state.probe)

    def _request_field(self) -> None:
        """Compute the Jacobian field and its fold lines off the GUI thread.

        The resolution is the usual 256² unless one picture of this map would cost more than
        the work and memory budget (a huge network): then it is coarser, and the status bar
        says so. The job stops between blocks of points when a newer one supersedes it.
        """
        map_, source, domain = self._analysed, self._source, self._state.domain
        classifier = self.is_classifier
        rows = cols = side_within_budget(map_, HEATMAP_RESOLUTION)
        if rows < HEATMAP_RESOLUTION:
            self.sigStatus.emit(
                f"{source.name} is a heavy map: the heatmap is drawn at {rows}×{cols} to stay quick"
            )

        def compute(superseded: Callable[[], bool]) -> _FieldResult | _FieldFailure | None:
            points = sample_points(domain, cols, rows)
            values, jacobians = [], []
            try:
                for start in range(0, len(points), FIELD_BLOCK):
                    if superseded():
                        return None
                    block = map_.evaluate_with_jacobian(points[start : start + FIELD_BLOCK])
                    values.append(block[0])
                    jacobians.append(block[1])
                field = JacobianField.from_arrays(np.concatenate(values), np.concatenate(jacobians))
                det = field.det
                folds = None if det is None else zero_contour(det.reshape(rows, cols), domain)
                regions = None
                if classifier:
                    logits = source.evaluate(points).reshape(rows, cols, -1)
                    regions = DecisionRegions.from_logits(logits)
            except (NetworkError, MemoryError) as error:
                return _FieldFailure(map_, str(error) or "it ran out of memory")
            return _FieldResult(map_, domain, field, folds, regions, rows, cols)

        self._runner.submit_checked(compute)

    def _field_is_current(self, result: _FieldResult | _FieldFailure) -> bool:
        if isinstance(result, _FieldFailure):
            return result.map_ is self._analysed
        return result.map_ is self._analysed and result.domain == self._state.domain

    def _on_field_ready(self, result: _FieldResult | _FieldFailure | None) -> None:
        if result is None or not self._field_is_current(result):
            return
        if isinstance(result, _FieldFailure):
            if self._network is not None:
                self._fall_back(result.message)
            else:
                self.sigStatus.emit(f"Could not compute the heatmap: {result.message}")
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


# ---- what requests prepare off the GUI thread, and what the views compute -------------------


def _is_classifier(source: Map, network: _Network | None) -> bool:
    return source.output_dim > 2 or (network is not None and network.class_names is not None)


def _derive(source: Map, state: ViewState, classifier: bool) -> tuple[Map, Map]:
    """The analysed and shown maps of ``source`` under ``state``."""
    probabilities = classifier and state.jacobian_of == "probabilities"
    analysed = ProbabilityMap(source) if probabilities else source
    if source.output_dim <= 2:
        return analysed, analysed
    if state.output_view == "pca":
        # Principal directions of the outputs over the domain, fitted once per map.
        points = sample_points(state.domain, 32)
        return analysed, OutputView(analysed, "pca", points=points)
    return analysed, OutputView(analysed, state.output_view)


def _warp(map_: Map, state: ViewState) -> WarpedGrid:
    """The grid's image, with as many samples per line as one picture's budget allows."""
    curves = 2 * state.grid_lines
    samples = grid_samples_within_budget(map_, curves, GRID_SAMPLES)
    return warp_grid(map_, state.domain, lines=state.grid_lines, max_samples=samples)


def _walkable(source: Map) -> tuple[TorchMap | None, SliceMap | None]:
    """The torch network behind ``source`` and the slice it is seen through, if any."""
    if isinstance(source, TorchMap):
        return source, None
    if isinstance(source, SliceMap) and isinstance(source.inner, TorchMap):
        return source.inner, source
    return None, None


def _factorize(source: Map, probe_point: tuple[float, float]) -> list[Factor] | str | None:
    network, plane = _walkable(source)
    if network is None:
        return None
    point = np.asarray(probe_point, dtype=np.float64)
    try:
        if plane is None:
            return factorize(network.module, point)
        return factorize(network.module, plane.lift(point)[0], plane.directions)
    except LayerError as error:
        return f"Not available for this network:\n{error}"


def _suggestions(network: _Network, state: ViewState) -> dict[str, object]:
    """What a newly opened network file suggests: its data's domain, decision regions."""
    changes: dict[str, object] = {}
    if network.domain is not None:
        domain = network.domain
        changes["domain"] = domain
        changes["probe"] = (domain.xmin + 0.6 * domain.width, domain.ymin + 0.6 * domain.height)
    if network.class_names is not None:
        changes["heatmap"] = CLASSES  # what a classifier's user opens it for
    return changes


def _try_out(source: Map, network: _Network | None, state: ViewState) -> None:
    """Compute, off the GUI thread, what showing ``source`` in ``state`` will ask of it.

    The grid, the picture at the probe and the network's chain-rule factors (whose weight
    SVDs are cached), so that a network failing or crawling at those sizes is refused
    before it replaces the map, and so that the GUI thread then finds the slow parts done.
    Raises what the map raises (NetworkError for a hosted network that fails).
    """
    require_planar(source)
    analysed, shown = _derive(source, state, _is_classifier(source, network))
    _warp(shown, state)
    linearize(shown, state.probe, state.h)
    if analysed is not shown:
        probe(analysed, state.probe)
    _factorize(source, state.probe)


@dataclass(frozen=True)
class _FieldFailure:
    """A heatmap job whose map failed (a hosted network stopping): what it said."""

    map_: Map
    message: str
