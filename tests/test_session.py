"""Sessions: exact round trips, atomic saves, and clear refusals of bad or hostile files.

A session file is hostile input: every field is checked before anything is used, a refusal is
one short line naming the field, and what loads is complete and valid (it saves and loads
again). Saving never writes what would not load. The fuzz test mutates every field of a full
session (formula, embedded network on a plane, trained lab) in many hostile ways.
"""

import base64
import dataclasses
import json
import math
import os
import pickle

import numpy as np
import pytest
import torch
from session_fuzz import full_session, mutations, sample
from session_fuzz import write as write_raw

from jacviz.cli import main
from jacviz.nets.datasets import Dataset, DatasetError, make_dataset
from jacviz.nets.networks import EXAMPLES_DIR
from jacviz.nets.training import TrainConfig, TrainingError
from jacviz.state.lab import (
    FROBENIUS,
    LAB_DISPLAYS,
    MAX_SEED,
    Curves,
    DataSettings,
    LabState,
    ModelSettings,
    parse_hidden,
)
from jacviz.state.session import (
    SESSION_VERSION,
    LabSession,
    Session,
    SessionError,
    load_session,
    network_file,
    save_session,
)
from jacviz.state.view import ViewState


@pytest.fixture(scope="module")
def full():
    return full_session()


def test_a_session_round_trips_exactly(full, tmp_path):
    session = full
    path = tmp_path / "work.jacviz"
    save_session(session, path)
    loaded = load_session(path)
    assert loaded.view == session.view
    assert loaded.network_data == session.network_data
    assert loaded.network is not None and loaded.network.input_dim == 3
    lab, original = loaded.lab, session.lab
    np.testing.assert_array_equal(lab.dataset.points, original.dataset.points)  # bit-exact
    np.testing.assert_array_equal(lab.dataset.labels, original.dataset.labels)
    np.testing.assert_array_equal(lab.dataset.is_test, original.dataset.is_test)
    assert lab.dataset.class_names == original.dataset.class_names
    assert lab.config == original.config and lab.step == original.step == 20
    assert lab.state == original.state and lab.state.display == FROBENIUS
    np.testing.assert_array_equal(np.array(lab.curves), np.array(original.curves))  # NaN too
    assert [row[0] for row in lab.curves] == [0, 10, 20]
    for name, tensor in original.weights.items():
        assert torch.equal(lab.weights[name], tensor)


def test_the_embedded_network_opens_after_the_file_moved(tmp_path):
    network = tmp_path / "mine.safetensors"
    network.write_bytes((EXAMPLES_DIR / "relu_fold.safetensors").read_bytes())
    session = Session(ViewState(network=str(network)), network_data=network.read_bytes())
    save_session(session, tmp_path / "s.jacviz")
    network.unlink()
    loaded = load_session(tmp_path / "s.jacviz")
    points = torch.zeros(3, 2, dtype=torch.float64)
    assert loaded.network.module(points).shape == (3, 2)


def test_a_plain_formula_session(tmp_path):
    session = Session(ViewState(formula="sin(x), y"))
    save_session(session, tmp_path / "f.jacviz")
    loaded = load_session(tmp_path / "f.jacviz")
    assert loaded.view.formula == "sin(x), y"
    assert loaded.network is None and loaded.lab is None


