"""A GPU user's first call, each in a fresh process: ``xpnet.train("mnist", device=D, epochs=3)`` with every other
default, then ``xpnet.evaluate``. Prints the wall time from ``import xpnet`` to the evaluation (compilation, CUDA
and cuBLAS start-up included), the test accuracy, on JAX the programs compiled, and the host memory the training
grew by over a baseline taken after the device, its kernels and its matrix library were warmed up (what any
library on that GPU pays), beside the same for native PyTorch CUDA. A JAX device runs twice, keeping its compiled
programs on disk as ``xpnet train`` does (:mod:`xpnet.backend.program_cache`): the second process loads them.

    python benchmarks/first_run.py --devices cuda,torch:cuda,jax:cuda

Not collected by pytest; figures to read, never assertions.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Peak:
    """The largest RSS growth over ``base`` while the block runs (sampled every 2 ms)."""

    def __init__(self, base: int) -> None:
        self.base, self.peak, self._stop = base, 0, threading.Event()

    def __enter__(self) -> Peak:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss() - self.base)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss() - self.base)


def warm(device: str) -> None:
    """Start the device's runtime, matrix library and elementwise kernels with work of the job's shapes."""
    if device == "pytorch":
        import torch

        a = torch.ones((128, 784), device="cuda")
        (torch.relu(a @ torch.ones((784, 1024), device="cuda")) + 1).sum().item()
        return
    import xpnet

    backend = xpnet.backend.resolve(device)
    with backend.activate():
        a = backend.asarray(np.ones((128, 784), np.float32))
        b = backend.asarray(np.ones((784, 1024), np.float32))
        xpnet.to_numpy(backend.xp.sum(backend.xp.maximum(xpnet.backend.matmul(a, b), 0.0) + 1.0))


def child(device: str, epochs: int, keep: str | None) -> None:
    began = time.perf_counter()
    events: collections.Counter[str] = collections.Counter()
    if device.startswith("jax"):
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(lambda event, seconds, **kw: events.update([event]))
    import xpnet

    if keep:  # as `xpnet train` does on JAX: compiled programs kept on disk for the next process
        xpnet.backend.use_program_cache(keep)

    warm(device)
    warmed, base = time.perf_counter() - began, rss()
    with Peak(base) as memory:
        if device == "pytorch":
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from peers import run_torch

            (x, y), (xt, yt) = xpnet.datasets.load_mnist()
            settings = argparse.Namespace(hidden=1024, batch_size=128, epochs=epochs, dtype="float32")
            seconds, accuracy = run_torch("cuda", x, y, xt, yt, settings)
            step = "eager"
        else:
            result = xpnet.train("mnist", device=device, epochs=epochs, progress=False, verbose=0)
            seconds, accuracy, step = result.history["seconds"], result.test.accuracy, result.history.meta["step"]
    extra = {}
    if device.startswith(("cuda", "cupy")):
        import cupy

        extra["pinned_blocks"] = cupy.get_default_pinned_memory_pool().n_free_blocks()
    print(json.dumps({"device": device, "wall": time.perf_counter() - began, "warm_up": warmed, "epochs": seconds,
                      "accuracy": accuracy, "compiles": events["/jax/core/compile/backend_compile_duration"],
                      "loaded": events["/jax/compilation_cache/cache_retrieval_time_sec"], "base_rss": base, "peak_growth": memory.peak,
                      "step": step} | extra))  # fmt: skip


def report(device: str, epochs: int, keep: str | None = None, name: str | None = None) -> None:
    """Run ``device``'s first call in a fresh process and print its row."""
    command = [
        sys.executable,
        __file__,
        "--child",
        device,
        "--epochs",
        str(epochs),
        *(["--keep", keep] if keep else []),
    ]
    fresh = {
        k: v for k, v in os.environ.items() if k not in ("JAX_COMPILATION_CACHE_DIR", "JAX_ENABLE_COMPILATION_CACHE")
    }
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=fresh)  # nothing kept before
    name, mib = name or device, 2**20
    if done.returncode != 0:
        print(f"{name:<16}failed: {done.stderr.strip().splitlines()[-1:]}")
        return
    r = json.loads(done.stdout.strip().splitlines()[-1])
    epochs_s = " ".join(f"{s:.2f}" for s in r["epochs"])
    pinned = f"  pinned blocks kept: {r['pinned_blocks']}" if "pinned_blocks" in r else ""
    programs = f"{r['compiles'] - r['loaded']}/{r['loaded']}" if device.startswith("jax") else "-"  # JAX counts both
    print(f"{name:<16}{r['wall']:>8.1f}{r['warm_up']:>11.1f}{epochs_s:>22}{100 * r['accuracy']:>9.2f}%"
          f"{programs:>10}{r['base_rss'] / mib:>8.0f} MiB{r['peak_growth'] / mib:>8.0f} MiB  {r['step']}{pinned}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="cuda,torch:cuda,jax:cuda")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--keep", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.epochs, args.keep)
    print(f"{'run':<16}{'wall s':>8}{'warm-up s':>11}{'epochs s':>22}{'test acc':>10}{'programs':>10}"
          f"{'base RSS':>11}{'RSS growth':>12}  step")  # fmt: skip
    for device in [*filter(None, args.devices.split(",")), "pytorch"]:
        if not device.startswith("jax"):
            report(device, args.epochs)
            continue
        with tempfile.TemporaryDirectory() as keep:  # JAX: a first process, then a second loading its programs
            report(device, args.epochs, keep)
            report(device, args.epochs, keep, f"{device}, 2nd")
    print(
        "wall: from the process start to the test accuracy; RSS growth: during training, over the RSS after the "
        "warm-up (runtime, cuBLAS and kernels started: what any library pays); pytorch: native PyTorch CUDA; "
        "programs (JAX): compiled/loaded from disk, each JAX run keeping its programs as `xpnet train` does, the "
        "2nd a later process"
    )


if __name__ == "__main__":
    main()
