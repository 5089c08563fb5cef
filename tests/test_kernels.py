"""The in-place kernels: every fast path agrees with its portable path, and the fused optimizer step with the plain one."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.backend import axpy, kernels, matmul_into, resolve, step_ops
from xpnet.backend import host_blas as host_blas_module
from xpnet.backend.host_blas import host_blas

pytestmark = pytest.mark.usefixtures("blas_for_every_size")  # small arrays, the BLAS calls themselves under test


@pytest.fixture(params=["fast", "portable"])
def path(request, monkeypatch):
    monkeypatch.setattr(kernels, "FAST_PATHS", request.param == "fast")
    return request.param


def layouts(rng, dtype):
    a, b = rng.standard_normal((6, 5)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
    yield "C @ C", a, b
    yield "F @ F", np.asfortranarray(a), np.asfortranarray(b)
    yield "a.T views", rng.standard_normal((5, 6)).astype(dtype).T, rng.standard_normal((4, 5)).astype(dtype).T
    yield "strided", rng.standard_normal((6, 10)).astype(dtype)[:, ::2], b


@pytest.mark.parametrize("spec", ["cpu", "torch:cpu", "strict:device1"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_into_and_axpy_on_every_path(spec, dtype, path):
    pytest.importorskip("torch") if spec.startswith("torch") else None
    target = resolve(spec)
    rng = np.random.default_rng(0)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for name, a, b in layouts(rng, dtype):
        out0 = rng.standard_normal((6, 4)).astype(dtype)
        out = target.asarray(out0.copy())
        result = matmul_into(target.asarray(np.ascontiguousarray(a)) if spec != "cpu" else a,
                             target.asarray(np.ascontiguousarray(b)) if spec != "cpu" else b, out, 0.9)  # fmt: skip
        assert result is out, name  # in place
        np.testing.assert_allclose(xpnet.to_numpy(out), a @ b + 0.9 * out0, rtol=tol, atol=tol, err_msg=name)
    x, y0 = rng.standard_normal(7).astype(dtype), rng.standard_normal(7).astype(dtype)
    y = target.asarray(y0.copy())
    assert axpy(-0.5, target.asarray(x), y) is y
    np.testing.assert_allclose(xpnet.to_numpy(y), y0 - 0.5 * x, rtol=tol, atol=tol)
    w, bias = rng.standard_normal((7, 3)).astype(dtype), rng.standard_normal(3).astype(dtype)
    x2 = rng.standard_normal((5, 7)).astype(dtype)
    got = kernels.affine(target.asarray(x2), target.asarray(w), target.asarray(bias))
    np.testing.assert_allclose(xpnet.to_numpy(got), x2 @ w + bias, rtol=tol, atol=tol)
    for alpha in (0.5, target.asarray(np.asarray(0.5, dtype=dtype))):  # a number, a 0-d device value
        y = target.asarray(y0.copy())
        y = kernels.descend(alpha, target.asarray(x), y)
        np.testing.assert_allclose(xpnet.to_numpy(y), y0 - 0.5 * x, rtol=tol, atol=tol)
    buffer0 = rng.standard_normal(3).astype(dtype)
    buffer = target.asarray(buffer0.copy())
    buffer = kernels.column_sums_into(target.asarray(x2 @ w), buffer, 0.9)  # a bias gradient into its velocity
    np.testing.assert_allclose(xpnet.to_numpy(buffer), 0.9 * buffer0 + (x2 @ w).sum(axis=0), rtol=tol, atol=tol)
    y = target.asarray(y0.copy())
    assert kernels.axpby(target.asarray(x), y, 0.9) is y  # y = 0.9·y + x, in place
    np.testing.assert_allclose(xpnet.to_numpy(y), 0.9 * y0 + x, rtol=tol, atol=tol)


def test_numpy_fast_path_is_numpys_own_blas():
    blas = host_blas()
    if blas is None:
        pytest.skip("this NumPy build exposes no CBLAS symbols; the portable path runs")
    out = np.zeros((3, 2), dtype=np.float32)
    assert blas.gemm(np.ones((3, 4), np.float32), np.ones((4, 2), np.float32), out, 0.0)
    np.testing.assert_array_equal(out, 4.0)
    assert not blas.gemm(np.ones((3, 4), np.float32), np.ones((4, 2), np.float64), out, 0.0)  # mixed dtypes: refused


class _OwnMomentum(xpnet.optim.Momentum):
    """A user's optimizer written against the older interface: sinks, but no ``penalty`` in step_from_sinks."""

    def step_from_sinks(self, params, buffers):
        super().step_from_sinks(params, buffers)


