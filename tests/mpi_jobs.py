"""Helpers of the MPI tests: the jobs of tests/mpi_worker.py, their outputs and the 1-process reference run.

``XPNET_REQUIRE_MPI=1`` (set by .ci/run) turns a missing mpiexec or mpi4py into a failure instead of a skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mpi_worker import make_data

import xpnet
from xpnet.backend.launcher import candidates, launcher

WORKER = Path(__file__).with_name("mpi_worker.py")
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and bool(candidates())
if not HAVE_MPI and os.environ.get("XPNET_REQUIRE_MPI") == "1":
    raise RuntimeError('XPNET_REQUIRE_MPI=1 but mpi4py or mpiexec is missing: pip install -e ".[test]"')
MARKS = [
    pytest.mark.mpi,
    pytest.mark.skipif(not HAVE_MPI, reason='needs mpi4py and mpiexec: pip install "xpnet[mpi]" mpich'),
]

BASE = dict(device="cpu", hidden=(16,), epochs=3, batch_size=64, dtype="float64", seed=3, lr=0.05)


def job(ranks: int, spec: dict, prefix: Path, timeout: float = 120, env: dict | None = None):
    """Run the worker on ``ranks`` processes; returns the finished process and its wall time."""
    command = [*launcher(ranks), sys.executable, str(WORKER), json.dumps(spec), str(prefix)]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    return done, time.perf_counter() - began


def outputs(prefix: Path, ranks: int) -> list[dict]:
    found = []
    for r in range(ranks):
        with np.load(f"{prefix}.rank{r}.npz") as saved:
            found.append({k: saved[k] for k in saved.files})
    return found


def reference(spec: dict) -> dict:
    """The same run in this process, as one process (distributed=False)."""
    result = xpnet.train(make_data(spec["n"]), progress=False, **{**spec["train"], "distributed": False})
    params = {f"arr_{i}": xpnet.to_numpy(p) for i, p in enumerate(result.model.params)}
    val = np.asarray([np.nan if v is None else v for v in result.history["val_loss"]])
    return params | {"train_loss": np.asarray(result.history["train_loss"]), "val_loss": val,
                     "test": np.asarray([result.test.loss, result.test.accuracy, result.test.n])}  # fmt: skip


def relative(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.nan_to_num(a.astype(np.float64)), np.nan_to_num(b.astype(np.float64))
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def assert_same_run(runs: list[dict], ref: dict, tolerance: float) -> None:
    """Every rank holds bit-identical weights, and they equal the 1-process run's within ``tolerance``."""
    names = [k for k in ref if k.startswith("arr_")]
    for other in runs[1:]:
        for k in names:
            assert np.array_equal(other[k], runs[0][k]), f"rank weights differ in {k}"
        for k in ("train_loss", "val_loss", "seconds", "samples_per_second"):  # one history for the job
            assert np.array_equal(other[k], runs[0][k], equal_nan=True), f"rank histories differ in {k}"
    for k in [*names, "train_loss", "val_loss", "test"]:
        assert relative(runs[0][k], ref[k]) <= tolerance, (k, relative(runs[0][k], ref[k]))
    assert int(runs[0]["ranks"]) == len(runs)
