"""Data of d inputs: the digits, .npz files (hostile ones too), standardization and folding."""

import io
import zipfile

import numpy as np
import pytest
import torch

from jacviz.nets.data import (
    MAX_INPUTS,
    Standardization,
    VectorDataset,
    fold_standardization,
    load_digits,
    load_npz,
)
from jacviz.nets.datasets import DatasetError
from jacviz.nets.networks import make_mlp


@pytest.fixture(scope="module")
def digits():
    return load_digits(test_fraction=0.3, seed=0)


def test_digits_are_1797_images_of_64_inputs_split_by_class(digits):
    assert digits.raw_points.shape == (1797, 64) and digits.n_classes == 10
    assert digits.class_names == tuple("0123456789") and digits.input_shape == (8, 8)
    assert digits.raw_points.min() == 0 and digits.raw_points.max() == 16
    assert digits.is_test.sum() == round(0.3 * 1797)
    shares = np.bincount(digits.test_labels, minlength=10) / np.bincount(digits.labels)
    assert np.all(np.abs(shares - 0.3) < 0.01)  # stratified
    again = load_digits(test_fraction=0.3, seed=0)
    assert np.array_equal(again.is_test, digits.is_test)
    assert not np.array_equal(load_digits(seed=1).is_test, digits.is_test)


def test_inputs_are_standardized_on_the_training_split_alone(digits):
    train = digits.train_points
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-12)
    spread = train.std(axis=0)
    constant = digits.raw_train_points.std(axis=0) == 0
    assert constant.any()  # corner pixels are always blank: centred, not scaled
    np.testing.assert_allclose(spread[~constant], 1, rtol=1e-12)
    np.testing.assert_array_equal(digits.input_scale[constant], 1.0)
    expected = (digits.raw_test_points - digits.standardization.mean) / digits.standardization.std
    np.testing.assert_array_equal(digits.test_points, expected)


def test_missing_scikit_learn_is_one_line(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(DatasetError, match=r"pip install 'jacviz\[data\]'"):
        load_digits()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_folded_model_on_raw_inputs_is_the_trained_model_on_standardized_ones(digits, dtype):
    model = make_mlp([64, 16, 10], "tanh", seed=0, dtype=dtype)
    folded = fold_standardization(model, digits.standardization)
    raw = torch.tensor(digits.raw_test_points, dtype=dtype)
    standardized = torch.tensor(digits.test_points, dtype=dtype)
    with torch.no_grad():
        want, got = model(standardized), folded(raw)
    # float64: the fold is exact but for rounding of W/σ and b − Wμ/σ; float32 rounds those
    # weights (pixels 0..16 times W/σ up to 35 W) to ~1e-7 relative of sums of size ~100.
    tolerance = 1e-12 if dtype == torch.float64 else 2e-4
    torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance)
    assert model[0].weight.data_ptr() != folded[0].weight.data_ptr()  # the model is untouched
    if dtype == torch.float64:  # its Jacobian is the trained one's times diag(1/σ), by jacrev
        jac = torch.func.vmap(torch.func.jacrev(folded))(raw[:4])
        inner = torch.func.vmap(torch.func.jacrev(model))(standardized[:4])
        scale = torch.from_numpy(digits.input_scale)
        torch.testing.assert_close(jac, inner * scale, rtol=1e-12, atol=1e-13)
    with pytest.raises(ValueError, match="64 inputs"):
        fold_standardization(make_mlp([3, 4, 2], "tanh"), digits.standardization)


def test_standardization_round_trips_through_json():
    fitted = Standardization.fit(np.array([[0.0, 1.0, 5.0], [2.0, 3.0, 5.0]]))
    np.testing.assert_array_equal(fitted.std, [1.0, 1.0, 1.0])  # the constant input: 1
    back = Standardization.from_json(fitted.to_json())
    np.testing.assert_array_equal(back.mean, fitted.mean)
    np.testing.assert_array_equal(back.std, fitted.std)
    for bad in (None, {}, {"mean": [0], "std": [0]}, {"mean": [1, 2], "std": [1]}, [1]):
        assert Standardization.from_json(bad) is None
    assert Standardization.from_json({"mean": [True], "std": [1]}) is None


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_with_split_labels_as_text_and_images_flattened(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(40, 3, 4))
    labels = np.array(["cat", "dog"] * 20)
    split = np.array([i % 5 == 0 for i in range(40)])
    data = load_npz(_save(tmp_path / "pets.npz", X=images, y=labels, split=split))
    assert data.name == "pets" and data.input_dim == 12 and data.class_names == ("cat", "dog")
    assert data.input_shape == (3, 4)
    np.testing.assert_array_equal(data.raw_points, images.reshape(40, 12))
    np.testing.assert_array_equal(data.labels, (labels == "dog").astype(int))
    np.testing.assert_array_equal(data.is_test, split)
    words = np.where(split, "test", "train")
    same = load_npz(_save(tmp_path / "w.npz", X=images, y=labels, split=words))
    np.testing.assert_array_equal(same.is_test, split)
    numbers = load_npz(_save(tmp_path / "n.npz", X=images, y=labels, split=split.astype(int)))
    np.testing.assert_array_equal(numbers.is_test, split)


