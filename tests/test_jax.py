"""JAX: the same code on jax.numpy arrays, the whole step compiled by jax.jit once per batch shape."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import xpnet
from xpnet.testing import compare_backends

jax = pytest.importorskip("jax")


def test_step_is_compiled_once_per_batch_shape(monkeypatch):
    from xpnet.training.compiled import CompiledStep

    traces = []
    pure = CompiledStep._pure

    def counting(self, *args):
        traces.append(tuple(args[5].shape))  # called by Python only while jax.jit traces (args: ..., keys, x, y)
        return pure(self, *args)

    monkeypatch.setattr(CompiledStep, "_pure", counting)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 5)).astype(np.float32), rng.integers(0, 3, size=200)
    result = xpnet.train((x, y), device="jax:cpu", hidden=(8,), dropout=0.2, epochs=3, batch_size=64, verbose=0,
                         progress=False, optimizer="adam", lr=0.01)  # fmt: skip
    assert sorted(traces) == [(8, 5), (64, 5)]  # 3 epochs x 4 steps, two shapes: full batches and the last 8 rows
    assert result.device == "jax:cpu" and xpnet.backend.backend_of(result.model.params[0]).spec == "jax:cpu"
    assert result.model.params[0].dtype == jax.numpy.float32


@pytest.mark.parametrize("layers", [{}, {"dropout": 0.3, "norm": "batch"}, {"dropout": 0.2, "norm": "layer"}])
def test_compiled_jax_steps_equal_numpy_float64(layers):
    report = compare_backends(["cpu", "jax:cpu"], steps=60, dtype="float64", **layers)
    assert report.ok and report.devices[1].max_diff <= 1e-12, report.table()


@pytest.mark.parametrize(
    "options",
    [{"optimizer": "adam"}, {"optimizer": "adamw", "weight_decay": 0.01}, {"optimizer": "rmsprop"},
     {"optimizer": "nesterov", "clip_norm": 0.5}, {"optimizer": "adam", "clip_norm": 0.5, "dropout": 0.2}],
    ids=["adam", "adamw", "rmsprop", "nesterov-clipped", "adam-clipped-dropout"],
)  # fmt: skip
def test_compiled_jax_steps_of_every_update_rule_equal_numpy(options, monkeypatch):
    from xpnet.training.compiled import CompiledStep

    compiled = []
    build = CompiledStep.build
    monkeypatch.setattr(CompiledStep, "build", lambda *a, **k: compiled.append(build(*a, **k)) or compiled[-1])
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(160, 6)), rng.integers(0, 3, size=160)
    settings = dict(dtype="float64", hidden=(12,), epochs=3, batch_size=32, lr=0.01, l2=1e-3, seed=4, verbose=0,
                    progress=False, **options)  # fmt: skip
    runs = {d: xpnet.train((x, y), device=d, **settings) for d in ("cpu", "jax:cpu")}
    assert compiled[0] is None and compiled[1] is not None  # the JAX run took the compiled step
    for a, b in zip(runs["cpu"].model.params, runs["jax:cpu"].model.params):
        np.testing.assert_allclose(xpnet.to_numpy(b), a, rtol=1e-9, atol=1e-12)
    assert runs["cpu"].history["train_loss"] == pytest.approx(runs["jax:cpu"].history["train_loss"], rel=1e-10)


def test_same_seed_same_initial_weights_and_order():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 6)), rng.integers(0, 4, size=300)
    runs = {
        d: xpnet.train((x, y), device=d, dtype="float64", hidden=(10,), epochs=2, verbose=0, progress=False, seed=5)
        for d in ("cpu", "jax:cpu")
    }
    for a, b in zip(runs["cpu"].model.params, runs["jax:cpu"].model.params):
        np.testing.assert_allclose(xpnet.to_numpy(b), a, rtol=1e-10, atol=1e-12)
    assert runs["cpu"].history["train_loss"] == pytest.approx(runs["jax:cpu"].history["train_loss"], rel=1e-10)


def test_checkpoint_and_resume_on_jax(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(256, 6)).astype(np.float32), rng.integers(0, 3, size=256)
    settings = dict(device="jax:cpu", hidden=(8,), epochs=3, batch_size=32, verbose=0, progress=False,
                    checkpoint_every=5, optimizer="adam", lr=0.01)  # fmt: skip
    whole = xpnet.train((x, y), checkpoint_dir=tmp_path / "a", **settings)

    def stop(record, model):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        xpnet.train((x, y), checkpoint_dir=tmp_path / "b", callbacks=[stop], **settings)
    resumed = xpnet.train((x, y), checkpoint_dir=tmp_path / "b", resume=True, **settings)
    for a, b in zip(whole.model.params, resumed.model.params):
        np.testing.assert_array_equal(xpnet.to_numpy(a), xpnet.to_numpy(b))
    for key in ("train_loss", "train_accuracy"):  # the resumed epoch's running sums carried on, in the step program
        assert whole.history[key] == resumed.history[key], key


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")
@pytest.mark.parametrize("placement", ["device", "stream"])
def test_divergence_on_jax_names_the_step_numpy_names(placement):
    """The first non-finite loss is latched inside the step's program (with the data on the device) as NumPy's loop
    latches it: the same epoch and step, the last good weights kept."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(640, 6)).astype(np.float32), rng.integers(0, 3, size=640)
    settings = dict(hidden=(8,), epochs=3, batch_size=32, verbose=0, progress=False, optimizer="sgd", lr=1e8,
                    lr_schedule="constant")  # fmt: skip
    errors = []
    for device, where in (("cpu", "device"), ("jax:cpu", placement)):
        with pytest.raises(xpnet.TrainingDivergedError) as info:
            xpnet.train((x, y), device=device, placement=where, **settings)
        errors.append(info.value)
    assert (errors[1].epoch, errors[1].step) == (errors[0].epoch, errors[0].step) and errors[0].step >= 2
    assert all(np.isfinite(xpnet.to_numpy(p)).all() for p in errors[1].model.params)


