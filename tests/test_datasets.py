"""Tests for jacviz.nets.datasets: seeded toy datasets, editing, and CSV files.

Geometry is checked exactly on noise-free data (points on the arcs, circles and spiral arms the
docstring promises), and every malformed CSV is built for real and must be refused with a
message that names the problem and, where there is one, the line.
"""

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jacviz.math.grid import MAX_ASPECT, Domain
from jacviz.nets.datasets import (
    DATASETS,
    MAX_COORDINATE,
    MAX_CSV_BYTES,
    MAX_NOISE,
    MAX_POINTS,
    Dataset,
    DatasetError,
    check_dataset_settings,
    load_csv,
    make_dataset,
)

TIGHT = {"rtol": 0, "atol": 1e-15}


def by_class(dataset, k):
    return dataset.points[dataset.labels == k]


def write(tmp_path, text, name="points.csv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def message_of(call, *args, **kwargs):
    """The message of the DatasetError that ``call(*args, **kwargs)`` must raise."""
    with pytest.raises(DatasetError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def assert_same(a, b):
    """Bit-identical arrays and metadata."""
    assert a.points.tobytes() == b.points.tobytes()
    assert a.labels.tobytes() == b.labels.tobytes()
    assert a.is_test.tobytes() == b.is_test.tobytes()
    assert (a.n_classes, a.class_names) == (b.n_classes, b.class_names)


# ----------------------------------------------------------------------------------------------
# make_dataset: determinism, types, balance
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATASETS)
def test_same_arguments_give_bit_identical_datasets(name):
    first = make_dataset(name, n_points=150, noise=0.2, seed=7, n_classes=4)
    second = make_dataset(name, n_points=150, noise=0.2, seed=7, n_classes=4)
    assert_same(first, second)
    assert first.name == second.name == name


@pytest.mark.parametrize("name", DATASETS)
def test_another_seed_gives_other_points_and_another_split(name):
    first = make_dataset(name, n_points=150, noise=0.2, seed=7)
    other = make_dataset(name, n_points=150, noise=0.2, seed=8)
    assert not np.array_equal(first.points, other.points)
    assert not np.array_equal(first.is_test, other.is_test)


def test_generation_leaves_the_global_random_state_alone():
    before = np.random.get_state()  # noqa: NPY002 (the legacy global state is what is checked)
    make_dataset("blobs", seed=5)
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(after[1], before[1]) and after[2:] == before[2:]


@pytest.mark.parametrize("name", DATASETS)
def test_arrays_have_the_documented_shapes_dtypes_and_are_read_only(name):
    data = make_dataset(name, n_points=90, n_classes=5)
    assert data.points.shape == (90, 2) and data.points.dtype == np.float64
    assert data.labels.shape == (90,) and data.labels.dtype == np.int64
    assert data.is_test.shape == (90,) and data.is_test.dtype == np.bool_
    assert data.n_points == 90
    assert len(data.class_names) == data.n_classes
    assert data.class_names == tuple(str(k) for k in range(data.n_classes))
    assert set(data.labels.tolist()) == set(range(data.n_classes))
    for array in (
        data.points,
        data.labels,
        data.is_test,
        data.train_points,
        data.train_labels,
        data.test_points,
        data.test_labels,
    ):
        assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        data.points[0, 0] = 1.0
    with pytest.raises(AttributeError):
        data.name = "other"


def test_the_dataset_keeps_no_reference_to_the_callers_arrays():
    points = np.zeros((4, 2))
    labels = np.array([0, 1, 0, 1])
    data = Dataset(points, labels, np.zeros(4, bool), 2, "hand", ("a", "b"))
    points[0, 0] = 5.0
    labels[0] = 1
    assert data.points[0, 0] == 0.0 and data.labels[0] == 0
    assert points.flags.writeable  # the caller's array is left writeable


@pytest.mark.parametrize(
    ("name", "n_classes", "counts"),
    [
        ("moons", 3, [102, 101]),
        ("circles", 3, [102, 101]),
        ("xor", 3, [102, 101]),
        ("spirals", 3, [102, 101]),
        ("spirals3", 2, [68, 68, 67]),  # n_classes is ignored: spirals3 always has 3 arms
        ("blobs", 5, [41, 41, 41, 40, 40]),
        ("blobs", 8, [26, 26, 26, 25, 25, 25, 25, 25]),
    ],
)
def test_classes_are_as_balanced_as_the_count_allows(name, n_classes, counts):
    data = make_dataset(name, n_points=203, n_classes=n_classes)
    assert data.n_classes == len(counts)
    assert np.bincount(data.labels).tolist() == counts


def test_rows_are_shuffled_so_classes_interleave():
    labels = make_dataset("moons", n_points=200).labels
    assert 0 < np.count_nonzero(np.diff(labels)) and labels[:100].tolist() != [0] * 100
    assert 50 < np.count_nonzero(np.diff(labels))


# ----------------------------------------------------------------------------------------------
# make_dataset: geometry
# ----------------------------------------------------------------------------------------------


def test_noise_free_moons_lie_exactly_on_their_arcs():
    data = make_dataset("moons", n_points=102, noise=0.0)
    outer, inner = by_class(data, 0), by_class(data, 1)
    assert len(outer) == len(inner) == 51
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0, **TIGHT)
    assert outer[:, 1].min() >= 0.0
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0, **TIGHT)
    assert inner[:, 1].max() <= 0.5
    # Evenly spaced from end to end: both arcs include their end points.
    assert np.isclose(outer[:, 0], -1.0).any() and np.isclose(outer[:, 0], 1.0).any()
    assert np.isclose(inner[:, 0], 0.0).any() and np.isclose(inner[:, 0], 2.0).any()
    assert np.isclose(outer[:, 1], 1.0).any() and np.isclose(inner[:, 1], -0.5).any()


