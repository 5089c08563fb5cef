"""Elementwise chains fused into one CuPy kernel each (``cupy.fuse``): what the portable code does in two to four.

On a GPU a small network's step is a few dozen kernels of a few microseconds, so each kernel saved is time saved,
captured or not. Each fused kernel here has the portable code beside it in :mod:`xpnet.backend.kernels`, and
checks itself against it on its first call for each dtype (on copies): a kernel that fails to compile or gives
other numbers is dropped, with a warning, for the portable code (``XPNET_FUSED=0`` drops them all). On the CuPy
stand-in ``cupy.fuse`` runs the function operation by operation, which tests the arithmetic on CPUs.
"""

from __future__ import annotations

import functools
import importlib
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .memo import per_library


def _axpy(alpha: Any, x: Any, y: Any) -> None:
    y += alpha * x


def _descend(alpha: Any, x: Any, y: Any) -> None:
    y -= alpha * x


def _penalised_descend(alpha: Any, v: Any, p: Any, l2: Any) -> None:
    v += l2 * p
    p -= alpha * v


def _axpby(x: Any, y: Any, beta: Any) -> None:
    y *= beta
    y += x


def _relu_backward(dy: Any, z: Any) -> None:
    dy *= z > 0


def _bias_relu(xp: Any) -> Callable[[Any, Any, Any], Any]:
    return lambda y, b, zero: xp.maximum(y + b, zero)  # zero typed as y (a literal 0 may be typed wider in a fusion)


def _sum_exp(cupy: Any) -> Callable[[Any, Any], Any]:
    return lambda z, top: cupy.sum(cupy.exp(z - top), axis=1)


def _softmax_delta(cupy: Any) -> Callable[..., Any]:
    return lambda z, top, total, labels, classes, scale: (cupy.exp(z - top) / total - (labels == classes)) * scale


def _picked_loss(cupy: Any) -> Callable[..., Any]:
    return lambda z, top, total, labels, classes, scale: cupy.sum(
        (labels == classes) * ((top + cupy.log(total) - z) * scale)
    )


def _latch_first(cupy: Any) -> Callable[..., None]:
    def latch(first: Any, value: Any, step: Any) -> None:
        first += ((first == 0) & ~cupy.isfinite(value)) * step  # step typed (kernels.latch_first): not float16

    return latch


def _latch_probe(first: Any, value: Any, step: Any) -> tuple[Any, Any, Any]:
    """A non-finite loss at a step float16 cannot hold (4097): what the first call, a finite loss, never checks."""
    return first * 0, value * 0 + np.inf, step * 0 + 4097


class Fused:
    """One fused kernel with its self-check (see the module docstring); calling it returns its result, or
    :data:`UNFUSED` where the portable code must run instead."""

    def __init__(self, name: str, build: Callable[[Any], Callable[..., Any]], writes: tuple[int, ...] = (),
                 probe: Callable[..., tuple[Any, ...]] | None = None) -> None:  # fmt: skip
        self.name, self._build, self._writes, self._probe = name, build, writes, probe
        self._checked: dict[str, bool] = {}  # dtype name -> passed its check

    @property
    def checked(self) -> dict[str, bool]:
        """Per dtype name: whether this kernel passed its check (and so runs)."""
        return dict(self._checked)

    @functools.cached_property
    def _kernel(self) -> Callable[..., Any]:
        cupy = importlib.import_module("cupy")
        return cupy.fuse(kernel_name=f"xpnet_{self.name}")(self._build(cupy))

    def __call__(self, *args: Any) -> Any:
        dtype = next(str(a.dtype) for a in args if hasattr(a, "dtype") and a.dtype.kind == "f")
        passed = self._checked.get(dtype)
        if passed is None:
            if _capturing():  # a check reads back to the host, which a capture forbids: the portable code is recorded
                return UNFUSED
            passed = self._check(args, dtype)
            if passed is None:  # nothing finite to compare: the portable code runs, the next call checks
                return UNFUSED
            self._checked[dtype] = passed
        return self._kernel(*args) if passed else UNFUSED

    def _check(self, args: tuple[Any, ...], dtype: str) -> bool | None:
        """The kernel against NumPy on host copies of the same inputs (the first call's, or what ``probe`` makes of
        them: inputs that reach a branch the first call does not), dtypes and numbers; None where NumPy's result holds
        no finite number (NaN beside NaN agrees, but a result that is all NaN, from diverged weights, proves nothing)."""
        try:
            args = args if self._probe is None else self._probe(*args)
            host = [a.get() if hasattr(a, "get") else a for a in args]
            copies = [a.copy() if hasattr(a, "copy") else a for a in args]
            result = self._kernel(*copies)
            expected = self._build(np)(*host)
            got = [copies[i] for i in self._writes] if self._writes else [result]
            want = [host[i] for i in self._writes] if self._writes else [expected]
            if not any(np.isfinite(w).any() for w in want):
                return None
            rtol = 1e-5 if dtype == "float32" else 1e-12
            kinds, expected_kinds = [str(g.dtype) for g in got], [str(np.asarray(w).dtype) for w in want]
            if kinds != expected_kinds:  # a Python scalar typed wider inside the fusion: float64 where float32
                problem = f"gave {kinds} where NumPy gives {expected_kinds}"
            elif all(
                np.allclose(g.get() if hasattr(g, "get") else g, w, rtol=rtol, atol=rtol, equal_nan=True)
                for g, w in zip(got, want)
            ):
                return True
            else:
                problem = "gave other numbers than NumPy"
        except Exception as exc:  # no compiler, an unsupported construct in this CuPy
            problem = f"failed ({type(exc).__name__}: {exc})"
        warnings.warn(f"xpnet: the fused CuPy kernel {self.name} {problem}; the portable code runs instead",
                      RuntimeWarning, stacklevel=3)  # fmt: skip
        return False


UNFUSED = object()


def _capturing() -> bool:
    """Whether CuPy's current stream is capturing a CUDA graph."""
    return bool(importlib.import_module("cupy").cuda.get_current_stream().is_capturing())


@per_library
def fused() -> dict[str, Fused] | None:
    """The fused kernels by name, or None where CuPy's ``fuse`` is not there (or ``XPNET_FUSED=0``)."""
    if os.environ.get("XPNET_FUSED", "1") == "0":
        return None
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        return None
    if not hasattr(cupy, "fuse"):
        return None
    return {
        "axpy": Fused("axpy", lambda xp: _axpy, writes=(2,)),
        "descend": Fused("descend", lambda xp: _descend, writes=(2,)),
        "penalised_descend": Fused("penalised_descend", lambda xp: _penalised_descend, writes=(1, 2)),
        "axpby": Fused("axpby", lambda xp: _axpby, writes=(1,)),
        "relu_backward": Fused("relu_backward", lambda xp: _relu_backward, writes=(0,)),
        "bias_relu": Fused("bias_relu", _bias_relu),
        "sum_exp": Fused("sum_exp", _sum_exp),
        "softmax_delta": Fused("softmax_delta", _softmax_delta),
        "picked_loss": Fused("picked_loss", _picked_loss),
        "latch_first": Fused("latch_first", _latch_first, writes=(0,), probe=_latch_probe),
    }
