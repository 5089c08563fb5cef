"""Backprop against central finite differences, in float64, for every activation, loss and depth."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet


def finite_difference_grads(net, x, y, l2, eps=1e-6):
    grads = []
    for p in net.params:  # float64 NumPy arrays, perturbed in place
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            saved = p[idx]
            p[idx] = saved + eps
            plus = float(net.loss_and_grads(x, y, l2=l2)[0])
            p[idx] = saved - eps
            minus = float(net.loss_and_grads(x, y, l2=l2)[0])
            p[idx] = saved
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("l2", [0.0, 0.05])
@pytest.mark.parametrize("hidden", [(5,), (5, 4), (5, 4, 3)], ids=["1hidden", "2hidden", "3hidden"])
@pytest.mark.parametrize("loss", ["cross_entropy", "quadratic"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "identity"])
def test_backprop_matches_finite_differences(activation, loss, hidden, l2):
    rng = np.random.default_rng(7)
    net = xpnet.MLP((4, *hidden, 3), activation=activation, loss=loss, device="cpu", dtype="float64", seed=3)
    for b in net.params[1::2]:  # non-zero biases: keep every ReLU away from its kink at exactly 0
        b += rng.uniform(0.05, 0.3, size=b.shape)
    x = rng.normal(size=(6, 4))
    y = rng.integers(0, 3, size=6) if loss == "cross_entropy" else rng.uniform(size=(6, 3))
    _, grads = net.loss_and_grads(x, y, l2=l2)
    expected = finite_difference_grads(net, x, y, l2)
    for i, (g, fd) in enumerate(zip(grads, expected)):
        assert relative_error(g, fd) <= 1e-7, f"params[{i}]"


def test_a_wrong_gradient_is_caught(monkeypatch):
    """The check above can fail: break the ReLU derivative and it must notice."""
    from xpnet import activations

    table = dict(activations.ACTIVATIONS)
    table["relu"] = (activations.relu, lambda z, a: activations.relu_derivative(z, a) * 1.01)
    monkeypatch.setattr(activations, "ACTIVATIONS", table)
    rng = np.random.default_rng(7)
    net = xpnet.MLP((4, 5, 3), activation="relu", device="cpu", dtype="float64", seed=3)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    _, grads = net.loss_and_grads(x, y)
    expected = finite_difference_grads(net, x, y, 0.0)
    assert relative_error(grads[0], expected[0]) > 1e-4
