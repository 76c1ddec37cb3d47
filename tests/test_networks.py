import pytest
import torch
from torch import nn

from jacviz.core.networks import make_mlp


def test_make_mlp_builds_the_layers_asked_for():
    model = make_mlp([2, 8, 5, 3], activation="relu")
    kinds = [type(m) for m in model]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert model(torch.zeros(4, 2)).shape == (4, 3)


def test_make_mlp_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = make_mlp([2, 16, 2], seed=7)
    second = make_mlp([2, 16, 2], seed=7)
    assert torch.rand(1) == expected_next
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    other = make_mlp([2, 16, 2], seed=8)
    assert not torch.equal(next(first.parameters()), next(other.parameters()))


@pytest.mark.parametrize(
    ("widths", "activation"), [([2], "tanh"), ([2, 0, 2], "tanh"), ([2, 2], "nope")]
)
def test_make_mlp_refuses_bad_shapes(widths, activation):
    with pytest.raises(ValueError):
        make_mlp(widths, activation)
