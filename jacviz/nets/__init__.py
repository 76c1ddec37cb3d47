"""Networks and learning: network files, layers, classifier views, data, training, attacks.

Built on :mod:`jacviz.math` (a network is a Map). Never imports Qt.
"""
