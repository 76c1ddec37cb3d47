"""Animations rendered with no display: what ``jacviz animate`` runs.

Two movies, each of exactly the number of frames asked for, at exactly the size asked for:

- :func:`save_morph`: the output plane as the morph t goes from 0 (the identity) to 1 (the
  map), drawn by the same window as ``jacviz render`` (:func:`~.headless.rendered_window`),
  as File → Export morph animation does;
- :func:`save_training`: a training run's data over its decision regions (or ‖J‖_F), from
  step 0 to the end, drawn by the lab's own plane, as the lab's Export training animation does.

Each frame's caption says what it shows (the map and t, or the step, λ and accuracies) and
which frame it is: no two frames are alike, so a GIF keeps every one (Pillow merges identical
consecutive frames into one). The file is written by
:func:`~jacviz.gui.common.animation.save_animation`, in one step when complete.
"""

from __future__ import annotations

import dataclasses
import html
import os
from collections.abc import Iterator
from pathlib import Path

from PyQt6.QtCore import QEventLoop, Qt
from PyQt6.QtGui import QImage

from jacviz.gui.common.animation import save_animation
from jacviz.gui.common.export import Figure, figure_image, figure_size
from jacviz.gui.lab.regions_view import RegionsView
from jacviz.gui.shell.headless import (
    RenderError,
    RenderRequest,
    application,
    check_drawn,
    drawing_errors,
    rendered_window,
)
from jacviz.gui.shell.main_window import MainWindow
from jacviz.gui.shell.render_layout import place_legend
from jacviz.nets.datasets import Dataset
from jacviz.nets.fields import compute_field
from jacviz.nets.training import Snapshot, TrainConfig, train

MIN_FRAMES = 2
"""Fewest frames of an animation: a start and an end."""
MAX_ANIMATION_PIXELS = 1_000_000_000
"""Most pixels of all frames together: a GIF keeps every frame in memory until written."""


def frame_label(index: int, count: int) -> str:
    """``frame 07 of 48``: which frame this is, in digits of one width (captions keep a width)."""
    return f"frame {index + 1:0{len(str(count))}d} of {count}"


def _map_name(window: MainWindow) -> str:
    state = window.controller.state
    return Path(state.network).name if state.network else state.formula


def _morph_figure(
    window: MainWindow, size: tuple[int, int], t: float, index: int, count: int
) -> Figure:
    """The output plane's figure for a frame of ``size``, captioned with the map, t and number."""
    figure = place_legend(window.figure("output"), size)
    caption = (
        f"<b>t = {t:.2f}</b>: (1 − t)·p + t·f(p), f = {html.escape(_map_name(window))} · "
        f"{frame_label(index, count)}"
    )
    return dataclasses.replace(figure, above=caption, title=f"jacviz morph of {_map_name(window)}")


def save_morph(
    request: RenderRequest, out: str | os.PathLike, count: int, fps: float
) -> tuple[Path, int, int]:
    """Save the morph from the identity to the map of ``request`` as ``count`` frames in ``out``.

    ``request`` is that of the warp view (its map, domain, probe and size; the size is that
    of each frame, caption included). Returns the file and the frames' width and height.
    Raises RenderError (the map cannot be shown) or AnimationError (the file cannot be
    written); no file is left behind then.
    """
    request = dataclasses.replace(request, view="warp")
    last = count - 1
    size = request.figure_size
    with rendered_window(request, lambda w: _morph_figure(w, size, 1.0, last, count)) as (
        window,
        errors,
    ):
        app = application()

        def frames() -> Iterator[QImage]:
            for index in range(count):
                t = index / last
                window.controller.set_morph(t)
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
                check_drawn(errors, "morph")
                yield figure_image(_morph_figure(window, size, t, index, count))

        path = save_animation(frames(), out, fps)
        width, height = figure_size(_morph_figure(window, size, 1.0, last, count))
    return path, width, height


