"""The lab's Compare tab: what it shows equals what the core computes for the same runs."""

import math
import threading

import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt
from pytestqt.qtbot import QtBot

from jacviz.gui.lab.compare import TABLE_ROWS, UPPER_BOUND, CompareWidget, log_ticks
from jacviz.math.maps import TorchMap
from jacviz.nets.comparison import (
    ATTACK_SEED,
    attack_radii,
    comparison_steps,
    data_scale,
    estimator_spread,
)
from jacviz.nets.datasets import make_dataset
from jacviz.nets.robustness import (
    ATTACKS,
    NORMS,
    PGD_RESTARTS,
    PGD_STEPS,
    boundary_distance,
    flip_fraction,
    linearized_flip_fraction,
    robust_accuracy,
)
from jacviz.nets.training import TrainConfig, load_state, projection_estimates, run

CONFIG = TrainConfig(hidden=(16, 16), steps=300, jr_lambda=0.1)
# ReLU, plain SGD at a large step and a huge λ: the regularized run blows up in its first
# snapshot interval while the plain one trains.
DIVERGING = TrainConfig(
    hidden=(16, 16), steps=300, activation="relu", optimizer="sgd", learning_rate=1.0, jr_lambda=1e3
)


@pytest.fixture(scope="module")
def data():
    return make_dataset("moons", n_points=150)


@pytest.fixture(scope="module")
def direct(data):
    """The two runs trained directly by the core, and their models."""
    configs = (CONFIG.replace(jr_lambda=0.0), CONFIG)
    snapshots = [run(data, config) for config in configs]
    models = [
        load_state(config, snapshot.state, 2, data.n_classes)
        for config, snapshot in zip(configs, snapshots, strict=True)
    ]
    return snapshots, models


@pytest.fixture(scope="module")
def shown(qapp, data, request):
    """One widget with the comparison of CONFIG on screen, shared by the read-only tests."""
    widget = CompareWidget()
    widget.resize(1400, 900)
    widget.show()
    finished = []
    widget.controller.sigFinished.connect(finished.append)
    assert widget.controller.compare(data, CONFIG)
    # A guard against a hang, not a time limit: the comparison takes a few seconds.
    QtBot(request).waitUntil(lambda: not widget.controller.busy, timeout=300_000)
    qapp.processEvents()
    assert finished == [True]
    yield widget
    widget.close()
    assert widget.controller.wait(0), "the worker outlived the widget"
    widget.deleteLater()
    qapp.processEvents()


@pytest.fixture
def widget(qtbot):
    """A fresh widget; after the test no worker thread may be left running."""
    compare = CompareWidget()
    qtbot.addWidget(compare)
    yield compare
    assert compare.controller.shutdown(20000)
    assert compare.controller.wait(0)


def test_table_holds_the_core_results_of_both_runs(shown, direct):
    snapshots, _ = direct
    for model, snapshot in enumerate(snapshots):
        assert shown.table_value("accuracy", model) == snapshot.test_accuracy
        assert shown.table_value("frobenius", model) == snapshot.test_frobenius
        assert shown.table.item(0, model).text() == f"{100 * snapshot.test_accuracy:.1f} %"
    assert shown.table_value("frobenius", 1) < shown.table_value("frobenius", 0)
    assert shown.table.horizontalHeaderItem(1).text() == "λ = 0.1"