def test_noise_free_circles_have_radius_one_and_exactly_half():
    data = make_dataset("circles", n_points=120, noise=0.0)
    outer = np.hypot(*by_class(data, 0).T)
    inner = np.hypot(*by_class(data, 1).T)
    np.testing.assert_allclose(outer, 1.0, **TIGHT)
    np.testing.assert_allclose(inner, 0.5, **TIGHT)
    # Evenly spaced and never repeated: 60 distinct angles 6 degrees apart.
    angles = np.sort(np.degrees(np.arctan2(*by_class(data, 1).T[::-1])) % 360)
    np.testing.assert_allclose(np.diff(angles), 6.0, atol=1e-9)


def test_noise_free_xor_labels_are_the_sign_product():
    data = make_dataset("xor", n_points=500, noise=0.0, seed=3)
    x, y = data.points.T
    assert np.all(np.abs(data.points) <= 1.0)
    assert np.all(x != 0) and np.all(y != 0)
    np.testing.assert_array_equal(data.labels, (np.sign(x) * np.sign(y) > 0).astype(np.int64))
    # Both quadrants of each class are used.
    for k in (0, 1):
        assert len({tuple(q) for q in np.sign(by_class(data, k)).tolist()}) == 2


@pytest.mark.parametrize(("name", "arms"), [("spirals", 2), ("spirals3", 3)])
def test_noise_free_spiral_arms_wind_outwards(name, arms):
    data = make_dataset(name, n_points=60 * arms, noise=0.0)
    for k in range(arms):
        arm = by_class(data, k)
        radius = np.hypot(*arm.T)
        order = np.argsort(radius)
        radius = radius[order]
        angle = np.unwrap(np.arctan2(arm[order, 1], arm[order, 0]))
        assert np.all(np.diff(radius) > 0)
        assert np.all(np.diff(angle) > 0)  # radius grows with angle: counter-clockwise outwards
        np.testing.assert_allclose(angle[-1] - angle[0], 1.75 * 2 * np.pi * 59 / 60, atol=1e-9)
        np.testing.assert_allclose(radius[[0, -1]], [2 / 60, 2.0], atol=1e-12)
        # Arm k is arm 0 turned by 2πk/arms: its outermost point is at angle 1.75 turns + that.
        outer = arm[order[-1]]
        turn = 2 * np.pi * (1.75 + k / arms)
        np.testing.assert_allclose(outer, [2 * np.cos(turn), 2 * np.sin(turn)], atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 5, 8])
def test_blobs_sit_on_the_unit_circle(n_classes):
    data = make_dataset("blobs", n_points=400 * n_classes, noise=0.0, n_classes=n_classes)
    for k in range(n_classes):
        blob = by_class(data, k)
        angle = 2 * np.pi * k / n_classes
        np.testing.assert_allclose(blob.mean(axis=0), [np.cos(angle), np.sin(angle)], atol=0.04)
        np.testing.assert_allclose(blob.std(axis=0), 0.2, atol=0.03)


