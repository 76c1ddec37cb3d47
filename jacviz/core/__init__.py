"""The math core of jacviz: formulas, maps, Jacobian fields, grids and linearizations.

Nothing in this package imports Qt, so everything here runs and is tested without a screen.
"""
