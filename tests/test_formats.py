"""Networks as people save them: torch.export with a static batch, state dicts, traced files.

Every format is checked the way a user meets it (``load_network``, which hosts code in a child
process, and ``jacviz probe --network FILE --json``), values and Jacobians against
``torch.func.jacrev`` of the original module.
"""

import itertools
import json

import numpy as np
import pytest
import torch
from torch import nn

from jacviz.cli import main
from jacviz.nets.networks import NetworkError, load_network

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")


def random_points(n, count=9, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(count, n, generator=generator, dtype=torch.float64) * 4 - 2


def jacrev_reference(module, points):
    """Values and Jacobians of ``module`` at ``points``, one point at a time, by jacrev."""
    points = points.to(next(module.parameters()).dtype)
    single = lambda p: module(p[None])[0]  # noqa: E731
    with torch.no_grad():
        values = module(points)
    jacobians = torch.stack([torch.func.jacrev(single)(p) for p in points])
    return values.double().numpy(), jacobians.detach().double().numpy()


# Float32 tolerances: both sides compute in float32 with the same ops; batched and vmapped
# matmuls may sum in another order than single-point ones. Entries are sums of at most ~32
# products of O(1) factors (weights ~ 1/sqrt(width), |tanh'| <= 1, points in [-2, 2]), each
# rounded to eps = 6e-8 relative, so differences stay below ~32 * 6e-8 * |sum| ~ 2e-6 * scale.
F32 = {"rtol": 1e-5, "atol": 2e-6}


def assert_matches(network, module, points, tolerance=F32):
    values, jacobian = network.as_map().evaluate_with_jacobian(points.numpy())
    expected_values, expected = jacrev_reference(module, points)
    assert jacobian.shape == (len(points), network.output_dim, network.input_dim)
    np.testing.assert_allclose(values, expected_values, **tolerance)
    np.testing.assert_allclose(jacobian, expected, **tolerance)


def probe_json(capsys, path, at, *extra):
    status = main(["probe", "--network", str(path), "--at", at, "--json", *extra])
    out, err = capsys.readouterr()
    assert status == 0, err
    return json.loads(out)


def assert_probe_matches(capsys, path, module, point, *extra):
    report = probe_json(capsys, path, f"{point[0]},{point[1]}", *extra)
    values, jacobian = jacrev_reference(module, torch.tensor([point], dtype=torch.float64))
    np.testing.assert_allclose(report["value"], values[0], **F32)
    np.testing.assert_allclose(report["jacobian"], jacobian[0], **F32)


def refusal(path, *fragments, **options):
    with pytest.raises(NetworkError) as info:
        load_network(path, **options)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# ----------------------------------------------------------------------------------------------
# torch.export with a static batch
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def static_exports(tmp_path_factory):
    """Programs exported the default way: the example input's batch is baked in."""
    folder = tmp_path_factory.mktemp("static")
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.GELU())
    model = nn.Sequential(*model, nn.Linear(16, 3)).eval()
    for batch in (1, 4):
        program = torch.export.export(model, (torch.zeros(batch, 2),))
        torch.export.save(program, folder / f"static{batch}.pt2")
    return model, folder


@pytest.mark.timeout(300)
@pytest.mark.parametrize("batch", [1, 4])
def test_export_with_a_static_batch_loads_through_vmap(static_exports, batch, capsys):
    model, folder = static_exports
    path = folder / f"static{batch}.pt2"
    network = load_network(path)  # hosted, as the app and the CLI load it
    assert (network.format, network.input_dim, network.output_dim) == ("torch-export", 2, 3)
    what = "one point" if batch == 1 else f"a static batch of {batch} points"
    assert network.jacobian_method == (
        f"autograd through torch.func.vmap over the torch.export program for {what}, "
        "in a separate process"
    )
    # 9 points: not a multiple of 4, so the last chunk is padded.
    assert_matches(network, model, random_points(2))
    assert network.as_map().evaluate(np.zeros((3000, 2))).shape == (3000, 3)
    network.close()
    here = load_network(path, isolated=False)
    assert_matches(here, model, random_points(2, count=5, seed=1))
    assert_probe_matches(capsys, path, model, (0.3, -1.2))


