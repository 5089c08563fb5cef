"""Benchmark of the reference job: MNIST 60k, MLP 784-1024-10, ReLU, softmax cross-entropy, L2 1e-4,
SGD momentum 0.9, lr 0.05, batch 128, float32, shuffled every epoch.

Runs, in one process and one run, xpnet on every usable device (JAX last, its threads compete with the others), native PyTorch (same architecture,
``torch.optim.SGD``), scikit-learn's ``MLPClassifier`` (solver sgd, same settings) and a GEMM floor (the job's
FLOPs divided by the best float32 matmul rate measured here with the job's shapes), and prints s/epoch (best of
the epochs), the ratio to PyTorch, GFLOP/s, the peak RSS growth while each ran, and the test accuracy.

    python benchmarks/mnist_mlp.py                      # the table
    python benchmarks/mnist_mlp.py --epochs 3 --rounds 3   # on a noisy machine: implementations take turns
    python benchmarks/mnist_mlp.py --sweep --plot sweep.png   # s/epoch over hidden size x batch size

Not collected by pytest; timings are figures to read, never assertions.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import xpnet

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from peers import gemm_rate, run_sklearn, run_torch, run_torch_compiled, run_torch_graph


@dataclass
class Row:
    name: str
    seconds: list[float]
    accuracy: float | None
    peak_rss: float | None = None  # bytes above the RSS when the run started
    by_round: list[float] = field(default_factory=list)  # the best epoch of each round
    paired: bool = True  # its rounds alternate with PyTorch's (JAX's rows run later, on their own)

    def __post_init__(self) -> None:
        self.by_round = self.by_round or [min(self.seconds)]

    @property
    def best(self) -> float:
        return min(self.seconds)


def flops_per_epoch(n: int, sizes: tuple[int, ...]) -> float:
    """Multiply-adds x 2 of forward and backward (no gradient for the input): per layer 6·fan_in·fan_out, minus
    the 2·d·h of the first layer's input gradient."""
    pairs = list(itertools.pairwise(sizes))
    return float(n) * (sum(6 * a * b for a, b in pairs) - 2 * pairs[0][0] * pairs[0][1])


class PeakRSS:
    """Samples this process's resident memory every 2 ms while active; ``peak`` is the growth over the start."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> PeakRSS:
        self._start = self.rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self.rss() - self._start)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss() - self._start)


def measured(name: str, run: Callable[[], tuple[list[float], float | None]]) -> Row:
    print(f"  running {name} ...", file=sys.stderr, flush=True)
    try:
        with PeakRSS() as memory:
            seconds, accuracy = run()
    except Exception as exc:  # one peer that cannot run here (torch.compile without a compiler, say) is a row
        print(f"  {name} failed: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr, flush=True)
        return Row(name, [float("nan")], None, None)
    return Row(name, seconds, accuracy, memory.peak)


def run_xpnet(spec: str, args: argparse.Namespace, compile: bool = True) -> tuple[list[float], float | None]:
    result = xpnet.train(
        "mnist", device=spec, hidden=(args.hidden,), epochs=args.epochs, batch_size=args.batch_size,
        optimizer="momentum", lr=0.05, momentum=0.9, l2=1e-4, lr_schedule="constant", dtype=args.dtype,
        progress=False, verbose=0, seed=0, compile=compile,
    )  # fmt: skip
    if spec != "cpu" and result.history.meta["step_note"]:
        print(
            f"  xpnet ({spec}): step {result.history.meta['step']}: {result.history.meta['step_note']}", file=sys.stderr
        )
    assert result.test is not None
    return result.history["seconds"], result.test.accuracy


def rounds(jobs: list[tuple[str, Callable[[], tuple[list[float], float | None]]]], count: int) -> list[Row]:
    """Run every job once per round, round after round (on a shared, noisy machine each implementation then
    meets the same spells of interference), and keep every epoch's time: a row's figure is its best epoch."""
    rows: dict[str, Row] = {}
    for _ in range(count):
        for name, run in jobs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scikit-learn's ConvergenceWarning for one-epoch fits
                row = measured(name, run)
            if name in rows:
                rows[name].seconds += row.seconds
                rows[name].by_round += row.by_round
                rows[name].peak_rss = max(rows[name].peak_rss or 0.0, row.peak_rss or 0.0)
            else:
                rows[name] = row
    return list(rows.values())


def _high_water_mark() -> int:
    """Peak resident memory of this process image in bytes (VmHWM: reset by exec, unlike ru_maxrss on Linux)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def memory_child(args: argparse.Namespace) -> None:
    """In a fresh process: peak RSS growth of loading MNIST and training xpnet on NumPy, against what it holds."""
    # Start the BLAS threads and fill their packing buffers with one product of the job's largest shape: the
    # baseline then holds the BLAS runtime (which any library doing these matmuls pays), not the job's data.
    np.ones((args.batch_size, 784), np.float32).T @ np.ones((args.batch_size, args.hidden), np.float32)
    base = PeakRSS.rss()
    result = xpnet.train("mnist", device="cpu", hidden=(args.hidden,), epochs=1, batch_size=args.batch_size,
                         optimizer="momentum", lr=0.05, l2=1e-4, lr_schedule="constant", progress=False,
                         verbose=0)  # fmt: skip
    peak = _high_water_mark() - base
    (x, y), (xt, yt) = xpnet.datasets.load_mnist(as_uint8=True)
    dataset = x.nbytes + y.nbytes + xt.nbytes + yt.nbytes
    params = sum(xpnet.to_numpy(p).nbytes for p in result.model.params)
    state = sum(xpnet.to_numpy(b).nbytes for bufs in result.optimizer.state.values() for b in bufs)
    held = dataset + params + state
    print(f"{peak} {dataset} {params} {state} {held}")


