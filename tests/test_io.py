"""Model files: bit-exact round trips across devices, and a clear error (never code execution) for every bad file."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from model_files import HAS_TORCH, SPECS, _assert_same, _header_length, _host, _model

from xpnet.backend import dtype_name, resolve, to_numpy
from xpnet.errors import DataNotFoundError, XPNetTypeError, XPNetValueError
from xpnet.io import load, read_tensors, save, write_tensors
from xpnet.nn.network import MLP


# ------------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", SPECS)
def test_round_trip_is_bit_exact(tmp_path, spec, dtype):
    net = _model(spec, dtype, activation="sigmoid", loss="cross_entropy")
    path = save(net, tmp_path / "net.safetensors")
    loaded = load(path, spec)
    assert loaded.backend.spec == resolve(spec).spec
    assert dtype_name(loaded.dtype) == dtype
    assert all(p.dtype == getattr(loaded.backend.xp, dtype) for p in loaded.params)
    _assert_same(loaded, net)
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(dtype)
    assert np.array_equal(to_numpy(loaded(x)), to_numpy(net(x)))
    assert np.array_equal(to_numpy(loaded.predict(x)), to_numpy(net.predict(x)))


def _contents(path: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """Tensor bytes and header metadata (safetensors writes metadata keys in random order, so files differ bytewise)."""
    with safetensors.safe_open(path, framework="numpy") as f:
        return {name: f.get_tensor(name).tobytes() for name in f.keys()}, f.metadata()


def test_a_model_moves_between_devices_bit_exactly(tmp_path):
    original = _model("cpu", "float32", activation="relu", loss="cross_entropy")
    first = save(original, tmp_path / "a.safetensors")
    on_strict = load(first, "strict:device1")
    assert on_strict.backend.spec == "strict:device1"
    second = save(on_strict, tmp_path / "b.safetensors")
    assert _contents(second) == _contents(first)
    for spec in ["cpu", *(["torch:cpu"] if HAS_TORCH else [])]:
        moved = load(second, spec)
        assert moved.backend.spec == spec
        _assert_same(moved, original)
        assert _contents(save(moved, tmp_path / "c.safetensors")) == _contents(first)


def test_float64_file_on_a_device_without_float64_needs_an_explicit_cast(tmp_path):
    net = _model("cpu", "float64")
    path = save(net, tmp_path / "f64.safetensors")
    with pytest.raises(XPNetValueError, match=r"float64.*strict:no_float64.*dtype='float32'"):
        load(path, "strict:no_float64")
    cast = load(path, "strict:no_float64", dtype="float32")
    assert cast.backend.spec == "strict:no_float64"
    for a, b in zip(_host(cast), _host(net)):
        assert a.dtype == np.float32 and np.array_equal(a, b.astype(np.float32))
    assert load(save(cast, tmp_path / "f32.safetensors"), "cpu", dtype="float64").dtype == np.float64


def test_save_adds_no_suffix_and_returns_the_path(tmp_path):
    path = save(_model("cpu", "float32"), tmp_path / "model")
    assert path == tmp_path / "model" and os.listdir(tmp_path) == ["model"]
    assert load(str(path), "cpu").sizes == (4, 7, 3)


def test_read_tensors_returns_writable_copies_and_the_meta(tmp_path):
    fortran = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))
    tensors = {"w": fortran, "view": fortran.T[::2], "step": np.array(7, dtype=np.int64), "mask": np.ones(3, bool)}
    meta = {"epoch": 3, "history": {"loss": [1.5, 0.25]}, "name": "ünïcode"}
    path = write_tensors(tmp_path / "ck.safetensors", tensors, meta, kind="xpnet.checkpoint")
    back, meta_back = read_tensors(path, kind="xpnet.checkpoint")
    assert meta_back == meta and sorted(back) == sorted(tensors)
    for name, array in tensors.items():  # strided views are stored by value, not by raw memory
        assert back[name].dtype == array.dtype and np.array_equal(back[name], array)
        assert back[name].flags.writeable
    back["w"][0, 0] = 99.0
    assert read_tensors(path, kind="xpnet.checkpoint")[0]["w"][0, 0] == 0.0


def test_a_valid_file_whose_first_byte_is_the_pickle_opcode_still_loads(tmp_path):
    # The first 8 bytes are the header length, so 0x80 happens whenever it is 128 mod 256.
    for width in range(0, 512, 1):
        path = write_tensors(tmp_path / "f", {"a": np.ones(2)}, {"pad": "x" * width}, kind="xpnet.checkpoint")
        if path.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no padding produced a header length of 128 mod 256")
    assert read_tensors(path, kind="xpnet.checkpoint")[1] == {"pad": "x" * width}


def test_write_tensors_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(XPNetTypeError, match=r"meta JSON"):
        write_tensors(tmp_path / "f", {"a": np.ones(2)}, {"bad": object()}, kind="xpnet.checkpoint")
    with pytest.raises(XPNetTypeError, match=r"numeric"):
        write_tensors(tmp_path / "f", {"a": np.array([object()])}, {}, kind="xpnet.checkpoint")
    assert not os.listdir(tmp_path)


# ------------------------------------------------------------------------------------------------ bad files
def test_a_missing_path(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"nope\.safetensors: no such file") as info:
        load(tmp_path / "nope.safetensors", "cpu")
    assert isinstance(info.value, FileNotFoundError)


def test_a_directory(tmp_path):
    with pytest.raises(XPNetValueError, match=r"is a directory"):
        load(tmp_path, "cpu")
    with pytest.raises(XPNetValueError, match=r"is a directory"):
        save(_model("cpu", "float32"), tmp_path)


def test_save_into_a_missing_folder_creates_nothing(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"folder .*typo does not exist"):
        save(_model("cpu", "float32"), tmp_path / "typo" / "model.safetensors")
    assert not (tmp_path / "typo").exists()


def test_save_refuses_what_is_not_a_model(tmp_path):
    with pytest.raises(XPNetTypeError, match=r"expected an xpnet MLP; received"):
        save({"W1": np.ones((2, 2))}, tmp_path / "model.safetensors")  # type: ignore[arg-type]
    with pytest.raises(XPNetTypeError, match=r"path: expected a str or os\.PathLike"):
        save(_model("cpu", "float32"), 42)  # type: ignore[arg-type]
    assert not os.listdir(tmp_path)


def test_a_failed_save_leaves_the_old_file_intact_and_no_temp_file(saved, monkeypatch):
    before = saved.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match=r"simulated"):
        save(_model("cpu", "float32", seed=1), saved)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == [saved.name]
    _assert_same(load(saved, "cpu"), _model("cpu", "float32"))


def test_files_hold_no_pickle_and_a_readable_header(saved):
    data = saved.read_bytes()
    header = json.loads(data[8 : 8 + _header_length(data)])["__metadata__"]
    assert header["format"] == "xpnet.model" and header["format_version"] == "1"
    assert json.loads(header["meta"]) == {
        "sizes": [4, 7, 3],
        "activation": "tanh",
        "loss": "quadratic",
        "dtype": "float32",
    }
    assert len(header["sha256"]) == 64


FILE_SIZE_LIMIT = textwrap.dedent(
    """
    import resource, signal, sys
    import numpy as np
    import xpnet
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit, write() fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    net = xpnet.MLP((100, 64, 10), device="cpu", seed=0)  # about 27 kB: over the limit
    try:
        xpnet.save(net, sys.argv[1])
    except xpnet.WriteFailedError as exc:
        print(type(exc).__name__, exc.errno, exc)
    x, y = np.zeros((40, 100)), np.arange(40) % 10
    try:
        xpnet.train((x, y), device="cpu", hidden=(64,), epochs=1, verbose=0, checkpoint_dir=sys.argv[2])
    except xpnet.WriteFailedError as exc:
        print(type(exc).__name__, exc.errno, exc)
    """
)


def test_a_save_over_a_file_size_limit_names_the_file_and_keeps_the_old_one(tmp_path):
    target, ckpt = tmp_path / "model.safetensors", tmp_path / "ckpt"
    target.write_bytes(b"the previous model")
    done = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_LIMIT, str(target), str(ckpt)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        f"WriteFailedError 27 {target}: could not be written (File too large); the previous model.safetensors is unchanged"
    )
    assert lines[1].startswith(f"WriteFailedError 27 {ckpt / 'checkpoint.safetensors'}: could not be written")
    assert lines[1].endswith("no checkpoint.safetensors was written")
    assert target.read_bytes() == b"the previous model"
    # no temporary file: the checkpoint folder the run made, left empty, went with its lock
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]


def test_a_pickled_gpu_model_unpickles_where_that_gpu_is_missing():
    model = _model("cpu", "float32")
    state = pickle.loads(pickle.dumps(model)).__getstate__() | {"spec": "cuda:3"}  # as if trained on GPU 3
    again = MLP.__new__(MLP)
    with pytest.warns(RuntimeWarning, match=r"lived on 'cuda:3', which is not usable here .*on device 'auto'"):
        again.__setstate__(state)
    _assert_same(again, model)
