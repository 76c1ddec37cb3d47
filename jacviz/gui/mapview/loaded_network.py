"""A network file as the map view holds it: loaded once, shown on any plane of its inputs.

:class:`LoadedNetwork` keeps what a network file brought (the network as a map, its
description, class names and suggested domain, its bytes for sessions), so that changing the
plane it is shown on needs no reloading; :func:`suggestions` turns what the file suggests
into changes of the view state when it is opened.

A state dict (``torch.save(model.state_dict())``) needs the activation its file does not hold:
the command line's ``--activation`` or the app's dialog records it with
:func:`choose_activation` on the GUI thread, and :meth:`LoadedNetwork.load` (off it) uses it.
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
from jacviz.nets.networks import Network, load_network_bytes, mlp_bytes, read_network_file
from jacviz.nets.views import SliceMap
from jacviz.state.view import CLASSES, ViewState

_ACTIVATIONS: dict[str, str] = {}
_ACTIVATIONS_LOCK = threading.Lock()


def choose_activation(path: str, activation: str) -> None:
    """Record the activation of the state dict at ``path``, for this run of the app."""
    with _ACTIVATIONS_LOCK:
        _ACTIVATIONS[os.path.realpath(path)] = activation


def chosen_activation(path: str) -> str | None:
    """The activation recorded for the state dict at ``path``, if any."""
    with _ACTIVATIONS_LOCK:
        return _ACTIVATIONS.get(os.path.realpath(path))


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

    @classmethod
    def load(cls, path: str) -> LoadedNetwork:
        """Read and load the file at ``path`` (blocking: call it off the GUI thread)."""
        data = read_network_file(path)
        name = Path(path).name or str(path)
        network: Network = load_network_bytes(data, name, activation=chosen_activation(path))
        if network.format == "state-dict" and network.module is not None:
            # What a session embeds: the rebuilt MLP in jacviz's format, which reopens
            # without asking for the activation again.
            data = mlp_bytes(network.module, name)
        read = read_classifier_metadata(network.metadata)
        names = read.class_names
        if names is not None and len(names) != network.output_dim:
            names = None  # names that do not match the outputs label nothing
        return cls(network.as_map(), read.description, names, read.domain, data)

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
        """Stop the network's process, if it has one (a hosted network)."""
        if isinstance(self.inner, HostedNetwork):
            self.inner.close()


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
