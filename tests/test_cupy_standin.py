"""The CuPy stand-in (xpnet.testing.cupy_standin) has CuPy's traits, and xpnet copes with each.

docs/devices.md lists the traits: a stand-in that lost one would let the bug it stands for back in. What a GPU user
does first runs on the stand-in (and on every real GPU) in tests/test_gpu_first_hour.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpnet
from xpnet.backend import reducers
from xpnet.testing import cupy_standin

pytestmark = pytest.mark.skipif(cupy_standin.real_cupy_present(), reason="a real CuPy is here: the gpu tests run")


@pytest.fixture
def cupy():
    with cupy_standin.installed() as module:
        yield module


# ------------------------------------------------------------------------------------------------ the traits
def test_device_objects_are_unhashable_context_managers(cupy):
    device = cupy.cuda.Device(1)
    with pytest.raises(TypeError, match="unhashable"):
        hash(device)
    with pytest.raises(TypeError, match="unhashable"):
        {device: 1}  # noqa: B018
    assert device == cupy.cuda.Device(1) and device != cupy.cuda.Device(0)
    with device:
        assert cupy.cuda.runtime.getDevice() == 1
        with cupy.cuda.Device(0):
            assert cupy.cuda.runtime.getDevice() == 0
        assert cupy.cuda.runtime.getDevice() == 1
    assert cupy.cuda.runtime.getDevice() == 0


def test_arrays_are_made_on_the_current_device_whatever_device_says(cupy):
    import array_api_compat.cupy as xp

    made = xp.zeros((2, 3), dtype=xp.float32, device=cupy.cuda.Device(1))  # array-api-compat ignores device=
    assert made.device == cupy.cuda.Device(0)
    with cupy.cuda.Device(1):
        assert xp.zeros((2,), dtype=xp.float32).device == cupy.cuda.Device(1)


def test_each_array_is_told_its_own_device_however_often_it_is_asked(cupy):
    """``backend_of`` keeps the backends it has worked out by spec (a step asks several times): arrays on two GPUs
    get two, and :func:`~xpnet.backend.memo.clear_caches` (a library replaced under its name) forgets them."""
    on = {}
    for gpu in (0, 1, 0, 1):
        with cupy.cuda.Device(gpu):
            on[gpu] = cupy.zeros(3)
        assert xpnet.backend.backend_of(on[gpu]).spec == f"cuda:{gpu}"
        assert xpnet.backend.backend_of(on[gpu]).device == cupy.cuda.Device(gpu)
    assert xpnet.backend.backend_of(on[0]).xp is xpnet.backend.resolve("cuda:0").xp
    from xpnet.backend import arrays, memo

    assert "cuda:1" in arrays._SEEN
    memo.clear_caches()
    assert not arrays._SEEN


def test_kernels_refuse_operands_on_another_device_and_numpy_operands(cupy):
    on_zero = cupy.ones((3,))
    with cupy.cuda.Device(1):
        on_one = cupy.ones((3,))
        with pytest.raises(ValueError, match="different from the current device"):
            on_one + on_zero
    with pytest.raises(ValueError, match="different from the current device"):
        cupy.sum(on_one)
    for mixed in (lambda: on_zero + np.ones(3), lambda: np.ones(3) + on_zero, lambda: cupy.add(on_zero, np.ones(3))):
        with pytest.raises(TypeError):
            mixed()
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(on_zero)
    assert isinstance(on_zero.get(), np.ndarray) and cupy.asnumpy(on_zero).tolist() == [1.0, 1.0, 1.0]


def test_reductions_return_0d_arrays_and_scalars_read_with_a_sync(cupy):
    total = cupy.arange(4.0).sum()
    assert isinstance(total, cupy.ndarray) and total.shape == ()
    assert float(total) == 6.0 and bool(total) and int(total) == 6


def test_asarray_of_host_data_keeps_a_pinned_block_and_set_does_not(cupy):
    pool = cupy.get_default_pinned_memory_pool()
    pool.free_all_blocks()
    cupy.asarray(np.ones(3 * 2**20, np.uint8))  # 3 MiB: a 4 MiB block, kept
    assert pool.n_free_blocks() == 1 and pool.held_bytes() == 4 * 2**20
    pool.free_all_blocks()
    cupy.empty((3 * 2**20,), dtype=np.uint8).set(np.ones(3 * 2**20, np.uint8))
    assert pool.n_free_blocks() == 0


def test_a_captured_graph_replays_on_the_same_memory_with_its_arguments_baked_in(cupy):
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        x, total, lr = cupy.asarray(np.ones(3)), cupy.zeros(3), cupy.asarray(np.asarray(0.5))
        stream.begin_capture()
        total += x * lr * 2.0  # lr a device scalar, 2.0 a baked-in number
        out = x.sum()  # a new array: poisoned until a launch computes it
        with pytest.raises(RuntimeError, match="capturing"):
            float(out)  # a host read inside a capture
        with pytest.raises(RuntimeError, match="capturing"):
            cupy.asarray(np.ones(3))  # a host-to-device copy inside a capture
        graph = stream.end_capture()
    assert total.get().tolist() == [0.0, 0.0, 0.0] and np.isnan(out.get())  # nothing ran at capture
    graph.launch()
    x.set(np.full(3, 2.0))
    lr.set(np.asarray(0.25))
    graph.launch()  # reads the new contents of x and lr
    assert total.get().tolist() == [2.0, 2.0, 2.0] and float(out) == 6.0


def test_an_operation_on_another_stream_during_a_capture_is_refused(cupy):
    stream, x = cupy.cuda.Stream(), cupy.ones(2)
    with stream:
        stream.begin_capture()
    with pytest.raises(RuntimeError, match="StreamCaptureImplicit"):
        x * 2
    with stream:
        stream.end_capture()


@pytest.mark.parametrize("form", ["bytes", "tuple"])
def test_nccl_unique_ids_cross_the_broadcast_in_either_form(cupy, monkeypatch, form):
    monkeypatch.setenv("XPNET_STANDIN_NCCL_ID", form)
    nccl = __import__("cupy.cuda.nccl", fromlist=["nccl"])
    uid = nccl.get_unique_id()
    assert isinstance(uid, bytes if form == "bytes" else tuple)
    decoded = reducers.decode_unique_id(reducers.encode_unique_id(uid).copy())
    assert decoded == uid and type(decoded) is type(uid)
    nccl.NcclCommunicator(1, decoded, 0)  # takes it back in its own form
    other = tuple(uid) if form == "bytes" else bytes(np.asarray(uid, np.int8).view(np.uint8))
    with pytest.raises(TypeError, match="commId"):
        nccl.NcclCommunicator(1, other, 0)  # CuPy 14 takes bytes only, CuPy 13 tuples only


def test_the_nccl_reducer_joins_with_an_id_of_either_form(cupy, monkeypatch):
    class OneRank:
        rank, size = 0, 1

        def broadcast(self, values, what=""):
            return np.array(values, copy=True)

    backend = xpnet.backend.resolve("cuda:1")
    for form in ("bytes", "tuple"):
        monkeypatch.setenv("XPNET_STANDIN_NCCL_ID", form)
        reducer = reducers.NcclReducer(OneRank(), backend)
        with backend.activate():
            flat = backend.asarray(np.arange(4.0, dtype=np.float32))
            assert reducer.allreduce_sum(flat).get().tolist() == [0.0, 1.0, 2.0, 3.0]


# ------------------------------------------------------------------------------------ xpnet's use of them
def test_moving_a_data_set_leaves_no_pinned_block_behind(cupy):
    pool = cupy.get_default_pinned_memory_pool()
    pool.free_all_blocks()
    rng = np.random.default_rng(1)
    x, y = rng.random((20_000, 32)).astype(np.float32), rng.integers(0, 2, 20_000)  # 2.4 MiB on the device
    xpnet.train((x, y), device="cuda:1", epochs=1, batch_size=256, placement="device", progress=False, verbose=0)
    assert pool.held_bytes() <= 2**20, pool.held_bytes()  # not the data set's 4 MiB block


def test_every_fused_kernel_runs_and_matches_numpy(cupy):
    """The fused kernels (xpnet.backend.fused) check what cupy.fuse made of each formula against NumPy's evaluation
    of it at their first call, and run only when it matches (a wrong formula fails the cross-backend tests: the
    stand-in's matrix cell and tests/test_gpu_first_hour.py)."""
    from xpnet.backend.fused import fused

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 5)).astype(np.float32), rng.integers(0, 3, 200)
    for dtype in ("float32", "float64"):
        # captured: the learning rate is a device value (descend's alpha); clipped: no gradient sinks (axpby)
        for compile, clip_norm in ((False, None), (True, None), (False, 1.0)):
            xpnet.train((x, y), device="cuda:1", dtype=dtype, hidden=(8,), epochs=1, batch_size=50, progress=False,
                        verbose=0, compile=compile, clip_norm=clip_norm)  # fmt: skip
    assert {name: kernel.checked for name, kernel in fused().items()} == {
        name: {"float32": True, "float64": True} for name in fused()
    }


