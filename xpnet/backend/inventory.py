"""What works on this machine: the usable device specs, and why the others are not (with the install command).

Optional libraries are imported here only to ask them; ``import xpnet`` imports none of them.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil

CUDA_EXTRAS = '"xpnet[cuda12]" or "xpnet[cuda13]" (the CUDA version `nvidia-smi` shows)'
STRICT_DEVICES = ("CPU_DEVICE", "device1", "device2", "no_float64")


def cuda_usable(index: int = 0) -> bool:
    """CuPy installed, a GPU visible and a kernel actually runs (catches missing NVRTC/cuBLAS libraries), on GPU
    ``index`` modulo the number visible (a data-parallel rank probes its own GPU, not GPU 0: a CUDA context
    there would cost every rank hundreds of MiB of GPU 0's memory)."""
    return _cuda_problem(index) is None


def _cuda_problem(index: int = 0) -> str | None:
    """Why CuPy cannot run here, or None when it can."""
    if importlib.util.find_spec("cupy") is None:
        hint = "" if shutil.which("nvidia-smi") else " (and no NVIDIA driver: nvidia-smi is not on PATH)"
        return f"CuPy is not installed{hint}; pip install {CUDA_EXTRAS}"
    try:
        cupy = importlib.import_module("cupy")
        count = cupy.cuda.runtime.getDeviceCount()
        if count == 0:
            return "CuPy is installed but sees no GPU; check CUDA_VISIBLE_DEVICES"
        with cupy.cuda.Device(index % count):
            if int(cupy.arange(3).sum()) != 3:
                return "CuPy is installed but a test kernel gave a wrong result"
    except Exception as exc:  # no driver, no GPU, broken CUDA libraries
        return f"CuPy is installed but CUDA is not usable ({type(exc).__name__}: {exc}); check the NVIDIA driver"
    return None


def devices() -> list[str]:
    """List the device specs usable on this machine, the preferred ones first (GPUs, then NumPy).

    Returns
    -------
    list of str
        Canonical specs, e.g. ``["cuda:0", "cpu", "torch:cpu", "torch:meta", "strict:CPU_DEVICE", ...]``.
    """
    found: list[str] = []
    if cuda_usable():
        found += [f"cuda:{i}" for i in range(importlib.import_module("cupy").cuda.runtime.getDeviceCount())]
    found.append("cpu")
    if importlib.util.find_spec("torch") is not None:
        torch = importlib.import_module("torch")
        found.append("torch:cpu")
        if torch.cuda.is_available():
            found += [f"torch:cuda:{i}" for i in range(torch.cuda.device_count())]
        found.append("torch:meta")
    if importlib.util.find_spec("jax") is not None:
        jax = importlib.import_module("jax")
        found.append("jax:cpu")
        for platform in ("gpu", "tpu"):
            try:
                found += [f"jax:{'cuda' if platform == 'gpu' else platform}:{d.id}" for d in jax.devices(platform)]
            except RuntimeError:  # this jaxlib has no such platform
                pass
    if importlib.util.find_spec("array_api_strict") is not None:
        found += [f"strict:{name}" for name in STRICT_DEVICES]
    return found


def unavailable() -> dict[str, str]:
    """The backends that do not work here, each with why and what to install (``{"cuda": "CuPy is not ..."}``)."""
    missing: dict[str, str] = {}
    problem = _cuda_problem()
    if problem is not None:
        missing["cuda"] = problem
    if importlib.util.find_spec("torch") is None:
        missing["torch"] = 'PyTorch is not installed; pip install "xpnet[torch]"'
    elif not importlib.import_module("torch").cuda.is_available():
        missing["torch:cuda"] = "this PyTorch build has no CUDA or sees no GPU; install a CUDA build (pytorch.org)"
    if importlib.util.find_spec("array_api_strict") is None:
        missing["strict"] = 'array-api-strict is not installed; pip install "xpnet[strict]"'
    if importlib.util.find_spec("jax") is None:
        missing["jax"] = 'JAX is not installed; pip install "xpnet[jax]"'
    if importlib.util.find_spec("ndonnx") is None:
        missing["onnx"] = 'ONNX export needs ndonnx and onnx; pip install "xpnet[onnx]"'
    return missing
