"""The Compare tab's four planes: each model's decision regions and its ‖J‖_F, with the ε-ball.

:class:`ComparePlane` is one plane; :class:`ComparePlanes` lays out the four (λ = 0 left,
λ > 0 right; regions above, ‖J‖_F below) with one colour bar for both ‖J‖_F images, so equal
colours mean equal norms, and draws a :class:`~jacviz.nets.comparison.Comparison` on them.
Clicking any plane asks for an ε-ball there (:attr:`ComparePlanes.sigPointPicked`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import QGridLayout, QLabel, QWidget

from jacviz.gui.common import style
from jacviz.gui.common.plots import Marker, Plane, heatmap_levels, paint_regions
from jacviz.gui.lab.compare_style import MODEL_COLOURS, MODEL_TITLES
from jacviz.gui.lab.regions_view import REGION_INTENSITY, DataPoints
from jacviz.math.grid import Domain
from jacviz.nets.comparison import Comparison, ModelResult
from jacviz.nets.datasets import Dataset
from jacviz.state.compare import lambda_name, log_ticks

__all__ = ["ComparePlane", "ComparePlanes"]

_BALL_SEGMENTS = 128


class ComparePlane(Plane):
    """One model's plane: decision regions with the data, or ‖J‖_F; and the ε-ball.

    Signals
    -------
    sigPointPicked(float, float)
        The user clicked at this data coordinate.
    """

    sigPointPicked = pyqtSignal(float, float)

    def __init__(self, title: str, colour: str):
        super().__init__(title, "x", "y")
        self.setTitle(title, color=colour)
        self.setMinimumSize(220, 170)
        self.setMenuEnabled(False)
        self.image = pg.ImageItem()
        self.image.setZValue(-20)
        self.addItem(self.image)
        self.boundary = self.add_curve(style.pen("#FFFFFF", 1.2, alpha=220), -5)
        self.points: DataPoints | None = None
        # The ball as a white halo under a black line: readable on pale regions and on dark ‖J‖.
        self.ball_halo = self.add_curve(style.pen("#FFFFFF", 4.0), 5)
        self.ball = self.add_curve(style.pen(style.BLACK, 1.8), 6)
        self.centre = Marker("cross", 10, style.pen(style.BLACK, 2))
        self.centre.setZValue(7)
        self.centre.setVisible(False)
        self.addItem(self.centre)
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)

    def show_regions(self, result: ModelResult, comparison: Comparison, dataset: Dataset) -> None:
        """Decision regions, pale as in the lab's plane, under the data in full colour."""
        paint_regions(
            self.image, result.regions, comparison.domain, dataset.n_classes, REGION_INTENSITY
        )
        self.show_data(dataset)

    def show_data(self, dataset: Dataset) -> None:
        """The points as the lab's plane draws them (dots: training, rings: test), framed."""
        if self.points is None:
            self.points = DataPoints(self.getPlotItem(), size=7.0)
        self.points.show(dataset)
        self._frame(dataset.domain)

    def show_values(self, values: np.ndarray, comparison: Comparison) -> None:
        """Values the colour bar maps (its levels are set by the caller), over the domain."""
        domain = comparison.domain
        self.image.setImage(values, autoLevels=False)
        self.image.setRect(domain.xmin, domain.ymin, domain.width, domain.height)
        self._frame(domain)

    def _frame(self, domain: Domain) -> None:
        self.frame(np.array([domain.xmin, domain.ymin]), np.array([domain.xmax, domain.ymax]))

    def show_boundary(self, segments: np.ndarray) -> None:
        """Draw decision-boundary segments ``(K, 2, 2)``."""
        self.set_lines(self.boundary, segments)

    def show_ball(self, centre: np.ndarray | None, eps: float) -> None:
        """Draw the L2 ball of radius ``eps`` around ``centre``, or hide it for None."""
        if centre is None:
            for item in (self.ball, self.ball_halo):
                item.setData([], [])
            self.centre.place(None)
            return
        angles = np.linspace(0.0, 2.0 * np.pi, _BALL_SEGMENTS + 1)
        circle = centre + eps * np.column_stack([np.cos(angles), np.sin(angles)])
        for item in (self.ball, self.ball_halo):
            self.set_lines(item, circle[np.newaxis])
        self.centre.place(centre)

    def _on_scene_clicked(self, event: object) -> None:
        # Clicks on data points count too: the ball goes where the user clicked, point or not.
        if event.button() != Qt.MouseButton.LeftButton:
            return
        view_box = self.getViewBox()
        if view_box.sceneBoundingRect().contains(event.scenePos()):
            point = view_box.mapSceneToView(event.scenePos())
            self.sigPointPicked.emit(point.x(), point.y())


