"""The plane through three inputs, drawn for λ = 0 and λ > 0 side by side on one scale.

Each :class:`PlanePlot` shows one model over the same plane and extent: its decision regions
shaded by confidence, or its ‖J‖F (log scale) or logit margin with the decision boundaries
drawn over them; each class's name inside its region (with more classes than colours, two
regions may share a colour: the names tell them apart); the three anchors, marked and
labelled with their index and true class; and the probe. :class:`PlanePlots` holds the
two with one colour bar for both heatmaps, so equal colours mean equal values. A left
click or drag on either plot moves the probe on both (:attr:`PlanePlots.sigProbeMoved`);
the wheel and a right drag zoom, as on every plane.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QWidget

from jacviz.gui.common import style
from jacviz.gui.common.plots import Marker, Plane, heatmap_levels, paint_regions
from jacviz.gui.lab.compare_style import MODEL_COLOURS
from jacviz.math.grid import Domain
from jacviz.nets.input_plane import PlaneFields
from jacviz.state.compare import log_ticks

__all__ = [
    "HEATMAPS",
    "MIN_LABEL_SHARE",
    "VIEW_DELAY_MS",
    "PlanePlot",
    "PlanePlots",
    "label_points",
]

HEATMAPS: dict[str, str] = {
    "classes": "Decision regions (shaded by confidence)",
    "frobenius": "‖J‖F (log scale, shared)",
    "margin": "Margin: top logit − runner-up (shared)",
}
"""What colours the plots: key → the choice's text."""

VIEW_DELAY_MS: int = 120
"""A view resting this long is sent for new fields: a zoom or a resize asks once, not per step."""

BOUNDARY = "#222222"
"""Decision boundaries: dark, over the pale regions and the light colour maps."""


MIN_LABEL_SHARE: float = 0.01
"""A class is named on a plot where it wins at least this share of the pixels."""
AVOID_RADIUS: float = 0.1
"""A class's name keeps this far from the points to avoid (the anchors and their labels), as
a fraction of the plot's larger side, where its region leaves room."""


def label_points(
    classes: np.ndarray, domain: Domain, avoid: np.ndarray | None = None
) -> list[tuple[int, np.ndarray]]:
    """Where to write each class's name: ``(class, (s, t))``, one per class shown enough.

    ``classes`` ``(rows, columns)`` is the winning class of each pixel (row 0 at
    ``domain.ymin``; −1 where undefined). The point is the centre of the class's pixel
    nearest its pixels' mean, so it is always inside the class's region, even a curved or
    split one, and away from the plane points ``avoid`` ``(n, 2)`` where the region allows
    (:data:`AVOID_RADIUS`); classes winning under :data:`MIN_LABEL_SHARE` of the pixels get
    none.
    """
    rows, columns = classes.shape
    found = []
    for c in np.unique(classes[classes >= 0]):
        r, k = np.nonzero(classes == c)
        if len(r) < MIN_LABEL_SHARE * classes.size:
            continue
        s = domain.xmin + (k + 0.5) * domain.width / columns
        t = domain.ymin + (r + 0.5) * domain.height / rows
        score = (r - r.mean()) ** 2 + (k - k.mean()) ** 2
        if avoid is not None and len(avoid):
            reach = AVOID_RADIUS * max(domain.width, domain.height)
            near = np.hypot(s[:, None] - avoid[:, 0], t[:, None] - avoid[:, 1]).min(axis=1)
            if np.any(near >= reach):
                score = np.where(near >= reach, score, np.inf)
        nearest = np.argmin(score)
        found.append((int(c), np.array([s[nearest], t[nearest]])))
    return found


@functools.cache
def _heatmap_table() -> np.ndarray:
    """The heatmaps' colour map (light viridis) as a 256-entry lookup table."""
    return style.colormap("frob").getLookupTable(nPts=256)


