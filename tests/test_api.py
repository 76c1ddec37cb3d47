"""The Python API (``import jacviz``): every entry point, every kind of object it takes.

Jacobians are checked against ``torch.func.jacrev`` in float64, where forward tangents and
autograd agree with it to rounding (1e-12 relative); the probe's dict against the command's
JSON, exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import jacviz


def run_probe_json(*options: str) -> dict:
    command = [sys.executable, "-m", "jacviz", "probe", *options, "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(result.stdout)


class Swirl(nn.Module):
    """Not a Sequential: a custom forward, so Jacobians go through autograd."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 3, dtype=torch.float64)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.linear(x))
        return torch.stack([h[:, 0] * x[:, 1], h[:, 1] + h[:, 2] ** 2], dim=1)


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def reference(function, point) -> tuple[np.ndarray, np.ndarray]:
    x = torch.tensor(point, dtype=torch.float64)
    with torch.no_grad():
        value = function(x[None])[0]
    jacobian = torch.func.jacrev(lambda p: function(p[None])[0])(x)
    return value.detach().numpy(), jacobian.detach().numpy()


def test_a_formula_probe_is_the_commands_json_exactly():
    result = jacviz.probe("x**2 + y, x*y", (1, 2))
    assert result.to_dict() == run_probe_json("--map", "x**2 + y, x*y", "--at", "1,2")
    np.testing.assert_array_equal(result.jacobian, [[2.0, 1.0], [2.0, 1.0]])
    assert result.det == 0.0 and result.symbolic_jacobian == [["2*x", "1"], ["y", "x"]]
    assert result.frobenius == pytest.approx(np.sqrt(10), rel=1e-15)
    assert result.condition == np.inf and result.warnings


def test_h_measures_the_linearization_error_which_shrinks_like_h_squared():
    # f = (x², xy): the remainder over p + [0, h]² is exactly (δx², δx·δy), largest at the
    # far corner: sqrt(2)·h².
    for h in (0.1, 0.01):
        result = jacviz.probe("x**2, x*y", (1, 2), h=h)
        assert result.error == pytest.approx(np.sqrt(2) * h**2, rel=1e-9)
    assert jacviz.probe("x, y", (0, 0)).error is None


@pytest.mark.parametrize("make", [mlp, Swirl], ids=["sequential", "custom-forward"])
def test_a_module_matches_jacrev_and_is_handed_back_unchanged(make):
    module = make().train()
    module[0].weight.requires_grad_(False) if isinstance(module, nn.Sequential) else None
    grads = [p.requires_grad for p in module.parameters()]
    modes = [m.training for m in module.modules()]
    hooks = [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in module.modules()]
    result = jacviz.probe(module, (0.5, -1.25))
    module.eval()  # the reference, without dropout
    value, jacobian = reference(module, (0.5, -1.25))
    np.testing.assert_allclose(result.value, value, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.jacobian, jacobian, rtol=1e-12, atol=1e-14)
    assert result.jacobian.shape == (value.size, 2)
    assert (result.det is None) == (value.size != 2)
    module.train()
    assert [p.requires_grad for p in module.parameters()] == grads
    assert [m.training for m in module.modules()] == modes
    assert [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in module.modules()] == hooks
    assert all(p.grad is None for p in module.parameters())


def test_a_module_in_eval_mode_stays_in_eval_mode():
    module = Swirl().eval()
    jacviz.probe(module, (1.0, 2.0))
    assert not any(m.training for m in module.modules())


def test_a_callable_matches_jacrev_in_float64_with_as_many_inputs_as_the_point():
    def f(p: torch.Tensor) -> torch.Tensor:
        return torch.stack([p[:, 0] * p[:, 2], torch.sin(p[:, 1]) + p[:, 0] ** 3], dim=1)

    result = jacviz.probe(f, (0.3, 2.0, -1.5))
    value, jacobian = reference(f, (0.3, 2.0, -1.5))
    np.testing.assert_allclose(result.value, value, rtol=1e-15)
    np.testing.assert_allclose(result.jacobian, jacobian, rtol=1e-15, atol=1e-300)
    assert result.det is None and result.symbolic_jacobian is None


