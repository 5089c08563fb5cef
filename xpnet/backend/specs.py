"""Device specs: parsing ``"cpu"``, ``"cuda:1"``, ``"torch:meta"``, ``"strict:device1"``, ... into a :class:`Backend`.

Optional backends (CuPy, PyTorch, array-api-strict) are imported lazily, only when a spec names them.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from dataclasses import dataclass
from typing import Any

from ..errors import BackendUnavailableError, XPNetTypeError, XPNetValueError, describe
from .inventory import STRICT_DEVICES, cuda_usable

_STRICT_DEVICES = STRICT_DEVICES
_INSTALL = {
    "cupy": 'pip install "xpnet[cuda12]"  (or "xpnet[cuda13]" for CUDA 13)',
    "torch": 'pip install "xpnet[torch]"',
    "array_api_strict": 'pip install "xpnet[strict]"',
    "ndonnx": 'pip install "xpnet[onnx]"',
    "jax": 'pip install "xpnet[jax]"  (a CPU build; for GPUs see https://docs.jax.dev/en/latest/installation.html)',
}
_VALID_SPECS = (
    '"auto", "cpu", "numpy", "cuda", "cuda:N", "cupy", "cupy:N", "torch:cpu", "torch:cuda", '
    '"torch:cuda:N", "torch:meta", "jax", "jax:cpu", "jax:cuda:N", "jax:tpu:N", "onnx" (export), "strict", '
    '"strict:<device>" with <device> one of ' + ", ".join(_STRICT_DEVICES)
)


@dataclass(frozen=True)
class Backend:
    """A resolved device spec: the array namespace, the native device object and a canonical name.

    Attributes
    ----------
    spec : str
        Canonical spec, e.g. ``"cpu"``, ``"cuda:0"``, ``"torch:meta"``, ``"strict:device1"``.
    name : str
        Backend family: ``"numpy"``, ``"cupy"``, ``"torch"`` or ``"strict"``.
    xp : module
        The Array API namespace (array-api-compat wrapped where needed).
    device : object
        The native device object to pass as ``device=`` to creation functions.
    """

    spec: str
    name: str
    xp: Any
    device: Any

    def __str__(self) -> str:
        return self.spec

    def __hash__(self) -> int:  # by the spec alone: a CuPy Device is unhashable (__eq__ without __hash__)
        return hash(self.spec)

    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Move ``a`` (host NumPy or an array of this backend) onto this device, optionally casting."""
        from .arrays import to_device  # arrays.py builds on this module

        return to_device(a, self, dtype=dtype)

    def activate(self) -> contextlib.AbstractContextManager[Any]:
        """Make this device the current one while the block runs.

        CuPy creates arrays (``zeros_like``, copies, kernel outputs) on the *current* GPU, whatever ``device=``
        says, so code for ``cuda:N`` must run inside this. On JAX it asks for full float32 matrix products, which
        JAX's GPU default replaces by TensorFloat-32 (10-bit mantissas: float32 results 1e-3 off NumPy's, CuPy's
        and PyTorch's). For every other backend it does nothing.
        """
        if self.name == "cupy":
            return self.device
        if self.name == "jax":
            return importlib.import_module("jax").default_matmul_precision("float32")
        return contextlib.nullcontext()

    @property
    def on_host(self) -> bool:
        """Whether the arithmetic runs on the host's CPU cores (NumPy, array-api-strict, PyTorch or JAX on the
        CPU), where other busy processes compete with BLAS threads for them."""
        if self.name in ("numpy", "strict"):
            return True
        if self.name == "torch":
            return getattr(self.device, "type", None) == "cpu"
        return self.name == "jax" and getattr(self.device, "platform", None) == "cpu"

    @property
    def updates_in_place(self) -> bool:
        """Whether in-place operators modify the array itself, and so every view of its memory (not on JAX)."""
        return self.name in ("numpy", "cupy", "torch", "strict")

    def compile(self, step: Any, donate: tuple[int, ...] = ()) -> Any:
        """``step`` compiled as a whole where the backend compiles (JAX: ``jax.jit``, the arguments at ``donate``
        donated so their memory is reused); None where it runs operation by operation.

        The compiled callable also takes Python scalars and small host (NumPy) vectors for its per-call inputs
        (learning rate, step count, dropout keys: a streamed step's), moved with the call, cheaper than a device
        array made for each call; a step on data held on the device reads them from tables written once per epoch
        (:mod:`xpnet.training.epoch_inputs`) and takes nothing from the host."""
        if not self.compiles:
            return None
        return importlib.import_module("jax").jit(step, donate_argnums=donate)

    @property
    def compiles(self) -> bool:
        """Whether :meth:`compile` compiles (JAX), so a compiled program's inputs may be host values."""
        return self.name == "jax"

    def supports_dtype(self, dtype: Any) -> bool:
        """Whether this device can hold arrays of ``dtype`` (no float64 on some devices)."""
        try:
            available = self.xp.__array_namespace_info__().dtypes(device=self.device)
        except (AttributeError, TypeError):  # older namespaces: assume everything works
            return True
        return any(dtype == d for d in available.values())


