"""A dense layer's output and its input gradient are laid out as its weights (xpnet.backend.layout): column-major
on the host, where NumPy and PyTorch show their strides, so every elementwise pass of the step (the ReLU and its
backward pass) walks its operands together at unit stride; row-major on a GPU (the CuPy stand-in) and where strides
are not shown (array-api-strict). What the network hands its user is row-major on every device."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.backend import kernels, resolve, step_ops
from xpnet.backend.arrays import column_major
from xpnet.nn import forward as forward_module
from xpnet.nn import layers
from xpnet.nn.backprop import TRAINING
from xpnet.nn.random import keep_mask

SHOWN = {"cpu", "torch:cpu"}  # where the products follow the weights' layout


@pytest.fixture(autouse=True)
def follow_every_size(monkeypatch):
    """The layout followed whatever the product's size: below ``SMALL_FOLLOW`` it is not, and the networks here are
    small (``test_small_products_and_single_rows_keep_their_outputs_row_major`` tests the threshold itself)."""
    monkeypatch.setattr(kernels, "SMALL_FOLLOW", 0)


ARCHITECTURES = {
    "relu": {},
    "relu, unfused": {},  # PyTorch's product and ReLU run apart (its fused one failed the device's check)
    "tanh, layer norm": {"activation": "tanh", "norm": "layer"},
    "relu, batch norm": {"norm": "batch"},
}


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_hidden_outputs_and_the_gradients_that_meet_them_are_laid_out_as_the_weights(
    layout_spec, architecture, monkeypatch
):
    if architecture == "relu, unfused":
        monkeypatch.setattr(step_ops, "_fused_relu_agrees", lambda *args: False)
    net = xpnet.MLP((6, 8, 5, 3), device=layout_spec, dtype="float64", seed=1, **ARCHITECTURES[architecture])
    rng = np.random.default_rng(0)
    x = net.backend.asarray(rng.normal(size=(16, 6)))
    y = net.backend.asarray(rng.integers(0, 3, size=16))
    z, caches = net._forward(x, TRAINING, keep=True)
    hidden = [cache[0] for layer, cache in zip(net.layers, caches) if isinstance(layer, layers.Activation)]
    assert len(hidden) == 2
    assert [column_major(h) for h in hidden] == [layout_spec in SHOWN] * 2
    assert not column_major(z)  # the last output, which the loss reads by rows
    seen = []
    real = layers.Activation.backward

    def recording(self, params, cache, dy, *rest):
        seen.append((column_major(dy), column_major(cache[0])))
        return real(self, params, cache, dy, *rest)

    monkeypatch.setattr(layers.Activation, "backward", recording)
    net.loss_and_grads(x, y, l2=0.1)
    assert seen == [(layout_spec in SHOWN, layout_spec in SHOWN)] * 2  # the gradient laid out as the output it meets


def test_small_products_and_single_rows_keep_their_outputs_row_major(monkeypatch):
    monkeypatch.undo()  # SMALL_FOLLOW as shipped
    for spec in ("cpu", "torch:cpu"):
        if spec.startswith("torch"):
            pytest.importorskip("torch")
        big = xpnet.MLP((784, 64, 10), device=spec, seed=0)  # 128·784·64 multiply-adds: above SMALL_FOLLOW
        small = xpnet.MLP((784, 16, 10), device=spec, seed=0)  # 8·784·16: below, a host-bound step
        rng = np.random.default_rng(2)
        for net, n, expected in ((big, 128, True), (small, 8, False), (big, 1, False)):
            x = net.backend.asarray(rng.random((n, 784), dtype=np.float32))
            assert kernels.follows_weights(x, net.params[0]) == expected, (spec, n)
            _, caches = net._forward(x, TRAINING, keep=True)
            assert column_major(caches[1][0]) == (expected and n > 1), (spec, n)


@pytest.mark.parametrize("spec", ["cpu", "torch:cpu"])
def test_the_last_layer_is_made_by_rows_unless_its_input_is_in_columns(spec, monkeypatch):
    """The loss and the user read the last output by rows: from a row-major input (no hidden layer, or one below
    ``SMALL_FOLLOW``) it is made row-major at once; from a column-major one, in columns and then copied."""
    if spec.startswith("torch"):
        pytest.importorskip("torch")
    copied = []
    real = forward_module.row_major
    monkeypatch.setattr(forward_module, "row_major", lambda a: copied.append(column_major(a)) or real(a))
    x = np.random.default_rng(6).normal(size=(16, 6))
    for sizes, in_columns in (((6, 3), False), ((6, 8, 3), True)):
        net = xpnet.MLP(sizes, device=spec, dtype="float64", seed=0)
        assert [layer.output for layer in net.layers if isinstance(layer, layers.Dense)] == [False] * (
            len(sizes) - 2
        ) + [True]
        z = net(net.backend.asarray(x))
        assert copied.pop() == in_columns and not column_major(z)
        np.testing.assert_allclose(xpnet.to_numpy(z), xpnet.to_numpy(xpnet.MLP(sizes, dtype="float64", seed=0)(x)))


def test_the_portable_path_makes_numpys_products_as_array_api_strict_does(monkeypatch):
    """With the fast paths off NumPy computes what array-api-strict computes, bit for bit (docs/parity.md)."""
    monkeypatch.setattr(kernels, "FAST_PATHS", False)
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(20, 64)).astype(np.float32), rng.integers(0, 4, size=20)
    results = []
    for spec in ("cpu", "strict"):
        net = xpnet.MLP((64, 32, 4), device=spec, seed=3)
        loss, grads = net.loss_and_grads(net.backend.asarray(x), net.backend.asarray(y), l2=0.01)
        results.append([xpnet.to_numpy(a) for a in (loss, *grads)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_product_laid_out_as_another_array_has_the_numbers_of_the_plain_product(layout_spec, dtype):
    target = resolve(layout_spec)
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(7, 5)).astype(dtype), rng.normal(size=(5, 4)).astype(dtype)
    columns = target.asarray(np.ascontiguousarray(rng.normal(size=(4, 7)).astype(dtype))).T  # a (7, 4) in columns
    rows = target.asarray(rng.normal(size=(7, 4)).astype(dtype))
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    for like, expected in ((columns, layout_spec in SHOWN), (rows, False)):
        got = kernels.matmul_as(target.asarray(a), target.asarray(b), like)
        assert column_major(got) == expected
        np.testing.assert_allclose(xpnet.to_numpy(got), a @ b, rtol=tolerance, atol=tolerance)


def test_the_outputs_a_user_gets_are_row_major(layout_spec):
    net = xpnet.MLP((6, 8, 3), device=layout_spec, seed=2)
    reg = xpnet.MLP((6, 8, 2), device=layout_spec, seed=2, loss="mse")
    x = net.backend.asarray(np.random.default_rng(1).normal(size=(10, 6)).astype(np.float32))
    for out in (net(x), net.predict_proba(x), reg(x), reg.predict(x)):
        assert out.shape[0] == 10 and not column_major(out)
        if type(out).__module__ == "torch":
            assert out.is_contiguous() and out.view(-1).shape == (out.numel(),)  # view needs row-major memory
        elif isinstance(out, np.ndarray):
            assert out.flags.c_contiguous


@pytest.mark.parametrize("library", ["numpy", "torch"])
@pytest.mark.parametrize("first_row", [0, 40])
def test_a_dropout_mask_made_in_columns_is_the_same_mask(library, first_row):
    xp = pytest.importorskip(library)
    device = "cpu"
    rows = keep_mask(xp, device, (33, 17), key=123456789, first_row=first_row, keep=0.7)
    columns = keep_mask(xp, device, (33, 17), key=123456789, first_row=first_row, keep=0.7, columns=True)
    assert tuple(columns.shape) == (33, 17) and column_major(columns) and not column_major(rows)
    np.testing.assert_array_equal(xpnet.to_numpy(columns), xpnet.to_numpy(rows))


def test_a_network_with_dropout_multiplies_outputs_by_scales_of_their_layout_with_the_numbers_of_rows(layout_spec):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(16, 6)), rng.integers(0, 3, size=16)
    results = []
    for follow in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(kernels, "OUTPUTS_FOLLOW_LAYOUT", follow)
            net = xpnet.MLP((6, 8, 5, 3), device=layout_spec, dtype="float64", seed=1, dropout=0.5)
            inputs = net.backend.asarray(x)
            _, caches = net._forward(inputs, TRAINING, keep=True)
            scales = [c for layer, c in zip(net.layers, caches) if isinstance(layer, layers.Dropout)]
            assert len(scales) == 2 and [column_major(s) for s in scales] == [follow and layout_spec in SHOWN] * 2
            loss, grads = net.loss_and_grads(inputs, net.backend.asarray(y), l2=0.1)
            results.append([xpnet.to_numpy(a) for a in (loss, *grads)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