def test_the_cupy_forward_runs_the_bias_and_the_relu_as_one_fused_kernel(cupy):
    """On CuPy (the stand-in) a dense layer and its ReLU are the product and one fused kernel; the fused kernel
    passes its check against NumPy, and the output equals the layers run apart."""
    from xpnet.backend.fused import Fused, fused
    from xpnet.nn import forward

    x = np.random.default_rng(0).random((8, 5), dtype=np.float32)
    net = xpnet.MLP((5, 7, 6, 3), device="cuda:1", seed=0)
    calls, call = [], Fused.__call__
    with pytest.MonkeyPatch.context() as m:
        m.setattr(Fused, "__call__", lambda self, *args: calls.append(self.name) or call(self, *args))
        out = net(x)
    assert calls == ["bias_relu", "bias_relu"]  # one per hidden layer, nothing else fused in a forward pass
    assert fused()["bias_relu"].checked.get("float32") is True  # it ran: it passed its check against NumPy
    with pytest.MonkeyPatch.context() as m:
        m.setattr(forward, "relu_follows", lambda layers, k: False)
        np.testing.assert_array_equal(out.get(), net(x).get())


def test_a_fused_kernel_first_called_on_nan_and_infinities_stays_on(cupy):
    """A fused kernel checks itself against NumPy at its first call: NaN where NumPy has NaN is agreement (a first
    forward pass through diverged weights must not turn the kernel off for the rest of the process), and a first call
    whose result is all NaN decides nothing (the portable code runs; the next call checks)."""
    from xpnet.backend.fused import UNFUSED, Fused, _bias_relu

    kernel = Fused("bias_relu", _bias_relu)
    with cupy.cuda.Device(1):
        y = cupy.asarray(np.ones((3, 4), dtype=np.float32))
        b = cupy.asarray(np.array([np.nan, -np.inf, np.inf, -2.0], dtype=np.float32))
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            got = kernel(y, b, np.float32(0)).get()
    assert kernel.checked == {"float32": True}
    np.testing.assert_array_equal(got, np.maximum(np.ones((3, 4), dtype=np.float32) + b.get(), 0))
    fresh = Fused("bias_relu", _bias_relu)  # a first call whose result is all NaN proves nothing: checked later
    with cupy.cuda.Device(1):
        assert fresh(y, b[:1] + y[:, :1], np.float32(0)) is UNFUSED and fresh.checked == {}
        finite = cupy.asarray(np.array([1.0, -np.inf, np.inf, -2.0], dtype=np.float32))
        assert fresh(y, finite, np.float32(0)) is not UNFUSED and fresh.checked == {"float32": True}


@pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")
def test_a_fused_kernel_left_unchecked_is_not_checked_inside_a_capture(cupy):
    """A first call that decides nothing (all NaN: weights already NaN) leaves the check to the next call, which in a
    captured run is inside the capture, where a check's read back to the host would break it: there the portable code
    is recorded and nothing is decided; the run ends as a diverged run does, and the kernels stay usable."""
    from xpnet.backend import memo
    from xpnet.backend.fused import fused

    memo.clear_caches()
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 7)).astype(np.float32), rng.integers(0, 2, 300)
    net = xpnet.MLP((7, 16, 2), device="cuda:1", seed=0)
    with net.backend.activate():
        net.params[0] = net.params[0] * float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no kernel refused
        with pytest.raises(xpnet.errors.TrainingDivergedError):
            xpnet.train((x, y), model=net, epochs=1, batch_size=64, progress=False, verbose=0, compile=True)
    assert not any(False in kernel.checked.values() for kernel in fused().values())


def test_a_fused_kernel_whose_result_is_wider_than_numpys_is_refused(cupy):
    """A Python scalar inside a fused kernel typed wider than NumPy types it would turn a float32 network's activations
    into float64 (and the next product would refuse them): the first-call check compares dtypes too."""
    from xpnet.backend.fused import UNFUSED, Fused

    widening = Fused("widen", lambda xp: (lambda y: y * 2) if xp is np else (lambda y: y.astype("float64") * 2))
    with cupy.cuda.Device(1), pytest.warns(RuntimeWarning, match=r"\['float64'\] where NumPy gives \['float32'\]"):
        assert widening(cupy.asarray(np.ones(3, dtype=np.float32))) is UNFUSED
    assert widening.checked == {"float32": False}


