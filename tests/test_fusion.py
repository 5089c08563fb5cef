"""A dense layer and the ReLU after it run as one operation (xpnet.nn.forward, xpnet.backend.step_ops.affine_relu):
the numbers of the two layers run apart, on every backend, forward and backward; fewer operations where the backend
has a fused one."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpnet
from xpnet.backend import positive_part
from xpnet.backend.kernels import affine
from xpnet.backend.precision import precision_scope
from xpnet.backend.step_ops import affine_relu
from xpnet.nn import forward
from xpnet.nn.layers import Context


def _equal(a, b, what, backend=None):
    """Bit for bit; on PyTorch CUDA to rounding (its fused product may pick another cuBLASLt algorithm than addmm)."""
    a, b = xpnet.to_numpy(a), xpnet.to_numpy(b)
    if backend is not None and backend.spec.startswith("torch:cuda"):
        np.testing.assert_allclose(a, b, rtol=backend.rtol, atol=backend.rtol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def test_a_dense_layer_and_its_relu_give_the_numbers_of_the_two_run_apart(backend, monkeypatch, rng):
    """Training (loss, every gradient, the output) and evaluation, with dropout after the ReLU, bit for bit against
    the same network whose layers run one by one (on PyTorch CUDA to rounding); with L2, as the training step has it."""
    x, y = rng.normal(size=(12, 6)).astype(np.float32), rng.integers(0, 3, 12)
    context = Context(training=True, seed=3, step=2, first_row=0)
    net = backend.mlp((6, 9, 7, 3), activation="relu", dropout=0.25, seed=0)
    fused = net.loss_and_grads(x, y, l2=0.01, context=context), net(x)
    monkeypatch.setattr(forward, "relu_follows", lambda layers, k: False)
    net = backend.mlp((6, 9, 7, 3), activation="relu", dropout=0.25, seed=0)  # a new one: JAX keeps traced programs
    apart = net.loss_and_grads(x, y, l2=0.01, context=context), net(x)
    backend.require_values()
    (value, grads), out = fused
    (value_apart, grads_apart), out_apart = apart
    _equal(value, value_apart, "loss", backend)
    _equal(out, out_apart, "evaluation output", backend)
    for name, g, h in zip(net.param_names, grads, grads_apart):
        _equal(g, h, name, backend)


@pytest.mark.parametrize("precision", ["highest", "bf16"])
def test_the_fused_operation_keeps_every_special_value(backend, precision):
    """Infinite and NaN pre-activations (a bias of ±inf or NaN) give what the ReLU of the plain affine map gives: 0
    for -inf, +inf, NaN, zeros of the same sign; the parameters in the model's own layout (column-major weights on
    CPUs); the input untouched and not the output's memory; bfloat16 products where the backend has them."""
    if precision == "bf16" and backend.backend.name not in ("torch", "jax"):
        pytest.skip("bfloat16 products exist on PyTorch and JAX")
    net = backend.mlp((4, 6, 2), seed=1)
    W = net.params[0]
    b = backend.asarray(np.array([0.5, -np.inf, np.inf, np.nan, -0.25, 0.0]))
    host = np.random.default_rng(0).normal(size=(5, 4))
    x = backend.asarray(host)
    with net.backend.activate(), precision_scope(net.backend, precision):
        got, want = affine_relu(x, W, b), positive_part(affine(x, W, b))
    backend.require_values()
    np.testing.assert_array_equal(xpnet.to_numpy(x), host.astype(xpnet.to_numpy(x).dtype))
    assert not np.shares_memory(xpnet.to_numpy(got), xpnet.to_numpy(x))
    _equal(got, want, "output", backend)
    got, want = xpnet.to_numpy(got), xpnet.to_numpy(want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
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
        net._forward(inputs, Context(training=True))  # the first call checks the fused operation once
        with dispatched() as calls:
            net._forward(inputs, Context(training=True), keep=True)
        names = [name for name, _, _ in calls]
        assert names.count("_addmm_activation") == fused and names.count("relu") == relus, names


def test_a_fused_relu_that_drops_nan_is_not_used(monkeypatch):
    """Where PyTorch's fused product and ReLU would treat NaN otherwise than its ReLU (cuBLASLt's epilogue is not
    PyTorch's code: its maximum may drop NaN), a first check on the device finds it and the two run apart, silently (it
    is PyTorch's own way: nothing for a user to do) but on record: a NaN pre-activation stays NaN, as everywhere."""
    torch = pytest.importorskip("torch")
    from xpnet.backend import memo, step_ops

    aten = torch.ops.aten
    real = aten._addmm_activation.default
    nan_dropping = lambda b, x, w: torch.nan_to_num(real(b, x, w), nan=0.0)  # noqa: E731
    monkeypatch.setattr(aten._addmm_activation, "default", nan_dropping)
    memo.clear_caches()
    try:
        net = xpnet.MLP((4, 6, 2), device="torch:cpu", seed=1)
        x = torch.ones(3, 4)
        b = torch.tensor([0.5, -np.inf, np.inf, np.nan, -0.25, 0.0])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = affine_relu(x, net.params[0], b)
        assert torch.isnan(got[:, 3]).all() and (got[:, 1] == 0).all()
        assert step_ops.fused_relu_verdicts() == {"torch:cpu float32 highest": False}
    finally:
        memo.clear_caches()  # the verdict of the real operator is made again where it is next needed


def test_only_a_relu_does_without_its_input():
    """The cache a fused dense layer gives the activation after it is that activation's output: right for a ReLU
    (positive exactly where its input is), wrong for any other, which therefore refuses it."""
    from xpnet.nn.layers import Activation

    a = np.array([0.0, 2.0])
    assert Activation("relu").cache_of_output(a) == (a, a)
    with pytest.raises(ValueError, match="'tanh'"):
        Activation("tanh").cache_of_output(a)


def test_the_fused_relu_is_checked_per_precision_and_never_inside_a_capture(monkeypatch):
    """The verdict on PyTorch's fused operator is kept per device spec, dtype and precision (cuBLASLt picks its kernels
    per compute type); inside a CUDA graph's capture, where the check's read back to the host is forbidden, an
    unchecked case runs apart and nothing is decided."""
    torch = pytest.importorskip("torch")
    from xpnet.backend import memo, step_ops

    memo.clear_caches()
    net = xpnet.MLP((4, 6, 2), device="torch:cpu", seed=1)
    x = torch.ones(3, 4)
    for precision in ("highest", "tf32"):
        with precision_scope(net.backend, precision):
            affine_relu(x, *net.params[:2])
    assert sorted(step_ops._RELU_VERDICTS) == [("torch:cpu", "float32", "highest"), ("torch:cpu", "float32", "tf32")]
    memo.clear_caches()
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    assert step_ops._fused_relu_agrees(net.backend, "float32", True) is False
    assert step_ops._RELU_VERDICTS == {}


def test_an_activation_named_relu_that_is_not_xpnets_is_not_fused(monkeypatch):
    """A dense layer applies the ReLU itself only when the activation after it is xpnet's own ReLU, forward and
    backward, not whatever bears the name (a table changed by a user or a test)."""
    from xpnet.nn import activations

    table = dict(activations.ACTIVATIONS)
    table["relu"] = (lambda z: 2.0 * activations.relu(z), activations.relu_derivative)
    monkeypatch.setattr(activations, "ACTIVATIONS", table)
    x = np.random.default_rng(0).normal(size=(5, 4))
    net = xpnet.MLP((4, 6, 2), device="cpu", dtype="float64", seed=1)
    assert not net.layers[1].is_relu
    out = net(x)
    monkeypatch.setattr(forward, "relu_follows", lambda layers, k: False)
    np.testing.assert_array_equal(out, xpnet.MLP((4, 6, 2), device="cpu", dtype="float64", seed=1)(x))
