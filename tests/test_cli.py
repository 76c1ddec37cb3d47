import json
import math
import subprocess
import sys

import numpy as np
import pytest

from jacviz.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def probe_json(capsys, formula, at, network=None):
    source = ["--map", formula] if network is None else ["--network", str(network)]
    status, out, err = run(capsys, "probe", *source, "--at", at, "--json")
    assert status == 0, err
    return json.loads(out)


def test_probe_json_has_exactly_the_documented_keys_and_the_seed_values(capsys):
    report = probe_json(capsys, "x**2 + y, x*y", "1,2")
    assert set(report) == {
        "point",
        "value",
        "jacobian",
        "det",
        "singular_values",
        "frobenius",
        "condition",
        "symbolic_jacobian",
        "warnings",
    }
    assert report["point"] == [1.0, 2.0]
    assert report["value"] == [3.0, 2.0]
    assert report["jacobian"] == [[2.0, 1.0], [2.0, 1.0]]
    assert report["det"] == 0.0
    assert report["singular_values"][0] == pytest.approx(math.sqrt(10), rel=1e-15)
    assert report["singular_values"][1] == 0.0
    assert report["frobenius"] == pytest.approx(math.sqrt(10), rel=1e-15)
    assert report["condition"] is None  # infinite: written as null, with a reason
    assert any("condition number is infinite" in w for w in report["warnings"])
    assert report["symbolic_jacobian"] == [["2*x", "1"], ["y", "x"]]


def test_probe_text_names_orientation_reversal(capsys):
    status, out, _ = run(capsys, "probe", "--map", "x**2 + y, x*y", "--at", "0,1")
    assert status == 0
    assert "[[0, 1]," in out and " [1, 0]]" in out
    assert "det J               -1  (orientation reversed" in out
    assert "symbolic J(x, y)    [[2*x, 1], [y, x]]" in out


def test_negative_coordinates_work_after_a_space(capsys):
    report = probe_json(capsys, "x**2 - y**2, 2*x*y", "-1,2")
    assert report["det"] == pytest.approx(4 * (1 + 4), rel=1e-15)


def test_non_finite_numbers_become_null_with_reasons(capsys):
    report = probe_json(capsys, "1/x, y", "0,1")
    assert report["value"][0] is None and report["value"][1] == 1.0
    assert report["jacobian"][0][0] is None
    assert report["det"] is None
    warnings = report["warnings"]
    assert any(w.startswith("1/x is +inf in float64 at (x, y) = (0, 1)") for w in warnings)
    assert any("∂(1/x)/∂x" in w for w in report["warnings"])


