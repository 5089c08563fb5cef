"""A dense layer's output and its input gradient are laid out as its weights (xpnet.backend.layout): column-major
on the host, where NumPy and PyTorch show their strides, so every elementwise pass of the step (the ReLU and its
backward pass) walks its operands together at unit stride; row-major on a GPU (the CuPy stand-in) and where strides
are not shown (array-api-strict). What the network hands its user is row-major on every device."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.backend import kernels, resolve
from xpnet.backend.arrays import column_major
from xpnet.nn import layers
from xpnet.nn.backprop import TRAINING
from xpnet.nn.random import keep_mask

SHOWN = {"cpu", "torch:cpu"}  # where the products follow the weights' layout


def test_hidden_outputs_and_the_gradients_the_relu_reads_are_laid_out_as_the_weights(layout_spec, monkeypatch):
    net = xpnet.MLP((6, 8, 5, 3), device=layout_spec, dtype="float64", seed=1)
    rng = np.random.default_rng(0)
    x = net.backend.asarray(rng.normal(size=(16, 6)))
    y = net.backend.asarray(rng.integers(0, 3, size=16))
    _, caches = net._forward(x, TRAINING, keep=True)
    hidden = [cache[0] for layer, cache in zip(net.layers, caches) if isinstance(layer, layers.Activation)]
    assert len(hidden) == 2
    assert [column_major(h) for h in hidden] == [layout_spec in SHOWN] * 2
    seen = []
    real = layers.relu_backward

    def recording(dy, a):
        seen.append((column_major(dy), column_major(a)))
        return real(dy, a)

    monkeypatch.setattr(layers, "relu_backward", recording)
    net.loss_and_grads(x, y, l2=0.1)
    assert seen == [(layout_spec in SHOWN, layout_spec in SHOWN)] * 2  # the gradient laid out as the output it meets


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
