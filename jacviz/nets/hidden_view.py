"""A classifier seen in its last hidden layer: where the network has made the classes separable.

The last Linear layer of an MLP classifier is a linear classifier of the last hidden layer's
activations, so that layer is where the network has untangled the classes; its top-2
principal directions over the grid show the grid as the final layer sees it (for 2 classes,
the decision boundary is nearly straight there). :func:`hidden_layer_view` builds that view
as a :class:`~jacviz.math.maps.Map`: the network without its last Linear layer, on the same
plane of inputs, projected by :class:`~jacviz.nets.views.OutputView`'s PCA (an orthonormal
projection: it never magnifies). Its Jacobian is exact, by the same means as the network's.
"""

from __future__ import annotations

import numpy as np

from jacviz.math.maps import Map, TorchMap
from jacviz.nets.views import OutputView, SliceMap

__all__ = ["hidden_layer", "hidden_layer_view"]


def hidden_layer(source: Map) -> Map | None:
    """The map from ``source``'s inputs to its last hidden layer, or None if it has none.

    ``source`` is a torch network (or a plane through one, :class:`SliceMap`) built as a
    ``Sequential`` that ends with a Linear layer after at least one other layer; the result
    is on the same plane. Any other map (a formula, a network whose code runs in a child
    process, another architecture) gives None.
    """
    plane = source if isinstance(source, SliceMap) else None
    network = source.inner if plane is not None else source
    if not isinstance(network, TorchMap):
        return None
    from torch import nn  # a TorchMap exists, so torch is loaded already

    module = network.module
    if not isinstance(module, nn.Sequential) or len(module) < 2:
        return None
    last = module[-1]
    if not isinstance(last, nn.Linear):
        return None
    body = module[:-1]  # shares the parameters: nothing is copied
    name = f"last hidden layer of {network.name}"
    hidden = TorchMap(body, name, network.input_dim, int(last.in_features))
    if plane is None:
        return hidden
    return SliceMap(hidden, plane.base, plane.u, plane.v)


def hidden_layer_view(source: Map, points: np.ndarray) -> Map | None:
    """The last hidden layer of ``source`` in 2D, or None (see :func:`hidden_layer`).

    A layer wider than 2 is projected onto its top-2 principal directions over ``points``
    (``(N, 2)`` inputs, e.g. the grid), fitted once; a layer of width 2 is shown as it is.
    None also for a layer of width 1, which has no plane to show.
    """
    hidden = hidden_layer(source)
    if hidden is None or hidden.output_dim < 2:
        return None
    if hidden.output_dim == 2:
        return hidden
    return OutputView(hidden, "pca", points=points)