def _import(module: str, spec: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"device {spec!r} needs the Python package {module!r}, which is not installed "
            f"({exc}). Install it with: {_INSTALL[module]}"
        ) from exc


def _cupy(spec: str, index: int) -> Backend:
    cupy = _import("cupy", spec)
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing, no GPU visible, ...
        raise BackendUnavailableError(
            f"device {spec!r}: CuPy is installed but no CUDA GPU is usable here ({exc}). "
            'Use device="cpu", or check the NVIDIA driver and CUDA_VISIBLE_DEVICES.'
        ) from exc
    if index >= count:
        raise BackendUnavailableError(
            f"device {spec!r}: GPU {index} requested but only {count} CUDA GPU(s) are visible"
        )
    import array_api_compat.cupy as xp

    return Backend(f"cuda:{index}", "cupy", xp, cupy.cuda.Device(index))


def _torch(spec: str, where: str) -> Backend:
    torch = _import("torch", spec)
    if where.startswith("cuda"):
        index = int(where.split(":")[1]) if ":" in where else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise BackendUnavailableError(
                f"device {spec!r}: this PyTorch build sees {torch.cuda.device_count()} CUDA GPU(s). "
                'Install a CUDA build of PyTorch (https://pytorch.org/get-started) or use "torch:cpu".'
            )
        where = f"cuda:{index}"
    import array_api_compat.torch as xp

    return Backend(f"torch:{where}", "torch", xp, torch.device(where))


def _strict(spec: str, name: str) -> Backend:
    xp = _import("array_api_strict", spec)
    canonical = {d.lower(): d for d in _STRICT_DEVICES} | {"cpu": "CPU_DEVICE", "": "CPU_DEVICE"}
    if name.lower() == "no_x64":  # array-api-strict's argmax and argsort return int64 there, which it then refuses
        raise BackendUnavailableError(
            f"device {spec!r}: array-api-strict's indexing functions return int64, which its no_x64 device refuses, "
            "so xpnet cannot run there; use 'strict:no_float64' (no float64), or JAX without x64 (32-bit integers)"
        )
    if name.lower() not in canonical:
        raise XPNetValueError(
            f"device {spec!r}: array-api-strict has no device {name!r}; expected one of {_STRICT_DEVICES}"
        )
    name = canonical[name.lower()]
    return Backend(f"strict:{name}", "strict", xp, xp.Device(name))


def _numpy() -> Backend:
    import array_api_compat.numpy as xp

    return Backend("cpu", "numpy", xp, "cpu")


def _jax(spec: str, platform: str | None, index: int) -> Backend:
    jax = _import("jax", spec)
    try:
        found = jax.devices(platform) if platform else jax.devices()
    except RuntimeError as exc:  # no such platform in this jaxlib
        raise BackendUnavailableError(f"device {spec!r}: JAX has no {platform} devices here ({exc})") from exc
    if index >= len(found):
        raise BackendUnavailableError(f"device {spec!r}: device {index} requested but JAX sees {len(found)}")
    import jax.numpy as xp

    return _jax_backend(xp, found[index])


def _onnx(spec: str) -> Backend:
    xp = _import("ndonnx", spec)
    return Backend("onnx", "ndonnx", xp, xp.__array_namespace_info__().default_device())


