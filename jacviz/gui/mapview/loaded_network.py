"""A network file as the map view holds it: loaded once, shown on any plane of its inputs.

:class:`LoadedNetwork` keeps what a network file brought (the network as a map, its
description, class names and suggested domain, its bytes for sessions), so that changing the
plane it is shown on needs no reloading; :func:`suggestions` turns what the file suggests
into changes of the view state when it is opened.

A state dict (``torch.save(model.state_dict())``) needs the activation its file does not hold:
the command line's ``--activation`` or the app's dialog records it with
:func:`choose_activation` on the GUI thread, and :meth:`LoadedNetwork.load` (off it) uses it.

A map held in memory by the caller's script (``jacviz.show(module)``) is never written to a
file: :func:`hold_map` registers it under a name that :meth:`LoadedNetwork.load` recognises,
so that it is opened like a network file (tried off the GUI thread before it is shown, and
replaced by the last formula if it fails), and :func:`is_held` tells the settings and
sessions not to save that name.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from jacviz.math.grid import Domain
from jacviz.math.maps import Map, require_planar
from jacviz.math.presets import PRESETS
from jacviz.nets.hosted import HostedNetwork
from jacviz.nets.metadata import read_classifier_metadata
from jacviz.nets.views import SliceMap
from jacviz.state.view import CLASSES, ViewState

_ACTIVATIONS: dict[str, str] = {}
_LOCK = threading.Lock()
_HELD: dict[str, Map] = {}
_HELD_NAMES: set[str] = set()  # every name given in this run, kept after its map is let go of
HELD_SUFFIX = " (in memory)"
"""Ends the name under which a map held in memory is shown (see :func:`hold_map`)."""


def choose_activation(path: str, activation: str) -> None:
    """Record the activation of the state dict at ``path``, for this run of the app."""
    with _LOCK:
        _ACTIVATIONS[os.path.realpath(path)] = activation


def chosen_activation(path: str) -> str | None:
    """The activation recorded for the state dict at ``path``, if any."""
    with _LOCK:
        return _ACTIVATIONS.get(os.path.realpath(path))


def forget_chosen_activations() -> None:
    """Forget every activation recorded in this run (as a new run of the app starts)."""
    with _LOCK:
        _ACTIVATIONS.clear()


def hold_map(map_: Map) -> str:
    """Register ``map_``, held in memory, to be opened as a network; returns its name.

    The name is the map's own followed by :data:`HELD_SUFFIX` (and a number if that is taken);
    the window opens it with ``request_network(name)``. It stays registered until the
    network opened from it is closed (replaced, or the window closes).
    """
    with _LOCK:
        base = f"{map_.name}{HELD_SUFFIX}"
        key, number = base, 1
        while key in _HELD_NAMES:
            number += 1
            key = f"{map_.name} (in memory #{number})"
        _HELD[key] = map_
        _HELD_NAMES.add(key)
        return key


def release_held(name: str) -> None:
    """Forget the map held under ``name`` and stop using it (its window has closed)."""
    with _LOCK:
        map_ = _HELD.pop(name, None)
    close = getattr(map_, "close", None)
    if close is not None:
        close()


def is_held(path: str | None) -> bool:
    """Whether ``path`` is a name :func:`hold_map` gave in this run (even once let go of).

    Such a name is no file: the settings and sessions never save it.
    """
    with _LOCK:
        return path in _HELD_NAMES


@dataclass(frozen=True)
class LoadedNetwork:
    """A loaded network, kept so that changing the plane it is shown on needs no reloading."""

    inner: Map
    """The network as a map: a TorchMap, or a HostedNetwork whose code runs in a child."""
    description: str
    class_names: tuple[str, ...] | None = None
    """Set when the file says its outputs are class logits (even just 2 of them)."""
    domain: Domain | None = None
    """The input rectangle the file suggests (e.g. its training data's), if valid."""
    data: bytes = b""
    """The file's content as loaded: what a session embeds, even if the file changes later."""
    activation: str | None = None
    """The activation a state dict was rebuilt with (None for other networks)."""
    held: str | None = None
    """The name under which a map held in memory was registered (None for files)."""

    @classmethod
    def load(cls, path: str) -> LoadedNetwork:
        """Read and load the file at ``path`` (blocking: call it off the GUI thread).

        A name registered by :func:`hold_map` gives the map held in memory instead.
        """
        with _LOCK:
            held = _HELD.get(path)
        if held is not None:
            return cls(held, "held in memory by your script, never saved to disk", held=path)
        # The loaders bring torch: imported here, on the loading worker, never at start-up.
        from jacviz.nets.networks import load_network_bytes, mlp_bytes, read_network_file

        data = read_network_file(path)
        name = Path(path).name or str(path)
        activation = chosen_activation(path)
        network = load_network_bytes(data, name, activation=activation)
        if network.format != "state-dict":
            activation = None
        elif network.module is not None:
            # What a session embeds: the rebuilt MLP in jacviz's format, which reopens
            # without asking for the activation again.
            data = mlp_bytes(network.module, name)
        read = read_classifier_metadata(network.metadata)
        names = read.class_names
        if names is not None and len(names) != network.output_dim:
            names = None  # names that do not match the outputs label nothing
        description = read.description
        if activation is not None:
            description = (
                f"a state dict rebuilt as an nn.Sequential of Linear layers with {activation} "
                "between them"
            )
        return cls(network.as_map(), description, names, read.domain, data, activation)

    def planar(self, plane: tuple | None = None) -> Map:
        """The network on the input plane: itself, or its slice by ``plane = (b, u, v)``.

        Raises ValueError if even a slice cannot be shown (1 output, a bad plane).
        """
        inner = self.inner
        map_: Map = inner if inner.input_dim == 2 else SliceMap(inner, *(plane or ()))
        require_planar(map_)
        return map_

    def note(self, shown: Map) -> str:
        """What the status bar says about the network ``shown``."""
        text = f"{self.inner.name}: {self.description + '; ' if self.description else ''}"
        if shown is not self.inner:
            text += f"shown on the {shown.name}; "
        text += f"Jacobians by {self.inner.jacobian_method}."
        if isinstance(self.inner, HostedNetwork):
            text += "".join(f" Note: {note}." for note in self.inner.notes()[:2])
        return text

    def close(self) -> None:
        """Stop the network's process (a hosted network), or let go of a map held in memory."""
        if self.held is not None:
            with _LOCK:
                if _HELD.get(self.held) is self.inner:
                    del _HELD[self.held]
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


def suggestions(network: LoadedNetwork, state: ViewState) -> dict[str, object]:
    """What a newly opened network file suggests: its data's domain, decision regions.

    A file without a domain opens on the default domain when the one on screen came with the
    map it replaces (the previous network's, or a preset's own): only a domain the user chose
    for a formula stays.
    """
    changes: dict[str, object] = {}
    domain = network.domain
    if domain is None and not _users_domain(state) and state.domain != Domain():
        domain = Domain()
    if domain is not None:
        changes["domain"] = domain
        changes["probe"] = (domain.xmin + 0.6 * domain.width, domain.ymin + 0.6 * domain.height)
    if network.class_names is not None:
        changes["heatmap"] = CLASSES  # what a classifier's user opens it for
    return changes


def _users_domain(state: ViewState) -> bool:
    """Whether ``state``'s domain is the user's choice, not one that came with its map.

    A network's domain (its file's, or one set while it was shown) belongs to that network;
    a preset's own domain to that preset.
    """
    if state.network is not None:
        return False
    return not any(p.formula == state.formula and p.domain == state.domain for p in PRESETS)
