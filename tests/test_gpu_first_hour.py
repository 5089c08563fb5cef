"""What a GPU user does in their first hour, on every GPU backend: CuPy, PyTorch CUDA and JAX CUDA (``pytest -m gpu``
on a GPU machine), and on the CuPy stand-in everywhere (xpnet.testing.cupy_standin: the second of two simulated
GPUs, where an array made on the wrong device or a device object used as a key fails as on a real GPU).

The first real GPU found that every CuPy training run crashed at its first epoch; each test here was run there.
"""

from __future__ import annotations

import contextlib
import pickle
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import xpnet
from xpnet.testing import cupy_standin


@dataclass
class GPU:
    spec: str  # the device the tests train on
    family: str  # "cupy", "torch" or "jax"
    env: dict[str, str] | None = None  # for child processes (the stand-in's PYTHONPATH)

    def native(self, a: np.ndarray) -> Any:
        """``a`` as the library's own array on this device (what a user already holds)."""
        backend = xpnet.backend.resolve(self.spec)
        with backend.activate():
            return backend.asarray(a)


@pytest.fixture(
    params=[
        pytest.param(("standin", "cuda:1", "cupy"), id="cupy-standin"),
        pytest.param(("real", "cuda:0", "cupy"), id="cupy", marks=pytest.mark.gpu),
        pytest.param(("real", "torch:cuda:0", "torch"), id="torch-cuda", marks=pytest.mark.gpu),
        pytest.param(("real", "jax:cuda:0", "jax"), id="jax-cuda", marks=pytest.mark.gpu),
    ]
)
def gpu(request):
    kind, spec, family = request.param
    with contextlib.ExitStack() as stack:
        env = None
        if kind == "standin":
            if cupy_standin.real_cupy_present():
                pytest.skip("a real CuPy is here: the cupy cell tests it")
            stack.enter_context(cupy_standin.installed())
            env = cupy_standin.child_env()
        try:
            xpnet.backend.resolve(spec)
        except xpnet.BackendUnavailableError as exc:
            pytest.skip(str(exc))
        yield GPU(spec, family, env)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(3, 6))
    y = rng.integers(0, 3, 600)
    return (centres[y] + rng.normal(size=(600, 6))).astype(np.float32), y


def fit(data, **settings):
    settings = {"hidden": (16,), "epochs": 3, "batch_size": 32, "seed": 0, "progress": False, "verbose": 0} | settings
    return xpnet.train(data, **settings)


def host(a):
    return xpnet.to_numpy(a)


def test_auto_trains_on_the_gpu_with_every_default(gpu, blobs):
    if gpu.family != "cupy":
        pytest.skip('device="auto" picks CuPy on a GPU machine')
    result = fit(blobs)  # the crash of the first H200 run: an lru_cache hashed CuPy's (unhashable) Device
    assert result.model.backend.spec == "cuda:0"
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]


def test_the_whole_toolbox_trains_on_the_gpu_as_on_the_cpu(gpu, blobs):
    toolbox = dict(optimizer="adam", dropout=0.1, norm="batch", validation=0.2, clip_norm=1.0, epochs=4)
    result = fit(blobs, device=gpu.spec, **toolbox)
    arrays = [*result.model.params, *result.model.buffers, *(a for s in result.optimizer.state.values() for a in s)]
    assert {xpnet.backend.backend_of(a).spec for a in arrays} == {result.model.backend.spec}
    on_cpu = fit(blobs, device="cpu", **toolbox)  # the same run, to float32 rounding
    np.testing.assert_allclose(result.history["val_loss"], on_cpu.history["val_loss"], rtol=1e-4)
    evaluation = xpnet.evaluate(result.model, *blobs)
    assert evaluation.confusion.sum() == 600
    assert evaluation.accuracy == pytest.approx(xpnet.evaluate(on_cpu.model, *blobs).accuracy, abs=0.01)


def test_a_gpu_run_matches_the_cpu_run_in_float32_and_float64(gpu, blobs):
    for dtype, tolerance in (("float32", 1e-4), ("float64", 1e-12)):
        if dtype == "float64" and gpu.family == "jax" and not xpnet.backend.resolve(gpu.spec).supports_dtype("f8"):
            continue
        on_gpu, on_cpu = fit(blobs, device=gpu.spec, dtype=dtype), fit(blobs, device="cpu", dtype=dtype)
        for g, c in zip(on_gpu.model.params, on_cpu.model.params):
            np.testing.assert_allclose(host(g), c, rtol=tolerance, atol=tolerance)
    report = xpnet.testing.compare_backends(["cpu", gpu.spec], steps=20)
    assert report.ok, report.table()


