"""Every backend of the matrix against the independent NumPy float64 oracle in ``reference.py``.

Forward output, loss, every gradient, and 20 steps of every optimizer; the dtype and device of every
output are asserted too.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference

import xpnet
from xpnet.backend import backend_of

SIZES = (6, 8, 5, 3)


def problem(loss, rng):
    x = rng.normal(size=(16, SIZES[0]))
    y = rng.integers(0, SIZES[-1], size=16) if loss == "cross_entropy" else rng.uniform(size=(16, SIZES[-1]))
    return x, y


def assert_on(backend, arr, dtype=None):
    assert backend_of(arr).spec == backend.backend.spec
    assert arr.dtype == (dtype if dtype is not None else backend.dtype)


def assert_close(backend, actual, desired, what):
    got = xpnet.to_numpy(actual).astype(np.float64)
    scale = max(np.abs(desired).max(), 1e-3)
    np.testing.assert_allclose(got, desired, rtol=backend.rtol, atol=backend.rtol * scale, err_msg=what)


def host_params(net):
    return [xpnet.to_numpy(p).astype(np.float64) for p in net.params]


@pytest.mark.parametrize("loss", ["cross_entropy", "quadratic", "mse"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_forward_loss_and_grads_match_reference(backend, activation, loss, rng):
    net = backend.mlp(SIZES, activation=activation, loss=loss, seed=0)
    x, y = problem(loss, rng)
    value, grads = net.loss_and_grads(x, y, l2=0.01)
    if loss == "mse":  # regression: outputs are the network's values, there are no class probabilities
        out = net(x)
        for arr in (value, out, *grads):
            assert_on(backend, arr)
        with pytest.raises(xpnet.XPNetValueError, match="no class probabilities"):
            net.predict_proba(x)
        backend.require_values()
        params = host_params(net)
        ref_value, ref_grads = reference.loss_and_grads(params, x, y, activation, loss, l2=0.01)
        assert_close(backend, value, np.asarray(ref_value), "loss")
        for i, (g, r) in enumerate(zip(grads, ref_grads)):
            assert_close(backend, g, r, f"grads[{i}]")
        ref_out = xpnet.to_numpy(xpnet.MLP.from_params(params, activation=activation, loss=loss)(x))
        assert_close(backend, out, ref_out, "outputs")
        return
    out, proba, labels = net(x), net.predict_proba(x), net.predict(x)
    for arr in (value, out, proba, *grads):
        assert_on(backend, arr)
    assert_on(backend, labels, dtype=labels.dtype)
    assert value.shape == () and tuple(out.shape) == (16, 3) and tuple(labels.shape) == (16,)
    backend.require_values()
    params = host_params(net)
    ref_value, ref_grads = reference.loss_and_grads(params, x, y, activation, loss, l2=0.01)
    assert_close(backend, value, np.asarray(ref_value), "loss")
    for i, (g, r) in enumerate(zip(grads, ref_grads)):
        assert_close(backend, g, r, f"grads[{i}]")
    ref_proba = xpnet.to_numpy(xpnet.MLP.from_params(params, activation=activation, loss=loss).predict_proba(x))
    assert_close(backend, proba, ref_proba, "predict_proba")
    np.testing.assert_allclose(xpnet.to_numpy(proba).sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(xpnet.to_numpy(labels) == ref_proba.argmax(axis=1)) >= 0.9


LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 0.01}


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
def test_twenty_optimizer_steps_match_reference(backend, name, rng):
    net = backend.mlp(SIZES, activation="tanh", seed=1)
    x, y = problem("cross_entropy", rng)
    start = host_params(net) if backend.has_values else None
    opt = xpnet.optim.make_optimizer(name, LR[name])
    losses = []
    for _ in range(20):
        value, grads = net.loss_and_grads(x, y, l2=0.001)
        losses.append(value)
        opt.step(net.params, grads)
    for arr in (*net.params, *[s for buffers in opt.state.values() for s in buffers]):
        assert_on(backend, arr)
    backend.require_values()

    def grad_fn(params):
        return reference.loss_and_grads(params, x, y, "tanh", "cross_entropy", l2=0.001)

    ref_params, ref_losses = reference.optimizer_run(name, start, grad_fn, 20, LR[name])
    assert ref_losses[-1] < ref_losses[0]  # the oracle itself learns
    with backend.backend.activate():  # CuPy stacks on the current GPU: the arrays' own must be current
        stacked = backend.xp.stack(losses)
    assert_close(backend, stacked, np.array(ref_losses), "losses")
    for i, (p, r) in enumerate(zip(net.params, ref_params)):
        assert_close(backend, p, r, f"params[{i}] after 20 steps")
