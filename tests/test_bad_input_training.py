"""Bad input to the training pipeline (batches, ``xpnet.train``, ``load_mnist``, the command line) gives an xpnet
error that names the argument and what was received; tables as in tests/test_bad_input.py."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import array_api_strict as strict
import numpy as np
import pytest
from bad_inputs import CPU, MISMATCH, NO_CUPY, STRICT_NET, X_DEVICE1, Y_DEVICE1, T, X, Y, check, nan_at, train

import xpnet
from xpnet.backend import resolve
from xpnet.data import Batches
from xpnet.datasets import load_mnist


# ---------------------------------------------------------------------------------------------------- Batches
def batches(x: Any = X, y: Any = Y, target: Any = CPU, dtype: Any = np.float32, **options: Any) -> list[Any]:
    return list(Batches(x, y, target, dtype, **({"batch_size": 2} | options)))


STRICT = resolve("strict")
BATCHES_CASES = [
    pytest.param(lambda: batches(batch_size=0), xpnet.XPNetValueError, r"batch_size: expected a positive integer; received 0", id="batch_size-0"),
    pytest.param(lambda: batches(batch_size=-1), xpnet.XPNetValueError, r"batch_size: expected a positive integer; received -1", id="batch_size-negative"),
    pytest.param(lambda: batches(batch_size=True), xpnet.XPNetTypeError, r"batch_size: .*received True \(type bool\)", id="batch_size-bool"),
    pytest.param(lambda: batches(batch_size=1.5), xpnet.XPNetTypeError, r"batch_size: .*received 1\.5 \(type float\)", id="batch_size-float"),
    pytest.param(lambda: batches(batch_size="2"), xpnet.XPNetTypeError, r"batch_size: .*received '2' \(type str\)", id="batch_size-str"),
    pytest.param(lambda: batches(placement="gpu"), xpnet.XPNetValueError, r"placement: expected one of \['auto', 'device', 'stream'\]; received 'gpu'", id="placement"),
    pytest.param(lambda: batches(y=Y[:3]), xpnet.XPNetValueError, r"y: expected shape \(6,\) or \(6, k\) to match x; received shape \(3,\)", id="length"),
    pytest.param(lambda: batches(x=X[0]), xpnet.XPNetValueError, r"x: expected a 2-D array .*received shape \(3,\)", id="x-1-D"),
    pytest.param(lambda: batches(x=np.float32(1)), xpnet.XPNetValueError, r"x: expected a 2-D array .*received shape \(\)", id="x-0-D"),
    pytest.param(lambda: batches(x=X.astype(object)), xpnet.XPNetTypeError, r"x: expected real numbers .*received dtype object", id="x-object"),
    pytest.param(lambda: batches(x=X.astype(str)), xpnet.XPNetTypeError, r"x: expected real numbers .*received dtype <U", id="x-str"),
    pytest.param(lambda: batches(x=X.astype(np.complex64)), xpnet.XPNetTypeError, r"x: expected real numbers .*received dtype complex64", id="x-complex"),
    pytest.param(lambda: batches(y=np.zeros((6, 2, 2))), xpnet.XPNetValueError, r"y: expected shape \(6,\) or \(6, k\) .*received shape \(6, 2, 2\)", id="y-3-D"),
    pytest.param(lambda: batches(target=3), xpnet.XPNetTypeError, r"target: expected a Backend or a device spec .*received 3 \(type int\)", id="target-int"),
    pytest.param(lambda: batches(target="nosuch"), xpnet.XPNetValueError, r"device: unknown spec 'nosuch'", id="target-unknown"),
    pytest.param(lambda: batches(dtype="int8"), xpnet.XPNetValueError, r"dtype: expected 'float32' or 'float64'; received 'int8'", id="dtype-int8"),
    pytest.param(lambda: batches(x=X_DEVICE1, y=Y_DEVICE1, target=STRICT, dtype=strict.float32), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch"),
    pytest.param(lambda: batches(x=X_DEVICE1, y=Y, target=STRICT, dtype=strict.float32), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch-x-only"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), BATCHES_CASES)
def test_batches(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    check(call, error, pattern)


# ------------------------------------------------------------------------------------------------------ train
TRAIN_CASES = [
    pytest.param(lambda: train((X, Y[:3])), xpnet.XPNetValueError, r"y: .*\(6,\).*received shape \(3,\)", id="length"),
    pytest.param(lambda: train((X, Y[:3]), validation=0.5), xpnet.XPNetValueError, r"y: .*\(6,\).*received shape \(3,\)", id="length-with-validation"),
    pytest.param(lambda: train((X, Y[:0])), xpnet.XPNetValueError, r"y: .*\(6,\).*received shape \(0,\)", id="y-empty"),
    pytest.param(lambda: train((X, -Y)), xpnet.XPNetValueError, r"y: labels must .*received min -2", id="y-negative"),
    pytest.param(lambda: train((X, Y + 0.5)), xpnet.XPNetTypeError, r"y: expected integer class labels; received dtype float64", id="y-fractional"),
    pytest.param(lambda: train((X, Y * 1000)), xpnet.XPNetValueError, r"y: the largest label is 2000, which would make 2001 classes \(output units\) for 6 samples; .*np\.unique\(y, return_inverse=True\)", id="y-sparse-labels"),
    pytest.param(lambda: train((strict.asarray(X), strict.asarray(Y * 1000)), device="strict"), xpnet.XPNetValueError, r"y: the largest label is 2000", id="y-sparse-device-labels"),
    pytest.param(lambda: train((X, Y[:, None])), xpnet.XPNetValueError, r"y: .*\(6,\).*received shape \(6, 1\)", id="y-column-cross-entropy"),
    pytest.param(lambda: train((X, nan_at(T)), loss="quadratic"), xpnet.XPNetValueError, r"y: expected finite numbers; .*nan", id="quadratic-y-nan"),
    pytest.param(lambda: train((X, -Y), loss="quadratic"), xpnet.XPNetValueError, r"y: labels must .*received min -2", id="quadratic-y-negative"),
    pytest.param(lambda: train((X, Y + 0.5), loss="quadratic"), xpnet.XPNetTypeError, r"y: expected integer class labels; .*0\.5", id="quadratic-y-fractional-labels"),
    pytest.param(lambda: train((X, np.zeros((6, 3, 1))), loss="quadratic"), xpnet.XPNetValueError, r"y: .*received shape \(6, 3, 1\)", id="quadratic-y-3-D"),
    pytest.param(lambda: train((X, Y), batch_size=0), xpnet.XPNetValueError, r"batch_size: expected a positive integer; received 0", id="batch_size-0"),
    pytest.param(lambda: train((X, Y), batch_size=True), xpnet.XPNetTypeError, r"batch_size: .*received True \(type bool\)", id="batch_size-bool"),
    pytest.param(lambda: train((X, Y), batch_size=32.0), xpnet.XPNetTypeError, r"batch_size: .*received 32\.0 \(type float\)", id="batch_size-float"),
    pytest.param(lambda: train((X, Y), epochs=-1), xpnet.XPNetValueError, r"epochs: expected a positive number of passes over the data; received -1", id="epochs-negative"),
    pytest.param(lambda: train((X, Y), epochs=1.5), xpnet.XPNetValueError, r"epochs: expected a positive number of passes over the data; received 1\.5", id="epochs-float"),
    pytest.param(lambda: train((X, Y), lr=0.0), xpnet.XPNetValueError, r"lr: expected a finite number > 0\.0; received 0\.0", id="lr-0"),
    pytest.param(lambda: train((X, Y), lr=-0.1), xpnet.XPNetValueError, r"lr: expected a finite number > 0\.0; received -0\.1", id="lr-negative"),
    pytest.param(lambda: train((X, Y), lr=float("nan")), xpnet.XPNetValueError, r"lr: expected a finite number > 0\.0; received nan", id="lr-nan"),
    pytest.param(lambda: train((X, Y), l2=-1e-4), xpnet.XPNetValueError, r"l2: expected a finite number >= 0\.0; received -0\.0001", id="l2-negative"),
    pytest.param(lambda: train((X, Y), checkpoint_dir=__file__), xpnet.XPNetValueError, r"checkpoint_dir: '.*\.py' is a file; expected a folder", id="checkpoint_dir-a-file"),
    pytest.param(lambda: train((X, Y), momentum=-0.5), xpnet.XPNetValueError, r"momentum: expected a number in \[0, 1\]; received -0\.5", id="momentum-negative"),
    pytest.param(lambda: train((X, Y), momentum=1.5), xpnet.XPNetValueError, r"momentum: expected a number in \[0, 1\]; received 1\.5", id="momentum-1.5"),
    pytest.param(lambda: train((X, Y), optimizer="nesterov", momentum=2), xpnet.XPNetValueError, r"momentum: expected a number in \[0, 1\]; received 2\.0", id="nesterov-momentum-2"),
    pytest.param(lambda: train((X, Y), optimizer=xpnet.optim.Adam(0.01, beta2=1.0)), xpnet.XPNetValueError, r"beta2: expected a number in \[0, 1\); received 1\.0", id="adam-beta2-1"),
    pytest.param(lambda: train((X, Y), optimizer=xpnet.optim.RMSprop(0.01, alpha=float("inf"))), xpnet.XPNetValueError, r"alpha: expected a number in \[0, 1\); received inf", id="rmsprop-alpha-inf"),
    pytest.param(lambda: train((X, Y), activation="swish"), xpnet.XPNetValueError, r"activation: expected one of \['elu', 'gelu', 'identity', .*\]; received 'swish'", id="activation"),
    pytest.param(lambda: train((X, Y), loss="hinge"), xpnet.XPNetValueError, r"loss: expected one of \['binary_cross_entropy', 'cross_entropy', 'mse', 'quadratic'\]; received 'hinge'", id="loss"),
    pytest.param(lambda: train((X, Y), optimizer="lbfgs"), xpnet.XPNetValueError, r"optimizer: expected one of \['adam', 'adamw', 'momentum', 'nesterov', 'rmsprop', 'sgd'\]; received 'lbfgs'", id="optimizer"),
    pytest.param(lambda: train((X, Y), lr_schedule="linear"), xpnet.XPNetValueError, r"lr_schedule: expected one of \['constant', 'cosine', 'step'\] or a callable; received 'linear'", id="lr_schedule"),
    pytest.param(lambda: train((X, Y), placement="gpu"), xpnet.XPNetValueError, r"placement: expected one of \['auto', 'device', 'stream'\]; received 'gpu'", id="placement"),
    pytest.param(lambda: train((X, Y), device="nosuch"), xpnet.XPNetValueError, r"device: unknown spec 'nosuch'; expected one of .*\"cpu\"", id="device-unknown"),
    pytest.param(lambda: train((X, Y), device="cuda"), xpnet.BackendUnavailableError, r"device 'cuda' needs .*'cupy'.*pip install \"xpnet\[cuda12\]\"", id="device-cuda-not-installed", marks=NO_CUPY),
    pytest.param(lambda: train((X, Y), device="strict:no_float64", dtype="float64"), xpnet.XPNetValueError, r"dtype: device 'strict:no_float64' has no float64", id="float64-on-no_float64"),
    pytest.param(lambda: train((X, Y), dtype="float16"), xpnet.XPNetValueError, r"dtype: expected 'float32' or 'float64'; received 'float16'", id="dtype-float16"),
    pytest.param(lambda: train((X_DEVICE1, Y_DEVICE1), model=STRICT_NET, device="auto"), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch-model"),
    pytest.param(lambda: train((X_DEVICE1, Y_DEVICE1), device="strict"), xpnet.DeviceMismatchError, MISMATCH, id="device-mismatch-device"),
    pytest.param(lambda: train((X, Y), validation=0.0), xpnet.XPNetValueError, r"validation: expected a fraction in \(0, 1\) .*received 0\.0", id="validation-0"),
    pytest.param(lambda: train((X, Y), validation=1.0), xpnet.XPNetValueError, r"validation: expected a fraction in \(0, 1\) .*received 1\.0", id="validation-1"),
    pytest.param(lambda: train((X, Y), validation=-0.2), xpnet.XPNetValueError, r"validation: expected a fraction in \(0, 1\) .*received -0\.2", id="validation-negative"),
    pytest.param(lambda: train((X, Y), validation=2), xpnet.XPNetValueError, r"validation: expected a fraction in \(0, 1\) .*received 2", id="validation-2"),
    pytest.param(lambda: train((X, Y), validation=float("nan")), xpnet.XPNetValueError, r"validation: expected a fraction in \(0, 1\) .*received nan", id="validation-nan"),
    pytest.param(lambda: train((X, Y), validation="0.1"), xpnet.XPNetValueError, r"validation: expected a fraction .*received '0\.1'", id="validation-str"),
    pytest.param(lambda: train((X, Y), validation=0.01), xpnet.XPNetValueError, r"validation: 0\.01 of 6 samples leaves an empty", id="validation-rounds-to-0"),
    pytest.param(lambda: train((X, Y), validation=(X[:0], Y[:0])), xpnet.XPNetValueError, r"x(_val)?: .*received shape \(0, 3\)", id="validation-empty"),
    pytest.param(lambda: train((X, Y), validation=(X[:, :2], Y)), xpnet.XPNetValueError, r"x(_val)?: .*\(n_samples >= 1, 3\); received shape \(6, 2\)", id="validation-features"),
    pytest.param(lambda: train((X, Y), validation=(X, Y + 3)), xpnet.XPNetValueError, r"y(_val)?: labels must lie in \[0, 3\); received min 3", id="validation-labels"),
    pytest.param(lambda: train((X, Y), validation=(X, Y, Y)), xpnet.XPNetValueError, r"validation: expected .*\(x_val, y_val\); received \(array", id="validation-3-tuple"),
    pytest.param(lambda: train((X, Y), hidden=(0,)), xpnet.XPNetValueError, r"hidden: .*positive integer.*received \(0,\)", id="hidden-0"),
    pytest.param(lambda: train((X, Y), hidden=(-3,)), xpnet.XPNetValueError, r"hidden: .*positive integer.*received \(-3,\)", id="hidden-negative"),
    pytest.param(lambda: train((X, Y), hidden=(4.5,)), xpnet.XPNetValueError, r"hidden: .*integer.*received \(4\.5,\)", id="hidden-float"),
    pytest.param(lambda: train((X, Y), hidden="64"), xpnet.XPNetTypeError, r"hidden: expected a sequence .*received '64'", id="hidden-str"),
    pytest.param(lambda: train((X, Y), hidden=64), xpnet.XPNetTypeError, r"hidden: expected a sequence .*received 64 \(type int\)", id="hidden-int"),
    pytest.param(lambda: train(((X, Y),)), xpnet.XPNetTypeError, r"(?s)data: expected .*\(x, y\).*; received \(\(array.*\(type tuple\)", id="data-1-tuple"),
    pytest.param(lambda: train((X, Y, Y)), xpnet.XPNetTypeError, r"(?s)data: expected .*\(x, y\).*; received \(array.*\(type tuple\)", id="data-3-tuple"),
    pytest.param(lambda: train(((X, Y), (X,))), xpnet.XPNetValueError, r"data: expected \(\(x, y\), \(x_test, y_test\)\) with two pairs", id="data-test-not-a-pair"),
    pytest.param(lambda: train(((X, Y), (X[:, :2], Y))), xpnet.XPNetValueError, r"x(_test)?: .*received shape \(6, 2\)", id="data-test-features"),
    pytest.param(lambda: train((X, np.array(["ant", "bee"] * 3)), loss="mse"), xpnet.XPNetValueError, r"y: loss='mse' regresses numeric targets; received class names \('ant', 'bee'\): classify them with loss='cross_entropy'", id="mse-class-names"),
    pytest.param(lambda: train(X), xpnet.XPNetTypeError, r"y: missing; received x of shape \(6, 3\) alone: pass the labels or targets too, as train\(x, y\)", id="y-missing"),
    pytest.param(lambda: train(None), xpnet.XPNetTypeError, r"data: expected .*received None", id="data-None"),
    pytest.param(lambda: train("cifar10"), xpnet.XPNetValueError, r"data: 'cifar10' is neither a data set name \['mnist', 'fashion-mnist', 'kmnist'\] nor an existing .npz or .csv file", id="data-unknown-name"),
    pytest.param(lambda: train((X, Y), early_stopping=2), xpnet.XPNetValueError, r"early_stopping: needs validation data", id="early_stopping-without-validation"),
    pytest.param(lambda: train((X, Y), model=xpnet.MLP((5, 4, 3), device="cpu")), xpnet.XPNetValueError, r"x: .*\(n_samples >= 1, 5\); received shape \(6, 3\)", id="model-width"),
    pytest.param(lambda: train((X, Y), model="mlp"), xpnet.XPNetTypeError, r"model: expected an xpnet\.MLP; received 'mlp'", id="model-str"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), TRAIN_CASES)
def test_train(call: Callable[[], Any], error: type[Exception], pattern: str) -> None:
    check(call, error, pattern)


def test_labels_may_leave_a_thousand_classes_unseen() -> None:
    """The sparse-label refusal starts above max(1000, 10 x samples) classes: 1000 classes from 6 samples train."""
    with pytest.warns(
        xpnet.advice.DataWarning, match=r"996 of those 1000 classes never occur \(3, 4, 5, 6, 7, \.\.\.\)"
    ):
        result = train((X, np.array([0, 1, 2, 0, 1, 999])), device="strict")
    assert result.model.sizes[-1] == 1000


# ------------------------------------------------------------------------------------------------- load_mnist
def _corrupt_copy(tmp_path: Path) -> Path:
    from xpnet.datasets.mnist import FILE_NAMES

    for name in FILE_NAMES:
        (tmp_path / name).write_bytes(b"not gzip")
    return tmp_path


LOAD_MNIST_CASES = [
    pytest.param(lambda tmp: load_mnist(path=tmp / "nosuch"), xpnet.DataNotFoundError, r"MNIST files not found: looked in \S*nosuch .*\(from path=\)", id="path-missing"),
    pytest.param(lambda tmp: load_mnist(path=tmp), xpnet.DataNotFoundError, r"MNIST files not found: looked in \S+ .*\(from path=\)", id="path-empty-folder"),
    pytest.param(lambda tmp: load_mnist(path=_corrupt_copy(tmp)), xpnet.DataIntegrityError, r"checksum mismatch for \S+train-images", id="path-corrupt"),
    pytest.param(lambda tmp: load_mnist(path=3), xpnet.XPNetTypeError, r"path must be a str, os\.PathLike or None, got 3 \(type int\)", id="path-int"),
    pytest.param(lambda tmp: load_mnist(flatten="yes"), xpnet.XPNetTypeError, r"flatten must be a bool, got 'yes'", id="flatten-str"),
    pytest.param(lambda tmp: load_mnist(as_uint8=1), xpnet.XPNetTypeError, r"as_uint8 must be a bool, got 1 \(type int\)", id="as_uint8-int"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "pattern"), LOAD_MNIST_CASES)
def test_load_mnist(call: Callable[[Path], Any], error: type[Exception], pattern: str, tmp_path: Path) -> None:
    check(lambda: call(tmp_path), error, pattern)


def test_load_mnist_missing_path_is_also_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_mnist(path=tmp_path / "nosuch")


# ------------------------------------------------------------------------------------------------------- CLI
CLI_CASES = [
    pytest.param(("--epochs", "-1"), r"epochs: expected a positive number of passes over the data; received -1", id="epochs-negative"),
    pytest.param(("--lr", "0"), r"lr: expected a finite number > 0\.0; received 0\.0", id="lr-0"),
    pytest.param(("--batch-size", "0"), r"--batch-size: expected a positive integer; received 0", id="batch-size-0"),
    pytest.param(("--device", "nosuch"), r"device: unknown spec 'nosuch'; expected one of", id="device-unknown"),
    pytest.param(("--device", "cuda"), r"device 'cuda' needs .*Install it with: pip install", id="device-cuda", marks=NO_CUPY),
    pytest.param(("--hidden", "0"), r"hidden: .*positive integer.*received \[0\]", id="hidden-0"),
    pytest.param(("--data", "nosuch"), r"--data: 'nosuch' is neither a data set name \(mnist, fashion-mnist, kmnist\) nor an existing file or folder", id="data-unknown"),
    pytest.param(("--epochs", "1.5"), r"argument --epochs: invalid int value: '1\.5'", id="epochs-float"),
    pytest.param(("--validation", "2"), r"--validation: expected a fraction between 0 and 1, such as 0\.1; received 2$", id="validation-2"),
    pytest.param(("--early-stopping", "3"), r"--early-stopping: needs a validation set to watch; add --validation 0\.1", id="early-stopping-alone"),
    pytest.param(("--optimizer", "LBFGS"), r"argument --optimizer: invalid choice: 'lbfgs' \(choose from '?adam'?, '?adamw", id="optimizer-unknown"),
    pytest.param(("--dropout", "1.5"), r"--dropout: every rate must lie in \[0, 1\); received 1\.5", id="dropout-1.5"),
    pytest.param(("--dropout", "0.1", "0.2"), r"--dropout: expected one rate or one per hidden layer \(1\); received \[0\.1, 0\.2\]", id="dropout-per-layer-count"),
    pytest.param(("--momentum", "2"), r"--momentum: expected a number in \[0, 1\]; received 2\.0", id="momentum-2"),
    pytest.param(("--seed", "-1"), r"--seed: expected a non-negative integer; received -1", id="seed-negative"),
    pytest.param(("--checkpoint-every", "20"), r"--checkpoint-every: needs a folder to write the checkpoints into; add --checkpoint-dir DIR", id="checkpoint-every-alone"),
    pytest.param(("--resume", __file__), r"--resume: .*test_bad_input_training\.py is a file; expected the folder that holds", id="resume-a-file"),
    pytest.param(("--checkpoint-dir", __file__), r"--checkpoint-dir: .*\.py is a file; expected the folder", id="checkpoint-dir-a-file"),
    pytest.param(("--dtype", "float16"), r"dtype: expected 'float32' or 'float64'; received 'float16'", id="dtype-float16"),
    pytest.param(("--validation", "0.1", "--early-stopping", "-1"), r"--early-stopping: expected patience as an integer >= 0; received -1", id="early-stopping-negative"),
    pytest.param(("--l2", "-1"), r"--l2: expected a finite number >= 0\.0; received -1\.0", id="l2-negative"),
    pytest.param(("--norm", "batch", "--norm-momentum", "2"), r"--norm-momentum: expected a number in \[0, 1\]; received 2\.0", id="norm-momentum-2"),
    pytest.param(("--norm", "batch", "--batch-size", "1"), r"--batch-size: norm='batch' needs at least 2 samples per batch.*use a larger batch_size or --norm layer", id="batch-norm-batch-size-1"),
    pytest.param(("--norm-eps", "0"), r"--norm-eps: expected a finite number > 0\.0; received 0\.0", id="norm-eps-0"),
    pytest.param(("--clip-norm", "0"), r"--clip-norm: expected a finite number > 0\.0; received 0\.0", id="clip-norm-0"),
    pytest.param(("--weight-decay", "0.1"), r"--weight-decay: only optimizer='adamw' takes a decoupled weight decay.*Use --optimizer adamw, or l2", id="weight-decay-without-adamw"),
]  # fmt: skip


def test_momentum_one_is_accepted_as_in_scikit_learn() -> None:
    assert xpnet.optim.Momentum(0.1, momentum=1.0).momentum == 1.0 == xpnet.optim.Nesterov(0.1, momentum=1).momentum


@pytest.mark.parametrize(("args", "pattern"), CLI_CASES)
def test_cli_prints_the_message_and_exits_2(args: tuple[str, ...], pattern: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "xpnet", "train", *args, "--limit", "50", "--no-progress", "--out", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last_line = proc.stderr.splitlines()[-1]  # after argparse's usage, the error is the last line
    assert last_line.startswith("xpnet: error: "), proc.stderr
    assert re.search(pattern, last_line), last_line
    assert "data: " not in proc.stdout, "reported only after the data were read"
    assert not (out / "history.json").exists()