def test_device_and_stream_placement_deliver_the_same_run(gpu, blobs):
    device, stream = (fit(blobs, device=gpu.spec, placement=p) for p in ("device", "stream"))
    for a, b in zip(device.model.params, stream.model.params):
        np.testing.assert_array_equal(host(a), host(b))


def test_gpu_arrays_passed_in_are_followed_and_a_mismatch_is_refused(gpu, blobs):
    x, y = gpu.native(blobs[0]), gpu.native(blobs[1])
    result = fit((x, y))  # device="auto" follows the data
    assert result.model.backend.spec == xpnet.backend.resolve(gpu.spec).spec
    with pytest.raises(xpnet.DeviceMismatchError):
        fit((x, y), device="cpu")


def test_save_on_the_gpu_load_on_the_cpu_and_back(gpu, blobs, tmp_path):
    model = fit(blobs, device=gpu.spec).model
    path = xpnet.save(model, tmp_path / "m.safetensors")
    on_cpu, on_gpu = xpnet.load(path, "cpu"), xpnet.load(path, gpu.spec)
    for a, b, c in zip(model.params, on_cpu.params, on_gpu.params):
        np.testing.assert_array_equal(host(a), b)
        np.testing.assert_array_equal(host(a), host(c))
    assert pickle.loads(pickle.dumps(model)).backend.spec == model.backend.spec


def test_checkpoint_and_resume_equal_the_straight_run(gpu, blobs, tmp_path):
    run = dict(device=gpu.spec, lr_schedule="constant", dropout=0.2)
    straight = fit(blobs, epochs=4, **run)
    fit(blobs, epochs=2, checkpoint_dir=tmp_path / "ck", **run)
    resumed = fit(blobs, epochs=4, checkpoint_dir=tmp_path / "ck", resume=True, **run)
    for a, b in zip(straight.model.params, resumed.model.params):
        np.testing.assert_array_equal(host(a), host(b))


def test_the_scikit_learn_estimator_on_the_gpu(gpu, blobs):
    from sklearn.exceptions import ConvergenceWarning

    from xpnet.sklearn import MLPClassifier

    settings = dict(hidden_layer_sizes=(16,), max_iter=20, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(device=gpu.spec, **settings).fit(*blobs)
        on_cpu = MLPClassifier(device="cpu", **settings).fit(*blobs)
    predicted = clf.predict(blobs[0])
    assert isinstance(predicted, np.ndarray) and np.mean(predicted == on_cpu.predict(blobs[0])) > 0.99
    assert clf.score(*blobs) == pytest.approx(on_cpu.score(*blobs), abs=0.01)
    assert pickle.loads(pickle.dumps(clf)).score(*blobs) == clf.score(*blobs)


def test_onnx_export_of_a_gpu_model(gpu, blobs, tmp_path):
    pytest.importorskip("ndonnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    model = fit(blobs, device=gpu.spec).model
    path = xpnet.export_onnx(model, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(path))
    outputs = session.run(None, {session.get_inputs()[0].name: blobs[0][:20]})[0]
    np.testing.assert_allclose(outputs, host(model.predict_proba(blobs[0][:20])), rtol=1e-4, atol=1e-6)


def test_the_command_line_trains_and_evaluates_on_the_gpu(gpu, blobs, tmp_path):
    x, y = blobs
    np.savetxt(tmp_path / "d.csv", np.c_[x, y], delimiter=",", fmt="%.6g")
    device = ["--device", "auto"] if gpu.family == "cupy" else ["--device", gpu.spec]
    train = subprocess.run([sys.executable, "-m", "xpnet", "train", "--data", str(tmp_path / "d.csv"), "--epochs", "2",
                            "--out", str(tmp_path / "run"), "--no-progress", *device],
                           capture_output=True, text=True, env=gpu.env, timeout=300)  # fmt: skip
    assert train.returncode == 0, train.stderr
    expected = "cuda:0" if gpu.family == "cupy" else xpnet.backend.resolve(gpu.spec).spec
    assert expected in train.stdout + train.stderr  # --device auto chose the GPU
    model = next((tmp_path / "run").glob("*.safetensors"))
    evaluate = subprocess.run([sys.executable, "-m", "xpnet", "eval", str(model), "--data", str(tmp_path / "d.csv"),
                               *device], capture_output=True, text=True, env=gpu.env, timeout=300)  # fmt: skip
    assert evaluate.returncode == 0, evaluate.stderr
    assert "accuracy" in evaluate.stdout
