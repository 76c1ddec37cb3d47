"""The mathematics of maps of the plane: formulas, Jacobian fields, grids, the local picture.

A :class:`~jacviz.math.maps.Map` is anything with values and Jacobians at points (a typed
formula, a torch module); everything here works on that protocol and hands back plain
numpy arrays. Never imports Qt.
"""
