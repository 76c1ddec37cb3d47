"""The lab's files: points as CSV, the model, the training animation, and the map view.

:class:`LabFiles` asks for a file name and hands it to the
:class:`~jacviz.gui.lab.lab_controller.LabController`, or films the current run, and says in
the window's status bar what it did. It keeps the lab window to its widgets and wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtWidgets import QFileDialog, QMainWindow

from jacviz.gui.common.animation import export_animation
from jacviz.gui.lab.lab_controller import LabController
from jacviz.gui.lab.regions_view import RegionsView
from jacviz.gui.lab.training_movie import training_frames

__all__ = ["MOVIE_FRAMES", "LabFiles"]

MOVIE_FRAMES = 60
"""Frames of an exported training animation (3 s at 20 frames per second)."""


class LabFiles:
    """File dialogs of a lab window, and what is done with the paths chosen.

    Parameters
    ----------
    window : QMainWindow
        The lab window: dialogs' parent, and its status bar says what happened.
    controller : LabController
        Loads and saves the points and the model.
    regions_view : RegionsView
        The plane whose visible rectangle the training animation films.
    open_network : callable, optional
        Shows a saved network file in the map view.

    """

    def __init__(
        self,
        window: QMainWindow,
        controller: LabController,
        regions_view: RegionsView,
        open_network: Callable[[str], object] | None,
    ) -> None:
        self.window = window
        self.controller = controller
        self.regions_view = regions_view
        self.open_network = open_network

    def _say(self, message: str) -> None:
        self.window.statusBar().showMessage(message)

    def load_points(self) -> None:
        """Ask for a CSV file and load its points."""
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Load points", "", "CSV files (*.csv);;All files (*)"
        )
        if path:
            self.controller.load_csv(path)

    def save_points(self) -> None:
        """Ask for a CSV file and save the points to it."""
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save points", f"{self.controller.dataset.name}.csv", "CSV files (*.csv)"
        )
        if path:
            self.controller.save_csv(path)

    def ask_model_path(self) -> str:
        """A file name for the model, named after its data and λ ("" if cancelled)."""
        run = self.controller.run
        name = "model"
        if run is not None:
            name = f"{run.dataset.name}_lambda{run.config.jr_lambda:g}"
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save model", f"{name}.safetensors", "jacviz networks (*.safetensors)"
        )
        return path

    def save_model(self) -> None:
        """Ask for a file name and save the newest model to it."""
        path = self.ask_model_path()
        if path:
            self.controller.save_model(path)

    def open_in_map_view(self) -> None:
        """Show the trained model in the map view, saving it first if it has changed."""
        if self.open_network is None:
            return
        path = self.controller.saved_model_path()
        if path is None:
            path = self.ask_model_path()
            if not path or not self.controller.save_model(path):
                return
        self.open_network(path)
        self._say(f"Opened {Path(path).name} in the map view.")

    def export_training_animation(self, frames: int = MOVIE_FRAMES) -> Path | None:
        """Save the current run, replayed from step 0, as an animation the user names."""
        config, dataset = self.controller.config, self.controller.dataset
        if config is None:
            self._say("Fix the model settings first: there is no run to film.")
            return None
        try:
            domain = self.regions_view.visible_domain()
        except ValueError as error:  # zoomed or stretched beyond what can be drawn
            self._say(f"Frame the data again first (Home): {error}")
            return None
        source = training_frames(dataset, config, self.controller.state.display, domain, frames)
        name = f"{dataset.name}_lambda{config.jr_lambda:g}_training.gif"
        written = export_animation(self.window, source, frames, name)
        if written is not None:
            self._say(f"Saved the training animation to {written}.")
        return written
