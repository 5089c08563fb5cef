"""The only package that knows backend names.

- :mod:`.specs` parses device specs (``"cpu"``, ``"cuda:1"``, ``"torch:meta"``, ``"strict:device1"``, ...)
  into a :class:`Backend` (namespace + native device);
- :mod:`.arrays` tells which backend an array lives on, names dtypes, and moves host data onto a device;
- :mod:`.inventory` lists what works on this machine and why the rest does not;
- :mod:`.layout` lays parameters out in memory as the matrix products read them fastest;
- :mod:`.transfer` moves arrays between host and device and converts device arrays to NumPy;
- :mod:`.kernels` holds the matrix products and in-place update kernels, :mod:`.step_ops` the step's other
  operations (ReLU, softmax cross-entropy, row gathers), each fast path beside its portable path;
- :mod:`.host_blas` reaches NumPy's own BLAS for those fast paths;
- :mod:`.comm` and :mod:`.reducers` connect the processes of a data-parallel job (MPI, NCCL); :mod:`.launcher`
  finds the `mpiexec` of the MPI that mpi4py loads;
- :mod:`.program_cache` keeps JAX's compiled programs on disk for later processes;
- :mod:`.threads` caps BLAS threads for data-parallel ranks; :mod:`.onnx` records graphs for export.

Optional backends are imported lazily, only when a spec names them, so ``import xpnet`` never imports cupy
or torch. Every other module writes code once against the Array API and asks this package for the rest.
"""

from __future__ import annotations

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from .arrays import backend_of, device_scope, dtype_name, float_dtype, float_name, is_host_array, to_device
from .inventory import devices, unavailable
from .kernels import axpy, matmul, matmul_into
from .layout import as_parameter, parameter_view
from .program_cache import use_program_cache
from .specs import Backend, resolve, resolve_local, satisfies
from .step_ops import positive_part, relu_backward
from .transfer import free_memory, host_view, to_numpy

__all__ = [
    "Backend",
    "array_namespace",
    "as_parameter",
    "axpy",
    "backend_of",
    "device_of",
    "device_scope",
    "devices",
    "dtype_name",
    "float_dtype",
    "float_name",
    "free_memory",
    "host_view",
    "is_host_array",
    "matmul",
    "matmul_into",
    "parameter_view",
    "positive_part",
    "relu_backward",
    "resolve",
    "resolve_local",
    "satisfies",
    "to_device",
    "to_numpy",
    "unavailable",
    "use_program_cache",
]