def memory_report(args: argparse.Namespace) -> str:
    import subprocess

    cmd = [
        sys.executable,
        __file__,
        "--memory-child",
        "--hidden",
        str(args.hidden),
        "--batch-size",
        str(args.batch_size),
    ]
    peak, dataset, params, state, held = map(
        int, subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1].split()
    )
    mib = 2**20
    return (f"memory (fresh process, xpnet on NumPy, 1 epoch): peak RSS growth {peak / mib:.0f} MiB = {peak / held:.2f}x "
            f"(dataset {dataset / mib:.0f} MiB as uint8 pixels + int64 labels, parameters {params / mib:.1f} MiB, "
            f"optimizer state {state / mib:.1f} MiB); growth from the RSS after importing xpnet and one warm-up matmul of the job's shape")  # fmt: skip


def _on_gpu(name: str) -> bool:
    return any(word in name for word in ("cuda", "cupy", "gpu"))


def paired(row: Row, peer: Row) -> str:
    """The median over rounds of the row's best epoch over its peer's in the same round: on a machine that slows
    down in spells, two runs a minute apart meet the same spell more often than the best epochs of each do."""
    if not row.paired or len(row.by_round) != len(peer.by_round):
        return "-"
    ratios = [r / p for r, p in zip(row.by_round, peer.by_round) if np.isfinite(r / p)]  # a failed round is no pair
    return f"{float(np.median(ratios)):.2f}x" if len(ratios) >= 2 else "-"


