"""Sessions: exact round trips, atomic saves, and clear refusals of bad or hostile files."""

import base64
import json
import os
import pickle

import numpy as np
import pytest
import torch

from jacviz.core.datasets import make_dataset
from jacviz.core.grid import Domain
from jacviz.core.networks import EXAMPLES_DIR
from jacviz.core.session import (
    SESSION_VERSION,
    LabSession,
    Session,
    SessionError,
    load_session,
    network_file,
    save_session,
)
from jacviz.core.state import ViewState
from jacviz.core.training import TrainConfig, run


@pytest.fixture(scope="module")
def trained():
    data = make_dataset("moons", n_points=80, seed=2).with_point((0.25, 0.5), 1, test=True)
    config = TrainConfig(hidden=(8,), steps=40, jr_lambda=0.1)
    return data, config, run(data, config)


def full_session(trained):
    data, config, last = trained
    network = EXAMPLES_DIR / "tanh_warp.safetensors"
    view = ViewState(
        network=str(network),
        domain=Domain(-1.5, 2.5, -1.0, 1.25),
        probe=(0.1, -0.3),
        h=0.125,
        heatmap="smax",
        morph=0.5,
        layer_units=(3, 5),
    )
    lab = LabSession(data, config, last.state, last.step, {"display": "regions"})
    return Session(view=view, network_data=network.read_bytes(), lab=lab)


def test_a_session_round_trips_exactly(trained, tmp_path):
    session = full_session(trained)
    path = tmp_path / "work.jacviz"
    save_session(session, path)
    loaded = load_session(path)
    assert loaded.view == session.view
    assert loaded.network_data == session.network_data
    assert loaded.network is not None and loaded.network.output_dim == 2
    lab, original = loaded.lab, session.lab
    np.testing.assert_array_equal(lab.dataset.points, original.dataset.points)  # bit-exact
    np.testing.assert_array_equal(lab.dataset.labels, original.dataset.labels)
    np.testing.assert_array_equal(lab.dataset.is_test, original.dataset.is_test)
    assert lab.dataset.class_names == original.dataset.class_names
    assert lab.config == original.config and lab.step == original.step == 40
    assert lab.settings == {"display": "regions"}
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


def test_saving_is_atomic_and_failures_keep_the_old_file(trained, tmp_path, monkeypatch):
    path = tmp_path / "keep.jacviz"
    save_session(Session(ViewState(formula="x, y")), path)
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(SessionError, match="No space left on device"):
        save_session(full_session(trained), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.jacviz"]  # no temp file left


def test_unwritable_path_is_a_clear_error(tmp_path):
    with pytest.raises(SessionError, match="cannot save the session to"):
        save_session(Session(ViewState()), tmp_path / "missing" / "s.jacviz")


def write(tmp_path, document, name="bad.jacviz"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def valid_document(trained, tmp_path):
    save_session(full_session(trained), tmp_path / "ok.jacviz")
    return json.loads((tmp_path / "ok.jacviz").read_text())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(version=SESSION_VERSION + 1), "saved by a newer jacviz"),
        (lambda d: d.update(version="1"), "not a version number"),
        (lambda d: d.update(format="other"), "is not a jacviz session"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.pop("lab"), "lacks field"),
        (lambda d: d["view"].update(probe=[1]), "'probe' must be a list of 2 numbers"),
        (lambda d: d["view"].update(heatmap="rainbow"), "unknown heatmap"),
        (lambda d: d["view"].update(grid_lines=1e9), "'grid_lines' must be a whole number"),
        (lambda d: d["view"].update(colour="red"), "unknown view field"),
        (lambda d: d["network"].update(data="@@@"), "not valid base64"),
        (
            lambda d: d["network"].update(data=base64.b64encode(b"not a network").decode()),
            "text file, not a network",
        ),
        (lambda d: d["lab"]["config"].update(activation="swish"), "unknown activation"),
        (lambda d: d["lab"]["config"].update(hidden=[9]), "weights do not fit"),
        (lambda d: d["lab"].update(step=-1), "step must be"),
        (lambda d: d["lab"]["dataset"].update(points=[[0, 1, 2]]), "points must be"),
        (lambda d: d["lab"]["dataset"]["labels"].__setitem__(0, 7), "label"),
        (lambda d: d["lab"].update(weights="AAAA"), "not a safetensors file"),
    ],
)
def test_malformed_sessions_are_refused_with_a_message(trained, tmp_path, mutate, message):
    document = valid_document(trained, tmp_path)
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
        ("[" * 100_000 + "]" * 100_000, "invalid JSON"),
        ("[]", "is not a jacviz session"),
    ],
)
def test_corrupt_files_are_refused(tmp_path, content, message):
    with pytest.raises(SessionError, match=message):
        load_session(write(tmp_path, content))


def test_truncated_binary_and_missing_files(trained, tmp_path):
    save_session(full_session(trained), tmp_path / "ok.jacviz")
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
