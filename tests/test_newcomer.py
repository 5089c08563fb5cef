"""What a new user tripped on (issue 21), each now answered: image-shaped arrays, file options in Python, single
images to predict, a missing extra, a failed rank, an ambiguous CSV, help texts, a run slowed by a busy machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.training.report import EpochPrinter

RUN = dict(epochs=2, progress=False, verbose=0, seed=0, device="cpu", hidden=(16,))


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xpnet", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)  # fmt: skip


def images(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.random((n, 8, 8)) * 0.2
    x[y == 1, 2:6, 2:6] += 0.8  # a bright square: class 1
    return x.astype(np.float32), y


def test_zero_epochs_are_refused(tmp_path):
    with pytest.raises(xpnet.XPNetValueError, match="epochs: expected a positive number of passes"):
        xpnet.train(images(), **{**RUN, "epochs": 0})
    done = cli("train", "--epochs", "0", "--out", str(tmp_path / "run"))
    assert (
        done.returncode == 2
        and "--epochs: expected a positive number of passes over the data; received 0" in done.stderr
    )
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_image_shaped_arrays_are_flattened_and_the_shape_kept(capsys):
    x, y = images()
    result = xpnet.train((x, y), **{**RUN, "verbose": 1, "epochs": 10, "batch_size": 16})
    assert (
        "x: samples of shape (8, 8) flattened to 64 features (the model keeps the image shape)"
        in capsys.readouterr().out
    )
    assert result.model.sizes[0] == 64 and result.model.image_shape == (8, 8, 1)
    predicted = xpnet.to_numpy(result.model.predict(x))  # the model takes image-shaped arrays too
    assert np.mean(predicted == y) > 0.9
    colour = np.repeat(x[..., None], 3, axis=3)  # (n, h, w, 3)
    assert xpnet.train((colour, y), **RUN).model.image_shape == (8, 8, 3)


def test_python_reads_files_as_the_command_line_does(tmp_path):
    rng = np.random.default_rng(1)
    table = tmp_path / "houses.csv"
    x = rng.normal(size=(200, 3))
    rows = "\n".join(f"{a:.4f},{p:.4f},{b:.4f},{c:.4f}" for (a, b, c), p in zip(x, x @ [3.0, -2.0, 1.0]))
    table.write_text("area,price,rooms,age\n" + rows + "\n")
    result = xpnet.train(str(table), label="price", loss="mse", **RUN)
    assert result.model.feature_names == ["area", "rooms", "age"]
    with pytest.raises(xpnet.XPNetValueError, match="label: says how to read a file"):
        xpnet.train(images(), label="price", **RUN)


def test_one_image_or_a_list_of_them_predicts(tmp_path):
    from PIL import Image

    folder = tmp_path / "shapes"
    x, y = images(40)
    for i, (pixels, label) in enumerate(zip(x, y)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((pixels * 255).astype(np.uint8)).save(folder / str(label) / f"{i}.png")
    assert cli("train", "--data", str(folder), "--epochs", "3", "--out", str(tmp_path / "run"),
               "--no-progress").returncode == 0  # fmt: skip
    model = str(tmp_path / "run" / "model.safetensors")
    one = next((folder / "1").iterdir())
    single = cli("predict", model, str(one), "-o", str(tmp_path / "one.csv"))
    assert single.returncode == 0, single.stderr
    assert f"predicted 1 row of {one} (label " in single.stdout
    lines = (tmp_path / "one.csv").read_text().splitlines()
    assert lines[0].startswith("file,label") and len(lines) == 2 and lines[1].startswith(str(one))
    several = [str(p) for p in sorted((folder / "0").iterdir())[:3]]
    many = cli("predict", model, *several, "-o", str(tmp_path / "many.csv"))
    assert many.returncode == 0 and "predicted 3 rows of 3 images" in many.stdout
    mixed = cli("predict", model, several[0], str(tmp_path / "one.csv"))
    assert mixed.returncode == 2 and "several inputs are image files to predict on" in mixed.stderr


def test_a_missing_scikit_learn_names_the_extra():
    code = "import sys; sys.modules['sklearn'] = None; import xpnet.sklearn"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert 'ModuleNotFoundError: xpnet.sklearn needs scikit-learn, which is not installed: pip install "xpnet[sklearn]"' \
           in done.stderr  # fmt: skip


def test_a_failed_rank_is_reported_as_what_failed(monkeypatch):
    import os

    done = cli("parity", "--ranks", "2", "--steps", "3", env={**os.environ, "XPNET_MPIEXEC": "false"})
    assert done.returncode == 2
    assert "parity: cpu, 2 ranks: FAILED: the 2-rank job failed (exit 1)" in done.stderr
    assert "install a second backend" not in done.stderr


def test_a_csv_without_a_header_says_how_it_was_read(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 4))
    y = (x[:, 0] > 0).astype(int)
    np.savetxt(tmp_path / "train.csv", np.c_[x, y], delimiter=",", fmt="%.5g")
    assert cli("train", "--data", "train.csv", "--epochs", "1", "--out", "run", "--no-progress",
               cwd=tmp_path).returncode == 0  # fmt: skip
    np.savetxt(tmp_path / "features.csv", x, delimiter=",", fmt="%.5g")
    done = cli("predict", "run/model.safetensors", "features.csv", cwd=tmp_path)
    assert (
        "features.csv has no header row: its 4 columns read as the model's 4 features (no label column)" in done.stdout
    )
    with_labels = cli("predict", "run/model.safetensors", "train.csv", cwd=tmp_path)
    assert "train.csv has no header row: column 4 read as the labels (skipped)" in with_labels.stdout


def test_the_help_names_jax_the_regression_loss_and_the_dtype_default():
    assert "JAX" in cli("--help").stdout
    text = " ".join(cli("train", "--help").stdout.split())
    assert "mse regresses numeric targets" in text and "default: float32" in text
    assert "predictions.npz (test data only)" in text


def test_an_epoch_much_slower_than_the_fastest_is_explained_once(capsys):
    printer = EpochPrinter(on_cpu=xpnet.backend.resolve("cpu").on_host)
    printer.on_train_begin({"placement": "device", "device": "cpu", "loss": "cross_entropy"})
    for epoch, rate in enumerate([50_000, 48_000, 9_000, 8_000], start=1):
        printer({"epoch": epoch, "samples_per_second": rate}, None)
    out = capsys.readouterr().out
    assert out.count("xpnet: epoch 3 ran 5.6x slower than the fastest so far") == 1
    assert "OPENBLAS_NUM_THREADS=1" in out
    on_gpu = EpochPrinter(on_cpu=False)  # a GPU's epochs: the host's BLAS threads are not the cause
    on_gpu.on_train_begin({"placement": "device", "device": "cuda:0", "loss": "cross_entropy"})
    for epoch, rate in enumerate([50_000, 9_000], start=1):
        on_gpu({"epoch": epoch, "samples_per_second": rate}, None)
    assert "slower than the fastest" not in capsys.readouterr().out


@pytest.mark.parametrize("spec, host", [("cpu", True), ("strict:device1", True), ("torch:cpu", True),
                                        ("jax:cpu", True), ("torch:meta", False)])  # fmt: skip
def test_which_backends_compute_on_the_hosts_cores(spec, host):
    try:
        backend = xpnet.backend.resolve(spec)
    except xpnet.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    assert backend.on_host is host


def test_a_cupy_device_does_not_compute_on_the_host():
    from xpnet.testing import cupy_standin

    if cupy_standin.real_cupy_present():
        pytest.skip("a real CuPy is here: the stand-in steps aside")
    with cupy_standin.installed():
        assert xpnet.backend.resolve("cuda:1").on_host is False
