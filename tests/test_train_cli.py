"""`jacviz train`: headless training with the numbers the issue asks for, and clean refusals."""

import json

import numpy as np
import pytest

from jacviz.cli import main
from jacviz.nets.datasets import make_dataset
from jacviz.nets.networks import load_network
from jacviz.nets.robustness import robust_accuracy
from jacviz.nets.training import (
    MAX_PENALTY,
    TrainConfig,
    TrainingError,
    jacobian_frobenius,
    load_state,
    run,
)

SMALL = ["--steps", "150", "--hidden", "16,16", "--points", "120"]


def train_json(capsys, *argv):
    status = main(["train", *SMALL, *argv, "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    return json.loads(out)


def test_json_matches_the_core_and_repeats_exactly(capsys):
    result = train_json(capsys, "--dataset", "moons", "--jr-lambda", "0.1", "--seed", "3")
    for key in ("train_accuracy", "test_accuracy", "mean_jacobian_frobenius", "pgd_accuracy"):
        assert key in result
    assert isinstance(result["seconds"], float) and result["seconds"] > 0
    data = make_dataset("moons", n_points=120, seed=3)
    config = TrainConfig(hidden=(16, 16), steps=150, jr_lambda=0.1, seed=3)
    last = run(data, config)
    model = load_state(config, last.state, 2, 2)
    assert result["train_accuracy"] == last.train_accuracy
    assert result["test_accuracy"] == last.test_accuracy
    frobenius = jacobian_frobenius(model, data.test_points).mean()
    assert result["mean_jacobian_frobenius"] == pytest.approx(frobenius, rel=1e-12)
    epsilons = [0.05, 0.1, 0.2, 0.3]
    expected = robust_accuracy(model, data.test_points, data.test_labels, epsilons, seed=3)
    assert result["pgd_accuracy"] == {repr(e): expected[e] for e in epsilons}
    values = list(result["pgd_accuracy"].values())
    assert values == sorted(values, reverse=True)

    again = train_json(capsys, "--dataset", "moons", "--jr-lambda", "0.1", "--seed", "3")
    result.pop("seconds"), again.pop("seconds")
    assert again == result


def test_regularization_lowers_the_reported_jacobian_norm(capsys):
    plain = train_json(capsys, "--dataset", "circles")
    regularized = train_json(capsys, "--dataset", "circles", "--jr-lambda", "0.1")
    assert regularized["mean_jacobian_frobenius"] < 0.7 * plain["mean_jacobian_frobenius"]


def test_out_saves_a_network_the_app_can_open(capsys, tmp_path):
    target = tmp_path / "blobs.safetensors"
    result = train_json(
        capsys,
        "--dataset",
        "blobs",
        "--classes",
        "4",
        "--estimator",
        "random",
        "--n-proj",
        "2",
        "--jr-lambda",
        "0.01",
        "--epsilons",
        "0.1,0.5",
        "--out",
        str(target),
    )
    assert result["saved"] == str(target)
    assert set(result["pgd_accuracy"]) == {"0.1", "0.5"}
    loaded = load_network(target)
    assert loaded.output_dim == 4
    assert loaded.metadata["class_names"] == ["0", "1", "2", "3"]
    assert TrainConfig.from_dict(loaded.metadata["training"]).n_proj == 2
    domain = make_dataset("blobs", n_points=120, n_classes=4).domain
    assert loaded.metadata["domain"] == [domain.xmin, domain.xmax, domain.ymin, domain.ymax]


def test_csv_data_and_text_output(capsys, tmp_path):
    csv = tmp_path / "points.csv"
    make_dataset("xor", n_points=80, seed=1).to_csv(csv)
    status = main(["train", *SMALL, "--csv", str(csv)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "on points" in out and "test accuracy" in out and "L2 PGD accuracy" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hidden", "3,x"], "--hidden expects comma-separated whole numbers"),
        (["--steps", "0"], "steps must be"),
        (["--jr-lambda", "-1"], "λ must be"),
        (["--dataset", "swirl"], "invalid choice"),
        (["--epsilons", "0.1,-2"], "--epsilons must each be from 0 to"),
        (["--points", "3"], "points"),
        (["--csv", "/nonexistent/points.csv"], "does not exist"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    assert main(["train", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("jacviz: error: ")
    assert message in err


@pytest.mark.timeout(120)  # each run below would train for minutes if nothing were refused
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--weight-decay", "1e308"], "weight decay must be a number from 0 to 1e+06"),
        (["--jr-lambda", "1e308"], "λ must be a number from 0 to 1e+06"),
        (["--learning-rate", "1e308"], "learning rate must be a number in (0, 10]"),
        (["--learning-rate", "0"], "learning rate must be a number in (0, 10]"),
        (["--noise", "1e308"], "noise must be from 0 to 10"),
        (["--noise", "nan"], "argument --noise: 'nan' is not a plain decimal number"),
        (["--points", "1_000"], "argument --points: '1_000' is not a whole number"),
        (["--points", "１００"], "argument --points: '１００' is not a whole number"),
        (["--points", "10000000"], "moons needs n_points from 4 (2 per class) to 100000"),
        (["--classes", "99"], "n_classes must be from 2 to 8, got 99"),
        (["--test-fraction", "2"], "test_fraction must be from 0 to 0.9"),
        (["--seed", "1e3"], "argument --seed: '1e3' is not a whole number"),
        (["--seed", "9" * 30], "seed must be a whole number 0..9223372036854775807"),
        (["--seed", "9" * 500], "has too many digits"),
        (["--batch-size", "0"], "batch size must be a whole number 1..100000"),
        (["--n-proj", "100000"], "number of projections must be a whole number 1..64"),
        (["--hidden", "100000"], "hidden widths must be whole numbers 1..512"),
        (["--hidden", "1,2,3,4,5,6,7"], "hidden layers: give 1 to 6 widths, got 7"),
        (["--hidden", "0x10"], "--hidden expects comma-separated whole numbers like 32,32"),
        (["--epsilons", "1e308"], "--epsilons must each be from 0 to 1e+06"),
        (["--epsilons", "inf"], "--epsilons expects comma-separated numbers"),
        (["--epsilons", ",".join(["0.1"] * 17)], "--epsilons takes at most 16 radii, got 17"),
        (["--steps", "10000000"], "steps must be a whole number 1..1000000"),
    ],
)
def test_absurd_numbers_are_refused_before_any_work(capsys, argv, message):
    # --steps 1000000 and a CSV that is not there: training or reading would show in the
    # message or the time, so a refusal here came before any work.
    assert main(["train", "--steps", "1000000", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("jacviz: error: ")
    assert message in err and len(err) < 300


def test_pgd_numbers_are_labelled_as_upper_bounds(capsys):
    status = main(["train", *SMALL, "--epsilons", "0.1"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "L2 PGD accuracy (upper bound)  ε=0.1: " in out
    result = train_json(capsys, "--epsilons", "0.1")
    assert set(result["pgd_accuracy"]) == {"0.1"} and result["warnings"] == []


def test_a_file_name_that_is_not_utf8_is_printed_escaped(capsys, tmp_path):
    # capsys's stdout encodes strictly as UTF-8, as PYTHONIOENCODING=utf-8:strict does: the
    # name's byte 0xff arrives as a lone surrogate, which raised after the file was written.
    target = tmp_path / "\udcff.safetensors"
    status = main(["train", *SMALL, "--steps", "5", "--out", str(target)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert target.exists() and "\\udcff.safetensors" in out
    status = main(["train", *SMALL, "--steps", "5", "--out", str(target), "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert json.loads(out)["saved"] == str(target)  # an escape JSON reads back as the name


def test_csv_coordinates_out_of_range_are_one_line(capsys, tmp_path):
    csv = tmp_path / "big.csv"
    csv.write_text("x,y,label\n" + "".join(f"{i}e307,{-i}e307,{i % 2}\n" for i in range(1, 9)))
    assert main(["train", "--csv", str(csv), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "big.csv line 2: x '1e307' is more than 1e+06 in size" in err


def test_unwritable_out_is_refused_before_training(capsys, tmp_path):
    missing = tmp_path / "no" / "model.safetensors"
    # 10**6 steps would take minutes: refusing at once shows nothing was trained.
    assert main(["train", "--steps", "1000000", "--out", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err
    assert not missing.parent.exists()
    assert main(["train", "--steps", "10", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_training_data_without_test_points_measures_on_training_points(capsys):
    result = train_json(capsys, "--test-fraction", "0")
    assert result["test_accuracy"] is None
    assert result["measured_on"] == "train"
    assert np.isfinite(result["mean_jacobian_frobenius"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weight_decay": 1e308}, "weight decay must be a number from 0 to 1e+06, got 1e+308"),
        ({"jr_lambda": 1e300}, "λ must be a number from 0 to 1e+06"),
        ({"jr_lambda": float("nan")}, "λ must be a number from 0 to"),
        ({"jr_lambda": True}, "λ must be a number"),
        ({"jr_lambda": "0.1"}, "λ must be a number from 0 to 1e+06, got '0.1'"),
        ({"weight_decay": 10**400}, "got 1" + "0" * 38 + "…"),
        ({"learning_rate": True}, "learning rate must be a number in (0, 10]"),
        ({"seed": 2**63}, "seed must be a whole number 0..9223372036854775807"),
        ({"seed": -1}, "seed must be a whole number 0..9223372036854775807, got -1"),
        ({"batch_size": 10**6}, "batch size must be a whole number 1..100000"),
        ({"n_proj": 65}, "number of projections must be a whole number 1..64"),
        ({"hidden": (10**500,)}, "hidden widths must be whole numbers 1..512, got 1000000000"),
        ({"activation": ["tanh"]}, "unknown activation ['tanh']"),
    ],
)
def test_the_config_refuses_absurd_values_in_one_short_line(change, message):
    # One source of truth: the lab, sessions and the command line all build a TrainConfig.
    with pytest.raises(TrainingError) as error:
        TrainConfig(**change)
    assert message in str(error.value)
    assert "\n" not in str(error.value) and len(str(error.value)) < 150


def test_the_largest_penalties_train_or_diverge_without_raising():
    data = make_dataset("moons", n_points=40)
    for change in ({"weight_decay": MAX_PENALTY}, {"jr_lambda": MAX_PENALTY}):
        config = TrainConfig(hidden=(8,), steps=20, learning_rate=10.0, **change)
        last = run(data, config)
        assert last.diverged is None or "diverged" in last.diverged