WITHOUT_X64 = textwrap.dedent(
    """
    import numpy as np, jax, xpnet
    from xpnet.nn.random import keep_mask
    assert not jax.config.jax_enable_x64
    mask = keep_mask(jax.numpy, jax.devices("cpu")[0], (9, 13), key=4000000000, first_row=5, keep=0.6)
    import array_api_compat.numpy as xp
    expected = keep_mask(xp, "cpu", (9, 13), key=4000000000, first_row=5, keep=0.6)
    assert np.array_equal(np.asarray(mask), expected), "uint32 and int64 hashes differ"
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 4)).astype(np.float32), rng.integers(0, 2, size=120)
    result = xpnet.train((x, y), device="jax:cpu", hidden=(8,), dropout=0.3, epochs=2, verbose=0, progress=False)
    assert result.model.params[0].dtype == jax.numpy.float32
    try:
        xpnet.MLP((4, 2), device="jax:cpu", dtype="float64")
    except xpnet.XPNetValueError as exc:
        print(exc)
    """
)


def test_jax_without_x64_uses_32_bit_hashes_and_says_how_to_get_float64():
    env = {**os.environ, "JAX_ENABLE_X64": "0"}
    done = subprocess.run([sys.executable, "-c", WITHOUT_X64], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "dtype: device 'jax:cpu' has no float64 (on JAX, set JAX_ENABLE_X64=1 before it is imported)" in done.stdout


def test_jax_is_asked_for_full_float32_matrix_products():
    """JAX's GPU default is TensorFloat-32 for float32 matmuls; xpnet's device scope asks for float32 (a no-op on
    CPU, checked here by the setting itself)."""
    backend = xpnet.backend.resolve("jax:cpu")
    before = jax.config.jax_default_matmul_precision
    with backend.activate():
        assert jax.config.jax_default_matmul_precision == "float32"
    assert jax.config.jax_default_matmul_precision == before
