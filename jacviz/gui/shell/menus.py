"""The main window's menu bar: File, Presets, Examples, View, Lab and Help, and its shortcuts.

:func:`build_menus` adds the menus to a window and connects their actions to what the window
offers (:class:`MenuTargets`: its map view, sessions, figures, lab); the Help menu's dialogs
(:data:`SHORTCUTS`, what the planes show) are here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import QMainWindow, QMenu, QMessageBox, QWidget

from jacviz.gui.common.export_dialog import FigureExporter
from jacviz.gui.mapview.controller import Controller
from jacviz.gui.mapview.magnifier import magnifier_action
from jacviz.gui.shell.examples_menu import add_examples
from jacviz.gui.shell.sessions import SessionKeeper
from jacviz.math.jacobian import HEATMAP_QUANTITIES
from jacviz.math.presets import PRESETS
from jacviz.state.view import CLASSES

H_FACTOR = 1.25
"""[ and ] shrink and grow the square by this factor."""

SHORTCUTS = (
    ("Ctrl+O", "open a network file"),
    ("Ctrl+S / Ctrl+Shift+S", "save the session (map and lab) / save it as a new file"),
    ("Ctrl+Shift+O", "open a saved session"),
    ("Ctrl+L", "edit the formula"),
    ("Drag (input plane)", "move the probe; middle button or Shift/Ctrl + drag pans"),
    ("Wheel", "zoom the plane under the pointer"),
    ("Arrow keys", "move the probe (with the input plane focused)"),
    ("[ and ]", "shrink / grow the square h"),
    (
        "Ctrl+0 … Ctrl+7",
        "heatmap: none, det, log|det|, σmax, σmin, condition, ‖J‖F, decision regions",
    ),
    ("Home", "frame both planes again"),
    ("Ctrl+E", "export a figure (PNG, SVG, PDF)"),
    ("Ctrl+Shift+C", "copy the figure last exported to the clipboard"),
    ("Ctrl+T", "open the Jacobian regularization lab (train classifiers)"),
    ("Ctrl+Q", "quit"),
)


class MenuTargets(Protocol):
    """What the menus act on: the parts and commands of a main window."""

    controller: Controller
    sessions: SessionKeeper
    figures: FigureExporter

    def choose_network(self) -> None:
        """Ask for a network file and open it."""

    def request_network(self, path: str) -> None:
        """Open the network at ``path`` in the background."""

    def export_morph_animation(self) -> Path | None:
        """Ask for a file and save the morph animation there."""

    def focus_formula(self) -> None:
        """Put the keyboard focus in the formula, all of it selected."""

    def reframe(self) -> None:
        """Frame both planes again."""

    def request_lab(self) -> None:
        """Show the regularization lab (loading torch first, off the GUI thread)."""


@dataclass(frozen=True)
class Menus:
    """The menu items the window updates after building them."""

    heatmap_actions: dict[str | None, QAction]
    """View → Heatmap: …, by heatmap key (None: no heatmap); the shown one is checked."""
    examples_menu: QMenu


def _action(menu: QMenu, text: str, slot: Callable[[], object], shortcut: object = None) -> QAction:
    action = menu.addAction(text)
    if shortcut is not None:
        action.setShortcut(shortcut)
    action.triggered.connect(lambda _=False: slot())
    return action


def build_menus(window: QMainWindow, targets: MenuTargets) -> Menus:
    """Add the menus to ``window``'s menu bar, acting on ``targets`` (usually the window)."""
    controller = targets.controller
    menu = window.menuBar()
    file_menu = menu.addMenu("&File")
    file_menu.setToolTipsVisible(True)
    targets.sessions.add_actions(file_menu)
    file_menu.addSeparator()
    open_network = _action(
        file_menu, "Open &network…", targets.choose_network, QKeySequence.StandardKey.Open
    )
    open_network.setToolTip("Load a network saved as jacviz MLP, TorchScript or torch.export")
    file_menu.addSeparator()
    targets.figures.add_actions(file_menu, menu.addMenu("&Edit"))
    movie = _action(file_menu, "Export &morph animation…", targets.export_morph_animation)
    movie.setToolTip("The output plane as t goes from 0 (identity) to 1 (the map), as GIF or MP4")
    file_menu.addSeparator()
    _action(file_menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)

    presets_menu = menu.addMenu("&Presets")
    for entry in PRESETS:
        action = presets_menu.addAction(entry.name)
        action.setToolTip(entry.note)
        action.triggered.connect(lambda _=False, e=entry: controller.load_preset(e))
    presets_menu.setToolTipsVisible(True)

    examples_menu = menu.addMenu("&Examples")
    add_examples(examples_menu, targets.request_network)

    view_menu = menu.addMenu("&View")
    _action(view_menu, "Edit formula", targets.focus_formula, "Ctrl+L")
    heatmaps = QActionGroup(window)
    heatmap_actions: dict[str | None, QAction] = {}
    choices = [(None, "no heatmap"), *HEATMAP_QUANTITIES.items(), (CLASSES, "decision regions")]
    for index, (key, label) in enumerate(choices):
        action = view_menu.addAction(f"Heatmap: {label}")
        action.setCheckable(True)
        action.setShortcut(f"Ctrl+{index}")
        action.triggered.connect(lambda _=False, k=key: controller.set_heatmap(k))
        heatmaps.addAction(action)
        heatmap_actions[key] = action
    view_menu.addSeparator()
    _action(
        view_menu, "Smaller square h", lambda: controller.set_h(controller.state.h / H_FACTOR), "["
    )
    _action(
        view_menu, "Larger square h", lambda: controller.set_h(controller.state.h * H_FACTOR), "]"
    )
    _action(view_menu, "Frame both planes", targets.reframe, "Home")
    view_menu.addAction(magnifier_action(window, getattr(targets, "settings", None)))

    lab_menu = menu.addMenu("&Lab")
    lab_menu.setToolTipsVisible(True)
    lab = _action(lab_menu, "Jacobian regularization &lab…", targets.request_lab, "Ctrl+T")
    lab.setToolTip(
        "Train small classifiers on toy data, with and without Jacobian regularization, "
        "and compare their decision regions and robustness"
    )

    help_menu = menu.addMenu("&Help")
    _action(help_menu, "Keyboard shortcuts", lambda: show_shortcuts(window))
    _action(help_menu, "What am I looking at?", lambda: show_explanation(window))
    return Menus(heatmap_actions, examples_menu)


