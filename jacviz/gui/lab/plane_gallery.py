"""A gallery of a dataset's held-out points, to pick the three anchors of the plane.

Each thumbnail is the input as an image (a bar strip for inputs that form none) with its
index among the test points and its true class (``12·5``); the chosen anchors are tinted and
numbered (①, ②, ③).
Clicking a thumbnail emits its index (:attr:`PointGallery.sigPointClicked`); the page decides
which anchor it sets. At most :data:`MAX_THUMBNAILS` are drawn (the rest are still reachable
by typing their index).
"""

from __future__ import annotations

from collections.abc import Sequence

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QIcon
from PyQt6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from jacviz.gui.lab.plane_pictures import grey_pixmap, is_image
from jacviz.nets.data import VectorDataset
from jacviz.nets.input_plane import held_out

__all__ = ["ANCHOR_MARKS", "ANCHOR_TINTS", "MAX_THUMBNAILS", "PointGallery", "input_range"]

MAX_THUMBNAILS: int = 500
"""Thumbnails drawn at most: the first test points; the others are picked by index."""

THUMBNAIL: int = 44
"""Side of a thumbnail in pixels."""

ANCHOR_MARKS: tuple[str, str, str] = ("①", "②", "③")
"""What follows the label of anchors 1, 2 and 3 in the gallery."""

ANCHOR_TINTS: tuple[str, str, str] = ("#BBCCEE", "#CCEEFF", "#EEEEBB")
"""Background of anchors 1, 2 and 3 in the gallery (pale, so the digit stays readable)."""


def input_range(data: VectorDataset) -> tuple[float, float]:
    """The grey scale of ``data``'s inputs: its smallest and largest raw value.

    0 to 16 for the digits: one grey means one value in every picture of the page.
    """
    points = data.raw_points
    low, high = float(points.min()), float(points.max())
    return (low, high) if high > low else (low - 0.5, low + 0.5)


class PointGallery(QListWidget):
    """Thumbnails of the test points of a dataset, in a wrapping grid.

    Signals
    -------
    sigPointClicked(int)
        The index (among the test points) of the thumbnail clicked.
    """

    sigPointClicked = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.setGridSize(QSize(THUMBNAIL + 30, THUMBNAIL + 22))
        self.setSpacing(2)
        self.setMinimumHeight(2 * (THUMBNAIL + 24))
        self.setToolTip(
            "Held-out points: click to set the next anchor (1, 2, 3, then 1 again). "
            f"The first {MAX_THUMBNAILS} are shown; type any index below."
        )
        self._labels: list[str] = []
        self.itemClicked.connect(lambda item: self.sigPointClicked.emit(item.data(_INDEX)))

    def show_data(self, data: VectorDataset) -> None:
        """Thumbnails of ``data``'s test points (its training points when none are held out)."""
        self.clear()
        points, labels = held_out(data)
        low, high = input_range(data)
        shape = data.input_shape if is_image(data.input_shape) else None
        height = THUMBNAIL if shape is not None else THUMBNAIL // 2
        self._labels = []
        for index in range(min(len(points), MAX_THUMBNAILS)):
            pixmap = grey_pixmap(points[index], shape, low, high, THUMBNAIL, height)
            label = f"{index}·{data.class_names[int(labels[index])]}"
            item = QListWidgetItem(QIcon(pixmap), label)
            item.setData(_INDEX, index)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)
            self._labels.append(label)

    def mark_anchors(self, anchors: Sequence[int | None]) -> None:
        """Tint and number the thumbnails of ``anchors`` (None: that anchor is not chosen)."""
        for row in range(self.count()):
            item = self.item(row)
            item.setText(self._labels[row])
            item.setBackground(QBrush())
        for number, index in enumerate(anchors):
            if index is not None and index < self.count():
                item = self.item(index)
                item.setText(f"{self._labels[index]} {ANCHOR_MARKS[number]}")
                item.setBackground(QBrush(QColor(ANCHOR_TINTS[number])))


_INDEX = Qt.ItemDataRole.UserRole
