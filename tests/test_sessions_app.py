"""Sessions in the app: save, change, open again, and get back exactly what was shown.

Also: a network whose file moved opens from the session's copy; bad files change nothing;
the unsaved-changes prompt; the recent menu across restarts; title, drag and drop, command line.
"""

import base64
import dataclasses
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from PyQt6.QtCore import QMimeData, QPointF, Qt, QUrl
from PyQt6.QtGui import QAction, QDropEvent
from PyQt6.QtWidgets import QMessageBox
from session_fuzz import full_session, mutations, sample
from session_fuzz import write as write_raw

import jacviz.gui.shell.app
import jacviz.gui.shell.sessions
from jacviz.cli import main
from jacviz.gui.lab.lab_controller import DataSettings, ModelSettings
from jacviz.gui.shell.main_window import MainWindow
from jacviz.math.grid import Domain
from jacviz.nets.fields import FROBENIUS
from jacviz.nets.networks import EXAMPLES_DIR
from jacviz.state.session import SESSION_VERSION, Session, load_session, save_session
from jacviz.state.view import ViewState

Button = QMessageBox.StandardButton
LEFT = Qt.MouseButton.LeftButton
SMALL_DATA = DataSettings(n_points=60)
SMALL_MODEL = ModelSettings(hidden="8", steps=40, batch_size=32)


@pytest.fixture(autouse=True)
def prompts(monkeypatch, tmp_path):
    """Answers of the unsaved-changes prompt: a list the test fills; asking unexpectedly fails.

    Autouse, so it is set up before the ``window`` fixture and undone after it closed the
    window. The embedded networks' cache goes to the test's folder.
    """
    answers: list = []
    asked: list[str] = []

    def question(parent, title, text, *args):
        asked.append(text)
        assert answers, f"unexpected prompt: {text}"
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(
        jacviz.gui.shell.sessions, "embedded_network_folder", lambda: tmp_path / "cache"
    )
    return answers, asked


def lab_idle(lab):
    return not lab.controller.running and not lab.controller.worker.busy


def wait_lab(qtbot, lab):
    qtbot.waitUntil(lambda: lab_idle(lab), timeout=15000)


def small_lab(qtbot, window):
    """The lab of ``window`` on small data and a small model, trained 20 steps."""
    lab = window.open_lab()
    qtbot.waitExposed(lab)
    lab.controller.set_data_settings(SMALL_DATA)
    lab.controller.set_model_settings(SMALL_MODEL)
    wait_lab(qtbot, lab)
    return lab


def click_point(qtbot, lab, x, y):
    """Add a training point by clicking the plane at (x, y) (data coordinates)."""
    plane = lab.regions_view
    scene = plane.getViewBox().mapViewToScene(QPointF(x, y))
    qtbot.mouseClick(plane.viewport(), LEFT, pos=plane.mapFromScene(scene))


def step(qtbot, lab, times=1):
    for _ in range(times):
        lab.controller.step()
        wait_lab(qtbot, lab)


def assert_unchanged(window, before):
    """The map view and the lab are those of ``before = (window, lab)`` as :func:`seen` saw."""
    state, source, lab, labs = before
    assert window.controller.state == state and window.controller.source is source
    assert window.lab_window is lab
    controller = lab.controller
    assert (controller.state, controller.snapshot.step) == (labs[0], labs[3])
    assert controller.dataset is labs[1] and controller.run is labs[2]


def seen(window):
    """What must not change when a session is refused: the map view and the lab."""
    labs = window.lab_window.controller
    lab = (labs.state, labs.dataset, labs.run, labs.snapshot.step)
    return window.controller.state, window.controller.source, window.lab_window, lab


# ---- round trips ---------------------------------------------------------------------------------


def test_a_formula_session_restores_exactly_the_view(qtbot, window, settle, prompts, tmp_path):
    controller = window.controller
    controller.set_formula("sin(x) + y, x*y")
    controller.set_domain(Domain(-1.5, 2.5, -1.0, 1.25))
    controller.set_probe(0.3, -0.2)
    controller.set_h(0.125)
    controller.set_grid_lines(15)
    controller.set_heatmap("cond")
    controller.set_morph(0.4)
    saved = controller.state
    path = tmp_path / "formula.jacviz"
    assert window.sessions.save_to(path)
    assert window.lab_window is None and load_session(path).lab is None

    controller.set_formula("x, y**3")
    controller.set_domain(Domain(0, 1, 0, 1))
    controller.set_heatmap(None)
    prompts[0].append(Button.Discard)  # "save the changes before opening?"
    assert window.sessions.open_session(path)
    assert controller.state == saved
    settle()
    assert window.heatmap_actions["cond"].isChecked()
    assert window.editor.formula.text() == "sin(x) + y, x*y"
    assert window.morph.value() == 40
    assert window.windowTitle() == "formula.jacviz — jacviz — sin(x) + y, x*y"


