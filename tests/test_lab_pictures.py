"""The lab's two workers: training never waits for a picture, pictures take the newest weights.

A picture function that blocks until the test releases it stands in for a slow picture (no
clock: the test counts steps and pictures). Also the picture's own numbers: the float32
regions against the float64 reference, and the colour table against per-pixel colours.
"""

import threading

import numpy as np
import pytest
import torch

from jacviz.gui.common.plots import class_colours
from jacviz.gui.lab import worker as worker_module
from jacviz.gui.lab.lab_controller import SNAPSHOT_EVERY, LabController
from jacviz.gui.lab.regions_view import REGION_INTENSITY, region_colours
from jacviz.gui.lab.worker import TrainingRun, TrainingWorker
from jacviz.math.grid import Domain
from jacviz.math.maps import TorchMap
from jacviz.nets.datasets import make_dataset
from jacviz.nets.fields import REGIONS, FieldImage, compute_field, regions_from_weights
from jacviz.nets.training import TrainConfig, TrainingError, load_state, run
from jacviz.nets.views import DecisionRegions, decision_regions
from jacviz.state.lab import DataSettings, LabState, ModelSettings

pytestmark = pytest.mark.timeout(120)

DATA = make_dataset("moons", n_points=100, noise=0.1, seed=0)
CONFIG = TrainConfig(hidden=(8,), steps=200, batch_size=32)


