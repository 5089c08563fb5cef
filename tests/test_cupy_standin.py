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
