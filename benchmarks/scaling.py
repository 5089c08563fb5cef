"""Data-parallel scaling of the reference job: 1 process, then 1, 2, ... MPI ranks, same global batch.

The reference job (MNIST 60k, 784-1024-10 ReLU, batch 128, momentum 0.9, lr 0.05, float32) is trained for
``--epochs`` epochs by ``xpnet.train`` in one ordinary process (all cores) and under ``mpiexec -n R`` for each R
of ``--ranks`` (each rank gets its share of the cores, see docs/distributed.md). Rank 0 reports s/epoch (best
epoch), samples/s, the time per step spent in the gradient allreduce and its fraction of the step.

    python benchmarks/scaling.py --ranks 1,2 --epochs 3
    python benchmarks/scaling.py --ranks 1,2,4 --device cuda      # on a GPU node (one GPU per rank)

Figures to read, never assertions: the table goes in docs/distributed.md with the machine named.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

import xpnet

JOB = dict(hidden=(1024,), batch_size=128, optimizer="momentum", lr=0.05, momentum=0.9, l2=1e-4, dtype="float32")


def worker(args: argparse.Namespace) -> None:
    """One process of a measurement: train, then print one JSON line from rank 0."""
    from xpnet.backend.comm import connect

    distributed = args.mode == "ranks"
    result = xpnet.train("mnist", device=args.device, epochs=args.epochs, progress=False, seed=0,
                         distributed=distributed, **JOB)  # fmt: skip
    if distributed and connect().rank != 0:
        return
    seconds = min(result.history["seconds"])
    steps = -(-60000 // JOB["batch_size"])
    stats = connect().stats if distributed else None
    comm = stats.seconds / stats.calls if stats and stats.calls else 0.0
    step = seconds / steps
    print(json.dumps(dict(ranks=result.ranks, seconds=seconds, samples=60000 / seconds, step=step, comm=comm,
                          bytes=(stats.bytes / stats.calls) if stats and stats.calls else 0,
                          accuracy=result.test.accuracy if result.test else None)))  # fmt: skip


def measure(args: argparse.Namespace, ranks: int | None) -> dict:
    """Run one configuration in fresh processes (``ranks`` None: one ordinary process)."""
    from xpnet.testing.rank_parity import launcher

    own = [sys.executable, str(Path(__file__).resolve()), "--worker", "--device", args.device,
           "--epochs", str(args.epochs)]  # fmt: skip
    command = [*own, "--mode", "single"] if ranks is None else [*launcher(ranks), *own, "--mode", "ranks"]
    env = {**os.environ, "XPNET_TIME_ALLREDUCE": "1"}  # GPU routes: time the exchange alone (adds a sync per step)
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", default="1,2", help="comma-separated rank counts")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2, help="measure each run this often, interleaved; keep the best")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="single", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    print(f"machine: {platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores; device {args.device}; "
          f"xpnet {xpnet.__version__}; reference job, {args.epochs} epochs, best epoch of {args.repeat} runs")  # fmt: skip
    configs: list[tuple[str, int | None]] = [("1 process", None)]
    configs += [(f"{r} rank{'s' if r > 1 else ''}", r) for r in map(int, args.ranks.split(","))]
    runs: dict[str, list[dict]] = {name: [] for name, _ in configs}
    for _ in range(args.repeat):  # interleaved, so a noisy minute hurts every configuration alike
        for name, ranks in configs:
            runs[name].append(measure(args, ranks))
    rows = [(name, min(found, key=lambda r: r["seconds"])) for name, found in runs.items()]
    base = rows[0][1]["seconds"]
    print(f"{'run':<12}{'s/epoch':>9}{'speed-up':>10}{'samples/s':>11}{'ms/step':>9}{'allreduce ms':>14}"
          f"{'of step':>9}{'MB/step':>9}{'test acc':>10}")  # fmt: skip
    for name, r in rows:
        share = r["comm"] / r["step"] if r["step"] else np.nan
        print(f"{name:<12}{r['seconds']:>9.3f}{base / r['seconds']:>9.2f}x{r['samples']:>11,.0f}{r['step'] * 1e3:>9.2f}"
              f"{r['comm'] * 1e3:>14.3f}{share:>9.1%}{r['bytes'] / 1e6:>9.2f}{r['accuracy']:>10.2%}")  # fmt: skip


if __name__ == "__main__":
    main()
