"""The precision of the matrix products of a training step: ``"highest"`` (float32 or float64 throughout),
``"tf32"`` (TensorFloat-32 tensor cores: float32 operands rounded to 10-bit mantissas, float32 sums) or ``"bf16"``
(bfloat16 operands, float32 weights, gradients and optimizer state: mixed precision).

:func:`precision_scope` sets it for the block: the matrix products of :mod:`xpnet.backend.kernels` read it, and it
sets what each library reads itself (on a CUDA device PyTorch's TensorFloat-32 switch, JAX's default matmul
precision). A compiled or captured step takes the precision it was traced or captured with.

PyTorch's switch is global to the process: it is read and restored as the user's own code left it (through the
``fp32_precision`` settings where PyTorch has them, 2.9 on, which refuse to be read through the older
``allow_tf32`` once set; ``allow_tf32`` before), and only for a CUDA device, so a CPU run leaves it untouched. Two
threads training on CUDA devices at different precisions at once share it, which is not supported.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Iterator
from typing import Any

from ..errors import XPNetValueError, describe
from .specs import Backend

PRECISIONS = ("highest", "tf32", "bf16")
# where each precision exists: TensorFloat-32 on the GPUs of CuPy (cuBLAS's compute type), PyTorch and JAX, not on
# CPUs (there a tf32 run would be a full float32 run that says tf32); bfloat16 matrix products on PyTorch and JAX,
# CPUs included (CuPy has no bfloat16 dtype, NumPy and array-api-strict neither)
_SUPPORTED = {"tf32": ("cupy", "torch", "jax"), "bf16": ("torch", "jax")}
_WHERE = {"tf32": "CUDA GPUs (cuda with CuPy, torch:cuda, jax:cuda); CPUs have no TensorFloat-32",
          "bf16": "torch and jax devices"}  # fmt: skip
_current: contextvars.ContextVar[str] = contextvars.ContextVar("xpnet_precision", default="highest")


def check_precision(precision: Any, backend: Backend | None = None, dtype: str | None = None) -> str:
    """``precision`` checked by name, and (given them) against the backend and the model's dtype."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise XPNetValueError(f"precision: expected one of {list(PRECISIONS)}; received {describe(precision)}")
    if precision == "highest":
        return precision
    if dtype is not None and dtype != "float32":
        raise XPNetValueError(
            f"precision: {precision!r} speeds up float32 matrix products; received a {dtype} model (use "
            "precision='highest', or dtype='float32')"
        )
    on_cpu = backend is not None and backend.on_host
    if backend is not None and (backend.name not in _SUPPORTED[precision] or (precision == "tf32" and on_cpu)):
        kind = "TensorFloat-32" if precision == "tf32" else "bfloat16"
        raise XPNetValueError(
            f"precision: {precision!r} needs {kind} matrix products, which {backend.spec!r} ({backend.name}) does not "
            f"have; they exist on {_WHERE[precision]}. Use precision='highest' here"
        )
    if precision == "tf32" and backend is not None and backend.name == "cupy":
        from .device_blas import device_blas

        if device_blas() is None:  # CuPy's own matmul has no TensorFloat-32 switch: it would run at full float32
            raise XPNetValueError(
                "precision: 'tf32' on CuPy sets cuBLAS's compute type through ctypes, which is unavailable here (a "
                "warning said why, or XPNET_DEVICE_BLAS=0 turned it off); use precision='highest', or a PyTorch "
                "device (torch:cuda)"
            )
    return precision


def current() -> str:
    """The precision of the matrix products being run now."""
    return _current.get()


@contextlib.contextmanager
def precision_scope(backend: Backend, precision: str) -> Iterator[None]:
    """Matrix products at ``precision`` on ``backend`` while the block runs."""
    token = _current.set(precision)
    try:
        with contextlib.ExitStack() as stack:
            if backend.name == "torch" and getattr(backend.device, "type", None) == "cuda":
                stack.enter_context(torch_tf32(precision == "tf32"))
            elif backend.name == "jax" and precision == "tf32":
                stack.enter_context(importlib.import_module("jax").default_matmul_precision("tensorfloat32"))
            yield
    finally:
        _current.reset(token)


@contextlib.contextmanager
def torch_tf32(allow: bool) -> Iterator[None]:
    """PyTorch's TensorFloat-32 switch for CUDA matrix products on (``allow``) or off while the block runs, then as it
    was. Where PyTorch has ``fp32_precision`` (2.9 on) only that is read and written: the older ``allow_tf32`` raises
    once the newer settings were used. A matmul setting that was inheriting the global one (``"none"``) is put back
    to inheriting, not to the value it read as, so the user's later global switch still reaches it."""
    torch = importlib.import_module("torch")
    matmul = torch.backends.cuda.matmul
    if not hasattr(matmul, "fp32_precision"):  # PyTorch before 2.9: the one switch
        saved = matmul.allow_tf32
        matmul.allow_tf32 = allow
        try:
            yield
        finally:
            matmul.allow_tf32 = saved
        return
    wanted, saved = "tf32" if allow else "ieee", matmul.fp32_precision  # read as resolved: "none" is never seen
    if saved == wanted:  # already so: nothing to change or put back
        yield
        return
    inherited = saved == torch.backends.fp32_precision  # as the global setting: most likely inheriting it
    matmul.fp32_precision = wanted
    try:
        yield
    finally:
        matmul.fp32_precision = "none" if inherited else saved