@pytest.mark.timeout(300)
def test_export_with_a_dynamic_batch_keeps_its_fast_path(tmp_path):
    torch.manual_seed(6)
    model = nn.Sequential(nn.Linear(2, 8), nn.Softplus(), nn.Linear(8, 2)).eval()
    program = torch.export.export(
        model, (torch.zeros(8, 2),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(program, tmp_path / "dynamic.pt2")
    here = load_network(tmp_path / "dynamic.pt2", isolated=False)
    assert type(here.module).__name__ == "_ExportedModule"  # no vmap, no padding
    assert here.evaluation == "the torch.export program, with a dynamic batch"
    assert_matches(here, model, random_points(2))


def test_export_refusals_stay_one_line(tmp_path):
    class TwoInputs(nn.Module):
        def forward(self, x, y):
            return x + y

    program = torch.export.export(TwoInputs(), (torch.zeros(1, 2), torch.zeros(1, 2)))
    torch.export.save(program, tmp_path / "two.pt2")
    refusal(tmp_path / "two.pt2", "two.pt2", isolated=False)

    class Flat(nn.Module):
        def forward(self, x):
            return x * 2

    program = torch.export.export(Flat(), (torch.zeros(3),))
    torch.export.save(program, tmp_path / "flat.pt2")
    refusal(tmp_path / "flat.pt2", "flat.pt2", "(N, n) tensor", isolated=False)


# ----------------------------------------------------------------------------------------------
# torch.jit.trace with a fixed batch
# ----------------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
@pytest.mark.parametrize("batch", [1, 5])
def test_traced_with_a_fixed_batch_keeps_working(tmp_path, batch):
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2)).eval()
    path = tmp_path / "traced.pt"
    torch.jit.save(torch.jit.trace(model, torch.zeros(batch, 2)), path)
    network = load_network(path)
    # The trace holds no batch size: the child runs it on whole chunks of points.
    assert network.jacobian_method == (
        f"autograd through the TorchScript module traced at a batch of {batch}, run on up to "
        "2048 points at once (its trace takes any batch), in a separate process"
    )
    assert_matches(network, model, random_points(2))
    network.close()