class ComparePlanes(QWidget):
    """The four planes, their shared ‖J‖_F colour bar and a key, in a grid.

    Signals
    -------
    sigPointPicked(float, float)
        A plane was clicked at this data coordinate.
    """

    sigPointPicked = pyqtSignal(float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.region_planes = tuple(
            ComparePlane(f"{title}: decision regions", colour)
            for title, colour in zip(MODEL_TITLES, MODEL_COLOURS, strict=True)
        )
        self.frobenius_planes = tuple(
            ComparePlane(f"{title}: ‖J‖<sub>F</sub>", colour)
            for title, colour in zip(MODEL_TITLES, MODEL_COLOURS, strict=True)
        )
        self.planes = self.region_planes + self.frobenius_planes
        for plane in self.planes:
            plane.sigPointPicked.connect(self.sigPointPicked)
        # One colour bar for both ‖J‖_F images, so equal colours mean equal norms; in its own
        # widget, so both planes keep the same size.
        bar_widget = self.colorbar_widget = pg.GraphicsLayoutWidget()
        bar_widget.setFixedWidth(86)
        bar_widget.setVisible(False)  # until there are images to explain
        self.colorbar = pg.ColorBarItem(
            values=(0, 1),
            colorMap=pg.colormap.get(style.SEQUENTIAL_COLORMAP),
            interactive=False,
            width=14,
            label="‖J‖<sub>F</sub>, log scale (same for both)",
        )
        self.colorbar.getAxis("right").enableAutoSIPrefix(False)
        self.colorbar.setImageItem([plane.image for plane in self.frobenius_planes])
        bar_widget.addItem(self.colorbar)
        key = QLabel(
            "● training point &nbsp; ○ test point &nbsp; white line on ‖J‖<sub>F</sub>: decision "
            "boundary. Click any plane to place an ε-ball there."
        )
        key.setWordWrap(True)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.region_planes[0], 0, 0)
        grid.addWidget(self.region_planes[1], 0, 1)
        grid.addWidget(self.frobenius_planes[0], 1, 0)
        grid.addWidget(self.frobenius_planes[1], 1, 1)
        grid.addWidget(bar_widget, 1, 2)
        grid.addWidget(key, 2, 0, 1, 3)

    def show_data(self, dataset: Dataset) -> None:
        """The points alone in the regions planes: something to look at while the first runs."""
        for plane in self.region_planes:
            plane.show_data(dataset)

    def show_comparison(self, comparison: Comparison) -> None:
        """Both models' regions, ‖J‖_F images and boundaries, titled with their λ."""
        for model, result in enumerate(comparison.models):
            colour, name = MODEL_COLOURS[model], lambda_name(result.config)
            suffix = " (diverged)" if result.diverged else ""
            regions = self.region_planes[model]
            regions.setTitle(f"{name}: decision regions{suffix}", color=colour)
            regions.show_regions(result, comparison, comparison.dataset)
            frobenius = self.frobenius_planes[model]
            frobenius.setTitle(f"{name}: ‖J‖<sub>F</sub>{suffix}", color=colour)
            frobenius.show_boundary(result.boundary_segments)
        self._show_frobenius(comparison)

    def _show_frobenius(self, comparison: Comparison) -> None:
        """Both ‖J‖_F images on one logarithmic colour scale.

        The plain model's norms are often ten times the regularized one's: on a linear scale
        one image would be a single colour. On a log scale both show their structure, and
        equal colours still mean equal norms.
        """
        with np.errstate(divide="ignore"):
            logs = [np.log10(m.frobenius) for m in comparison.models]
        low, high = heatmap_levels(np.concatenate([v.ravel() for v in logs]), "log_frobenius")
        for plane, values in zip(self.frobenius_planes, logs, strict=True):
            plane.show_values(np.clip(values, low, high), comparison)
        self.colorbar.setLevels((low, high))
        self.colorbar.getAxis("right").setTicks([log_ticks(low, high)])
        self.colorbar_widget.setVisible(True)

    def show_ball(self, centre: np.ndarray | None, eps: float) -> None:
        """The same ε-ball in every plane (hidden for None)."""
        for plane in self.planes:
            plane.show_ball(centre, eps)
