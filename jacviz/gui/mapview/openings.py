"""What each kind of request to show something new prepares off the GUI thread.

A typed formula is parsed in a child process with a time limit; a network file is loaded
(its code, if any, in a child process of its own) and tried on the grid and the probe; a
saved view state (a session's, or the last exit's) gets both. Each ``prepare_*`` function
returns the :data:`~jacviz.gui.mapview.loader.Prepare` function a
:class:`~jacviz.gui.mapview.loader.RequestLoader` runs: it returns either a function that
hands what was prepared to ``show`` on the GUI thread, or a
:class:`~jacviz.gui.mapview.loader.Refused` saying why it cannot be shown.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable

from jacviz.gui.mapview.loaded_network import LoadedNetwork, suggestions
from jacviz.gui.mapview.loader import Prepare, Refused
from jacviz.gui.mapview.pictures import try_out
from jacviz.math import maps
from jacviz.math.formula import FormulaError
from jacviz.math.maps import FormulaMap, Map, require_planar
from jacviz.state.view import ViewState

ShowNetwork = Callable[[str, LoadedNetwork, Map, dict[str, object]], None]
"""``show(path, network, source, changes)``: the network on the plane, with its suggestions."""
ShowState = Callable[[ViewState, Map, LoadedNetwork | None], None]
"""``show(state, source, network)``: the saved state with its map (and network, if any)."""


REMEMBERED_FORMULAS = 64
"""How many formulas that passed the check are kept, parsed, for when they are shown again."""
_remembered: OrderedDict[tuple[str, float], FormulaMap] = OrderedDict()
_remembered_lock = threading.Lock()


def checked_formula(text: str) -> FormulaMap:
    """The map of the formula ``text``, checked in a child process with a time limit.

    A formula that passed the check before in this session, under the same time limit, is
    not checked again: parsing it is deterministic, so it cannot hang now, and its parsed map
    (immutable) is reused. Going back to a formula (a preset, the last one typed) then shows
    it at once instead of after a child process's start. Raises FormulaError as
    :meth:`FormulaMap.from_text` does.
    """
    key = (text, float(maps.FORMULA_TIME_LIMIT))
    with _remembered_lock:
        known = _remembered.get(key)
        if known is not None:
            _remembered.move_to_end(key)
            return known
    map_ = FormulaMap.from_text(text)  # in a child process, with a time limit
    with _remembered_lock:
        _remembered[key] = map_
        while len(_remembered) > REMEMBERED_FORMULAS:
            _remembered.popitem(last=False)
    return map_


def prepare_formula(text: str, show: Callable[[str, Map], None]) -> Prepare:
    """Parse the formula ``text`` (in a child process, with a time limit), then ``show`` it.

    A formula that does not parse, or has not 2 inputs and 2 or more outputs, is refused with
    the message (and column) the editor shows under the text.
    """

    def prepare() -> Callable[[], None] | Refused:
        try:
            map_ = checked_formula(text)
            require_planar(map_)
        except FormulaError as error:
            return Refused(str(error), column=error.column or 0, formula=True)
        except ValueError as error:
            return Refused(str(error), formula=True)
        return lambda: show(text, map_)

    return prepare


def prepare_network(path: str, state: ViewState, show: ShowNetwork) -> Prepare:
    """Load the network at ``path`` and try it in ``state`` as its file suggests changing it.

    A network that fails to load or to be tried is stopped (its process, if any) before the
    error goes on.
    """

    def prepare() -> Callable[[], None] | Refused:
        network = LoadedNetwork.load(path)
        try:
            changes = suggestions(network, state)
            source = network.planar()
            try_out(source, network, dataclasses.replace(state, **changes))
        except BaseException:
            network.close()
            raise
        return lambda: show(path, network, source, changes)

    return prepare


def prepare_state(state: ViewState, show: ShowState) -> Prepare:
    """Check ``state``'s formula, load its network if it has one, and try them in ``state``."""

    def prepare() -> Callable[[], None] | Refused:
        try:
            formula = checked_formula(state.formula)
            require_planar(formula)
        except (FormulaError, ValueError) as error:
            return Refused(f"its formula cannot be used: {error}")
        network = None if state.network is None else LoadedNetwork.load(state.network)
        try:
            source = formula if network is None else network.planar(state.slice)
            try_out(source, network, state)
        except BaseException:
            if network is not None:
                network.close()
            raise
        return lambda: show(state, source, network)

    return prepare
