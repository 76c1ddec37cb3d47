"""The plane through three inputs: its geometry, and a classifier's fields and Jacobians on it."""

import copy
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from jacviz.math.grid import Domain, sample_points
from jacviz.nets import input_plane
from jacviz.nets.comparison import Progress
from jacviz.nets.data import VectorDataset
from jacviz.nets.input_plane import (
    InputPlane,
    PlaneError,
    anchor_indices,
    jacobians,
    plane_fields,
    read_point,
)
from jacviz.nets.plane_training import paired_configs, training_steps
from jacviz.nets.trained import raw_model
from jacviz.nets.training import TrainConfig, run, train

pytestmark = pytest.mark.timeout(120)


def mlp(widths, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers).to(dtype).eval().requires_grad_(False)


def reference_jacobians(model, inputs):
    """Per point, torch.func.jacrev of the float64 copy: the reference."""
    exact = copy.deepcopy(model).double()
    x = torch.as_tensor(inputs, dtype=torch.float64)
    return np.stack([torch.func.jacrev(exact)(row).numpy() for row in x])


@pytest.fixture
def digit_like():
    rng = np.random.default_rng(3)
    return mlp([64, 32, 32, 10]), rng.uniform(0, 16, size=(37, 64))


def test_jacobians_match_jacrev_in_float64_to_rounding(digit_like):
    model, x = digit_like
    model64 = copy.deepcopy(model).double()
    values, jac = jacobians(model64, x)
    # Same arithmetic in float64, batched: agreement to a few ulps of the entries' size.
    ref = reference_jacobians(model64, x)
    assert jac.shape == (37, 10, 64)
    assert np.max(np.abs(jac - ref)) <= 1e-13 * np.max(np.abs(ref))
    logits = model64(torch.as_tensor(x)).numpy()
    assert np.max(np.abs(values - logits)) <= 1e-13 * np.max(np.abs(logits))


def test_float32_jacobians_agree_with_float64_to_single_precision(digit_like):
    model, x = digit_like
    _, jac = jacobians(model, x)
    ref = reference_jacobians(model, x)
    # float32 (eps 1.2e-7) through 3 layers of width ≤ 64: sums of ≤ 64 terms per layer,
    # errors ≲ 64·3·eps relative to the largest entry, 2.3e-5; 1e-5 observed margin below.
    assert np.max(np.abs(jac - ref)) <= 3e-5 * np.max(np.abs(ref))


def test_jacobians_match_central_differences(digit_like):
    model, x = digit_like
    model64 = copy.deepcopy(model).double()
    _, jac = jacobians(model64, x[:5])
    h = 1e-5
    eye = np.eye(64)
    columns = []
    for j in range(64):
        up = model64(torch.as_tensor(x[:5] + h * eye[j])).numpy()
        down = model64(torch.as_tensor(x[:5] - h * eye[j])).numpy()
        columns.append((up - down) / (2 * h))
    fd = np.stack(columns, axis=-1)
    # Truncation h²/6·|f'''| (tanh nets with weights ~0.1: |f'''| ≲ 1) ~ 2e-11, rounding
    # eps·|f|/h ~ 1e-10: 1e-8 is two orders above both.
    assert np.max(np.abs(jac - fd)) <= 1e-8


def test_more_classes_than_inputs_use_forward_tangents_and_agree():
    model = mlp([3, 8, 8, 5], torch.float64)
    x = np.random.default_rng(0).normal(size=(11, 3))
    calls = []
    original = torch.func.jacfwd

    def spy(*args, **kwargs):
        calls.append("jacfwd")
        return original(*args, **kwargs)

    torch.func.jacfwd = spy
    try:
        _, jac = jacobians(model, x)
    finally:
        torch.func.jacfwd = original
    assert calls == ["jacfwd"]
    assert np.max(np.abs(jac - reference_jacobians(model, x))) <= 1e-14


def test_chunks_bound_memory_and_change_nothing(digit_like, monkeypatch):
    model, x = digit_like
    model64 = copy.deepcopy(model).double()
    whole = jacobians(model64, x)[1]
    sizes = []
    forward = model64.forward

    def counting(batch):
        sizes.append(batch.shape)
        return forward(batch)

    monkeypatch.setattr(input_plane, "CHUNK_VALUES", 10 * 64 * 4)  # 4 points per chunk
    monkeypatch.setattr(model64, "forward", counting)
    chunked = jacobians(model64, x)[1]
    assert np.max(np.abs(chunked - whole)) <= 1e-13 * np.max(np.abs(whole))
    # vmap sees chunks of at most 4 points: 10 chunks for 37 points.
    assert len(sizes) == 10


