"""Asking which activation a state dict's network has, when it is opened in the app.

``torch.save(model.state_dict())`` keeps the weights of an MLP but not its activation, which
jacviz needs to rebuild it. Before such a file is loaded (off the GUI thread, as any network),
the window asks here, on the GUI thread, with a small modal choice; the answer is recorded
with :func:`~jacviz.gui.mapview.loaded_network.choose_activation`.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import QInputDialog, QWidget

from jacviz.gui.mapview.loaded_network import choose_activation, chosen_activation
from jacviz.nets.networks import ACTIVATIONS, is_state_dict_file

__all__ = ["activation_known", "ask_activation"]


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


def activation_known(parent: QWidget | None, path: str) -> bool:
    """Make sure a state dict at ``path`` has its activation; False if the user cancelled.

    Files that are no state dict, and state dicts whose activation was given already (on the
    command line, or earlier), pass without a question.
    """
    if chosen_activation(path) is not None or not is_state_dict_file(path):
        return True
    activation = ask_activation(parent, Path(path).name or path)
    if activation is None:
        return False
    choose_activation(path, activation)
    return True