def test_a_network_session_restores_the_network_on_its_plane(
    qtbot, window, settle, prompts, tmp_path
):
    network = tmp_path / "turn.safetensors"
    shutil.copy(EXAMPLES_DIR / "turn_3d.safetensors", network)
    assert window.open_network(str(network))
    controller = window.controller
    assert controller.set_slice((0.0, 0.0, 0.5), (1.0, 0.0, 0.0), (0.0, 1.0, 1.0)) is None
    controller.set_probe(0.25, 0.75)
    controller.set_heatmap("smax")
    controller.set_layer_units((1, 2))
    saved = controller.state
    assert saved.slice is not None and saved.layer_units == (1, 2)
    before = controller.map.evaluate(np.array([[0.3, 0.4]]))
    path = tmp_path / "net.jacviz"
    assert window.sessions.save_to(path)

    controller.set_formula("x, y")
    prompts[0].append(Button.Discard)
    assert window.sessions.open_session(path)
    assert controller.state == saved  # the network opened from its own file, as it is
    np.testing.assert_array_equal(controller.map.evaluate(np.array([[0.3, 0.4]])), before)
    assert "copy" not in window.statusBar().currentMessage()
    settle()


def test_a_moved_network_opens_from_the_copy_in_the_session(
    qtbot, window, settle, prompts, tmp_path
):
    network = tmp_path / "warp.safetensors"
    shutil.copy(EXAMPLES_DIR / "tanh_warp.safetensors", network)
    assert window.open_network(str(network))
    window.controller.set_probe(0.1, 0.2)
    points = np.array([[0.3, -0.4], [1.0, 0.5]])
    before = window.controller.map.evaluate(points)
    saved = window.controller.state
    path = tmp_path / "moved.jacviz"
    assert window.sessions.save_to(path)
    network.rename(tmp_path / "elsewhere.safetensors")
    window.controller.set_formula("x, y")
    settle()

    prompts[0].append(Button.Discard)
    assert window.sessions.open_session(path)
    state = window.controller.state
    copy = state.network
    assert copy.startswith(str(tmp_path / "cache")) and copy.endswith("warp.safetensors")
    assert state == dataclasses.replace(saved, network=copy)
    np.testing.assert_array_equal(window.controller.map.evaluate(points), before)
    message = window.statusBar().currentMessage()
    assert "is gone or has changed" in message and "copy of the network saved" in message
    assert window.windowTitle() == "moved.jacviz — jacviz — warp.safetensors"
    settle()


