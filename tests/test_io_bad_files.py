"""Every bad model file gets a clear error naming the file, and nothing in a file is ever executed: truncated,
corrupted, other formats, pickles, other tools' safetensors, newer or older format versions, inconsistent metadata."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from model_files import _assert_same, _header_length, _model, _rewrite_metadata, needs_torch

from xpnet.backend import to_numpy
from xpnet.errors import DataIntegrityError, XPNetValueError
from xpnet.io import load, save, write_tensors
from xpnet.nn.network import MLP


def test_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataIntegrityError, match=r"model\.safetensors: not a readable safetensors file.*truncated"):
        load(saved, "cpu")


def test_empty_file(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(DataIntegrityError, match=r"not a readable safetensors file"):
        load(tmp_path / "empty", "cpu")


def test_a_flipped_byte_in_the_tensor_data_fails_the_checksum(saved):
    data = bytearray(saved.read_bytes())
    data[8 + _header_length(data) + 5] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(DataIntegrityError, match=r"corrupted.*checksum"):
        load(saved, "cpu")


def test_a_changed_meta_fails_the_checksum(saved):
    data = saved.read_bytes()
    tampered = data.replace(b'\\"activation\\": \\"tanh\\"', b'\\"activation\\": \\"relu\\"')
    assert tampered != data and len(tampered) == len(data)
    saved.write_bytes(tampered)
    with pytest.raises(DataIntegrityError, match=r"corrupted"):
        load(saved, "cpu")


def test_a_flipped_byte_in_the_json_header_is_a_parse_error(saved):
    data = bytearray(saved.read_bytes())
    assert data[8:9] == b"{"
    data[8] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(DataIntegrityError, match=r"not a readable safetensors file.*JSON"):
        load(saved, "cpu")


def test_a_text_file(tmp_path):
    (tmp_path / "notes.txt").write_text("these are not the weights you are looking for\n" * 3)
    with pytest.raises(DataIntegrityError, match=r"notes\.txt: not a readable safetensors file"):
        load(tmp_path / "notes.txt", "cpu")


def test_an_npz_file(tmp_path):
    np.savez(tmp_path / "weights.npz", W1=np.ones((2, 2)))
    with pytest.raises(DataIntegrityError, match=r"zip archive.*never unpickles"):
        load(tmp_path / "weights.npz", "cpu")


class _Payload:
    """Unpickling this creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_is_refused_without_running_it(tmp_path):
    marker, control = tmp_path / "pwned", tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(control)))  # the payload really runs code when unpickled ...
    assert control.exists()
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(DataIntegrityError, match=r"Python pickle.*never unpickles.*arbitrary code"):
        load(path, "cpu")
    assert not marker.exists()  # ... but loading it ran nothing


@needs_torch
def test_a_torch_save_file_is_refused_without_running_it(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"state": _Payload(marker), "w": torch.ones(2)}, path)
    assert not marker.exists()
    with pytest.raises(DataIntegrityError, match=r"torch\.save.*never unpickles.*arbitrary code"):
        load(path, "cpu")
    assert not marker.exists()


def test_a_safetensors_file_from_another_tool(tmp_path):
    path = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"W1": np.ones((2, 2), np.float32)}, path, metadata={"framework": "jax"})
    with pytest.raises(DataIntegrityError, match=r"not an xpnet file.*\['framework'\]"):
        load(path, "cpu")
    safetensors.numpy.save_file({"W1": np.ones((2, 2), np.float32)}, path)
    with pytest.raises(DataIntegrityError, match=r"not an xpnet file"):
        load(path, "cpu")


def test_a_file_from_a_newer_xpnet(saved):
    _rewrite_metadata(saved, format_version="99", xpnet_version="7.0.0")
    with pytest.raises(DataIntegrityError, match=r"xpnet 7\.0\.0 in format version '99'.*upgrade xpnet"):
        load(saved, "cpu")