def test_npz_labels_are_mapped_to_classes_in_sorted_order(tmp_path):
    x = np.arange(12.0).reshape(6, 2)
    data = load_npz(_save(tmp_path / "a.npz", X=x, y=np.array([7, -1, 7, 3, -1, 3])), seed=1)
    assert data.class_names == ("-1", "3", "7")
    np.testing.assert_array_equal(data.labels, [2, 0, 2, 1, 0, 1])
    whole = load_npz(_save(tmp_path / "f.npz", X=x, y=np.array([0.0, 1, 2, 0, 1, 2])))
    assert whole.class_names == ("0", "1", "2")
    compressed = tmp_path / "c.npz"
    np.savez_compressed(compressed, X=x, y=np.array([0, 1] * 3))
    assert load_npz(compressed).n_classes == 2


BAD_FILES = {
    "no X": ({"y": np.zeros(4)}, "has no array X"),
    "extra array": ({"X": np.zeros((4, 2)), "y": np.arange(4) % 2, "w": np.ones(4)}, "'w'"),
    "NaN": ({"X": np.array([[0.0, np.nan], [1, 1], [2, 2]]), "y": np.array([0, 1, 0])}, "row 0"),
    "inf": ({"X": np.array([[0.0, 1], [np.inf, 1], [2, 2]]), "y": np.array([0, 1, 0])}, "row 1"),
    "complex": ({"X": np.ones((4, 2), dtype=complex), "y": np.arange(4) % 2}, "dtype complex"),
    "1-D X": ({"X": np.ones(4), "y": np.arange(4) % 2}, r"shape \(N, d\)"),
    "no rows": ({"X": np.zeros((0, 5)), "y": np.zeros(0, dtype=int)}, r"got \(0, 5\)"),
    "no inputs": ({"X": np.zeros((5, 0)), "y": np.arange(5) % 2}, r"got \(5, 0\)"),
    "dates": ({"X": np.zeros((4, 2), dtype="M8[s]"), "y": np.arange(4) % 2}, "must hold num"),
    "float split": (
        {"X": np.ones((4, 2)), "y": np.arange(4) % 2, "split": np.ones(4) / 2},
        "split has dtype float64",
    ),
    "y too short": ({"X": np.ones((4, 2)), "y": np.array([0, 1])}, r"shape \(4,\)"),
    "one class": ({"X": np.ones((4, 2)), "y": np.zeros(4, dtype=int)}, "only one class"),
    "fractional y": ({"X": np.ones((4, 2)), "y": np.array([0, 0.5, 1, 1])}, "not whole"),
    "bad split": ({"X": np.ones((4, 2)), "y": np.arange(4) % 2, "split": np.arange(4)}, "0 .tr"),
    "split word": (
        {"X": np.ones((4, 2)), "y": np.arange(4) % 2, "split": np.array(["train"] * 3 + ["dev"])},
        "'dev'",
    ),
    "all test": (
        {"X": np.ones((4, 2)), "y": np.arange(4) % 2, "split": np.ones(4, dtype=bool)},
        "no training points",
    ),
    "too wide": ({"X": np.zeros((2, MAX_INPUTS + 1)), "y": np.array([0, 1])}, "at most"),
    "huge value": ({"X": np.array([[0.0], [1e9]]), "y": np.array([0, 1])}, "at most 1e"),
    "many classes": ({"X": np.zeros((300, 1)), "y": np.arange(300)}, "300 classes"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_npz_files_are_refused_in_one_line(tmp_path, case):
    arrays, message = BAD_FILES[case]
    path = _save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=message) as caught:
        load_npz(path)
    assert "\n" not in str(caught.value) and "bad.npz" in str(caught.value)


def test_pickled_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, X=np.array([[1, 2], [3, 4]], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DatasetError, match="never unpickles"):
        load_npz(path)


def test_a_small_file_declaring_a_huge_array_is_refused_before_unpacking(tmp_path):
    # A valid .npy header claiming 10⁹ × 64 float64 values, then no data: refused from the
    # header, without allocating 512 GB.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 64)}
    )
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", header.getvalue())  # magic and header, no data
        archive.writestr("y.npy", b"")
    with pytest.raises(DatasetError, match="at most"):
        load_npz(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"x,y,label\n1,2,a\n", "not an .npz archive"), (b"PK\x03\x04garbage", "not a readable")],
)
def test_files_that_are_not_npz_archives(tmp_path, content, message):
    path = tmp_path / "data.npz"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        load_npz(path)
    npy = tmp_path / "one.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(DatasetError, match=r"an \.npy file holds one array; save X"):
        load_npz(npy)
    with pytest.raises(DatasetError, match="does not exist"):
        load_npz(tmp_path / "missing.npz")


def test_vector_dataset_checks_its_arrays():
    x = np.zeros((4, 3))
    with pytest.raises(DatasetError, match="no training point"):
        VectorDataset(x, np.array([0, 1, 0, 1]), np.ones(4, dtype=bool), 2, "t", ("a", "b"))
    with pytest.raises(DatasetError, match="labels must be in"):
        VectorDataset(x, np.array([0, 1, 0, 2]), np.zeros(4, dtype=bool), 2, "t", ("a", "b"))
    with pytest.raises(DatasetError, match="class name"):
        VectorDataset(x, np.array([0, 1, 0, 1]), np.zeros(4, dtype=bool), 2, "t", ("a", "b\n"))


def test_an_input_shape_must_hold_the_inputs():
    x, y, split = np.zeros((4, 6)), np.array([0, 1, 0, 1]), np.zeros(4, dtype=bool)
    assert VectorDataset(x, y, split, 2, "t", ("a", "b"), (2, 3)).input_shape == (2, 3)
    with pytest.raises(DatasetError, match="does not hold 6 inputs"):
        VectorDataset(x, y, split, 2, "t", ("a", "b"), (4, 2))
