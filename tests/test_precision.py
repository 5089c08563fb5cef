"""The precision of the training step's matrix products: highest, tf32 (CuPy, PyTorch, JAX), bf16 (PyTorch, JAX).

bfloat16 is real on the CPU (PyTorch and JAX compute it there); TensorFloat-32 exists only on tensor cores, so on
CPUs it is tested by what reaches the libraries: cuBLAS's compute type on the CuPy stand-in, PyTorch's TF32
switch and JAX's default matmul precision while a step runs (and refused on CPU devices).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet.backend import kernels
from xpnet.backend.precision import precision_scope
from xpnet.testing import cupy_standin

DATA = np.random.default_rng(4).normal(size=(320, 9)).astype(np.float32)
LABELS = (DATA[:, 0] - DATA[:, 3] > 0).astype(int)
RUN = dict(hidden=(32,), epochs=3, batch_size=64, seed=2, progress=False, verbose=0)


@pytest.mark.parametrize("device", ["torch:cpu", "jax:cpu"])
def test_bf16_products_round_their_operands_and_keep_float32_weights(device):
    pytest.importorskip(device.split(":")[0])
    backend = xpnet.backend.resolve(device)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(16, 40)).astype(np.float32), rng.normal(size=(40, 8)).astype(np.float32)
    with backend.activate(), precision_scope(backend, "bf16"):
        product = xpnet.to_numpy(kernels.matmul(backend.asarray(a), backend.asarray(b)))
    exact = a @ b
    as_bf16 = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
    assert product.dtype == np.float32
    assert not np.array_equal(product, exact)  # the operands were rounded to 8-bit mantissas
    np.testing.assert_allclose(product, as_bf16, rtol=3e-2, atol=3e-2 * np.abs(exact).max())
    full, mixed = (xpnet.train((DATA, LABELS), device=device, precision=p, **RUN) for p in ("highest", "bf16"))
    assert mixed.history.meta["precision"] == "bf16"
    assert full.history["train_loss"] != mixed.history["train_loss"]
    np.testing.assert_allclose(mixed.history["train_loss"], full.history["train_loss"], rtol=2e-2)
    arrays = [*mixed.model.params, *(a for s in mixed.optimizer.state.values() for a in s)]
    assert {str(a.dtype).rsplit(".", 1)[-1] for a in arrays} == {"float32"}  # master weights and state


def test_a_bf16_step_casts_each_operand_once():
    """A dense layer's products read bfloat16 copies of its input, weights and incoming gradient made once per step
    (three casts a layer, the first layer's gradient one product only), not once per product (ten casts here)."""
    torch = pytest.importorskip("torch")
    from torch_calls import dispatched

    from xpnet.nn.backprop import TRAINING
    from xpnet.optim import make_optimizer
    from xpnet.training.step import train_step

    model = xpnet.MLP((9, 32, 2), device="torch:cpu", seed=0)
    x, y = model.backend.asarray(DATA[:64]), model.backend.asarray(LABELS[:64])
    opt = make_optimizer("momentum", 0.05)
    with precision_scope(model.backend, "bf16"), dispatched() as calls:
        train_step(model, opt, x, y, 1e-4, context=TRAINING)
    shapes = [
        tuple(args[0].shape) for name, args, kw in calls if name == "_to_copy" and kw.get("dtype") == torch.bfloat16
    ]
    # layer 1: x (64, 9), W1 (9, 32), its gradient (64, 32); layer 2: its input (64, 32), W2 (32, 2), (64, 2)
    assert sorted(shapes) == sorted([(64, 9), (9, 32), (64, 32), (64, 32), (32, 2), (64, 2)])


def test_bf16_parity_of_two_backends_within_its_tolerance():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    report = xpnet.testing.compare_backends(["torch:cpu", "jax:cpu", "cpu"], steps=50, precision="bf16")
    assert report.tolerance == xpnet.testing.parity.PRECISION_TOLERANCES["bf16"]
    verdicts = {d.device: d.verdict for d in report.devices}
    assert verdicts["torch:cpu"] == "reference" and verdicts["jax:cpu"] == "agrees", report.table()
    assert verdicts["cpu"].startswith("skipped: precision: 'bf16' needs bfloat16")


def test_tf32_reaches_cublas_as_its_compute_type_during_training_steps_only(monkeypatch):
    if cupy_standin.real_cupy_present():
        pytest.skip("a real CuPy is here")
    with cupy_standin.installed():
        from cupy.cuda import cublas_library

        from xpnet.backend.device_blas import device_blas

        assert device_blas() is not None  # its first check (at both precisions of each dtype) done before watching
        computes = []
        gemm = cublas_library.Library.cublasGemmEx
        monkeypatch.setattr(cublas_library.Library, "cublasGemmEx",
                            lambda self, *args: computes.append((args[17], args[4])) or gemm(self, *args))  # fmt: skip
        result = xpnet.train((DATA, LABELS), device="cuda:1", precision="tf32", **RUN)
        products = {compute for compute, rows in computes if rows > 1}  # cuBLAS's n: the row-major rows
        sums = {compute for compute, rows in computes if rows == 1}  # bias gradients: a row of ones @ dy
        assert products == {77}  # CUBLAS_COMPUTE_32F_FAST_TF32: every product of every step
        assert sums == {68}  # the bias gradients' sums in float32, as PyTorch's reductions at any precision
        computes.clear()
        xpnet.evaluate(result.model, DATA, LABELS)
        assert {compute for compute, _ in computes} <= {68}  # evaluation at full precision (CUBLAS_COMPUTE_32F)
        with pytest.raises(xpnet.XPNetValueError, match="bfloat16 matrix products, which 'cuda:1' \\(cupy\\)"):
            xpnet.train((DATA, LABELS), device="cuda:1", precision="bf16", **RUN)


def test_tf32_on_cupy_without_cublas_by_ctypes_is_refused(monkeypatch):
    """CuPy's own matmul has no TensorFloat-32 switch: without xpnet's cuBLAS route the run would be at full float32
    while it says tf32."""
    if cupy_standin.real_cupy_present():
        pytest.skip("a real CuPy is here")
    monkeypatch.setenv("XPNET_DEVICE_BLAS", "0")
    with cupy_standin.installed():
        with pytest.raises(xpnet.XPNetValueError, match="precision: 'tf32' on CuPy sets cuBLAS's compute type"):
            xpnet.train((DATA, LABELS), device="cuda:1", precision="tf32", **RUN)
        assert xpnet.train((DATA, LABELS), device="cuda:1", **RUN).history["train_loss"]  # highest: CuPy's matmul


def test_tf32_sets_what_pytorch_and_jax_read_while_a_step_runs():
    torch, jax = pytest.importorskip("torch"), pytest.importorskip("jax")
    matmul = torch.backends.cuda.matmul
    if not hasattr(matmul, "fp32_precision"):
        pytest.skip("PyTorch before 2.9: allow_tf32 is its one switch")
    before = matmul.fp32_precision
    with precision_scope(_CudaTorch(), "tf32"):
        assert matmul.fp32_precision == "tf32"
    assert matmul.fp32_precision == before
    with precision_scope(xpnet.backend.resolve("torch:cpu"), "highest"), precision_scope(_CudaTorch(), "tf32"):
        assert matmul.fp32_precision == "tf32"  # only a CUDA device's scope touches the CUDA switch
    with precision_scope(xpnet.backend.resolve("jax:cpu"), "tf32"):
        assert jax.config.jax_default_matmul_precision == "tensorfloat32"


class _CudaTorch:
    """What :func:`precision_scope` reads of a ``torch:cuda`` backend (its switch is global, a CPU build has it)."""

    name, device = "torch", type("Device", (), {"type": "cuda"})()


def test_the_users_own_pytorch_precision_settings_are_kept_as_they_were():
    """PyTorch 2.9's fp32_precision settings refuse to be read through allow_tf32 once used: a run on any torch
    device crashed at its first epoch; a CUDA scope left the user's inheriting setting fixed, and the older getter
    failing. Now a CPU run touches nothing, and a CUDA scope puts back what it found."""
    torch = pytest.importorskip("torch")
    matmul = torch.backends.cuda.matmul
    if not hasattr(matmul, "fp32_precision"):
        pytest.skip("PyTorch before 2.9")
    saved = (torch.backends.fp32_precision, matmul.fp32_precision, torch.get_float32_matmul_precision())
    try:
        torch.backends.fp32_precision = "tf32"  # the newer API, as PyTorch 2.9 on recommends
        trained = xpnet.train((DATA, LABELS), device="torch:cpu", **RUN)  # crashed: allow_tf32 read
        assert trained.history["train_loss"][-1] < trained.history["train_loss"][0]
        for precision in ("highest", "tf32"):
            with precision_scope(_CudaTorch(), precision):
                pass
            assert matmul.fp32_precision == "tf32"
            torch.backends.fp32_precision = "ieee"
            assert matmul.fp32_precision == "ieee"  # still inherits the global setting: not fixed at what it read
            torch.backends.fp32_precision = "tf32"
        torch.backends.fp32_precision = "none"
        matmul.fp32_precision = "none"
        torch.set_float32_matmul_precision("medium")  # the older API
        for precision in ("highest", "tf32"):
            with precision_scope(_CudaTorch(), precision):
                pass
            assert torch.get_float32_matmul_precision() == "medium"  # raised: legacy and new APIs mixed
    finally:
        torch.backends.fp32_precision, matmul.fp32_precision = saved[0], "none"
        torch.set_float32_matmul_precision(saved[2])


@pytest.mark.parametrize(
    ("device", "precision", "dtype", "message"),
    [
        (
            "cpu",
            "bf16",
            "float32",
            "precision: 'bf16' needs bfloat16 matrix products, which 'cpu' (numpy) does not have",
        ),
        ("cpu", "tf32", "float32", "precision: 'tf32' needs TensorFloat-32 matrix products, which 'cpu' (numpy)"),
        # a CPU has no TensorFloat-32: a tf32 run there was a full float32 run recorded as tf32
        ("torch:cpu", "tf32", "float32", "'tf32' needs TensorFloat-32 matrix products, which 'torch:cpu' (torch) does"),
        ("jax:cpu", "tf32", "float32", "'tf32' needs TensorFloat-32 matrix products, which 'jax:cpu' (jax) does not"),
        ("torch:cpu", "tf32", "float64", "precision: 'tf32' speeds up float32 matrix products; received a float64"),
        ("cpu", "fp8", "float32", "precision: expected one of ['highest', 'tf32', 'bf16']; received 'fp8'"),
    ],
)
def test_a_precision_the_device_lacks_is_refused_by_name(device, precision, dtype, message, tmp_path):
    pytest.importorskip(device.split(":")[0] if ":" in device else "numpy")
    folder = tmp_path / "made" / "checkpoints"
    with pytest.raises(xpnet.XPNetValueError) as caught:
        xpnet.train((DATA, LABELS), device=device, precision=precision, dtype=dtype, checkpoint_dir=folder, **RUN)
    assert message in str(caught.value)
    assert not (tmp_path / "made").exists()  # the folders the refused run made are gone with it


def test_the_command_line_and_the_estimator_take_a_precision(tmp_path):
    pytest.importorskip("torch")
    np.savetxt(tmp_path / "d.csv", np.c_[DATA, LABELS], delimiter=",", fmt="%.6g")
    done = subprocess.run([sys.executable, "-m", "xpnet", "train", "--data", str(tmp_path / "d.csv"), "--epochs", "1",
                           "--device", "torch:cpu", "--precision", "bf16", "--out", str(tmp_path / "run"),
                           "--no-progress"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    history = json.loads(next((tmp_path / "run").glob("*history*.json")).read_text())
    assert history["meta"]["precision"] == "bf16"
    refused = subprocess.run([sys.executable, "-m", "xpnet", "train", "--data", str(tmp_path / "d.csv"), "--precision",
                              "bf16", "--device", "cpu", "--out", str(tmp_path / "no")], capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert refused.returncode == 2 and "--precision: 'bf16' needs bfloat16" in refused.stderr
    assert "Use --precision highest here" in refused.stderr  # the command line's words, not Python's
    assert "data:" not in refused.stdout and not (tmp_path / "no").exists()  # refused before the data and a folder
    from xpnet.sklearn import MLPClassifier

    settings = dict(hidden_layer_sizes=(16,), max_iter=30, device="torch:cpu", random_state=0)
    with pytest.warns(Warning):  # ConvergenceWarning at max_iter
        mixed = MLPClassifier(precision="bf16", **settings).fit(DATA, LABELS)
        full = MLPClassifier(**settings).fit(DATA, LABELS)
    assert mixed.score(DATA, LABELS) == pytest.approx(full.score(DATA, LABELS), abs=0.05)
    assert mixed.loss_curve_ != full.loss_curve_  # the products were rounded


def test_parity_at_a_precision_no_device_here_has_says_so():
    """Every device skipped for the precision: the error blamed missing backends ("install a second backend")."""
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, "-m", "xpnet", "parity", "--precision", "tf32", "--devices",
                           "torch:cpu,cpu", "--steps", "2"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2 and "install a second backend" not in done.stderr
    assert "--precision: no device could run at tf32, so nothing was compared: torch:cpu, cpu lack it" in done.stderr
