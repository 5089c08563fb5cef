"""A CuPy stand-in: ``import cupy`` answered on a machine without a GPU, with the traits of CuPy that code written
for NumPy trips over (docs/devices.md lists each trait and the test that covers it).

- Device objects are **unhashable** (``__eq__`` without ``__hash__``) and are context managers (``with device:``).
- Arrays are made on the **current** device whatever ``device=`` says (array-api-compat's CuPy namespace ignores
  it), and every kernel runs on the current device: an operand on another device is refused.
- Implicit conversion to NumPy (``np.asarray(x)``) raises ``TypeError``; NumPy arrays are never operands.
- Reductions return 0-d arrays; ``.get()``/``.set()`` move data; ``.data.ptr`` addresses memory.
- Host data moved by ``cupy.asarray`` is staged through the pinned memory pool, which keeps the block.
- Streams capture graphs that replay on the same memory with the arguments baked in at capture; a host read,
  a host-to-device copy or an operation on another stream during a capture is refused.
- ``cupy.cuda.nccl``: unique ids as ``bytes`` (CuPy 14) or tuples of ints (CuPy 13, ``XPNET_STANDIN_NCCL_ID=tuple``),
  and an allreduce carried over MPI.

Two simulated GPUs by default (``XPNET_STANDIN_GPUS``). In this process, :func:`installed` swaps the stand-in in for
a block; a child process finds it when :data:`PATH` leads its ``PYTHONPATH`` (:func:`child_env`)::

    with installed():
        xpnet.train((x, y), device="cuda:1")
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

from ...backend.memo import clear_caches

PATH = str(Path(__file__).resolve().parent)  # holds the folders cupy/ and cupyx/
_NAMES = ("cupy", "cupyx")
_modules: dict[str, ModuleType] = {}


def _owned(name: str) -> bool:
    return name in _NAMES or name.startswith(("cupy.", "cupyx."))


def real_cupy_present() -> bool:
    """Whether a real CuPy is imported or importable here (the stand-in then stays out of its way)."""
    loaded = sys.modules.get("cupy")
    if loaded is not None:
        return not getattr(loaded, "STANDIN", False)
    return importlib.util.find_spec("cupy") is not None


@contextlib.contextmanager
def installed() -> Iterator[ModuleType]:
    """``import cupy`` gives the stand-in while the block runs (the same module objects every time).

    Raises RuntimeError where a real CuPy is present: two CuPy modules cannot share one process.
    """
    if not _modules and real_cupy_present():
        raise RuntimeError("a real CuPy is importable here: the CuPy stand-in would shadow it; use the real one")
    if _modules:
        sys.modules.update(_modules)
    else:
        sys.path.insert(0, PATH)
        try:
            for name in _NAMES:
                importlib.import_module(name)
            importlib.import_module("cupy.cuda.nccl")
        finally:
            sys.path.remove(PATH)
        _modules.update({name: module for name, module in sys.modules.items() if _owned(name)})
    clear_caches()  # programs built for another backend under the spec "cuda:N"
    try:
        yield _modules["cupy"]
    finally:
        for name in list(sys.modules):
            if _owned(name):  # kept for the next block, submodules imported in this one too (one module per name)
                _modules[name] = sys.modules.pop(name)
        clear_caches()


def child_env(env: Mapping[str, str] | None = None, **settings: str) -> dict[str, str]:
    """``env`` (default: this process's) for a child process whose ``import cupy`` finds the stand-in, with
    ``settings`` (``XPNET_STANDIN_GPUS``, ``XPNET_STANDIN_NCCL_ID``) added."""
    out = dict(os.environ if env is None else env)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [PATH, out.get("PYTHONPATH", "")]))
    return out | settings
