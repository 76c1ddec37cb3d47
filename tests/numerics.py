"""Numerical references shared by the tests."""

import numpy as np


def central_differences(map_, points: np.ndarray, h: float) -> np.ndarray:
    """Jacobians ``(N, m, n)`` of a jacviz Map by central differences with step ``h``."""
    columns = []
    for j in range(map_.input_dim):
        step = np.zeros(map_.input_dim)
        step[j] = h
        columns.append((map_.evaluate(points + step) - map_.evaluate(points - step)) / (2 * h))
    return np.stack(columns, axis=-1)