def test_saving_is_atomic_and_failures_keep_the_old_file(full, tmp_path, monkeypatch):
    path = tmp_path / "keep.jacviz"
    save_session(Session(ViewState(formula="x, y")), path)
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(SessionError, match="No space left on device"):
        save_session(full, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jacviz"]  # no temp file left


def test_unwritable_path_is_a_clear_error(tmp_path):
    with pytest.raises(SessionError, match="cannot save the session to"):
        save_session(Session(ViewState()), tmp_path / "missing" / "s.jacviz")


def write(tmp_path, document, name="bad.jacviz"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def valid_document(full, tmp_path):
    save_session(full, tmp_path / "ok.jacviz")
    return json.loads((tmp_path / "ok.jacviz").read_text())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(version=SESSION_VERSION + 1), "saved by a newer jacviz"),
        (lambda d: d.update(version="1"), "not a version number"),
        (lambda d: d.update(format="other"), "is not a jacviz session"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.pop("lab"), "lacks field"),
        (lambda d: d["view"].update(probe=[1]), "'probe' must have 2 items"),
        (lambda d: d["view"].update(heatmap="rainbow"), "'heatmap' must be one of"),
        (lambda d: d["view"].update(grid_lines=1e9), "'grid_lines' must be a whole number"),
        (lambda d: d["view"].update(colour="red"), "the view has unknown field"),
        (lambda d: d["network"].update(data="@@@"), "not valid base64"),
        (
            lambda d: d["network"].update(data=base64.b64encode(b"not a network").decode()),
            "text file, not a network",
        ),
        (lambda d: d["lab"]["config"].update(activation="swish"), "unknown activation"),
        (lambda d: d["lab"]["config"].update(hidden=[9]), "weights do not fit"),
        (lambda d: d["lab"].update(step=-1), "step must be"),
        (lambda d: d["lab"]["dataset"].update(points=[[0, 1, 2]]), r"points\[0\] must have 2"),
        (lambda d: d["lab"]["dataset"]["labels"].__setitem__(0, 7), "labels"),
        (lambda d: d["lab"].update(weights="AAAA"), "not a safetensors file"),
    ],
)
def test_malformed_sessions_are_refused_with_a_message(full, tmp_path, mutate, message):
    document = valid_document(full, tmp_path)
    mutate(document)
    with pytest.raises(SessionError, match=message):
        load_session(write(tmp_path, document))


def test_hostile_embedded_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    document = {
        "format": "jacviz-session",
        "version": 1,
        "view": ViewState().to_dict(),
        "network": {"name": "x.pt", "data": base64.b64encode(pickle.dumps(Payload())).decode()},
        "lab": None,
    }
    with pytest.raises(SessionError, match="pickle"):
        load_session(write(tmp_path, document))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "invalid JSON"),
        ("{", "invalid JSON"),
        ('{"format": "jacviz-session", "format": "x"}', "duplicate key"),
        ('{"a": NaN}', "NaN is not allowed"),
        ('{"a": -Infinity}', "-Infinity is not allowed"),
        ("[" * 100_000 + "]" * 100_000, "nested more than"),
        ("[" * 17 + "]" * 17, "nested more than"),
        ("[]", "is not a jacviz session"),
    ],
)
def test_corrupt_files_are_refused(tmp_path, content, message):
    with pytest.raises(SessionError, match=message):
        load_session(write(tmp_path, content))


