"""Classifiers in the main window: a 2-class network's output plane shows something.

Its two logits are nearly opposite, so their own plane squashes the grid onto a line. An MLP
opens in its last hidden layer (top-2 principal directions), any other 2-class classifier on
its margin view (logit margin against the position along the boundary); both spread the grid
in 2D, and the user can switch between them and the raw logits. The inspector shows only
what applies to a classifier's k×2 Jacobian and says why the rest is hidden.
"""

import numpy as np
import pytest

from jacviz.math.grid import Domain, sample_points
from jacviz.math.maps import FormulaMap
from jacviz.nets.hidden_view import hidden_layer, hidden_layer_view
from jacviz.nets.margin import MarginView
from jacviz.nets.networks import EXAMPLES_DIR, load_network
from jacviz.nets.views import softmax
from jacviz.state.view import ViewState

MOONS = EXAMPLES_DIR / "moons_jr.safetensors"
TWO_CLASS_EXAMPLES = ("moons_jr", "moons_plain", "spirals_jr", "spirals_plain")


def spread(points):
    """Smaller over larger singular value of the centred points: 0 for points on a line."""
    finite = points[np.all(np.isfinite(points), axis=1)]
    sigma = np.linalg.svd(finite - finite.mean(axis=0), compute_uv=False)
    return sigma[1] / sigma[0]


def example(name):
    network = load_network(EXAMPLES_DIR / f"{name}.safetensors")
    domain = Domain(*network.metadata["domain"])
    return network.as_map(), domain


# ---- the margin view as a map --------------------------------------------------------------


@pytest.mark.parametrize("name", TWO_CLASS_EXAMPLES)
def test_the_margin_view_spreads_what_the_logits_squash_onto_a_line(name):
    logits, domain = example(name)
    points = sample_points(domain, 41)
    assert spread(logits.evaluate(points)) < 0.06  # nearly opposite logits: a line
    view = MarginView(logits, points=sample_points(domain, 32))
    assert spread(view.evaluate(points)) >= 0.05


def test_the_margin_view_of_moons_is_far_from_a_line():
    logits, domain = example("moons_jr")
    points = sample_points(domain, 41)
    assert spread(logits.evaluate(points)) < 0.01
    assert spread(MarginView(logits, sample_points(domain, 32)).evaluate(points)) >= 0.15


def test_the_margin_view_jacobian_is_the_chain_rule_of_the_logits():
    logits, domain = example("moons_jr")
    view = MarginView(logits, sample_points(domain, 32))
    points = sample_points(domain, 7)
    values, jacobian = view.evaluate_with_jacobian(points)
    z, dz = logits.evaluate_with_jacobian(points)
    np.testing.assert_allclose(values[:, 0], (z[:, 1] - z[:, 0]) / view.scale, rtol=1e-12)
    np.testing.assert_allclose(values[:, 1], (points - view.center) @ view.along, atol=1e-12)
    np.testing.assert_allclose(jacobian[:, 0], (dz[:, 1] - dz[:, 0]) / view.scale, rtol=1e-12)
    np.testing.assert_array_equal(jacobian[:, 1], np.broadcast_to(view.along, (len(points), 2)))
    np.testing.assert_array_equal(view.evaluate(points), values)


def test_a_linear_classifier_is_seen_as_distance_to_its_boundary():
    # z1 − z0 = 3x + 4y − 5: its gradient has norm 5, so the first coordinate is the signed
    # distance to the line 3x + 4y = 5, and the view is a rotation (orientation kept).
    logits = FormulaMap.from_text("0, 3*x + 4*y - 5", isolated=False)
    view = MarginView(logits, sample_points(Domain(-1, 1, -1, 1), 8))
    assert view.scale == pytest.approx(5.0)
    np.testing.assert_allclose(view.along, [-0.8, 0.6])
    points = np.array([[1.0, 1.0], [0.0, 0.0]])
    values, jacobian = view.evaluate_with_jacobian(points)
    np.testing.assert_allclose(values[:, 0], [0.4, -1.0])
    np.testing.assert_allclose(np.linalg.det(jacobian), [1.0, 1.0])


