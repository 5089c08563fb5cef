"""The ``xpnet`` command line, run as ``python -m xpnet`` in a subprocess (one short training run shared)."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet import cli
from xpnet.cli import tools
from xpnet.plot import plot_errors, plot_history

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xpnet", *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > 5_000, f"{path} is suspiciously small ({len(data)} bytes)"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One quick real run: 2000 MNIST samples, 2 epochs, on NumPy."""
    out = tmp_path_factory.mktemp("run") / "out"
    args = ("train", "--limit", "2000", "--epochs", "2", "--hidden", "32", "--device", "cpu", "--no-progress")
    proc = run_cli(*args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return proc, out


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ((), ("train", "devices", "plot")),
        (("train",), ("--epochs", "--hidden", "--device", "--limit", "use only the first N training samples", "--out")),
        (("devices",), ("device specs",)),
        (("plot",), ("--errors", "-o", "HISTORY_JSON")),
    ],
)
def test_help(command: tuple[str, ...], expected: tuple[str, ...]) -> None:
    proc = run_cli(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())  # help is wrapped to the terminal width
    for phrase in expected:
        assert phrase in text


def test_train_defaults_come_from_the_api() -> None:
    args = cli.build_parser().parse_args(["train"])
    for name, parameter in inspect.signature(xpnet.train).parameters.items():
        if name in (
            "y",
            "callbacks",
            "model",
            "resume",
            "verbose",
            "meta",
        ):  # --resume DIR sets checkpoint_dir and resume
            continue
        value = getattr(args, name)
        assert (tuple(value) if name == "hidden" else value) == parameter.default, name


def test_devices_lists_cpu_with_its_family() -> None:
    proc = run_cli("devices")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.split("\n\n")[0].splitlines()]
    assert ["cpu", "numpy"] in rows
    assert [row[0] for row in rows] == xpnet.devices()


def test_train_prints_device_table_and_test_accuracy(trained: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, out = trained
    lines = proc.stdout.splitlines()
    assert "device: cpu (numpy)" in lines
    assert any(re.fullmatch(r"placement: (device|stream)", line) for line in lines)
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["epoch", "train", "loss"])
    assert "samples/s" in lines[header]
    assert [lines[header + k].split()[0] for k in (1, 2)] == ["1", "2"]
    accuracy = float(re.search(r"test: loss [\d.]+, accuracy ([\d.]+)%", proc.stdout).group(1)) / 100
    assert accuracy > 0.7
    assert str(out / "history.json") in proc.stdout and str(out / "predictions.npz") in proc.stdout
    assert "Traceback" not in proc.stderr


def test_train_writes_history_and_predictions(trained: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = trained
    saved = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in saved["epochs"]] == [1, 2]
    assert saved["meta"]["data"] == "mnist" and saved["meta"]["limit"] == 2000
    history = xpnet.History.load(out / "history.json")
    assert len(history) == 2 and history.meta["sizes"] == [784, 32, 10]
    assert xpnet.load(out / "model.safetensors").image_shape == (28, 28, 1)  # predict brings new images to this
    with np.load(out / "predictions.npz") as predictions:
        y_true, y_pred = predictions["y_true"], predictions["y_pred"]
    assert y_true.shape == y_pred.shape == (10_000,)
    assert y_true.dtype.kind == y_pred.dtype.kind == "i"
    # The saved predictions are the evaluated model's: their accuracy is the printed test accuracy.
    assert np.mean(y_true == y_pred) == pytest.approx(history.meta["test_accuracy"], abs=1e-4)


