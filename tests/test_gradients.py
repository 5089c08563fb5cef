"""Backprop against central finite differences, in float64, for every activation, loss and depth."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.testing import check_grads


def problem(net, loss, rng):
    for b in net.params[1::2]:  # non-zero biases: keep every ReLU away from its kink at exactly 0
        b += rng.uniform(0.05, 0.3, size=b.shape)
    x = rng.normal(size=(6, 4))
    y = rng.integers(0, 3, size=6) if loss == "cross_entropy" else rng.uniform(size=(6, 3))
    if loss == "mse":
        y = rng.normal(scale=2.0, size=(6, 3))  # regression targets of any sign and size
    return x, y


@pytest.mark.parametrize("l2", [0.0, 0.05])
@pytest.mark.parametrize("hidden", [(5,), (5, 4), (5, 4, 3)], ids=["1hidden", "2hidden", "3hidden"])
@pytest.mark.parametrize("loss", ["cross_entropy", "quadratic", "mse"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "identity"])
def test_backprop_matches_finite_differences(activation, loss, hidden, l2):
    rng = np.random.default_rng(7)
    net = xpnet.MLP((4, *hidden, 3), activation=activation, loss=loss, device="cpu", dtype="float64", seed=3)
    x, y = problem(net, loss, rng)
    result = check_grads(net, x, y, l2=l2, tolerance=1e-7, max_entries=None)  # every entry of every parameter
    assert result.passed, result.per_parameter
    assert len(result.per_parameter) == len(net.params)


def test_a_wrong_gradient_is_caught(monkeypatch):
    """The check above can fail: break the ReLU derivative by 1% and it must notice."""
    from xpnet.nn import activations

    table = dict(activations.ACTIVATIONS)
    table["relu"] = (activations.relu, lambda z, a: activations.relu_derivative(z, a) * 1.01)
    monkeypatch.setattr(activations, "ACTIVATIONS", table)
    rng = np.random.default_rng(7)
    net = xpnet.MLP((4, 5, 3), activation="relu", device="cpu", dtype="float64", seed=3)
    x, y = problem(net, "cross_entropy", rng)
    result = check_grads(net, x, y, tolerance=1e-7, max_entries=None)
    assert not result.passed and result.per_parameter[0] > 1e-4
