"""Matrix parameters are stored column-major on the host's BLAS and row-major on GPUs (xpnet.backend.layout): by every
way a network is made or loaded, through training, in the gradients, the optimizer's state and the gradient exchange;
the matrix products write column-major arrays in place and give what a row-major run gives."""

from __future__ import annotations

import importlib.util
import pickle
import warnings

import numpy as np
import pytest

import xpnet
from xpnet.backend import as_parameter, kernels, matmul_into, parameter_view, resolve
from xpnet.backend.host_blas import host_blas
from xpnet.backend.layout import weight_gradient
from xpnet.distributed.exchange import GradientExchange

pytestmark = pytest.mark.usefixtures("blas_for_every_size")  # small arrays, the BLAS calls themselves under test


def strides(a):
    """``a``'s strides in elements, whatever its library (PyTorch, NumPy, array-api-strict, the CuPy stand-in)."""
    if type(a).__module__ == "torch":
        return tuple(a.stride())
    memory = getattr(a, "_array", a)  # array-api-strict wraps a NumPy array
    return tuple(s // memory.itemsize for s in memory.strides)


def column_major(a) -> bool:
    rows, _ = a.shape
    return strides(a) == (1, rows)


def assert_laid_out(params, on_host: bool = True, what: str = "") -> None:
    """Matrices column-major on the host, row-major on a GPU (the CuPy stand-in's cells); vectors contiguous."""
    for p in params:
        if p.ndim == 2:
            assert column_major(p) if on_host else strides(p) == (p.shape[1], 1), (what, p.shape, strides(p))
        else:
            assert strides(p) == (1,), what


def test_matrix_parameters_are_laid_out_for_their_device_with_the_values_of_the_seed(xp_device):
    net = xp_device.mlp((5, 7, 3), seed=3)
    reference = xpnet.MLP((5, 7, 3), seed=3, dtype=xp_device.dtype_name)
    if not xp_device.backend.updates_in_place:
        pytest.skip("immutable arrays (JAX): their layout is the compiler's business")
    assert_laid_out(net.params, on_host=xp_device.backend.on_host)
    if xp_device.has_values:
        for a, b in zip(net.params, reference.params):
            np.testing.assert_array_equal(xpnet.to_numpy(a), xpnet.to_numpy(b))


def test_every_way_in_keeps_the_layout(layout_spec, tmp_path):
    net = xpnet.MLP((4, 6, 3), device=layout_spec, seed=0)
    values = [xpnet.to_numpy(p) for p in net.params]
    host_rows = [np.ascontiguousarray(v) for v in values]  # a user's row-major arrays
    made = {
        "from_state": type(net).from_state(net.state()),
        "to": net.to(layout_spec),
        "load": xpnet.load(xpnet.save(net, tmp_path / "m.safetensors"), device=layout_spec),
        "from_params": xpnet.MLP.from_params([net.backend.asarray(v) for v in host_rows]),
    }
    snapshot = net.snapshot()
    net.restore(snapshot)
    made["restore"] = net
    host = net.backend.on_host
    for how, other in made.items():
        assert_laid_out(other.params, host, how)
        for a, v in zip(other.params, values):
            np.testing.assert_array_equal(xpnet.to_numpy(a), v, err_msg=how)
    rng = np.random.default_rng(1)
    _, grads = net.loss_and_grads(rng.normal(size=(8, 4)), rng.integers(0, 3, size=8), l2=0.1)
    assert_laid_out(grads, host)  # the gradients too: the update walks parameter and gradient at unit stride
    optimizer = xpnet.optim.Adam(0.01)
    optimizer.step(net.params, grads)
    for buffers in optimizer.state.values():
        assert_laid_out(buffers, host)
    assert_laid_out(net.params, host)


@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (4,)])
def test_a_parameter_never_shares_memory_with_the_data_it_was_made_from(layout_spec, shape):
    target = resolve(layout_spec)
    for given in (np.ones(shape), np.asfortranarray(np.ones(shape))):  # a column-major matrix's transpose is a view
        made = as_parameter(given, target)
        made += 1.0
        np.testing.assert_array_equal(given, 1.0)


