"""The main window's first picture: drawn at once, or just after the window's first paint.

Drawing a formula's picture needs the formula parsed, and parsing needs sympy (about a
quarter of a second to import, more on a busy machine). The app's window is painted first,
with its menus, panels and the formula's text; :meth:`FirstPicture.prepare` then parses the
formula on a worker thread, so that the window handles input meanwhile, and draws the grid,
probe and heatmap on the GUI thread once it is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PyQt6.QtCore import QObject, pyqtSignal

from jacviz.gui.mapview.controller import Controller
from jacviz.gui.shell.status import WindowStatus
from jacviz.math.formula import FormulaError
from jacviz.math.maps import FormulaMap
from jacviz.math.presets import PRESETS
from jacviz.state.view import DEFAULT_FORMULA

DRAWING = "Drawing the map…"
"""The status line while the first picture is not drawn yet."""
DEFAULT_PRESET = next(preset for preset in PRESETS if preset.formula == DEFAULT_FORMULA)
"""What a saved formula that no longer parses is replaced by."""


class FirstPicture(QObject):
    """Draws a window's first picture once: at once (:meth:`draw`) or prepared (:meth:`prepare`).

    Parameters
    ----------
    controller : Controller
        The window's map view controller, whose map is drawn.
    status : WindowStatus
        The window's status line: it says the map is being drawn, or why the saved formula
        was replaced.
    parent : QObject
        The window (this object goes with it).

    """

    sigParsed = pyqtSignal()
    """Sent from the worker thread of :meth:`prepare` when the formula is parsed (or not)."""

    def __init__(self, controller: Controller, status: WindowStatus, parent: QObject):
        super().__init__(parent)
        self._controller = controller
        self._status = status
        self._then: Callable[[], None] | None = None
        self.drawn = False
        """Whether the first picture was drawn."""
        self.sigParsed.connect(self._on_parsed)

    def show_pending(self) -> None:
        """Say in the status line that the map is being drawn (until :meth:`draw`)."""
        self._status.show_message(DRAWING)

    def prepare(self, then: Callable[[], None] | None = None) -> None:
        """Parse the map's formula on a worker thread, then draw the first picture, then ``then``.

        The window handles input meanwhile (an action that needs the map waits for the
        parse). The worker touches nothing but the formula map, which parses under its own
        lock; the picture is drawn, and ``then`` called, on the GUI thread.
        """
        source = self._controller.source
        if self.drawn or not isinstance(source, FormulaMap) or source.prepared:
            self.draw()
            if then is not None:
                then()
            return
        self._then = then

        def parse() -> None:
            try:
                source.prepare()
            except FormulaError:
                pass  # said on the GUI thread, by draw()
            try:
                self.sigParsed.emit()
            except RuntimeError:  # the window was deleted meanwhile: nothing to draw
                pass

        threading.Thread(target=parse, name="first-formula", daemon=True).start()

    def _on_parsed(self) -> None:
        then, self._then = self._then, None
        self.draw()
        if then is not None:
            then()

    def draw(self) -> None:
        """Parse the map's formula if it is not yet, and draw the first picture (once).

        A formula hand-edited into the settings that does not parse is replaced by the
        preset of the default formula, and the status line says so.
        """
        if self.drawn:
            return
        self.drawn = True
        self._status.show_hint()
        source = self._controller.source
        try:
            if isinstance(source, FormulaMap):
                source.prepare()  # sympy is imported here if no worker did it
        except FormulaError as error:
            self._controller.load_preset(DEFAULT_PRESET)
            self._controller.refresh()
            self._status.show_message(
                f"The saved formula could not be read ({error}): showing {DEFAULT_PRESET.name}."
            )
            return
        self._controller.refresh()