class BakedBatch(nn.Module):
    """A forward whose trace keeps the batch it was traced at (a reshape to a fixed size)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).reshape(3, 2)


def test_a_trace_that_keeps_its_batch_is_refused_saying_how_to_save_it(tmp_path):
    path = tmp_path / "baked.pt"
    torch.jit.save(torch.jit.trace(BakedBatch().eval(), torch.zeros(3, 2)), path)
    with pytest.raises(NetworkError) as info:
        load_network(path)
    message = str(info.value)
    assert "\n" not in message
    assert "traced with torch.jit.trace at a batch of 3" in message
    assert "torch.jit.script(model)" in message


def test_the_traced_batch_is_read_without_unpickling(tmp_path):
    import zipfile

    from jacviz.nets.networks.torchscript import traced_batch

    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2)).eval()
    for batch in (1, 7, 300):
        path = tmp_path / f"t{batch}.pt"
        torch.jit.save(torch.jit.trace(model, torch.zeros(batch, 2)), path)
        with zipfile.ZipFile(path) as archive:
            entry = next(n for n in archive.namelist() if n.endswith("/traced_inputs.pkl"))
            assert traced_batch(archive.read(entry)) == batch
    assert traced_batch(b"not a pickle") is None
    assert traced_batch(b"\x80\x02}q\x00.") is None  # an empty dict: no tensor


# ----------------------------------------------------------------------------------------------
# torch.save(model.state_dict()) of an MLP
# ----------------------------------------------------------------------------------------------

ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}


def mlp(widths, activation, seed=0):
    torch.manual_seed(seed)
    layers = []
    for index, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(n_in, n_out))
        if index < len(widths) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers).eval()


def test_the_command_line_offers_exactly_the_activations_jacviz_rebuilds():
    from jacviz.cli.arguments import ACTIVATION_CHOICES
    from jacviz.nets.networks import ACTIVATIONS as BUILT

    assert ACTIVATION_CHOICES == tuple(BUILT) == tuple(ACTIVATIONS)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("widths", [(2, 16, 2), (2, 32, 32, 3)])
def test_state_dicts_of_mlps_load_with_their_activation(tmp_path, capsys, widths, activation):
    model = mlp(widths, activation, seed=len(widths))
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    network = load_network(path, activation=activation)
    assert (network.format, network.input_dim, network.output_dim) == (
        "state-dict",
        2,
        widths[-1],
    )
    # Rebuilt as a chain of Linear layers and activations: Jacobians by forward tangents.
    assert network.as_map().jacobian_method == "forward tangents"
    assert_matches(network, model, random_points(2))
    assert_probe_matches(capsys, path, model, (0.7, -0.4), "--activation", activation)


def test_a_state_dict_without_its_activation_says_how_to_give_it(tmp_path, capsys):
    from jacviz.nets.networks import ActivationNeeded

    path = tmp_path / "weights.pt"
    torch.save(mlp((2, 4, 2), "tanh").state_dict(), path)
    with pytest.raises(ActivationNeeded) as info:
        load_network(path)
    message = str(info.value)
    assert "\n" not in message and "--activation tanh|relu|gelu|softplus|sigmoid" in message
    assert main(["probe", "--network", str(path), "--at", "0,0"]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "--activation" in err


def test_a_float64_state_dict_keeps_its_dtype(tmp_path):
    model = mlp((2, 8, 8, 2), "softplus").double()
    torch.save(model.state_dict(), tmp_path / "w64.pt")
    network = load_network(tmp_path / "w64.pt", activation="softplus")
    assert next(network.module.parameters()).dtype == torch.float64
    # Same float64 ops both sides: agreement to rounding.
    assert_matches(network, model, random_points(2), {"rtol": 1e-12, "atol": 1e-13})


def _edited(state, edit):
    state = dict(state)
    edit(state)
    return state


GOOD = mlp((2, 8, 8, 2), "tanh").state_dict()

MALFORMED = [
    (
        nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).state_dict(),
        "running_mean",
    ),
    (_edited(GOOD, lambda s: s.pop("2.weight")), "'2.weight' is missing"),
    (_edited(GOOD, lambda s: [s.pop("2.weight"), s.pop("2.bias")]), "not 0, 2, 4"),
    (_edited(GOOD, lambda s: s.update({"4.weight": torch.zeros(2, 5)})), "takes 5 inputs"),
    (_edited(GOOD, lambda s: s.update({"0.bias": torch.zeros(3)})), "0.bias has shape (3,)"),
    (_edited(GOOD, lambda s: s.update({"0.weight": torch.zeros(8, 2, 1)})), "not (out, in)"),
    (_edited(GOOD, lambda s: s.update({"2.weight": s["2.weight"].long()})), "int64"),
    (_edited(GOOD, lambda s: s.update({"2.weight": s["2.weight"].double()})), "mix"),
    (_edited(GOOD, lambda s: s.update({"0.weight": s["0.weight"] * float("nan")})), "NaN"),
    ({"encoder.0.weight": torch.zeros(4, 2)}, "encoder.0.weight"),
    ({}, "does not unpickle"),  # no tensors: no state dict, the pickle refusal
    ({"0.weight": torch.zeros(4, 1), "2.weight": torch.zeros(2, 4)}, "at least 2 inputs"),
    ({"0.weight": torch.zeros(4, 2), "2.weight": [1, 2]}, "list, not a tensor"),
    ({"weights": torch.zeros(4, 2)}, "'weights'"),
    ([torch.zeros(4, 2)], "list, not a dict"),
]


@pytest.mark.parametrize(("state", "fragment"), MALFORMED)
def test_state_dicts_jacviz_cannot_rebuild_are_refused_in_one_line(tmp_path, state, fragment):
    path = tmp_path / "odd.pt"
    torch.save(state, path)
    refusal(path, "odd.pt", fragment, activation="tanh")


def test_a_full_model_pickle_is_still_refused_with_how_to_save_instead(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(mlp((2, 4, 2), "tanh"), path)
    for activation in (None, "tanh"):
        refusal(path, "model.pt", "does not unpickle", "torch.jit.save", activation=activation)


def test_an_unknown_activation_is_refused(tmp_path, capsys):
    path = tmp_path / "weights.pt"
    torch.save(mlp((2, 4, 2), "tanh").state_dict(), path)
    refusal(path, "unknown activation 'swish'", activation="swish")
    assert main(["probe", "--network", str(path), "--at", "0,0", "--activation", "swish"]) == 2
    _, err = capsys.readouterr()
    assert err.count("\n") == 1 and "--activation" in err


@pytest.mark.timeout(180)
def test_the_app_asks_for_a_state_dicts_activation(qtbot, window, tmp_path, monkeypatch):
    from jacviz.gui.shell import activation_dialog

    model = mlp((2, 16, 2), "gelu")
    path = tmp_path / "asked.pt"
    torch.save(model.state_dict(), path)
    asked = []

    def cancel(parent, name):
        asked.append(name)
        return None

    monkeypatch.setattr(activation_dialog, "ask_activation", cancel)
    assert not window.open_network(str(path))  # cancelled: nothing loaded, no problem dialog
    assert asked == ["asked.pt"] and window.controller.state.network is None

    def gelu(parent, name):
        asked.append(name)
        return "gelu"

    monkeypatch.setattr(activation_dialog, "ask_activation", gelu)
    assert window.open_network(str(path))
    assert asked == ["asked.pt", "asked.pt"]
    shown = window.controller.map
    expected_values, expected = jacrev_reference(model, random_points(2))
    values, jacobian = shown.evaluate_with_jacobian(random_points(2).numpy())
    np.testing.assert_allclose(values, expected_values, **F32)
    np.testing.assert_allclose(jacobian, expected, **F32)
    assert "Jacobians by forward tangents" in window.statusBar().currentMessage()
    assert window.open_network(str(path))  # asked once per file and run
    assert len(asked) == 2
    # A session embeds the rebuilt network in jacviz's format: it reopens without asking,
    # even once the state dict is gone.
    from jacviz.state.session import load_session

    assert window.sessions.save_to(tmp_path / "kept.jacviz")
    path.unlink()
    assert load_session(tmp_path / "kept.jacviz").network_data[:8] != b"PK\x03\x04"
    assert window.sessions.open_session(tmp_path / "kept.jacviz")
    values, _ = window.controller.map.evaluate_with_jacobian(random_points(2).numpy())
    np.testing.assert_allclose(values, expected_values, **F32)
    assert len(asked) == 2


@pytest.mark.timeout(240)
def test_a_state_dicts_activation_is_remembered_across_restarts(
    qtbot, window, settings, tmp_path, monkeypatch
):
    import os

    from jacviz.gui.mapview.loaded_network import forget_chosen_activations
    from jacviz.gui.shell import activation_dialog
    from jacviz.gui.shell.main_window import MainWindow

    model = mlp((2, 8, 2), "softplus")
    path = tmp_path / "kept.pt"
    torch.save(model.state_dict(), path)
    asked = []

    def softplus(parent, name):
        asked.append(name)
        return "softplus"

    monkeypatch.setattr(activation_dialog, "ask_activation", softplus)
    assert window.open_network(str(path)) and asked == ["kept.pt"]
    assert "rebuilt as an nn.Sequential of Linear layers with softplus" in (
        window.statusBar().currentMessage()
    )
    window.close()  # the view, with the state dict on screen, is kept in the settings

    def restart() -> MainWindow:
        forget_chosen_activations()  # a new run knows nothing of the last one's choices
        again = MainWindow(None, settings)
        qtbot.addWidget(again)
        again.show()
        again.controller.finish_loading()
        return again

    again = restart()  # the last view comes back, the activation with it: no question
    assert again.controller.state.network == str(path) and asked == ["kept.pt"]
    expected_values, expected = jacrev_reference(model, random_points(2))
    values, jacobian = again.controller.map.evaluate_with_jacobian(random_points(2).numpy())
    np.testing.assert_allclose(values, expected_values, **F32)
    np.testing.assert_allclose(jacobian, expected, **F32)
    again.close()
    again = restart()  # reopening the unchanged file in a later run does not ask either
    assert again.open_network(str(path)) and asked == ["kept.pt"]
    # A file that changed since is another network: its activation is asked for again.
    torch.save(mlp((2, 8, 2), "softplus", seed=5).state_dict(), path)
    os.utime(path, ns=(1, 1))
    forget_chosen_activations()
    assert again.open_network(str(path)) and asked == ["kept.pt", "kept.pt"]
    again.close()


def test_the_remembered_activations_are_read_as_strictly_as_a_session(settings, tmp_path):
    from jacviz.gui.shell.activation_dialog import (
        ACTIVATIONS_KEY,
        recall_activation,
        remember_activation,
    )

    path = tmp_path / "w.pt"
    torch.save(mlp((2, 4, 2), "relu").state_dict(), path)
    wrong = json.dumps({str(path): [1, 2, "os.system"]})
    for hostile in ("{", "[1]", wrong, '{"x": "relu"}', 7):
        settings.setValue(ACTIVATIONS_KEY, hostile)
        assert recall_activation(settings, str(path)) is None
    remember_activation(settings, str(path), "relu")
    assert recall_activation(settings, str(path)) == "relu"
    remember_activation(settings, str(tmp_path / "gone.pt"), "relu")  # no file: not kept
    assert str(tmp_path / "gone.pt") not in str(settings.value(ACTIVATIONS_KEY))


def test_the_app_offers_exactly_the_activations_jacviz_rebuilds():
    from jacviz.gui.shell.activation_dialog import ACTIVATIONS as OFFERED
    from jacviz.nets.networks import ACTIVATIONS as BUILT

    assert OFFERED == tuple(BUILT)


@pytest.mark.timeout(180)
def test_render_takes_a_state_dict_with_its_activation(tmp_path, capsys):
    path = tmp_path / "weights.pt"
    torch.save(mlp((2, 16, 2), "sigmoid").state_dict(), path)
    out = tmp_path / "view.png"
    command = ["render", "--network", str(path), "--out", str(out), "--size", "640x480"]
    assert main(command) == 2  # no activation: one line saying how to give it
    assert capsys.readouterr().err.count("\n") == 1 and not out.exists()
    assert main([*command, "--activation", "sigmoid"]) == 0
    assert out.stat().st_size > 0


# ----------------------------------------------------------------------------------------------
# The status bar names the path that computes the Jacobians
# ----------------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_the_status_bar_names_the_jacobian_path_of_each_format(
    qtbot, window, tmp_path, static_exports
):
    _, folder = static_exports
    model = mlp((2, 8, 2), "tanh")
    traced = tmp_path / "traced.pt"
    torch.jit.save(torch.jit.trace(model, torch.zeros(3, 2)), traced)
    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(model), scripted)
    dynamic = tmp_path / "dynamic.pt2"
    program = torch.export.export(
        model, (torch.zeros(8, 2),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    torch.export.save(program, dynamic)
    expected = {
        traced: "Jacobians by autograd through the TorchScript module traced at a batch of 3, "
        "run on up to 2048 points at once (its trace takes any batch), in a separate process.",
        scripted: "Jacobians by autograd through the TorchScript module, in a separate process.",
        folder / "static1.pt2": "Jacobians by autograd through torch.func.vmap over the "
        "torch.export program for one point, in a separate process.",
        folder / "static4.pt2": "Jacobians by autograd through torch.func.vmap over the "
        "torch.export program for a static batch of 4 points, in a separate process.",
        dynamic: "Jacobians by autograd through the torch.export program, with a dynamic "
        "batch, in a separate process.",
    }
    for path, text in expected.items():
        assert window.open_network(str(path)), path
        assert text in window.statusBar().currentMessage(), window.statusBar().currentMessage()