@pytest.mark.parametrize("name", DATASETS)
def test_noise_is_gaussian_jitter_of_that_standard_deviation(name):
    # The same seed draws the same clean points and the same jitter, so noise only scales it.
    clean = make_dataset(name, n_points=2000, noise=0.0, seed=4)
    small = make_dataset(name, n_points=2000, noise=0.1, seed=4)
    large = make_dataset(name, n_points=2000, noise=0.3, seed=4)
    np.testing.assert_array_equal(clean.labels, large.labels)
    jitter = (small.points - clean.points) / 0.1
    np.testing.assert_allclose((large.points - clean.points) / 0.3, jitter, atol=1e-9)
    assert abs(jitter.std() - 1.0) < 0.05 and abs(jitter.mean()) < 0.05


# ----------------------------------------------------------------------------------------------
# The train/test split
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_points", "fraction"), [(200, 0.3), (101, 0.25), (37, 0.5), (30, 0.9), (64, 0.0)]
)
def test_the_split_holds_out_exactly_the_rounded_fraction(n_points, fraction):
    data = make_dataset("spirals3", n_points=n_points, test_fraction=fraction)
    assert data.is_test.sum() == round(fraction * n_points)
    assert len(data.test_points) + len(data.train_points) == n_points
    np.testing.assert_array_equal(data.test_points, data.points[data.is_test])
    np.testing.assert_array_equal(data.train_labels, data.labels[~data.is_test])


def test_the_split_is_stratified_by_class():
    data = make_dataset("blobs", n_points=400, n_classes=4, test_fraction=0.25)
    assert np.bincount(data.test_labels, minlength=4).tolist() == [25, 25, 25, 25]
    uneven = make_dataset("spirals3", n_points=100, test_fraction=0.3)  # classes 34, 33, 33
    assert np.bincount(uneven.test_labels).tolist() == [10, 10, 10]


def test_the_split_never_takes_a_class_last_training_point():
    data = make_dataset("moons", n_points=4, test_fraction=0.9)  # round(3.6) = 4 would take all
    assert data.is_test.sum() == 2
    assert np.bincount(data.train_labels).tolist() == [1, 1]


# ----------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "swissroll"}, "unknown dataset 'swissroll'; choose from moons, circles, xor"),
        ({"name": "moons", "n_points": 3}, "moons needs n_points from 4 (2 per class)"),
        ({"name": "spirals3", "n_points": 5}, "from 6 (2 per class)"),
        ({"name": "blobs", "n_points": 9, "n_classes": 5}, "from 10 (2 per class)"),
        ({"name": "xor", "n_points": MAX_POINTS + 1}, f"to {MAX_POINTS}, got {MAX_POINTS + 1}"),
        ({"name": "xor", "n_points": 10.5}, "n_points must be an integer"),
        ({"name": "xor", "noise": -0.1}, "noise must be a finite number >= 0, got -0.1"),
        ({"name": "xor", "noise": math.nan}, "noise must be a finite number, got nan"),
        ({"name": "xor", "noise": math.inf}, "noise must be a finite number, got inf"),
        ({"name": "xor", "test_fraction": -0.01}, "test_fraction must be from 0 to 0.9"),
        ({"name": "xor", "test_fraction": 0.95}, "test_fraction must be from 0 to 0.9, got 0.95"),
        ({"name": "xor", "test_fraction": math.nan}, "test_fraction must be a finite number"),
        ({"name": "blobs", "n_classes": 1}, "blobs needs n_classes from 2 to 8, got 1"),
        ({"name": "blobs", "n_classes": 9}, "blobs needs n_classes from 2 to 8, got 9"),
        ({"name": "xor", "seed": -1}, "seed must be an integer >= 0, got -1"),
    ],
)
def test_bad_arguments_are_refused_with_one_clear_line(kwargs, message):
    with pytest.raises(DatasetError) as caught:
        make_dataset(**kwargs)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_n_classes_is_ignored_by_datasets_with_a_fixed_class_count():
    assert make_dataset("moons", n_classes=8).n_classes == 2
    assert make_dataset("spirals3", n_classes=2).n_classes == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "moons", "n_classes": 99}, "n_classes must be from 2 to 8, got 99"),
        ({"name": "moons", "n_classes": 10**30}, "n_classes must be from 2 to 8"),
        ({"name": "moons", "noise": 1e308}, f"noise must be from 0 to {MAX_NOISE:g}, got 1e+308"),
        ({"name": "moons", "noise": MAX_NOISE * 1.01}, "noise must be from 0 to"),
        ({"name": "moons", "noise": "0.1"}, "noise must be a number, got '0.1'"),
        ({"name": "moons", "noise": True}, "noise must be a number, got True"),
        ({"name": "moons", "n_points": 10**100}, f"to {MAX_POINTS}, got 1000000000000"),
        ({"name": "moons", "seed": 2**64}, "seed must be an integer from 0 to"),
        ({"name": "moons", "test_fraction": "0.3"}, "test_fraction must be a number"),
    ],
)
def test_absurd_settings_are_refused_before_anything_is_generated(kwargs, message):
    # One check for every setting, used or not: an absurd --classes is refused for moons too.
    settings_ = {"n_points": 200, "noise": 0.1, "seed": 0, "test_fraction": 0.3, "n_classes": 3}
    settings_.update(kwargs)
    assert message in message_of(check_dataset_settings, **settings_)
    assert len(message_of(check_dataset_settings, **settings_)) < 200
    assert message in message_of(make_dataset, **settings_)


