"""The lab's Sweep tab, alone: its checks, a tiny sweep on moons, cancel, close, open and save."""

import math
import os
import sys

import numpy as np
import pytest
import torch
from test_sweep import loky_workers, needs_proc, numbers, wait_for_no_workers

from jacviz.gui.lab.sweep_page import SweepPage
from jacviz.gui.lab.sweep_plots import lambda_axis, run_value, summarise
from jacviz.nets.data import load_digits
from jacviz.nets.datasets import make_dataset
from jacviz.nets.metadata import read_classifier_metadata
from jacviz.nets.networks import load_network
from jacviz.nets.sweep import MAX_WORKERS, SweepModel, SweepRun, run_sweep
from jacviz.nets.trained import default_epsilons, measure
from jacviz.nets.training import MAX_STEPS, TrainConfig

CONFIG = TrainConfig(hidden=(8,), steps=25, batch_size=32)
DATA = make_dataset("moons", n_points=60, seed=0)
WAIT_MS = 240_000  # a tiny sweep: worker processes start (torch import), 4 runs of 25 steps


def lab_data(_seed):
    return DATA


@pytest.fixture
def page(qtbot):
    wait_for_no_workers()
    page = SweepPage(DATA, CONFIG)
    qtbot.addWidget(page)
    page.resize(1366, 700)
    page.show()
    yield page
    assert page.shutdown(60_000)


def run(jr_lambda, seed, test, frobenius, pgd=0.5, measured_on="test"):
    return SweepRun(jr_lambda, seed, test, 0.9, frobenius, measured_on, {0.1: pgd}, 10, None, 0.1)


def test_lambda_zero_sits_one_decade_left_of_the_smallest_lambda_past_a_break():
    axis = lambda_axis([0.0, 0.001, 0.01, 0.1])
    assert axis.positions == pytest.approx({0.0: -4.0, 0.001: -3.0, 0.01: -2.0, 0.1: -1.0})
    assert axis.zero == -4.0 and axis.break_at == -3.5
    assert axis.ticks[0] == (-4.0, "0") and [t for _, t in axis.ticks[1:]] == [
        "0.001",
        "0.01",
        "0.1",
    ]
    assert axis.span == (-4.5, -0.5)
    # Between decades: the zero goes left of the decade below; no zero, no break.
    assert lambda_axis([0.0, 0.05]).zero == -3.0
    assert lambda_axis([0.05, 2.0]).zero is None and lambda_axis([0.05]).break_at is None
    assert lambda_axis([0.0]).positions == {0.0: 0.0} and lambda_axis([0.0]).break_at is None
    # Twelve decades: at most eight labelled.
    assert len(lambda_axis([1e-6, 1e5]).ticks) <= 8


def test_the_mean_and_spread_are_over_the_finite_values_of_each_lambda():
    runs = [run(0.0, 0, 0.8, 4.0), run(0.0, 1, 1.0, 2.0), run(0.1, 0, None, math.nan, 0.2)]
    stats = summarise(runs, "accuracy", 0.1)
    assert stats[0.0] == pytest.approx((0.9, 0.8, 1.0))
    assert stats[0.1] == (0.9, 0.9, 0.9)  # no test points: the train accuracy
    assert summarise(runs, "frobenius", 0.1) == {0.0: (3.0, 2.0, 4.0)}  # NaN left out
    assert summarise(runs, "pgd", 0.1)[0.1] == (0.2, 0.2, 0.2)
    assert math.isnan(run_value(runs[0], "pgd", 0.3)) and math.isnan(
        run_value(runs[0], "pgd", None)
    )


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("lambdas", "0, x", "λ: "),
        ("lambdas", "", "no numbers given"),
        ("lambdas", "0.1, 0.1", "each λ may be listed once"),
        ("lambdas", "-1", "each λ must be from 0 to"),
        ("seeds", "1.5", "Seeds: "),
        ("seeds", "0, 0", "each seed may be listed once"),
        ("seeds", ",".join(map(str, range(100))), "at most 256 runs"),
        ("steps", "0", "steps"),
        ("steps", "many", "Steps: "),
        ("hidden", "8,,8", "Hidden sizes: "),
        ("hidden", "0", "hidden widths"),
    ],
)
def test_bad_settings_are_one_line_under_their_field_and_start_nothing(page, field, text, message):
    getattr(page.form, field).setText(text)
    assert not page.start() and not page.controller.busy
    shown = [
        label.text()
        for label in (page.form.lambdas_problem, page.form.seeds_problem, page.form.model_problem)
        if label.isVisibleTo(page)
    ]
    assert len(shown) == 1 and message in shown[0] and "\n" not in shown[0]


