"""Nothing a user saved is lost: run folders never overwrite another run, a checkpoint folder belongs to one run.

The three cases a user met (issue 22): a named --out holding another run's model, a fresh run on another run's
checkpoint, two runs on one checkpoint folder at once; and the default run folder, new for every run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import xpnet


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xpnet", "train", "--data", "d.csv", "--epochs", "1", "--no-progress",
                           *args], capture_output=True, text=True, cwd=cwd, timeout=300)  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    np.savetxt(tmp_path / "d.csv", np.c_[x, (x[:, 0] > 0).astype(int)], delimiter=",", fmt="%.5g")
    return tmp_path


def sizes(run: Path) -> list[int]:
    return json.loads((run / "history.json").read_text())["meta"]["sizes"]


def test_the_default_run_folder_is_new_for_every_run(folder):
    first, second = cli("--hidden", "32", cwd=folder), cli("--hidden", "8", cwd=folder)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert "run folder: xpnet-run\n" in first.stdout and "run folder: xpnet-run-2\n" in second.stdout
    assert sizes(folder / "xpnet-run") == [5, 32, 2] and sizes(folder / "xpnet-run-2") == [5, 8, 2]
    assert "wrote xpnet-run-2/model.safetensors" in second.stdout


def test_a_named_folder_holding_another_runs_files_is_refused_without_overwrite(folder):
    assert cli("--hidden", "32", "--out", "o3", cwd=folder).returncode == 0
    before = {p.name: p.read_bytes() for p in (folder / "o3").iterdir() if not p.name.startswith(".")}
    refused = cli("--hidden", "8", "--out", "o3", cwd=folder)
    assert refused.returncode == 2
    assert "xpnet: error: --out: o3 holds another run's files (model.safetensors, history.json: MLP 5-32-2 on d.csv, " \
           "written " in refused.stderr  # fmt: skip
    assert "pass --overwrite to replace them, or choose another folder (--out o3-2)" in refused.stderr
    assert {p.name: p.read_bytes() for p in (folder / "o3").iterdir() if not p.name.startswith(".")} == before
    replaced = cli("--hidden", "8", "--out", "o3", "--overwrite", cwd=folder)
    assert replaced.returncode == 0, replaced.stderr
    assert sizes(folder / "o3") == [5, 8, 2]


def test_a_fresh_run_does_not_replace_another_runs_checkpoint(folder):
    first = cli("--hidden", "32", "--epochs", "3", "--checkpoint-dir", "ck", cwd=folder)
    assert first.returncode == 0, first.stderr
    checkpoint = (folder / "ck" / "checkpoint.safetensors").read_bytes()
    refused = cli("--hidden", "8", "--checkpoint-dir", "ck", cwd=folder)
    assert refused.returncode == 2
    assert "xpnet: error: --checkpoint-dir: ck holds the checkpoint of another run (MLP 5-32-2 on d.csv, 3 of 3 epochs " \
           "done, written " in refused.stderr  # fmt: skip
    assert "continue that run with resume=True (xpnet train --resume ck)" in refused.stderr
    assert (folder / "ck" / "checkpoint.safetensors").read_bytes() == checkpoint
    assert not (folder / "xpnet-run-2" / "model.safetensors").exists()  # refused before anything was written
    resumed = cli("--hidden", "32", "--epochs", "4", "--resume", "ck", cwd=folder)  # the same run goes on
    assert resumed.returncode == 0, resumed.stderr
    assert "run folder: xpnet-run\n" in resumed.stdout  # the folder of the run it continues
    assert len(json.loads((folder / "xpnet-run" / "history.json").read_text())["epochs"]) == 4
    over = cli("--hidden", "8", "--checkpoint-dir", "ck", "--overwrite", cwd=folder)
    assert over.returncode == 0, over.stderr
    assert json.loads((folder / "ck" / "history.json").read_text())["meta"]["sizes"] == [5, 8, 2]


def test_the_python_api_keeps_checkpoint_folders_for_their_run(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(200, 4)), rng.integers(0, 2, 200)
    run = dict(hidden=(8,), epochs=2, progress=False, verbose=0, seed=0, checkpoint_dir=tmp_path / "ck",
               lr_schedule="constant")  # fmt: skip
    first = xpnet.train((x, y), **run)
    with pytest.raises(xpnet.XPNetValueError, match=r"checkpoint_dir: .* holds the checkpoint of another run"):
        xpnet.train((x, y), **run)
    again = xpnet.train((x, y), **run, overwrite=True)
    assert again.history.meta["run_id"] != first.history.meta["run_id"]
    continued = xpnet.train((x, y), **{**run, "epochs": 3}, resume=True)
    assert continued.history.meta["run_id"] == again.history.meta["run_id"]  # a resumed run is that run


def test_a_locked_checkpoint_folder_is_refused_and_a_killed_holders_lock_never_blocks(folder):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from xpnet.io.ownership import FolderLock; "
                               "lock = FolderLock(sys.argv[1], 'checkpoint_dir').acquire(); print('held', flush=True); "
                               "time.sleep(120)", str(folder / "ck")], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = cli("--checkpoint-dir", "ck", cwd=folder)
        assert refused.returncode == 2
        assert (f"--checkpoint-dir: ck is in use by another run (pid {holder.pid} on {os.uname().nodename}, since "
                in refused.stderr), refused.stderr  # fmt: skip
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    time.sleep(0.1)
    after = cli("--checkpoint-dir", "ck", cwd=folder)  # the killed holder's lock went with it
    assert after.returncode == 0, after.stderr


def test_one_folder_as_run_folder_and_checkpoint_folder_and_a_resume_into_another(folder):
    """The run holds one lock on a folder that is both its --out and its --checkpoint-dir (it refused itself as
    "in use by another run" before); a resume written to another --out records that folder, not the first."""
    both = cli("--epochs", "2", "--out", "r", "--checkpoint-dir", "r", cwd=folder)
    assert both.returncode == 0, both.stderr
    assert (folder / "r" / "model.safetensors").exists() and (folder / "r" / "checkpoint.safetensors").exists()
    assert not (folder / "r" / ".xpnet.lock.json").exists()  # the holder's note goes with the last release
    resumed = cli("--epochs", "3", "--resume", "r", "--out", "elsewhere", cwd=folder)
    assert resumed.returncode == 0, resumed.stderr
    for where in ("elsewhere", "r"):  # the run's history and the checkpoint's
        assert json.loads((folder / where / "history.json").read_text())["meta"]["run_folder"] == "elsewhere"


def test_a_run_refused_after_its_folders_were_made_leaves_none_behind(folder):
    """A run refused once its folders were claimed (here: a missing value, found when the data were read) left an
    empty numbered run folder (and checkpoint folder) for every try; folders it did not make stay."""
    (folder / "kept").mkdir()
    (folder / "bad.csv").write_text("1,2,0\n3,,1\n" * 20)
    for _ in range(2):
        refused = cli("--data", "bad.csv", "--checkpoint-dir", "new/ck", "--out", "kept", cwd=folder)
        assert refused.returncode == 2 and "run folder: kept" in refused.stdout, refused.stderr
        refused = cli("--data", "bad.csv", cwd=folder)
        assert refused.returncode == 2 and "run folder: xpnet-run\n" in refused.stdout  # the same name: none left
    assert sorted(p.name for p in folder.iterdir()) == ["bad.csv", "d.csv", "kept"]
    assert [p.name for p in (folder / "kept").iterdir()] == [".xpnet.lock"]  # the user's folder, as it was but the lock


def test_a_folder_given_relative_is_released_where_it_was_taken(tmp_path, monkeypatch):
    """A lock taken on a relative ``ck`` and released after a change of working directory removed another run's
    ``ck`` there (its lock and holder note with it)."""
    from xpnet.io.ownership import FolderLock

    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "ck").mkdir(parents=True)
    (tmp_path / "b" / "ck" / ".xpnet.lock").write_text("")  # another run's
    monkeypatch.chdir(tmp_path / "a")
    lock = FolderLock("ck", "checkpoint_dir").acquire()
    monkeypatch.chdir(tmp_path / "b")
    lock.release()
    assert not (tmp_path / "a" / "ck").exists()  # made by the lock, left empty: gone
    assert (tmp_path / "b" / "ck" / ".xpnet.lock").exists()


def test_the_command_lines_advice_names_flags_and_leaves_paths_and_code_alone():
    import argparse

    from xpnet.cli.messages import as_flag

    args = argparse.Namespace(precision="bf16", dtype=None, epochs=2, lr=0.1, seed=0, out=None, label=None)
    assert as_flag("precision: 'bf16' needs bfloat16 (use precision='highest', or dtype='float32')", args) == \
        "--precision: 'bf16' needs bfloat16 (use --precision highest, or --dtype float32)"  # fmt: skip
    assert as_flag("epochs: nothing to train: pass epochs=3 or more (epochs=2 takes it as it stands)", args) == \
        "--epochs: nothing to train: pass --epochs 3 or more (--epochs 2 takes it as it stands)"  # fmt: skip
    for kept in ("out: sweep/lr=0.05 holds another run's files; pass --overwrite, or choose --out sweep/lr=0.05-2",
                 "out: lr=0.05,seed=3 holds another run's files", "data: 'runs/seed=3/train.csv' is not a file",
                 "label: name it: --label y (or xpnet.datasets.load_file(path, label='y'))"):  # fmt: skip
        assert as_flag(kept, args).partition(": ")[2] == kept.partition(": ")[2]
