"""Turns the user's intents into a new :class:`ViewState` and hands views plain arrays.

The controller is the only place that calls the core: widgets emit intents (a new formula, a
picked point, a heatmap choice), the controller computes, and the views draw what they are
given. Heatmaps (a Jacobian field over the domain, coarse then 256², and the part in view at
screen resolution after a zoom) run off the GUI thread (:mod:`.heatmaps`); everything at the
probe is cheap enough to compute at once (:mod:`.pictures` has what is computed).

What the user hands the app is prepared off the GUI thread too (:mod:`.loader`,
:mod:`.openings`): a typed formula is parsed in a child process with a time limit, a network
file is loaded (its code, if any, in a child process of its own) and tried on the grid and
the probe, a session's map likewise. Only then does it replace the map on screen; until then
the previous map stays and the window stays responsive, and the user can cancel. If a network
fails later (a call over its time limit, an error at some batch size), the app falls back to
the last formula.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from jacviz.gui.common.runner import LatestOnlyRunner
from jacviz.gui.mapview.heatmaps import (
    FieldFailure,
    FieldResult,
    HeatmapImage,
    HeatmapJobs,
    ViewRequest,
    heatmap_image,
)
from jacviz.gui.mapview.loaded_network import LoadedNetwork
from jacviz.gui.mapview.loader import Outcome, Refused, RequestLoader
from jacviz.gui.mapview.openings import prepare_formula, prepare_network, prepare_state
from jacviz.gui.mapview.pictures import (
    default_output_view,
    derive,
    fallback_output_view,
    heatmap_problem,
    is_classifier,
    layer_pictures,
    layers_offered,
    one_torch_thread,
    output_view_problem,
    probe_factors,
    probe_path,
    warp,
)
from jacviz.math.formula import FormulaError
from jacviz.math.grid import Domain, WarpedGrid
from jacviz.math.linearize import Linearization, linearize
from jacviz.math.maps import FormulaMap, Map, require_planar
from jacviz.math.presets import Preset
from jacviz.math.probe import probe
from jacviz.nets.layers import Factor, LayerImage
from jacviz.nets.networks import NetworkError
from jacviz.nets.views import SliceMap
from jacviz.state.view import CLASSES, DEFAULT_FORMULA, HIDDEN_VIEW, ViewState

_Method = TypeVar("_Method", bound=Callable[..., Any])


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


class Controller(QObject):
    """Owns the app state and the current map; computes what the views draw.

    Signals carry plain data: ``sigGridChanged(WarpedGrid)``,
    ``sigProbeChanged(Linearization)``, ``sigHeatmapChanged(HeatmapImage)`` (the previous
    one stays until the new field is ready), ``sigHoverChanged(ndarray or None)`` (the image
    of the hovered point), ``sigStateChanged(ViewState)``, ``sigFormulaError(message,
    column)`` ('' when the formula is fine; column 0 when there is no position),
    ``sigStatus(str)`` for the status bar and ``sigFactorsChanged`` (a network's chain-rule
    factors at the probe, a string saying why there are none, or None for formulas),
    ``sigLayersOffered(bool)`` (whether the map is a network whose layers can be shown),
    ``sigLayerImagesChanged`` (the grid in each layer of a walkable network, or None: sent
    only while a view of the layers is on screen, see :meth:`set_layer_path_shown`, or when
    asked for with :meth:`layer_images`) and ``sigLayerPathChanged`` (a :class:`LayerPath`:
    the probe in each of those layers, or None).
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
    sigLayersOffered = pyqtSignal(bool)
    sigLayerImagesChanged = pyqtSignal(object)
    sigLayerPathChanged = pyqtSignal(object)
    sigLoading = pyqtSignal(str)
    sigProblem = pyqtSignal(str, str)
    sigRequestEnded = pyqtSignal(int)

    def __init__(self, state: ViewState | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._state = state or ViewState()
        # The state's own formula was accepted when it was saved (the app's settings, or a
        # caller that checked it): taken without a check in a child process. Only its syntax
        # is read here (no sympy); it is parsed when first evaluated, which the first
        # picture does on a worker thread (gui/shell/first_picture.py).
        try:
            self._source: Map = FormulaMap.from_text(self._state.formula, isolated=False)
            require_planar(self._source)
        except (FormulaError, ValueError):  # e.g. a 1-output formula in hand-edited settings
            self._state = dataclasses.replace(self._state, formula=DEFAULT_FORMULA)
            self._source = FormulaMap.from_text(DEFAULT_FORMULA, isolated=False)
        self._network: LoadedNetwork | None = None  # the network shown, if any
        restore = self._state
        if restore.network is not None:  # opened off the GUI thread, once the window is up
            self._state = dataclasses.replace(self._state, network=None, slice=None)
        self._analysed, self._map = self._derive(self._source)
        self._grid: WarpedGrid | None = None
        self._linearization: Linearization | None = None
        self._inspected: Linearization | None = None
        self._layers: list[LayerImage] | None = None  # the grid in each layer, as shown
        # Whether a view of the layers is on screen: the layers are drawn, and the probe's
        # path followed, only then, to keep map changes and probe updates quick when nobody
        # looks inside the network. Until then the layers of the map shown are "stale".
        self._path_shown = False
        self._layers_stale = False
        self._heatmaps = HeatmapJobs(lambda: (self._analysed, self._state.domain), self)
        self._heatmaps.sigComputed.connect(self._on_field_ready)
        self._heatmaps.sigStatus.connect(self.sigStatus)
        self._loader = RequestLoader(self._fall_back, self)
        self._loader.sigLoading.connect(self.sigLoading)
        self._loader.sigStatus.connect(self.sigStatus)
        self._loader.sigRequestEnded.connect(self.sigRequestEnded)
        self._loader.sigRefused.connect(self._on_refused)
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
        return is_classifier(self._source, self._network)

    @property
    def grid(self) -> WarpedGrid | None:
        """The current warped grid."""
        return self._grid

    @property
    def linearization(self) -> Linearization | None:
        """The local linear picture at the probe."""
        return self._linearization

    @property
    def inspected(self) -> Linearization | None:
        """What the inspector shows at the probe (the analysed map's report).

        That is :attr:`linearization` with the report of the analysed map: a classifier's
        logits or probabilities, read as a classifier's.
        """
        return self._inspected

    @property
    def heatmap_runner(self) -> LatestOnlyRunner:
        """The background runner of heatmap jobs (tests wait on it)."""
        return self._heatmaps.runner

    @property
    def loading(self) -> str:
        """What is being prepared off the GUI thread ('' when nothing is)."""
        return self._loader.loading

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
        prepare = prepare_formula(text, self._show_formula)
        self._loader.submit("Checking the formula…", prepare, done)

    def set_formula(self, text: str) -> bool:
        """:meth:`request_formula`, waiting for the outcome; True if the map was switched."""
        return self._loader.wait_for(self.request_formula, text).problem is None

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
        name = Path(path).name or str(path)
        prepare = prepare_network(path, self._state, self._show_network)
        self._loader.submit(f"Opening {name}…", prepare, done, title="Network not opened")

    def open_network(self, path: str) -> str | None:
        """:meth:`request_network`, waiting; returns None, or why it cannot be shown.

        On failure nothing changes: the current map stays on screen.
        """
        return self._loader.wait_for(self.request_network, path).problem

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
        prepare = prepare_state(state, self._show_state)
        self._loader.submit(description, prepare, done)  # the caller reports a refusal (sessions)

    def show_state(self, state: ViewState) -> str | None:
        """:meth:`request_state`, waiting; returns None, or why it cannot be shown."""
        return self._loader.wait_for(self.request_state, state).problem

    def finish_loading(self) -> None:
        """Run the event loop until no request is pending (for renders and scripts)."""
        self._loader.finish()

    def cancel_loading(self) -> None:
        """Stop preparing the pending request (its child process is killed); the map stays."""
        self._loader.cancel()

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
        images = self.heatmap_images()
        for image in images:
            self.sigHeatmapChanged.emit(image)
        if not images:
            self._request_field()

    def set_view(self, view: ViewRequest | None) -> None:
        """The input plane shows ``view`` of the domain (None: all of it), e.g. after a zoom.

        The heatmap of that part is computed again at screen resolution, off the GUI thread,
        and drawn over the domain's (the one on screen stays until it is ready); when the
        domain is all in view again, the domain's field alone is shown.
        """
        if self._heatmaps.set_view(view):
            field = self._heatmaps.current_field()
            if field is not None:
                self.sigHeatmapChanged.emit(heatmap_image(field, self._state.heatmap))

    def heatmap_images(self) -> list[HeatmapImage]:
        """The heatmap as the input plane shows it now: the domain's, then the detail if any."""
        return self._heatmaps.images(self._state.heatmap)

    def export_heatmap(self, view: ViewRequest) -> HeatmapImage | None:
        """The heatmap of ``view`` at its own pixels for an exported figure, computed now.

        None when the plane's heatmap is already as fine there (or there is none yet).
        """
        return self._heatmaps.export_image(view, self._state.heatmap)

    @_falls_back
    def set_jacobian_of(self, kind: str) -> None:
        """Inspect the Jacobian of a classifier's "logits" or of its softmax "probabilities"."""
        if kind != self._state.jacobian_of:
            self._set(jacobian_of=kind)
            self._update_map()

    @_falls_back
    def set_output_view(self, kind: str) -> None:
        """Draw a classifier through the output view ``kind`` (see ``ViewState.output_view``).

        "pca" shows the outputs' top-2 principal directions, "outputs(i,j)" two outputs,
        "margin" (2 classes only) draws the logit margin against the boundary direction;
        "hidden" (2-class MLPs only) the last hidden layer's top-2 principal directions. A view the
        map does not have is refused with a message, and the widgets are put back.
        """
        if kind == self._state.output_view:
            return
        if output_view_problem(kind, self._source, self.is_classifier):
            self.sigStatus.emit(
                "Output plane not changed: the last hidden layer is shown only for 2-class "
                "MLPs of torch layers (a Sequential ending with a Linear layer)"
                if kind == HIDDEN_VIEW
                else f"Output plane not changed: this map has no view {kind!r}"
            )
            self.sigStateChanged.emit(self._state)
            return
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
            self.sigLayerImagesChanged.emit(self.layer_images())
            return
        self._set(layer_units=units)
        self._layers_stale = False
        self._show_layers(images)

    @_falls_back
    def set_layer_path_shown(self, shown: bool) -> None:
        """A view of the layers appeared (True) or went away: draw them and follow the probe.

        The layers of a new map are computed when a view of them appears, not before.
        """
        self._path_shown = bool(shown)
        if not self._path_shown:
            return
        if self._layers_stale:
            self._draw_layers()
        else:
            self._update_layer_path()

    def layer_images(self) -> list[LayerImage] | None:
        """The grid in each layer of the network shown (None: it has none to show).

        Computed now if no view of the layers was on screen since the map changed (and then
        sent with ``sigLayerImagesChanged``, so that a view shows them): for figures and
        renders of a view not yet shown.
        """
        if self._layers_stale:
            self._draw_layers()
        return self._layers

    def set_morph(self, t: float) -> None:
        """Show the output plane at (1 − t)·p + t·f(p)."""
        self._set(morph=float(np.clip(t, 0.0, 1.0)))

    @_falls_back
    @one_torch_thread
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
        self._heatmaps.cancel()
        if self._network is not None:
            self._network.close()
        self.wait()

    def wait(self, msecs: int = -1) -> bool:
        """Block until no background thread of the map view runs; True if none does.

        Waits at most ``msecs`` milliseconds for each of them (-1: no limit); ``wait(0)``
        only checks (tests use it after the window closed).
        """
        heatmaps_done = self._heatmaps.wait(msecs)
        return self._loader.wait(msecs) and heatmaps_done

    # ---- requests prepared off the GUI thread ---------------------------------------------
    def _on_refused(self, refused: Refused) -> None:
        """Say why a request cannot be shown: under the formula, or in a dialog."""
        if refused.formula:
            self.sigFormulaError.emit(refused.message, refused.column)
            return
        self.sigStatus.emit(f"{refused.title or 'Not shown'}: {refused.message}")
        if refused.title:
            self.sigProblem.emit(refused.title, refused.message)

    def _show_formula(self, text: str, map_: Map) -> None:
        self.sigFormulaError.emit("", 0)
        self._replace_network(None)
        self._source = map_
        self._set(formula=text, network=None, slice=None)
        self._update_map()

    def _show_network(
        self, path: str, network: LoadedNetwork, source: Map, changes: dict[str, object]
    ) -> None:
        self.sigFormulaError.emit("", 0)
        self._replace_network(network)
        self._source = source
        view = default_output_view(source, self.is_classifier)
        if view is not None:  # e.g. a 2-class classifier: its margin, not a line of logits
            changes = {**changes, "output_view": view}
        self._set(network=str(path), slice=None, **changes)
        self._update_map()
        self.sigStatus.emit(network.note(self._source))

    def _show_state(self, state: ViewState, source: Map, network: LoadedNetwork | None) -> None:
        self._replace_network(network)
        self._source = source
        self.sigFormulaError.emit("", 0)
        self._state = state
        self.sigStateChanged.emit(state)
        self._update_map()
        if network is not None:
            self.sigStatus.emit(network.note(source))

    def _replace_network(self, network: LoadedNetwork | None) -> None:
        """Make ``network`` the one shown, stopping the process of the one it replaces."""
        old, self._network = self._network, network
        if old is not None and old is not network:
            old.close()

    def _fall_back(self, message: str) -> None:
        """The network shown failed: show the last formula instead, and say why."""
        self._heatmaps.cancel()
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
        return derive(source, self._state, self.is_classifier)

    def _heatmap_problem(self, key: str | None) -> str:
        """Why ``key`` cannot colour the current map ('' if it can)."""
        return heatmap_problem(key, self._source, self.is_classifier)

    @one_torch_thread
    def _update_map(self) -> None:
        if self._output_view_problem():
            self._set(output_view=fallback_output_view(self._source, self.is_classifier))
        if self._heatmap_problem(self._state.heatmap):
            self._set(heatmap=CLASSES if self.is_classifier else "det")
        self._analysed, self._map = self._derive(self._source)
        self._request_field()  # first, so the worker runs while the grid is computed here
        self._update_grid()
        self._update_probe()
        self._heatmaps.take_coarse()  # done meanwhile? Then it is in the first picture too

    def _output_view_problem(self) -> bool:
        """True when the current map cannot be drawn through the chosen output view."""
        return output_view_problem(self._state.output_view, self._source, self.is_classifier)

    @one_torch_thread
    def _update_grid(self) -> None:
        state = self._state
        self._grid = warp(self._map, state)
        self.sigGridChanged.emit(self._grid)
        offered, units_fit = layers_offered(self._source, self._state)
        if not units_fit:  # the chosen units are not in this network's layers: PCA instead
            self._set(layer_units=None)
        self.sigLayersOffered.emit(offered)
        if offered and not self._path_shown:
            self._layers_stale, self._layers = True, None  # drawn when a view appears
        else:
            self._draw_layers()

    def _draw_layers(self) -> None:
        """Compute the grid in each layer, with the state's units (else PCA), and send it."""
        try:
            images = self._layer_images(self._state.layer_units)
        except ValueError:  # units not in this network's layers (checked above): PCA instead
            self._set(layer_units=None)
            images = self._layer_images(None)
        self._layers_stale = False
        self._show_layers(images)

    def _layer_images(self, units: tuple[int, int] | None) -> list[LayerImage] | None:
        """The input grid in every layer's space, as :func:`layer_pictures` draws it.

        Raises ValueError if ``units`` are not in every layer wider than 2.
        """
        return layer_pictures(self._source, self._state, units)

    def _show_layers(self, images: list[LayerImage] | None) -> None:
        self._layers = images
        self.sigLayerImagesChanged.emit(images)
        self._update_layer_path()

    def _update_layer_path(self) -> None:
        """Follow the probe and its circle through the layers shown (a few points: cheap)."""
        if not self._path_shown:
            return  # sent when a view appears (set_layer_path_shown)
        self.sigLayerPathChanged.emit(probe_path(self._source, self._state, self._layers))

    @one_torch_thread
    def _update_probe(self) -> None:
        lin = linearize(self._map, self._state.probe, self._state.h)
        self._linearization = lin
        self.sigProbeChanged.emit(lin)
        if self._analysed is not self._map:
            # The planes draw a 2D view; the inspector reads the classifier's own Jacobian,
            # and the error at h measured on that view is not the error of this Jacobian.
            report = probe(self._analysed, self._state.probe)
            lin = dataclasses.replace(lin, report=report, error=math.nan, relative_error=math.nan)
        if self.is_classifier:  # and only what applies to a classifier's J
            probabilities = self._state.jacobian_of == "probabilities"
            lin = dataclasses.replace(lin, report=lin.report.as_classifier(probabilities))
        self._inspected = lin
        self.sigInspected.emit(lin)
        self.sigFactorsChanged.emit(self._factors())
        self._update_layer_path()

    def _factors(self) -> list[Factor] | str | None:
        """The network's chain-rule factors at the probe, why there are none, or None."""
        return probe_factors(self._source, self._state.probe)

    def _request_field(self) -> None:
        """Compute the heatmap's field off the GUI thread (:class:`HeatmapJobs`)."""
        self._heatmaps.request(self._analysed, self._source, self._state.domain, self.is_classifier)

    def _on_field_ready(self, result: FieldResult | FieldFailure) -> None:
        if isinstance(result, FieldFailure):
            if self._network is not None:
                self._fall_back(result.message)
            else:
                self.sigStatus.emit(f"Could not compute the heatmap: {result.message}")
            return
        under = self._heatmaps.current_field() if result.detail else None
        self.sigHeatmapChanged.emit(heatmap_image(result, self._state.heatmap, under))
        undefined = float(np.mean(result.field.nonfinite))
        if undefined > 0 and not result.detail:
            self.sigStatus.emit(
                f"The map is not finite on {100 * undefined:.3g}% of the plane (shown blank)."
            )