def test_maps_with_three_outputs_have_no_determinant(capsys):
    report = probe_json(capsys, "x, y, x*y", "1,2")
    assert report["det"] is None
    assert report["jacobian"] == [[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["probe", "--map", "z + x, y", "--at", "1,2"], "unknown name 'z' at column 1"),
        (["probe", "--map", "x, y", "--at", "1"], "--at expects 2 coordinates"),
        (["probe", "--map", "x, y", "--at", "a,b"], "comma-separated numbers"),
        (["probe", "--map", "x, y", "--at", "nan,1"], "not a plain decimal number"),
        (["probe", "--at", "1,2"], "--map"),
        (["probe", "--map", "__import__('os').system('echo hacked'), y", "--at", "1,2"], ""),
        (["frobnicate"], "'frobnicate' is neither a command (probe, train, "),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_status_2(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("jacviz: error: ")
    assert message in err
    assert "Traceback" not in err and "hacked" not in err


@pytest.mark.timeout(60)  # a hang guard, not a speed test: refusing takes milliseconds
@pytest.mark.parametrize("formula", ["9**9**9**9, y", "x**(10**10**10), y", "x" + "*x" * 5000])
def test_explosive_formulas_are_refused_before_any_symbolic_work(capsys, monkeypatch, formula):
    # The work bound: the guard refuses these before sympy differentiates or compiles
    # anything, so the cost does not depend on how large the numbers would have been.
    import sympy

    calls = []
    for name in ("diff", "lambdify"):
        original = getattr(sympy, name)
        monkeypatch.setattr(
            sympy, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k)
        )
    status, _, err = run(capsys, "probe", "--map", formula, "--at", "1,2")
    assert status == 2 and err.startswith("jacviz: error: bad --map formula")
    assert calls == []


@pytest.mark.parametrize(
    "at",
    ["1_0,2", "１,2", "1,٢", "inf,1", "-Infinity,1", "nan,1", "0x10,1", "1e999,1", "1,,2", ""],
)
def test_probe_points_are_plain_decimal_numbers(capsys, at):
    status, out, err = run(capsys, "probe", "--map", "x, y", "--at", at)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("jacviz: error: --at ")


def test_plain_decimal_points_with_spaces_and_exponents_are_fine(capsys):
    report = probe_json(capsys, "x, y", " 1e5 , -.5")
    assert report["point"] == [1e5, -0.5]


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "--map", "x, y", "--at", "9" * 5000 + ",1"],
        ["probe", "--network", "n" * 5000, "--at", "1,2"],
        ["probe", "--map", "x, y", "--at", "1,2", "--bogus", "z" * 5000],
        ["render", "--map", "x, y", "--view", "v" * 5000, "--out", "a.png"],
        ["train", "--dataset", "d" * 5000],
        ["train", "--hidden", "h" * 5000],
        ["train", "--noise", "1" * 5000],
        ["w" * 5000],
        ["probe", "--map", "x, y", "--at", "1\n2\n3"],
    ],
)
def test_errors_quote_long_or_multiline_input_shortened_on_one_line(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("jacviz: error: ")
    assert len(err) <= 300 and not err.rstrip().endswith("…")  # the reason is not cut off


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "--network", "a\x00b", "--at", "1,2"],  # paths with NUL bytes
        ["probe", "--network", "/" + "a" * 5000, "--at", "1,2"],  # names too long for the OS
        ["a" * 5000],
        ["train", "--csv", "b\x00.csv", "--steps", "1"],
    ],
)
def test_impossible_paths_are_one_line_not_a_traceback(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("jacviz: error: ")


def test_probe_json_of_huge_numbers_is_valid_json_with_reasons(capsys):
    report = probe_json(capsys, "x*1e300, y**2", "1e300,1e300")
    assert report["value"] == [None, None]
    assert report["point"] == [1e300, 1e300]
    assert any("is +inf in float64" in w for w in report["warnings"])


def test_json_writer_turns_every_non_finite_number_into_null_with_a_reason():
    from jacviz.cli import finite_json

    document = finite_json(
        {"a": math.nan, "b": [1.0, -math.inf], "c": {"d": math.inf}, "warnings": ["kept"]}
    )
    assert document == {
        "a": None,
        "b": [1.0, None],
        "c": {"d": None},
        "warnings": [
            "kept",
            "a is undefined (NaN); written as null",
            "b[1] is infinite; written as null",
            "c.d is infinite; written as null",
        ],
    }
    json.dumps(document, allow_nan=False)


def test_warnings_never_reach_stderr(capsys, monkeypatch):
    # A torch UserWarning or a numpy RuntimeWarning before an error made it several lines.
    import warnings

    import jacviz.cli.probe

    def noisy(args):
        warnings.warn("torch says something", UserWarning, stacklevel=1)
        np.log(np.zeros(1))  # numpy: divide by zero encountered in log
        raise jacviz.cli.UsageError("the one line")

    monkeypatch.setattr(jacviz.cli.probe, "run", noisy)
    status, _, err = run(capsys, "probe", "--map", "x, y", "--at", "1,2")
    assert status == 2 and err == "jacviz: error: the one line\n"


def test_ctrl_c_is_one_line_with_status_130(capsys, monkeypatch):
    import jacviz.cli.train

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(jacviz.cli.train, "run", interrupted)
    status, out, err = run(capsys, "train")
    assert (status, out, err) == (130, "", "jacviz: stopped: interrupted\n")


def test_an_unexpected_failure_is_one_line_with_status_1(capsys, monkeypatch):
    import jacviz.math.probe

    def broken(*_args):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(jacviz.math.probe, "probe", broken)
    status, out, err = run(capsys, "probe", "--map", "x, y", "--at", "1,2")
    assert status == 1 and out == ""
    assert err == "jacviz: internal error: RuntimeError: something broke (please report it)\n"


def test_module_entry_point_runs_probe():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jacviz",
            "probe",
            "--map",
            "x**2 + y, x*y",
            "--at",
            "1,2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["jacobian"] == [[2.0, 1.0], [2.0, 1.0]]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("jacviz ")


@pytest.mark.parametrize(
    ("formula", "message"),
    [("x +* y, y", "bad --map formula"), ("x*y", "maps 2 inputs to 1 output")],
)
def test_the_app_refuses_a_bad_map_before_opening(capsys, formula, message):
    status, _, err = run(capsys, "--map", formula)
    assert status == 2
    assert message in err and err.count("\n") == 1


def saved_mlp(tmp_path, widths, seed=0):
    import torch

    from jacviz.nets.networks import make_mlp, save_mlp

    model = make_mlp(widths, seed=seed, dtype=torch.float64)
    path = tmp_path / f"mlp_{'_'.join(map(str, widths))}.safetensors"
    save_mlp(model, path)
    return model, path


@pytest.mark.parametrize(
    ("widths", "at"), [([2, 16, 2], "0.3,-0.7"), ([2, 8, 3], "1,2"), ([3, 8, 2], "1,2,-1")]
)
def test_probe_a_network_file(capsys, tmp_path, widths, at):
    import torch

    model, path = saved_mlp(tmp_path, widths)
    report = probe_json(capsys, None, at, network=path)
    point = torch.tensor([float(c) for c in at.split(",")], dtype=torch.float64)
    expected = torch.autograd.functional.jacobian(model, point).numpy()
    np.testing.assert_allclose(report["jacobian"], expected, rtol=1e-12, atol=1e-15)
    assert report["value"] == pytest.approx(model(point).tolist(), rel=1e-12)
    assert "symbolic_jacobian" not in report
    if widths[0] == widths[-1] == 2:
        assert report["det"] == pytest.approx(float(np.linalg.det(expected)), rel=1e-12)
    else:
        assert report["det"] is None
    assert len(report["singular_values"]) == min(widths[0], widths[-1])


def test_probe_refuses_a_bad_network_file(capsys, tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(range(256)) * 4)
    status, out, err = run(capsys, "probe", "--network", str(path), "--at", "1,2")
    assert status == 2 and out == ""
    assert err.startswith("jacviz: error: ") and err.count("\n") == 1 and "noise.pt" in err


def test_probe_needs_exactly_one_of_map_and_network(capsys, tmp_path):
    _, path = saved_mlp(tmp_path, [2, 4, 2])
    status, _, err = run(capsys, "probe", "--map", "x, y", "--network", str(path), "--at", "1,2")
    assert status == 2 and "not allowed with" in err


def test_the_app_refuses_a_network_it_cannot_show_before_opening(capsys, tmp_path):
    _, path = saved_mlp(tmp_path, [2, 4, 1])
    status, _, err = run(capsys, str(path))  # jacviz FILE means jacviz --network FILE
    assert status == 2 and "1 output" in err and "'jacviz probe' reads any map" in err
    noise = tmp_path / "noise.bin"
    noise.write_bytes(b"\x00\x01garbage")
    status, _, err = run(capsys, str(noise))
    assert status == 2 and "noise.bin" in err


def test_the_app_accepts_a_network_with_more_inputs_to_show_on_a_plane(
    capsys, monkeypatch, tmp_path
):
    import jacviz.gui.shell.app

    opened = []
    monkeypatch.setattr(
        jacviz.gui.shell.app,
        "run_app",
        lambda state=None, network=None: opened.append((state, network)) or 0,
    )
    _, path = saved_mlp(tmp_path, [3, 4, 2])
    status, _, err = run(capsys, str(path))
    assert status == 0, err
    # Opened as File → Open network opens it (a classifier on its regions and domain).
    assert opened == [(None, str(path.resolve()))]


def hostile_files(tmp_path):
    """The inputs the fuzz campaign hands to every file option, made in ``tmp_path``."""
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "garbage.bin").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "huge.csv").write_text("x,y,label\n1e308,1,a\n1,-1e308,b\n")
    (tmp_path / "digits.csv").write_text("x,y,label\n１,2,a\n1_0,4,b\n")
    latin = os.fsdecode(bytes(tmp_path) + b"/\xff.csv")
    with open(latin, "w") as handle:
        handle.write("x,y,label\n" + "".join(f"{i / 7},{i % 3},{i % 2}\n" for i in range(30)))
    return {"fifo": str(fifo), "dir": str(tmp_path / "dir.csv"), "latin": latin, "t": tmp_path}


