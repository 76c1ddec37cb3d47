"""Hostile variants of a real session file, for the fuzz tests of sessions (core and app).

:func:`full_session` is a session with everything in it: a formula, a network shown on a plane
of its 3 inputs and embedded, and a lab with generated and hand-added points, its settings,
curves and a trained model. :func:`mutations` derives hostile documents from its JSON: every
field (of long lists, the first, second and last items) replaced by values of the wrong type,
``null``, huge integers, ``NaN``/``Infinity`` tokens, huge text, lone surrogates, NUL,
deep nesting; fields removed, added and given twice; the text cut short.
"""

import itertools
import json
import os
import random

from jacviz.math.grid import Domain
from jacviz.nets.networks import EXAMPLES_DIR
from jacviz.nets.training import train
from jacviz.state.lab import FROBENIUS, Curves, DataSettings, LabState, ModelSettings
from jacviz.state.session import LabSession, Session
from jacviz.state.view import ViewState

NETWORK = EXAMPLES_DIR / "turn_3d.safetensors"
DATA = DataSettings(name="blobs", n_points=24, seed=2, n_classes=3)
MODEL = ModelSettings(hidden="6", steps=40, batch_size=16, jr_lambda=0.1)

HUGE = 10**400
VALUES = (
    None, True, False, 0, -1, 1, 2, HUGE, -HUGE, 2**63, 2**31, 1.5, -0.0, 1e308, -1e308, 5e-324,
    "", "x", "\u0000", "a\u0000b", "\ud800", "\udcff", "a" * 1_000_000, "１", "1_0", "²", "nan",
    "outputs(１,２)", "outputs(" + "9" * 5000 + ",0)", "outputs(1,1)", "pca", "regions", "blobs",
    "line\nbreak", [], {}, [1], [None], [0.0, 0.0], ["x"], [1] * 100_000, {"a": 1},
)  # fmt: skip
TOKENS = (
    "NaN", "Infinity", "-Infinity", "1" + "0" * 400, "-" + "9" * 400, "1e400", "-1e400",
    "[" * 60 + "]" * 60, "[" * 3000 + "]" * 3000, '{"a":' * 500 + "1" + "}" * 500,
)  # fmt: skip
_MARK = '"@@mark@@"'


def full_session():
    """A session with a formula, an embedded network on a plane, and a trained lab."""
    dataset = DATA.make().with_point((0.25, 0.5), 1, test=True)
    config = MODEL.config()
    snapshots = list(itertools.islice(train(dataset, config, snapshot_every=10), 3))  # to 20
    rows = tuple(Curves.row(s, config.jr_lambda) for s in snapshots)
    last = snapshots[-1]
    view = ViewState(
        formula="sin(x) + y, x*y",
        network=str(NETWORK),
        slice=((0.0, 0.0, 0.5), (1.0, 0.0, 0.0), (0.0, 1.0, 1.0)),
        domain=Domain(-1.5, 2.5, -1.0, 1.25),
        probe=(0.1, -0.3),
        h=0.125,
        heatmap="smax",
        morph=0.5,
        layer_units=(1, 2),
    )
    state = LabState(DATA, MODEL, FROBENIUS, 1)
    lab = LabSession(dataset, config, last.state, last.step, state, rows)
    return Session(view=view, network_data=NETWORK.read_bytes(), lab=lab)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index in sorted({0, 1, len(node) - 1} & set(range(len(node)))):
            yield from _paths(node[index], (*prefix, index))


def _at(document, path):
    for key in path:
        document = document[key]
    return document


def _replaced(document, path, value):
    copy = json.loads(json.dumps(document))
    if not path:
        return value
    _at(copy, path[:-1])[path[-1]] = value
    return copy


def mutations(valid_text, seed=0, cuts=60):
    """Yield ``(label, text)``: hostile variants of the session JSON ``valid_text``."""
    document = json.loads(valid_text)
    for path in _paths(document):
        for index, value in enumerate(VALUES):
            yield f"{path} = VALUES[{index}]", json.dumps(_replaced(document, path, value))
        marked = json.dumps(_replaced(document, path, "@@mark@@"))
        for token in TOKENS:
            yield f"{path} = {token[:12]}", marked.replace(_MARK, token)
        node = _at(document, path)
        if path and isinstance(_at(document, path[:-1]), dict | list):
            copy = json.loads(json.dumps(document))
            del _at(copy, path[:-1])[path[-1]]
            yield f"{path} removed", json.dumps(copy)
        if path and isinstance(_at(document, path[:-1]), dict):
            twice = f"{json.dumps(node)}, {json.dumps(path[-1])}: 0"
            yield f"{path} twice", marked.replace(_MARK, twice)
        if isinstance(node, dict):
            yield f"{path} + field", json.dumps(_replaced(document, path, {**node, "extra": 1}))
        if isinstance(node, list):
            for label, value in (("doubled", node + node), ("nested", [node]), ("emptied", [])):
                yield f"{path} {label}", json.dumps(_replaced(document, path, value))
    rng = random.Random(seed)
    for _ in range(cuts):
        cut = rng.randrange(len(valid_text))
        yield f"cut at {cut}", valid_text[:cut]


def sample(items, count, seed=0):
    """A fixed choice of ``count`` of ``items``; all of them with JACVIZ_FUZZ_ALL=1 set.

    The tests run a sample; the whole campaign (thousands of cases, minutes) runs with
    ``JACVIZ_FUZZ_ALL=1 pytest -k fuzz tests/test_session.py tests/test_sessions_app.py``.
    """
    items = list(items)
    if len(items) <= count or os.environ.get("JACVIZ_FUZZ_ALL") == "1":
        return items
    return sorted(random.Random(seed).sample(items, count), key=items.index)


def write(path, text):
    """Write ``text`` as UTF-8, lone surrogates and all (as a hostile editor could)."""
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path