def test_a_float32_callable_is_evaluated_in_float32():
    weight = torch.tensor([[1.0, 2.0], [3.0, -1.0]])  # float32: float64 input fails on it

    result = jacviz.probe(lambda p: p @ weight.T, (1.0, 1.0))
    np.testing.assert_array_equal(result.jacobian, weight.numpy())
    assert result.det == pytest.approx(-7.0, rel=1e-7)


def test_a_network_file_is_read_as_the_command_reads_it(tmp_path):
    from jacviz.nets.networks import save_mlp

    path = tmp_path / "net.safetensors"
    save_mlp(nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2)), path)
    expected = run_probe_json("--network", str(path), "--at", "0.5,-1")
    assert jacviz.probe(path, (0.5, -1)).to_dict() == expected
    assert jacviz.probe(str(path), [0.5, -1]).to_dict() == expected


def test_a_torchscript_file_runs_in_its_child_and_says_what_it_printed(tmp_path):
    class Loud(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            print("hello from the network")
            return torch.stack([x[:, 0] * x[:, 1], x[:, 0] - x[:, 1]], dim=1)

    path = tmp_path / "loud.pt"
    torch.jit.save(torch.jit.script(Loud()), path)
    result = jacviz.probe(path, (2.0, 3.0))
    np.testing.assert_allclose(result.jacobian, [[3.0, 2.0], [1.0, -1.0]], rtol=1e-6)
    assert result.to_dict() == run_probe_json("--network", str(path), "--at", "2,3")


@pytest.mark.parametrize(
    ("obj", "at", "fragment"),
    [
        (3, (1, 2), "cannot read a int as a map"),
        ("x**", (1, 2), "bad formula"),
        ("x, y", (1, 2, 3), "at expects 2 coordinates"),
        ("x, y", "one", "at must be a point"),
        (lambda p: p.sum(), (1, 2), "must map (N, 2) tensors to (N, m)"),
        (lambda p: 1 / 0, (1, 2), "failed on a batch of shape (1, 2): ZeroDivisionError"),
        ("missing.safetensors", (1, 2), "missing.safetensors"),
    ],
)
def test_anything_else_is_refused_in_one_line(obj, at, fragment):
    with pytest.raises(ValueError, match=None) as caught:
        jacviz.probe(obj, at)
    message = str(caught.value)
    assert fragment in message and "\n" not in message


def test_help_on_probe_says_what_it_takes():
    assert "nn.Module" in jacviz.probe.__doc__ and "to_dict" in jacviz.probe.__doc__


# ---- jacviz.jacobian_field ----------------------------------------------------------------------


def test_a_formulas_field_is_its_closed_form_on_pixel_centres():
    field = jacviz.jacobian_field("x**2 - y**2, 2*x*y", (-1, 1, -2, 2), (4, 3))
    np.testing.assert_allclose(field.x, [-0.75, -0.25, 0.25, 0.75], rtol=1e-15)
    np.testing.assert_allclose(field.y, [-4 / 3, 0, 4 / 3], rtol=1e-15, atol=1e-15)
    x, y = np.meshgrid(field.x, field.y)
    assert field.jacobian.shape == (3, 4, 2, 2) and field.values.shape == (3, 4, 2)
    np.testing.assert_allclose(field.jacobian[..., 0, 0], 2 * x, rtol=1e-15)
    np.testing.assert_allclose(field.jacobian[..., 0, 1], -2 * y, rtol=1e-15)
    # z²: det J = |2z|² = 4(x² + y²), σ1 = σ2 = 2|z|, ‖J‖F = 2·sqrt(2)·|z|, condition 1.
    r2 = x**2 + y**2
    np.testing.assert_allclose(field.det, 4 * r2, rtol=1e-14)
    np.testing.assert_allclose(field.singular_values[..., 0], 2 * np.sqrt(r2), rtol=1e-14)
    np.testing.assert_allclose(field.frobenius, 2 * np.sqrt(2 * r2), rtol=1e-14)
    np.testing.assert_allclose(field.condition, 1.0, rtol=1e-12)


def test_a_modules_field_matches_jacrev_and_a_3_output_one_has_no_det():
    module = mlp().train()
    field = jacviz.jacobian_field(module, (-1, 2, -3, 0), 5)
    module.eval()
    x, y = np.meshgrid(field.x, field.y)
    points = torch.from_numpy(np.column_stack([x.ravel(), y.ravel()]))
    expected = torch.func.vmap(torch.func.jacrev(lambda p: module(p[None])[0]))(points)
    np.testing.assert_allclose(
        field.jacobian.reshape(-1, 3, 2), expected.detach().numpy(), rtol=1e-12, atol=1e-14
    )
    assert field.det is None and field.singular_values.shape == (5, 5, 2)
    sigma = np.linalg.svd(expected.detach().numpy(), compute_uv=False)
    np.testing.assert_allclose(field.singular_values.reshape(-1, 2), sigma, rtol=1e-10)
    assert module.training is False  # as set above; the call restored train mode before


@pytest.mark.parametrize(
    ("domain", "resolution", "fragment"),
    [
        ((1, 0, 0, 1), 4, "domain:"),
        ((0, 1, 0), 4, "domain must be (xmin, xmax, ymin, ymax)"),
        ((0, 1, 0, 1), 0, "resolution must be a whole number"),
        ((0, 1, 0, 1), 2.5, "resolution must be a whole number"),
        ((0, 1, 0, 1), 10**6, "ask for fewer"),
    ],
)
def test_a_bad_grid_is_refused_in_one_line(domain, resolution, fragment):
    with pytest.raises(ValueError) as caught:
        jacviz.jacobian_field("x, y", domain, resolution)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_a_field_needs_a_network_of_2_inputs(tmp_path):
    from jacviz.nets.networks import save_mlp

    path = tmp_path / "three.safetensors"
    save_mlp(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), path)
    with pytest.raises(ValueError, match="takes 3 inputs; a field over a rectangle needs 2"):
        jacviz.jacobian_field(path, (0, 1, 0, 1), 2)