@pytest.mark.parametrize("spec", ["cpu", "strict:device1", "torch:cpu"])
@pytest.mark.parametrize("how", ["sinks", "train_step", "train_step-own-optimizer"])
def test_fused_momentum_step_equals_the_plain_step(spec, how, path):
    """The training loop lets backprop accumulate into the velocity; the plain step computes grads first. With
    ``train_step`` backprop also leaves the L2 term out and the optimizer adds it to the velocities with the update
    (one fused kernel on CuPy), unless the optimizer does not take it. Weights and velocities come out as the plain
    step's, biases unpenalised."""
    pytest.importorskip("torch") if spec.startswith("torch") else None
    from xpnet.training.step import train_step

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 6)), rng.integers(0, 3, size=32)
    fused, plain = (xpnet.MLP((6, 8, 3), device=spec, dtype="float64", seed=0) for _ in range(2))
    opt_fused = (_OwnMomentum if how.endswith("own-optimizer") else xpnet.optim.Momentum)(0.1, 0.9)
    opt_plain = xpnet.optim.Momentum(0.1, 0.9)
    xd, yd = fused._check_data(x, y)
    xd, yd = fused.backend.asarray(xd, dtype=fused.dtype), fused.backend.asarray(yd)
    for _ in range(10):
        if how == "sinks":
            _, buffers, _ = fused._backprop(xd, yd, 0.05, into=opt_fused.gradient_sinks(fused.params))
            opt_fused.step_from_sinks(fused.params, buffers)
        else:
            train_step(fused, opt_fused, xd, yd, 0.05)
        _, grads = plain.loss_and_grads(x, y, l2=0.05)
        opt_plain.step(plain.params, grads)
    assert opt_fused.steps == opt_plain.steps == 10
    pairs = [*zip(fused.params, plain.params), *zip(opt_fused.state["velocity"], opt_plain.state["velocity"])]
    for a, b in pairs:
        np.testing.assert_allclose(xpnet.to_numpy(a), xpnet.to_numpy(b), rtol=1e-12, atol=1e-14)
    assert xpnet.optim.Nesterov(0.1).gradient_sinks(plain.params) is None  # needs the raw gradient


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_small_problems_are_done_by_numpy_in_place_as_blas_would(dtype, monkeypatch):
    """Below ``SMALL_GEMM`` multiply-adds (``SMALL_AXPY`` elements) NumPy's own operators stand in for the call
    through ctypes: the same results, written in place into row- or column-major outputs, the old contents unread
    with beta 0; above, the BLAS call runs."""
    blas = host_blas()
    if blas is None:
        pytest.skip("no CBLAS symbols in this NumPy build")
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((6, 5)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    calls = []
    library = blas._gemm[np.dtype(dtype)]
    monkeypatch.setitem(blas._gemm, np.dtype(dtype), lambda *args: calls.append("gemm") or library(*args))
    for small in (True, False):
        monkeypatch.setattr(host_blas_module, "SMALL_GEMM", 1 << 19 if small else 0)
        for order in ("C", "F"):
            for beta in (0.0, 0.5):
                old = np.full((6, 4), np.nan, dtype) if beta == 0 else rng.standard_normal((6, 4)).astype(dtype)
                out = np.array(old, order=order)
                assert blas.gemm(a, b, out, beta)
                assert out.flags[f"{order}_CONTIGUOUS"]
                np.testing.assert_allclose(out, a @ b + (0 if beta == 0 else beta * old), rtol=tol, atol=tol)
        assert calls == ([] if small else ["gemm"] * 4)
    axpy = blas._axpy[np.dtype(dtype)]
    monkeypatch.setitem(blas._axpy, np.dtype(dtype), lambda *args: calls.append("axpy") or axpy(*args))
    x, y0 = rng.standard_normal(10).astype(dtype), rng.standard_normal(10).astype(dtype)
    y = y0.copy()
    assert blas.axpy(-0.5, x, y) and calls[-1] == "axpy"  # through ctypes (the fixture's threshold 0)
    monkeypatch.setattr(host_blas_module, "SMALL_AXPY", 1 << 15)
    y2 = y0.copy()
    assert blas.axpy(-0.5, x, y2) and calls.count("axpy") == 1 and y2.dtype == dtype  # NumPy's operators, in place
    np.testing.assert_allclose(y, y0 - 0.5 * x, rtol=tol, atol=tol)
    np.testing.assert_allclose(y2, y, rtol=tol, atol=tol)


def test_host_blas_refuses_what_it_cannot_do_safely():
    blas = host_blas()
    if blas is None:
        pytest.skip("no CBLAS symbols in this NumPy build")
    a, b = np.ones((2, 3), np.float32), np.ones((7, 2), np.float32)
    assert not blas.gemm(a, b, np.zeros((2, 2), np.float32), 0.0)  # inner dimensions differ
    assert not blas.gemm(a, np.ones((3, 2), np.float32), np.zeros((3, 3), np.float32), 0.0)  # wrong out shape
    frozen = np.zeros((2, 2), np.float32)
    frozen.flags.writeable = False
    assert not blas.gemm(a, np.ones((3, 2), np.float32), frozen, 0.0)
    square = np.ones((3, 3), np.float32)
    assert not blas.gemm(square, square[:, :], square, 0.0)  # out aliases an operand
    with pytest.raises(ValueError):
        matmul_into(a, b, np.zeros((2, 2), np.float32), 0.0)  # the portable path reports the shape error


def test_portable_matmul_into_with_beta_zero_ignores_old_contents(monkeypatch):
    monkeypatch.setattr(kernels, "FAST_PATHS", False)
    out = np.full((2, 2), np.nan, np.float32)
    result = matmul_into(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), out, 0.0)
    np.testing.assert_array_equal(result, 3.0)