@pytest.mark.parametrize(
    ("options", "version"),
    [({}, "1"), ({"activation": "gelu"}, "2"), ({"norm": "layer"}, "2"), ({"dropout": 0.2}, "2"),
     ({"loss": "mse"}, "2")],
)  # fmt: skip
def test_files_that_version_1_readers_would_misread_are_version_2(tmp_path, options, version):
    model = MLP((4, 5, 3), **({"activation": "tanh"} | options), device="cpu", seed=0)
    path = save(model, tmp_path / "m.safetensors")
    with safetensors.safe_open(path, framework="numpy") as f:
        assert f.metadata()["format_version"] == version
    _assert_same(load(path, "cpu"), model)
    assert load(path, "cpu").arch == model.arch
    _rewrite_metadata(path, format_version="1")  # version 1 files keep loading (checksums cover tensors and meta)
    _assert_same(load(path, "cpu"), model)


def test_an_unparsable_format_version(saved):
    _rewrite_metadata(saved, format_version="two")
    with pytest.raises(DataIntegrityError, match=r"format version 'two'.*upgrade"):
        load(saved, "cpu")


def test_a_checkpoint_is_not_a_model(tmp_path):
    params = {name: np.asarray(p) for name, p in zip(["W1", "b1"], _model("cpu", "float32").params)}
    path = write_tensors(tmp_path / "ck.safetensors", params, {"epoch": 1}, kind="xpnet.checkpoint")
    with pytest.raises(DataIntegrityError, match=r"'xpnet\.checkpoint' file; expected an 'xpnet\.model' file"):
        load(path, "cpu")


def test_inconsistent_model_metadata(tmp_path):
    net = _model("cpu", "float32")
    params = {f"{c}{i // 2 + 1}": np.asarray(p) for i, (c, p) in enumerate(zip("WbWb", net.params))}
    meta = {"sizes": [4, 7, 3], "activation": "swish", "loss": "quadratic", "dtype": "float32"}
    write_tensors(tmp_path / "m", params, meta, kind="xpnet.model")
    with pytest.raises(DataIntegrityError, match=r"unknown activation 'swish'"):
        load(tmp_path / "m", "cpu")
    write_tensors(tmp_path / "m", params, meta | {"activation": "tanh", "sizes": [4, 8, 3]}, kind="xpnet.model")
    with pytest.raises(DataIntegrityError, match=r"widths \[4, 7, 3\]; the metadata says \[4, 8, 3\]"):
        load(tmp_path / "m", "cpu")
    write_tensors(
        tmp_path / "m", params | {"W2": np.ones((6, 3), np.float32)}, meta | {"activation": "tanh"}, kind="xpnet.model"
    )
    with pytest.raises(DataIntegrityError, match=r"do not chain"):
        load(tmp_path / "m", "cpu")
    del params["b2"]
    write_tensors(tmp_path / "m", params, meta | {"activation": "tanh"}, kind="xpnet.model")
    with pytest.raises(DataIntegrityError, match=r"expected tensors W1, b1"):
        load(tmp_path / "m", "cpu")


def test_image_shape_round_trips_and_is_checked(tmp_path):
    model = MLP((12, 5, 3), device="cpu", seed=0)
    model.image_shape = (2, 2, 3)
    path = save(model, tmp_path / "m.safetensors")
    with safetensors.safe_open(path, framework="numpy") as f:
        assert f.metadata()["format_version"] == "1"  # a hint a version-1 reader may ignore without misreading
    assert load(path, "cpu").image_shape == (2, 2, 3)
    assert pickle.loads(pickle.dumps(model)).image_shape == (2, 2, 3)
    assert model.to("strict:device1").image_shape == (2, 2, 3)
    for bad in ((2, 3, 1), (1, 2, 6), (2, 2, 3.0), (2, 2), "2x2"):
        model.image_shape = bad
        with pytest.raises(
            XPNetValueError, match=r"model\.image_shape: expected \(height, width, channels\).*12 values"
        ):
            save(model, path)
        assert load(path, "cpu").image_shape == (2, 2, 3)  # the file saved before is unchanged
    params = {name: to_numpy(p) for name, p in zip(model.param_names, model.params)}
    meta = {"sizes": [12, 5, 3], "activation": "relu", "loss": "cross_entropy", "dtype": "float32"}
    for bad in ([3, 3, 1], [2, 2, 3, 1], [2, 6, 1.0], "2,2,3"):
        write_tensors(tmp_path / "bad", params, meta | {"image_shape": bad}, kind="xpnet.model")
        with pytest.raises(DataIntegrityError, match=r"'image_shape' metadata should be \[height, width, channels\]"):
            load(tmp_path / "bad", "cpu")