# A fixed sample of what tests/cli_fuzz.py tries, one or two per class it found.
FUZZ_SAMPLE = [
    ["probe", "--map", "x, y", "--at", "1e308,-1e308", "--json"],
    ["probe", "--map", "x*1e308, y/1e-308", "--at", "10,1e-10", "--json"],
    ["probe", "--map", "\udcff, y", "--at", "1,2"],
    ["probe", "--map", "x, y", "--at", "\x1b[31m,2"],
    ["probe", "--network", "{fifo}", "--at", "1,2"],
    ["probe", "--network", "{dir}", "--at", "1,2"],
    ["probe", "--network", "{t}/garbage.bin", "--at", "1,2", "--json"],
    ["train", "--steps", "5", "--points", "40", "--hidden", "4", "--csv", "{fifo}"],
    ["train", "--steps", "5", "--points", "40", "--hidden", "4", "--csv", "{t}/huge.csv"],
    ["train", "--steps", "5", "--points", "40", "--hidden", "4", "--csv", "{t}/digits.csv"],
    ["train", "--steps", "5", "--hidden", "4", "--epsilons", "0.1", "--csv", "{latin}", "--json"],
    ["train", "--steps", "5", "--points", "40", "--hidden", "4,,4"],
    ["train", "--steps", "5", "--points", "40", "--hidden", "4", "--out", "{fifo}"],
    ["train", "--steps", "5", "--points", "40", "--hidden", "4", "--out", "/dev/null"],
    ["train", "--seed", "-0", "--steps", "5", "--points", "40", "--hidden", "4", "--json"],
    ["train", "--learning-rate", "+.5", "--steps", "5", "--points", "40", "--hidden", "4"],
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("argv", FUZZ_SAMPLE, ids=range(len(FUZZ_SAMPLE)))
def test_a_fixed_sample_of_the_fuzz_campaign(capsys, tmp_path, argv):
    files = hostile_files(tmp_path)
    status, out, err = run(capsys, *(word.format(**files) for word in argv))
    assert status in (0, 2), err
    assert "Traceback" not in err
    assert len(err.splitlines()) == (1 if status else 0)
    if status == 0 and "--json" in argv:
        json.loads(out, parse_constant=lambda c: pytest.fail(f"JSON holds {c}"))


def test_an_ascii_terminal_gets_escapes_and_json_stays_valid(tmp_path):
    import os

    env = dict(os.environ, PYTHONIOENCODING="ascii:strict")
    command = [sys.executable, "-m", "jacviz", "probe", "--map", "x**2 + y, x*y", "--at", "1,2"]
    text = subprocess.run(command, capture_output=True, env=env, timeout=120)
    assert text.returncode == 0 and text.stderr == b""
    assert b"\\u03c31 = 3.16228" in text.stdout  # σ1, escaped: the ASCII terminal shows it
    result = subprocess.run([*command, "--json"], capture_output=True, env=env, timeout=120)
    assert result.returncode == 0 and result.stderr == b""
    assert json.loads(result.stdout)["jacobian"] == [[2.0, 1.0], [2.0, 1.0]]


# ---- jacviz lab ----------------------------------------------------------------------------------


def lab_launches(monkeypatch):
    """Keep ``jacviz lab`` from starting the app: what it would open the lab on, instead."""
    import jacviz.gui.shell.app

    opened = []
    monkeypatch.setattr(jacviz.gui.shell.app, "run_app", lambda lab=None: opened.append(lab) or 0)
    return opened


def test_jacviz_lab_opens_the_lab_on_its_own_start(capsys, monkeypatch):
    from jacviz.state.lab import LAB_START

    opened = lab_launches(monkeypatch)
    status, _, err = run(capsys, "lab")
    assert status == 0, err
    (start,) = opened
    assert start.model == LAB_START.model and start.data == LAB_START.data and start.csv is None


def test_jacviz_lab_takes_the_train_options_to_preset_the_lab(capsys, monkeypatch, tmp_path):
    opened = lab_launches(monkeypatch)
    status, _, err = run(
        capsys, "lab", "--dataset", "spirals", "--points", "120", "--seed", "4",
        "--jr-lambda", "0.01", "--hidden", "16,8", "--steps", "500",
    )  # fmt: skip
    assert status == 0, err
    (start,) = opened
    assert (start.data.name, start.data.n_points, start.data.seed) == ("spirals", 120, 4)
    assert start.model.config().jr_lambda == 0.01
    assert start.model.config().hidden == (16, 8) and start.model.config().steps == 500
    points = tmp_path / "points.csv"
    points.write_text("x,y,label\n" + "".join(f"{i / 7},{i % 3},{i % 2}\n" for i in range(30)))
    status, _, err = run(capsys, "lab", "--csv", str(points))
    assert status == 0, err
    assert opened[-1].csv == str(points.resolve())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--jr-lambda", "-1"], "λ must be a number from 0 to 1e+06, got -1"),
        (["--dataset", "nope"], "invalid choice: 'nope'"),
        (["--hidden", "4,,4"], "--hidden"),
        (["--csv", "nowhere.csv"], "nowhere.csv"),
        (["--map", "x, y"], "unrecognized arguments: --map"),
    ],
)
def test_jacviz_lab_refuses_bad_settings_before_any_window(capsys, monkeypatch, argv, message):
    opened = lab_launches(monkeypatch)
    status, out, err = run(capsys, "lab", *argv)
    assert status == 2 and out == "" and opened == []
    assert len(err.splitlines()) == 1 and message in err, err


def test_the_lab_opens_in_front_on_the_settings_given(window, qtbot):
    from jacviz.gui.shell.app import LabStart, open_lab
    from jacviz.nets.training import TrainConfig
    from jacviz.state.lab import DataSettings, ModelSettings

    model = ModelSettings.from_config(TrainConfig(hidden=(8,), jr_lambda=0.2, steps=300))
    open_lab(window, LabStart(model=model, data=DataSettings(name="circles", seed=2)))
    lab = window.lab_window
    assert lab is not None and lab.isVisible()
    state = lab.controller.state
    assert state.model == model
    assert (state.data.name, state.data.seed) == ("circles", 2)
    assert lab.controller.dataset.name.startswith("circles")
    window.close_lab()
