"""The lab's page of the plane through three inputs, alone (a LabWindow is not built here)."""

from dataclasses import dataclass

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QImage, QMouseEvent
from PyQt6.QtWidgets import QApplication

from jacviz.gui.lab.plane_page import PlanePage
from jacviz.gui.lab.plane_plots import label_points
from jacviz.math.grid import Domain
from jacviz.nets.data import VectorDataset
from jacviz.nets.input_plane import held_out
from jacviz.nets.trained import raw_model
from jacviz.nets.training import TrainConfig, run

pytestmark = pytest.mark.timeout(180)

LEFT = Qt.MouseButton.LeftButton
TINY = TrainConfig(hidden=(8,), steps=30, jr_lambda=0.1, estimator="random", learning_rate=0.01)


def dataset(shape=(4, 4)):
    """Three classes of 16 inputs (a 4×4 image, or no image), 60 points, every 5th held out."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    points = rng.uniform(0, 4, size=(60, 16)) + 8 * np.eye(3, 16)[labels]
    is_test = np.zeros(60, bool)
    is_test[::5] = True
    return VectorDataset(points, labels, is_test, 3, "tiny", ("a", "b", "c"), shape)


@pytest.fixture
def page(qtbot):
    page = PlanePage()
    qtbot.addWidget(page)
    page.resize(1366, 768)
    page.show()
    qtbot.waitExposed(page)
    yield page
    page.shutdown()


def settle(qtbot, page):
    qtbot.waitUntil(lambda: not page.busy(), timeout=120_000)
    qtbot.wait(10)


def send(widget, kind, pos, button, buttons):
    event = QMouseEvent(
        kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)


def widget_pos(plot, s, t):
    return plot.mapFromScene(plot.getViewBox().mapViewToScene(QPointF(s, t)))


def pixmap_cells(label, shape):
    """The grey level of each input's cell in a label's pixmap (sampled at cell centres)."""
    image = label.pixmap().toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    rows, columns = shape
    return np.array(
        [
            [
                QImage.pixelColor(
                    image,
                    int((j + 0.5) * image.width() / columns),
                    int((i + 0.5) * image.height() / rows),
                ).red()
                for j in range(columns)
            ]
            for i in range(rows)
        ]
    )


def expected_grey(values, data):
    low, high = float(data.raw_points.min()), float(data.raw_points.max())
    return np.round(255 * (1 - np.clip((values - low) / (high - low), 0, 1))).reshape(4, 4)


def test_dragging_the_probe_shows_the_input_at_the_plane_point(qtbot, page):
    data = dataset()
    page.set_data(data)
    plot = page.plots.plots[0]
    qtbot.wait(50)
    coordinates = page.plane.coordinates
    start, end = coordinates[0], coordinates[1]  # from anchor 1 to anchor 2
    viewport = plot.viewport()
    a, b = widget_pos(plot, *start), widget_pos(plot, *end)
    send(viewport, QEvent.Type.MouseButtonPress, a, LEFT, LEFT)
    seen = []
    for k in range(1, 9):
        point = QPoint(
            round(a.x() + k / 8 * (b.x() - a.x())), round(a.y() + k / 8 * (b.y() - a.y()))
        )
        send(viewport, QEvent.Type.MouseMove, point, Qt.MouseButton.NoButton, LEFT)
        qtbot.wait(15)  # pyqtgraph passes on at most one move per 10 ms (mouseRateLimit)
        view = plot.getViewBox().mapSceneToView(plot.mapToScene(point))
        assert np.allclose(page.probe, (view.x(), view.y()))
        x = page.plane.lift(page.probe)[0]
        # The input drawn is the plane's point b + s·u + t·v, in its pixels' greys.
        assert np.array_equal(page.probe_panel.shown_input, x)
        cells = pixmap_cells(page.probe_panel.input_picture, (4, 4))
        assert np.array_equal(cells, expected_grey(x, data))
        seen.append(cells)
    send(viewport, QEvent.Type.MouseButtonRelease, b, LEFT, Qt.MouseButton.NoButton)
    # It morphed: the first and last pictures differ, the last is (nearly) anchor 2 itself.
    assert not np.array_equal(seen[0], seen[-1])
    anchor = held_out(data)[0][page.anchors[1]]
    assert np.abs(seen[-1] - expected_grey(anchor, data)).max() <= 255 * 2 / 12
    assert plot.probe.isVisible() and page.plots.plots[1].probe.pos() == plot.probe.pos()


def test_train_shows_both_models_their_fields_and_readings(qtbot, page):
    data = dataset()
    page.set_data(data)
    page.controls.hidden.setText("8")
    page.controls.steps.setValue(30)
    page.controls.jr_lambda.setText("0.1")
    assert page.train()
    assert page.controls.cancel.isEnabled() and not page.controls.train.isEnabled()
    settle(qtbot, page)
    assert [m.label for m in page.models] == ["λ = 0", "λ = 0.1"]
    assert page.controls.train.isEnabled()
    # The models are those `jacviz train` makes, on raw inputs.
    config = page.controls.config()
    for model, each in zip(page.models, (config.replace(jr_lambda=0.0), config), strict=True):
        expected = raw_model(data, each, run(data, each).state)
        x = np.array(data.raw_points[:4], dtype=np.float32)
        import torch

        assert torch.equal(model.model(torch.from_numpy(x)), expected(torch.from_numpy(x)))
    assert len(page.fields) == 2
    assert page.fields[0].domain == page.view
    image = page.plots.plots[0].image.image
    assert image is not None and image.shape[-1] == 4  # classes: RGBA regions
    # Each class the model decides on the plot is named inside its region.
    for plot, field in zip(page.plots.plots, page.fields, strict=True):
        shown = {label.textItem.toPlainText() for label in plot.class_labels if label.isVisible()}
        winners = {"abc"[c] for c in np.unique(field.regions.classes) if c >= 0}
        assert shown and shown <= winners
    readout = page.probe_panel.readouts[1]
    assert readout.isVisible() and "predicts" in readout.prediction.text()
    shown = [picture for picture, _caption in readout.cells if not picture.isHidden()]
    assert len(shown) == 3  # one row of J per class
    # ‖J‖F: one colour scale for both plots, with its bar.
    page.controls.heatmap.setCurrentIndex(page.controls.heatmap.findData("frobenius"))
    levels = [plot.image.levels for plot in page.plots.plots]
    assert np.array_equal(levels[0], levels[1]) and not page.plots.bar_widget.isHidden()
    page.probe_panel.mode.setCurrentIndex(1)
    assert readout.cells[0][1].text() == "σ1"


def test_cancel_stops_training_and_shows_no_model(qtbot, page):
    page.set_data(dataset())
    page.controls.steps.setValue(200_000)
    page.controls.hidden.setText("8")
    assert page.train()
    qtbot.waitUntil(lambda: page.controls.progress.value() > 0, timeout=60_000)
    page.controls.cancel.click()
    qtbot.waitUntil(lambda: not page.training, timeout=60_000)
    assert page.models == () and page.controls.status.text() == "cancelled"
    assert page.controls.train.isEnabled()


def test_the_gallery_sets_anchors_in_turn_and_refusals_are_one_line(qtbot, page):
    data = dataset()
    page.set_data(data)
    gallery = page.controls.gallery
    assert gallery.count() == len(held_out(data)[0])
    for index in (5, 6, 7):
        gallery.sigPointClicked.emit(index)
    assert page.anchors == [5, 6, 7] and page.controls.anchors.text() == "5, 6, 7"
    assert gallery.item(6).text() == "6·b ②"
    page.controls.anchors.setText("1, 1, 2")
    page.controls.anchors.editingFinished.emit()
    status = page.controls.status.text()
    assert "must differ" in status and "\n" not in status
    page.controls.anchors.setText("1, x, 2")
    page.controls.anchors.editingFinished.emit()
    assert page.controls.status.text().startswith("anchors: ")
    page.controls.jr_lambda.setText("0")
    assert not page.train() and "λ must be above 0" in page.controls.status.text()


def test_a_bad_npz_is_refused_in_one_line_and_vectors_are_bar_strips(qtbot, page, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    settle(qtbot, page)  # the digits, read when the page was first shown
    before = page.data
    page.load(str(bad))
    settle(qtbot, page)
    message = page.controls.data_status.text()
    assert "bad.npz" in message and "\n" not in message and page.data is before
    page.set_data(dataset(shape=None))
    pixmap = page.probe_panel.input_picture.pixmap()
    assert (pixmap.width(), pixmap.height()) == (160, 60)  # a strip, not a square


@dataclass(frozen=True)
class Run:
    data: object
    model: object
    config: TrainConfig


def test_a_sweeps_run_is_shown_against_lambda_zero_of_its_seed_or_alone(qtbot, page):
    data = dataset()
    config = TINY.replace(seed=3)
    model = raw_model(data, config, run(data, config).state)
    assert page.show_run(Run(data, model, config), against_plain=False)
    settle(qtbot, page)
    assert [m.label for m in page.models] == ["λ = 0.1, seed 3"]
    assert page.plots.plots[1].isHidden() and len(page.fields) == 1
    assert page.show_run(Run(data, model, config))
    settle(qtbot, page)
    assert [m.label for m in page.models] == ["λ = 0", "λ = 0.1, seed 3"]
    assert page.models[0].config == config.replace(jr_lambda=0.0)
    # The settings column says the run shown was trained with other settings.
    status = page.controls.status.text()
    assert status.startswith("shown: a run trained elsewhere (8 tanh, adam")
    assert "its λ = 0 partner: test accuracy" in status
    assert not page.plots.plots[1].isHidden()
    assert not page.show_run(Run(object(), model, config))


def test_shown_with_no_data_the_page_reads_the_digits_off_the_gui_thread(qtbot, page):
    pytest.importorskip("sklearn")
    qtbot.waitUntil(lambda: page.data is not None, timeout=60_000)
    assert page.data.name == "digits" and page.data.input_shape == (8, 8)
    assert page.anchors == [0, 1, 2] and page.plane is not None
    assert page.controls.gallery.count() == 500  # of 539 held-out digits


def test_jacobian_rows_are_white_at_zero_yellow_above_and_blue_below():
    from jacviz.gui.lab.plane_pictures import diverging_pixmap, grey_pixmap

    row = np.zeros(16)
    row[0], row[5] = 2.0, -2.0
    image = diverging_pixmap(row, (4, 4), 2.0, 4).toImage()
    white, up, down = (image.pixelColor(x, y) for x, y in ((3, 3), (0, 0), (1, 1)))
    assert min(white.red(), white.green(), white.blue()) >= 230  # CBD1's centre: near-white
    assert up.red() > up.blue() + 100 and down.blue() > down.red() + 100  # yellow, blue
    # Inputs in grey: the low end white, the high end black; a strip for inputs of no shape.
    grey = grey_pixmap(np.array([0.0, 16.0]), None, 0.0, 16.0, 20, 24).toImage()
    assert grey.pixelColor(2, 23).red() == 255 and grey.pixelColor(15, 23).red() == 0
    assert grey.pixelColor(15, 0).red() == 0 and grey.pixelColor(2, 0).red() == 255


def test_class_names_go_inside_their_regions_even_curved_ones():
    # A ring of class 1 round a disc of class 0, a speck of class 2 (too small to name), and
    # undefined pixels: the ring's mean is in the disc, its label must not be.
    rows, columns = 80, 100
    y, x = np.mgrid[0:rows, 0:columns]
    radius = np.hypot(x - 50, y - 40)
    classes = np.where(radius < 15, 0, 1)
    classes[0, 0] = 2
    classes[-1, -5:] = -1
    domain = Domain(-5.0, 5.0, 0.0, 8.0)
    found = dict(label_points(classes, domain))
    assert sorted(found) == [0, 1]
    for c, (s, t) in found.items():
        column = int((s - domain.xmin) / domain.width * columns)
        row = int((t - domain.ymin) / domain.height * rows)
        assert classes[row, column] == c
    np.testing.assert_allclose(found[0], [0.05, 4.05])  # the disc's centre pixel, (50, 40)
    # An anchor at the disc's centre: its name moves off it, still inside the disc.
    moved = dict(label_points(classes, domain, avoid=np.array([[0.05, 4.05]])))
    assert np.hypot(*(moved[0] - [0.05, 4.05])) >= 0.1 * 10 - 1e-9
    column, row = ((moved[0] - [-5.0, 0.0]) / [10.0, 8.0] * [columns, rows]).astype(int)
    assert classes[row, column] == 0
