"""Inputs and Jacobian rows as small pictures: an 8×8 digit in grey, a row of J in colour.

A vector of d inputs is drawn as an image when the data says how its inputs form one
(``input_shape``, row by row: ``(8, 8)`` for the digits), else as a strip of d bars. Inputs
are grey (dark = large, as ink on paper; a fixed range, so equal greys are equal values
everywhere); a row of a Jacobian or a singular vector is coloured on the diverging map
centred on 0 (:data:`~jacviz.gui.common.style.DIVERGING_MAP`: blue below, white at 0, yellow
above), its range given by the caller so one model's rows share one scale.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage, QPixmap

from jacviz.gui.common import style

__all__ = ["BAR_HEIGHT", "diverging_pixmap", "grey_pixmap", "is_image", "rgba_pixmap"]

BAR_HEIGHT: int = 24
"""Height in cells of a bar strip (inputs with no image shape): one column per input."""


def is_image(shape: tuple[int, ...] | None) -> bool:
    """Whether inputs of ``shape`` are drawn as an image (two axes); else as a bar strip."""
    return shape is not None and len(shape) == 2


def _grid(values: np.ndarray, shape: tuple[int, ...] | None, low: float, high: float) -> np.ndarray:
    """``values`` scaled to [0, 1] on a 2D grid: the image, or a bar strip (see :func:`is_image`).

    In a bar strip each input is a column filled from the bottom to its height.
    """
    span = high - low if high > low else 1.0
    scaled = np.clip((np.asarray(values, dtype=np.float64) - low) / span, 0.0, 1.0)
    if is_image(shape):
        return scaled.reshape(shape)
    rows = np.arange(BAR_HEIGHT)[::-1, None] + 0.5  # row 0 at the top
    return (rows < scaled[None, :] * BAR_HEIGHT).astype(np.float64)


def rgba_pixmap(rgba: np.ndarray, width: int, height: int, keep_aspect: bool = True) -> QPixmap:
    """A pixmap of ``(rows, columns, 4)`` uint8 cells, scaled to fit ``width × height``.

    Scaled without smoothing: each input stays one sharp cell, as it is; an image keeps its
    aspect (square pixels), a bar strip (``keep_aspect`` False) fills the size.
    """
    data = np.ascontiguousarray(rgba, dtype=np.uint8)
    rows, columns = data.shape[:2]
    image = QImage(data.data, columns, rows, 4 * columns, QImage.Format.Format_RGBA8888).copy()
    return QPixmap.fromImage(image).scaled(
        width,
        height,
        Qt.AspectRatioMode.KeepAspectRatio if keep_aspect else Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )


def grey_pixmap(
    values: np.ndarray,
    shape: tuple[int, ...] | None,
    low: float,
    high: float,
    width: int,
    height: int | None = None,
) -> QPixmap:
    """The input ``values`` in grey from ``low`` (white) to ``high`` (black), ``width`` wide."""
    grid = _grid(values, shape, low, high)
    grey = np.round(255 * (1.0 - grid)).astype(np.uint8)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    return rgba_pixmap(rgba, width, width if height is None else height, is_image(shape))


def diverging_pixmap(
    values: np.ndarray,
    shape: tuple[int, ...] | None,
    limit: float,
    width: int,
    height: int | None = None,
) -> QPixmap:
    """``values`` on the diverging map from ``-limit`` to ``+limit`` (white at 0).

    A bar strip (``shape`` None) draws each input's bar from the middle, up for positive
    values and down for negative ones, in its colour.
    """
    limit = limit if limit > 0 else 1.0
    v = np.clip(np.asarray(values, dtype=np.float64) / limit, -1.0, 1.0)
    colours = np.asarray(style.DIVERGING_MAP((v + 1.0) / 2.0))  # (d, 4) floats
    if is_image(shape):
        rgba = colours.reshape(*shape, 4)
    else:
        half = BAR_HEIGHT / 2
        rows = np.arange(BAR_HEIGHT)[::-1, None] + 0.5 - half  # row 0 at the top
        filled = ((rows > 0) & (rows < v * half)) | ((rows < 0) & (rows > v * half))
        rgba = np.where(filled[..., None], colours[None], 1.0)
    return rgba_pixmap(
        np.round(255 * rgba).astype(np.uint8), width, width if height is None else height
    )
