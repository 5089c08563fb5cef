"""ONNX export: the network's own forward pass recorded by ndonnx, served by onnxruntime."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet.backend import to_numpy
from xpnet.nn import state

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("ndonnx")

ACTIVATIONS = ["relu", "leaky_relu", "elu", "gelu", "softplus", "sigmoid", "tanh", "identity"]
LOSSES = ["cross_entropy", "quadratic", "binary_cross_entropy", "mse"]


def run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {o.name: out for o, out in zip(session.get_outputs(), session.run(None, {"x": x}))}


def targets(loss, y, k=3):
    return y if loss == "cross_entropy" else np.eye(k)[y]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_onnxruntime_equals_xpnet(tmp_path, activation, loss):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 7)).astype(np.float32), rng.integers(0, 3, size=64)
    result = xpnet.train((x, targets(loss, y)), hidden=(16, 8), activation=activation, loss=loss, epochs=2,
                         device="cpu", verbose=0, progress=False)  # fmt: skip
    path = xpnet.export_onnx(result.model, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    for rows in (1, 37):  # a dynamic batch dimension
        out = run(path, x[:rows])
        if loss == "mse":
            np.testing.assert_allclose(out["outputs"], xpnet.to_numpy(result.model(x[:rows])), atol=1e-6, rtol=1e-6)
        else:
            expected = xpnet.to_numpy(result.model.predict_proba(x[:rows]))
            np.testing.assert_allclose(out["probabilities"], expected, atol=1e-6)
            np.testing.assert_array_equal(out["labels"], xpnet.to_numpy(result.model.predict(x[:rows])))


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_layers_standardization_and_float64(tmp_path, norm):
    rng = np.random.default_rng(1)
    x, y = (rng.normal(size=(200, 5)) * 30 + 100), rng.integers(0, 4, size=200)
    result = xpnet.train((x, y), hidden=(12, 12), norm=norm, dropout=0.3, standardize=True, dtype="float64",
                         epochs=3, device="cpu", verbose=0, progress=False)  # fmt: skip
    path = xpnet.export_onnx(result.model, tmp_path / "m.onnx")
    model = onnx.load(path)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    out = run(path, x)
    np.testing.assert_allclose(out["probabilities"], xpnet.to_numpy(result.model.predict_proba(x)), atol=1e-12)


@pytest.mark.parametrize("device", ["torch:cpu", "strict:device1", "jax:cpu"])
def test_export_of_a_model_trained_elsewhere(tmp_path, device, monkeypatch):
    if device.split(":")[0] not in {d.split(":")[0] for d in xpnet.devices()}:
        pytest.skip(f"{device} is not available here")
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(64, 6)).astype(np.float32), rng.integers(0, 3, size=64)
    result = xpnet.train((x, y), hidden=(8,), norm="batch", epochs=2, device=device, verbose=0, progress=False)
    moved: list[tuple[int, ...]] = []
    monkeypatch.setattr(state, "to_numpy", lambda a: moved.append(tuple(a.shape)) or to_numpy(a))
    out = run(xpnet.export_onnx(result.model, tmp_path / "m.onnx"), x)
    # the weights move to the host once: one copy of each parameter and buffer, nothing read twice
    assert sorted(moved) == sorted(tuple(a.shape) for a in [*result.model.params, *result.model.buffers])
    np.testing.assert_allclose(out["probabilities"], xpnet.to_numpy(result.model.predict_proba(x)), atol=1e-6)


def test_cli_export(tmp_path):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 4)).astype(np.float32), rng.integers(0, 2, size=40)
    model = xpnet.train((x, y), hidden=(4,), epochs=1, device="cpu", verbose=0, progress=False).model
    xpnet.save(model, tmp_path / "m.safetensors")
    done = subprocess.run([sys.executable, "-m", "xpnet", "export", str(tmp_path / "m.safetensors"), "-o",
                           str(tmp_path / "m.onnx")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"to {tmp_path / 'm.onnx'} (input x: (N, 4); outputs: probabilities, labels)" in done.stdout
    np.testing.assert_allclose(run(tmp_path / "m.onnx", x)["probabilities"], xpnet.to_numpy(model.predict_proba(x)),
                               atol=1e-6)  # fmt: skip


def test_names_travel_in_the_metadata(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(4)
    x = pd.DataFrame(rng.normal(size=(30, 3)), columns=["height", "weight", "age"])
    y = rng.choice(["cat", "dog"], size=30)
    model = xpnet.train(x, y, hidden=(4,), epochs=1, device="cpu", verbose=0, progress=False).model
    session = ort.InferenceSession(
        str(xpnet.export_onnx(model, tmp_path / "m.onnx")), providers=["CPUExecutionProvider"]
    )
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props["classes"]) == ["cat", "dog"]
    assert json.loads(props["feature_names"]) == ["height", "weight", "age"]
    assert "image_shape" not in props and props["architecture"] == json.dumps(repr(model))
    labels = session.run(["labels"], {"x": x.to_numpy(np.float32)})[0]
    np.testing.assert_array_equal(labels, xpnet.to_numpy(model.predict(x.to_numpy(np.float32))))  # indices of classes
    model.image_shape, model.classes, model.feature_names = (3, 1, 1), None, None
    props = onnx.load(xpnet.export_onnx(model, tmp_path / "i.onnx")).metadata_props
    assert {p.key: json.loads(p.value) for p in props if p.key != "architecture"} == {"image_shape": [3, 1, 1]}
