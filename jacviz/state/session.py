"""Sessions: everything a user was looking at, saved as one versioned JSON file (``.jacviz``).

A session holds the view state (:class:`~jacviz.state.view.ViewState`: map, domain, probe,
overlays, heatmap), the bytes of the network file shown, if any (so the session still opens
after that file moved or changed), and the regularization lab's dataset, settings
(:class:`~jacviz.state.lab.LabState`), curves and trained weights, if any.

A session file is hostile input until checked, and it is checked whole before anything
changes: :func:`load_session` reads plain JSON with a size limit, refusing duplicate keys,
``NaN``/``Infinity`` tokens and deep nesting (:func:`~jacviz.support.json_input.parse_json`);
then every field's type, range and length, and text for NUL, line breaks and lone
surrogates; the formula is parsed (:func:`check_formula`); the lab's settings are read by the
rules the lab applies (:mod:`jacviz.state.lab`) and checked against its data,
configuration, weights and curves; an embedded network goes through
:func:`~jacviz.nets.networks.load_network_bytes` (never unpickled); weights are safetensors
(no code). What it returns is immutable and complete, so showing it cannot fail halfway. Any
problem raises :class:`SessionError` with one line naming the field, and nothing is
half-loaded.

Saving is atomic (the old file stays intact until the new one is complete), and a session is
checked by the same reader before it is written: jacviz never writes a session it would refuse
to open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jacviz.math.formula import FormulaError
from jacviz.math.maps import FormulaMap, require_planar
from jacviz.nets.datasets import MAX_CLASSES, MAX_POINTS, Dataset
from jacviz.nets.networks import MAX_FILE_BYTES, NetworkError
from jacviz.nets.training import MAX_STEPS, TrainConfig, TrainingError
from jacviz.state.lab import LAB_DISPLAYS, Curves, DataSettings, LabState, ModelSettings
from jacviz.state.view import MAX_PATH, ViewState
from jacviz.support.files import read_regular_file, write_atomically
from jacviz.support.json_input import (
    optional,
    parse_json,
    read_choice,
    read_integer,
    read_list,
    read_number,
    read_object,
    read_text,
    shown,
    text_problem,
)
from jacviz.support.text_input import one_line, printable, quote

if TYPE_CHECKING:  # torch and the network loaders load with the first network or weights
    import torch

    from jacviz.nets.networks import Network

SESSION_FORMAT = "jacviz-session"
SESSION_VERSION = 1
SESSION_SUFFIX = ".jacviz"
MAX_SESSION_BYTES = 2 * MAX_FILE_BYTES + 32 * 1024 * 1024
"""Largest session file read: an embedded network (base64 adds a third), a dataset, weights."""
MAX_NAME = 255
"""Longest name a session holds: of the network file, the dataset, a class (a file name's
length on common file systems)."""
LAB_SETTINGS = ("data", "model", "display", "selected_class", "curves")
"""The keys of the lab's ``settings`` object in a session file."""


class SessionError(ValueError):
    """A session that cannot be saved or opened; the message says why in one line."""


@dataclass(frozen=True, eq=False)
class LabSession:
    """The regularization lab's part of a session: checked, complete, ready to show.

    Attributes
    ----------
    dataset : Dataset
        The points, labels and split, exactly (including points added by hand).
    config : TrainConfig
        The training configuration of ``weights``.
    weights : dict of str to torch.Tensor, or None
        The trained model's ``state_dict`` (of :func:`~jacviz.nets.training.build_model`'s
        architecture for ``config``, finite), or None if nothing was trained.
    step : int
        Training steps behind ``weights`` (0 without weights), at most ``config.steps``.
    state : LabState
        What the lab shows: data and model settings as entered, display, selected class.
        Its model settings make ``config``, or (without weights) no valid configuration.
    curves : tuple of tuple of float
        The run's history up to ``step``: rows of :meth:`Curves.row
        <jacviz.state.lab.Curves.row>` (a whole step, then floats; NaN where there is no
        value), steps increasing.

    """

    dataset: Dataset
    config: TrainConfig
    weights: dict[str, torch.Tensor] | None = None
    step: int = 0
    state: LabState = field(default_factory=LabState)
    curves: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True, eq=False)
class Session:
    """What :func:`save_session` writes and :func:`load_session` returns.

    ``network_data`` is the content of the network file the view shows (``view.network`` is
    its path when saved); ``network`` is that network, loaded from those bytes, on the session
    :func:`load_session` returns (a TorchScript or export network runs in a child process,
    which stops when the session is dropped).
    """

    view: ViewState
    network_data: bytes | None = None
    lab: LabSession | None = None
    network: Network | None = None