class PlanePlot(Plane):
    """One model's plot of the plane (see the module docstring)."""

    sigProbeMoved = pyqtSignal(float, float)

    def __init__(self, title: str, colour: str):
        super().__init__(title, "s (input units)", "t (input units)")
        self.setTitle(title, color=colour)
        self.setMinimumSize(240, 240)
        self.setMenuEnabled(False)
        self.image = pg.ImageItem()
        self.image.setZValue(-20)
        self.addItem(self.image)
        self.boundary = self.add_curve(style.pen(BOUNDARY, 1.6, alpha=230), -5)
        self.anchor_marks = [
            Marker("dot", 9, style.pen(style.BLACK, 1.5), style.brush("#FFFFFF", 255))
            for _ in range(3)
        ]
        self.anchor_labels = [
            pg.TextItem(color=style.BLACK, anchor=(0, 1), fill=style.brush("#FFFFFF", 200))
            for _ in range(3)
        ]
        for mark, label in zip(self.anchor_marks, self.anchor_labels, strict=True):
            mark.setZValue(8)
            label.setZValue(9)
            self.addItem(mark)
            self.addItem(label)
            mark.setVisible(False)
            label.setVisible(False)
        self.anchor_points = np.zeros((0, 2))
        """Where the anchors are marked (class names keep away from them)."""
        self.class_labels: list[pg.TextItem] = []
        """Names of the classes in their regions (made as needed, hidden when unused)."""
        self.probe_halo = Marker("cross", 16, style.pen("#FFFFFF", 5))
        self.probe = Marker("cross", 16, style.pen(style.VERMILLION, 2.5))
        for z, item in ((10, self.probe_halo), (11, self.probe)):
            item.setZValue(z)
            item.setVisible(False)
            self.addItem(item)
        box = self.getViewBox()
        default_drag = box.mouseDragEvent
        box.mouseClickEvent = self._on_click  # left button: the probe, not the view's menu
        box.mouseDragEvent = lambda event, axis=None: self._on_drag(event, axis, default_drag)

    def _emit_at(self, event: object) -> None:
        point = self.getViewBox().mapSceneToView(event.scenePos())
        self.sigProbeMoved.emit(point.x(), point.y())

    def _on_click(self, event: object) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            self._emit_at(event)

    def _on_drag(self, event: object, axis: object, default: object) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            self._emit_at(event)
        else:
            default(event, axis)  # right drag zooms, as on every plane

    def show_anchors(self, points: np.ndarray, labels: Sequence[str]) -> None:
        """Mark the anchors at plane points ``(3, 2)`` with their labels."""
        self.anchor_points = np.asarray(points, dtype=float).reshape(-1, 2)
        for mark, text, point, label in zip(
            self.anchor_marks, self.anchor_labels, points, labels, strict=True
        ):
            mark.place(point)
            text.setText(label)
            text.setPos(float(point[0]), float(point[1]))
            text.setVisible(True)

    def show_probe(self, point: np.ndarray | None) -> None:
        """The probe at plane point ``point`` (hidden for None)."""
        self.probe_halo.place(point)
        self.probe.place(point)

    def show_image(
        self, image: np.ndarray, domain: Domain, levels: tuple[float, float] | None
    ) -> None:
        """An RGBA image (``levels`` None) or values on the plots' colour map, over ``domain``."""
        if levels is None:
            self.image.setImage(image, levels=(0, 255))
        else:
            self.image.setImage(image, autoLevels=False, levels=levels)
        self.image.setRect(domain.xmin, domain.ymin, domain.width, domain.height)

    def show_boundaries(self, segments: np.ndarray) -> None:
        """The decision boundaries, segments ``(K, 2, 2)`` of the plane."""
        self.set_lines(self.boundary, segments)

    def show_class_names(
        self, points: Sequence[tuple[int, np.ndarray]], names: Sequence[str]
    ) -> None:
        """Write ``names[c]`` (else ``c``) at each ``(c, point)`` (:func:`label_points`).

        The labels not needed are hidden.
        """
        while len(self.class_labels) < len(points):
            label = pg.TextItem(color=BOUNDARY, anchor=(0.5, 0.5), fill=style.brush("#FFFFFF", 150))
            font = label.textItem.font()
            font.setBold(True)
            label.setFont(font)
            label.setZValue(-4)  # over the boundaries, under the anchors and the probe
            self.addItem(label)
            self.class_labels.append(label)
        for index, label in enumerate(self.class_labels):
            if index < len(points):
                c, point = points[index]
                label.setText(names[c] if c < len(names) else str(c))
                label.setPos(float(point[0]), float(point[1]))
            label.setVisible(index < len(points))


