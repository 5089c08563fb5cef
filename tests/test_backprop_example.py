"""The classic hand-worked backprop example, to the last digits."""

from __future__ import annotations

import pytest

import xpnet


def test_one_sgd_step_of_the_1_1_1_sigmoid_network(backend):
    if backend.dtype_name != "float64":
        pytest.skip("the hand-worked figures are float64")
    backend.require_values()
    xp, dev = backend.xp, backend.backend.device
    params = [xp.asarray(v, dtype=xp.float64, device=dev) for v in ([[1.58]], [-0.14], [[2.45]], [-0.11])]
    net = xpnet.MLP.from_params(params, activation="sigmoid", loss="quadratic")
    x = xp.asarray([[0.8]], dtype=xp.float64, device=dev)
    y = xp.asarray([[1.0]], dtype=xp.float64, device=dev)
    before, grads = net.loss_and_grads(x, y)
    xpnet.optim.SGD(0.1).step(net.params, grads)
    after, _ = net.loss_and_grads(x, y)
    got = [float(xpnet.to_numpy(p).ravel()[0]) for p in net.params]
    expected = [1.5806890827214704, -0.13913864659816227, 2.451433410952623, -0.1081007630517096]
    assert got == pytest.approx(expected, abs=1e-12, rel=0)
    assert float(before) == pytest.approx(0.011164479170294499, abs=1e-12, rel=0)
    assert float(after) == pytest.approx(0.011095884100559231, abs=1e-12, rel=0)
    assert float(xpnet.to_numpy(params[0])[0, 0]) == 1.58  # from_params copied: the caller's arrays are untouched