def test_the_margin_view_refuses_maps_that_are_not_two_logits_of_the_plane():
    with pytest.raises(ValueError, match="2 inputs and 2 logits"):
        MarginView(FormulaMap.from_text("x, y, 0", isolated=False), np.zeros((3, 2)))


@pytest.mark.parametrize("name", TWO_CLASS_EXAMPLES)
def test_the_last_hidden_layer_view_spreads_the_grid_too(name):
    logits, domain = example(name)
    view = hidden_layer_view(logits, sample_points(domain, 32))
    assert view is not None and view.output_dim == 2
    assert spread(view.evaluate(sample_points(domain, 41))) >= 0.05


def test_the_last_hidden_layer_is_the_network_without_its_last_linear_layer():
    logits, domain = example("moons_jr")
    hidden = hidden_layer(logits)
    last = logits.module[-1]
    points = sample_points(domain, 5)
    activations, jacobian = hidden.evaluate_with_jacobian(points)
    z, dz = logits.evaluate_with_jacobian(points)
    weight = last.weight.detach().double().numpy()
    bias = last.bias.detach().double().numpy()
    np.testing.assert_allclose(activations @ weight.T + bias, z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.einsum("ok,nki->noi", weight, jacobian), dz, atol=1e-5)
    # Its 2D view: the PCA projection, whose Jacobian is the projection of the layer's.
    view = hidden_layer_view(logits, sample_points(domain, 32))
    _, projected = view.evaluate_with_jacobian(points)
    np.testing.assert_allclose(projected, np.einsum("ak,nki->nai", view.basis, jacobian))


def test_maps_without_a_walkable_last_layer_have_no_hidden_view():
    import torch

    from jacviz.math.maps import TorchMap
    from jacviz.nets.views import SliceMap

    assert hidden_layer(FormulaMap.from_text("x, y", isolated=False)) is None
    single = TorchMap(torch.nn.Sequential(torch.nn.Linear(2, 2)), "one layer", 2, 2)
    assert hidden_layer(single) is None  # no hidden layer at all
    ending = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh())
    assert hidden_layer(TorchMap(ending, "no last Linear", 2, 4)) is None
    narrow = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Tanh(), torch.nn.Linear(1, 2))
    assert hidden_layer_view(TorchMap(narrow, "width 1", 2, 2), np.zeros((4, 2))) is None
    # On a plane through more inputs, the hidden layer is on the same plane.
    wide = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    plane = SliceMap(TorchMap(wide.double(), "three inputs", 3, 2), [0, 0, 1], [1, 0, 0], [0, 1, 0])
    hidden = hidden_layer(plane)
    assert isinstance(hidden, SliceMap) and hidden.output_dim == 5
    np.testing.assert_array_equal(hidden.base, plane.base)
    expected = torch.tanh(wide[0](torch.tensor([[0.5, -0.25, 1.0]], dtype=torch.float64)))
    np.testing.assert_allclose(hidden.evaluate(np.array([[0.5, -0.25]])), expected.detach())


# ---- the view state ------------------------------------------------------------------------


def test_margin_is_an_output_view_and_old_values_read_unchanged():
    assert ViewState(output_view="margin").output_view == "margin"
    assert ViewState(output_view="hidden").output_view == "hidden"
    for old in ("pca", "outputs(0,1)", "outputs(2,0)"):
        data = ViewState(output_view=old).to_dict()
        assert ViewState.from_dict(data).output_view == old
    data = ViewState().to_dict()
    del data["output_view"]  # a file from before output views: PCA, as then
    assert ViewState.from_dict(data).output_view == "pca"
    for bad in ("margin ", "Margin", "margins", "margin(0,1)"):
        with pytest.raises(ValueError, match="output_view"):
            ViewState(output_view=bad)
        with pytest.raises(ValueError, match="output_view"):
            ViewState.from_dict({"output_view": bad})


