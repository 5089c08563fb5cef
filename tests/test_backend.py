"""Device-spec parsing, availability errors, transfers and the import-time promise."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet.backend import backend_of, resolve, to_device, to_numpy

array_api_strict = pytest.importorskip("array_api_strict")


@pytest.mark.parametrize(
    ("spec", "canonical", "name"),
    [
        ("cpu", "cpu", "numpy"),
        ("numpy", "cpu", "numpy"),
        ("CPU", "cpu", "numpy"),
        ("strict", "strict:CPU_DEVICE", "strict"),
        ("strict:device1", "strict:device1", "strict"),
        ("strict:no_float64", "strict:no_float64", "strict"),
        ("strict:cpu", "strict:CPU_DEVICE", "strict"),
        (" Strict:DEVICE1 ", "strict:device1", "strict"),
    ],
)
def test_specs_resolve_to_canonical_names(spec, canonical, name):
    b = resolve(spec)
    assert (b.spec, b.name) == (canonical, name)
    assert b.xp.asarray([1.0], device=b.device).device == b.device


def test_torch_specs():
    pytest.importorskip("torch")
    assert resolve("torch:cpu").spec == "torch:cpu"
    assert resolve("torch").spec == "torch:cpu"
    meta = resolve("torch:meta")
    assert str(meta.device) == "meta"
    assert (resolve("TORCH:CPU").spec, str(resolve("torch:META").device)) == ("torch:cpu", "meta")  # any case


def test_jax_specs_in_any_case():
    pytest.importorskip("jax")
    assert resolve("JAX:CPU").spec == resolve("jax:cpu").spec == "jax:cpu"


def test_auto_without_gpu_is_numpy():
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed; auto may pick a GPU")
    except ImportError:
        pass
    assert resolve("auto").spec == "cpu"
    assert resolve(None).spec == "cpu"


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "torch:tpu", "strict:device9", "cuda:0:1", ""])
def test_unknown_spec_names_it_and_lists_valid_ones(spec):
    with pytest.raises(xpnet.XPNetValueError) as info:
        resolve(spec)
    message = str(info.value)
    assert repr(spec) in message
    assert "expected" in message


def test_non_string_spec_is_a_type_error():
    with pytest.raises(xpnet.XPNetTypeError, match="device"):
        resolve(3)


def test_missing_cupy_gives_install_hint():
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    for spec in ("cuda", "cuda:1", "cupy:0"):
        with pytest.raises(xpnet.BackendUnavailableError) as info:
            xpnet.MLP((2, 2), device=spec)
        assert repr(spec) in str(info.value) and 'pip install "xpnet[cuda12]"' in str(info.value)


def test_float64_on_a_device_without_it_is_refused():
    with pytest.raises(xpnet.XPNetValueError, match="no float64"):
        xpnet.MLP((2, 2), device="strict:no_float64", dtype="float64")


def test_devices_lists_what_works_here():
    found = xpnet.devices()
    assert "cpu" in found
    assert "strict:device1" in found
    for spec in found:
        resolve(spec)  # every listed device resolves


def test_transfers_round_trip_and_refuse_device_mixing():
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    d1 = resolve("strict:device1")
    on_device = to_device(host, d1)
    assert on_device.device == d1.device
    assert backend_of(on_device).spec == "strict:device1"
    np.testing.assert_array_equal(to_numpy(on_device), host)
    assert to_device(on_device, d1) is on_device  # already there: no copy
    with pytest.raises(xpnet.DeviceMismatchError, match="strict:device1"):
        to_device(on_device, resolve("strict"))


def test_import_xpnet_imports_no_optional_library():
    code = (
        "import sys, xpnet; import xpnet.datasets; "
        "bad = [m for m in ('cupy', 'torch', 'array_api_strict', 'mpi4py', 'threadpoolctl', 'jax', 'ndonnx', 'onnx', "
        "'onnxruntime', 'sklearn', 'pandas', 'PIL', 'matplotlib', 'pooch') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_tensor_is_told_its_own_device_however_often_it_is_asked():
    """``backend_of`` reads a PyTorch tensor's spec off its device and keeps the backend by spec (a step asks several
    times): a CPU tensor and a meta tensor get their own, asked once or twice, and both equal ``resolve``'s."""
    torch = pytest.importorskip("torch")
    for spec in ("torch:cpu", "torch:meta", "torch:cpu", "torch:meta"):
        tensor = torch.zeros(2, device=spec.split(":", 1)[1])
        for _ in range(2):
            got = backend_of(tensor)
            assert (got.spec, got.name, got.device) == (spec, "torch", tensor.device)
            assert got.xp is resolve(spec).xp
    assert backend_of(torch.nn.Parameter(torch.zeros(2))).spec == "torch:cpu"  # a subclass: worked out each time
    with pytest.raises(TypeError):
        backend_of(torch.Generator())  # has a device, is not an array


def test_dtype_names_of_different_libraries_never_meet():
    """``dtype_name`` keeps the names it has worked out; array-api-strict's dtypes hash as NumPy's and warn when
    compared with them, so a lookup must never compare the two (warnings are errors here)."""
    import warnings

    import array_api_strict as strict

    from xpnet.backend.arrays import dtype_name

    pairs = [(np.dtype("float32"), "float32"), (strict.float32, "float32"), (np.float64, "float64"),
             (strict.float64, "float64"), (strict.int64, "int64"), (np.dtype("int64"), "int64")]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2):  # worked out, then kept
            for dtype, name in pairs:
                assert dtype_name(dtype) == name