def save_session(session: Session, path: str | os.PathLike) -> None:
    """Write ``session`` to ``path`` atomically (a crash mid-write leaves the old file intact).

    The document is first read back as :func:`load_session` reads it (all but the embedded
    network and the formula, which were loaded to be shown), so a session that could not be
    opened again is never written: text that is not valid Unicode (a lone surrogate) or too
    long, for instance. A network path or dataset name that came from an undecodable file name
    is the exception: the session keeps the network's bytes without its path, and the name
    with the undecodable characters replaced.

    Raises
    ------
    SessionError
        If the session cannot be written: content that would not read back (the message
        names the field), an unwritable path or a full disk (the message says which).

    """
    target = Path(path)
    try:
        text = json.dumps(_document(session), allow_nan=False, ensure_ascii=False, indent=1)
        _read_document(parse_json(text), load_network=False)
        payload = text.encode("utf-8")
    except (TypeError, ValueError) as error:  # DatasetError, TrainingError are ValueErrors
        raise SessionError(one_line(f"cannot save the session: {error}")) from None
    try:
        write_atomically(target, payload)
    except OSError as error:
        reason = error.strerror or str(error)
        raise SessionError(one_line(f"cannot save the session to {target}: {reason}")) from None


def load_session(path: str | os.PathLike) -> Session:
    """Read a session file written by :func:`save_session`, checking everything.

    Raises
    ------
    SessionError
        One line saying what is wrong: the file is missing, unreadable, too large, not UTF-8
        JSON (or JSON with duplicate keys, ``NaN`` or ``Infinity``, or nested too deep), not
        a jacviz session, from a newer version of jacviz; or a field (named) has the wrong
        type, an invalid value or invalid text; or its formula, embedded network or weights
        are refused.

    """
    source = Path(path)
    name = printable(source.name or str(source), MAX_NAME)  # odd names quoted and escaped
    data = read_regular_file(source, name, MAX_SESSION_BYTES, "session file", SessionError)
    try:
        document = parse_json(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SessionError(f"{name} is not a jacviz session (not UTF-8 text)") from None
    except ValueError as error:
        raise SessionError(
            one_line(f"{name} is not a jacviz session (invalid JSON: {error})")
        ) from None
    try:
        return _read_document(document, name)
    except SessionError:
        raise
    except ValueError as error:  # DatasetError, TrainingError, NetworkError are ValueErrors
        raise SessionError(one_line(f"{name}: {error}")) from None


def check_formula(text: str) -> None:
    """Raise ValueError unless ``text`` is a formula the app can show: it parses, 2 → 2+.

    The one place where a session's formula is parsed: in a child process with a time limit
    (:func:`~jacviz.math.maps.check_formula`), since parsing a formula can take sympy minutes.
    """
    try:
        require_planar(FormulaMap.from_text(text))
    except FormulaError as error:
        raise ValueError(f"its formula {quote(text)} does not parse: {error}") from None
    except ValueError as error:
        raise ValueError(f"its formula {quote(text)} cannot be shown: {error}") from None


def network_file(session: Session, folder: str | os.PathLike) -> tuple[str | None, bool]:
    """Where to open the session's network from, and whether that is the embedded copy.

    The original path (``session.view.network``) when nothing is embedded, or when the file
    there still holds exactly the embedded bytes: the user keeps working on their own file.
    Otherwise (the file moved, changed or cannot be read) the embedded bytes are copied to
    ``folder`` (a per-user cache), in a subfolder named by their SHA-256, so that two
    sessions never overwrite each other's networks and opening a session again reuses its
    copy. The copy keeps the original file name, which the app shows.

    Returns
    -------
    path : str or None
        The network file to open; None when the session shows a formula.
    embedded : bool
        True when ``path`` is the copy of the embedded bytes.

    Raises
    ------
    SessionError
        If the copy cannot be written (the message says where and why).

    """
    original, data = session.view.network, session.network_data
    if data is None:
        return original, False
    if original is not None:
        from jacviz.nets.networks import read_network_file

        try:
            if read_network_file(original) == data:
                return original, False
        except NetworkError:
            pass  # moved, deleted or unreadable: the embedded copy stands in for it
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(original or "").name).lstrip(".")[:100]
    target = Path(folder) / hashlib.sha256(data).hexdigest()[:32] / (name or "network")
    try:
        if not (target.is_file() and target.read_bytes() == data):
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, data)
    except OSError as error:
        reason = error.strerror or str(error)
        raise SessionError(
            f"cannot copy the embedded network to {target.parent}: {reason}"
        ) from None
    return str(target), True


# ----------------------------------------------------------------------------------------------
# To JSON
# ----------------------------------------------------------------------------------------------


def _encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _storable_name(name: str) -> str:
    """``name`` as a session can hold it: undecodable or control characters become ``_``."""
    return "".join(c if text_problem(c, 1) is None else "_" for c in name)[:MAX_NAME]