@pytest.mark.parametrize("spec", ["cpu", "torch:cpu", "strict:device1", "jax:cpu"])
def test_relu_backward_on_every_path(spec, path):
    pytest.importorskip(spec.split(":")[0]) if spec.startswith(("torch", "jax")) else None
    target = resolve(spec)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((9, 7)).astype(np.float32)
    z[0, :3] = 0.0  # the kink: ReLU's derivative is 0 there, as in PyTorch
    dy = rng.standard_normal((9, 7)).astype(np.float32)
    got = step_ops.relu_backward(target.asarray(dy.copy()), target.asarray(z))
    np.testing.assert_array_equal(xpnet.to_numpy(got), dy * (z > 0))


@pytest.mark.parametrize("spec", ["cpu", "torch:cpu", "strict:device1"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_cross_entropy_on_every_path(spec, dtype, path):
    """The loss and its gradient, against a float64 NumPy evaluation of the formulas (a fast path that drops the
    1/n, a class or the max shift fails), and on PyTorch against its own autograd of F.cross_entropy."""
    pytest.importorskip("torch") if spec.startswith("torch") else None
    from xpnet.nn.losses import cross_entropy

    target = resolve(spec)
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((9, 4)) * 30).astype(dtype)  # large logits: exp overflows without the shift
    labels = rng.integers(0, 4, 9)
    loss, delta = cross_entropy(target.asarray(z), target.asarray(labels))
    shifted = z.astype(np.float64) - z.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    onehot = np.eye(4)[labels]
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(float(xpnet.to_numpy(loss)), -(onehot * logp).sum() / 9, rtol=tol)
    np.testing.assert_allclose(xpnet.to_numpy(delta), (np.exp(logp) - onehot) / 9, rtol=tol, atol=tol)
    if spec.startswith("torch"):
        import torch

        leaf = torch.tensor(z, requires_grad=True)
        want = torch.nn.functional.cross_entropy(leaf, torch.as_tensor(labels))
        want.backward()
        np.testing.assert_allclose(float(xpnet.to_numpy(loss)), want.item(), rtol=tol)
        np.testing.assert_allclose(xpnet.to_numpy(delta), leaf.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("spec", ["cpu", "torch:cpu", "strict:device1"])
def test_the_first_non_finite_step_is_latched_on_every_path(spec, path):
    """The divergence guard's latch keeps the first step whose loss is not finite (infinite or NaN), whatever comes
    after; the step as a number (a step run operation by operation) or a 0-d device value (a captured step)."""
    pytest.importorskip("torch") if spec.startswith("torch") else None
    target = resolve(spec)
    losses = [1.0, 2.0, np.inf, np.nan, 3.0, -np.inf]
    for as_device in (False, True):
        first = target.asarray(np.zeros(1, np.float32))
        for step, loss in enumerate(losses, start=1):
            value = target.asarray(np.asarray(loss, np.float32))
            at = target.asarray(np.asarray(step, np.float32)) if as_device else float(step)
            first = step_ops.latch_first(first, value, at)
            assert float(xpnet.to_numpy(first)[0]) == (0.0 if step < 3 else 3.0), (as_device, step)


@pytest.mark.parametrize("spec", ["cpu", "torch:cpu", "strict:device1", "jax:cpu"])
@pytest.mark.parametrize("classifies", [True, False])
def test_loss_and_hits_add_into_the_running_sums_on_every_path(spec, classifies, path):
    """A batch's ``n·loss`` and correct predictions into the running sums, in place where the backend allows it."""
    pytest.importorskip(spec.split(":")[0]) if spec[:3] in ("tor", "jax") else None
    target = resolve(spec)
    start = np.asarray([1.5, 4.0], np.float32)
    sums = target.asarray(start.copy())
    predicted, labels = target.asarray(np.asarray([0, 2, 1, 1])), target.asarray(np.asarray([0, 1, 1, 1]))
    loss = target.asarray(np.asarray(0.25, np.float32))
    got = step_ops.add_loss_and_hits(sums, loss, 4, predicted if classifies else None, labels)
    if target.updates_in_place:
        assert got is sums
    np.testing.assert_allclose(xpnet.to_numpy(got), start + np.asarray([1.0, 3.0 if classifies else 0.0]), rtol=1e-6)