def test_without_valid_train_settings_or_a_file_the_page_says_what_to_do(page):
    page.set_config(None)
    assert not page.start()
    assert "Fix the model settings in the Train tab" in page.form.model_problem.text()
    page.set_config(CONFIG)
    page.form.source.setCurrentIndex(page.form.source.findData("npz"))
    assert not page.start()
    assert page.form.data_problem.text() == "Choose an .npz file first."
    page.set_lab_data(make_dataset("circles", n_points=40))
    page.form.source.setCurrentIndex(page.form.source.findData("lab"))
    assert "circles" in page.form.data_note.text()


@needs_proc
@pytest.mark.timeout(300)
@pytest.mark.parametrize("workers", [1, 2])
def test_a_tiny_sweep_draws_every_run_and_opens_and_saves_the_chosen_one(
    page, qtbot, tmp_path, workers
):
    page.form.lambdas.setText("0, 0.1")
    page.form.seeds.setText("0, 1")
    page.form.workers.setValue(workers)
    assert "No sweep yet" in page.plots.caption.text
    with qtbot.waitSignal(page.controller.sigFinished, timeout=WAIT_MS) as finished:
        assert page.start()
        assert page.controller.busy and not page.start_button.isEnabled()
    assert finished.args[1] == "done"
    qtbot.waitUntil(lambda: loky_workers() == [], timeout=60_000)  # they exit on their own
    assert page.progress.value() == page.progress.maximum() == 4
    sweep = page.controller.runs
    reference = run_sweep(lab_data, CONFIG, [0.0, 0.1], [0, 1])
    ordered = sorted(sweep, key=lambda r: (r.jr_lambda, r.seed))
    assert [dict(r.to_json(), seconds=None) for r in ordered] == numbers(reference)
    for plot in page.plots.plots.values():
        assert len(plot.dots.points()) == 4 and not plot.empty.isVisible()
    assert [page.epsilon.itemData(i) for i in range(page.epsilon.count())] == [0.05, 0.1, 0.2, 0.3]

    # Clicking a dot chooses its run, rings it and offers it.
    dots = page.plots.plots["frobenius"].dots
    point = next(p for p in dots.points() if p.data() == (0.1, 1))
    dots.sigClicked.emit(dots, [point], None)
    assert page.open_button.isEnabled() and "λ = 0.1, seed 1" in page.chosen_label.text()
    assert len(page.plots.plots["accuracy"].ring.points()) == 1
    with qtbot.waitSignal(page.sigOpenModel) as opened:
        page.open_button.click()
    model = opened.args[0]
    assert isinstance(model, SweepModel) and (model.jr_lambda, model.seed, model.inputs) == (
        0.1,
        1,
        2,
    )
    assert model.data is DATA and model.config == CONFIG.replace(jr_lambda=0.1, seed=1)
    chosen = next(r for r in sweep if (r.jr_lambda, r.seed) == (0.1, 1))
    measured = measure(model.model, DATA, [0.1], 1)
    assert measured.mean_jacobian_frobenius == chosen.mean_jacobian_frobenius

    assert page.save_chosen(str(tmp_path / "chosen.safetensors"))
    saved = load_network(tmp_path / "chosen.safetensors")
    meta = read_classifier_metadata(saved.metadata)
    assert meta.training == model.config and meta.test_accuracy == chosen.test_accuracy
    points = torch.tensor(DATA.test_points, dtype=torch.float32)
    with torch.no_grad():
        np.testing.assert_allclose(saved.module(points), model.model(points), rtol=1e-6)
    assert not page.save_chosen(str(tmp_path / "missing" / "chosen.safetensors"))
    assert page.status.text().startswith("Model not saved to") and "\n" not in page.status.text()


