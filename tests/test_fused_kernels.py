"""The fused CuPy kernels (xpnet.backend.fused) on the CuPy stand-in: each checks itself against NumPy at its first
call (numbers and dtypes; NaN beside NaN agrees; nothing decided on an all-NaN result or inside a capture) and runs
where the portable code would run two to four kernels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpnet
from xpnet.testing import cupy_standin

pytestmark = pytest.mark.skipif(cupy_standin.real_cupy_present(), reason="a real CuPy is here: the gpu tests run")


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
