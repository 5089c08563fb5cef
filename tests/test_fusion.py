"""A dense layer and the ReLU after it run as one operation (xpnet.nn.forward, xpnet.backend.step_ops.affine_relu):
the numbers of the two layers run apart, on every backend, forward and backward; fewer operations where the backend
has a fused one."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.backend import positive_part
from xpnet.backend.kernels import affine
from xpnet.backend.step_ops import affine_relu
from xpnet.nn import forward
from xpnet.nn.layers import Context


def _equal(a, b, what):
    np.testing.assert_array_equal(xpnet.to_numpy(a), xpnet.to_numpy(b), err_msg=what)


def test_a_dense_layer_and_its_relu_give_the_numbers_of_the_two_run_apart(backend, monkeypatch, rng):
    """Training (loss, every gradient, the output) and evaluation, with dropout after the ReLU, bit for bit against
    the same network whose layers run one by one; with L2, as the training step has it."""
    net = backend.mlp((6, 9, 7, 3), activation="relu", dropout=0.25, seed=0)
    x, y = rng.normal(size=(12, 6)).astype(np.float32), rng.integers(0, 3, 12)
    context = Context(training=True, seed=3, step=2, first_row=0)
    fused = net.loss_and_grads(x, y, l2=0.01, context=context), net(x)
    monkeypatch.setattr(forward, "relu_follows", lambda layers, k: False)
    apart = net.loss_and_grads(x, y, l2=0.01, context=context), net(x)
    backend.require_values()
    (value, grads), out = fused
    (value_apart, grads_apart), out_apart = apart
    _equal(value, value_apart, "loss")
    _equal(out, out_apart, "evaluation output")
    for name, g, h in zip(net.param_names, grads, grads_apart):
        _equal(g, h, name)


def test_the_fused_operation_keeps_every_special_value(backend):
    """Infinite and NaN pre-activations (a bias of ±inf or NaN) give what the ReLU of the plain affine map gives: 0
    for -inf, +inf, NaN; the parameters in the model's own layout (column-major weights on CPUs)."""
    net = backend.mlp((4, 6, 2), seed=1)
    W = net.params[0]
    b = backend.asarray(np.array([0.5, -np.inf, np.inf, np.nan, -0.25, 0.0]))
    x = backend.asarray(np.random.default_rng(0).normal(size=(5, 4)))
    with net.backend.activate():
        got, want = affine_relu(x, W, b), positive_part(affine(x, W, b))
    backend.require_values()
    got, want = xpnet.to_numpy(got), xpnet.to_numpy(want)
    np.testing.assert_array_equal(got, want)
    assert (got[:, 1] == 0).all() and np.isposinf(got[:, 2]).all() and np.isnan(got[:, 3]).all()
    assert (np.delete(got, 3, axis=1) >= 0).all()


def test_the_torch_forward_runs_one_fused_product_per_hidden_layer():
    """On PyTorch each dense layer followed by a ReLU is one ``_addmm_activation`` (on CUDA a cuBLASLt product whose
    epilogue adds the bias and applies the ReLU): no separate ``relu``. A norm between them keeps them apart."""
    pytest.importorskip("torch")
    from torch_calls import dispatched

    x = np.random.default_rng(0).random((8, 5), dtype=np.float32)
    for norm, fused, relus in ((None, 2, 0), ("layer", 0, 2)):
        net = xpnet.MLP((5, 7, 6, 3), norm=norm, device="torch:cpu", seed=0)
        inputs = net._inputs(x)
        with dispatched() as calls:
            net._forward(inputs, Context(training=True), keep=True)
        names = [name for name, _, _ in calls]
        assert names.count("_addmm_activation") == fused and names.count("relu") == relus, names