def _document(session: Session) -> dict[str, Any]:
    view = session.view.to_dict()
    document: dict[str, Any] = {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION,
        "view": view,
        "network": None,
        "lab": None,
    }
    if session.network_data is not None:
        path = session.view.network or "network"
        if view["network"] is not None and text_problem(view["network"], MAX_PATH):
            view["network"] = None  # an undecodable path: the embedded bytes stand in for it
        document["network"] = {
            "name": _storable_name(Path(path).name) or "network",
            "data": _encode_bytes(session.network_data),
        }
    lab = session.lab
    if lab is not None:
        dataset = lab.dataset
        document["lab"] = {
            "dataset": {
                "name": _storable_name(dataset.name),
                "class_names": list(dataset.class_names),
                "n_classes": dataset.n_classes,
                "points": dataset.points.tolist(),
                "labels": dataset.labels.tolist(),
                "is_test": dataset.is_test.tolist(),
            },
            "config": lab.config.to_dict(),
            "weights": None
            if lab.weights is None
            else _encode_bytes(
                _safetensors().save({k: v.contiguous() for k, v in lab.weights.items()})
            ),
            "step": lab.step,
            "settings": {
                "data": lab.state.data.to_dict(),
                "model": lab.state.model.to_dict(),
                "display": lab.state.display,
                "selected_class": lab.state.selected_class,
                "curves": [
                    [int(row[0])] + [v if math.isfinite(v) else None for v in row[1:]]
                    for row in lab.curves
                ],
            },
        }
    return document


# ----------------------------------------------------------------------------------------------
# From JSON: every field checked, nothing used before the whole document passed
# ----------------------------------------------------------------------------------------------


def _decode_bytes(text: object, where: str, limit: int) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{where} must be base64 text, got {shown(text)}")
    if len(text) > 4 * (limit // 3 + 1):
        raise ValueError(f"{where} is larger than the {limit} bytes jacviz accepts")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError(f"{where} is not valid base64") from None


def _read_document(document: object, name: str = "", load_network: bool = True) -> Session:
    """The session in a parsed JSON document, every field checked (ValueError otherwise).

    ``load_network`` False skips loading the embedded network and parsing the formula (for
    checking a session about to be saved, whose network and formula are shown already).
    """
    if not isinstance(document, dict) or document.get("format") != SESSION_FORMAT:
        raise SessionError(f"{name} is not a jacviz session (no 'format': '{SESSION_FORMAT}')")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"its version {shown(version)} is not a version number")
    if version > SESSION_VERSION:
        raise ValueError(
            f"it was saved by a newer jacviz (session version {shown(version)}); this one "
            f"reads version {SESSION_VERSION}: update jacviz to open it"
        )
    document = read_object(document, "the session", ("format", "version", "view", "network", "lab"))
    view = ViewState.from_dict(document["view"])
    entry = document["network"]
    if entry is not None:
        entry = read_object(entry, "the embedded network", ("name", "data"))
        label = read_text(entry["name"], "the embedded network's name", MAX_NAME, False)
        network_data = _decode_bytes(entry["data"], "the embedded network", MAX_FILE_BYTES)
    lab = None if document["lab"] is None else _read_lab(document["lab"])
    if not load_network:
        return Session(view=view, network_data=None if entry is None else network_data, lab=lab)
    check_formula(view.formula)
    if entry is None:
        return Session(view=view, lab=lab)
    from jacviz.nets.networks import load_network_bytes

    network = load_network_bytes(network_data, label)  # last: the slowest check
    return Session(view=view, network_data=network_data, lab=lab, network=network)


def _read_lab(value: object) -> LabSession:
    lab = read_object(value, "the lab", ("dataset", "config", "weights", "step", "settings"))
    dataset = _read_dataset(lab["dataset"])
    config = _read_config(lab["config"])
    step = read_integer(lab["step"], "the lab's training step", 0, config.steps)
    weights = None
    if lab["weights"] is not None:
        weights = _read_weights(lab["weights"], config, dataset.n_classes)
    elif step != 0:
        raise ValueError(f"the lab's training step is {step}, but it has no trained weights")
    settings = read_object(lab["settings"], "the lab's settings", (), LAB_SETTINGS)
    model = settings.get("model")
    state = LabState(
        data=DataSettings.from_dict(settings.get("data", {})),
        model=ModelSettings.from_config(config)
        if model is None
        else ModelSettings.from_dict(model),
        display=read_choice(
            settings.get("display", LAB_DISPLAYS[0]), "the lab's display", LAB_DISPLAYS
        ),
        selected_class=read_integer(
            settings.get("selected_class", 0), "the lab's selected class", 0, dataset.n_classes - 1
        ),
    )
    try:
        typed: TrainConfig | None = state.model.config()
    except TrainingError:
        typed = None  # settings as typed, invalid: kept, and reported by the lab
    if (typed is None and weights is not None) or typed not in (None, config):
        raise ValueError("the lab's model settings do not match its training configuration")
    curves = _read_curves(settings.get("curves", []), step)
    return LabSession(dataset, config, weights, step, state, curves)


