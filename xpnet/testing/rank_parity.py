"""Rank parity: an N-rank data-parallel run against the 1-process run of the same global batch, step by step.

:func:`compare_ranks` trains the reference in this process, then starts each N-rank job with ``mpiexec``
(the one of mpi4py's own MPI, :func:`xpnet.backend.launcher.launcher`; ``XPNET_MPIEXEC`` names another, e.g.
``"srun"``); rank 0 of the job
writes its trajectory (the global batch's loss and every parameter after each step) for the comparison.
Run as ``python -m xpnet.testing.rank_parity SETTINGS_JSON OUT_NPZ``, this module is that job's program.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import resolve
from ..backend.launcher import launcher
from ..distributed import start
from ..errors import XPNetValueError
from ..training.args import check_norm_alone
from .parity import TOLERANCES, DeviceParity, ParityReport, _compare, _trajectory, check_run


def _run_job(ranks: int, settings: dict[str, Any], timeout: float) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """The trajectory rank 0 of an N-rank job recorded (raises XPNetValueError with the job's output if it failed)."""
    with tempfile.TemporaryDirectory(prefix="xpnet-ranks-") as tmp:
        out = Path(tmp) / "trajectory.npz"
        # -P: the ranks import the xpnet this process runs, not a folder named xpnet in the working directory (the
        # parent of a checkout has one: it made the ranks fail with a half-initialised import)
        safe = ["-P"] if sys.version_info >= (3, 11) else []
        command = [*launcher(ranks), sys.executable, *safe, "-m", __name__, json.dumps(settings), str(out)]
        job = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if job.returncode != 0 or not out.exists():
            tail = (job.stderr or job.stdout).strip().splitlines()[-5:]
            raise XPNetValueError(f"the {ranks}-rank job failed (exit {job.returncode}): " + " | ".join(tail))
        with np.load(out) as saved:
            losses = saved["arr_0"]
            n_params = (len(saved.files) - 1) // len(losses)
            return [
                (losses[s], [saved[f"arr_{1 + s * n_params + i}"] for i in range(n_params)]) for s in range(len(losses))
            ]


def compare_ranks(
    ranks: Sequence[int] = (2,),
    *,
    device: str = "cpu",
    steps: int = 100,
    sizes: Sequence[int] = (32, 64, 10),
    seed: int = 0,
    dtype: str = "float64",
    tolerance: float | None = None,
    batch_size: int = 30,
    optimizer: str = "momentum",
    lr: float = 0.05,
    activation: str = "relu",
    dropout: float = 0.0,
    norm: str | None = None,
    timeout: float = 300.0,
) -> ParityReport:
    """Train the same seeded model on ``device`` in one process and in each N-rank job; compare every step.

    The default batch of 30 rows splits unevenly over 4 or 7 ranks, and the data set's last batch is short, so
    uneven shards are part of every comparison. Returns a :class:`~xpnet.testing.parity.ParityReport` whose
    reference is the 1-process run and whose entries are named ``"cpu, 2 ranks"`` and so on.
    """
    name = check_run(dtype, steps)
    bad = [n for n in ranks if isinstance(n, bool) or not isinstance(n, int) or n < 1]
    if bad or not ranks:
        raise XPNetValueError(f"ranks: expected positive numbers of processes such as 2,3; received {list(ranks)}")
    if norm == "batch" and any(n > 1 for n in ranks):
        check_norm_alone(norm, session=True)  # the same refusal as xpnet.train's: no batch statistics per rank
    tol = TOLERANCES[name] if tolerance is None else tolerance
    target = resolve(device)
    settings: dict[str, Any] = dict(device=device, dtype=name, sizes=list(sizes), seed=seed, steps=steps, batch_size=batch_size,
                    optimizer=optimizer, lr=lr, layers={"activation": activation, "dropout": dropout, "norm": norm})  # fmt: skip
    reference = _trajectory(target, name, sizes, seed, steps, batch_size, optimizer, lr, settings["layers"])
    results = [DeviceParity(f"{target.spec}, 1 process", verdict="reference")]
    _compare(results[0], reference, reference, tol)
    for n in ranks:
        entry = DeviceParity(f"{target.spec}, {n} ranks")
        results.append(entry)
        try:
            run = _run_job(n, settings, timeout)
        except (XPNetValueError, subprocess.TimeoutExpired) as exc:
            entry.verdict = f"FAILED: {exc}"
            continue
        _compare(entry, run, reference, tol)
    return ParityReport(results[0].device, name, steps, tol, results)


def _job(settings: dict[str, Any], out: str) -> None:
    """One rank of the job :func:`compare_ranks` starts: train, and on rank 0 write the trajectory."""
    session = start(True)
    assert session is not None
    with session.guard():
        target = session.device(settings["device"])
        run = _trajectory(
            target, settings["dtype"], settings["sizes"], settings["seed"], settings["steps"], settings["batch_size"],
            settings["optimizer"], settings["lr"], settings["layers"], session,
        )  # fmt: skip
        if session.is_root:  # arr_0: the losses; then every parameter of step 1, of step 2, ...
            np.savez(out, np.asarray([loss for loss, _ in run]), *[p for _, params in run for p in params])


if __name__ == "__main__":
    _job(json.loads(sys.argv[1]), sys.argv[2])