def test_table_distances_and_pgd_are_the_core_measures(shown, data, direct):
    comparison = shown.controller.comparison
    points, labels = np.array(data.test_points), np.array(data.test_labels)
    eps = comparison.table_epsilon
    assert eps == comparison.epsilons[len(comparison.epsilons) // 2]
    for model, network in enumerate(direct[1]):
        distances = boundary_distance(network, points, comparison.max_radius)
        expected = np.where(np.isfinite(distances), distances, comparison.max_radius).mean()
        assert shown.table_value("boundary", model) == pytest.approx(expected, rel=1e-12)
        for norm in NORMS:
            accuracy = robust_accuracy(
                network, points, labels, [eps], "pgd", norm, seed=ATTACK_SEED
            )
            assert shown.table_value(f"pgd_{norm}", model) == accuracy[eps]


def test_accuracies_under_attack_are_labelled_upper_bounds(shown):
    # An attack can miss errors, never invent them: the table's rows, their cells' tooltips,
    # the curves' axis, box and tooltip all say the accuracies are upper bounds.
    for row in ("pgd_2", "pgd_inf"):
        index = TABLE_ROWS.index(row)
        assert "upper bound" in shown.table.verticalHeaderItem(index).text()
        for model in (0, 1):
            tip = shown.table.item(index, model).toolTip()
            assert UPPER_BOUND in tip
            assert f"{PGD_STEPS} steps from each of {PGD_RESTARTS} starts" in tip
    assert "upper bound" in shown.curves_plot.getAxis("left").labelText
    box = shown.curves_plot.getViewWidget().parentWidget()
    assert "upper bounds" in box.title() and UPPER_BOUND in box.toolTip()
    assert "FGSM" in box.toolTip() and "PGD" in box.toolTip()


def test_robustness_curves_are_robust_accuracy(shown, data, direct):
    comparison = shown.controller.comparison
    points, labels = np.array(data.test_points), np.array(data.test_labels)
    assert comparison.epsilons == attack_radii(data_scale(data.points))
    assert comparison.epsilons[0] == 0.0
    assert 0.3 * comparison.scale <= comparison.epsilons[-1] <= 0.7 * comparison.scale
    for model, network in enumerate(direct[1]):
        for attack in ATTACKS:
            for norm in NORMS:
                expected = robust_accuracy(
                    network, points, labels, comparison.epsilons, attack, norm, seed=ATTACK_SEED
                )
                x, y = shown.curves[model, attack, norm].getData()
                np.testing.assert_array_equal(x, list(expected))
                np.testing.assert_array_equal(y, list(expected.values()))


def _widget_pos(plane, x, y):
    return plane.mapFromScene(plane.getViewBox().mapViewToScene(QPointF(x, y)))


def test_a_real_click_places_the_ball_and_shows_the_core_fractions(qtbot, shown, data, direct):
    plane = shown.region_planes[1]
    # The test point nearest to the plain model's boundary: the ball there crosses it.
    distances = boundary_distance(direct[1][0], np.array(data.test_points), 5.0)
    target = np.array(data.test_points)[np.argmin(distances)]
    pos = _widget_pos(plane, *target)
    qtbot.mouseClick(plane.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    # The ball is drawn at once; its reading is computed off the GUI thread.
    qtbot.waitUntil(lambda: shown.controller.state.ball is not None, timeout=20000)

    clicked = plane.getViewBox().mapSceneToView(plane.mapToScene(pos))
    centre = shown.controller.state.centre
    np.testing.assert_array_equal(centre, [clicked.x(), clicked.y()])
    (x0, x1), _ = plane.getViewBox().viewRange()
    assert np.all(np.abs(centre - target) <= 2 * (x1 - x0) / plane.getViewBox().width())

    reading = shown.controller.state.ball
    eps = shown.epsilon_spin.value()
    assert reading.eps == eps
    for model, network in enumerate(direct[1]):
        logits, jacobian = TorchMap(network, "net", 2, 2).evaluate_with_jacobian(centre[None])
        expected = (
            flip_fraction(network, centre, eps),
            linearized_flip_fraction(logits[0], jacobian[0], eps),
        )
        assert reading.flips[model] == expected
        assert f"{100 * expected[0]:.1f} %" in shown.ball_label.text()
    assert reading.flips[0][0] > 0  # the ball does reach across the boundary
    for each in shown.planes:  # the same ball in every plane
        x, y = each.ball.getData()
        np.testing.assert_allclose(np.hypot(x - centre[0], y - centre[1]), eps, rtol=1e-9)

    shown.epsilon_spin.setValue(eps / 2)
    qtbot.waitUntil(lambda: getattr(shown.controller.state.ball, "eps", None) == eps / 2)
    reading = shown.controller.state.ball
    np.testing.assert_array_equal(reading.centre, centre)
    assert reading.flips[0][0] == flip_fraction(direct[1][0], centre, eps / 2)


def test_estimator_view_shows_projection_estimates(qtbot, shown, data, direct):
    _, jacobians = TorchMap(direct[1][1], "net", 2, 2).evaluate_with_jacobian(data.test_points)
    for n_proj in (1, 4):
        shown.n_proj_spin.setValue(n_proj)
        # Computed off the GUI thread; the view shows it when it comes.
        qtbot.waitUntil(
            lambda n=n_proj: getattr(shown.controller.state.estimator, "n_proj", 0) == n,
            timeout=20000,
        )
        reading = shown.controller.state.estimator
        exact, estimates = projection_estimates(jacobians, n_proj, 200, seed=0)
        errors = (estimates / exact - 1).ravel()
        assert reading.n_proj == n_proj
        np.testing.assert_array_equal(reading.relative_errors, errors)
        assert reading.mean == errors.mean() and reading.std == errors.std()
        assert f"std {errors.std():.3f}" in shown.estimator_label.text()
        assert abs(reading.mean) < 4 * reading.std / math.sqrt(errors.size)  # unbiased
        assert reading.std == pytest.approx(reading.predicted_std, rel=0.1)
        _, counts = shown.histogram.getData()
        assert counts.sum() == errors.size
    shown.n_proj_spin.setValue(1)


def test_predicted_spread_of_the_estimator():
    # JᵀJ = I: every direction has the same stretch, so every estimate is exact.
    isotropic = estimator_spread(np.eye(2)[None].repeat(3, axis=0), 1, 50)
    assert isotropic.predicted_std == 0
    np.testing.assert_allclose(isotropic.relative_errors, 0, atol=1e-12)
    # Rank one: relative error cos 2θ, std 1/√(2 n_proj).
    rank_one = np.array([[[1.0, 2.0], [-1.0, -2.0]]])
    for n_proj in (1, 9):
        spread = estimator_spread(rank_one, n_proj, 20000)
        assert spread.predicted_std == pytest.approx(1 / math.sqrt(2 * n_proj))
        assert spread.std == pytest.approx(spread.predicted_std, rel=0.05)


def test_attack_radii_are_round_and_reach_half_the_scale():
    assert attack_radii(1.0) == (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
    assert attack_radii(4.0)[-1] == 2.0
    assert data_scale(np.array([[1.0, 1.0]])) == 1.0


def test_log_ticks_label_plain_values():
    assert [label for _, label in log_ticks(0.0, 1.0)] == ["1", "2", "5", "10"]
    assert [label for _, label in log_ticks(-1.2, 1.3)] == ["0.1", "0.3", "1", "3", "10"]
    assert log_ticks(-3.0, 1.5) == [
        (-3.0, "0.001"),
        (-2.0, "0.01"),
        (-1.0, "0.1"),
        (0.0, "1"),
        (1.0, "10"),
    ]
    assert log_ticks(0.0, 1.0)[1][0] == pytest.approx(math.log10(2))


def test_stop_mid_run_leaves_no_thread(qtbot, widget, data):
    controller = widget.controller
    statuses = []
    controller.sigStatus.connect(statuses.append)
    long_run = CONFIG.replace(steps=200_000)
    # The worker's first progress report: training has begun on its thread.
    with qtbot.waitSignal(
        controller.sigStatus, timeout=20000, check_params_cb=lambda m: m.startswith("Training")
    ):
        assert controller.compare(data, long_run)
    assert controller.busy and widget.stop_button.isEnabled()
    with qtbot.waitSignal(controller.sigFinished, timeout=20000) as finished:
        qtbot.mouseClick(widget.stop_button, Qt.MouseButton.LeftButton)
    assert finished.args == [False]
    assert controller.wait(5000) and not controller.busy
    assert controller.comparison is None
    assert statuses[-1] == "Stopped."
    assert not widget.progress.isVisible()


def test_a_diverging_run_is_compared_by_its_last_good_model(qtbot, widget, data):
    with qtbot.waitSignal(widget.controller.sigFinished, timeout=60000) as finished:
        widget.controller.compare(data, DIVERGING)
    assert finished.args == [True]
    regularized = widget.controller.comparison.regularized
    assert regularized.diverged and "diverged" in regularized.diverged
    assert widget.divergence_label.isVisibleTo(widget)
    assert regularized.diverged in widget.divergence_label.text()
    assert widget.table.horizontalHeaderItem(1).text().endswith("†")
    assert "diverged" in widget.status_label.text()
    # The last good weights are measured: the table holds their numbers.
    network = load_state(DIVERGING, regularized.snapshot.state, 2, 2)
    points, labels = np.array(data.test_points), np.array(data.test_labels)
    predicted = TorchMap(network, "net", 2, 2).evaluate(points).argmax(axis=1)
    assert widget.table_value("accuracy", 1) == (predicted == labels).mean()
    plain = run(data, DIVERGING.replace(jr_lambda=0.0))
    assert plain.diverged is None
    assert widget.table_value("accuracy", 0) == plain.test_accuracy


def test_lambda_zero_is_refused_with_a_message(qtbot, widget, data):
    with qtbot.waitSignal(widget.controller.sigFinished, timeout=1000) as finished:
        assert not widget.controller.compare(data, CONFIG.replace(jr_lambda=0.0))
    assert finished.args == [False]
    assert "λ > 0" in widget.status_label.text()
    assert not widget.controller.busy
    with pytest.raises(ValueError, match="λ > 0"):
        next(comparison_steps(data, CONFIG.replace(jr_lambda=0.0)))


def test_closing_waits_for_the_worker(qtbot, widget, data):
    widget.show()
    widget.controller.compare(data, CONFIG.replace(steps=200_000))
    widget.close()
    assert widget.controller.wait(0)
    assert not widget.controller.busy


def test_a_new_comparison_supersedes_the_running_one(qtbot, widget, data):
    finished = []
    widget.controller.sigFinished.connect(finished.append)
    widget.controller.compare(data, CONFIG.replace(steps=200_000))
    newer = CONFIG.replace(jr_lambda=0.2)
    with qtbot.waitSignal(widget.controller.sigFinished, timeout=60000):
        widget.controller.compare(data, newer)
    qtbot.wait(50)  # anything the first run still delivered has been processed
    assert finished == [True]
    assert widget.controller.comparison.regularized.config == newer
    assert widget.table.horizontalHeaderItem(1).text() == "λ = 0.2"


def test_the_ball_is_measured_off_the_gui_thread_and_only_the_newest(qtbot, shown, monkeypatch):
    import jacviz.gui.lab.compare_controller as controller_module

    threads, original = [], controller_module.read_ball

    def recording(*args):
        threads.append(threading.current_thread())
        return original(*args)

    monkeypatch.setattr(controller_module, "read_ball", recording)
    controller = shown.controller
    readings = []
    controller.sigBallRead.connect(readings.append)
    controller.pick(0.1, 0.2)
    controller.pick(-0.3, 0.4)  # before the first reading can arrive: it is superseded
    qtbot.waitUntil(lambda: controller.state.ball is not None, timeout=20000)
    qtbot.wait(50)
    assert threads and threading.main_thread() not in threads
    assert [r.centre.tolist() for r in readings] == [[-0.3, 0.4]]
    assert "(-0.3, 0.4)" in shown.ball_label.text()
    controller.sigBallRead.disconnect(readings.append)