def wait_for_workers(qtbot, page, count):
    qtbot.waitUntil(lambda: page.controller.plan is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(loky_workers()) == count, timeout=WAIT_MS)


@needs_proc
@pytest.mark.timeout(240)  # the runs would take many minutes: Cancel must not wait for them
def test_cancel_stops_the_running_runs_and_keeps_the_page_usable(page, qtbot):
    page.form.steps.setText(str(MAX_STEPS))
    page.form.lambdas.setText("0, 0.1")
    page.form.seeds.setText("0, 1")
    assert page.start()
    wait_for_workers(qtbot, page, 2)
    with qtbot.waitSignal(page.controller.sigFinished, timeout=WAIT_MS) as finished:
        page.cancel_button.click()
    assert finished.args[1] == "cancelled" and "Cancelled: 0 of 4 runs" in finished.args[0]
    assert page.controller.runs == [] and loky_workers() == []
    assert page.start_button.isEnabled() and not page.cancel_button.isEnabled()


@needs_proc
@pytest.mark.timeout(240)
def test_closing_the_page_mid_sweep_ends_it_without_a_hang(page, qtbot):
    page.form.steps.setText(str(MAX_STEPS))
    page.form.workers.setValue(1)
    assert page.start()
    wait_for_workers(qtbot, page, 1)
    page.close()
    assert not page.controller.busy and loky_workers() == []
    assert page.start()  # shown again, it works
    assert page.shutdown(60_000) and loky_workers() == []


@needs_proc
@pytest.mark.timeout(120)
def test_a_refused_file_is_one_line_under_the_data_choice(page, qtbot, tmp_path):
    bad = tmp_path / "points.npz"
    bad.write_bytes(b"not a zip archive")
    page.form.set_npz_path(str(bad))
    with qtbot.waitSignal(page.controller.sigFinished, timeout=WAIT_MS) as finished:
        assert page.start()
    assert finished.args[1] == "data"
    problem = page.form.data_problem.text()
    assert (
        "points.npz" in problem and "\n" not in problem and page.form.data_problem.isVisibleTo(page)
    )
    assert page.controller.runs == [] and loky_workers() == []


@needs_proc
@pytest.mark.timeout(300)
def test_a_digits_run_opens_as_a_model_of_raw_pixels(page, qtbot):
    pytest.importorskip("sklearn")
    page.form.source.setCurrentIndex(page.form.source.findData("digits"))
    page.form.lambdas.setText("0.01")
    page.form.seeds.setText("3")
    page.form.steps.setText("10")
    page.form.workers.setValue(1)
    with qtbot.waitSignal(page.controller.sigFinished, timeout=WAIT_MS) as finished:
        assert page.start()
    assert finished.args[1] == "done"
    radii = [page.epsilon.itemData(i) for i in range(page.epsilon.count())]
    assert radii == default_epsilons(load_digits(seed=3))  # the first seed's, as jacviz sweep
    page.choose_run(0.01, 3)
    model = page.chosen_model()
    assert (
        model.inputs == 64
        and model.data.name == "digits"
        and model.label == "digits, λ = 0.01, seed 3"
    )
    raw = torch.tensor(model.data.raw_test_points[:3], dtype=torch.float32)
    assert model.model(raw).shape == (3, 10)


def test_the_page_fits_a_laptop_screen(page):
    hint = page.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 700


@pytest.mark.timeout(120)
def test_without_scikit_learn_the_digits_are_one_line_under_the_data_choice(
    page, qtbot, monkeypatch
):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # its import now fails
    page.form.source.setCurrentIndex(page.form.source.findData("digits"))
    with qtbot.waitSignal(page.controller.sigFinished, timeout=WAIT_MS) as finished:
        assert page.start()
    assert finished.args[1] == "data"
    problem = page.form.data_problem.text()
    assert "scikit-learn" in problem and "\n" not in problem


def test_worker_processes_default_to_two_and_stop_at_the_cpu_count(page):
    assert page.form.workers.value() == min(2, os.cpu_count() or 1)
    assert page.form.workers.maximum() == min(os.cpu_count() or 1, MAX_WORKERS)