def test_the_lab_comes_back_with_its_points_settings_and_model(qtbot, window, prompts, tmp_path):
    lab = small_lab(qtbot, window)
    domain = lab.controller.dataset.domain
    x, y = domain.xmin + 0.05 * domain.width, domain.ymax - 0.05 * domain.height
    lab.data_panel.class_buttons.button(1).click()
    click_point(qtbot, lab, x, y)
    wait_lab(qtbot, lab)
    step(qtbot, lab, 2)
    lab.controller.set_display(FROBENIUS)
    saved_data, saved_state = lab.controller.dataset, lab.controller.state
    saved_weights = {k: v.clone() for k, v in lab.controller.snapshot.state.items()}
    saved_curves = list(lab.controller._history)
    assert saved_data.n_points == SMALL_DATA.n_points + 1 and saved_data.labels[-1] == 1
    np.testing.assert_allclose(saved_data.points[-1], [x, y], atol=0.05 * domain.width)
    assert lab.controller.snapshot.step == 20
    path = tmp_path / "lab.jacviz"
    assert window.sessions.save_to(path)
    assert "with the lab at step 20" in window.statusBar().currentMessage()

    # Change everything: more data, other settings, training on, another formula.
    lab.controller.add_point(0.0, 0.0)
    lab.controller.set_model_settings(ModelSettings(hidden="4,4", steps=30))
    step(qtbot, lab)
    window.controller.set_formula("x, y")
    prompts[0].append(Button.Discard)
    assert window.sessions.open_session(path)

    restored = window.lab_window
    assert restored is lab and restored.isVisible()
    wait_lab(qtbot, restored)
    labs = restored.controller
    np.testing.assert_array_equal(labs.dataset.points, saved_data.points)  # bit-exact
    np.testing.assert_array_equal(labs.dataset.labels, saved_data.labels)
    np.testing.assert_array_equal(labs.dataset.is_test, saved_data.is_test)
    assert labs.state == saved_state
    assert labs.snapshot.step == 20
    for name, tensor in saved_weights.items():
        assert torch.equal(labs.snapshot.state[name], tensor), name
    # The curves come back as they were (NaN where λ is off, as JSON null in the file).
    np.testing.assert_array_equal(np.array(labs._history), np.array(saved_curves))
    assert len(saved_curves) == 3  # steps 0, 10, 20
    # The restored model's picture, at the saved step, without training.
    assert restored.regions_view.field is not None and restored.regions_view.field.step == 20
    assert restored.run_controls.step.isEnabled()
    assert restored.training_panel.settings() == SMALL_MODEL
    assert window.windowTitle().startswith("lab.jacviz — ")  # unmodified, snapshot and all
    step(qtbot, restored)  # and it trains on from there
    assert labs.snapshot.step == 30
    assert window.windowTitle().startswith("lab.jacviz* — ")
    prompts[0].append(Button.Discard)


def test_a_session_without_a_lab_closes_the_lab(qtbot, window, prompts, tmp_path):
    path = tmp_path / "plain.jacviz"
    save_session(Session(ViewState(formula="x + y, x - y")), path)
    small_lab(qtbot, window)
    assert window.sessions.open_session(path)
    assert window.lab_window is None
    assert window.controller.state == ViewState(formula="x + y, x - y")


# ---- refusals ------------------------------------------------------------------------------------


class Payload:
    """Unpickling this would create the file named by ``target``."""

    target = ""

    def __reduce__(self):
        return (open, (self.target, "w"))