def _jax_backend(xp: Any, device: Any) -> Backend:
    name = (
        "cpu" if device.platform == "cpu" else f"{'cuda' if device.platform == 'gpu' else device.platform}:{device.id}"
    )
    return Backend(f"jax:{name}", "jax", xp, device)


_PATTERNS: tuple[tuple[str, Any], ...] = (
    (r"(cpu|numpy)", lambda m, s: _numpy()),
    (r"(?:cuda|cupy)(?::(\d+))?", lambda m, s: _cupy(s, int(m.group(1) or 0))),
    (r"torch(?::(cpu|meta|cuda(?::\d+)?))?", lambda m, s: _torch(s, m.group(1) or "cpu")),
    (r"(?:nd)?onnx", lambda m, s: _onnx(s)),
    (
        r"jax(?::(cpu|cuda|gpu|tpu)(?::(\d+))?)?",
        lambda m, s: _jax(s, {"cuda": "gpu"}.get(m.group(1), m.group(1)), int(m.group(2) or 0)),
    ),
    (r"strict(?::(\w+))?", lambda m, s: _strict(s, m.group(1) or "")),
    (r"auto", lambda m, s: _cupy(s, 0) if cuda_usable() else _numpy()),
)


def resolve(spec: str | Backend | None = "auto") -> Backend:
    """Resolve a device spec to a :class:`Backend`.

    Parameters
    ----------
    spec : str or Backend or None
        One of the specs in the table of ``docs/devices.md``; ``None`` means ``"auto"``.

    Raises
    ------
    XPNetValueError
        The spec is not a known form.
    BackendUnavailableError
        The backend it names is not installed or has no usable device; the message says how to install it.
    """
    if isinstance(spec, Backend):
        return spec
    if spec is None:
        spec = "auto"
    if not isinstance(spec, str):
        raise XPNetTypeError(f"device must be a string spec such as 'cpu' or 'cuda:0'; received {describe(spec)}")
    for pattern, build in _PATTERNS:
        match = re.fullmatch(pattern, spec.strip().lower())  # specs are case-insensitive: "torch:CPU" too
        if match:
            return build(match, spec)
    raise XPNetValueError(f"device: unknown spec {spec!r}; expected one of {_VALID_SPECS}")


def resolve_local(spec: str | Backend | None, local_rank: int) -> Backend:
    """Resolve ``spec`` for the process that is ``local_rank`` on its node (data-parallel training).

    GPU specs without an index (``"auto"`` on a GPU machine, ``"cuda"``, ``"cupy"``, ``"torch:cuda"``) take GPU
    ``local_rank`` modulo the number of GPUs this process sees (one when the launcher sets
    ``CUDA_VISIBLE_DEVICES`` per rank); every other spec, an explicit ``"cuda:N"`` included, resolves as usual.
    """
    key = spec.strip().lower() if isinstance(spec, str) else ("auto" if spec is None else "")
    if key == "auto":
        if not cuda_usable(local_rank):
            return _numpy()
        key = "cuda"
    if key in ("cuda", "cupy"):
        _cupy(str(spec), 0)  # the usual error when CuPy or a GPU is missing
        return _cupy(str(spec), local_rank % importlib.import_module("cupy").cuda.runtime.getDeviceCount())
    if key == "torch:cuda":
        _torch(key, "cuda")  # the usual error when this PyTorch sees no GPU
        return _torch(key, f"cuda:{local_rank % importlib.import_module('torch').cuda.device_count()}")
    return resolve(spec)


def satisfies(spec: str | Backend | None, backend: Backend) -> bool:
    """Whether a model on ``backend`` is on the device ``spec`` names: ``None``/``"auto"`` take any, and the GPU
    specs without an index (``"cuda"``, ``"cupy"``, ``"torch:cuda"``: the rank's GPU) take any GPU of their kind."""
    key = spec.strip().lower() if isinstance(spec, str) else None
    if spec is None or key == "auto":
        return True
    if key in ("cuda", "cupy", "torch:cuda"):
        return backend.name == ("torch" if key == "torch:cuda" else "cupy")
    return resolve(spec).spec == backend.spec
