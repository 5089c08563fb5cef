"""Tests of xpnet.datasets: the IDX reader, the shipped MNIST and the pooch download path."""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from xpnet.datasets import fetch_idx_dataset, load_fashion_mnist, load_kmnist, load_mnist, read_idx
from xpnet.datasets import mnist as mnist_module
from xpnet.datasets.remote import MissingDependencyError
from xpnet.errors import DataIntegrityError, DataNotFoundError, XPNetTypeError, XPNetValueError

NAMES = mnist_module.FILE_NAMES  # train images, train labels, test images, test labels
SHIPPED = Path(mnist_module.__file__).parent / "data" / "mnist"
# Published facts about MNIST: images per digit 0..9 in the training and test sets.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
IDX_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode `array` as IDX independently of the reader under test."""
    code = IDX_CODES[array.dtype.kind + str(array.dtype.itemsize)]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def make_synthetic(folder: Path, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tiny MNIST-format set (6 train, 3 test, 4x5 pixels); returns arrays and sha256 hashes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        NAMES[0]: rng.integers(0, 256, (6, 4, 5), dtype=np.uint8),
        NAMES[1]: rng.integers(0, 10, 6, dtype=np.uint8),
        NAMES[2]: rng.integers(0, 256, (3, 4, 5), dtype=np.uint8),
        NAMES[3]: rng.integers(0, 10, 3, dtype=np.uint8),
    }
    hashes = {}
    for name, array in arrays.items():
        data = write_idx(folder / name, array, compress=True).read_bytes()
        hashes[name] = "sha256:" + hashlib.sha256(data).hexdigest()
    return arrays, hashes


def copy_shipped(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in NAMES:
        shutil.copy(SHIPPED / name, folder / name)
    return folder


# --- real MNIST -----------------------------------------------------------------------


def test_shipped_mnist_is_the_real_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0 and x_test.max() == 1.0
    assert np.bincount(y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == TEST_COUNTS
    assert y_train[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert y_test[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
    # The usual normalisation constants (mean 0.1307, std 0.3081) come from these pixels.
    assert abs(float(x_train.mean()) - 0.1307) < 1e-4
    assert abs(float(x_train.std()) - 0.3081) < 1e-4


def test_unflattened_uint8_and_cache_protection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    (u_train, _), (u_test, _) = load_mnist(flatten=False, as_uint8=True)
    assert u_train.shape == (60000, 28, 28) and u_test.shape == (10000, 28, 28)
    assert u_train.dtype == np.uint8 and u_train.max() == 255
    (x_train, y_train), _ = load_mnist(flatten=False)
    np.testing.assert_array_equal(x_train * np.float32(255), u_train.astype(np.float32))
    with pytest.raises(ValueError):
        u_train[0, 0, 0] = 1  # read-only view of the cache
    x_train[:] = -1.0
    y_train[:] = 99
    (x_again, y_again), _ = load_mnist(flatten=False)
    assert x_again.min() == 0.0 and np.bincount(y_again).tolist() == TRAIN_COUNTS
    (u_again, _), _ = load_mnist(as_uint8=True)  # a cache hit: same memory, no re-parse
    assert np.shares_memory(u_again, u_train) and u_again.shape == (60000, 784)


def test_shipped_files_sums_and_credit() -> None:
    listed = dict(line.split()[::-1] for line in (SHIPPED / "SHA256SUMS").read_text().splitlines())
    assert {k: "sha256:" + v for k, v in listed.items()} == mnist_module.MNIST_SHA256
    for name in NAMES:
        digest = hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest()
        assert listed[name] == digest
    readme = (SHIPPED / "README.md").read_text()
    assert "LeCun" in readme and "Cortes" in readme and "Burges" in readme
    assert "CC BY-SA 3.0" in readme


def test_data_dir_env_and_path_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = copy_shipped(tmp_path / "root" / "mnist")  # found through the mnist/ subfolder
    monkeypatch.setenv("XPNET_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DataNotFoundError, match="empty"):
        load_mnist()  # the variable is honoured, not silently skipped
    (_, y_train), _ = load_mnist(path=good)  # path= wins over the variable
    assert np.bincount(y_train).tolist() == TRAIN_COUNTS
    monkeypatch.setenv("XPNET_DATA_DIR", str(tmp_path / "root"))
    (x_train, _), (_, y_test) = load_mnist()
    assert x_train.shape == (60000, 784) and np.bincount(y_test).tolist() == TEST_COUNTS


@pytest.mark.parametrize("name", [NAMES[1], NAMES[2]])
def test_one_byte_modified_copy_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    folder = copy_shipped(tmp_path / "copy")
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    expected = mnist_module.MNIST_SHA256[name].split(":")[1]
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(DataIntegrityError) as info:
        load_mnist(path=folder)
    message = str(info.value)
    assert str(folder / name) in message and expected in message and actual in message
    monkeypatch.setenv("XPNET_DATA_DIR", str(folder))
    with pytest.raises(DataIntegrityError, match=re.escape(name)):
        load_mnist()


def test_missing_data_raises_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=re.escape(str(tmp_path / "nowhere"))) as info:
        load_mnist(path=tmp_path / "nowhere")
    assert isinstance(info.value, FileNotFoundError)
    partial = copy_shipped(tmp_path / "partial")
    (partial / NAMES[3]).unlink()
    with pytest.raises(DataNotFoundError, match=re.escape(NAMES[3])):
        load_mnist(path=partial)


def test_bad_argument_types() -> None:
    with pytest.raises(XPNetTypeError, match="path"):
        load_mnist(path=3)  # type: ignore[arg-type]
    with pytest.raises(XPNetTypeError, match="flatten"):
        load_mnist(flatten="yes")  # type: ignore[arg-type]


# --- read_idx ---------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_read_idx_round_trips(tmp_path: Path, dtype: str, compress: bool) -> None:
    array = (np.arange(24) * 37 - 300).reshape(2, 3, 4).astype(dtype)
    out = read_idx(write_idx(tmp_path / "a.idx", array, compress=compress))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, array)
    assert out.flags.writeable


def _corrupt_files() -> dict[str, bytes]:
    good = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
    return {
        "truncated payload": good[:-1],
        "trailing bytes": good + b"\x00",
        "bad magic": b"\x01" + good[1:],
        "unknown type": good[:2] + b"\x0a" + good[3:],
        "truncated header": good[:9],
        "empty": b"",
        "zero dims": b"\x00\x00\x08\x00",
    }


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("case", list(_corrupt_files()))
def test_read_idx_refuses_broken_files(tmp_path: Path, case: str, compress: bool) -> None:
    data = _corrupt_files()[case]
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(DataIntegrityError, match=r"broken\.gz"):
        read_idx(path)


def test_read_idx_truncated_gzip_and_missing_file(tmp_path: Path) -> None:
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataIntegrityError, match=r"cut\.gz"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(DataNotFoundError, match="absent"):
        read_idx(tmp_path / "absent.gz")


# --- downloads through pooch, served from 127.0.0.1 -------------------------------------


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        log = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                log.append(self.path)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=5)
            self.running = False


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    srv = Server(tmp_path / "served")
    yield srv
    srv.stop()


def test_download_round_trip_then_cache(tmp_path: Path, server: Server) -> None:
    arrays, hashes = make_synthetic(server.root)
    cache = tmp_path / "cache"
    (x_tr, y_tr), (x_te, y_te) = fetch_idx_dataset(
        "synth", hashes, server.base_url, cache, flatten=False, as_uint8=True
    )
    np.testing.assert_array_equal(x_tr, arrays[NAMES[0]])
    np.testing.assert_array_equal(x_te, arrays[NAMES[2]])
    assert y_tr.dtype == np.int64 and y_tr.tolist() == arrays[NAMES[1]].tolist()
    assert y_te.tolist() == arrays[NAMES[3]].tolist()
    assert sorted(p.name for p in (cache / "synth").iterdir()) == sorted(NAMES)
    assert len(server.requests) == 4
    server.stop()
    mnist_module._load_raw.cache_clear()  # force a re-read from the disk cache
    (x_tr, _), (x_te, _) = fetch_idx_dataset("synth", hashes, server.base_url.rstrip("/"), cache)
    assert x_tr.shape == (6, 20) and x_tr.dtype == np.float32 and x_te.shape == (3, 20)
    np.testing.assert_allclose(x_tr * 255, arrays[NAMES[0]].reshape(6, 20), atol=1e-4)
    assert len(server.requests) == 4


def test_download_with_wrong_checksum_is_refused(tmp_path: Path, server: Server) -> None:
    _, hashes = make_synthetic(server.root)
    hashes[NAMES[2]] = "sha256:" + "0" * 64
    cache = tmp_path / "cache"
    with pytest.raises(DataIntegrityError, match=re.escape(NAMES[2])):
        fetch_idx_dataset("synth", hashes, server.base_url, cache)
    assert not (cache / "synth" / NAMES[2]).exists()


def test_offline_with_empty_cache_names_the_directory(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, hashes = make_synthetic(server.root)
    server.stop()
    monkeypatch.setenv("XPNET_CACHE_DIR", str(tmp_path / "envcache"))
    with pytest.raises(DataNotFoundError) as info:
        fetch_idx_dataset("synth", hashes, server.base_url)
    message = str(info.value)
    assert str(tmp_path / "envcache" / "synth") in message
    assert all(name in message for name in NAMES)


def test_cache_dir_env_is_used(tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    _, hashes = make_synthetic(server.root, seed=1)
    monkeypatch.setenv("XPNET_CACHE_DIR", str(tmp_path / "envcache"))
    fetch_idx_dataset("synth", hashes, server.base_url)
    assert (tmp_path / "envcache" / "synth" / NAMES[0]).is_file()


def test_registered_loaders_pin_the_published_hashes(tmp_path: Path, server: Server) -> None:
    make_synthetic(server.root)  # not the real files, so the pinned hashes must refuse them
    with pytest.raises(DataIntegrityError, match=r"(?i)md5"):
        load_kmnist(cache_dir=tmp_path / "cache", base_url=server.base_url)
    assert server.requests == ["/" + NAMES[0]]
    with pytest.raises(DataIntegrityError, match="8d4fb7e6c68d591d4c3dfef9ec88bf0d"):
        load_fashion_mnist(server.root)


def test_path_needs_no_pooch_and_missing_pooch_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays, hashes = make_synthetic(tmp_path / "local")
    monkeypatch.setitem(sys.modules, "pooch", None)  # import pooch now raises ImportError
    (_, y_tr), _ = fetch_idx_dataset("synth", hashes, "http://127.0.0.1:9/", path=tmp_path / "local")
    assert y_tr.tolist() == arrays[NAMES[1]].tolist()
    with pytest.raises(MissingDependencyError, match=r'pip install "xpnet\[datasets\]"') as info:
        fetch_idx_dataset("synth", hashes, "http://127.0.0.1:9/", tmp_path / "cache")
    assert isinstance(info.value, ImportError)
    monkeypatch.delitem(sys.modules, "pooch")
    with pytest.raises(XPNetValueError, match="gopher") as info:  # not a checksum problem
        fetch_idx_dataset("synth", hashes, "gopher://127.0.0.1/", tmp_path / "cache")
    assert not isinstance(info.value, DataIntegrityError)
    with pytest.raises(XPNetValueError, match="files must map"):
        fetch_idx_dataset("synth", {"a.gz": "md5:0"}, "http://127.0.0.1:9/", tmp_path)


def test_import_loads_no_device_library_nor_pooch() -> None:
    code = "import sys, xpnet.datasets; print(sorted({'cupy', 'torch', 'pooch', 'requests'} & set(sys.modules)))"
    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": root}, cwd=root
    )
    assert out.stdout.strip() == "[]"
