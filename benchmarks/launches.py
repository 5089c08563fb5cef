"""Kernel launches and time per training step of the reference job on CUDA: xpnet on each device beside native
PyTorch, counted by PyTorch's profiler (CUPTI sees every kernel of the process, CuPy's and cuBLAS's too).

A small MLP's step on a GPU is launch-bound when launches x ~5 us approaches the step time: that is the case CUDA
graphs (one launch per step) are for. Each device is measured operation by operation and captured as a graph:

    python benchmarks/launches.py --devices cuda,torch:cuda      # on a GPU (PyTorch with CUDA)
    python benchmarks/launches.py --devices torch:cpu --steps 5  # no GPU: PyTorch's operators, a dry run

Without a GPU the rows count PyTorch's top-level operators on its CPU (the graph rows say why there are none): the
script runs in the GPU job's dry run, so it cannot rot between GPU sessions. Not collected by pytest; figures to
read, never assertions.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from kernel_time import profiled

import xpnet
from xpnet.nn.backprop import TRAINING
from xpnet.optim import make_optimizer
from xpnet.training.step import train_step


def xpnet_step(spec: str, args: argparse.Namespace) -> tuple[Any, Any]:
    """One reference-job step on ``spec`` (device-resident batch) and the function that waits for the device."""
    model = xpnet.MLP((784, args.hidden, 10), device=spec, seed=0)
    opt = make_optimizer("momentum", 0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    backend = model.backend
    x = backend.asarray(rng.random((args.batch_size, 784), dtype=np.float32))
    y = backend.asarray(rng.integers(0, 10, args.batch_size))

    def step() -> None:
        with backend.activate():
            train_step(model, opt, x, y, 1e-4, context=TRAINING)

    def sync() -> None:
        xpnet.to_numpy(model.params[-1])  # a host read waits for every queued step

    return step, sync


def xpnet_graph_step(spec: str, args: argparse.Namespace) -> tuple[Any, Any]:
    """The same step captured as a CUDA graph (xpnet.training.captured), the batch gathered inside the graph."""
    from xpnet.data.batches import Batches
    from xpnet.training.captured import CapturedSteps

    model = xpnet.MLP((784, args.hidden, 10), device=spec, seed=0)
    opt = make_optimizer("momentum", 0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    per_epoch = 20
    x = rng.random((args.batch_size * per_epoch, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.batch_size * per_epoch)
    batches = Batches(x, y, model.backend, model.dtype, batch_size=args.batch_size, rng=rng, placement="device")
    captured, reason = CapturedSteps.build(model, opt, batches, 1e-4, None, 0, False)
    if captured is None:
        raise LookupError(reason or "this device has no CUDA graphs")
    done = [0]

    def step() -> None:
        i = done[0] % per_epoch
        with model.backend.activate():
            if i == 0:
                captured.start_epoch(batches.epoch_order(), 0, done[0], lambda s: 0.05)
            with captured.scope():
                captured.step(i)
        done[0] += 1

    def sync() -> None:
        xpnet.to_numpy(model.params[-1])

    return step, sync


def torch_step(args: argparse.Namespace, device: str) -> tuple[Any, Any]:
    """The same step in idiomatic PyTorch (nn.Linear, F.cross_entropy, torch.optim.SGD)."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 10))
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    x = torch.rand(args.batch_size, 784, device=device)
    y = torch.randint(0, 10, (args.batch_size,), device=device)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, (torch.cuda.synchronize if device == "cuda" else (lambda: None))


def measure(name: str, step: Any, sync: Any, steps: int, on_gpu: bool) -> str:
    """µs per step, then kernels and copies per step under PyTorch's profiler (on a CPU: top-level operators)."""
    for _ in range(5):  # warm-up: kernels compiled, buffers allocated
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    per_step = (time.perf_counter() - start) / steps

    def run() -> None:
        for _ in range(steps):
            step()
        sync()

    _, calls, _ = profiled(run, on_gpu)
    moved = sum(n for kernel, n in calls.items() if "memcpy" in kernel.lower() or "memset" in kernel.lower())
    kernels, copies = (sum(calls.values()) - moved) / steps, moved / steps
    seen = "" if kernels else "  (the profiler saw no kernels of this library)"
    return f"{name:<22}{per_step * 1e6:>10.1f}{kernels:>10.1f}{copies:>10.1f}{kernels * 5.0:>14.0f}{seen}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="cuda,torch:cuda", help="comma-separated xpnet CUDA devices")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    import torch

    on_gpu = torch.cuda.is_available()
    peer = "cuda" if on_gpu else "cpu"
    print(f"reference step: MLP 784-{args.hidden}-10, batch {args.batch_size}, float32, SGD momentum; {args.steps} "
          f"steps{'' if on_gpu else '; no GPU here: PyTorch operators on its CPU counted as kernels (a dry run)'}")  # fmt: skip
    print(f"{'implementation':<22}{'us/step':>10}{'kernels':>10}{'copies':>10}{'launch us@5':>14}")
    for spec in filter(None, args.devices.split(",")):
        print(measure(f"xpnet ({spec})", *xpnet_step(spec, args), args.steps, on_gpu), flush=True)
        try:
            graph = xpnet_graph_step(spec, args)
        except LookupError as exc:
            print(f"{'xpnet (' + spec + ', graph)':<22}  not captured here: {exc}", flush=True)
        else:
            print(measure(f"xpnet ({spec}, graph)", *graph, args.steps, on_gpu), flush=True)
    print(measure(f"pytorch ({peer})", *torch_step(args, peer), args.steps, on_gpu))
    print(
        "kernels, copies: per step (inside the graph for the graph rows, the batch gather included there); launch "
        "us@5: kernels x 5 us, what launching each from the host costs"
    )


if __name__ == "__main__":
    main()