def test_truncated_binary_and_missing_files(full, tmp_path):
    save_session(full, tmp_path / "ok.jacviz")
    data = (tmp_path / "ok.jacviz").read_bytes()
    (tmp_path / "cut.jacviz").write_bytes(data[: len(data) // 2])
    with pytest.raises(SessionError, match="invalid JSON"):
        load_session(tmp_path / "cut.jacviz")
    (tmp_path / "bin.jacviz").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SessionError, match="not UTF-8"):
        load_session(tmp_path / "bin.jacviz")
    with pytest.raises(SessionError, match="does not exist"):
        load_session(tmp_path / "none.jacviz")
    with pytest.raises(SessionError, match="is a directory, not a session file"):
        load_session(tmp_path)


def test_the_network_opens_from_its_file_or_from_the_embedded_copy(tmp_path):
    network = tmp_path / "mine.safetensors"
    network.write_bytes((EXAMPLES_DIR / "relu_fold.safetensors").read_bytes())
    session = Session(ViewState(network=str(network)), network_data=network.read_bytes())
    cache = tmp_path / "cache"
    assert network_file(session, cache) == (str(network), False)  # the user's own file
    assert not cache.exists()
    network.write_bytes((EXAMPLES_DIR / "tanh_warp.safetensors").read_bytes())  # overwritten
    copy, embedded = network_file(session, cache)
    assert embedded and copy.endswith("mine.safetensors") and copy.startswith(str(cache))
    with open(copy, "rb") as handle:
        assert handle.read() == session.network_data
    network.unlink()
    assert network_file(session, cache) == (copy, True)  # the same copy, reused
    assert network_file(Session(ViewState()), cache) == (None, False)


def test_an_embedded_network_that_cannot_be_copied_is_a_clear_error(tmp_path):
    session = Session(ViewState(network="../../gone/x.pt"), network_data=b"bytes")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(SessionError, match="cannot copy the embedded network to"):
        network_file(session, blocked)
    copy, _ = network_file(session, tmp_path / "cache")
    assert copy.startswith(str(tmp_path / "cache")) and copy.endswith("x.pt")  # never outside


# ---- hostile values: refused whole, in one line naming the field ---------------------------------

RAW = "@@raw@@"
"""A field set to this is replaced by raw JSON text (tokens json.dumps cannot write)."""


def lab(document):
    return document["lab"]


HOSTILE = {
    "a lab point null": (
        lambda d: lab(d)["dataset"]["points"].__setitem__(3, None),
        "dataset points[3] must be a list",
    ),
    "a 400-digit coordinate": (
        lambda d: lab(d)["dataset"]["points"][3].__setitem__(0, 10**400),
        "dataset points[3][0] must be a finite number",
    ),
    "a coordinate of 1e400": (
        lambda d: lab(d)["dataset"]["points"][3].__setitem__(1, RAW),
        "dataset points[3][1] must be a finite number",
        "1e400",
    ),
    "a NUL network path": (
        lambda d: d["view"].update(network="\u0000"),
        "'network' holds the control character U+0000",
    ),
    "malformed curves": (
        lambda d: lab(d)["settings"]["curves"].__setitem__(1, [10, "a"]),
        "curves[1] must have 6 items",
    ),
    "curves that go back": (
        lambda d: lab(d)["settings"]["curves"][2].__setitem__(0, 5),
        "curves must run forward",
    ),
    "curves beyond the step": (
        lambda d: lab(d)["settings"]["curves"][2].__setitem__(0, 30),
        "curves[2] step must be a whole number from 0 to 20",
    ),
    "an infinite curve value": (
        lambda d: lab(d)["settings"]["curves"][1].__setitem__(3, RAW),
        "curves[1][3] must be a finite number",
        "-1e400",
    ),
    "data settings of 10**12 points": (
        lambda d: lab(d)["settings"]["data"].update(n_points=10**12),
        "data settings: blobs needs n_points",
    ),
    "a data seed beyond the lab's": (
        lambda d: lab(d)["settings"]["data"].update(seed=MAX_SEED + 1),
        "data settings: seed must be a whole number from 0 to 2147483647",
    ),
    "noise beyond the lab's": (
        lambda d: lab(d)["settings"]["data"].update(noise=2.5),
        "data settings: noise must be a number from 0 to 2",
    ),
    "classes of 10**12 for moons": (
        lambda d: lab(d)["settings"]["data"].update(name="moons", n_classes=10**12),
        "n_classes must be from 2 to 8",
    ),
    "a million-character dataset name": (
        lambda d: lab(d)["dataset"].update(name="n" * 1_000_000),
        "dataset name is longer than 255 characters",
    ),
    "a lone surrogate in a class name": (
        lambda d: lab(d)["dataset"]["class_names"].__setitem__(1, "b\ud800"),
        "class names[1] holds a lone surrogate",
    ),
    "a line break in a class name": (
        lambda d: lab(d)["dataset"]["class_names"].__setitem__(1, "a\nb"),
        "class names[1] holds the control character U+000A",
    ),
    "a formula that does not parse": (
        lambda d: d["view"].update(formula="x +* y, y"),
        "its formula 'x +* y, y' does not parse",
    ),
    "a formula of one output": (
        lambda d: d["view"].update(formula="x + y"),
        "its formula 'x + y' cannot be shown",
    ),
    "full-width digits for an output": (
        lambda d: d["view"].update(output_view="outputs(１,２)"),
        "'output_view' must be 'pca' or 'outputs(i,j)'",
    ),
    "a layer unit of 400 digits": (
        lambda d: d["view"].update(layer_units=[0, 10**400]),
        "'layer_units'[1] must be a whole number from 0 to 999999",
    ),
    "text for a number": (
        lambda d: d["view"].update(h="0.5"),
        "'h' must be a number, got '0.5'",
    ),
    "an infinite probe": (
        lambda d: d["view"].update(probe=[0, RAW]),
        "not a jacviz session (invalid JSON: Infinity is not allowed in JSON",
        "Infinity",
    ),
    "a probe of 1e400": (
        lambda d: d["view"].update(probe=[0, RAW]),
        "'probe'[1] must be a finite number",
        "1e400",
    ),
    "a domain no plane can draw": (
        lambda d: d["view"].update(domain=[-1e308, 1e308, 0, 1]),
        "view field 'domain'",
    ),
    "a plane whose points overflow": (
        lambda d: d["view"]["slice"][1].__setitem__(0, 1e308),
        "'slice'[1][0] must be a number from -1e+09 to 1e+09",
    ),
    "a plane of mismatched vectors": (
        lambda d: d["view"].update(slice=[[0, 0, 0], [1, 0], [0, 1, 0]]),
        "'slice' must be three vectors",
    ),
    "a learning rate of 400 digits": (
        lambda d: lab(d)["settings"]["model"].update(learning_rate=10**400),
        "model settings: learning_rate must be a finite number",
    ),
    "a batch size beyond the panel's": (
        lambda d: lab(d)["settings"]["model"].update(batch_size=10**12),
        "model settings: batch size must be a whole number 1..",
    ),
    "a configuration the lab's panel cannot show": (
        lambda d: lab(d)["settings"].pop("model") and lab(d)["config"].update(seed=2**40),
        "model settings: seed must be a whole number from 0 to 2147483647",
    ),
    "an activation the lab lacks": (
        lambda d: lab(d)["settings"]["model"].update(activation="swish"),
        "model settings: activation must be one of",
    ),
    "model settings of another configuration": (
        lambda d: lab(d)["settings"]["model"].update(steps=50),
        "model settings do not match its training configuration",
    ),
    "a selected class the data lack": (
        lambda d: lab(d)["settings"].update(selected_class=3),
        "selected class must be a whole number from 0 to 2",
    ),
    "an unknown display": (
        lambda d: lab(d)["settings"].update(display="rainbow"),
        "the lab's display must be one of regions, frobenius",
    ),
    "an unknown lab setting": (
        lambda d: lab(d)["settings"].update(colour=1),
        "settings has unknown field(s): 'colour'",
    ),
    "a step beyond the run": (
        lambda d: lab(d).update(step=41),
        "training step must be a whole number from 0 to 40",
    ),
    "a step without weights": (
        lambda d: lab(d).update(weights=None),
        "training step is 20, but it has no trained weights",
    ),
    "a learning rate of 1e400 in the configuration": (
        lambda d: lab(d)["config"].update(learning_rate=RAW),
        "training configuration: learning rate must be a number in (0, 10]",
        "1e400",
    ),
    "a 200-character network name": (
        lambda d: d["network"].update(name="n" * 300),
        "embedded network's name is longer than 255 characters",
    ),
    "nesting in a field": (
        lambda d: d["view"].update(probe=RAW),
        "nested more than 16 deep",
        "[" * 40 + "]" * 40,
    ),
    "a key given twice": (
        lambda d: d["view"].update(morph=RAW),
        "duplicate key 'morph'",
        '0.5, "morph": 1',
    ),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_values_are_refused_in_one_line_naming_the_field(full, tmp_path, case):
    mutate, words, *raw = HOSTILE[case]
    document = valid_document(full, tmp_path)
    mutate(document)
    text = json.dumps(document)
    if raw:
        text = text.replace(json.dumps(RAW), raw[0])
    path = write_raw(tmp_path / "hostile.jacviz", text)
    with pytest.raises(SessionError) as refused:
        load_session(path)
    message = str(refused.value)
    assert words in message, message
    assert message.startswith("hostile.jacviz") and len(message.splitlines()) == 1
    assert len(message) <= 300, message


@pytest.mark.timeout(3600)
def test_fuzzed_sessions_load_whole_or_are_refused_in_one_line(full, tmp_path):
    """A fixed sample of the fuzz campaign (the whole one: see session_fuzz.sample)."""
    good = tmp_path / "good.jacviz"
    save_session(full, good)
    cases = sample(mutations(good.read_text()), 500, seed=10)
    outcomes = {"loaded": 0, "refused": 0}
    for label, text in cases:
        path = write_raw(tmp_path / "fuzzed.jacviz", text)
        try:
            loaded = load_session(path)
        except SessionError as error:
            message = str(error)
            assert len(message.splitlines()) == 1 and len(message) <= 300, (label, message)
            outcomes["refused"] += 1
            continue
        # What loads is whole and valid: it saves, and loads again the same.
        save_session(loaded, tmp_path / "again.jacviz")
        again = load_session(tmp_path / "again.jacviz")
        assert again.view == loaded.view, label
        assert (again.lab is None) == (loaded.lab is None), label
        if loaded.lab is not None:
            assert again.lab.state == loaded.lab.state, label
            assert len(again.lab.curves) == len(loaded.lab.curves), label
        outcomes["loaded"] += 1
    assert sum(outcomes.values()) == len(cases) and outcomes["refused"] > 0.8 * len(cases)
    assert outcomes["loaded"] > 0.02 * len(cases), outcomes


def test_a_session_whose_formula_does_not_parse_is_refused_everywhere(qapp, capsys, tmp_path):
    document = json.loads(json.dumps({"format": "jacviz-session", "version": 1, "view": {}}))
    document.update(network=None, lab=None)
    document["view"]["formula"] = "asin(x) +* y, y"
    path = write_raw(tmp_path / "bad formula.jacviz", json.dumps(document))
    with pytest.raises(SessionError, match=r"its formula 'asin\(x\) \+\* y, y' does not parse"):
        load_session(path)
    out = tmp_path / "out.png"
    assert main(["render", "--session", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "does not parse" in err and len(err.splitlines()) == 1
    assert not out.exists()


# ---- saving: never a session that would not open -------------------------------------------------


def lab_with(dataset, **changes):
    lab = LabSession(dataset, TrainConfig(), None, 0, LabState(), ())
    return dataclasses.replace(lab, **changes)


def generated(**changes):
    """Moons, with some of the dataset's fields changed (as odd files or names make them)."""
    data = make_dataset("moons", n_points=20)
    fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    return Dataset(**{**fields, **changes})


@pytest.mark.parametrize(
    ("class_names", "message"),
    [
        (("a\ud800", "b"), r"holds a lone surrogate"),
        (("a\nb", "b"), r"holds the control character U\+000A"),
        (("a" * 300, "b"), r"is longer than 255"),
        (("", "b"), r"is empty"),
    ],
)
def test_a_dataset_a_session_could_not_keep_cannot_be_made(class_names, message):
    # Refused where datasets are made (CSV, lab, session), so no session can hold one and
    # saving never meets one.
    with pytest.raises(DatasetError, match=f"the class name .* {message}") as refused:
        generated(class_names=class_names)
    assert len(str(refused.value).splitlines()) == 1


def test_undecodable_file_names_are_saved_without_their_undecodable_part(tmp_path):
    # A network opened from, or a CSV named by, a file name that is not UTF-8 (a lone
    # surrogate in Python): the session keeps the network's bytes and the name, readable.
    network = tmp_path / "net\udcff.safetensors"
    data = (EXAMPLES_DIR / "relu_fold.safetensors").read_bytes()
    session = Session(
        ViewState(network=str(network)),
        network_data=data,
        lab=lab_with(generated(name="points\udcff")),
    )
    save_session(session, tmp_path / "s.jacviz")
    loaded = load_session(tmp_path / "s.jacviz")
    assert loaded.view.network is None and loaded.network_data == data
    assert loaded.lab.dataset.name == "points_"
    copy, embedded = network_file(loaded, tmp_path / "cache")
    assert embedded and copy.startswith(str(tmp_path / "cache"))
    with open(copy, "rb") as handle:
        assert handle.read() == data
    with pytest.raises(SessionError, match="'network' holds a lone surrogate"):
        save_session(Session(ViewState(network=str(network))), tmp_path / "s.jacviz")


def test_typed_settings_that_are_no_numbers_save_and_open(tmp_path):
    # The lab holds what was typed: "abc" as a learning rate is NaN there (JSON has none).
    model = ModelSettings(learning_rate=math.nan, jr_lambda=math.inf, hidden="8,²")
    with pytest.raises(TrainingError):
        model.config()
    session = Session(ViewState(), lab=lab_with(generated(), state=LabState(model=model)))
    save_session(session, tmp_path / "typed.jacviz")
    loaded = load_session(tmp_path / "typed.jacviz").lab.state.model
    assert math.isnan(loaded.learning_rate) and math.isnan(loaded.jr_lambda)
    assert loaded.hidden == "8,²" and loaded.batch_size == model.batch_size


# ---- the lab's settings, by the lab's rules ------------------------------------------------------


@pytest.mark.parametrize("text", ["１２", "²", "1_0", "9" * 5000, "0x10", "1e3", "8,8.0"])
def test_hidden_sizes_are_plain_decimal_whole_numbers(text):
    with pytest.raises(TrainingError, match="hidden sizes"):
        parse_hidden(text)


def test_lab_settings_read_from_json_as_the_lab_holds_them():
    assert DataSettings.from_dict({}) == DataSettings()
    assert DataSettings.from_dict(DataSettings(name="blobs", n_classes=5).to_dict()).n_classes == 5
    assert ModelSettings.from_dict({"learning_rate": None}).learning_rate != 0.01
    for data, words in (
        ({"name": "moons", "n_points": 3}, "n_points"),
        ({"seed": -1}, "seed"),
        ({"noise": math.nan}, "noise"),
        ({"test_fraction": 0.95}, "test_fraction"),
        ({"n_classes": True}, "n_classes"),
        ({"name": "Moons"}, "name"),
    ):
        with pytest.raises(ValueError, match=words):
            DataSettings.from_dict(data)
    for model, words in (
        ({"batch_size": 0}, "batch size"),
        ({"steps": 10**7}, "steps"),
        ({"n_proj": 65}, "number of projections"),
        ({"seed": 2**31}, "seed"),
        ({"hidden": 32}, "hidden must be text"),
        ({"hidden": "8" * 201}, "longer than 200"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"weight_decay": "0"}, "weight_decay must be a number"),
    ):
        with pytest.raises(ValueError, match=words):
            ModelSettings.from_dict(model)


def test_curves_round_trip_with_their_missing_values(full, tmp_path):
    rows = full.lab.curves
    assert math.isnan(rows[0][2]) and all(math.isfinite(v) for v in rows[1])
    curves = Curves.from_rows(list(rows))
    assert curves.step.tolist() == [0.0, 10.0, 20.0]
    assert set(LAB_DISPLAYS) == {"regions", "frobenius"}


# ---- state restored at start-up: the same rules --------------------------------------------------


def test_view_state_round_trips_through_json_text():
    state = ViewState(formula="sin(x), y", heatmap=None, output_view="outputs(1,2)")
    assert ViewState.from_json(state.to_json()) == state
    odd = ViewState(network="/n\udcff.pt")
    with pytest.raises(ValueError, match="lone surrogate"):
        ViewState.from_json(odd.to_json())  # written without failing, refused when read


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"h": "1_0"}', "'h' must be a number, got '1_0'"),
        ('{"grid_lines": "１２"}', "'grid_lines' must be a whole number"),
        ('{"probe": [NaN, 0]}', "NaN is not allowed"),
        ('{"probe": [1e400, 0]}', "'probe'[0] must be a finite number"),
        ('{"morph": 0.5, "morph": 1}', "duplicate key 'morph'"),
        ('{"output_view": "outputs(١,٢)"}', "'output_view' must be"),
        ('{"formula": "x\\u0000"}', "'formula' holds the control character"),
        ('{"network": ""}', "'network' must not be empty"),
        ("[1, 2]", "the view must be a JSON object"),
    ],
)
def test_view_state_from_settings_text_is_refused_in_one_line(text, words):
    with pytest.raises(ValueError) as refused:
        ViewState.from_json(text)
    assert words in str(refused.value) and len(str(refused.value)) < 200


def test_output_views_are_ascii_digits_of_bounded_size():
    huge = "outputs(" + "9" * 5000 + ",0)"
    for view in ("outputs(１,２)", huge, "outputs(1,2) ", "outputs(1,1)"):
        with pytest.raises(ValueError, match="output_view") as refused:
            ViewState(output_view=view)
        assert len(str(refused.value)) < 200
    assert ViewState(output_view="outputs(0,999999)").output_view == "outputs(0,999999)"