def _read_dataset(value: object) -> Dataset:
    where = "the lab's dataset"
    data = read_object(
        value, where, ("name", "class_names", "n_classes", "points", "labels", "is_test")
    )
    name = read_text(data["name"], f"{where} name", MAX_NAME)
    n_classes = read_integer(data["n_classes"], f"{where}'s number of classes", 1, MAX_CLASSES)
    class_names = read_list(
        data["class_names"],
        f"{where}'s class names",
        lambda item, at: read_text(item, at, MAX_NAME, allow_empty=False),
        length=n_classes,
    )
    points = _read_points(data["points"], f"{where} points")
    count = len(points)
    labels = read_list(
        data["labels"],
        f"{where} labels",
        lambda item, at: read_integer(item, at, 0, n_classes - 1),
        length=count,
    )
    is_test = read_list(data["is_test"], f"{where} split (is_test)", _boolean, length=count)
    dataset = Dataset(
        points=points,
        labels=np.array(labels, dtype=np.int64),
        is_test=np.array(is_test, dtype=bool),
        n_classes=n_classes,
        name=name,
        class_names=class_names,
    )
    try:
        dataset.domain  # noqa: B018  (the frame the lab shows them in must exist)
    except ValueError as error:
        raise ValueError(f"{where} points cannot be shown: {error}") from None
    return dataset


def _read_points(value: object, where: str) -> np.ndarray:
    """``(n, 2)`` finite float64 points from ``[[x, y], ...]``, fast for well-formed lists."""
    if not isinstance(value, list) or len(value) > MAX_POINTS:
        read_list(value, where, lambda item, at: item, max_length=MAX_POINTS)  # says why
    numbers = (int, float)
    if all(
        type(row) is list and len(row) == 2 and type(row[0]) in numbers and type(row[1]) in numbers
        for row in value
    ):
        try:
            points = np.array(value, dtype=np.float64).reshape(-1, 2)
        except OverflowError:  # an integer beyond the float range: named below
            pass
        else:
            if np.isfinite(points).all():
                return points
    # Something is wrong: read item by item, for a message naming the first bad one.
    read_list(value, where, lambda row, at: read_list(row, at, read_number, length=2))
    raise ValueError(f"{where} must be [x, y] pairs of finite numbers")


def _boolean(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {shown(value)}")
    return value


def _read_config(value: object) -> TrainConfig:
    try:
        return TrainConfig.from_dict(value)  # types, ranges and choices: its own rules
    except TrainingError as error:
        raise ValueError(f"the lab's training configuration: {error}") from None


def _safetensors() -> Any:
    """safetensors' torch half, imported with the first weights saved or read."""
    import safetensors.torch

    return safetensors.torch


def _read_weights(value: object, config: TrainConfig, n_classes: int) -> dict[str, torch.Tensor]:
    import torch

    from jacviz.nets.training import load_state

    raw = _decode_bytes(value, "the lab's weights", MAX_SESSION_BYTES)
    try:
        tensors = _safetensors().load(raw)
    except Exception as error:  # safetensors raises its own error types on bad bytes
        raise ValueError(
            f"the lab's weights are not a safetensors file ({one_line(str(error), 80)})"
        ) from None
    try:
        model = load_state(config, tensors, 2, n_classes)  # they must fit exactly
    except TrainingError as error:
        raise ValueError(f"the lab's {error}") from None
    weights = {key: tensor.detach().clone() for key, tensor in model.state_dict().items()}
    if not all(bool(torch.isfinite(t).all()) for t in weights.values()):
        raise ValueError("the lab's weights contain NaN or infinity")
    return weights


def _read_curves(value: object, step: int) -> tuple[tuple[float, ...], ...]:
    """Rows of (step, then numbers or null); steps from 0 to ``step``, increasing."""
    where = "the lab's curves"
    width = len(Curves.__dataclass_fields__)
    value_of = optional(read_number)
    rows: list[tuple[float, ...]] = []

    def row(item: object, at: str) -> tuple[float, ...]:
        cells = read_list(item, at, lambda cell, _at: cell, length=width)
        first = read_integer(cells[0], f"{at} step", 0, step)
        if rows and first <= rows[-1][0]:
            raise ValueError(
                f"{where} must run forward: {at} step {first} comes after {rows[-1][0]:g}"
            )
        values = [value_of(cell, f"{at}[{k}]") for k, cell in enumerate(cells[1:], start=1)]
        rows.append((first, *(math.nan if v is None else v for v in values)))
        return rows[-1]

    return read_list(value, where, row, max_length=min(step, MAX_STEPS) + 1)