def table(rows: list[Row], flops: float) -> str:
    peers = {kind: next((r for r in rows if r.name == f"pytorch ({kind})"), None) for kind in ("cpu", "cuda")}
    lines = [f"{'implementation':<22}{'s/epoch':>9}{'vs PyTorch':>12}{'paired':>8}{'GFLOP/s':>9}{'peak RSS':>11}"
             f"{'test acc':>10}"]  # fmt: skip
    for r in rows:
        peer = peers["cuda" if _on_gpu(r.name) else "cpu"]  # GPU rows against PyTorch on the GPU
        ratio = f"{r.best / peer.best:.2f}x" if peer else "-"
        pair = paired(r, peer) if peer else "-"
        rss = "-" if r.peak_rss is None else f"{r.peak_rss / 2**20:.0f} MiB"
        acc = "-" if r.accuracy is None else f"{100 * r.accuracy:.2f}%"
        lines.append(f"{r.name:<22}{r.best:>9.3f}{ratio:>12}{pair:>8}{flops / r.best / 1e9:>9.1f}{rss:>11}{acc:>10}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per implementation; s/epoch is the best")
    parser.add_argument("--rounds", type=int, default=1, help="run every implementation this many times, in turn")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--devices", help="comma-separated xpnet devices (default: every usable one but strict)")
    parser.add_argument("--skip", default="", help="comma-separated: torch, sklearn, xpnet")
    parser.add_argument("--eager", action="store_true", help="GPU devices also with compile=False (no CUDA graphs)")
    parser.add_argument("--graphs", action="store_true",
                        help="PyTorch CUDA also with its step captured by hand, and with torch.compile reduce-overhead")  # fmt: skip
    parser.add_argument("--sweep", action="store_true", help="sweep hidden size and batch size instead")
    parser.add_argument("--plot", default="sweep.png", help="where --sweep draws its plot")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args)
    if args.sweep:
        from sweep import sweep

        return sweep(args)
    (x, y), (xt, yt) = xpnet.datasets.load_mnist()
    sizes = (784, args.hidden, 10)
    flops = flops_per_epoch(x.shape[0], sizes)
    skip = set(filter(None, args.skip.split(",")))
    usable = [d for d in xpnet.devices() if not d.startswith("strict") and d != "torch:meta"]
    devices = args.devices.split(",") if args.devices else usable
    # JAX's CPU runtime keeps threads that compete with the others' BLAS: JAX rows run last.
    later = [d for d in devices if d.startswith("jax")]
    devices = [d for d in devices if d not in later]
    print(f"reference job: MNIST {x.shape[0]} x {sizes}, batch {args.batch_size}, {args.dtype}, "
          f"{args.epochs} epochs x {args.rounds} round(s) each; {flops / 1e9:.0f} GFLOP/epoch")  # fmt: skip
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    jobs: list[tuple[str, Callable[[], tuple[list[float], float | None]]]] = []
    if "xpnet" not in skip:
        jobs += [(f"xpnet ({d})", lambda d=d: run_xpnet(d, args)) for d in devices]
        jobs += [(f"xpnet ({d}, eager)", lambda d=d: run_xpnet(d, args, compile=False))
                 for d in devices if args.eager and _on_gpu(d) and not d.startswith("jax")]  # fmt: skip
    on_gpu = any(_on_gpu(spec) for spec in devices + later)
    if "torch" not in skip:
        jobs += [(f"pytorch ({d})", lambda d=d: run_torch(d, x, y, xt, yt, args)) for d in ("cpu", "cuda")
                 if d == "cpu" or on_gpu]  # fmt: skip
        if on_gpu and args.graphs:
            jobs += [("pytorch (cuda, graph)", lambda: run_torch_graph(x, y, xt, yt, args)),
                     ("pytorch (cuda, compile)", lambda: run_torch_compiled(x, y, xt, yt, args))]  # fmt: skip
    if "sklearn" not in skip:
        jobs.append(("scikit-learn", lambda: run_sklearn(x, y, xt, yt, args)))
    rows = rounds(jobs, args.rounds)
    rate, shape = gemm_rate(args.batch_size, sizes, args.dtype)
    if "xpnet" not in skip:
        alone = rounds([(f"xpnet ({d})", lambda d=d: run_xpnet(d, args)) for d in later], args.rounds)
        for row in alone:
            row.paired = False
        rows += alone
    rows.append(Row("GEMM floor", [flops / rate], None))
    print(table(rows, flops))
    print("vs PyTorch: against pytorch (cuda) for GPU rows, pytorch (cpu) for the others; paired (with --rounds 2 or "
          "more): the median over rounds of the ratio of the two rows' best epochs in the same round")  # fmt: skip
    print(f"GEMM floor: {flops / 1e9:.0f} GFLOP at the best {args.dtype} matmul rate measured here, "
          f"{rate / 1e9:.1f} GFLOP/s (NumPy, shape {shape})")  # fmt: skip
    print("peak RSS: growth of this process's resident memory while each implementation ran (data already loaded)")
    print(memory_report(args))


if __name__ == "__main__":
    main()
