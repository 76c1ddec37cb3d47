"""Asking which activation a state dict's network has, once per file, remembered across runs.

``torch.save(model.state_dict())`` keeps the weights of an MLP but not its activation, which
jacviz needs to rebuild it. Before such a file is loaded (off the GUI thread, as any network),
the window asks here, on the GUI thread, with a small modal choice; the answer is recorded
with :func:`~jacviz.gui.mapview.loaded_network.choose_activation` for this run, and kept in the
window's settings (:func:`remember_activation`) with the file's size and modification time,
so that reopening the unchanged file later, or restarting on it, does not ask again. A file
that changed since is asked about again; ``jacviz FILE --activation NAME`` always overrides.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QInputDialog, QWidget

from jacviz.gui.mapview.loaded_network import choose_activation, chosen_activation
from jacviz.state.view import MAX_PATH
from jacviz.support.json_input import parse_json, text_problem

__all__ = [
    "ACTIVATIONS_KEY",
    "activation_known",
    "ask_activation",
    "recall_activation",
    "remember_activation",
]

ACTIVATIONS_KEY = "networks/activations"
"""QSettings key of the remembered activations: JSON ``{path: [size, mtime_ns, activation]}``."""
MAX_REMEMBERED = 64
"""Most state dict files whose activation is remembered (the oldest are forgotten first)."""
ACTIVATIONS = ("tanh", "relu", "gelu", "softplus", "sigmoid")
"""The activations a state dict can be rebuilt with (``jacviz.nets.networks.ACTIVATIONS``,
named here so that this module does not import torch)."""


def ask_activation(parent: QWidget | None, name: str) -> str | None:
    """Ask which activation the state dict ``name`` has; None if the user cancels."""
    choice, accepted = QInputDialog.getItem(
        parent,
        "Activation of the network",
        f"{name} is a state dict: it holds the weights of Linear layers but not the activation "
        "between them.\nWhich activation does the network use?",
        list(ACTIVATIONS),
        0,
        False,
    )
    return str(choice) if accepted and choice in ACTIVATIONS else None


def _identity(path: str) -> tuple[str, int, int] | None:
    """The file's real path, size and modification time (None if it cannot be read)."""
    try:
        real = os.path.realpath(path)
        status = os.stat(real)
    except (OSError, ValueError):
        return None
    return real, int(status.st_size), int(status.st_mtime_ns)


def _remembered(settings: QSettings) -> dict[str, list]:
    """The remembered activations, read as strictly as a session; {} if unusable."""
    try:
        stored = parse_json(str(settings.value(ACTIVATIONS_KEY, "{}")))
    except ValueError:
        return {}
    if not isinstance(stored, dict):
        return {}
    return {
        path: entry
        for path, entry in stored.items()
        if not text_problem(path, MAX_PATH)
        and isinstance(entry, list)
        and len(entry) == 3
        and all(isinstance(n, int) and not isinstance(n, bool) for n in entry[:2])
        and entry[2] in ACTIVATIONS
    }


def remember_activation(settings: QSettings, path: str, activation: str) -> None:
    """Keep ``activation`` for the state dict at ``path``, as the file is now, in ``settings``."""
    identity = _identity(path)
    if identity is None or activation not in ACTIVATIONS:
        return
    real, size, mtime = identity
    entries = {p: e for p, e in _remembered(settings).items() if p != real}
    entries[real] = [size, mtime, activation]
    kept = dict(list(entries.items())[-MAX_REMEMBERED:])
    settings.setValue(ACTIVATIONS_KEY, json.dumps(kept))
    settings.sync()  # another window, or the next start, reads it


def recall_activation(settings: QSettings, path: str) -> str | None:
    """The activation remembered for the file at ``path``, if it has not changed since.

    It is also recorded for this run (:func:`choose_activation`), so that loading the file
    uses it.
    """
    identity = _identity(path)
    if identity is None:
        return None
    real, size, mtime = identity
    entry = _remembered(settings).get(real)
    if entry is None or entry[:2] != [size, mtime]:
        return None
    choose_activation(path, entry[2])
    return str(entry[2])


def activation_known(parent: QWidget | None, path: str) -> bool:
    """Make sure a state dict at ``path`` has its activation; False if the user cancelled.

    Files that are no state dict pass without a question, and so do state dicts whose
    activation was given already: on the command line, earlier in this run, or in an
    earlier run for the same unchanged file (kept in ``parent.settings``, the main window's
    QSettings, when ``parent`` has them). An activation given or chosen is kept there too.
    """
    from jacviz.nets.networks import is_state_dict_file  # torch, only when a file is opened

    if not is_state_dict_file(path):
        return True
    settings = getattr(parent, "settings", None)
    settings = settings if isinstance(settings, QSettings) else None
    activation = chosen_activation(path)
    if activation is None and settings is not None:
        activation = recall_activation(settings, path)
    if activation is None:
        activation = ask_activation(parent, Path(path).name or path)
        if activation is None:
            return False
        choose_activation(path, activation)
    if settings is not None:
        remember_activation(settings, path, activation)
    return True
