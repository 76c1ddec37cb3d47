"""The document: everything the app shows that a session file and the settings keep.

A :class:`Document` is the whole of what a user works on in one main window: the map view's
:class:`~jacviz.state.view.ViewState` and the bytes of the network it shows, and, once the
lab was opened, the lab's part (points, settings, newest model and its step). It also knows
the session file it was last saved to or opened from, and whether it differs from that file
(the title's ``*`` and the unsaved-changes prompt).

The document does not hold copies of these: it reads them, when asked, from the parts that
own them (the map view's controller and the lab's), seen through the small
:class:`MapPart` and :class:`LabPart` protocols. So it is Qt-free, the shell owns it, and
the session machinery works with the document instead of reaching into windows; the parts
know nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jacviz.nets.datasets import Dataset
from jacviz.state.lab import LabState
from jacviz.state.session import LabSession, Session
from jacviz.state.view import ViewState


class MapPart(Protocol):
    """What the document reads from the map view."""

    @property
    def state(self) -> ViewState:
        """The view state shown."""
        ...

    @property
    def network_data(self) -> bytes | None:
        """The content of the network file shown, as loaded (None for other maps)."""
        ...


class RunPart(Protocol):
    """What the document reads from the lab's training run."""

    @property
    def first_step(self) -> int:
        """The step the run starts from (a restored run's is its saved step)."""
        ...


class SnapshotPart(Protocol):
    """What the document reads from the lab's newest snapshot."""

    @property
    def step(self) -> int:
        """The training step of the snapshot."""
        ...


class LabPart(Protocol):
    """What the document reads from the lab."""

    @property
    def state(self) -> LabState:
        """The lab's settings as entered."""
        ...

    @property
    def dataset(self) -> Dataset:
        """The lab's points."""
        ...

    @property
    def run(self) -> RunPart | None:
        """The training run, if any."""
        ...

    @property
    def snapshot(self) -> SnapshotPart | None:
        """The newest snapshot of the run, if any."""
        ...

    def lab_session(self) -> LabSession:
        """The lab as a session saves it."""
        ...


@dataclass(frozen=True, eq=False)
class Revision:
    """What a document showed at one moment, cheap to take and to compare.

    States by value; the network's bytes, the lab's dataset and run by identity (each change
    makes new ones), so a comparison costs nothing even while the lab trains.
    """

    view: ViewState
    network: bytes | None
    lab: tuple[LabState, Dataset, object | None, int] | None
    """(settings, dataset, run, step of its newest snapshot, or the step it starts from)."""

    def matches(self, now: Revision) -> bool:
        """Whether ``now`` shows what this revision saw."""
        if self.view != now.view or self.network is not now.network:
            return False
        if self.lab is None or now.lab is None:
            return self.lab is now.lab
        state, dataset, run, step = self.lab
        now_state, now_dataset, now_run, now_step = now.lab
        return state == now_state and dataset is now_dataset and run is now_run and step == now_step


class Document:
    """What one main window shows, read from its parts; and the session file it belongs to.

    Parameters
    ----------
    map_part : MapPart
        The map view (its controller): the view state and the network's bytes.

    Attributes
    ----------
    lab : LabPart or None
        The lab (its controller) once it was opened; None without a lab.
    path : Path or None
        The session file associated with the document: the last one saved or opened.

    """

    def __init__(self, map_part: MapPart):
        self._map = map_part
        self.lab: LabPart | None = None
        self.path: Path | None = None
        self._saved: Revision | None = None

    @property
    def view(self) -> ViewState:
        """The map view's state: what the settings keep for the next start."""
        return self._map.state

    def session(self) -> Session:
        """The session of what is shown now (the lab too, once it was opened)."""
        return Session(
            view=self._map.state,
            network_data=self._map.network_data,
            lab=None if self.lab is None else self.lab.lab_session(),
        )

    def revision(self) -> Revision:
        """What is shown now, to compare with what was saved."""
        lab = self.lab
        lab_revision = None
        if lab is not None:
            run, latest = lab.run, lab.snapshot
            # Before its first snapshot (a restored run's comes a moment after it was opened),
            # a run is at the step it starts from.
            step = latest.step if latest is not None else run.first_step if run else 0
            lab_revision = (lab.state, lab.dataset, run, step)
        return Revision(self._map.state, self._map.network_data, lab_revision)

    def associate(self, path: Path, revision: Revision) -> None:
        """The document was saved to, or opened from, ``path`` as ``revision`` shows."""
        self.path, self._saved = path.resolve(), revision

    def is_modified(self) -> bool:
        """Whether a session file is associated and the document differs from it."""
        return self._saved is not None and not self._saved.matches(self.revision())

    def title(self) -> str:
        """The window title: the session file's name (``*`` when modified), then the map."""
        state = self._map.state
        shown = state.formula if state.network is None else Path(state.network).name
        title = f"jacviz — {shown}"
        if self.path is not None:
            title = f"{self.path.name}{'*' if self.is_modified() else ''} — {title}"
        return title


def stored_view(text: object) -> ViewState:
    """The view state stored as ``text`` (``ViewState.to_json``), or the default if unusable.

    What the settings keep between starts is read by the rules a session's view is read by
    (:meth:`ViewState.from_json`: types, ranges, plain decimal numbers only). The formula is
    the app's own (it was accepted before it was stored); the map view parses it, and falls
    back to the default formula if it does not parse.
    """
    if not isinstance(text, str):
        return ViewState()
    try:
        return ViewState.from_json(text)
    except ValueError:
        return ViewState()