class BlockedField:
    """A picture function that waits for :meth:`release`, counting the pictures asked of it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.steps: list[int] = []
        self.domains: list[Domain] = []

    def __call__(self, config, state, n_classes, domain, display, step) -> FieldImage:
        self.steps.append(step)
        self.domains.append(domain)
        self.entered.set()
        self.gate.wait(60)  # the timeout only guards against a hang of the test itself
        return compute_field(config, state, n_classes, domain, display, step)

    def release(self) -> None:
        self.gate.set()


@pytest.fixture
def blocked():
    field = BlockedField()
    yield field
    field.release()  # whatever happened, no thread stays blocked


def new_run(display: str = REGIONS) -> TrainingRun:
    return TrainingRun(DATA, CONFIG, DATA.domain, display, SNAPSHOT_EVERY)


def test_training_runs_to_the_end_while_a_picture_is_pending(qtbot, blocked):
    config = CONFIG.replace(steps=2000)
    worker = TrainingWorker(field=blocked)
    shown = []
    worker.sigField.connect(lambda _run, picture: shown.append(picture.field.step))
    training = TrainingRun(DATA, config, DATA.domain, REGIONS, SNAPSHOT_EVERY)
    worker.submit(training, None)
    qtbot.waitUntil(blocked.entered.is_set, timeout=30000)
    # The first picture is stuck (asked for with the first snapshots, it took the newest);
    # every step of the run is taken meanwhile.
    qtbot.waitUntil(lambda: training.done and not worker.training(training), timeout=60000)
    assert training.latest.step == config.steps
    first = blocked.steps[0]
    assert first < config.steps // 2
    assert blocked.steps == [first]  # one picture started; the newer ones wait, merged
    assert shown == []
    blocked.release()
    qtbot.waitUntil(lambda: not worker.busy, timeout=30000)
    # The stuck picture, then one of the final model: nothing of the steps in between.
    assert shown == [first, config.steps]
    assert blocked.steps == [first, config.steps]
    expected = run(DATA, config, snapshot_every=SNAPSHOT_EVERY)
    for name, tensor in expected.state.items():
        assert torch.equal(training.latest.state[name], tensor), name
    worker.shutdown()


def test_requests_made_while_a_picture_runs_become_one(qtbot, blocked):
    worker = TrainingWorker(field=blocked)
    training = new_run()
    worker.submit(training, 1)
    qtbot.waitUntil(blocked.entered.is_set, timeout=30000)
    pictures = worker.pictures
    shown = []
    worker.sigField.connect(lambda _run, picture: shown.append(picture.field.domain))
    before = pictures.requests
    zooms = [Domain(-1 - k, 1 + k, -1, 1) for k in range(50)]
    for domain in zooms:  # the user zooms out while the first picture is being made
        training.domain = domain
        pictures.request(training)
    blocked.release()
    qtbot.waitUntil(lambda: not worker.busy, timeout=30000)
    assert pictures.requests - before == 50
    # The running one, then one for all 50 requests, of the last domain; the first is not
    # shown, being of a domain no longer on screen.
    assert blocked.domains == [DATA.domain, zooms[-1]]
    assert shown == [zooms[-1]]
    worker.shutdown()


def test_a_discarded_runs_waiting_picture_is_not_made(qtbot, blocked):
    worker = TrainingWorker(field=blocked)
    first = new_run()
    worker.submit(first, 1)
    qtbot.waitUntil(blocked.entered.is_set, timeout=30000)
    first.field_drawn = None
    worker.pictures.request(first)
    worker.discard(first)
    blocked.release()
    qtbot.waitUntil(lambda: not worker.busy, timeout=30000)
    assert len(blocked.steps) == 1
    worker.shutdown()


def test_pictures_come_in_step_order_and_end_on_the_last_model(qtbot):
    steps = []

    def recording(config, state, n_classes, domain, display, step):
        steps.append(step)
        return compute_field(config, state, n_classes, domain, display, step)

    state = LabState(
        data=DataSettings(n_points=100), model=ModelSettings(hidden="8", steps=400, batch_size=32)
    )
    controller = LabController(state, field=recording)
    shown = []
    controller.sigFieldChanged.connect(lambda field, _colours: shown.append(field.step))
    controller.refresh()
    qtbot.waitUntil(lambda: controller.snapshot is not None and not controller.worker.busy)
    controller.play()
    qtbot.waitUntil(lambda: not controller.running and not controller.worker.busy, timeout=60000)
    assert shown == sorted(shown) and len(set(shown)) == len(shown)
    assert shown[-1] == controller.snapshot.step == 400
    assert steps == sorted(steps)
    controller.shutdown()


def test_snapshots_reach_the_gui_in_batches(qtbot, monkeypatch):
    monkeypatch.setattr(worker_module, "UPDATE_INTERVAL", 1e9)  # only the first and the last
    worker = TrainingWorker()
    batches = []
    worker.sigSnapshots.connect(lambda _run, batch: batches.append([s.step for s in batch]))
    training = new_run()
    worker.submit(training, None)
    qtbot.waitUntil(lambda: not worker.busy, timeout=60000)
    assert batches == [[0], list(range(SNAPSHOT_EVERY, CONFIG.steps + 1, SNAPSHOT_EVERY))]
    worker.shutdown()


# ---- the picture's numbers -----------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu", "softplus"])
def test_float32_regions_match_the_float64_reference(activation):
    data = make_dataset("spirals3", n_points=300, noise=0.05, seed=0)
    config = TrainConfig(hidden=(16, 16), steps=100, activation=activation)
    state = run(data, config, snapshot_every=100).state
    fast = regions_from_weights(config, state, 3, data.domain, 64)
    model = load_state(config, state, 2, 3).double()
    reference = decision_regions(TorchMap(model, "reference", 2, 3), data.domain, 64)
    # float32 logits are within ~1e-5 of float64's here (|logits| < 100, a few sums of 16
    # terms); only pixels that close to a tie may change class.
    clear = reference.margin > 1e-4
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(fast.classes[clear], reference.classes[clear])
    np.testing.assert_allclose(fast.confidence, reference.confidence, atol=1e-5)
    np.testing.assert_allclose(fast.margin, reference.margin, atol=1e-4)


def test_non_finite_logits_leave_holes_and_misfit_weights_are_refused():
    config = TrainConfig(hidden=(4,), steps=1)
    state = run(DATA, config, snapshot_every=1).state
    huge = {name: tensor.clone() for name, tensor in state.items()}
    huge["2.weight"][0, 0] = torch.inf
    regions = regions_from_weights(config, huge, 2, DATA.domain, 8)
    assert (regions.classes == -1).any()
    assert np.isnan(regions.confidence[regions.classes == -1]).all()
    with pytest.raises(TrainingError, match="do not fit a 2-4-3 network"):
        regions_from_weights(config, state, 3, DATA.domain, 8)


def test_the_colour_table_is_within_one_level_of_per_pixel_colours():
    rng = np.random.default_rng(0)
    classes = rng.integers(-1, 5, size=(64, 64))
    confidence = np.where(classes >= 0, rng.uniform(0.2, 1.0, size=classes.shape), np.nan)
    regions = DecisionRegions(classes, confidence, np.zeros(classes.shape))
    field = FieldImage(REGIONS, 0, DATA.domain, 5, regions=regions)
    table = region_colours(field)
    exact = class_colours(regions, 5, REGION_INTENSITY)
    assert table.dtype == np.uint8 and table.shape == exact.shape
    assert np.abs(table.astype(int) - exact).max() <= 1
    np.testing.assert_array_equal(table[..., 3], exact[..., 3])  # holes stay transparent