def show_shortcuts(parent: QWidget) -> None:
    """Help → Keyboard shortcuts: the table of :data:`SHORTCUTS`."""
    rows = "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in SHORTCUTS)
    QMessageBox.information(parent, "Keyboard shortcuts", f"<table>{rows}</table>")


def show_explanation(parent: QWidget) -> None:
    """Help → What am I looking at?: the planes, the probe, J, det and the heatmaps."""
    QMessageBox.information(
        parent,
        "What am I looking at?",
        "<p>Left: the input plane with a grid and the probe point p. Right: where f sends "
        "that grid.</p><p>Near p, f(p + δ) ≈ f(p) + J·δ. The black curve is the true image "
        "of the small square p + [0, h]²; the red parallelogram is its image under the "
        "Jacobian J alone. Shrink h with [ and they become indistinguishable: that is what "
        "'J is the best local linear map' means.</p><p>det J is the factor by which areas "
        "scale (negative: orientation reversed); the circle of radius h maps to an ellipse "
        "with semi-axes h·σ1 and h·σ2, the singular values. σ1 is the local Lipschitz "
        "constant.</p><p>Heatmaps colour the plane by det, log|det|, σmax, σmin, "
        "condition number (log10) or ‖J‖<sub>F</sub>; black lines mark det = 0, where f folds.</p>"
        f"<p>Shortcuts: {', '.join(k for k, _ in SHORTCUTS)} (Help → Keyboard shortcuts).</p>",
    )
