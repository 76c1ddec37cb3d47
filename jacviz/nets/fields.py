"""What the lab's plane shows of a model: its decision regions or its ‖J‖_F, from weights.

No Qt here: the lab's picture worker calls :func:`compute_field` on its own thread with a
snapshot's weights (a copy, never the live module), and hands the result to the GUI as plain
arrays.

Decision regions are redrawn up to 30-40 times a second while a model trains, so they take
a short path: the snapshot's weights go straight into one float32 ``addmm`` chain over the
256² pixel centres (no module is built, no autograd, no float64 copy), into buffers kept per
thread and reused from one picture to the next. float32 is plenty for a picture: the class
of a pixel can differ from float64's only where the two top logits are within float32
rounding of each other (on the boundary itself), and the confidence, which only sets a
colour's strength, agrees to ~1e-6. ‖J‖_F is computed only when it is shown, exactly (float64
through the app's Jacobian code), as the lab's tests check it against that code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from jacviz.math.grid import Domain, sample_points
from jacviz.nets.training import TrainConfig, TrainingError
from jacviz.nets.views import DecisionRegions

if TYPE_CHECKING:  # torch loads on the first picture: importing the names stays torch-free
    import torch

FIELD_RESOLUTION = 256
"""Pixels per side of the regions and ‖J‖_F images."""

REGIONS = "regions"
FROBENIUS = "frobenius"
DISPLAYS: dict[str, str] = {REGIONS: "decision regions", FROBENIUS: "‖J‖F of the logits"}
"""What the plane can show (the lab's :data:`~jacviz.state.lab.LAB_DISPLAYS`), with the name
the user picks it by."""

FieldFunction = Callable[..., "FieldImage"]
"""The signature of :func:`compute_field`, for callers that take another (e.g. a test's)."""


@dataclass(frozen=True, eq=False)  # arrays: == would be elementwise
class FieldImage:
    """A model's picture over the plane, ready to draw; row 0 of the arrays is at ``ymin``.

    Attributes
    ----------
    display : str
        :data:`REGIONS` or :data:`FROBENIUS`.
    step : int
        Training step of the weights it was computed from.
    domain : Domain
        The rectangle the image covers.
    n_classes : int
        Classes of the model, so region colours are shaded on the right scale.
    regions : DecisionRegions or None
        Argmax class and confidence per pixel, for :data:`REGIONS` (float32 confidence and
        margin, see the module).
    values : numpy.ndarray or None
        ``(rows, cols)`` exact ‖J‖_F of the logits per pixel, for :data:`FROBENIUS`.

    """

    display: str
    step: int
    domain: Domain
    n_classes: int
    regions: DecisionRegions | None = None
    values: np.ndarray | None = None


def _numpy_tanh_(values: torch.Tensor) -> torch.Tensor:
    """Tanh in place through numpy, whose SIMD kernel is the faster here.

    0.8 ms for 256² × 32 float32 values on one thread where torch's takes 5-7 ms (accurate to
    1.4 ulp against torch's 0.5).
    """
    array = values.numpy()
    np.tanh(array, out=array)
    return values


def _activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The trainer's activation ``name`` (TRAINABLE_ACTIVATIONS), in place where possible.

    In place because the buffer is the next layer's input.
    """
    import torch
    import torch.nn.functional as F

    activations: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "tanh": _numpy_tanh_,
        "relu": torch.relu_,
        "gelu": F.gelu,  # nn.GELU's exact erf form, as the trained model
        "softplus": F.softplus,  # nn.Softplus's defaults (β = 1, threshold 20)
    }
    return activations[name]


class _Buffers:
    """One thread's reusable tensors: the pixel centres of the last domain, and layer outputs.

    Torch-owned memory only: a tensor made ``from_numpy`` must take the GIL to be freed.
    """

    def __init__(self) -> None:
        self.grid_key: tuple[Domain, int] | None = None
        self.grid: torch.Tensor | None = None
        self.layers: dict[tuple[int, int, int], torch.Tensor] = {}

    def points(self, domain: Domain, resolution: int) -> torch.Tensor:
        """``(resolution², 2)`` float32 pixel centres over ``domain`` (cached for the last one)."""
        import torch

        if self.grid_key != (domain, resolution):
            points = sample_points(domain, resolution).astype(np.float32)
            self.grid, self.grid_key = torch.tensor(points), (domain, resolution)
        assert self.grid is not None
        return self.grid

    def layer(self, index: int, rows: int, width: int) -> torch.Tensor:
        """A ``(rows, width)`` float32 buffer for layer ``index``'s output (reused)."""
        import torch

        key = (index, rows, width)
        buffer = self.layers.get(key)
        if buffer is None:
            if len(self.layers) > 16:  # other resolutions or widths: keep memory bounded
                self.layers.clear()
            buffer = self.layers[key] = torch.empty(rows, width, dtype=torch.float32)
        return buffer


_BUFFERS: dict[int, _Buffers] = {}
"""Buffers by thread id. Not a ``threading.local``: Qt's pool threads are not Python's, and
their Python state (with its locals) is dropped after every job."""
_BUFFERS_LOCK = threading.Lock()


def _buffers() -> _Buffers:
    """The calling thread's buffers."""
    with _BUFFERS_LOCK:
        ident = threading.get_ident()
        buffers = _BUFFERS.get(ident)
        if buffers is None:
            if len(_BUFFERS) >= 8:  # threads come and go: keep memory bounded
                _BUFFERS.clear()
            buffers = _BUFFERS[ident] = _Buffers()
        return buffers


def linear_layers(
    config: TrainConfig, state: Mapping[str, torch.Tensor], n_classes: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The ``(weight, bias)`` pairs of ``state`` in order, checked against ``config``'s MLP.

    ``state`` is the ``state_dict`` of :func:`~jacviz.nets.training.build_model`'s
    ``nn.Sequential``: Linear layers at even indices. Raises TrainingError, as
    :func:`~jacviz.nets.training.load_state` does, when the weights do not fit a
    ``2-hidden…-n_classes`` network.
    """
    widths = [2, *config.hidden, n_classes]
    layers = []
    try:
        for index in range(len(widths) - 1):
            weight = state[f"{2 * index}.weight"].detach()
            bias = state[f"{2 * index}.bias"].detach()
            if weight.shape != (widths[index + 1], widths[index]) or bias.shape != (
                widths[index + 1],
            ):
                raise ValueError(f"layer {index} has shape {tuple(weight.shape)}")
            layers.append((weight.float(), bias.float()))
        if len(state) != 2 * len(layers):
            raise ValueError(f"{len(state)} tensors for {len(layers)} layers")
    except (KeyError, ValueError, AttributeError, TypeError) as error:
        raise TrainingError(
            f"the weights do not fit a {'-'.join(map(str, widths))} network: {error}"
        ) from None
    return layers


def regions_from_weights(
    config: TrainConfig,
    state: Mapping[str, torch.Tensor],
    n_classes: int,
    domain: Domain,
    resolution: int = FIELD_RESOLUTION,
) -> DecisionRegions:
    """Decision regions of the MLP ``config`` with weights ``state``, ``resolution²`` pixels.

    The float32 matmul chain of the module docstring; the same pixels as
    :func:`~jacviz.nets.views.decision_regions` (centres, row 0 at ``ymin``). Where a logit is
    not finite the class is −1 and the confidence and margin NaN, as there.
    """
    layers = linear_layers(config, state, n_classes)
    import torch

    activation = _activation(config.activation)
    rows = resolution * resolution
    buffers = _buffers()
    with torch.no_grad():
        h = buffers.points(domain, resolution)
        for index, (weight, bias) in enumerate(layers[:-1]):
            out = buffers.layer(index, rows, weight.shape[0])
            h = activation(torch.addmm(bias, h, weight.T, out=out))
        # The logits as (k, pixels): k long rows make the last product and the per-pixel
        # reductions below run along contiguous memory (about twice as fast as (pixels, k)).
        weight, bias = layers[-1]
        logits = buffers.layer(len(layers), n_classes, rows)
        torch.addmm(bias[:, None], weight, h.T, out=logits)
        # One check for the usual case; the per-pixel mask only when some logit is not finite.
        finite = None if bool(torch.isfinite(logits).all()) else torch.isfinite(logits).all(0)
        if finite is not None:
            logits = torch.where(finite, logits, 0.0)
        top, classes = logits.max(dim=0)  # ties: the first, as numpy.argmax
        confidence = torch.exp(logits - top).sum(dim=0).reciprocal_()
        if logits.shape[0] == 2:
            margin = (logits[0] - logits[1]).abs_()
        else:
            margin = top - logits.scatter(0, classes[None], -torch.inf).amax(dim=0)
        values = [classes, confidence, margin]
        if finite is not None:
            nan = torch.tensor(torch.nan)
            values = [
                torch.where(finite, v, f) for v, f in zip(values, (-1, nan, nan), strict=True)
            ]
        arrays = [v.numpy().reshape(resolution, resolution) for v in values]
    for array in arrays:
        array.flags.writeable = False  # shared between the worker and the views
    return DecisionRegions(classes=arrays[0], confidence=arrays[1], margin=arrays[2])


def compute_field(
    config: TrainConfig,
    state: Mapping[str, torch.Tensor],
    n_classes: int,
    domain: Domain,
    display: str,
    step: int,
    resolution: int = FIELD_RESOLUTION,
) -> FieldImage:
    """The ``display`` picture of the model ``config`` with weights ``state`` over ``domain``.

    Parameters
    ----------
    config : TrainConfig
        The architecture the weights belong to.
    state : mapping of str to torch.Tensor
        The weights, e.g. :attr:`jacviz.nets.training.Snapshot.state`.
    n_classes : int
        Outputs of the network.
    domain : Domain
        The rectangle to cover.
    display : str
        :data:`REGIONS` or :data:`FROBENIUS`.
    step : int
        Step of the weights, carried along so the view can say what it shows.
    resolution : int
        Pixels per side.

    Raises
    ------
    ValueError
        For an unknown ``display``.
    TrainingError
        If the weights do not fit ``config``'s network.

    """
    if display == REGIONS:
        regions = regions_from_weights(config, state, n_classes, domain, resolution)
        return FieldImage(display, step, domain, n_classes, regions=regions)
    if display == FROBENIUS:
        from jacviz.nets.training import jacobian_frobenius, load_state

        model = load_state(config, state, 2, n_classes)
        values = jacobian_frobenius(model, sample_points(domain, resolution))
        return FieldImage(
            display, step, domain, n_classes, values=values.reshape(resolution, resolution)
        )
    raise ValueError(f"unknown display {display!r}; choose from {', '.join(DISPLAYS)}")