def test_bias_gradients_accumulate_through_cublas_with_a_row_of_ones(cupy):
    """``v = beta·v + sum(dy, axis=0)`` as one cuBLAS product (a row of ones @ dy) where a reduction and an update
    would make two kernels; the same numbers as the reduction."""
    from xpnet.backend import kernels

    rng = np.random.default_rng(3)
    dy, v0 = rng.normal(size=(50, 6)).astype(np.float32), rng.normal(size=6).astype(np.float32)
    with cupy.cuda.Device(1):
        v = cupy.asarray(v0)
        got = kernels.column_sums_into(cupy.asarray(dy), v, 0.9)
        assert got is v  # in place: the optimizer's buffer
        np.testing.assert_allclose(v.get(), 0.9 * v0 + dy.sum(axis=0), rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")  # huge inputs on purpose
@pytest.mark.parametrize("compile", [False, True], ids=["eager", "captured"])
def test_the_first_non_finite_step_is_latched_as_on_the_cpu(cupy, compile):
    """The divergence guard's latch (one fused kernel on CuPy) names the same step as NumPy's portable formula."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(256, 5)).astype(np.float32) * 1e3, rng.integers(0, 3, 256)
    steps = []
    for device in ("cpu", "cuda:1"):
        with pytest.raises(xpnet.TrainingDivergedError) as caught:
            xpnet.train((x, y), device=device, hidden=(4,), epochs=3, lr=10.0, batch_size=32, progress=False,
                        verbose=0, standardize=False, compile=compile)  # fmt: skip
        steps.append(caught.value.step)
    assert steps[0] == steps[1] and steps[0] > 1, steps  # a later step than the first: the latch holds it


def test_the_latch_types_its_step_for_cupys_fusion(cupy, monkeypatch):
    """Inside ``cupy.fuse`` a Python float beside a boolean is float16 (CuPy 14's weak scalars pick the ``ee`` loop):
    step 4097 would latch as 4096. The stand-in's fuse is given that trait here; the latch passes its step typed,
    and its check probes a non-finite loss at step 4097 (the first call's finite loss never reaches that branch)."""
    from xpnet.backend.step_ops import latch_first

    def fuse(*args, kernel_name=None):
        def weak(function):
            return lambda *xs: function(*(np.float16(x) if type(x) is float else x for x in xs))

        return weak

    monkeypatch.setattr(cupy, "fuse", fuse)
    with cupy.cuda.Device(1), warnings.catch_warnings():
        warnings.simplefilter("error")  # a kernel that failed its check would warn
        first = cupy.zeros(1, dtype=cupy.float32)
        for step, loss in ((4096, 1.0), (4097, np.inf), (4098, np.nan)):
            first = latch_first(first, cupy.asarray(np.float32(loss)), float(step))
    assert first.get()[0] == 4097.0