def test_a_run_equals_a_row_major_run_and_keeps_the_layout(layout_spec):
    """Every kernel of the step (fast and portable paths alike) on column-major parameters and buffers gives what the
    same step gives on row-major ones."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(96, 6)), rng.integers(0, 3, size=96)
    runs = []
    for row_major in (False, True):
        net = xpnet.MLP((6, 8, 5, 3), device=layout_spec, dtype="float64", seed=1)
        if row_major:
            net.params[:] = [as_row_major(p) for p in net.params]
            assert not column_major(net.params[0])
        opt = xpnet.optim.Momentum(0.1, 0.9)
        net = xpnet.train((x, y), model=net, optimizer=opt, epochs=3, batch_size=32, l2=1e-3, progress=False,
                          verbose=0, seed=0).model  # fmt: skip
        runs.append(net)
        if not row_major:
            assert_laid_out(net.params, net.backend.on_host)
            assert_laid_out(opt.state["velocity"], net.backend.on_host)
    for a, b in zip(runs[0].params, runs[1].params):
        np.testing.assert_allclose(xpnet.to_numpy(a), xpnet.to_numpy(b), rtol=1e-12, atol=1e-12)


def as_row_major(p):
    if p.ndim != 2:
        return p
    target = xpnet.backend.backend_of(p)
    out = target.xp.empty(p.shape, dtype=p.dtype, device=target.device)
    out[...] = p
    return out


def test_a_weight_gradient_is_laid_out_as_its_weights(layout_spec):
    target = resolve(layout_spec)
    rng = np.random.default_rng(6)
    x, dy = rng.normal(size=(9, 4)), rng.normal(size=(9, 3))
    got = weight_gradient(target.asarray(x), target.asarray(dy))
    assert_laid_out([got], target.on_host)
    np.testing.assert_allclose(xpnet.to_numpy(got), x.T @ dy, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", ["fast", "portable"])
@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_matrix_products_write_column_major_outputs_in_place(layout_spec, path, beta, monkeypatch):
    monkeypatch.setattr(kernels, "FAST_PATHS", path == "fast")
    target = resolve(layout_spec)
    rng = np.random.default_rng(2)
    a, b, old = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    out = target.asarray(np.ascontiguousarray(old.T)).T  # the layout of the host's parameters, on every device
    assert column_major(out)
    got = matmul_into(target.asarray(a), target.asarray(b), out, beta)
    if path == "fast" and target.name != "strict":  # BLAS, addmm_, cuBLAS (the portable path may return a new one)
        assert got is out
    np.testing.assert_allclose(xpnet.to_numpy(got), a @ b + beta * old, rtol=1e-12, atol=1e-12)
    y = as_parameter(old, target)
    assert kernels.axpy(-0.5, as_parameter(a @ b, target), y) is y  # the parameters' layout, whichever it is
    np.testing.assert_allclose(xpnet.to_numpy(y), old - 0.5 * (a @ b), rtol=1e-12, atol=1e-12)


def test_numpys_blas_takes_column_major_arrays_and_leaves_mixed_ones_to_numpy():
    blas = host_blas()
    if blas is None:
        pytest.skip("no CBLAS symbols in this NumPy build")
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    out = np.asfortranarray(rng.normal(size=(5, 3)).astype(np.float32))
    expected = a @ b + 0.25 * out
    assert blas.gemm(a, b, out, 0.25) and out.flags.f_contiguous
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    x, y = np.asfortranarray(a), np.asfortranarray(a.copy())
    assert blas.axpy(2.0, x, y)
    np.testing.assert_allclose(y, 3 * a, rtol=1e-6)
    assert not blas.axpy(2.0, np.ascontiguousarray(a), y)  # row- and column-major: not one walk over memory


def test_the_gradient_exchange_lays_its_views_out_as_the_parameters(layout_spec):
    class Doubling:  # two ranks with the same gradients
        def allreduce_sum(self, flat):
            flat *= 2
            return flat

    net = xpnet.MLP((4, 6, 3), device=layout_spec, dtype="float64", seed=0)
    exchange = GradientExchange(Doubling(), net.params)
    for view, p in zip(exchange.views, net.params):
        assert strides(view) == strides(p)
    target = net.backend
    rng = np.random.default_rng(5)
    grads = [rng.normal(size=tuple(p.shape)) for p in net.params]
    summed = exchange.allreduce([target.asarray(g) for g in grads], 0.5)  # row-major arrays, copied in
    for got, g in zip(summed, grads):
        np.testing.assert_allclose(xpnet.to_numpy(got), g, rtol=1e-12)
    flat = target.xp.arange(12, dtype=target.xp.float64, device=target.device)
    view = parameter_view(flat, (3, 4), target)
    down_the_columns = target.on_host  # a host parameter's buffer walks down the columns, a GPU's along the rows
    assert xpnet.to_numpy(view)[1, 0] == (1.0 if down_the_columns else 4.0)


def test_an_unpickled_estimator_lays_out_its_weights_and_optimizer_state_for_its_device(layout_spec):
    """A pickle holds host arrays in whatever order they were saved (row-major from an estimator fitted on a GPU or by
    an xpnet before this layout): unpickling lays the weights and the optimizer's state out for the device."""
    from xpnet.sklearn import MLPClassifier

    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(60, 4)), rng.integers(0, 3, size=60)
    fitted = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0, device=layout_spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs: not converged
        fitted.fit(x, y)
    state = fitted.__getstate__()
    bare, buffers = state["_optimizer_state"]
    assert buffers
    state["_optimizer_state"] = (bare, {k: [np.ascontiguousarray(b) for b in v] for k, v in buffers.items()})
    state["_model_state"]["params"] = {k: np.ascontiguousarray(a) for k, a in state["_model_state"]["params"].items()}
    again = pickle.loads(pickle.dumps(state))
    restored = MLPClassifier.__new__(MLPClassifier)
    restored.__setstate__(again)
    host = restored.model_.backend.on_host
    assert_laid_out(restored.model_.params, host, "weights")
    for buffers in restored._optimizer.state.values():
        assert_laid_out(buffers, host, "optimizer state")
    for name, wanted in fitted._optimizer.state.items():
        for got, want in zip(restored._optimizer.state[name], wanted, strict=True):
            np.testing.assert_array_equal(xpnet.to_numpy(got), xpnet.to_numpy(want))
    np.testing.assert_array_equal(restored.predict_proba(x), fitted.predict_proba(x))