def test_the_largest_noise_stays_within_the_coordinate_limit():
    data = make_dataset("blobs", n_points=MAX_POINTS, noise=MAX_NOISE, seed=1)
    assert np.abs(data.points).max() < MAX_COORDINATE / 100


def test_dataset_error_is_a_value_error():
    assert issubclass(DatasetError, ValueError)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": np.array([0, 2, 0])}, "labels must be in 0..1"),
        ({"labels": np.array([0.0, 1.0, 0.0])}, "labels must be 3 integers"),
        ({"points": np.zeros((3, 3))}, "points must have shape (n, 2)"),
        ({"points": [["a", "b"]] * 3}, "points must be an (n, 2) array of numbers"),
        ({"points": np.array([[0, 0], [1, np.nan], [2, 2]])}, "finite"),
        ({"is_test": np.zeros(2, bool)}, "is_test must be 3 booleans"),
        ({"class_names": ("a",)}, "need 2 class names, got 1"),
        ({"n_classes": 9, "class_names": tuple("abcdefghi")}, "n_classes must be 1 to 8"),
        ({"points": np.array([[0, 0], [1, 1e308], [2, 2]])}, "at most 1e+06 in size, got 1e+308"),
        ({"points": np.array([[0, 0], [-1.01e6, 1], [2, 2]])}, "at most 1e+06 in size"),
    ],
)
def test_the_constructor_refuses_inconsistent_arrays(change, message):
    fields = {
        "points": np.zeros((3, 2)),
        "labels": np.array([0, 1, 0]),
        "is_test": np.zeros(3, bool),
        "n_classes": 2,
        "name": "hand",
        "class_names": ("a", "b"),
    }
    with pytest.raises(DatasetError) as caught:
        Dataset(**{**fields, **change})
    assert message in str(caught.value)


# ----------------------------------------------------------------------------------------------
# Domain and editing
# ----------------------------------------------------------------------------------------------


def hand_made(points, labels, is_test=None, names=("a", "b")):
    points = np.array(points, dtype=float).reshape(-1, 2)
    is_test = np.zeros(len(points), bool) if is_test is None else np.array(is_test)
    return Dataset(points, np.array(labels, dtype=np.int64), is_test, len(names), "hand", names)


def assert_bounds(domain, expected):
    bounds = (domain.xmin, domain.xmax, domain.ymin, domain.ymax)
    np.testing.assert_allclose(bounds, expected, rtol=1e-15, atol=1e-15)


def test_domain_covers_the_points_with_a_fifteen_percent_margin():
    data = hand_made([[0, 0], [2, 1], [1, 0.5]], [0, 1, 0])
    assert_bounds(data.domain, (-0.3, 2.3, -0.15, 1.15))
    for name in DATASETS:
        generated = make_dataset(name)
        domain = generated.domain
        low, high = generated.points.min(axis=0), generated.points.max(axis=0)
        np.testing.assert_allclose([domain.xmin, domain.ymin], low - 0.15 * (high - low))
        np.testing.assert_allclose([domain.xmax, domain.ymax], high + 0.15 * (high - low))