# ---- in the main window --------------------------------------------------------------------


def shown_points(window):
    """Every point of the output plane's grid curves, as drawn."""
    curves = []
    for item in (window.output_plane.vertical_lines, window.output_plane.horizontal_lines):
        x, y = item.getData()
        curves.append(np.column_stack([x, y]))
    return np.concatenate(curves)


def test_a_two_class_network_opens_on_a_2d_view_and_can_switch(qtbot, window, settle):
    controller = window.controller
    assert window.open_network(str(MOONS))
    settle()
    # An MLP: its last hidden layer, by its top-2 principal directions.
    assert controller.state.output_view == "hidden"
    editor = window.editor
    assert editor.output_view.isVisibleTo(window)  # a classifier: the user can switch
    assert [editor.output_view.itemData(i) for i in range(editor.output_view.count())] == [
        "margin",
        "hidden",
        "outputs(0,1)",
    ]
    assert editor.output_view.currentData() == "hidden"
    hidden_picture = shown_points(window)
    assert spread(hidden_picture) >= 0.05
    # The probe's parallelogram and ellipse live in the view: its Jacobian at p.
    p = np.array([controller.state.probe])
    _, expected = controller.map.evaluate_with_jacobian(p)
    np.testing.assert_allclose(controller.linearization.jacobian, expected[0], rtol=1e-12)
    # The margin against the boundary direction: another 2D picture.
    editor.output_view.setCurrentIndex(editor.output_view.findData("margin"))
    settle()
    assert controller.state.output_view == "margin"
    assert isinstance(controller.map, MarginView)
    margin_picture = shown_points(window)
    assert spread(margin_picture) >= 0.05
    assert margin_picture.shape != hidden_picture.shape or not np.allclose(
        margin_picture, hidden_picture
    )
    _, expected = controller.map.evaluate_with_jacobian(p)
    np.testing.assert_allclose(controller.linearization.jacobian, expected[0], rtol=1e-12)
    # The two logits as they are: nearly a line.
    editor.output_view.setCurrentIndex(editor.output_view.findData("outputs(0,1)"))
    settle()
    assert controller.state.output_view == "outputs(0,1)"
    assert spread(shown_points(window)) < 0.01
    # And back.
    editor.output_view.setCurrentIndex(editor.output_view.findData("hidden"))
    settle()
    assert controller.state.output_view == "hidden"
    np.testing.assert_allclose(shown_points(window), hidden_picture)


def test_a_state_saved_before_the_margin_view_opens_unchanged(qtbot, window, settle):
    controller = window.controller
    network = load_network(MOONS)
    old = ViewState.from_dict(
        {"network": str(MOONS), "domain": network.metadata["domain"], "heatmap": "classes"}
    )
    assert old.output_view == "pca"
    assert controller.show_state(old) is None
    settle()
    assert controller.state == old  # nothing rewritten
    points = controller.grid.lines.reshape(-1, 2)
    np.testing.assert_allclose(  # the raw logits (torch batches round a little differently)
        controller.grid.images.reshape(-1, 2), network.as_map().evaluate(points), atol=1e-12
    )
    assert window.editor.output_view.currentData() == "outputs(0,1)"  # the logits, as then


def test_formulas_and_many_classes_never_keep_the_margin_view(qtbot, window, settle):
    controller = window.controller
    assert window.open_network(str(MOONS))
    settle()
    controller.set_output_view("margin")
    assert controller.state.output_view == "margin"
    assert controller.set_formula("x, y, 0")
    settle()
    assert controller.state.output_view == "pca"
    controller.set_output_view("hidden")  # a formula has no hidden layer: refused, said why
    assert controller.state.output_view == "pca"
    assert "last hidden layer is shown only for 2-class" in window.statusBar().currentMessage()
    assert [
        window.editor.output_view.itemData(i) for i in range(window.editor.output_view.count())
    ] == ["pca", "outputs(0,1)", "outputs(0,2)", "outputs(1,2)"]
    assert controller.set_formula("x**2 + y, x*y")
    settle()
    assert not window.editor.classes_group.isVisibleTo(window)


