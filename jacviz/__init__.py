"""jacviz: see Jacobians — the best local linear map of a 2D map or a small network."""

__version__ = "0.1.0"
