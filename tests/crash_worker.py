"""The program tests/test_crash.py starts and kills: a run with a checkpoint every few steps, resumed from whatever
checkpoint the last killed run left, its checkpoint writes slowed down so that kills land inside them too.

``python crash_worker.py FOLDER OUT.npz`` (under ``mpiexec`` too: every rank prints ``PID rank pid`` first).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

import xpnet

SETTINGS = dict(hidden=(16,), epochs=15, batch_size=20, optimizer="adam", lr=0.01, dropout=0.2, seed=7, progress=False,
                verbose=0, device="cpu")  # fmt: skip
SLOW = 0.05  # seconds before each checkpoint file is renamed into place: 450 steps, 225 checkpoints, 22 s of writes


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 6))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def main() -> None:
    folder, out = sys.argv[1], sys.argv[2]
    rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))
    sys.stdout.write(f"PID {rank} {os.getpid()}\n")  # one write: the line and its end together
    sys.stdout.flush()
    if folder != "-":
        replace = os.replace

        def slow_replace(src, dst):  # the atomic writes' rename, later: a kill may land between write and rename
            time.sleep(SLOW)
            replace(src, dst)

        os.replace = slow_replace
    checkpoints = {} if folder == "-" else {"checkpoint_dir": folder, "resume": True, "checkpoint_every": 2}
    result = xpnet.train(data(), **SETTINGS, **checkpoints)
    if rank == 0:
        np.savez(out, *[xpnet.to_numpy(p) for p in result.model.params])
    print("FINISHED", flush=True)


if __name__ == "__main__":
    main()
