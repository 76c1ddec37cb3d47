"""What the main window keeps in QSettings between starts: the last view state.

The view is stored as one line of JSON (:meth:`~jacviz.state.view.ViewState.to_json`) and read
back by the rules a session's view is read by (:func:`jacviz.state.document.stored_view`),
since the settings file can be edited like any other.
"""

from __future__ import annotations

import dataclasses

from PyQt6.QtCore import QSettings

from jacviz.gui.mapview.loaded_network import is_held
from jacviz.gui.shell.activation_dialog import recall_activation
from jacviz.state.document import stored_view
from jacviz.state.view import ViewState

SETTINGS_KEY = "state/view"
"""Where the last view state is kept in the settings: one line of JSON (``ViewState.to_json``)."""
GEOMETRY_KEY = "window/geometry"
"""Where the main window's size and place are kept."""


def state_from_settings(settings: QSettings) -> ViewState:
    """The last session's view state, or the default one if anything stored is unusable.

    Read by the rules a session's view is read by (:meth:`ViewState.from_json`: types,
    ranges, plain decimal numbers only). The formula is the app's own (it was accepted
    before it was saved): the controller reads its syntax at once (no sympy) and the first
    picture parses it on a worker; either falls back to the default formula if it does not
    read. A network is opened off the GUI thread, as any network file is; a state dict's
    activation, remembered with the file (:func:`recall_activation`), goes with it.
    """
    state = stored_view(settings.value(SETTINGS_KEY))
    if state.network is not None:
        recall_activation(settings, state.network)
    return state


def save_state_to_settings(settings: QSettings, state: ViewState) -> None:
    """Remember ``state`` for the next start.

    A map held in memory by a script (``jacviz.show(module)``) is not a file and is gone at
    the next start: the last formula is remembered in its place.
    """
    if is_held(state.network):
        state = dataclasses.replace(state, network=None, slice=None)
    settings.setValue(SETTINGS_KEY, state.to_json())