def test_domain_of_degenerate_datasets_is_still_a_rectangle():
    assert hand_made([], []).domain == Domain(-1.0, 1.0, -1.0, 1.0)
    assert_bounds(hand_made([[3, 4]], [0]).domain, (2.35, 3.65, 3.35, 4.65))
    assert_bounds(hand_made([[0, 1], [2, 1]], [0, 1]).domain, (-0.3, 2.3, -0.3, 2.3))


@pytest.mark.parametrize(
    "points",
    [
        [[0, 0], [1e6, 1e-3]],  # on a line, nearly: the flat side is widened to the aspect limit
        [[-1e6, -1e6], [1e6, 1e6]],  # the largest coordinates
        [[1e6, 1e6], [1e6, 1e6]],  # one point, far out
        [[1e6, 5.0], [1e6 - 1e-9, 5.0]],  # closer than float64 can tell apart at 1e6, almost
    ],
)
def test_the_domain_of_any_valid_dataset_is_a_valid_domain(points):
    domain = hand_made(points, [0, 1]).domain
    array = np.array(points, dtype=float)
    assert domain.xmin <= array[:, 0].min() and array[:, 0].max() <= domain.xmax
    assert domain.ymin <= array[:, 1].min() and array[:, 1].max() <= domain.ymax
    assert max(domain.width / domain.height, domain.height / domain.width) <= MAX_ASPECT


def test_with_point_appends_a_point_and_leaves_the_original_alone():
    data = make_dataset("moons", n_points=20)
    added = data.with_point((0.25, -0.75), 1, test=True)
    assert added.n_points == 21 and data.n_points == 20
    assert added.points[-1].tolist() == [0.25, -0.75]
    assert added.labels[-1] == 1 and added.is_test[-1]
    np.testing.assert_array_equal(added.points[:20], data.points)
    assert added.labels.dtype == np.int64 and not added.points.flags.writeable
    assert (added.name, added.class_names) == (data.name, data.class_names)
    assert not data.with_point(np.array([0.0, 0.0]), 0).is_test[-1]


@pytest.mark.parametrize(
    ("point", "label", "message"),
    [
        ((0.0, 0.0), 2, "label must be in 0..1, got 2"),
        ((0.0, 0.0), -1, "label must be in 0..1, got -1"),
        ((0.0, 0.0), 0.5, "label must be an integer"),
        ((0.0, math.inf), 0, "a point must be finite"),
        ((2e6, 0.0), 0, "at most 1e+06 in size"),
        ((0.0, 1.0, 2.0), 0, "a point must be two numbers (x, y), got shape (3,)"),
        ("here", 0, "a point must be two numbers"),
    ],
)
def test_with_point_refuses_bad_points_and_labels(point, label, message):
    with pytest.raises(DatasetError) as caught:
        make_dataset("moons", n_points=20).with_point(point, label)
    assert message in str(caught.value)


def test_without_nearest_removes_the_nearest_point_within_the_radius():
    data = hand_made([[0, 0], [1, 0], [1.1, 0], [3, 3]], [0, 1, 0, 1], [False, True, False, True])
    removed = data.without_nearest((1.04, 0.0), radius=0.5)
    assert removed.points.tolist() == [[0, 0], [1.1, 0], [3, 3]]
    assert removed.labels.tolist() == [0, 0, 1]
    assert removed.is_test.tolist() == [False, False, True]
    assert data.n_points == 4
    # Equally near: the first in dataset order goes.
    assert data.without_nearest((0.5, 0.0), radius=0.5).points.tolist()[0] == [1, 0]
    # The radius is inclusive.
    assert data.without_nearest((3, 2), radius=1.0).n_points == 3


def test_without_nearest_returns_an_unchanged_copy_when_nothing_is_close():
    data = make_dataset("circles", n_points=40)
    same = data.without_nearest((10.0, 10.0), radius=1.0)
    assert same is not data
    assert_same(same, data)
    empty = hand_made([], [])
    assert empty.without_nearest((0, 0), 1.0).n_points == 0
    assert message_of(data.without_nearest, (0, 0), -1.0) == (
        "radius must be a finite number >= 0, got -1.0"
    )
    assert message_of(data.without_nearest, (0, 0), math.nan) == (
        "radius must be a finite number, got nan"
    )