def test_jacobians_run_on_one_torch_thread(digit_like):
    model, x = digit_like
    seen = []
    forward = model.forward
    model.forward = lambda batch: (seen.append(torch.get_num_threads()), forward(batch))[1]
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        jacobians(model, x[:3])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert seen and set(seen) == {1}


def test_the_plane_passes_through_its_anchors_isometrically():
    rng = np.random.default_rng(1)
    anchors = rng.uniform(0, 16, size=(3, 64))
    plane = InputPlane.through(anchors)
    scale = np.abs(anchors).max()
    lifted = plane.lift(plane.coordinates)
    assert np.array_equal(lifted[0], anchors[0])  # b + 0·u + 0·v is b exactly
    assert np.max(np.abs(lifted - anchors)) <= 8 * np.finfo(float).eps * scale
    assert plane.coordinates[1, 1] == 0 and plane.coordinates[2, 1] > 0
    assert plane.coordinates[1, 0] == pytest.approx(np.linalg.norm(anchors[1] - anchors[0]))
    # Orthonormal directions: plane distances are input-space distances.
    assert np.allclose([plane.u @ plane.u, plane.v @ plane.v, plane.u @ plane.v], [1, 1, 0])
    assert abs(plane.u @ plane.v) <= 1e-15
    points = rng.normal(scale=10, size=(20, 2))
    up = plane.lift(points)
    plane_d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    input_d = np.linalg.norm(up[:, None] - up[None], axis=-1)
    assert np.max(np.abs(plane_d - input_d)) <= 1e-12 * plane_d.max()
    assert np.max(np.abs(plane.project(up) - points)) <= 1e-12 * np.abs(points).max()


def test_the_slice_map_is_the_same_plane(digit_like):
    model, _ = digit_like
    plane = InputPlane.through(np.random.default_rng(2).uniform(0, 16, size=(3, 64)))
    st = np.array([[0.5, -1.0], [3.0, 2.0]])
    sliced = plane.slice_of(model)
    assert np.allclose(sliced.lift(st), plane.lift(st), rtol=0, atol=1e-12)
    assert sliced.input_dim == 2 and sliced.output_dim == 10


def test_default_domain_holds_the_anchors_with_a_margin():
    plane = InputPlane.through([[0, 0, 0], [4, 0, 0], [1, 2, 0]])
    domain = plane.default_domain()
    assert np.allclose(plane.coordinates, [[0, 0], [4, 0], [1, 2]])
    margin = input_plane.MARGIN_SHARE * 4
    assert (domain.xmin, domain.xmax) == pytest.approx((-margin, 4 + margin))
    assert (domain.ymin, domain.ymax) == pytest.approx((-margin, 2 + margin))


@pytest.mark.parametrize(
    ("anchors", "message"),
    [
        ([[0, 0, 1], [0, 0, 1], [1, 2, 3]], "anchors 1 and 2 are the same point"),
        ([[0, 0, 1], [1, 2, 3], [1, 2, 3]], "anchors 2 and 3 are the same point"),
        ([[0, 0, 0], [1, 1, 1], [2, 2, 2]], "lie on one line"),
        ([[0, 0, 0], [1, 1, 1]], "three points"),
        ([[0, 0, 0], [1, 1, np.nan], [2, 0, 2]], "finite"),
        ([[0], [1], [2]], "2 or more inputs"),
        ("abc", "three points"),
    ],
)
def test_anchors_that_span_no_plane_are_refused_in_one_line(anchors, message):
    with pytest.raises(PlaneError, match=message) as caught:
        InputPlane.through(anchors)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("indices", "message"),
    [
        ((0, 1), "three points"),
        ((0, 1, 1), "must differ"),
        ((0, 1, 50), "outside 0..49"),
        ((0, 1, -1), "outside"),
        ((0, 1, 2.0), "whole numbers"),
        ((0, True, 2), "whole numbers"),
    ],
)
def test_bad_anchor_indices_are_refused(indices, message):
    with pytest.raises(PlaneError, match=message):
        anchor_indices(indices, 50)


def test_anchor_indices_pass_through():
    assert anchor_indices([np.int64(4), 0, 9], 10) == (4, 0, 9)


def test_plane_fields_are_the_models_own_numbers_at_the_pixels(digit_like):
    model, x = digit_like
    plane = InputPlane.through(x[:3])
    domain = Domain(-5, 30, -5, 20)
    fields = plane_fields(model, plane, domain, 12, 7)
    assert fields.frobenius.shape == (7, 12) and fields.regions.classes.shape == (7, 12)
    inputs = plane.lift(sample_points(domain, 12, 7))
    ref = reference_jacobians(model, inputs)
    frob = np.sqrt((ref**2).sum(axis=(1, 2))).reshape(7, 12)
    assert np.max(np.abs(fields.frobenius - frob) / frob) <= 3e-5  # float32, as above
    logits = copy.deepcopy(model).double()(torch.as_tensor(inputs)).numpy()
    top2 = np.sort(logits, axis=1)[:, -2:]
    assert np.array_equal(fields.regions.classes.ravel(), logits.argmax(axis=1))
    assert np.allclose(fields.regions.margin.ravel(), top2[:, 1] - top2[:, 0], atol=1e-5)