# ---- the inspector -------------------------------------------------------------------------


def test_the_inspector_shows_only_what_applies_to_softmax_probabilities(qtbot, window, settle):
    controller = window.controller
    inspector = window.inspector
    assert window.open_network(str(MOONS))
    settle()
    controller.set_jacobian_of("probabilities")
    settle()
    for key in ("det", "sigma2", "condition", "error"):
        assert not inspector.is_row_shown(key), key
        assert not inspector.names[key].isVisibleTo(window), key
    for key in ("jacobian", "sigma1", "frobenius", "margin"):
        assert inspector.is_row_shown(key), key
    note = inspector.hidden_note.text()
    assert "softmax outputs sum to 1" in note and "rank ≤ k−1 = 1" in note
    assert inspector.hidden_note.isVisibleTo(window)
    # The margin gradient, of the probabilities: rows top − runner-up of J.
    p = np.array([controller.state.probe])
    z, dz = controller.source.evaluate_with_jacobian(p)
    probabilities = softmax(z)[0]
    jacobian = (np.diag(probabilities) - np.outer(probabilities, probabilities)) @ dz[0]
    np.testing.assert_allclose(controller.inspected.report.jacobian, jacobian, rtol=1e-9)
    top = int(np.argmax(probabilities))
    gradient = jacobian[top] - jacobian[1 - top]
    text = inspector.values["margin"].text()
    assert text.startswith(f"∇(p{top} − p{1 - top}) = (")
    shown = [float(v) for v in text.split("(", 2)[2].split(")")[0].split(",")]
    np.testing.assert_allclose(shown, gradient, rtol=1e-5)
    # Logits: the rank is full, so σ2, σ1/σ2 and the error at h come back; det stays out.
    controller.set_jacobian_of("logits")
    settle()
    for key in ("sigma2", "condition", "error", "margin"):
        assert inspector.is_row_shown(key), key
    assert not inspector.is_row_shown("det")
    assert "shift added to every logit" in inspector.hidden_note.text()
    # A map of the plane: every row of a square J, and no note.
    assert controller.set_formula("x**2 + y, x*y")
    settle()
    for key in ("det", "sigma2", "condition", "error"):
        assert inspector.is_row_shown(key), key
    assert not inspector.is_row_shown("margin")
    assert not inspector.hidden_note.isVisibleTo(window)


@pytest.mark.parametrize("dataset", ["moons", "spirals"])
def test_a_model_trained_by_jacviz_opens_spread_in_2d(qtbot, window, settle, tmp_path, dataset):
    # What the lab's "Open in map view" opens: an MLP saved with its classes and data domain.
    from jacviz.cli import main

    path = tmp_path / f"{dataset}.safetensors"
    steps = ["--steps", "300", "--hidden", "16,16", "--points", "200"]
    assert main(["train", "--dataset", dataset, *steps, "--out", str(path)]) == 0
    assert window.open_network(str(path))
    settle()
    controller = window.controller
    assert controller.is_classifier and controller.state.output_view == "hidden"
    assert spread(shown_points(window)) >= 0.05


def test_the_inspector_never_mixes_the_view_and_the_classifier(qtbot, window, settle):
    """f(p) and J(p) are the logits'; the error at h of the hidden-layer view is not theirs."""
    controller = window.controller
    assert window.open_network(str(MOONS))
    settle()
    assert controller.state.output_view == "hidden"
    report = controller.inspected.report
    logits = controller.source.evaluate(np.array([controller.state.probe]))[0]
    np.testing.assert_allclose(report.value, logits, rtol=1e-12)
    assert window.inspector.values["error"].text() == "–"
    controller.set_output_view("outputs(0,1)")  # the logits as they are: the error is theirs
    settle()
    assert window.inspector.values["error"].text() != "–"
