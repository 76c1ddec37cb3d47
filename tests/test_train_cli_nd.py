"""`jacviz train` on the digits and on .npz files: raw inputs in, raw inputs out."""

import json

import numpy as np
import pytest
import torch

import jacviz
from jacviz.cli import DEFAULT_EPSILONS, main
from jacviz.nets.data import load_digits
from jacviz.nets.metadata import read_classifier_metadata
from jacviz.nets.networks import load_network
from jacviz.nets.trained import DEFAULT_EPSILONS as CORE_EPSILONS
from jacviz.nets.trained import default_epsilons
from jacviz.nets.training import TrainConfig, jacobian_frobenius, load_state, run

TINY = ["--steps", "40", "--hidden", "16", "--batch-size", "32"]


def train_json(capsys, *argv):
    status = main(["train", *TINY, *argv, "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    return json.loads(out)


def test_digits_run_is_saved_as_a_model_of_raw_pixels(capsys, tmp_path):
    out = tmp_path / "digits.safetensors"
    argv = ["--dataset", "digits", "--jr-lambda", "0.01", "--estimator", "random"]
    result = train_json(capsys, *argv, "--out", str(out))
    assert result["dataset"] == "digits" and result["inputs"] == 64 and result["classes"] == 10
    assert (result["train_points"], result["test_points"]) == (1258, 539)
    data = load_digits(seed=0)
    assert list(result["pgd_accuracy"]) == [repr(e) for e in default_epsilons(data)]
    assert default_epsilons(data) == [1.73, 3.47, 6.94, 10.4]  # the digits' RMS spread is 34.7

    config = TrainConfig(hidden=(16,), steps=40, batch_size=32, jr_lambda=0.01, estimator="random")
    last = run(data, config)
    assert result["test_accuracy"] == last.test_accuracy
    trained = load_state(config, last.state, 64, 10)
    saved = load_network(out)
    meta = read_classifier_metadata(saved.metadata)
    assert meta.class_names == tuple("0123456789") and meta.input_shape == (8, 8)
    np.testing.assert_array_equal(meta.standardization.mean, data.standardization.mean)
    assert meta.domain is None
    # The file takes raw pixels: the same logits as the trained network on standardized ones,
    # and the Jacobian with respect to the raw pixels, J · diag(1/σ).
    raw = data.raw_test_points[:5]
    module = saved.module if hasattr(saved, "module") else saved
    with torch.no_grad():
        want = trained(torch.tensor(data.test_points[:5], dtype=torch.float32)).double()
        got = module(torch.tensor(raw, dtype=torch.float32)).double()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    scaled = jacobian_frobenius(trained, data.test_points, data.input_scale)
    assert result["mean_jacobian_frobenius"] == pytest.approx(scaled.mean(), rel=1e-4)
    report = jacviz.probe(str(out), raw[0])  # the Python API takes raw inputs too
    assert report.value.shape == (10,) and report.jacobian.shape == (10, 64)
    assert report.frobenius == pytest.approx(scaled[0], rel=1e-4)


def test_npz_file_trains_with_its_split(capsys, tmp_path):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (30, 5)), rng.normal(3, 1, (30, 5))]) * 100 + 50
    y = np.repeat(["low", "high"], 30)
    split = np.arange(60) % 3 == 0
    path = tmp_path / "table.npz"
    np.savez(path, X=x, y=y, split=split)
    result = train_json(capsys, "--npz", str(path), "--epsilons", "10,100")
    assert result["dataset"] == "table" and result["inputs"] == 5
    assert (result["train_points"], result["test_points"]) == (40, 20)
    assert list(result["pgd_accuracy"]) == ["10.0", "100.0"]
    assert result["test_accuracy"] > 0.9  # two well-separated clusters, in units of 100


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--npz", "missing.npz"], "does not exist"),
        (["--dataset", "digits", "--csv", "a.csv"], "not allowed with"),
        (["--dataset", "digits", "--test-fraction", "2"], "test_fraction"),
    ],
)
def test_bad_data_options_are_one_line(capsys, argv, message):
    assert main(["train", *TINY, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_commands_that_draw_the_plane_do_not_offer_vector_data(capsys):
    assert main(["animate", "--training", "--dataset", "digits", "--out", "x.gif"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_the_command_line_default_radii_are_the_core_ones():
    assert tuple(DEFAULT_EPSILONS) == CORE_EPSILONS


def test_saving_a_model_of_one_input_is_refused_before_training(capsys, tmp_path):
    path = tmp_path / "line.npz"
    np.savez(path, X=np.arange(20.0)[:, None], y=np.arange(20) % 2)
    argv = ["train", *TINY, "--npz", str(path), "--out", str(tmp_path / "m.safetensors")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "at least 2 inputs" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "extra",
    [
        {"input_standardization": {"mean": [0, 1], "std": [0, 1]}, "input_shape": [8, "8"]},
        {"input_standardization": [1, 2], "input_shape": [True]},
        {"input_standardization": {"mean": [float("nan")], "std": [1]}, "input_shape": []},
    ],
)
def test_bad_standardization_or_shape_in_a_file_reads_as_unknown(extra):
    meta = read_classifier_metadata({"class_names": ["a", "b"], **extra})
    assert meta.standardization is None and meta.input_shape is None
    assert meta.class_names == ("a", "b")
