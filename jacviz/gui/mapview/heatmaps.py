"""The input plane's heatmaps: a Jacobian field over the domain, computed off the GUI thread.

A field is refined progressively: a coarse one (64²) first, there within a frame, then the
usual 256² over the domain; when the user has zoomed or panned so that the domain is not all
in view, the visible part of it is computed again at screen resolution (at most
:data:`~jacviz.math.budget.DETAIL_LIMIT` per side, and within the work budget), so that a
fold stays sharp however far one zooms in. That last one is the *detail*: drawn over the
domain's field, in the same colours.

:class:`HeatmapJobs` runs these steps one at a time through a
:class:`~jacviz.gui.common.runner.LatestOnlyRunner` (a newer request supersedes the running
job, which stops between blocks of points), keeps the newest fields for the map, domain and
view on screen, and hands them on; :func:`heatmap_image` turns a field into the
:class:`HeatmapImage` the input plane draws for the quantity chosen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from jacviz.gui.common.plots import ColourScale, colour_scale
from jacviz.gui.common.runner import LatestOnlyRunner
from jacviz.math.blocks import map_blocks, thread_policy
from jacviz.math.budget import detail_shape, side_within_budget, work_per_point
from jacviz.math.contour import zero_contour
from jacviz.math.grid import Domain, sample_points
from jacviz.math.jacobian import CHUNK_SIZE, HEATMAP_QUANTITIES, JacobianField
from jacviz.math.maps import Map, TorchMap
from jacviz.nets.networks import NetworkError
from jacviz.nets.views import DecisionRegions, OutputView, ProbabilityMap, SliceMap
from jacviz.state.view import CLASSES

HEATMAP_RESOLUTION = 256
COARSE_RESOLUTION = 64
"""The first field of a new map: a sixteenth of the points, on screen within a frame."""
INLINE_WORK = 4e6
"""A coarse field estimated below this many multiply-adds (a formula's: about 1 ms) is
computed at once on the GUI thread, so that it is in the same frame as the grid; anything
heavier (a network) waits for the worker thread."""
FIELD_BLOCK = 4 * CHUNK_SIZE
"""Points per step of a heatmap's computation: between steps a superseded job stops."""


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
    detail: bool = False
    """True for the visible part of the domain at screen resolution, drawn over the rest."""
    scale: ColourScale | None = None
    """A detail's colours: the scale of the domain's field, so that both read alike."""


@dataclass(frozen=True)
class FieldResult:
    """A computed field: the map and domain it is of, its values, fold lines and regions."""

    map_: Map
    domain: Domain
    field: JacobianField
    folds: np.ndarray | None
    regions: DecisionRegions | None
    rows: int
    cols: int
    detail: bool = False
    """True when ``domain`` is the visible part of the domain (see :class:`ViewRequest`)."""


@dataclass(frozen=True)
class ViewRequest:
    """The part of the domain in view, and how many pixels it covers on screen."""

    region: Domain
    cols: int
    rows: int


@dataclass(frozen=True)
class FieldFailure:
    """A heatmap job whose map failed (a hosted network stopping): what it said."""

    map_: Map
    message: str


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


def heatmap_image(
    result: FieldResult, key: str | None, under: FieldResult | None = None
) -> HeatmapImage:
    """What the input plane draws of ``result`` for the quantity ``key`` (None: folds only).

    A detail is coloured on the scale of the field ``under`` it (the domain's), so that the
    colours and the colour bar keep their meaning while the user zooms.
    """
    shape = (result.rows, result.cols)
    quantity = key is not None and key != CLASSES
    scale = None
    if quantity and result.detail and under is not None:
        scale = colour_scale(heatmap_values(under.field, key), key)
    return HeatmapImage(
        key=key,
        label="" if key is None else heatmap_label(key),
        image=heatmap_values(result.field, key).reshape(shape) if quantity else None,
        # Over decision regions, det = 0 curves of the logits would read as boundaries.
        folds=None if key == CLASSES else result.folds,
        domain=result.domain,
        regions=result.regions if key == CLASSES else None,
        detail=result.detail,
        scale=scale,
    )


def splittable(map_: Map) -> bool:
    """Whether two threads may compute blocks of ``map_``'s field at once (:func:`map_blocks`).

    True for an in-process torch network walked by forward tangents, seen directly or through
    jacviz's adapters (a slice, softmax, two outputs: pure functions of their inner map);
    False for anything else (formulas are cheap; a hosted network shares one pipe; a user's
    in-memory module runs under its time limit, one call at a time).
    """
    while isinstance(map_, SliceMap | ProbabilityMap | OutputView):
        map_ = map_.inner
    return isinstance(map_, TorchMap) and map_.jacobian_method == "forward tangents"


def field_job(
    map_: Map,
    source: Map,
    domain: Domain,
    classifier: bool,
    rows: int,
    cols: int,
    detail: bool = False,
) -> Callable[[Callable[[], bool]], FieldResult | FieldFailure | None]:
    """The job computing ``map_``'s field over ``domain`` on a rows × cols grid.

    It is called with ``superseded()`` and returns None as soon as that turns True (checked
    between blocks of points); a classifier's decision regions come from ``source``'s logits.
    """

    def compute(superseded: Callable[[], bool]) -> FieldResult | FieldFailure | None:
        with thread_policy():
            return fill(superseded)

    def fill(superseded: Callable[[], bool]) -> FieldResult | FieldFailure | None:
        points = sample_points(domain, cols, rows)
        try:
            parallel = splittable(map_)
            blocks = map_blocks(
                map_.evaluate_with_jacobian, points, FIELD_BLOCK, superseded, parallel
            )
            if blocks is None:
                return None
            values, jacobians = zip(*blocks, strict=True)
            field = JacobianField.from_arrays(np.concatenate(values), np.concatenate(jacobians))
            det = field.det
            folds = None if det is None else zero_contour(det.reshape(rows, cols), domain)
            regions = None
            if classifier:
                parallel = splittable(source)
                logits = map_blocks(source.evaluate, points, FIELD_BLOCK, superseded, parallel)
                if logits is None:
                    return None
                regions = DecisionRegions.from_logits(
                    np.concatenate(logits).reshape(rows, cols, -1)
                )
        except (NetworkError, MemoryError) as error:
            return FieldFailure(map_, str(error) or "it ran out of memory")
        return FieldResult(map_, domain, field, folds, regions, rows, cols, detail)

    return compute


@dataclass(frozen=True)
class FieldStep:
    """One field to compute: its rectangle, its resolution, and whether it is a detail."""

    domain: Domain
    rows: int
    cols: int
    detail: bool
    coarse: int = 0
    """Side of a coarse field of the same rectangle computed and handed on first (0: none),
    by the same job: the fine one then starts at once, not after the GUI thread took it."""


class HeatmapJobs(QObject):
    """Computes the heatmaps' fields off the GUI thread, coarse to fine, newest request only.

    Parameters
    ----------
    current : callable
        Returns the analysed map and the domain on screen now: a field of anything else is
        stale and dropped.

    Signals
    -------
    sigComputed(FieldResult or FieldFailure)
        A field of the map and domain (or view) on screen, or why that map failed to give one.
        For one request: the coarse field, then the domain's, then the detail, if any.
    sigStatus(str)
        Information for the status bar (a heavy map drawn coarser, a job that crashed).

    """

    sigComputed = pyqtSignal(object)
    sigStatus = pyqtSignal(str)
    _sigCoarse = pyqtSignal(object, int)
    """A job's coarse field and the job's number, sent from the worker thread."""

    def __init__(self, current: Callable[[], tuple[Map, Domain]], parent: QObject | None = None):
        super().__init__(parent)
        self._current = current
        self._field: FieldResult | None = None
        self._detail: FieldResult | None = None
        self._view: ViewRequest | None = None
        self._job: tuple[Map, Map, bool] | None = None
        """The map, its source and whether it is a classifier, of the newest request."""
        self._side = HEATMAP_RESOLUTION
        self._steps: list[FieldStep] = []
        self._running: FieldStep | None = None
        self._number = 0
        """The number of the newest job started: a coarse field of any other is stale."""
        self._finished_coarse: tuple[FieldResult, int] | None = None
        """The newest coarse field the worker finished, with its job's number (under a lock)."""
        self._taken_coarse = 0
        """The number of the job whose coarse field was last handed on."""
        self._coarse_lock = threading.Lock()
        self._sigCoarse.connect(self._on_coarse)
        self.runner = LatestOnlyRunner(self)
        """The background runner of the jobs (tests and renders wait on it)."""
        self.runner.sigResult.connect(self._on_result)
        self.runner.sigFailed.connect(self._on_failed)

    @property
    def running(self) -> FieldStep | None:
        """The field being computed now, if any."""
        return self._running

    @property
    def pending(self) -> list[FieldStep]:
        """The fields still to compute after it, in order."""
        return list(self._steps)

    def request(self, map_: Map, source: Map, domain: Domain, classifier: bool) -> None:
        """Compute the Jacobian field of ``map_`` over ``domain`` and its fold lines.

        First a coarse field (at once if it is cheap, a formula's; else by the worker, which
        goes on with the fine one without waiting for the GUI thread), then the usual 256²,
        unless one picture of this map would cost more than the work and memory budget (a
        huge network): then it is coarser, and the status bar says so. Then the detail of
        the view, if the domain is not all in view. Every job stops between blocks of points
        when a newer request supersedes it.
        """
        side = side_within_budget(map_, HEATMAP_RESOLUTION)
        if side < HEATMAP_RESOLUTION:
            self.sigStatus.emit(
                f"{source.name} is a heavy map: the heatmap is drawn at {side}×{side} to stay quick"
            )
        self._job = (map_, source, classifier)
        self._side = side
        self._detail = None
        detail = self._detail_step(map_, domain)
        self._steps = [] if detail is None else [detail]
        coarse = COARSE_RESOLUTION if side > COARSE_RESOLUTION else 0
        fine = FieldStep(domain, side, side, False)
        if coarse and coarse**2 * work_per_point(map_, jacobian=True) <= INLINE_WORK:
            self.runner.cancel()  # an older map's job must not deliver after this one
            job = field_job(map_, source, domain, classifier, coarse, coarse)
            try:
                result = job(lambda: False)
            except Exception:  # the worker's field reports the error
                result = None
            if result is not None and self._is_current(result):
                self._accept(result)  # a failure may have replaced the map (a fall back)
                if isinstance(result, FieldFailure) or self._job[0] is not map_:
                    return
            self._start(fine)
            return
        self._start(FieldStep(domain, side, side, False, coarse))

    def set_view(self, view: ViewRequest | None) -> bool:
        """The part of the domain in view is now ``view`` (None: all of the domain).

        Its detail is computed after the domain's field (at once, if that one is done,
        superseding an older detail); the detail on screen stays until the new one is ready.
        Returns True when no detail should be shown any more (the domain is all in view, or
        the domain's field is as fine as the screen there): the caller then shows that field.
        """
        if view == self._view:
            return False
        self._view = view
        self._steps = [step for step in self._steps if not step.detail]
        if self._job is None:
            return False
        _map, domain = self._current()
        step = self._detail_step(self._job[0], domain)
        if step is None:
            if self._running is not None and self._running.detail:
                self.runner.cancel()
                self._running = None
            dropped, self._detail = self._detail is not None, None
            return dropped
        if self._running is not None and not self._running.detail:
            self._steps.append(step)  # after the domain's field
        else:
            self._start(step)  # supersedes an older detail still being computed
        return False

    def current_field(self) -> FieldResult | None:
        """The newest field of the domain, if it is still of the map and domain on screen."""
        field = self._field
        return field if field is not None and self._is_current(field) else None

    def current_detail(self) -> FieldResult | None:
        """The detail on screen, if it is of the map on screen (its view may be older)."""
        detail = self._detail
        return detail if detail is not None and detail.map_ is self._current()[0] else None

    def images(self, key: str | None) -> list[HeatmapImage]:
        """What the plane shows for ``key`` now: the domain's field, then the detail if any."""
        field = self.current_field()
        if field is None:
            return []
        detail = self.current_detail()
        images = [heatmap_image(field, key)]
        return images + ([heatmap_image(detail, key, field)] if detail is not None else [])

    def export_image(self, view: ViewRequest, key: str | None) -> HeatmapImage | None:
        """A detail of ``view`` at its own pixels, for an exported figure; None if none is finer.

        Computed here and now (export runs on the GUI thread), within the same limits as the
        detail after a zoom (:func:`~jacviz.math.budget.detail_shape`), and coloured on the
        domain field's scale. None when there is no field of the map on screen yet, when the
        field on screen is already as fine there, or when the map fails on it (the plane then
        keeps what it shows).
        """
        field = self.current_field()
        if field is None or self._job is None:
            return None
        map_, source, classifier = self._job
        rows, cols = detail_shape(map_, view.cols, view.rows)
        shown = self.current_detail() or field
        cells_x = shown.cols * view.region.width / shown.domain.width
        cells_y = shown.rows * view.region.height / shown.domain.height
        if cols <= cells_x and rows <= cells_y:
            return None
        job = field_job(map_, source, view.region, classifier, rows, cols, detail=True)
        result = job(lambda: False)
        if not isinstance(result, FieldResult):
            return None
        return heatmap_image(result, key, field)

    def cancel(self) -> None:
        """Drop the waiting jobs and the running one's result."""
        self.runner.cancel()
        self._steps = []
        self._running = None

    def wait(self, msecs: int = -1) -> bool:
        """Block until the running job ends (at shutdown); True if none runs.

        Waits at most ``msecs`` milliseconds (-1: no limit).
        """
        return self.runner.wait(msecs)

    def _detail_step(self, map_: Map, domain: Domain) -> FieldStep | None:
        """The detail of the view, if the screen there is finer than the domain's field."""
        view = self._view
        if view is None:
            return None
        rows, cols = detail_shape(map_, view.cols, view.rows)
        cells_x = self._side * view.region.width / domain.width
        cells_y = self._side * view.region.height / domain.height
        if cols <= cells_x and rows <= cells_y:
            return None
        return FieldStep(view.region, rows, cols, True)

    def _start(self, step: FieldStep) -> None:
        assert self._job is not None
        map_, source, classifier = self._job
        self._running = step
        self._number += 1
        number = self._number
        fine = field_job(map_, source, step.domain, classifier, step.rows, step.cols, step.detail)
        if not step.coarse:
            self.runner.submit_checked(fine)
            return
        side = step.coarse
        coarse = field_job(map_, source, step.domain, classifier, side, side, step.detail)

        def both(superseded: Callable[[], bool]) -> FieldResult | FieldFailure | None:
            first = coarse(superseded)
            if not isinstance(first, FieldResult) or superseded():
                return first  # the map failed, or a newer request came
            self._report_coarse(first, number)
            return fine(superseded)

        self.runner.submit_checked(both)

    def _report_coarse(self, result: FieldResult, number: int) -> None:
        """Keep a coarse field for :meth:`take_coarse` and queue it to the GUI thread (worker)."""
        with self._coarse_lock:
            self._finished_coarse = (result, number)
        self._sigCoarse.emit(result, number)  # queued, ahead of the fine field

    def take_coarse(self) -> bool:
        """Hand on the newest job's coarse field now, if the worker has finished it.

        A new network's coarse field is computed by the worker while the GUI thread works out
        the grid; Qt delivers the worker's signal only after painting that grid. Called at
        the end of that work, this puts the coarse field in the same first picture. Returns
        True when it did (the signal, arriving later, then finds it taken).
        """
        with self._coarse_lock:
            finished = self._finished_coarse
        if finished is None:
            return False
        return self._hand_on_coarse(*finished)

    def _on_coarse(self, result: FieldResult, number: int) -> None:
        self._hand_on_coarse(result, number)

    def _hand_on_coarse(self, result: FieldResult, number: int) -> bool:
        """Accept job ``number``'s coarse field, unless stale or handed on already."""
        if number != self._number or number == self._taken_coarse or not self._is_current(result):
            return False
        self._taken_coarse = number
        self._accept(result)
        return True

    def _accept(self, result: FieldResult | FieldFailure) -> None:
        """Keep a field of what is on screen and hand it on."""
        if isinstance(result, FieldFailure):
            self._steps = []
        elif result.detail:
            self._detail = result
        else:
            self._field = result
        self.sigComputed.emit(result)

    def _is_current(self, result: FieldResult | FieldFailure) -> bool:
        map_, domain = self._current()
        if isinstance(result, FieldFailure):
            return result.map_ is map_
        if result.map_ is not map_:
            return False
        if result.detail:
            return self._view is not None and result.domain == self._view.region
        return result.domain == domain

    def _on_result(self, result: FieldResult | FieldFailure | None) -> None:
        self._running = None
        if result is not None and self._is_current(result):
            self._accept(result)
        # A listener may have made a new request (a failed network replaced by its formula).
        if self._steps and self._running is None:
            self._start(self._steps.pop(0))

    def _on_failed(self, message: str) -> None:
        self._running = None
        self._steps = []
        self.sigStatus.emit(f"Could not compute the heatmap: {message}")