# ---- jacviz.render ------------------------------------------------------------------------------


def z_squared(p: torch.Tensor) -> torch.Tensor:
    return torch.stack([p[:, 0] ** 2 - p[:, 1] ** 2, 2 * p[:, 0] * p[:, 1]], dim=1)


@pytest.mark.parametrize("view", ["input", "warp"])
def test_a_callable_in_memory_draws_what_its_formula_draws(qapp, view):
    options = dict(view=view, heatmap="det", probe=(0.5, 0.5), size=(400, 300))
    formula = jacviz.render("x**2 - y**2, 2*x*y", **options)
    held = jacviz.render(z_squared, **options)
    other = jacviz.render("x, y", **options)
    assert formula.shape == (300, 400, 4) and formula.dtype == np.uint8
    # The same drawing; only text naming the map ("z_squared", the formula) may differ.
    assert np.any(held != formula, axis=-1).mean() < 0.01
    assert np.any(other != formula, axis=-1).mean() > 0.1  # the picture depends on the map
    assert qapp is type(qapp).instance()  # the running application was used, not replaced


def test_render_writes_the_file_it_returns_and_leaves_the_module_as_it_was(qapp, tmp_path):
    from PyQt6.QtGui import QImage

    module = mlp().train()
    module = nn.Sequential(module[0], module[1], nn.Linear(8, 2).double())
    grads = [p.requires_grad for p in module.parameters()]
    image = jacviz.render(module, tmp_path / "net.png", view="input", size=(360, 280), scale=2)
    assert image.shape == (560, 720, 4)
    saved = QImage(str(tmp_path / "net.png")).convertToFormat(QImage.Format.Format_RGBA8888)
    assert (saved.width(), saved.height()) == (720, 560)
    pixels = np.frombuffer(saved.constBits().asstring(saved.sizeInBytes()), dtype=np.uint8)
    np.testing.assert_array_equal(pixels.reshape(560, 720, 4), image)
    assert module.training and all(m.training for m in module.modules())
    assert [p.requires_grad for p in module.parameters()] == grads
    jacviz.render(z_squared, tmp_path / "map.svg", view="warp", size=(400, 300))
    svg = (tmp_path / "map.svg").read_text()
    assert svg.lstrip().startswith("<?xml")
    assert "<title>jacviz — z_squared: output plane</title>" in svg  # not the state's formula


