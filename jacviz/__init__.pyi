"""Types of ``import jacviz``: the Python API's entry points, imported lazily at run time."""

from jacviz.api.animate import animate as animate
from jacviz.api.field import FieldResult as FieldResult
from jacviz.api.field import jacobian_field as jacobian_field
from jacviz.api.objects import ObjectError as ObjectError
from jacviz.api.probe import ProbeResult as ProbeResult
from jacviz.api.probe import probe as probe
from jacviz.api.render import render as render
from jacviz.api.show import show as show
from jacviz.nets.networks import save_mlp as save_mlp

__version__: str