# ----------------------------------------------------------------------------------------------
# CSV: writing and reading back
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATASETS)
def test_csv_round_trip_is_bit_exact_including_the_split(tmp_path, name):
    data = make_dataset(name, n_points=150, noise=0.3, seed=11, test_fraction=0.4, n_classes=6)
    path = tmp_path / f"{name}.csv"
    data.to_csv(path)
    loaded = load_csv(path, test_fraction=0.0, seed=99)  # the file's split wins
    assert_same(loaded, data)
    assert loaded.name == name


def test_csv_file_is_plain_and_readable(tmp_path):
    data = hand_made([[0.1, -0.0], [1e-300, 2.5]], [1, 0], [True, False], names=("cat", "dog"))
    data.to_csv(tmp_path / "pets.csv")
    assert (tmp_path / "pets.csv").read_text() == (
        "x,y,label,split\n0.1,-0.0,dog,test\n1e-300,2.5,cat,train\n"
    )
    loaded = load_csv(tmp_path / "pets.csv")
    assert_same(loaded, data)
    assert math.copysign(1.0, loaded.points[0, 1]) == -1.0  # -0.0 survives


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-MAX_COORDINATE, MAX_COORDINATE),
            st.floats(-MAX_COORDINATE, MAX_COORDINATE),
            st.integers(0, 2),
            st.booleans(),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_any_coordinates_round_trip_bit_exactly(rows):
    rows = [*rows, (0.0, 0.0, 0, False), (1.0, 1.0, 1, False), (2.0, 2.0, 2, False)]
    points = [(x, y) for x, y, _, _ in rows]
    data = hand_made(points, [r[2] for r in rows], [r[3] for r in rows], names=("0", "1", "2"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "any.csv"
        data.to_csv(path)
        assert_same(load_csv(path), data)


def test_to_csv_replaces_the_file_atomically_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("old content")
    make_dataset("xor", n_points=10).to_csv(path)
    assert path.read_text().startswith("x,y,label,split\n")
    assert sorted(os.listdir(tmp_path)) == ["data.csv"]


def test_to_csv_refuses_what_it_cannot_write(tmp_path):
    data = hand_made([[0, 0], [1, 1]], [0, 1], names=("a,b", "c"))
    with pytest.raises(DatasetError, match=r"class name 'a,b' contains a comma"):
        data.to_csv(tmp_path / "x.csv")
    with pytest.raises(DatasetError, match="starts or ends with spaces"):
        hand_made([[0, 0], [1, 1]], [0, 1], names=(" a", "c")).to_csv(tmp_path / "x.csv")
    target = tmp_path / "missing" / "x.csv"
    assert message_of(make_dataset("xor").to_csv, target) == (
        f"cannot write {target}: No such file or directory"
    )
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------------------------
# CSV: reading files people write
# ----------------------------------------------------------------------------------------------


def test_csv_without_header_or_split_is_split_with_the_given_fraction_and_seed(tmp_path):
    rows = "".join(f"{i},{i % 7},{'yes' if i % 2 else 'no'}\n" for i in range(40))
    path = write(tmp_path, rows)
    data = load_csv(path, test_fraction=0.25, seed=3)
    assert data.class_names == ("no", "yes")
    assert data.labels.tolist() == [i % 2 for i in range(40)]
    assert data.points[:, 0].tolist() == list(range(40))
    assert data.is_test.sum() == 10
    assert np.bincount(data.test_labels).tolist() == [5, 5]
    assert_same(load_csv(path, test_fraction=0.25, seed=3), data)
    assert not np.array_equal(load_csv(path, test_fraction=0.25, seed=4).is_test, data.is_test)
    assert load_csv(path, test_fraction=0.0).is_test.sum() == 0
    assert data.name == "points"


def test_csv_numeric_labels_sort_numerically_and_keep_their_text(tmp_path):
    path = write(tmp_path, "0,0,10\n1,0,2\n2,0,-1\n3,0,2\n4,0,1.5\n")
    data = load_csv(path)
    assert data.class_names == ("-1", "1.5", "2", "10")
    assert data.labels.tolist() == [3, 2, 0, 2, 1]
    mixed = load_csv(write(tmp_path, "0,0,10\n1,0,2\n2,0,b\n", "mixed.csv"))
    assert mixed.class_names == ("10", "2", "b")  # not all numbers: sorted as text


def test_csv_skips_comments_blank_lines_spaces_crlf_and_a_byte_order_mark(tmp_path):
    text = (
        "\ufeff# exported by hand\r\n"
        "\r\n"
        "X, Y, Label, Split\r\n"
        "  # an indented comment\r\n"
        " 1.5 , -2 , a , TEST \r\n"
        "\r\n"
        "3,4e-1,b,train\r\n"
        "   \r\n"
    )
    data = load_csv(write(tmp_path, text))
    assert data.points.tolist() == [[1.5, -2.0], [3.0, 0.4]]
    assert data.labels.tolist() == [0, 1]
    assert data.is_test.tolist() == [True, False]
    assert data.class_names == ("a", "b")


def test_csv_header_is_optional_with_a_split_column(tmp_path):
    data = load_csv(write(tmp_path, "0,0,0,train\n1,1,1,test\n2,2,1,train\n"))
    assert data.is_test.tolist() == [False, True, False]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x,y,label\n1,2,a\nabc,3,b\n", "points.csv line 3: x 'abc' is not a plain decimal"),
        ("1,2,a\n3,,b\n", "points.csv line 2: y '' is not a plain decimal number"),
        ("1,2,a\n# note\n\n3,nan,b\n", "points.csv line 4: y 'nan' is not a plain decimal"),
        ("1,2,a\n-inf,3,b\n", "line 2: x '-inf' is not a plain decimal number"),
        ("1,2,a\n1_0,3,b\n", "line 2: x '1_0' is not a plain decimal number"),
        ("1,2,a\n\uff11,3,b\n", "line 2: x '\uff11' is not a plain decimal number"),
        ("1,2,a\n0x10,3,b\n", "line 2: x '0x10' is not a plain decimal number"),
        ("1,2,a\n3,1e308,b\n", "line 2: y '1e308' is more than 1e+06 in size (the largest"),
        ("1,2,a\n-1000001,3,b\n", "line 2: x '-1000001' is more than 1e+06 in size"),
        ("1,2,a\n3,1e999,b\n", "line 2: y '1e999' is too large for a number"),
        ("1,2,a\n" + "7" * 5000 + ",3,b\n", "line 2: x '" + "7" * 37 + "…' is too large"),
        ("1,2,a\n3,4,b\n5,6\n", "points.csv line 3 has 2 columns; expected 3 (x,y,label)"),
        ("1,2,a,train\n3,4,b\n", "line 2 has 3 columns; expected 4 (x,y,label,split)"),
        ("x,y,label\n1,2,a,test\n", "line 2 has 4 columns; expected 3"),
        ("1,2,a,b,c\n", "line 1 has 5 columns; expected x,y,label or x,y,label,split"),
        ("1;2;a\n3;4;b\n", "line 1 has 1 column; expected x,y,label or x,y,label,split"),
        ("a,b,c\n1,2,a\n", "line 1 is neither a header (x,y,label or x,y,label,split)"),
        ("1,2,a\n3,4,\n", "points.csv line 2 has an empty label"),
        ("1,2,a,train\n3,4,b,validation\n", "line 2: split 'validation' must be 'train' or"),
        ("1,2,a\n3,4,a\n", "points.csv has only one class ('a'); a classification dataset"),
        ("".join(f"{i},0,c{i}\n" for i in range(9)), "points.csv has 9 classes; jacviz supports"),
        ("", "points.csv has no data rows"),
        ("# only a comment\nx,y,label\n\n", "points.csv has no data rows"),
        ("1,2,a,test\n3,4,b,test\n", "points.csv has no training points: every split is 'test'"),
        (b"1,2,a\n3,4,\xe9t\xe9\n", "points.csv is not UTF-8 text (line 2 has a byte 0xe9 that"),
        (b"PK\x03\x04\x00\x00binary", "points.csv contains NUL bytes, so it is a binary file"),
    ],
)
def test_malformed_csv_is_refused_naming_the_problem(tmp_path, text, message):
    with pytest.raises(DatasetError) as caught:
        load_csv(write(tmp_path, text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_csv_coordinates_at_the_limit_and_plain_spellings_are_read(tmp_path):
    data = load_csv(write(tmp_path, "1e6,-1000000,a\n +.5 , 5.,b\n-0,1E-3,a\n"))
    assert data.points.tolist() == [[1e6, -1e6], [0.5, 5.0], [0.0, 1e-3]]


def test_csv_labels_sort_as_numbers_only_when_plainly_written(tmp_path):
    # "1_0" and "inf" are text to a person: labels sort as text when one of them is such.
    assert load_csv(write(tmp_path, "0,0,10\n1,1,9\n")).class_names == ("9", "10")
    assert load_csv(write(tmp_path, "0,0,1_0\n1,1,9\n")).class_names == ("1_0", "9")
    assert load_csv(write(tmp_path, "0,0,inf\n1,1,9\n")).class_names == ("9", "inf")


def test_csv_messages_escape_and_shorten_the_file_name(tmp_path):
    name = "a\nb" + "c" * 200 + ".csv"
    message = message_of(load_csv, write(tmp_path, "1,2,a\nq,3,b\n", name=name))
    assert "\\n" in message and len(message) < 200 and "…" in message


def test_csv_with_too_many_rows_is_refused(tmp_path):
    rows = "0,0,a\n1,1,b\n" * (MAX_POINTS // 2)
    assert load_csv(write(tmp_path, rows)).n_points == MAX_POINTS
    with pytest.raises(DatasetError, match=f"points.csv has more than {MAX_POINTS} data rows"):
        load_csv(write(tmp_path, rows + "2,2,a\n"))


def test_csv_larger_than_ten_megabytes_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:
        handle.truncate(MAX_CSV_BYTES + 1)  # sparse: instant, and all NUL if it were read
    with pytest.raises(DatasetError, match=r"huge.csv is 10.0 MB, more than the 10.0 MB jacviz"):
        load_csv(path)


def test_missing_or_unreadable_csv_gives_the_reason(tmp_path):
    with pytest.raises(DatasetError, match=r"nothing.csv does not exist \(looked for .*nothing"):
        load_csv(tmp_path / "nothing.csv")
    with pytest.raises(DatasetError, match="folder is a directory, not a CSV file"):
        (tmp_path / "folder").mkdir()
        load_csv(tmp_path / "folder")
    with pytest.raises(DatasetError, match="cannot be opened: Not a directory"):
        load_csv(write(tmp_path, "1,2,a\n") / "inside.csv")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_csv_without_read_permission_gives_the_reason(tmp_path):
    path = write(tmp_path, "1,2,a\n3,4,b\n")
    path.chmod(0)
    try:
        assert message_of(load_csv, path) == "points.csv cannot be opened: Permission denied"
    finally:
        path.chmod(0o600)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_csv_that_is_a_pipe_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "pipe.csv")
    assert "pipe.csv is not a regular file" in message_of(load_csv, tmp_path / "pipe.csv")


def test_load_csv_checks_its_arguments(tmp_path):
    path = write(tmp_path, "1,2,a\n3,4,b\n")
    assert message_of(load_csv, path, test_fraction=1.0) == (
        "test_fraction must be from 0 to 0.9, got 1.0"
    )
    assert message_of(load_csv, path, seed=-3) == "seed must be an integer >= 0, got -3"


@pytest.mark.parametrize(
    ("label", "problem"),
    [
        ("a" * 256, "longer than 255"),
        ("bad\x1bname", "control character"),
        ("bell\x07", "control character U\\+0007"),
    ],
)
def test_a_class_name_that_could_not_be_saved_is_refused_when_loaded(tmp_path, label, problem):
    from jacviz.nets.datasets import DatasetError, load_csv

    path = tmp_path / "labels.csv"
    rows = "".join(f"{i},{i},{label if i % 2 else 'ok'}\n" for i in range(6))
    path.write_bytes(rows.encode("utf-8", "surrogateescape"))
    with pytest.raises(DatasetError, match=problem) as raised:
        load_csv(path, 0.25, 0)
    assert "\n" not in str(raised.value)


def test_a_dataset_never_holds_a_class_name_it_could_not_save():
    from jacviz.nets.datasets import Dataset, DatasetError

    with pytest.raises(DatasetError, match="lone surrogate"):
        Dataset(np.zeros((2, 2)), np.array([0, 1]), np.zeros(2, bool), 2, "d", ("a", "\udcff"))
    with pytest.raises(DatasetError, match="is empty"):
        Dataset(np.zeros((2, 2)), np.array([0, 1]), np.zeros(2, bool), 2, "d", ("a", ""))