def test_a_network_file_renders_as_the_command_opens_it(qapp, tmp_path):
    from jacviz.nets.networks import save_mlp

    path = tmp_path / "net.safetensors"
    torch.manual_seed(1)
    save_mlp(nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2)), path)
    assert jacviz.render(path, view="input", size=(400, 300)).shape == (300, 400, 4)


@pytest.mark.parametrize(
    ("obj", "options", "fragment"),
    [
        ("x, y", {"view": "sideways"}, "unknown view"),
        ("x, y", {"heatmap": "sigma9"}, "unknown heatmap"),
        ("x, y", {"out": "picture.bmp"}, ".bmp"),
        ("x, y", {"size": (10, 10)}, "--size"),
        ("x**", {}, "bad formula"),
        (lambda p: p[:, :1], {}, "at least 2 outputs"),
    ],
)
def test_a_render_that_cannot_be_made_is_refused_in_one_line(qapp, obj, options, fragment):
    with pytest.raises(ValueError) as caught:
        jacviz.render(obj, **options)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


# ---- jacviz.show --------------------------------------------------------------------------------


def run_script(code: str, tmp_path) -> subprocess.CompletedProcess:
    """Run ``code`` offscreen, with the app's settings in ``tmp_path`` (never the user's)."""
    import os

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env
    )