def test_a_copy_of_a_network_trains_without_touching_the_original(layout_spec):
    """``to()`` and ``from_state`` once shared the NumPy original's memory: training the copy changed the original."""
    net = xpnet.MLP((4, 6, 3), device=layout_spec, seed=0)
    before = [xpnet.to_numpy(p).copy() for p in net.params]
    state = net.state()
    saved = [np.array(a, copy=True) for a in state["params"].values()]
    rng = np.random.default_rng(8)
    for copy in (net.to(layout_spec), type(net).from_state(state)):
        xpnet.train((rng.normal(size=(40, 4)), rng.integers(0, 3, size=40)), model=copy, epochs=1, batch_size=8,
                    progress=False, verbose=0)  # fmt: skip
        for p, b in zip(net.params, before):
            np.testing.assert_array_equal(xpnet.to_numpy(p), b)
    for a, b in zip(state["params"].values(), saved):
        np.testing.assert_array_equal(a, b)


def test_moving_a_network_between_devices_lays_it_out_for_the_new_one(layout_spec, tmp_path):
    """A CPU model's column-major weights arrive row-major on a GPU and the other way round, by ``to``, ``from_state``
    and a checkpoint's resume alike."""
    others = ["cpu", "strict:device1"] + (["torch:cpu"] if importlib.util.find_spec("torch") else [])
    net = xpnet.MLP((4, 6, 3), device=layout_spec, seed=0)
    for other in others:
        for how, moved in (("to", net.to(other)), ("from_state", type(net).from_state(net.state(), device=other))):
            assert_laid_out(moved.params, moved.backend.on_host, f"{layout_spec} -> {other} by {how}")
            back = moved.to(layout_spec)
            assert_laid_out(back.params, back.backend.on_host, f"{layout_spec} -> {other} -> {layout_spec} by {how}")
            for a, b in zip(back.params, net.params):
                np.testing.assert_array_equal(xpnet.to_numpy(a), xpnet.to_numpy(b))


def test_a_resumed_run_keeps_the_layout_of_its_weights_and_optimizer_state(layout_spec, tmp_path):
    rng = np.random.default_rng(9)
    data = (rng.normal(size=(64, 4)), rng.integers(0, 3, size=64))
    settings = dict(
        device=layout_spec, hidden=(6,), batch_size=16, lr_schedule="constant", progress=False, verbose=0, seed=0
    )
    xpnet.train(data, epochs=1, checkpoint_dir=tmp_path, **settings)
    optimizer = xpnet.optim.Momentum(0.05, 0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the run's length changed: a warning about the schedule (constant here)
        resumed = xpnet.train(data, epochs=2, checkpoint_dir=tmp_path, resume=True, optimizer=optimizer, **settings)
    host = resumed.model.backend.on_host
    assert_laid_out(resumed.model.params, host, "weights")
    assert_laid_out(optimizer.state["velocity"], host, "velocities")
