"""The Jacobian regularization lab: train small classifiers on 2D data and compare them."""