def bad_sessions(tmp_path, good):
    """Files that must be refused, with a word of the reason the user is given."""
    text = good.read_text()
    document = json.loads(text)
    future = dict(document, version=SESSION_VERSION + 1)
    hostile = json.loads(text)
    Payload.target = str(tmp_path / "pwned")
    hostile["network"] = {
        "name": "x.pt",
        "data": base64.b64encode(pickle.dumps(Payload())).decode(),
    }
    odd_lab = json.loads(text)
    odd_lab["lab"]["settings"]["display"] = "rainbow"  # the lab's rules, checked by the core
    cases = {
        "corrupt.jacviz": ("{not json at all", "invalid JSON"),
        "odd_lab.jacviz": (json.dumps(odd_lab), "the lab's display must be one of"),
        "truncated.jacviz": (text[: len(text) // 2], "invalid JSON"),
        "future.jacviz": (json.dumps(future), "newer jacviz"),
        "hostile.jacviz": (json.dumps(hostile), "pickle"),
        "pickled.jacviz": (None, "not a jacviz session"),
    }
    for name, (content, reason) in cases.items():
        path = tmp_path / name
        if content is None:
            path.write_bytes(pickle.dumps(document))
        else:
            path.write_text(content)
        yield path, reason
    yield tmp_path / "missing.jacviz", "does not exist"


def test_bad_session_files_change_nothing(qtbot, window, settle, tmp_path):
    lab = small_lab(qtbot, window)
    step(qtbot, lab)
    good = tmp_path / "good.jacviz"
    save_session(window.sessions.current_session(), good)  # not associated: no prompt
    window.controller.set_formula("sin(x), cos(y)")
    window.controller.set_probe(0.7, 0.1)
    before = seen(window)
    title = window.windowTitle()
    for path, reason in bad_sessions(tmp_path, good):
        assert not window.sessions.open_session(path), path.name
        assert window.problem is not None and window.problem.isVisible()
        assert path.name in window.problem.text() and reason in window.problem.text(), path.name
        assert "\n" not in window.problem.text()  # one line
        assert "Session not opened" in window.statusBar().currentMessage()
        window.problem.close()
        assert_unchanged(window, before)
    assert window.sessions.path is None and window.windowTitle() == title
    assert not (tmp_path / "pwned").exists()  # the pickle was never unpickled
    assert lab.isVisible()
    settle()


def test_a_failed_save_says_why_and_keeps_the_old_file(qtbot, window, tmp_path, monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    path = folder / "keep.jacviz"
    assert window.sessions.save_to(path)
    old = path.read_bytes()
    window.controller.set_probe(0.9, 0.9)
    assert not window.sessions.save_to(tmp_path / "no such folder" / "s.jacviz")
    assert "cannot save the session to" in window.problem.text()
    window.problem.close()

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", full_disk)
        assert not window.sessions.save()
    assert "No space left on device" in window.problem.text()
    window.problem.close()
    assert path.read_bytes() == old
    assert [p.name for p in folder.iterdir()] == ["keep.jacviz"]  # no temporary file left
    assert window.sessions.path == path and window.windowTitle().startswith("keep.jacviz* ")
    assert window.sessions.save()  # the disk has room again


# ---- unsaved changes ---------------------------------------------------------------------------


def test_closing_asks_about_unsaved_changes(qtbot, window, prompts, tmp_path):
    answers, asked = prompts
    window.close()  # no session yet: no question
    assert not asked and not window.isVisible()
    window.show()
    path = tmp_path / "work.jacviz"
    assert window.sessions.save_to(path)
    window.close()  # saved, unchanged: no question
    assert not asked and not window.isVisible()
    window.show()
    window.controller.set_probe(-0.5, 0.25)

    answers.append(Button.Cancel)
    window.close()
    assert window.isVisible() and len(asked) == 1 and "work.jacviz" in asked[0]

    answers.append(Button.Save)
    window.close()
    assert not window.isVisible()
    assert load_session(path).view.probe == (-0.5, 0.25)

    window.show()
    window.controller.set_probe(0.5, 0.5)
    answers.append(Button.Discard)
    window.close()
    assert not window.isVisible() and load_session(path).view.probe == (-0.5, 0.25)
    answers.append(Button.Discard)  # the fixture closes the window again


def test_cancel_at_the_prompt_keeps_the_session_open(qtbot, window, prompts, tmp_path):
    answers, _ = prompts
    first, second = tmp_path / "first.jacviz", tmp_path / "second.jacviz"
    save_session(Session(ViewState(formula="x, y")), second)
    assert window.sessions.save_to(first)
    window.controller.set_formula("y, x")
    answers.append(Button.Cancel)
    assert not window.sessions.open_session(second)
    assert window.controller.state.formula == "y, x" and window.sessions.path == first
    answers.append(Button.Discard)


# ---- recent files, title, drag and drop, command line ------------------------------------------


def recent_names(window):
    menu = window.sessions.recent_menu
    menu.aboutToShow.emit()
    return [(a.text(), a.isEnabled()) for a in menu.actions() if a.text()]


def test_recent_sessions_newest_first_across_restarts(qtbot, window, settings, tmp_path):
    assert recent_names(window) == [("No recent sessions", False)]
    for name in ("a.jacviz", "b.jacviz", "a.jacviz"):
        assert window.sessions.save_to(tmp_path / name)
    assert recent_names(window)[:2] == [("&1 a.jacviz", True), ("&2 b.jacviz", True)]
    window.close()

    again = MainWindow(ViewState(), settings)  # a restart
    qtbot.addWidget(again)
    (tmp_path / "b.jacviz").unlink()
    assert recent_names(again) == [
        ("&1 a.jacviz", True),
        ("&2 b.jacviz (not found)", False),
        ("Clear recent sessions", True),
    ]
    assert not again.sessions.open_session(tmp_path / "b.jacviz")  # gone: out of the list
    again.problem.close()
    assert recent_names(again)[:2] == [("&1 a.jacviz", True), ("Clear recent sessions", True)]
    again.sessions.recent_menu.actions()[0].trigger()
    assert again.sessions.path == (tmp_path / "a.jacviz").resolve()
    qtbot.waitUntil(lambda: not again.controller.heatmap_runner.busy, timeout=20000)
    again.close()


def test_a_hostile_recent_list_shows_only_usable_paths(qtbot, window, settings, tmp_path):
    good = tmp_path / "ok.jacviz"
    save_session(Session(ViewState()), good)
    hostile = ["/a\u0000b.jacviz", "/x" * 5000, 5, None, "/line\nbreak.jacviz", "/\ud800.jacviz"]
    settings.setValue(jacviz.gui.shell.sessions.RECENT_KEY, json.dumps([*hostile, str(good)]))
    assert recent_names(window) == [("&1 ok.jacviz", True), ("Clear recent sessions", True)]
    settings.setValue(jacviz.gui.shell.sessions.RECENT_KEY, '["/a.jacviz", NaN]')
    assert recent_names(window) == [("No recent sessions", False)]


def test_the_title_names_the_session_and_marks_changes(qtbot, window, tmp_path):
    assert window.windowTitle() == "jacviz — x**2 + y, x*y"
    assert window.sessions.save_to(tmp_path / "mine.jacviz")
    assert window.windowTitle() == "mine.jacviz — jacviz — x**2 + y, x*y"
    window.controller.set_probe(0.0, 0.0)
    assert window.windowTitle() == "mine.jacviz* — jacviz — x**2 + y, x*y"
    assert window.sessions.save()
    assert window.windowTitle() == "mine.jacviz — jacviz — x**2 + y, x*y"


def test_dropping_a_session_file_opens_it(qtbot, window, settle, tmp_path):
    path = tmp_path / "dropped.jacviz"
    save_session(Session(ViewState(formula="x*y, x + y", probe=(0.5, 0.5))), path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(20, 20), Qt.DropAction.CopyAction, mime, LEFT, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(event)
    assert window.controller.state == ViewState(formula="x*y, x + y", probe=(0.5, 0.5))
    assert window.sessions.path == path.resolve()
    settle()


def test_the_command_line_opens_a_session(monkeypatch, capsys, tmp_path):
    opened = []
    monkeypatch.setattr(
        jacviz.gui.shell.app,
        "run_app",
        lambda state=None, session=None: opened.append(session) or 0,
    )
    path = tmp_path / "s.jacviz"
    save_session(Session(ViewState(formula="sin(x), y")), path)
    assert main([str(path)]) == 0 and main(["--session", str(path)]) == 0
    assert opened == [str(path.resolve())] * 2
    bad = tmp_path / "bad.jacviz"
    bad.write_text("{")
    assert main([str(bad)]) == 2
    assert "bad.jacviz is not a jacviz session" in capsys.readouterr().err


# ---- hostile sessions: refused whole, nothing on screen changes ----------------------------------


def screen(window):
    """What the user sees of the map view and the lab, as plain values and identities."""
    lab = window.lab_window
    seen = {
        "state": window.controller.state,
        "map": window.controller.source,
        "formula text": window.editor.formula.text(),
        "title": window.windowTitle(),
        "session": window.sessions.path,
        "lab window": lab,
    }
    if lab is None:
        return seen
    labs = lab.controller
    return {
        **seen,
        "lab state": labs.state,
        "dataset": labs.dataset,
        "run": labs.run,
        "step": labs.snapshot.step,
        "history": list(labs._history),
        "data panel": lab.data_panel.settings(),
        "training panel": lab.training_panel.settings(),
        "plane": lab.regions_view.field,
        "summary": lab.data_panel.summary.text(),
    }


def hostile_documents(text):
    """The issue's hostile sessions, each a variant of the session JSON ``text``."""
    cases = {
        "point_null": lambda d: d["lab"]["dataset"]["points"].__setitem__(3, None),
        "coordinate_400_digits": lambda d: d["lab"]["dataset"]["points"][3].__setitem__(0, 10**400),
        "network_nul": lambda d: d["view"].update(network="\u0000"),
        "curves_malformed": lambda d: d["lab"]["settings"]["curves"].__setitem__(0, [0, "x"]),
        "n_points_10_12": lambda d: d["lab"]["settings"]["data"].update(n_points=10**12),
        "seed_beyond_panel": lambda d: d["lab"]["settings"]["model"].update(seed=2**40),
        "name_of_a_million": lambda d: d["lab"]["dataset"].update(name="n" * 1_000_000),
        "class_surrogate": lambda d: d["lab"]["dataset"]["class_names"].__setitem__(0, "\ud800"),
        "formula_bad": lambda d: d["view"].update(formula="x +* y, y"),
        "layer_units_huge": lambda d: d["view"].update(layer_units=[0, 10**400]),
        "output_full_width": lambda d: d["view"].update(output_view="outputs(１,２)"),
    }
    for name, mutate in cases.items():
        document = json.loads(text)
        mutate(document)
        yield f"{name}.jacviz", json.dumps(document)


@pytest.mark.timeout(300)
def test_hostile_sessions_change_nothing_on_screen(qtbot, window, settle, tmp_path):
    lab = small_lab(qtbot, window)
    step(qtbot, lab)
    good = tmp_path / "good.jacviz"
    save_session(window.sessions.current_session(), good)
    window.controller.set_formula("sin(x), cos(y)")
    settle()
    before = screen(window)
    for name, text in hostile_documents(good.read_text()):
        path = write_raw(tmp_path / name, text)
        assert not window.sessions.open_session(path), name
        message = window.problem.text()
        assert message.startswith(name) and len(message.splitlines()) == 1, message
        assert len(message) <= 300, message
        window.problem.close()
        assert screen(window) == before, name
    settle()
    wait_lab(qtbot, lab)
    assert screen(window) == before


FALLBACKS = {"output_view": ("pca",), "heatmap": ("classes", "det"), "layer_units": (None,)}
"""What the map view shows instead of a choice the map cannot honour (outputs, a heatmap or
layer units it does not have), as for any new map."""


def shows(shown, saved):
    """Whether the map view's state ``shown`` is the session's ``saved`` one (but fallbacks)."""
    for name in (f.name for f in dataclasses.fields(saved)):
        now, then = getattr(shown, name), getattr(saved, name)
        if name != "network" and now != then and now not in FALLBACKS.get(name, ()):
            return False
    return True


@pytest.mark.timeout(7200)
def test_fuzzed_sessions_open_whole_or_change_nothing(qtbot, window, settle, prompts, tmp_path):
    """A fixed sample of the fuzz campaign, opened in the app one after the other."""
    prompts[0].extend([Button.Discard] * 10_000)  # opening over a modified session: discard
    lab = small_lab(qtbot, window)
    step(qtbot, lab)
    good = tmp_path / "good.jacviz"
    save_session(full_session(), good)
    opened = refused = 0
    cases = sample(mutations(good.read_text(), cuts=20), 120, seed=3)
    for label, text in cases:
        before = screen(window)
        path = write_raw(tmp_path / "fuzzed.jacviz", text)
        if window.sessions.open_session(path):
            opened += 1
            session = load_session(path)
            if session.lab is None:
                assert window.lab_window is None, label
            else:
                wait_lab(qtbot, window.lab_window)
                assert window.lab_window.controller.state == session.lab.state, label
            settle()
            assert shows(window.controller.state, session.view), label
            assert window.sessions.save_to(tmp_path / "again.jacviz"), label
            load_session(tmp_path / "again.jacviz")
        else:
            refused += 1
            message = window.problem.text()
            assert len(message.splitlines()) == 1 and len(message) <= 300, (label, message)
            window.problem.close()
            assert screen(window) == before, label
    assert opened + refused == len(cases) and refused > 0.7 * len(cases), (opened, refused)
    assert opened > 0.02 * len(cases), (opened, refused)
    settle()


def test_saving_after_a_csv_with_an_undecodable_name(qtbot, window, tmp_path):
    # The dataset is named by the file's stem: here, a lone surrogate in Python.
    csv = tmp_path / os.fsdecode(b"points\xff.csv")
    SMALL_DATA.make().to_csv(csv)
    lab = small_lab(qtbot, window)
    assert lab.controller.load_csv(str(csv))
    wait_lab(qtbot, lab)
    assert lab.controller.dataset.name == "points\udcff"
    path = tmp_path / "csv.jacviz"
    assert window.sessions.save_to(path)
    assert load_session(path).lab.dataset.name == "points_"


def test_ctrl_s_in_the_lab_saves_the_session_as_in_the_main_window(qtbot, window, monkeypatch):
    saved = []
    monkeypatch.setattr(window.sessions, "save", lambda: saved.append(True) or True)
    lab = window.open_lab()
    actions = [a for a in lab.findChildren(QAction) if a.shortcut().toString() == "Ctrl+S"]
    assert [a.text().replace("&", "") for a in actions] == ["Save session"]
    actions[0].trigger()
    assert saved == [True]
    window.close_lab()
