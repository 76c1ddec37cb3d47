"""The input plane's heatmaps: a Jacobian field over the domain, computed off the GUI thread.

:class:`HeatmapJobs` runs one field job at a time through a
:class:`~jacviz.gui.common.runner.LatestOnlyRunner` (a newer request supersedes the running
job, which stops between blocks of points), keeps the newest field for the map and domain on
screen, and hands it on; :func:`heatmap_image` turns a field into the
:class:`HeatmapImage` the input plane draws for the quantity chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from jacviz.gui.common.runner import LatestOnlyRunner
from jacviz.math.budget import side_within_budget
from jacviz.math.contour import zero_contour
from jacviz.math.grid import Domain, sample_points
from jacviz.math.jacobian import CHUNK_SIZE, HEATMAP_QUANTITIES, JacobianField
from jacviz.math.maps import Map
from jacviz.nets.networks import NetworkError
from jacviz.nets.views import DecisionRegions
from jacviz.state.view import CLASSES

HEATMAP_RESOLUTION = 256
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


def heatmap_image(result: FieldResult, key: str | None) -> HeatmapImage:
    """What the input plane draws of ``result`` for the quantity ``key`` (None: folds only)."""
    shape = (result.rows, result.cols)
    quantity = key is not None and key != CLASSES
    return HeatmapImage(
        key=key,
        label="" if key is None else heatmap_label(key),
        image=heatmap_values(result.field, key).reshape(shape) if quantity else None,
        # Over decision regions, det = 0 curves of the logits would read as boundaries.
        folds=None if key == CLASSES else result.folds,
        domain=result.domain,
        regions=result.regions if key == CLASSES else None,
    )


def field_job(
    map_: Map, source: Map, domain: Domain, classifier: bool, rows: int, cols: int
) -> Callable[[Callable[[], bool]], FieldResult | FieldFailure | None]:
    """The job computing ``map_``'s field over ``domain`` on a rows × cols grid.

    It is called with ``superseded()`` and returns None as soon as that turns True (checked
    between blocks of points); a classifier's decision regions come from ``source``'s logits.
    """

    def compute(superseded: Callable[[], bool]) -> FieldResult | FieldFailure | None:
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
            return FieldFailure(map_, str(error) or "it ran out of memory")
        return FieldResult(map_, domain, field, folds, regions, rows, cols)

    return compute


class HeatmapJobs(QObject):
    """Computes the heatmaps' fields off the GUI thread, newest request only.

    Parameters
    ----------
    current : callable
        Returns the analysed map and the domain on screen now: a field of anything else is
        stale and dropped.

    Signals
    -------
    sigComputed(FieldResult or FieldFailure)
        A field of the map and domain on screen, or why that map failed to give one.
    sigStatus(str)
        Information for the status bar (a heavy map drawn coarser, a job that crashed).

    """

    sigComputed = pyqtSignal(object)
    sigStatus = pyqtSignal(str)

    def __init__(self, current: Callable[[], tuple[Map, Domain]], parent: QObject | None = None):
        super().__init__(parent)
        self._current = current
        self._field: FieldResult | None = None
        self.runner = LatestOnlyRunner(self)
        """The background runner of the jobs (tests and renders wait on it)."""
        self.runner.sigResult.connect(self._on_result)
        self.runner.sigFailed.connect(self._on_failed)

    def request(self, map_: Map, source: Map, domain: Domain, classifier: bool) -> None:
        """Compute the Jacobian field of ``map_`` over ``domain`` and its fold lines.

        The resolution is the usual 256² unless one picture of this map would cost more than
        the work and memory budget (a huge network): then it is coarser, and the status bar
        says so. The job stops between blocks of points when a newer one supersedes it.
        """
        rows = cols = side_within_budget(map_, HEATMAP_RESOLUTION)
        if rows < HEATMAP_RESOLUTION:
            self.sigStatus.emit(
                f"{source.name} is a heavy map: the heatmap is drawn at {rows}×{cols} to stay quick"
            )
        self.runner.submit_checked(field_job(map_, source, domain, classifier, rows, cols))

    def current_field(self) -> FieldResult | None:
        """The newest field, if it is still of the map and domain on screen."""
        field = self._field
        return field if field is not None and self._is_current(field) else None

    def cancel(self) -> None:
        """Drop the waiting job and the running one's result."""
        self.runner.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the running job ends (at shutdown); True if none runs.

        Waits at most ``msecs`` milliseconds (-1: no limit).
        """
        return self.runner.wait(msecs)

    def _is_current(self, result: FieldResult | FieldFailure) -> bool:
        map_, domain = self._current()
        if isinstance(result, FieldFailure):
            return result.map_ is map_
        return result.map_ is map_ and result.domain == domain

    def _on_result(self, result: FieldResult | FieldFailure | None) -> None:
        if result is None or not self._is_current(result):
            return
        if isinstance(result, FieldResult):
            self._field = result
        self.sigComputed.emit(result)

    def _on_failed(self, message: str) -> None:
        self.sigStatus.emit(f"Could not compute the heatmap: {message}")
