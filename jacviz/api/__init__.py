"""jacviz from Python: hand the map you have (formula, module, callable, file) to jacviz.

One module per entry point, each re-exported lazily by ``import jacviz`` (import them from
there): :mod:`.objects` turns what a script holds into a map and refuses anything else in one
line; :mod:`.probe` reads a map at a point, :mod:`.field` on a grid; :mod:`.render` draws it
headless, :mod:`.animate` morphs to it and :mod:`.show` opens the app on it.
"""
