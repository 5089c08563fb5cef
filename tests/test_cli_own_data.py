"""The command line on your own files (CSV, npz, image folders) and the first-hour stumbles, in subprocesses."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import xpnet


def run_cli(*args: str, cwd: Path | None = None, code: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "xpnet"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd, timeout=180, check=False)


def write_csv(path: Path, x: np.ndarray, labels: np.ndarray, header: bool = True) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(["sepal", "petal", "stem", "leaf", "species"])
        writer.writerows([*row, label] for row, label in zip(x.round(4).tolist(), labels.tolist()))
    return path


def flowers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(scale=3.0, size=(3, 4)) * 10 + 50  # unscaled, like measurements
    y = rng.integers(0, 3, size=n)
    return centres[y] + rng.normal(scale=6.0, size=(n, 4)), np.array(["iris", "rose", "tulip"])[y]


def test_csv_round_trip_train_predict_eval(tmp_path: Path) -> None:
    train_csv = write_csv(tmp_path / "flowers.csv", *flowers(600, 1))
    test_csv = write_csv(tmp_path / "test.csv", *flowers(200, 2))
    out = tmp_path / "run"
    trained = run_cli("train", "--data", str(train_csv), "--label", "species", "--standardize", "--epochs", "10",
                      "--hidden", "16", "--device", "cpu", "--no-progress", "--out", str(out))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert f"data: {train_csv} (600 training samples)" in trained.stdout
    model = xpnet.load(out / "model.safetensors")
    assert model.classes == ["iris", "rose", "tulip"] and model.feature_names == ["sepal", "petal", "stem", "leaf"]
    assert model.standardization is not None

    predicted = run_cli("predict", str(out / "model.safetensors"), str(test_csv), "-o", str(tmp_path / "p.csv"))
    assert predicted.returncode == 0, predicted.stderr
    rows = list(csv.reader(open(tmp_path / "p.csv")))
    assert rows[0] == ["label", "p_iris", "p_rose", "p_tulip"] and len(rows) == 201
    truth = [row[-1] for row in list(csv.reader(open(test_csv)))[1:]]
    accuracy = np.mean([row[0] == t for row, t in zip(rows[1:], truth)])
    assert accuracy > 0.9
    assert all(abs(sum(float(p) for p in row[1:]) - 1.0) < 1e-4 for row in rows[1:])

    evaluated = run_cli("eval", str(out / "model.safetensors"), "--data", str(test_csv), "--label", "species")
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"{test_csv}: loss" in evaluated.stdout and f"accuracy {100 * accuracy:.2f}%" in evaluated.stdout
    features_only = tmp_path / "features.csv"  # no header, no label column: its last feature is no label
    features_only.write_text("\n".join(",".join(row) for row in (r[:4] for r in list(csv.reader(open(test_csv)))[1:])))
    unlabelled = run_cli("eval", str(out / "model.safetensors"), "--data", str(features_only))
    assert unlabelled.returncode == 2, unlabelled.stderr
    assert "features.csv has 4 columns, as many as the model's inputs, so no label column to evaluate against" in (
        unlabelled.stderr
    )


def test_eval_finds_the_label_column_the_model_does_not_take(tmp_path: Path) -> None:
    x, labels = flowers(300, 1)
    table = tmp_path / "mid.csv"  # the label in the middle, not named like a label
    rows = [
        ["sepal", "petal", "kind", "stem", "leaf"],
        *([*r[:2], k, *r[2:]] for r, k in zip(x.round(4).tolist(), labels)),
    ]
    table.write_text("\n".join(",".join(map(str, row)) for row in rows) + "\n")
    out = tmp_path / "run"
    trained = run_cli("train", "--data", str(table), "--label", "kind", "--standardize", "--epochs", "3", "--device",
                      "cpu", "--no-progress", "--out", str(out))  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    model = str(out / "model.safetensors")
    evaluated = run_cli("eval", model, "--data", str(table))  # no --label: the one column the model does not take
    assert evaluated.returncode == 0, evaluated.stderr
    assert f"{table}: loss" in evaluated.stdout and "accuracy" in evaluated.stdout
    features_only = tmp_path / "new.csv"
    features_only.write_text("sepal,petal,stem,leaf\n1,2,3,4\n")
    done = run_cli("eval", model, "--data", str(features_only))
    assert done.returncode == 2 and "has only the model's feature columns" in done.stderr
    assert "no label column to compare with" in done.stderr
    done = run_cli("eval", model)  # the default --data is mnist
    assert done.returncode == 2 and "--data: the model takes 4 inputs, not the 784 pixels of mnist" in done.stderr
    done = run_cli("predict", model, str(tmp_path), "-o", str(tmp_path / "p.csv"))  # a folder, but no images in it
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_csv_without_header_and_columns_in_another_order(tmp_path: Path) -> None:
    x, names = flowers(300, 3)
    labels = np.searchsorted(["iris", "rose", "tulip"], names)
    plain = write_csv(tmp_path / "plain.csv", x, labels, header=False)  # numbers only: the last column is the label
    out = tmp_path / "run"
    done = run_cli("train", "--data", str(plain), "--standardize", "--epochs", "3", "--hidden", "8", "--device", "cpu",
                   "--no-progress", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert xpnet.load(out / "model.safetensors").classes is None
    features_only = tmp_path / "features.csv"
    np.savetxt(features_only, x[:5], delimiter=",")
    predicted = run_cli("predict", str(out / "model.safetensors"), str(features_only), "-o", str(tmp_path / "p.npz"))
    assert predicted.returncode == 0, predicted.stderr
    with np.load(tmp_path / "p.npz") as saved:
        assert saved["proba"].shape == (5, 3) and saved["labels"].dtype.kind == "i"


def test_regression_csv_train_eval_predict(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = x @ [1.0, 2.0, -1.0]
    table = tmp_path / "reg.csv"
    np.savetxt(table, np.c_[x, y], delimiter=",", header="a,b,c,target", comments="")
    out = tmp_path / "run"
    done = run_cli("train", "--data", str(table), "--loss", "mse", "--epochs", "20", "--hidden", "16", "--lr", "0.05",
                   "--device", "cpu", "--no-progress", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    evaluated = run_cli("eval", str(out / "model.safetensors"), "--data", str(table))
    assert evaluated.returncode == 0, evaluated.stderr
    found = re.search(r"reg.csv: RMSE ([0-9.e+-]+), MAE ([0-9.e+-]+), R² ([0-9.e+-]+), loss ([0-9.e+-]+) \(400 samples\)",
                      evaluated.stdout)  # fmt: skip
    assert found, evaluated.stdout
    rmse, mae, r2 = (float(found.group(i)) for i in (1, 2, 3))
    assert "accuracy" not in evaluated.stdout and "confusion" not in evaluated.stdout
    predicted = run_cli("predict", str(out / "model.safetensors"), str(table), "-o", str(tmp_path / "p.csv"))
    assert predicted.returncode == 0, predicted.stderr
    rows = list(csv.reader(open(tmp_path / "p.csv")))
    assert rows[0] == ["y"] and len(rows) == 401
    values = np.array([float(row[0]) for row in rows[1:]])
    assert np.sqrt(np.mean((values - y) ** 2)) == pytest.approx(rmse, rel=1e-3)  # eval's figures are these outputs'
    assert np.mean(np.abs(values - y)) == pytest.approx(mae, rel=1e-3)
    assert 1 - np.sum((values - y) ** 2) / np.sum((y - y.mean()) ** 2) == pytest.approx(r2, abs=1e-4)
    assert np.corrcoef(values, y)[0, 1] > 0.95


def test_header_flag_overrides_the_guess(tmp_path: Path) -> None:
    table = tmp_path / "numbered.csv"
    table.write_text("0,1,2\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(60)))
    out = tmp_path / "run"
    done = run_cli("train", "--data", str(table), "--header", "--label", "2", "--epochs", "1", "--hidden", "4",
                   "--device", "cpu", "--no-progress", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(60 training samples)" in done.stdout
    assert xpnet.load(out / "model.safetensors").feature_names == ["0", "1"]
    # eval and predict on such a file need no --header: its first row holds the model's feature names
    evaluated = run_cli("eval", str(out / "model.safetensors"), "--data", str(table))
    assert evaluated.returncode == 0 and f"{table}: loss" in evaluated.stdout and "(60 samples)" in evaluated.stdout, (
        evaluated.stderr
    )
    predicted = run_cli("predict", str(out / "model.safetensors"), str(table), "-o", str(tmp_path / "p.csv"))
    assert predicted.returncode == 0 and "predicted 60 rows" in predicted.stdout, predicted.stderr


def test_bad_csv_names_the_column_and_row(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,x\n3,oops,y\n")
    done = run_cli("train", "--data", str(bad), "--device", "cpu", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"xpnet: error: {bad}: 'b' must hold numbers; line 3 has 'oops'" in done.stderr


def test_errors_name_the_flag_that_was_typed(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("a,b,label\n1,2,0\n3,4,1\n")
    done = run_cli("train", "--data", str(table), "--weight-decay", "0.1", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "xpnet: error: --weight-decay: only optimizer='adamw'" in done.stderr
    assert "Use --optimizer adamw, or l2 for an L2 penalty" in done.stderr  # the advice in the command line's words
    done = run_cli("train", "--data", str(table), "--label", "nope", "--out", str(tmp_path / "o"))
    assert "xpnet: error: --label: no column named 'nope'" in done.stderr
    done = run_cli("train", "--data", str(table), "--out", str(table))
    assert done.returncode == 2 and f"xpnet: error: --out: {table} is a file; expected a folder" in done.stderr
    model = tmp_path / "m.safetensors"
    xpnet.save(xpnet.MLP((2, 3, 2), device="cpu"), model)
    done = run_cli("predict", str(model), str(table), "-o", str(table / "p.csv"))  # the folder would be a file
    assert done.returncode == 2 and f"xpnet: error: {table / 'p.csv'}: could not be written" in done.stderr
    assert "no p.csv was written" in done.stderr and ".tmp" not in done.stderr and "Traceback" not in done.stderr
    xpnet.save(xpnet.MLP((2, 3, 2), device="cpu", dtype="float64"), tmp_path / "m64.safetensors")
    args = ("predict", str(tmp_path / "m64.safetensors"), str(table), "--device", "strict:no_float64", "-o")
    done = run_cli(*args, str(tmp_path / "p64.csv"))
    assert done.returncode == 2 and "(xpnet eval and predict: --dtype float32)" in done.stderr
    done = run_cli(*args, str(tmp_path / "p64.csv"), "--dtype", "float32")
    assert done.returncode == 0, done.stderr
    done = run_cli("predict", str(model), str(table), "-o", str(tmp_path / "p.xlsx"))
    assert done.returncode == 2 and "-o: expected a .csv (or .txt) or .npz file to write; received" in done.stderr


def test_npz_with_a_test_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    y = (x[:, 0] > 0).astype(int)
    np.savez(tmp_path / "d.npz", x=x[:300], y=y[:300], x_test=x[300:], y_test=y[300:])
    out = tmp_path / "run"
    done = run_cli("train", "--data", str(tmp_path / "d.npz"), "--epochs", "5", "--hidden", "8", "--device", "cpu",
                   "--no-progress", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    with np.load(out / "predictions.npz") as saved:
        np.testing.assert_array_equal(saved["y_true"], y[300:])
    evaluated = run_cli("eval", str(out / "model.safetensors"), "--data", str(tmp_path / "d.npz"))
    assert evaluated.returncode == 0 and f"{tmp_path / 'd.npz'} test: loss" in evaluated.stdout
    np.savez(tmp_path / "wrong.npz", features=x)
    bad = run_cli("train", "--data", str(tmp_path / "wrong.npz"), "--out", str(tmp_path / "o2"))
    assert bad.returncode == 2 and "expected arrays named 'x' and 'y'" in bad.stderr and "['features']" in bad.stderr


def test_image_folder(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for split, count in (("train", 40), ("test", 10)):
        for name, level in (("dark", 40), ("light", 210)):
            folder = tmp_path / "shapes" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(level, 25, size=(8, 8)), 0, 255).astype(np.uint8)
                image.fromarray(pixels).save(folder / f"{i}.png")
    out = tmp_path / "run"
    done = run_cli("train", "--data", str(tmp_path / "shapes"), "--epochs", "10", "--batch-size", "8", "--device", "cpu",
                   "--no-progress", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(80 training samples)" in done.stdout and "test: loss" in done.stdout
    assert "DataWarning" not in done.stderr  # pixels are scaled by 1/255 like MNIST's
    model = xpnet.load(out / "model.safetensors")
    assert model.classes == ["dark", "light"] and model.sizes[0] == 64 and model.image_shape == (8, 8, 1)
    predicted = run_cli("predict", str(out / "model.safetensors"), str(tmp_path / "shapes" / "test"), "-o",
                        str(tmp_path / "p.csv"))  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr
    labels = [row[0] for row in list(csv.reader(open(tmp_path / "p.csv")))[1:]]
    assert labels.count("dark") == 10 and labels.count("light") == 10  # an easy task, learned

    new = tmp_path / "new"  # unlabelled colour images straight in a folder, of another size
    new.mkdir()
    for name, level in (("a_dark", 30), ("b_light", 220)):
        image.fromarray(np.full((16, 12, 3), level, dtype=np.uint8)).save(new / f"{name}.png")
    resized = run_cli("predict", str(out / "model.safetensors"), str(new), "-o", str(tmp_path / "n.csv"))
    assert resized.returncode == 0, resized.stderr  # brought to 8x8 grey, as the model was trained
    rows = list(csv.reader(open(tmp_path / "n.csv")))
    assert rows[0] == ["file", "label", "p_dark", "p_light"]
    assert [row[:2] for row in rows[1:]] == [["a_dark.png", "dark"], ["b_light.png", "light"]]
    for name, level in (("dark", 30), ("light", 220)):  # labelled colour images of another size: eval resizes too
        (tmp_path / "labelled" / name).mkdir(parents=True)
        image.fromarray(np.full((16, 12, 3), level, dtype=np.uint8)).save(tmp_path / "labelled" / name / "0.png")
    evaluated = run_cli("eval", str(out / "model.safetensors"), "--data", str(tmp_path / "labelled"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "accuracy 100.00%" in evaluated.stdout
    wrong = run_cli("predict", str(out / "model.safetensors"), str(new), "--image-size", "12x16", "-o",
                    str(tmp_path / "w.csv"))  # fmt: skip
    assert wrong.returncode == 2 and "the images have 192 values each" in wrong.stderr
    assert "trained on 8x8 images: leave out --image-size" in wrong.stderr and not (tmp_path / "w.csv").exists()

    model.image_shape = None  # a model saved before image shapes were stored needs --image-size, and says so
    xpnet.save(model, tmp_path / "old.safetensors")
    old = run_cli("predict", str(tmp_path / "old.safetensors"), str(new), "-o", str(tmp_path / "o.csv"))
    assert old.returncode == 2 and "the images have 576 values each" in old.stderr
    assert "pass --image-size WxH with the size the model was trained at" in old.stderr
    sized = run_cli("predict", str(tmp_path / "old.safetensors"), str(new), "--image-size", "8x8", "-o",
                    str(tmp_path / "o.csv"))  # fmt: skip
    assert sized.returncode == 2 and "the images have 192 values each" in sized.stderr  # RGB: 8·8·3
    untrainable = run_cli("train", "--data", str(new), "--device", "cpu", "--out", str(tmp_path / "o"))
    assert untrainable.returncode == 2 and "2 images lie in it directly, without a class" in untrainable.stderr


def test_devices_says_what_is_missing_and_why() -> None:
    done = run_cli("devices")
    assert done.returncode == 0
    listed, _, missing = done.stdout.partition("\n\nnot available here:\n")
    names = [line.split()[0] for line in listed.splitlines()]
    assert names == xpnet.devices() and {"strict:no_float64", "strict:device2"} <= set(names)
    if "cuda:0" not in names:
        assert "cuda" in missing and ("pip install" in missing or "driver" in missing)


def test_parity_with_one_device_is_an_error() -> None:
    done = run_cli("parity", "--devices", "cpu", "--steps", "2")
    assert done.returncode == 2
    assert "xpnet: error: --devices: parity compares at least two devices; received ['cpu']" in done.stderr
    for where in (("--devices", "cpu,strict"), ("--ranks", "2")):  # no steps: nothing would be compared
        none = run_cli("parity", *where, "--steps", "0")
        assert none.returncode == 2 and "xpnet: error: --steps: expected a positive number of training steps" in (
            none.stderr
        ), none.stderr


def test_plot_without_matplotlib_and_of_a_missing_file(tmp_path: Path) -> None:
    history = tmp_path / "h.json"
    xpnet.History([{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5}]).save(history)
    blocked = "import sys; sys.modules['matplotlib'] = None; from xpnet.cli import main; sys.exit(main(sys.argv[1:]))"
    done = run_cli("plot", str(history), code=blocked)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        'plotting needs matplotlib, which is not installed; install it with: pip install "xpnet[plot]"' in done.stderr
    )
    suffix = run_cli("plot", str(history), "-o", str(tmp_path / "c.xyz"))
    assert suffix.returncode == 2 and "Traceback" not in suffix.stderr
    assert "xpnet: error: --output: " in suffix.stderr and "names no image format matplotlib writes" in suffix.stderr
    missing = run_cli("plot", "nope.json", cwd=tmp_path)
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == "xpnet: error: nope.json: no such file; expected a history.json written by xpnet train (or its run folder)"
    )


def test_ctrl_c_says_where_the_checkpoint_is_and_how_to_resume(tmp_path: Path) -> None:
    ckpt = tmp_path / "ck"
    command = [sys.executable, "-m", "xpnet", "train", "--epochs", "50", "--hidden", "32", "--device", "cpu",
               "--no-progress", "--checkpoint-dir", str(ckpt), "--checkpoint-every", "20", "--out", str(tmp_path / "o")]  # fmt: skip
    # A child inherits an ignored SIGINT (a shell script's background job runs the tests so) and would then never be
    # interrupted; a handled one is reset to the default by exec. So handle it here while the child starts.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)  # None: set outside Python
    deadline = time.monotonic() + 120
    while not (ckpt / "checkpoint.safetensors").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert re.search(
        rf"xpnet: interrupted; the last checkpoint is in {re.escape(str(ckpt))} \(epoch \d+, step \d+\)", err
    )
    expected = (
        "xpnet: continue with: xpnet train --epochs 50 --hidden 32 --device cpu --no-progress --checkpoint-every 20"
    )
    assert expected in err and err.rstrip().endswith(f"--resume {ckpt}")