def test_show_blocks_a_plain_script_until_the_window_closes(tmp_path):
    code = """
import torch
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication
import jacviz

app = QApplication([])
module = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
module.train()
closed = []
QTimer.singleShot(1500, lambda: (closed.append(1), app.closeAllWindows()))
window = jacviz.show(module, domain=(-1, 1, -1, 1), probe=(0.25, 0.5))
state = window.controller.state
print(bool(closed), QApplication.instance() is app, module.training, tuple(state.probe))
print(state.domain.xmin, state.domain.ymax)
"""
    result = run_script(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["True True True (0.25, 0.5)", "-1.0 1.0"]


def test_show_returns_at_once_inside_a_running_event_loop(tmp_path):
    code = """
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication
import jacviz

app = QApplication([])
def open_it():
    window = jacviz.show("x**2 - y**2, 2*x*y")
    print(window.isVisible(), window.controller.state.formula)
    app.closeAllWindows()
    app.quit()
QTimer.singleShot(0, open_it)
app.exec()
"""
    result = run_script(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "True x**2 - y**2, 2*x*y"


def test_ipython_with_a_qt_loop_makes_show_return_at_once(monkeypatch):
    import types

    from jacviz.gui.shell.app import event_loop_running

    shell = types.SimpleNamespace(active_eventloop=None)
    fake = types.SimpleNamespace(get_ipython=lambda: shell)
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert not event_loop_running()
    shell.active_eventloop = "qt"
    assert event_loop_running()


@pytest.mark.parametrize(
    ("obj", "options", "fragment"),
    [
        ("x**", {}, "bad formula"),
        ("x, y", {"domain": (0, 1)}, "domain must be"),
        (object(), {}, "cannot read a object as a map"),
    ],
)
def test_show_refuses_before_any_window_in_one_line(obj, options, fragment):
    with pytest.raises(ValueError) as caught:
        jacviz.show(obj, **options)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


# ---- jacviz.animate -----------------------------------------------------------------------------


def gif_frames(path) -> list[np.ndarray]:
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


def test_the_morph_of_a_callable_is_that_of_its_formula(qapp, tmp_path):
    options = dict(frames=3, fps=10, size=(400, 300))
    held = jacviz.animate(z_squared, tmp_path / "held.gif", **options)
    typed = jacviz.animate("x**2 - y**2, 2*x*y", tmp_path / "typed.gif", **options)
    assert held == tmp_path / "held.gif" and typed == tmp_path / "typed.gif"
    held_frames, typed_frames = gif_frames(held), gif_frames(typed)
    assert len(held_frames) == len(typed_frames) == 3
    assert held_frames[0].shape == (300, 400, 3)

    def changed(a: np.ndarray, b: np.ndarray) -> float:
        # GIF palettes differ with the caption, so colours off by palette rounding are equal.
        return (np.abs(a.astype(int) - b).sum(axis=-1) > 60).mean()

    for mine, theirs in zip(held_frames, typed_frames, strict=True):
        # The same drawing; only the caption's name of the map differs ("z_squared"): under
        # 1 % of the pixels, where a frame at another t changes more than 2 %.
        assert changed(mine, theirs) < 0.01
    assert changed(held_frames[0], held_frames[-1]) > 0.02
    assert changed(held_frames[-1], typed_frames[0]) > 0.02


def test_a_module_animates_and_is_handed_back_unchanged(qapp, tmp_path):
    module = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2)).train()
    path = jacviz.animate(module, tmp_path / "net.gif", frames=2, fps=5, size=(320, 240))
    assert len(gif_frames(path)) == 2
    assert module.training and all(p.requires_grad for p in module.parameters())


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"kind": "training"}, "kind must be 'morph'"),
        ({"frames": 1}, "frames must be a whole number 2 to"),
        ({"fps": 0}, "fps must be from 1 to"),
        ({"out": "morph.txt"}, ".txt"),
        ({"size": (5000, 5000), "frames": 100}, "million pixels"),
    ],
)
def test_an_animation_that_cannot_be_made_is_refused_in_one_line(options, fragment, tmp_path):
    out = options.pop("out", tmp_path / "morph.gif")
    with pytest.raises(ValueError) as caught:
        jacviz.animate("x, y", out, **options)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_a_module_used_from_two_threads_stays_in_eval_mode_until_both_are_done():
    # The app evaluates a map from its GUI thread and its heatmap thread at once: the first
    # to finish must not switch dropout back on under the other.
    from jacviz.api.objects import Borrowing

    module = Swirl().train()
    borrowing = Borrowing(module)
    with borrowing:
        with borrowing:
            assert not module.training and not module.linear.weight.requires_grad
        assert not module.training and not module.linear.weight.requires_grad
    assert all(m.training for m in module.modules()) and module.linear.weight.requires_grad


# ---- state dicts: the activation the file does not hold --------------------------------------


@pytest.mark.timeout(240)
def test_a_state_dict_is_read_with_the_activation_given(qapp, tmp_path):
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(2, 8), nn.GELU(), nn.Linear(8, 2)).double().eval()
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(ValueError) as caught:
        jacviz.probe(path, (0.5, -0.5))
    message = str(caught.value)
    assert "pass activation='tanh' (or relu, gelu, softplus, sigmoid)" in message
    assert "\n" not in message and "--activation" not in message
    with pytest.raises(ValueError, match="activation must be one of tanh, relu"):
        jacviz.probe(path, (0.5, -0.5), activation="swish")
    value, jacobian = reference(model, (0.5, -0.5))
    result = jacviz.probe(path, (0.5, -0.5), activation="gelu")
    np.testing.assert_allclose(result.value, value, rtol=1e-12)
    np.testing.assert_allclose(result.jacobian, jacobian, rtol=1e-12, atol=1e-15)
    field = jacviz.jacobian_field(path, (-1, 1, -1, 1), 4, activation="gelu")
    _, corner = reference(model, (field.x[0], field.y[0]))
    np.testing.assert_allclose(field.jacobian[0, 0], corner, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="pass activation="):
        jacviz.render(path, size=(320, 240))
    image = jacviz.render(path, view="warp", size=(320, 240), activation="gelu")
    assert image.shape == (240, 320, 4)
