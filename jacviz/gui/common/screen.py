"""Open windows at a size that fits the screen they are on.

A window's preferred size (the main window's 1500×860, the lab's 1400×856) is larger than a
1366×768 laptop screen, or a 1920×1080 screen at 150 % scaling (1280×720 logical pixels): the
status bar and the right-hand plots would open off screen. :func:`fit_to_screen` caps the
preferred size to the screen's available area (without the task bar), places the window on
that area, and restores a saved geometry only if it still fits there, e.g. not one saved on a
larger monitor. Sizes are in Qt's logical pixels, so ``QT_SCALE_FACTOR`` is taken into account.
"""

from __future__ import annotations

from PyQt6.QtCore import QByteArray, QDataStream, QIODevice, QRect, QSize
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QWidget

__all__ = ["FRAME_ALLOWANCE", "available_area", "fit_to_screen", "fitted_rect", "saved_frame"]

FRAME_ALLOWANCE = QSize(16, 40)
"""Room kept for the window manager's frame and title bar while the real frame is unknown."""


def available_area(window: QWidget) -> QRect:
    """The available geometry (logical pixels) of the screen ``window`` is on, or the primary."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fitted_rect(preferred: QSize, available: QRect, frame: QSize = FRAME_ALLOWANCE) -> QRect:
    """The client rectangle of a window of ``preferred`` size, capped and centred in ``available``.

    ``frame`` is what the window's frame adds to its width and height; the rectangle plus the
    frame lies inside ``available``.
    """
    width = max(1, min(preferred.width(), available.width() - frame.width()))
    height = max(1, min(preferred.height(), available.height() - frame.height()))
    left = available.x() + (available.width() - width - frame.width()) // 2
    top = available.y() + (available.height() - height - frame.height()) // 2
    return QRect(
        left + frame.width() // 2, top + frame.height() - frame.width() // 2, width, height
    )


_GEOMETRY_MAGIC = 0x1D9D0CB


def saved_frame(saved: QByteArray | bytes) -> QRect | None:
    """The frame rectangle a ``QWidget.saveGeometry()`` recorded, or None if unreadable.

    Read here rather than by restoring, because Qt's own restore squeezes a window saved on a
    larger monitor onto the screen instead of telling that it did not fit.
    """
    data = QByteArray(saved)  # kept alive while the stream reads it
    stream = QDataStream(data, QIODevice.OpenModeFlag.ReadOnly)
    magic = stream.readUInt32()
    stream.readUInt16()  # major and minor version: the frame comes first in every version
    stream.readUInt16()
    frame = QRect()
    stream >> frame
    if magic != _GEOMETRY_MAGIC or stream.status() != QDataStream.Status.Ok or frame.isEmpty():
        return None
    return frame


def _frame_size(window: QWidget) -> QSize:
    """What the frame adds to the window's size: measured once shown, else the allowance."""
    if window.isVisible():
        outer, inner = window.frameGeometry(), window.geometry()
        if outer != inner:
            return QSize(outer.width() - inner.width(), outer.height() - inner.height())
    return FRAME_ALLOWANCE


def fit_to_screen(
    window: QWidget,
    preferred: tuple[int, int],
    saved: QByteArray | bytes | None = None,
    available: QRect | None = None,
) -> None:
    """Size and place ``window`` on its screen: the saved geometry if it fits, else ``preferred``.

    Parameters
    ----------
    window : QWidget
        A top-level window, shown or not yet shown.
    preferred : (int, int)
        Width and height to open at where the screen is large enough.
    saved : bytes, optional
        A ``QWidget.saveGeometry()`` from an earlier session; used only if the window it
        describes lies inside the available area now.
    available : QRect, optional
        The area to fit in; by default the available geometry of the window's screen.

    """
    area = available if available is not None else available_area(window)
    if saved is not None:
        frame = saved_frame(saved)
        if frame is not None and area.contains(frame) and window.restoreGeometry(saved):
            return
    frame = _frame_size(window)
    target = fitted_rect(QSize(*preferred), area, frame)
    window.setGeometry(target)