def test_a_point_reading_holds_the_svd_of_its_jacobian(digit_like):
    model, x = digit_like
    reading = read_point(copy.deepcopy(model).double(), x[5])
    ref = reference_jacobians(copy.deepcopy(model).double(), x[5:6])[0]
    assert np.max(np.abs(reading.jacobian - ref)) <= 1e-13 * np.abs(ref).max()
    s, vt = reading.singular_values, reading.right_vectors
    assert s.shape == (10,) and vt.shape == (10, 64) and np.all(np.diff(s) <= 0)
    assert np.allclose(vt @ vt.T, np.eye(10), atol=1e-12)
    # J vᵢ has length σᵢ; Σσ² = ‖J‖²F.
    assert np.allclose(np.linalg.norm(ref @ vt.T, axis=0), s, rtol=1e-12)
    assert reading.frobenius == pytest.approx(np.sqrt((s**2).sum()), rel=1e-12)
    assert reading.probabilities.sum() == pytest.approx(1.0)
    assert reading.predicted == int(np.argmax(reading.logits))


def tiny_data():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    points = rng.normal(size=(60, 16)) + 3 * np.eye(3, 16)[labels]
    is_test = np.zeros(60, bool)
    is_test[::5] = True
    return VectorDataset(points, labels, is_test, 3, "tiny", ("a", "b", "c"), (4, 4))


def test_training_steps_trains_lambda_zero_and_lambda_from_the_same_start():
    data = tiny_data()
    config = TrainConfig(hidden=(8,), steps=40, jr_lambda=0.1, estimator="random")
    assert [c.jr_lambda for c in paired_configs(config)] == [0.0, 0.1]
    assert len(paired_configs(config.replace(jr_lambda=0.0))) == 1
    items = list(training_steps(data, paired_configs(config)))
    progress, models = items[:-1], items[-1]
    assert all(isinstance(p, Progress) for p in progress)
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and fractions[0] == 0.0
    assert [m.label for m in models] == ["λ = 0", "λ = 0.1"]
    # Each is exactly the run that `jacviz train` makes of its config, on raw inputs.
    for model, each in zip(models, paired_configs(config), strict=True):
        expected = raw_model(data, each, run(data, each).state)
        x = torch.tensor(data.raw_test_points, dtype=torch.float32)
        assert torch.equal(model.model(x), expected(x))
    # Same start: the first snapshots (step 0) of the two runs hold the same weights.
    starts = [next(train(data, c)).state for c in paired_configs(config)]
    assert all(torch.equal(starts[0][name], starts[1][name]) for name in starts[0])


def test_boundaries_lie_where_the_top_two_logits_tie(digit_like):
    model, x = digit_like
    model64 = copy.deepcopy(model).double()
    plane = InputPlane.through(x[:3])
    domain = plane.default_domain()
    fields = plane_fields(model64, plane, domain, 80, 60)
    segments = fields.boundaries
    classes = fields.regions.classes
    assert len(np.unique(classes)) >= 2 and len(segments) > 0
    # Every segment lies inside the domain, at a tie of the top two logits to within the
    # linear interpolation's error: a cell's margin changes by at most its largest step.
    ends = segments.reshape(-1, 2)
    assert np.all((ends[:, 0] >= domain.xmin) & (ends[:, 0] <= domain.xmax))
    assert np.all((ends[:, 1] >= domain.ymin) & (ends[:, 1] <= domain.ymax))
    logits = model64(torch.as_tensor(plane.lift(segments.mean(axis=1)))).numpy()
    top2 = np.sort(logits, axis=1)[:, -2:]
    step = np.abs(np.diff(fields.regions.margin, axis=1)).max()
    assert np.max(top2[:, 1] - top2[:, 0]) <= step
    # And each class change between neighbouring pixels has a segment between them.
    changes = np.argwhere(classes[:, 1:] != classes[:, :-1])
    xs = domain.xmin + (changes[:, 1] + 1.0) * domain.width / 80
    ys = domain.ymin + (changes[:, 0] + 0.5) * domain.height / 60
    mids = segments.mean(axis=1)
    for point in np.column_stack([xs, ys]):
        assert np.min(np.linalg.norm(mids - point, axis=1)) <= 1.5 * domain.width / 80
