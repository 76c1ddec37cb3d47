"""Sessions: everything a user was looking at, saved as one versioned JSON file (``.jacviz``).

A session holds the view state (:class:`~jacviz.core.state.ViewState`: map, domain, probe,
overlays, heatmap), the bytes of the network file shown, if any (so the session still opens
after that file moved or changed), and the regularization lab's dataset, training settings and
trained weights, if any.

Opening a session is as careful as opening a network: the file is plain JSON read with a size
limit and duplicate keys refused; every field is type-checked; an embedded network goes
through :func:`~jacviz.core.networks.load_network_bytes` (never unpickled); weights are
safetensors (no code). Any problem raises :class:`SessionError` with one line saying what is
wrong, and nothing is half-loaded. Saving is atomic: the old file stays intact until the new
one is complete.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from jacviz.core.datasets import Dataset, DatasetError
from jacviz.core.files import read_regular_file, write_atomically
from jacviz.core.networks import (
    MAX_FILE_BYTES,
    LoadedNetwork,
    NetworkError,
    _strict_json,
    load_network_bytes,
    read_network_file,
)
from jacviz.core.state import ViewState
from jacviz.core.training import TrainConfig, TrainingError, load_state

SESSION_FORMAT = "jacviz-session"
SESSION_VERSION = 1
SESSION_SUFFIX = ".jacviz"
MAX_SESSION_BYTES = 2 * MAX_FILE_BYTES + 32 * 1024 * 1024
"""Largest session file read: an embedded network (base64 adds a third), a dataset, weights."""


class SessionError(ValueError):
    """A session that cannot be saved or opened; the message says why in one line."""


@dataclass(frozen=True, eq=False)
class LabSession:
    """The regularization lab's part of a session.

    Attributes
    ----------
    dataset : Dataset
        The points, labels and split, exactly (including points added by hand).
    config : TrainConfig
        The training settings.
    weights : dict of str to torch.Tensor, or None
        The trained model's ``state_dict`` (of :func:`~jacviz.core.training.build_model`'s
        architecture for ``config``), or None if nothing was trained.
    step : int
        Training steps behind ``weights``.
    settings : dict
        The lab window's own JSON settings (what it shows, how data were generated), read back
        by the lab, which checks them.

    """

    dataset: Dataset
    config: TrainConfig
    weights: dict[str, torch.Tensor] | None = None
    step: int = 0
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Session:
    """What :func:`save_session` writes and :func:`load_session` returns.

    ``network_data`` is the content of the network file the view shows (``view.network`` is
    its path when saved); ``network`` is that network, loaded from those bytes, on the session
    :func:`load_session` returns.
    """

    view: ViewState
    network_data: bytes | None = None
    lab: LabSession | None = None
    network: LoadedNetwork | None = None


def save_session(session: Session, path: str | os.PathLike) -> None:
    """Write ``session`` to ``path`` atomically (a crash mid-write leaves the old file intact).

    Raises
    ------
    SessionError
        If the session cannot be written: unwritable path, a full disk (the message says
        which), or content that is not serialisable.

    """
    target = Path(path)
    try:
        text = json.dumps(_document(session), allow_nan=False, ensure_ascii=False, indent=1)
    except (TypeError, ValueError) as error:
        raise SessionError(f"cannot save the session: {error}") from None
    try:
        write_atomically(target, text.encode("utf-8"))
    except OSError as error:
        reason = error.strerror or str(error)
        raise SessionError(f"cannot save the session to {target}: {reason}") from None


def load_session(path: str | os.PathLike) -> Session:
    """Read a session file written by :func:`save_session`, checking everything.

    Raises
    ------
    SessionError
        If the file is missing, unreadable, too large, not UTF-8 JSON, not a jacviz session,
        from a newer version of jacviz, or has any field of the wrong type or an invalid
        value; or if its embedded network or weights are refused.

    """
    source = Path(path)
    name = source.name or str(source)
    data = read_regular_file(source, name, MAX_SESSION_BYTES, "session file", SessionError)
    try:
        document = _strict_json(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SessionError(f"{name} is not a jacviz session (not UTF-8 text)") from None
    except (ValueError, RecursionError) as error:
        raise SessionError(f"{name} is not a jacviz session (invalid JSON: {error})") from None
    try:
        return _read_document(document, name)
    except (DatasetError, TrainingError, NetworkError, ValueError) as error:
        raise SessionError(f"{name}: {error}") from None


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
# To and from JSON
# ----------------------------------------------------------------------------------------------


def _encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode_bytes(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError(f"{what} is not valid base64") from None


def _document(session: Session) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION,
        "view": session.view.to_dict(),
        "network": None,
        "lab": None,
    }
    if session.network_data is not None:
        document["network"] = {
            "name": Path(session.view.network or "network").name,
            "data": _encode_bytes(session.network_data),
        }
    lab = session.lab
    if lab is not None:
        dataset = lab.dataset
        document["lab"] = {
            "dataset": {
                "name": dataset.name,
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
                safetensors.torch.save({k: v.contiguous() for k, v in lab.weights.items()})
            ),
            "step": lab.step,
            "settings": lab.settings,
        }
    return document


def _object(value: object, what: str, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise ValueError(f"{what} has unknown field(s): {', '.join(map(str, unknown))}")
    missing = sorted(keys - set(value))
    if missing:
        raise ValueError(f"{what} lacks field(s): {', '.join(missing)}")
    return value


def _read_document(document: object, name: str) -> Session:
    if not isinstance(document, dict) or document.get("format") != SESSION_FORMAT:
        raise SessionError(f"{name} is not a jacviz session (no 'format': '{SESSION_FORMAT}')")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"its version {version!r:.40} is not a version number")
    if version > SESSION_VERSION:
        raise ValueError(
            f"it was saved by a newer jacviz (session version {version}); this one reads "
            f"version {SESSION_VERSION}: update jacviz to open it"
        )
    document = _object(document, "the session", {"format", "version", "view", "network", "lab"})
    view = ViewState.from_dict(document["view"])
    network_data, network = None, None
    if document["network"] is not None:
        entry = _object(document["network"], "the embedded network", {"name", "data"})
        label = entry["name"] if isinstance(entry["name"], str) else "network"
        network_data = _decode_bytes(entry["data"], "the embedded network")
        network = load_network_bytes(network_data, label)
    lab = None if document["lab"] is None else _read_lab(document["lab"])
    return Session(view=view, network_data=network_data, lab=lab, network=network)


def _read_lab(value: object) -> LabSession:
    lab = _object(value, "the lab", {"dataset", "config", "weights", "step", "settings"})
    data = _object(
        lab["dataset"],
        "the lab's dataset",
        {"name", "class_names", "n_classes", "points", "labels", "is_test"},
    )
    if not isinstance(data["name"], str):
        raise ValueError("the lab's dataset name must be text")
    names = data["class_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("the lab's class names must be a list of text")
    n_classes = data["n_classes"]
    if not isinstance(n_classes, int) or isinstance(n_classes, bool):
        raise ValueError("the lab's number of classes must be a whole number")
    columns = {}
    for key, kinds in (("points", (int, float)), ("labels", (int,)), ("is_test", (bool,))):
        column = data[key]
        flat = column if key != "points" else [c for row in column for c in _pair(row)]
        if not isinstance(column, list) or not all(
            isinstance(v, kinds) and (key == "is_test" or not isinstance(v, bool)) for v in flat
        ):
            raise ValueError(f"the lab's dataset {key} are malformed")
        columns[key] = column
    dataset = Dataset(
        points=np.array(columns["points"], dtype=np.float64).reshape(-1, 2),
        labels=np.array(columns["labels"], dtype=np.int64),
        is_test=np.array(columns["is_test"], dtype=bool),
        n_classes=n_classes,
        name=data["name"],
        class_names=tuple(names),
    )
    config = TrainConfig.from_dict(lab["config"])
    step = lab["step"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError("the lab's training step must be a whole number ≥ 0")
    if not isinstance(lab["settings"], dict):
        raise ValueError("the lab's settings must be a JSON object")
    weights = None
    if lab["weights"] is not None:
        raw = _decode_bytes(lab["weights"], "the lab's weights")
        try:
            weights = safetensors.torch.load(raw)
        except Exception as error:  # safetensors raises its own error types on bad bytes
            raise ValueError(f"the lab's weights are not a safetensors file ({error})") from None
        # The weights must fit the configured network exactly, and be finite.
        load_state(config, weights, 2, dataset.n_classes)
        if not all(bool(torch.isfinite(t).all()) for t in weights.values()):
            raise ValueError("the lab's weights contain NaN or infinity")
    return LabSession(dataset, config, weights, step, dict(lab["settings"]))


def _pair(row: object) -> list:
    if not isinstance(row, list) or len(row) != 2:
        raise ValueError("the lab's dataset points must be [x, y] pairs")
    return row
