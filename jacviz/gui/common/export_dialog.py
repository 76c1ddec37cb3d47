"""File → Export figure… and Edit → Copy figure, for any window with views to export.

A :class:`FigureExporter` is given the names of a window's views and a function that returns
the :class:`~jacviz.gui.common.export.Figure` of each; it adds the two actions to the window's
menus, runs the :class:`ExportDialog` (which view, which file, PNG scale and transparency) and saves
or copies with :mod:`jacviz.gui.common.export`. The main window uses it; the lab window can too.
What was chosen last (view, folder, scale, transparency) is remembered in QSettings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QObject, QSettings, QStandardPaths, pyqtSignal
from PyQt6.QtGui import QAction, QImage, QKeySequence
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSpinBox,
    QWidget,
)

from jacviz.gui.common.export import (
    FORMATS,
    SCREEN_DPI,
    ExportError,
    Figure,
    copy_figure,
    export_figure,
)

MAX_DIALOG_SCALE = 4
FILE_FILTER = ";;".join(f"{label} (*{suffix})" for suffix, label in FORMATS.items())


@dataclass(frozen=True)
class ExportChoice:
    """What the dialog was asked to do: save ``view`` to ``path``, or copy it."""

    view: str
    path: Path
    scale: int
    transparent: bool
    copy: bool = False


class ExportDialog(QDialog):
    """Choose a view, a file (its extension picks the format), a PNG scale and transparency.

    Parameters
    ----------
    views : mapping of str to str
        The views offered: key → what the list shows.
    available : callable
        Whether a view can be exported now; the others are listed but disabled.
    choice : ExportChoice
        What the fields show at first.

    """

    def __init__(
        self,
        views: Mapping[str, str],
        available: Callable[[str], bool],
        choice: ExportChoice,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Export figure")
        self.copy_requested = False
        self.view = QComboBox()
        for index, (key, label) in enumerate(views.items()):
            self.view.addItem(label, key)
            if not available(key):
                self.view.model().item(index).setEnabled(False)
        self.view.setToolTip("The part of the window to draw")
        self.path = QLineEdit(str(choice.path))
        self.path.setMinimumWidth(420)
        self.path.setToolTip(
            "The file to write; its extension picks the format: .png (an image), .svg or .pdf "
            "(vector drawings: curves stay sharp at any size). An existing file is replaced."
        )
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.format_label = QLabel()
        self.scale = QSpinBox()
        self.scale.setRange(1, MAX_DIALOG_SCALE)
        self.scale.setSuffix("×")
        self.scale.setValue(max(1, min(choice.scale, MAX_DIALOG_SCALE)))
        self.scale.setToolTip(
            "Pixels per pixel on screen: 2× doubles the width and height, for print or slides"
        )
        self.dpi_label = QLabel()
        self.transparent = QCheckBox("Transparent background")
        self.transparent.setChecked(choice.transparent)
        self.transparent.setToolTip("Leave the plots' white background out (PNG only)")

        form = QFormLayout(self)
        form.addRow("View", self.view)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("File", row)
        form.addRow("Format", self.format_label)
        scale_row = QHBoxLayout()
        scale_row.addWidget(self.scale)
        scale_row.addWidget(self.dpi_label, 1)
        form.addRow("PNG scale", scale_row)
        form.addRow("", self.transparent)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.copy_button = self.buttons.addButton(
            "Copy to clipboard", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.copy_button.setToolTip("Copy the view as an image at the chosen scale instead")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.copy_button.clicked.connect(self._copy)
        form.addRow(self.buttons)

        index = self.view.findData(choice.view)
        if index < 0 or not available(choice.view):
            index = next((i for i, key in enumerate(views) if available(key)), 0)
        self.view.setCurrentIndex(index)
        self.view.currentIndexChanged.connect(self._on_view_changed)
        self.path.textChanged.connect(self._show_format)
        self.scale.valueChanged.connect(self._show_format)
        self._show_format()

    def choice(self) -> ExportChoice:
        """What the fields say now."""
        return ExportChoice(
            view=str(self.view.currentData()),
            path=Path(self.path.text().strip()).expanduser(),
            scale=self.scale.value(),
            transparent=self.transparent.isChecked(),
            copy=self.copy_requested,
        )

    def _suffix(self) -> str:
        return Path(self.path.text().strip()).suffix.lower()

    def _show_format(self) -> None:
        suffix = self._suffix()
        known = suffix in FORMATS
        self.format_label.setText(
            FORMATS[suffix] if known else f"unknown: end the name in {', '.join(FORMATS)}"
        )
        png = suffix == ".png"
        self.scale.setEnabled(png)
        self.transparent.setEnabled(png)
        self.dpi_label.setText(f"{SCREEN_DPI * self.scale.value()} dpi" if png else "")
        save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        save.setEnabled(known and bool(self.path.text().strip()))

    def _on_view_changed(self) -> None:
        """Follow the view in a file name that was the default one (``jacviz-<view>.<ext>``)."""
        path = Path(self.path.text().strip())
        if path.stem.startswith("jacviz-"):
            name = f"jacviz-{self.view.currentData()}{path.suffix}"
            self.path.setText(str(path.with_name(name)))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export figure", self.path.text(), FILE_FILTER)
        if path:
            self.path.setText(path)

    def _copy(self) -> None:
        self.copy_requested = True
        self.accept()


class FigureExporter(QObject):
    """A window's Export figure… and Copy figure actions, and the work behind them.

    Parameters
    ----------
    window : QWidget
        The window: the dialog's parent.
    views : mapping of str to str
        Its views: key → name shown in the dialog (and in the Copy action).
    figure : callable
        Returns the :class:`~jacviz.gui.common.export.Figure` of a view key. It may bring the view
        on screen first (a hidden tab), and raises :class:`~jacviz.gui.common.export.ExportError`
        with a reason when the view cannot be drawn.
    settings : QSettings, optional
        Where the last choices are remembered (none: only while the window lives).
    available : callable, optional
        Whether a view can be exported now (default: all can).
    name : str
        Distinguishes the windows' remembered choices of view in ``settings``.

    Signals
    -------
    sigProblem(str, str)
        A title and a one-line reason: a figure could not be saved or copied.
    sigStatus(str)
        What was done, for the status bar.

    """

    sigProblem = pyqtSignal(str, str)
    sigStatus = pyqtSignal(str)

    def __init__(
        self,
        window: QWidget,
        views: Mapping[str, str],
        figure: Callable[[str], Figure],
        settings: QSettings | None = None,
        available: Callable[[str], bool] | None = None,
        name: str = "main",
    ):
        super().__init__(window)
        self._window = window
        self._views = dict(views)
        self._figure = figure
        self._settings = settings
        self._available = available or (lambda _view: True)
        self._name = name
        self._memory: dict[str, object] = {}
        self.dialog: ExportDialog | None = None
        self.export_action = QAction("&Export figure…", window)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setToolTip(
            "Save a view (or the whole window) as PNG, SVG or PDF, or copy it"
        )
        self.export_action.triggered.connect(self.open_dialog)
        self.copy_action = QAction("&Copy figure", window)
        self.copy_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        self.copy_action.triggered.connect(lambda: self.copy())
        self._label_copy_action()

    def add_actions(self, file_menu: QMenu, edit_menu: QMenu | None = None) -> None:
        """Add Export figure… to ``file_menu`` and Copy figure to ``edit_menu`` (or File)."""
        file_menu.addAction(self.export_action)
        (edit_menu or file_menu).addAction(self.copy_action)

    # ---- what was chosen last -------------------------------------------------------------------
    def _recall(self, key: str, default: object) -> object:
        if self._settings is None:
            return self._memory.get(key, default)
        return self._settings.value(f"figures/{key}", default)

    def _remember(self, key: str, value: object) -> None:
        self._memory[key] = value
        if self._settings is not None:
            self._settings.setValue(f"figures/{key}", value)

    def last_choice(self) -> ExportChoice:
        """The choice the dialog starts from: the last one, or sensible defaults."""
        view = str(self._recall(f"{self._name}/view", next(iter(self._views))))
        if view not in self._views:
            view = next(iter(self._views))
        pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
        start = pictures if pictures and Path(pictures).is_dir() else Path.home()
        folder = Path(str(self._recall("folder", start)))
        suffix = str(self._recall("suffix", ".png"))
        try:
            scale = int(self._recall("scale", 1))
        except (TypeError, ValueError):
            scale = 1
        transparent = str(self._recall("transparent", "false")).lower() == "true"
        return ExportChoice(view, folder / f"jacviz-{view}{suffix}", scale, transparent)

    def _label_copy_action(self) -> None:
        view = self.last_choice().view
        self.copy_action.setToolTip(
            f"Copy the {self._views[view].lower()} as an image (Export figure… picks the view)"
        )

    # ---- actions --------------------------------------------------------------------------------
    def open_dialog(self) -> ExportDialog:
        """Show the export dialog (window-modal, without blocking); it saves when accepted."""
        self.dialog = ExportDialog(self._views, self._available, self.last_choice(), self._window)
        self.dialog.accepted.connect(self._on_dialog_accepted)
        self.dialog.open()
        return self.dialog

    def _on_dialog_accepted(self) -> None:
        choice = self.dialog.choice()
        self._remember(f"{self._name}/view", choice.view)
        self._remember("scale", choice.scale)
        self._remember("transparent", "true" if choice.transparent else "false")
        self._label_copy_action()
        if choice.copy:
            self.copy(choice.view, choice.scale)
        else:
            self.export(choice)

    def export(self, choice: ExportChoice) -> Path | None:
        """Save the figure as ``choice`` says; on failure say why and write nothing."""
        try:
            figure = self._figure(choice.view)
            path = export_figure(figure, choice.path, choice.scale, choice.transparent)
        except ExportError as error:
            self.sigProblem.emit("Figure not saved", str(error))
            return None
        self._remember("folder", str(path.parent.resolve()))
        self._remember("suffix", path.suffix.lower())
        self.sigStatus.emit(f"Saved the {self._views[choice.view].lower()} to {path}.")
        return path

    def copy(self, view: str | None = None, scale: int | None = None) -> QImage | None:
        """Copy the figure of ``view`` (default: the last chosen) to the clipboard."""
        last = self.last_choice()
        view = view or last.view
        try:
            image = copy_figure(self._figure(view), scale or last.scale)
        except ExportError as error:
            self.sigProblem.emit("Figure not copied", str(error))
            return None
        self.sigStatus.emit(
            f"Copied the {self._views[view].lower()} ({image.width()}×{image.height()} px) "
            "to the clipboard."
        )
        return image
