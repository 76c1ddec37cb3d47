"""The regularization lab, driven as a user would: buttons, typed settings, clicks on the plane."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QApplication, QFileDialog

from jacviz.gui.common.plots import class_colours
from jacviz.gui.lab.lab_controller import (
    SNAPSHOT_EVERY,
    DataSettings,
    LabState,
    ModelSettings,
    format_accuracy,
    parse_hidden,
)
from jacviz.gui.lab.lab_window import LabWindow
from jacviz.math.grid import sample_points
from jacviz.nets.datasets import load_csv
from jacviz.nets.fields import FROBENIUS
from jacviz.nets.metadata import read_classifier_metadata
from jacviz.nets.networks import EXAMPLES_DIR, load_network
from jacviz.nets.training import (
    TrainConfig,
    TrainingError,
    jacobian_frobenius,
    load_state,
    run,
    train,
)
from jacviz.nets.views import DecisionRegions

LEFT = Qt.MouseButton.LeftButton
SMALL = LabState(
    data=DataSettings(n_points=100),
    model=ModelSettings(hidden="8", steps=60, batch_size=32),
)


def idle(window):
    controller = window.controller
    return not controller.running and not controller.worker.busy


def wait_idle(qtbot, window, timeout=15000):
    """Wait until training has stopped and the last picture has been delivered."""
    qtbot.waitUntil(lambda: idle(window), timeout=timeout)


def open_lab(qtbot, state=SMALL, open_network=None):
    window = LabWindow(open_network=open_network, state=state)
    qtbot.addWidget(window)
    window.resize(1300, 820)
    window.show()
    qtbot.waitExposed(window)
    wait_idle(qtbot, window)
    return window


def assert_closed_cleanly(window):
    window.close()
    worker = window.controller.worker
    assert not window.controller.running
    assert not worker.busy, "a training job outlived its window"
    assert worker.wait(0), "a training thread is still running"
    leaked = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    assert not leaked, f"windows left open: {leaked}"


@pytest.fixture
def lab(qtbot):
    """The lab on small data and a small model, its step-0 model ready; closed cleanly after."""
    window = open_lab(qtbot)
    yield window
    assert_closed_cleanly(window)


def widget_pos(plane, x, y):
    scene = plane.getViewBox().mapViewToScene(QPointF(x, y))
    return plane.mapFromScene(scene)


def type_into(qtbot, field, text):
    field.setFocus()
    field.selectAll()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def step_once(qtbot, window):
    qtbot.mouseClick(window.run_controls.step, LEFT)
    wait_idle(qtbot, window)


def answer_dialogs(monkeypatch, path):
    """File dialogs answer ``path``; returns the list of dialogs asked."""
    asked = []

    def answer(*args, **kwargs):
        asked.append(args[1] if len(args) > 1 else "")
        return str(path), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", answer)
    return asked


# ---- training ------------------------------------------------------------------------------------


def test_play_trains_to_the_end_and_shows_what_the_core_computes(qtbot, lab):
    qtbot.mouseClick(lab.run_controls.play, LEFT)
    assert lab.controller.running
    assert lab.run_controls.play.text() == "Pause"
    qtbot.waitUntil(lambda: lab.controller.snapshot.done, timeout=15000)
    wait_idle(qtbot, lab)
    config = SMALL.model.config()
    expected = run(lab.controller.dataset, config)
    shown = lab.controller.snapshot
    assert shown.step == config.steps
    assert shown.train_accuracy == expected.train_accuracy
    assert shown.test_accuracy == expected.test_accuracy
    for name, tensor in expected.state.items():
        assert torch.equal(shown.state[name], tensor), name
    values = lab.summary.values
    assert values["train_accuracy"].text() == format_accuracy(expected.train_accuracy)
    assert values["test_accuracy"].text() == format_accuracy(expected.test_accuracy)
    assert lab.run_controls.progress.value() == config.steps
    assert lab.regions_view.field.step == config.steps  # the plane ends on the final model
    steps, _ = lab.curves.cross_entropy.getData()
    np.testing.assert_array_equal(steps, np.arange(0, config.steps + 1, SNAPSHOT_EVERY))
    assert not lab.run_controls.play.isEnabled()  # finished: Reset first
    assert "Trained to step 60" in lab.statusBar().currentMessage()


def test_pause_stops_progress_and_play_resumes(qtbot):
    window = open_lab(qtbot, replace(SMALL, model=replace(SMALL.model, steps=50_000)))
    qtbot.mouseClick(window.run_controls.play, LEFT)
    qtbot.waitUntil(lambda: window.controller.snapshot.step >= 3 * SNAPSHOT_EVERY, timeout=15000)
    qtbot.mouseClick(window.run_controls.play, LEFT)
    assert window.run_controls.play.text() == "Play"
    wait_idle(qtbot, window)
    paused_at = window.controller.snapshot.step
    qtbot.wait(300)
    assert window.controller.snapshot.step == paused_at
    assert window.run_controls.progress.value() == paused_at
    assert window.regions_view.field.step == paused_at
    qtbot.mouseClick(window.run_controls.play, LEFT)
    qtbot.waitUntil(lambda: window.controller.snapshot.step > paused_at, timeout=15000)
    assert_closed_cleanly(window)


def test_step_advances_exactly_one_interval(qtbot, lab):
    assert lab.controller.snapshot.step == 0
    step_once(qtbot, lab)
    assert lab.controller.snapshot.step == SNAPSHOT_EVERY
    assert lab.run_controls.progress.value() == SNAPSHOT_EVERY
    assert lab.regions_view.field.step == SNAPSHOT_EVERY
    step_once(qtbot, lab)
    assert lab.controller.snapshot.step == 2 * SNAPSHOT_EVERY
    assert len(lab.curves.cross_entropy.getData()[0]) == 3


def test_reset_returns_to_the_untrained_model(qtbot, lab):
    step_once(qtbot, lab)
    step_once(qtbot, lab)
    qtbot.mouseClick(lab.run_controls.reset, LEFT)
    wait_idle(qtbot, lab)
    shown = lab.controller.snapshot
    assert shown.step == 0
    assert lab.run_controls.progress.value() == 0
    assert len(lab.curves.cross_entropy.getData()[0]) == 1
    first = next(train(lab.controller.dataset, SMALL.model.config()))
    for name, tensor in first.state.items():
        assert torch.equal(shown.state[name], tensor), name


def test_changing_a_setting_after_training_resets_and_says_so(qtbot, lab):
    step_once(qtbot, lab)
    lab.training_panel.activation.setCurrentText("relu")
    wait_idle(qtbot, lab)
    assert lab.controller.snapshot.step == 0
    assert lab.controller.run.config.activation == "relu"
    assert "training reset to step 0" in lab.statusBar().currentMessage()


def test_bad_hidden_sizes_show_a_message_and_do_not_start(qtbot, lab):
    type_into(qtbot, lab.training_panel.hidden, "8,x")
    assert "QLineEdit" in lab.training_panel.hidden.styleSheet()  # marked as wrong
    qtbot.mouseClick(lab.run_controls.play, LEFT)
    assert lab.banner.isVisible()
    assert "hidden sizes" in lab.banner.text() and "'x'" in lab.banner.text()
    assert not lab.controller.running
    assert lab.controller.run is None and lab.controller.snapshot is None
    assert lab.regions_view.field is None
    type_into(qtbot, lab.training_panel.hidden, "8,8")
    wait_idle(qtbot, lab)
    assert not lab.banner.isVisible()
    step_once(qtbot, lab)
    assert lab.controller.snapshot.step == SNAPSHOT_EVERY


def test_a_setting_being_typed_survives_other_changes(qtbot, lab):
    hidden = lab.training_panel.hidden
    hidden.setFocus()
    hidden.selectAll()
    qtbot.keyClicks(hidden, "16,1")  # not finished: the field keeps the focus
    lab.controller.select_class(1)  # a state change from elsewhere meanwhile
    assert lab.data_panel.class_buttons.button(1).isChecked()
    assert hidden.text() == "16,1"
    assert lab.controller.state.model.hidden == "8"
    # Closing finishes the edit after the worker has shut down: the fixture checks that this
    # starts no job (it did once, and Qt aborted on the thread's error).


def test_a_diverging_run_stops_with_a_message_and_keeps_finite_weights(qtbot, lab):
    panel = lab.training_panel
    panel.optimizer.setCurrentText("sgd")
    panel.activation.setCurrentText("relu")
    type_into(qtbot, panel.learning_rate, "10")
    type_into(qtbot, panel.jr_lambda, "1e6")
    wait_idle(qtbot, lab)
    qtbot.mouseClick(lab.run_controls.play, LEFT)
    qtbot.waitUntil(lambda: not lab.controller.running, timeout=15000)
    wait_idle(qtbot, lab)
    shown = lab.controller.snapshot
    assert shown.diverged
    assert lab.banner.isVisible() and "diverged" in lab.banner.text()
    assert all(torch.isfinite(t).all() for t in shown.state.values())
    assert not lab.run_controls.play.isEnabled()
    classes = lab.regions_view.field.regions.classes
    assert (classes >= 0).all()  # the kept model's picture, finite everywhere


def test_n_proj_is_enabled_only_for_the_random_estimator(qtbot, lab):
    panel = lab.training_panel
    assert not panel.n_proj.isEnabled()
    panel.estimator.setCurrentText("random")
    assert panel.n_proj.isEnabled()
    assert lab.controller.state.model.estimator == "random"


def test_the_plane_can_show_the_jacobian_norm(qtbot, lab):
    step_once(qtbot, lab)
    lab.display.setCurrentIndex(lab.display.findData(FROBENIUS))
    qtbot.waitUntil(lambda: lab.regions_view.field.display == FROBENIUS, timeout=5000)
    wait_idle(qtbot, lab)
    field = lab.regions_view.field
    assert lab.regions_view.heat.isVisible() and not lab.regions_view.regions.isVisible()
    model = load_state(SMALL.model.config(), lab.controller.snapshot.state, 2, 2)
    rows, cols = field.values.shape
    expected = jacobian_frobenius(model, sample_points(field.domain, cols, rows))
    np.testing.assert_allclose(field.values.ravel(), expected, rtol=1e-12)
    assert field.values.shape == (256, 256)


# ---- data ----------------------------------------------------------------------------------------


def empty_spot(window):
    """A data point of the plane far from every data point (the top-left of the frame)."""
    domain = window.controller.dataset.domain
    return domain.xmin + 0.05 * domain.width, domain.ymax - 0.05 * domain.height


def test_clicks_add_a_point_of_the_selected_class_and_shift_clicks_remove_it(qtbot, lab):
    step_once(qtbot, lab)
    before = lab.controller.dataset
    qtbot.mouseClick(lab.data_panel.class_buttons.button(1), LEFT)
    assert lab.controller.state.selected_class == 1
    plane = lab.regions_view
    x, y = empty_spot(lab)
    qtbot.mouseClick(plane.viewport(), LEFT, pos=widget_pos(plane, x, y))
    added = lab.controller.dataset
    assert added.n_points == before.n_points + 1
    pixel = plane.data_per_pixel()
    np.testing.assert_allclose(added.points[-1], [x, y], atol=2 * pixel)
    assert added.labels[-1] == 1 and not added.is_test[-1]
    assert len(plane.points.train.data) == int((~added.is_test).sum())
    assert "training reset to step 0" in lab.statusBar().currentMessage()
    wait_idle(qtbot, lab)
    assert lab.controller.snapshot.step == 0
    assert lab.controller.run.dataset is added  # trains on exactly the data shown

    qtbot.mouseClick(
        plane.viewport(), LEFT, Qt.KeyboardModifier.ShiftModifier, widget_pos(plane, x, y)
    )
    removed = lab.controller.dataset
    np.testing.assert_array_equal(removed.points, before.points)
    np.testing.assert_array_equal(removed.labels, before.labels)


def test_ctrl_click_adds_a_test_point_and_right_click_removes_it(qtbot, lab):
    before = lab.controller.dataset.n_points
    plane = lab.regions_view
    pos = widget_pos(plane, *empty_spot(lab))
    qtbot.mouseClick(plane.viewport(), LEFT, Qt.KeyboardModifier.ControlModifier, pos)
    assert lab.controller.dataset.is_test[-1]
    assert len(plane.points.test.data) == int(lab.controller.dataset.is_test.sum())
    qtbot.mouseClick(plane.viewport(), Qt.MouseButton.RightButton, pos=pos)
    assert lab.controller.dataset.n_points == before


def test_new_data_draws_the_next_seed_and_settings_regenerate(qtbot, lab):
    qtbot.mouseClick(lab.data_panel.new_data, LEFT)
    assert lab.data_panel.seed.value() == 1
    assert lab.controller.dataset.name == "moons"
    lab.data_panel.kind.setCurrentIndex(lab.data_panel.kind.findData("blobs"))
    assert lab.data_panel.classes.isEnabled()
    lab.data_panel.classes.setValue(4)
    wait_idle(qtbot, lab)
    assert lab.controller.dataset.n_classes == 4
    assert len(lab.data_panel.class_buttons.buttons()) == 4
    assert lab.controller.snapshot.state["2.weight"].shape[0] == 4  # 4 outputs


def test_refused_data_settings_say_why_and_the_panel_shows_the_data_kept(qtbot, lab):
    shown = lab.controller.dataset
    lab.data_panel.kind.setCurrentIndex(lab.data_panel.kind.findData("blobs"))
    lab.data_panel.classes.setValue(8)
    lab.data_panel.points.setValue(10)  # blobs of 8 classes need at least 16 points
    assert lab.banner.isVisible() and "Data not changed" in lab.banner.text()
    assert lab.data_panel.points.value() == lab.controller.state.data.n_points
    assert lab.controller.dataset.n_points != 10
    assert shown is not lab.controller.dataset  # the blobs were made, the 10 points refused


def test_csv_save_load_and_a_bad_file_keeps_the_data(qtbot, lab, tmp_path, monkeypatch):
    path = tmp_path / "points.csv"
    answer_dialogs(monkeypatch, path)
    qtbot.mouseClick(lab.data_panel.save_csv, LEFT)
    np.testing.assert_array_equal(load_csv(path).points, lab.controller.dataset.points)

    shown = lab.controller.dataset
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y,label\n1,2,a\n3,oops,b\n")
    answer_dialogs(monkeypatch, bad)
    qtbot.mouseClick(lab.data_panel.load_csv, LEFT)
    assert lab.controller.dataset is shown
    assert lab.banner.isVisible() and "CSV not loaded" in lab.banner.text()
    assert "line 3" in lab.banner.text()

    answer_dialogs(monkeypatch, path)
    qtbot.mouseClick(lab.data_panel.load_csv, LEFT)
    assert not lab.banner.isVisible()
    assert lab.controller.dataset.name == "points"
    np.testing.assert_array_equal(lab.controller.dataset.points, shown.points)
    np.testing.assert_array_equal(lab.controller.dataset.is_test, shown.is_test)


# ---- saving and the map view ---------------------------------------------------------------------


def test_saving_to_an_unwritable_path_shows_an_error_and_the_lab_goes_on(
    qtbot, lab, tmp_path, monkeypatch
):
    answer_dialogs(monkeypatch, tmp_path / "missing" / "model.safetensors")
    qtbot.mouseClick(lab.summary.save_model, LEFT)
    assert lab.banner.isVisible() and "Model not saved" in lab.banner.text()
    step_once(qtbot, lab)
    assert lab.controller.snapshot.step == SNAPSHOT_EVERY
    answer_dialogs(monkeypatch, tmp_path / "model.safetensors")
    qtbot.mouseClick(lab.summary.save_model, LEFT)
    assert not lab.banner.isVisible()
    assert (tmp_path / "model.safetensors").is_file()


def test_a_saved_model_loads_back_with_the_same_logits(qtbot, lab, tmp_path, monkeypatch):
    step_once(qtbot, lab)
    path = tmp_path / "model.safetensors"
    answer_dialogs(monkeypatch, path)
    qtbot.mouseClick(lab.summary.save_model, LEFT)
    network = load_network(path)
    shown = lab.controller.snapshot
    config = SMALL.model.config()
    model = load_state(config, shown.state, 2, 2)
    points = torch.tensor(sample_points(lab.controller.dataset.domain, 16), dtype=torch.float32)
    torch.testing.assert_close(network.module(points), model(points), rtol=0, atol=0)
    metadata = network.metadata
    assert metadata["class_names"] == ["0", "1"]
    assert metadata["dataset"] == "moons"
    assert metadata["training"] == config.to_dict()
    assert metadata["step"] == SNAPSHOT_EVERY
    assert metadata["test_accuracy"] == shown.test_accuracy
    domain = lab.controller.dataset.domain
    assert metadata["domain"] == [domain.xmin, domain.xmax, domain.ymin, domain.ymax]
    read = read_classifier_metadata(metadata)
    assert read.dataset_name == "moons" and read.recipe is None
    assert read.training == config and read.step == SNAPSHOT_EVERY and read.domain == domain
    assert read.class_names == ("0", "1") and read.test_accuracy == shown.test_accuracy


@pytest.mark.parametrize("name", ["moons_plain", "spirals_jr"])
def test_the_metadata_reader_takes_the_shipped_classifiers_recipes(name):
    # The examples store a recipe for their data; the reader gives its name and the recipe.
    network = load_network(EXAMPLES_DIR / f"{name}.safetensors", isolated=False)
    read = read_classifier_metadata(network.metadata)
    assert read.dataset_name == name.split("_")[0]
    assert read.recipe == network.metadata["dataset"]
    assert read.training == TrainConfig.from_dict(network.metadata["training"])
    assert read.test_accuracy == network.metadata["test_accuracy"]
    assert read.step is None and read.domain is not None


def test_open_in_map_view_saves_once_and_hands_over_the_path(qtbot, tmp_path, monkeypatch):
    opened = []
    window = open_lab(qtbot, open_network=opened.append)
    path = tmp_path / "lab.safetensors"
    asked = answer_dialogs(monkeypatch, path)
    qtbot.mouseClick(window.summary.open_in_map_view, LEFT)
    assert opened == [str(path)] and len(asked) == 1
    assert load_network(path).output_dim == 2
    qtbot.mouseClick(window.summary.open_in_map_view, LEFT)  # unchanged: no second dialog
    assert opened == [str(path)] * 2 and len(asked) == 1
    step_once(qtbot, window)
    qtbot.mouseClick(window.summary.open_in_map_view, LEFT)  # trained on: save again
    assert len(asked) == 2
    assert_closed_cleanly(window)


def test_without_a_map_view_there_is_no_button_for_it(lab):
    assert not lab.summary.open_in_map_view.isVisibleTo(lab)


# ---- closing -------------------------------------------------------------------------------------


def test_closing_while_training_stops_and_waits_for_the_thread(qtbot):
    window = open_lab(qtbot, LabState(data=SMALL.data, model=ModelSettings(steps=100_000)))
    qtbot.mouseClick(window.run_controls.play, LEFT)
    qtbot.waitUntil(lambda: window.controller.snapshot.step > 0, timeout=15000)
    assert window.controller.worker.busy
    window.close()
    assert window.controller.worker.wait(0), "the training thread outlived the window"
    assert not window.controller.running
    qtbot.wait(50)  # snapshots sent before it stopped are still delivered
    stopped_at = window.controller.snapshot.step
    qtbot.wait(200)
    assert window.controller.snapshot.step == stopped_at
    assert_closed_cleanly(window)


def test_a_closed_lab_shown_again_keeps_its_model_and_trains_on(qtbot, lab):
    step_once(qtbot, lab)
    lab.close()
    assert lab.controller.worker.wait(0)
    lab.show()
    qtbot.waitExposed(lab)
    wait_idle(qtbot, lab)
    assert lab.controller.snapshot.step == SNAPSHOT_EVERY
    step_once(qtbot, lab)
    assert lab.controller.snapshot.step == 2 * SNAPSHOT_EVERY


def alone_config(config, column):
    return config.replace(jr_lambda=0.0) if column == 0 else config


def test_the_compare_tab_compares_the_train_tabs_settings_with_lambda_zero(qtbot, lab):
    assert lab.tabs.count() == 4 and lab.tabs.tabBar().isVisible()
    assert not lab.start_compare()  # λ = 0 in the Train tab: nothing to compare
    assert "Set λ > 0" in lab.statusBar().currentMessage()
    assert lab.tabs.currentIndex() == 0
    lab.controller.set_model_settings(replace(SMALL.model, jr_lambda=0.1))
    with qtbot.waitSignal(lab.compare_controller.sigFinished, timeout=60000) as finished:
        qtbot.mouseClick(lab.compare_button, LEFT)
    assert finished.args == [True]
    assert lab.tabs.currentWidget() is lab.compare_page
    config, data = lab.controller.config, lab.controller.dataset
    expected = run(data, config.replace(jr_lambda=0.0)), run(data, config)
    comparison = lab.compare_controller.comparison
    for column, (result, alone) in enumerate(zip(comparison.models, expected, strict=True)):
        assert result.config == alone_config(config, column)
        # The same training as alone. Not asserted bit for bit: the lab's own training may
        # run at the same time on another thread, and float32 sums may then be ordered
        # differently (a test point on the boundary once flipped: 0.9 vs 0.867).
        for name, tensor in alone.state.items():
            torch.testing.assert_close(result.snapshot.state[name], tensor, rtol=1e-4, atol=1e-5)
        # The table shows the compared models' own numbers.
        assert lab.compare.table_value("accuracy", column) == result.snapshot.test_accuracy


def test_closing_the_lab_while_comparing_stops_the_comparison(qtbot):
    window = open_lab(
        qtbot, replace(SMALL, model=replace(SMALL.model, steps=200_000, jr_lambda=0.1))
    )
    assert window.start_compare()
    qtbot.waitUntil(lambda: window.compare_controller.busy, timeout=5000)
    assert_closed_cleanly(window)
    assert not window.compare_controller.busy and window.compare_controller.wait(0)


def test_a_training_animation_replays_the_run_from_step_zero(qtbot, lab, tmp_path, monkeypatch):
    from PIL import Image

    from jacviz.gui.lab.training_movie import training_frames

    target = tmp_path / "run.gif"
    answer_dialogs(monkeypatch, target)
    assert lab.export_training_animation(frames=4) == target
    config, data = lab.controller.config, lab.controller.dataset
    with Image.open(target) as gif:
        assert gif.n_frames == 4  # steps 0, 20, 40, 60 of a 60-step run
        gif.seek(0)
        first = gif.convert("RGB")
        gif.seek(3)
        last = gif.convert("RGB")
    assert first.tobytes() != last.tobytes()  # the regions changed while training
    # The last frame shows the model of the finished run: the same weights as run() gives.
    frames = list(training_frames(data, config, "regions", data.domain, 4))
    assert len(frames) == 4 and frames[0].width() > 0
    assert "Saved the training animation" in lab.statusBar().currentMessage()


def test_cancelling_a_training_animation_writes_nothing(qtbot, lab, tmp_path, monkeypatch):
    from PyQt6.QtWidgets import QProgressDialog

    answer_dialogs(monkeypatch, tmp_path / "run.gif")
    monkeypatch.setattr(QProgressDialog, "wasCanceled", lambda self: True)
    assert lab.export_training_animation(frames=4) is None
    assert list(tmp_path.iterdir()) == []


def test_every_lab_view_exports_as_png_and_svg(qtbot, lab, tmp_path):
    import xml.etree.ElementTree as ET

    from PyQt6.QtGui import QImage

    from jacviz.gui.common.export import export_figure
    from jacviz.gui.lab.lab_window import LAB_VIEWS

    step_once(qtbot, lab)
    lab.controller.set_model_settings(replace(SMALL.model, jr_lambda=0.1))
    with qtbot.waitSignal(lab.compare_controller.sigFinished, timeout=60000):
        assert lab.start_compare()  # before it, the comparison's tab says what to do
    for view in LAB_VIEWS:
        figure = lab.figure(view)
        png = export_figure(figure, tmp_path / f"{view}.png", scale=2)
        image = QImage(str(png))
        assert (image.width(), image.height()) == (
            2 * figure.body.width(),
            2 * figure.body.height(),
        )
        colours = {
            image.pixel(x, y)
            for x in range(0, image.width(), 7)
            for y in range(0, image.height(), 7)
        }
        assert len(colours) > 20, view  # not blank
        svg = ET.parse(export_figure(figure, tmp_path / f"{view}.svg"))
        paths = [e for e in svg.iter() if e.tag.endswith("path")]
        assert len(paths) > 5, view
        if view == "comparison":  # the comparison's tab came forward
            assert lab.tabs.currentWidget() is lab.compare_page
    with pytest.raises(Exception, match="no view"):
        lab.figure("nothing")


# ---- pieces --------------------------------------------------------------------------------------


def test_parse_hidden_reads_widths_and_refuses_the_rest():
    assert parse_hidden("32,32") == (32, 32)
    assert parse_hidden(" 16 8 ") == (16, 8)
    for text in ("", "32,x", "-4", "3.5"):
        with pytest.raises(TrainingError, match="hidden sizes"):
            parse_hidden(text)


def test_class_colours_can_be_shaded_for_k_classes_and_paler():
    regions = DecisionRegions.from_logits(np.array([[[3.0, 0.0]]]))  # class 0, confident
    k2 = class_colours(regions)
    k5 = class_colours(regions, n_classes=5)
    assert (k5[..., :3] <= k2[..., :3]).all() and (k5[..., :3] < k2[..., :3]).any()
    pale = class_colours(regions, intensity=0.5)
    assert (pale[..., :3] >= k2[..., :3]).all() and not math.isnan(pale.sum())


def test_sessions_name_the_lab_s_own_displays():
    # Sessions are read in the core, which cannot import the lab's fields module.
    from jacviz.nets.fields import DISPLAYS
    from jacviz.state.lab import LAB_DISPLAYS

    assert tuple(DISPLAYS) == LAB_DISPLAYS


def test_a_training_animation_of_a_view_beyond_drawing_is_refused_in_the_status_bar(qtbot, lab):
    lab.regions_view.getViewBox().setRange(xRange=(0, 1e12), yRange=(0, 1e12), padding=0)
    assert lab.export_training_animation() is None  # no file dialog: said at once
    assert "Frame the data again first" in lab.statusBar().currentMessage()


def test_the_metadata_reader_takes_files_without_or_with_odd_metadata():
    empty = read_classifier_metadata({})
    assert empty.description == "" and empty.dataset_name is None and empty.training is None
    assert math.isnan(empty.test_accuracy) and empty.domain is None and empty.step is None
    odd = read_classifier_metadata(
        {
            "class_names": ["a", 1],
            "dataset": {"noise": 0.1},
            "training": {"steps": -1},
            "test_accuracy": None,
            "domain": [1, 0, 0, 1],
            "step": True,
        }
    )
    assert odd.class_names is None and odd.dataset_name is None and odd.recipe is None
    assert odd.training is None and odd.domain is None and odd.step is None
    assert math.isnan(odd.test_accuracy)


def test_the_lab_never_resizes_itself_and_its_plots_reflow_at_740_px(qtbot, lab):
    lab.resize(1300, 740)
    lab.tabs.setCurrentWidget(lab.compare_page)
    qtbot.waitUntil(lambda: lab.size().height() == 740)
    size = lab.size()
    lab.controller.set_model_settings(replace(SMALL.model, jr_lambda=0.1))
    with qtbot.waitSignal(lab.compare_controller.sigFinished, timeout=60000):
        assert lab.start_compare()
    lab.compare_controller.pick(0.5, 0.25)  # the first ε-ball
    qtbot.waitUntil(lambda: lab.compare_controller.state.ball is not None, timeout=20000)
    QApplication.processEvents()
    qtbot.wait(50)
    assert lab.size() == size
    # Every plot keeps its axes and its legend inside its own widget.
    robustness = lab.compare.robustness
    widget = robustness.plot.getViewWidget()
    bounds = widget.sceneRect()
    for item in (robustness.plot.getAxis("bottom"), robustness.legend):
        rect = item.sceneBoundingRect()
        assert rect.height() > 0 and bounds.contains(rect), (item, rect, bounds)
    assert robustness.plot.getViewBox().height() >= 100
    assert widget.height() >= widget.minimumHeight()


# ---- the first hour: what a new user meets ---------------------------------------------------


def lab_action(window, text):
    return next(a for a in window.findChildren(QAction) if a.text() == text)


def test_the_training_animation_menu_films_every_frame(qtbot, lab, monkeypatch):
    import jacviz.gui.lab.lab_files as lab_files

    asked = []
    monkeypatch.setattr(
        lab_files, "export_animation", lambda parent, frames, count, name: asked.append(count)
    )
    lab_action(lab, "Export training animation…").trigger()
    assert asked == [lab_files.MOVIE_FRAMES]  # not Qt's checked=False, i.e. 0 frames


def test_the_lab_starts_where_compare_works_and_says_what_to_do(qtbot):
    window = LabWindow()
    qtbot.addWidget(window)
    assert window.controller.state.model.jr_lambda > 0
    assert TrainConfig().jr_lambda == 0  # the CLI's default is left alone
    assert window.compare_button.isEnabled()
    # Before any comparison: a note on what to do, no empty plots with made-up axes.
    assert "Press Compare" in window.compare.empty_state.text()
    window.show()
    window.tabs.setCurrentWidget(window.compare_page)
    assert window.compare.empty_state.isVisible()
    assert not window.compare.robustness.isVisible()
    assert not window.compare.planes[0].isVisible()
    window.controller.set_model_settings(replace(window.controller.state.model, jr_lambda=0.0))
    assert not window.compare_button.isEnabled()
    assert "Set λ > 0" in window.compare_note.text()
    assert_closed_cleanly(window)


def test_the_classes_box_shows_the_data_s_own_count(qtbot, lab):
    panel = lab.data_panel
    assert lab.controller.dataset.n_classes == 2
    assert panel.classes.value() == 2 and not panel.classes.isEnabled()
    lab.controller.set_data_settings(replace(SMALL.data, name="spirals3"))
    assert panel.classes.value() == 3
    lab.controller.set_data_settings(replace(SMALL.data, name="blobs", n_classes=4))
    assert panel.classes.value() == 4 and panel.classes.isEnabled()
    panel.kind.setCurrentIndex(panel.kind.findData("moons"))  # as the user picks it
    assert lab.controller.state.data.n_classes == 4  # the blobs' count is kept for them
    assert panel.classes.value() == 2
    panel.kind.setCurrentIndex(panel.kind.findData("blobs"))
    assert panel.classes.value() == 4 and lab.controller.dataset.n_classes == 4


def test_the_mean_jacobian_norm_axis_never_goes_below_zero(qtbot, lab):
    def low_and_high():
        QApplication.processEvents()
        (_, _), (low, high) = lab.curves.frobenius_plot.viewRange()
        return low, high

    low, high = low_and_high()  # step 0: one value, which pyqtgraph pads by ±0.5
    assert 0.0 <= low < high
    qtbot.mouseClick(lab.run_controls.play, LEFT)
    qtbot.waitUntil(lambda: lab.controller.snapshot.done, timeout=15000)
    wait_idle(qtbot, lab)
    low, high = low_and_high()
    assert 0.0 <= low < high


def test_ctrl_s_saves_the_session_and_save_model_has_its_own_shortcut(qtbot):
    saved = []
    window = LabWindow(state=SMALL, save_session=lambda: saved.append(True))
    qtbot.addWidget(window)
    by_key = {a.shortcut().toString(): a for a in window.findChildren(QAction) if a.shortcut()}
    assert by_key["Ctrl+S"].text() == "Save session"
    assert by_key["Ctrl+Shift+M"].text() == "Save model…"
    by_key["Ctrl+S"].trigger()
    assert saved == [True]
    assert_closed_cleanly(window)


def test_a_lab_without_a_main_window_has_no_ctrl_s(lab):
    keys = {a.shortcut().toString() for a in lab.findChildren(QAction)}
    assert "Ctrl+S" not in keys and "Ctrl+Shift+M" in keys


def test_a_restored_lab_shows_its_step_at_once_and_play_waits_for_the_model(qtbot):
    lab = open_lab(qtbot)
    step_once(qtbot, lab)
    step_once(qtbot, lab)
    session = lab.controller.lab_session()
    assert session.step == 2 * SNAPSHOT_EVERY
    assert_closed_cleanly(lab)
    other = open_lab(qtbot)
    other.controller.restore(session)
    # At once, before the model is measured: its step, busy, and nothing to press yet.
    controls = other.run_controls
    assert controls.progress.value() == session.step
    assert "loading" in controls.progress.format()
    assert not controls.play.isEnabled() and not controls.step.isEnabled()
    wait_idle(qtbot, other)
    assert other.controller.snapshot.step == session.step
    assert controls.progress.value() == session.step
    assert controls.play.isEnabled() and controls.step.isEnabled()
    assert "loading" not in controls.progress.format()
    assert_closed_cleanly(other)


def test_a_status_message_goes_with_the_state_that_produced_it(qtbot, lab):
    assert not lab.start_compare()  # λ = 0
    assert "Set λ > 0" in lab.statusBar().currentMessage()
    lab.tabs.setCurrentWidget(lab.compare_page)
    assert lab.statusBar().currentMessage() == ""
    lab.tabs.setCurrentIndex(0)
    assert not lab.start_compare()
    assert "Set λ > 0" in lab.statusBar().currentMessage()
    lab.controller.set_model_settings(replace(SMALL.model, jr_lambda=0.1))  # fixed
    assert "Set λ > 0" not in lab.statusBar().currentMessage()
