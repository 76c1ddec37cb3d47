"""jacviz: see Jacobians — the best local linear map of a 2D map or a small network.

From Python, hand jacviz the map you have: formula text, a torch ``nn.Module``, a callable
on ``(N, d)`` tensors, or a network file::

    import jacviz
    result = jacviz.probe("x**2 + y, x*y", (1.0, 2.0))
    result.jacobian, result.det

``jacviz.save_mlp(model, "net.safetensors")`` saves an ``nn.Sequential`` of Linear layers and
activations in jacviz's own file format (no code in it: anyone can open it safely).

The entry points are imported on first use (PEP 562), so ``import jacviz`` loads neither
torch nor Qt; ``__init__.pyi`` gives type checkers their signatures.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_ENTRY_POINTS = {
    "probe": "jacviz.api.probe",
    "ProbeResult": "jacviz.api.probe",
    "ObjectError": "jacviz.api.objects",
    "jacobian_field": "jacviz.api.field",
    "FieldResult": "jacviz.api.field",
    "render": "jacviz.api.render",
    "show": "jacviz.api.show",
    "animate": "jacviz.api.animate",
    "save_mlp": "jacviz.nets.networks",
}

__all__ = ["__version__", *_ENTRY_POINTS]


def __getattr__(name: str) -> Any:
    """Import an entry point of the Python API the first time it is used."""
    module = _ENTRY_POINTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jacviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazily imported entry points included."""
    return sorted({*globals(), *_ENTRY_POINTS})
