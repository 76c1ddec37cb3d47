"""Frames of a training run: the data over the model's decision regions (or ‖J‖_F), step by step.

The run is trained again from its settings, which reproduces it exactly (the trainer is
deterministic given its config and data), so a movie can be made of any run, finished or not,
without keeping every snapshot's weights in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage

from jacviz.gui.common.export import Figure, figure_image
from jacviz.gui.lab.regions_view import RegionsView
from jacviz.math.grid import Domain
from jacviz.nets.datasets import Dataset
from jacviz.nets.fields import compute_field
from jacviz.nets.training import TrainConfig, train


def training_frames(
    dataset: Dataset,
    config: TrainConfig,
    display: str,
    domain: Domain,
    count: int,
    size: tuple[int, int] = (720, 600),
) -> Iterator[QImage]:
    """About ``count`` frames of the run of ``config`` on ``dataset``, from step 0 to the end.

    Each frame is the plane as the lab shows it (``display``: regions or ‖J‖_F, over
    ``domain``) with a caption giving the step, λ and the accuracies at that step.
    """
    view = RegionsView()
    # Laid out and "visible" for rendering, but never on the user's screen.
    view.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    view.resize(*size)
    view.show()
    view.show_dataset(dataset)
    view.show_frame(domain)
    every = max(1, config.steps // max(1, count - 1))
    regularizer = f"λ = {config.jr_lambda:g}" if config.regularized else "no regularization"
    try:
        for snapshot in train(dataset, config, snapshot_every=every):
            view.show_field(
                compute_field(
                    config, snapshot.state, dataset.n_classes, domain, display, snapshot.step
                )
            )
            caption = (
                f"<b>step {snapshot.step} / {config.steps}</b> · {regularizer} · train "
                f"{100 * snapshot.train_accuracy:.1f} % · test {100 * snapshot.test_accuracy:.1f} %"
                f" · mean ‖J‖<sub>F</sub> {snapshot.test_frobenius:.3g}"
            )
            yield figure_image(Figure(view, above=caption, title="jacviz training run"))
    finally:
        view.close()
        view.deleteLater()