def frame_steps(steps: int, count: int) -> list[int]:
    """The steps of a run of ``steps`` steps that ``count`` frames show: evenly spaced, 0 to end.

    Every ``steps // (count - 1)`` steps, and the last one at the end (so at most that many
    steps more than the others apart). A run of ``steps`` steps has at most ``steps + 1``.
    """
    every = max(1, steps // (count - 1))
    return [index * every for index in range(count - 1)] + [steps]


def _training_caption(
    dataset: Dataset, config: TrainConfig, snapshot: Snapshot, index: int, count: int
) -> str:
    regularizer = f"λ = {config.jr_lambda:g}" if config.regularized else "no regularization"
    status = (
        f"diverged: {html.escape(snapshot.diverged)}"
        if snapshot.diverged
        else f"train {100 * snapshot.train_accuracy:.1f} % · test "
        f"{100 * snapshot.test_accuracy:.1f} % · mean ‖J‖<sub>F</sub> "
        f"{snapshot.test_frobenius:.3g}"
    )
    return (
        f"<b>step {snapshot.step} / {config.steps}</b> · {html.escape(dataset.name)} · "
        f"{regularizer} · {status} · {frame_label(index, count)}"
    )


def save_training(
    dataset: Dataset,
    config: TrainConfig,
    display: str,
    out: str | os.PathLike,
    count: int,
    fps: float,
    size: tuple[int, int],
) -> tuple[Path, int, int]:
    """Save the run of ``config`` on ``dataset`` as ``count`` frames of ``size`` in ``out``.

    Each frame is the lab's plane (``display``: decision regions or ‖J‖_F) over the data's
    domain at one of :func:`frame_steps`, captioned with the step, λ and accuracies. A run
    that diverges ends early: its last picture is kept for the frames left, each saying so.
    Returns the file and the frames' width and height; raises AnimationError (the file
    cannot be written), leaving no file behind.
    """
    if not MIN_FRAMES <= count <= config.steps + 1:
        raise RenderError(
            f"--frames: a run of {config.steps} steps has {MIN_FRAMES} to {config.steps + 1} "
            f"frames, got {count}"
        )
    app = application()
    view = RegionsView()
    view.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)  # never on the user's screen
    view.setMinimumSize(0, 0)
    try:
        with drawing_errors() as errors:
            view.resize(*size)
            view.show()
            view.show_dataset(dataset)
            domain = dataset.domain
            view.show_frame(domain)
            wanted = frame_steps(config.steps, count)
            every = max(1, wanted[1] - wanted[0])
            snapshots = iter(train(dataset, config, snapshot_every=every))
            first = next(snapshots)
            first_figure = Figure(view, above=_training_caption(dataset, config, first, 0, count))
            _fit(view, first_figure, size)

            def frames() -> Iterator[QImage]:
                shown, drawn = first, None
                for index in range(count):
                    if index > 0:
                        shown = _next_wanted(snapshots, wanted[index], shown)
                    if shown is not drawn:
                        field = compute_field(
                            config, shown.state, dataset.n_classes, domain, display, shown.step
                        )
                        view.show_field(field)
                        drawn = shown
                    app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
                    check_drawn(errors, "training")
                    caption = _training_caption(dataset, config, shown, index, count)
                    yield figure_image(Figure(view, above=caption, title="jacviz training run"))

            path = save_animation(frames(), out, fps)
            width, height = figure_size(first_figure)
    finally:
        view.close()
        view.deleteLater()
    return path, width, height


def _next_wanted(snapshots: Iterator[Snapshot], step: int, shown: Snapshot) -> Snapshot:
    """The snapshot at ``step``, skipping those before; ``shown`` once the run has ended."""
    if shown.diverged:
        return shown
    for snapshot in snapshots:
        if snapshot.step >= step or snapshot.diverged:
            return snapshot
    return shown


def _fit(view: RegionsView, figure: Figure, size: tuple[int, int]) -> None:
    """Size ``view`` so that ``figure`` (it with its caption) is ``size`` pixels."""
    app = application()
    for _ in range(4):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        width, height = figure_size(figure)
        if (width, height) == size:
            return
        view.resize(view.width() + size[0] - width, view.height() + size[1] - height)
    raise RenderError(f"the training view cannot be drawn at {size[0]}×{size[1]} pixels")