class PlanePlots(QWidget):
    """The two models' plots (λ = 0 left, λ > 0 right) and their shared colour bar.

    Signals
    -------
    sigProbeMoved(float, float)
        The user clicked or dragged on either plot at this plane point.
    sigViewChanged(Domain)
        The plots show this rectangle of the plane now (after a zoom, a pan, a resize or a
        new frame, once the view has rested :data:`VIEW_DELAY_MS`).
    """

    sigProbeMoved = pyqtSignal(float, float)
    sigViewChanged = pyqtSignal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(VIEW_DELAY_MS)
        self._view_timer.timeout.connect(self._emit_view)
        self.plots = tuple(
            PlanePlot(title, colour)
            for title, colour in zip(("λ = 0", "λ > 0"), MODEL_COLOURS, strict=True)
        )
        for plot in self.plots:
            plot.sigProbeMoved.connect(self.sigProbeMoved)
        self.plots[1].setXLink(self.plots[0])
        self.plots[1].setYLink(self.plots[0])
        self.plots[0].getViewBox().sigRangeChanged.connect(lambda *_: self._view_timer.start())
        self.bar_widget = pg.GraphicsLayoutWidget()
        self.bar_widget.setFixedWidth(92)
        self.colorbar = pg.ColorBarItem(
            values=(0, 1), colorMap=style.colormap("frob"), interactive=False, width=14
        )
        self.colorbar.getAxis("right").enableAutoSIPrefix(False)
        # Not bound to the images (a bound bar sets its levels on them, RGBA regions too):
        # each image gets the same map and levels by hand.
        self.bar_widget.addItem(self.colorbar)
        self.bar_widget.setVisible(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for plot in self.plots:
            layout.addWidget(plot, 1)
        layout.addWidget(self.bar_widget)
        self._count = 2

    @property
    def view_pending(self) -> bool:
        """Whether a change of view is yet to be sent."""
        return self._view_timer.isActive()

    def stop_view_updates(self) -> None:
        """Forget a change of view not sent yet (the page is closing)."""
        self._view_timer.stop()

    def _emit_view(self) -> None:
        (xmin, xmax), (ymin, ymax) = self.plots[0].getViewBox().viewRange()
        try:
            domain = Domain(xmin, xmax, ymin, ymax)
        except ValueError:
            return  # a view no picture can cover (zoomed beyond the bounds): the last stays
        self.sigViewChanged.emit(domain)

    def set_titles(self, titles: Sequence[str]) -> None:
        """Name the models shown (one or two); a single model gets the whole width."""
        self._count = len(titles)
        for plot, title, colour in zip(self.plots, titles, MODEL_COLOURS, strict=False):
            plot.setTitle(title, color=colour)
        self.plots[1].setVisible(self._count > 1)

    def show_fields(
        self,
        fields: Sequence[PlaneFields],
        heatmap: str,
        n_classes: int,
        class_names: Sequence[str] = (),
    ) -> None:
        """Each model's fields as ``heatmap`` asks, heatmaps on one colour scale.

        Every colouring names the classes in their regions (``class_names``, else numbers).
        """
        domain = fields[0].domain
        for plot, field in zip(self.plots, fields, strict=False):
            points = label_points(field.regions.classes, domain, plot.anchor_points)
            plot.show_class_names(points, class_names)
        if heatmap == "classes":
            for plot, field in zip(self.plots, fields, strict=False):
                plot.image.setLookupTable(None)  # the colour bar's, for heatmaps: not for RGBA
                paint_regions(plot.image, field.regions, domain, n_classes, 0.8)
                # Edges too: with more classes than colours, two regions may share one.
                plot.show_boundaries(field.boundaries)
            self.bar_widget.setVisible(False)
            return
        if heatmap == "frobenius":
            with np.errstate(divide="ignore"):
                values = [np.log10(field.frobenius) for field in fields]
            low, high = heatmap_levels(np.concatenate([v.ravel() for v in values]), "log_frobenius")
            ticks = log_ticks(low, high)
            label = "‖J‖<sub>F</sub>, log scale (same for both)"
        else:
            values = [field.regions.margin for field in fields]
            finite = np.concatenate([v[np.isfinite(v)] for v in values])
            high = float(np.percentile(finite, 99)) if finite.size else 1.0
            low, high = 0.0, high if high > 0 else 1.0
            ticks = None
            label = "margin, logits (same for both)"
        for plot, field, value in zip(self.plots, fields, values, strict=False):
            plot.image.setLookupTable(_heatmap_table())
            plot.show_image(np.clip(value, low, high), domain, (low, high))
            plot.show_boundaries(field.boundaries)
        self.colorbar.setLevels((low, high))
        self.colorbar.setLabel("right", label)
        self.colorbar.getAxis("right").setTicks(None if ticks is None else [ticks])
        self.bar_widget.setVisible(True)

    def show_anchors(self, points: np.ndarray, labels: Sequence[str], domain: Domain) -> None:
        """The anchors on both plots, framed by ``domain``."""
        for plot in self.plots:
            plot.show_anchors(points, labels)
        self.plots[0].frame(
            np.array([domain.xmin, domain.ymin]), np.array([domain.xmax, domain.ymax])
        )

    def show_probe(self, point: np.ndarray | None) -> None:
        """The probe on both plots."""
        for plot in self.plots:
            plot.show_probe(point)