def test_plot_history_writes_png(trained: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = trained
    target = out / "curves.png"
    proc = run_cli("plot", str(out / "history.json"), "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    assert_png(target)


def test_plot_errors_writes_png(trained: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = trained
    target = out / "errors.png"
    proc = run_cli("plot", "--errors", str(out), "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    assert_png(target)


@pytest.mark.parametrize(
    "args",
    [
        ("train", "--epochs", "-1"),
        ("train", "--device", "nosuch"),
        ("train", "--optimizer", "lbfgs"),
        ("plot", "no-such-history.json"),
    ],
)
def test_bad_input_exits_2_without_traceback(args: tuple[str, ...], tmp_path: Path) -> None:
    proc = run_cli(*args, "--out", str(tmp_path / "out")) if args[0] == "train" else run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert "xpnet: error:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "history.json").exists()


def test_main_returns_status_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["plot", str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err.startswith("xpnet: error: ")
    (tmp_path / "bad.json").write_text("not json")
    assert cli.main(["plot", str(tmp_path / "bad.json")]) == 2
    assert "not a history file" in capsys.readouterr().err

    def interrupted() -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(tools, "devices", interrupted)
    assert cli.main(["devices"]) == 130


def test_plot_functions_check_input_and_name_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(xpnet.XPNetValueError, match="received images"):
        plot_errors(np.zeros((3, 784)), np.zeros(3, int), np.zeros(4, int), tmp_path / "e.png")
    with pytest.raises(xpnet.XPNetValueError, match="no epochs"):
        plot_history(xpnet.History(), tmp_path / "c.png")
    with pytest.raises(xpnet.XPNetValueError, match=r"path: '.*c\.xyz' names no image format matplotlib writes; "
                       r"expected a suffix among .*\.pdf, .*\.png, .*\.svg"):  # fmt: skip
        plot_history([{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5}], tmp_path / "c.xyz")
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary file
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a regression run: no empty accuracy panel, no legend without lines
        plot_history([{"epoch": 1, "train_loss": 1.0, "train_accuracy": None}], tmp_path / "r.svg")
    assert (tmp_path / "r.svg").read_text().count("<svg") == 1
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if matplotlib were not installed
    with pytest.raises(xpnet.XPNetError, match=re.escape('pip install "xpnet[plot]"')):
        plot_history([{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5}], tmp_path / "c.png")


def test_eval_prints_the_saved_models_figures(trained: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = trained
    history = xpnet.History.load(out / "history.json")
    proc = run_cli("eval", str(out / "model.safetensors"), "--device", "strict:device1")
    assert proc.returncode == 0, proc.stderr
    accuracy = float(re.search(r"mnist test: loss [\d.]+, accuracy ([\d.]+)%", proc.stdout).group(1)) / 100
    assert accuracy == pytest.approx(history.meta["test_accuracy"], abs=1e-4)
    assert "confusion matrix" in proc.stdout
    rows = proc.stdout.split("confusion matrix (rows: true class, columns: predicted):\n")[1].splitlines()
    counts = np.array([[int(v) for v in row.split()[1:]] for row in rows[1:11]])
    assert counts.shape == (10, 10) and counts.sum() == 10_000
    assert np.trace(counts) == round(accuracy * 10_000)
    bad = run_cli("eval", str(out / "history.json"))
    assert bad.returncode == 2 and "xpnet: error:" in bad.stderr and "Traceback" not in bad.stderr


def test_train_resume_continues_a_checkpointed_run(tmp_path: Path) -> None:
    args = (
        "train",
        "--limit",
        "500",
        "--hidden",
        "8",
        "--device",
        "cpu",
        "--no-progress",
        "--out",
        str(tmp_path / "o"),
    )
    first = run_cli(*args, "--epochs", "1", "--checkpoint-dir", str(tmp_path / "ck"))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "ck" / "checkpoint.safetensors").exists()
    again = run_cli(*args, "--epochs", "2", "--resume", str(tmp_path / "ck"))
    assert again.returncode == 0, again.stderr
    table = [line.split()[0] for line in again.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert table == ["2"]  # epoch 1 came from the checkpoint
    assert [r["epoch"] for r in json.loads((tmp_path / "o" / "history.json").read_text())["epochs"]] == [1, 2]
    done = run_cli(*args, "--epochs", "2", "--resume", str(tmp_path / "ck"))  # the run is complete
    assert done.returncode == 0, done.stderr
    assert "(the run finished its 2 epochs: nothing to train; more epochs continue it)" in done.stdout
    short = run_cli(*args, "--epochs", "1", "--resume", str(tmp_path / "ck"))
    assert (
        short.returncode == 2
        and "pass --epochs 3 or more to continue it (--epochs 2 takes it as it stands)" in short.stderr
    )


def test_names_are_case_insensitive_like_device_specs() -> None:
    args = cli.build_parser().parse_args(
        ["train", "--optimizer", "Adam", "--activation", "ReLU", "--placement", "Device"]
    )
    assert (args.optimizer, args.activation, args.placement) == ("adam", "relu", "device")


def _recipes() -> list[str]:
    text = (Path(__file__).parents[1] / "docs" / "examples.md").read_text()
    return sorted(set(re.findall(r"`xpnet train (--hidden [^`]+)`", text)))


@pytest.mark.parametrize("flags", _recipes())
def test_the_documented_recipes_run(flags: str, tmp_path: Path) -> None:
    # The same command on 600 samples for one epoch: a renamed or removed flag breaks it (argparse: last one wins).
    out = tmp_path / "out"
    done = run_cli("train", *flags.split(), "--limit", "600", "--epochs", "1", "--no-progress", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert (out / "model.safetensors").exists() and "test: loss" in done.stdout
    assert len(xpnet.load(out / "model.safetensors").sizes) == len(flags.split("--dropout")[0].split()) + 1


def test_batch_norms_momentum_and_eps_reach_the_model(tmp_path: Path) -> None:
    out = tmp_path / "out"
    flags = ("--norm", "batch", "--norm-momentum", "0.3", "--norm-eps", "0.001", "--hidden", "8", "--device", "cpu")
    done = run_cli("train", *flags, "--limit", "600", "--epochs", "1", "--no-progress", "--out", str(out))
    assert done.returncode == 0, done.stderr
    arch = xpnet.load(out / "model.safetensors").arch
    assert (arch.norm, arch.norm_momentum, arch.norm_eps) == ("batch", 0.3, 0.001)


def test_the_recipes_are_found() -> None:
    assert len(_recipes()) >= 3 and all("--dropout" in r for r in _recipes())
