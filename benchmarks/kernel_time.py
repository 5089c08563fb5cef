"""Where a training step's device time goes, kernel by kernel: one epoch of the large-net job (``large_net.py``'s
data, model and settings) for xpnet on each device and for native PyTorch, each under PyTorch's profiler, which on
CUDA sees every kernel of the process (CuPy's, cuBLAS's, xpnet's fused kernels). Each implementation's kernels are
listed by time per step: the rows that differ between xpnet and PyTorch are where a ratio above 1.00x comes from.

    python benchmarks/kernel_time.py --devices cuda,torch:cuda --precision tf32       # on a GPU
    python benchmarks/kernel_time.py --devices torch:cpu --precision highest --samples 2048 --batch-size 512 --sizes 64,128,128,10

xpnet's steps run operation by operation (``compile=False``): a captured graph runs the same kernels, and the
profiler's view of kernels inside a graph depends on the CUDA version. On JAX the step runs as it trains, one
compiled program: with the reference job's sizes, the wall time per step beside the kernels' says whether the
host or the device sets the pace (``--devices jax:cuda --sizes 784,1024,10 --batch-size 128 --samples 60000
--precision highest``, the GPU job's ``kernels-jax`` step). On a CPU the rows are PyTorch's top-level
operators and their CPU time (a dry run of this script). Not collected by pytest; figures to read, never assertions.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import large_net

from xpnet.backend.step_ops import fused_relu_verdicts


def profiled(run: Callable[[], Any], on_gpu: bool) -> tuple[Counter[str], Counter[str], float]:
    """Device time (µs) and calls of each kernel ``run()`` launched (on a CPU: each top-level operator), and the
    wall seconds it took under the profiler."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    with profile(activities=activities) as prof:
        began = time.perf_counter()
        run()
        wall = time.perf_counter() - began
    micros: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for event in prof.events():
        if on_gpu and event.device_type != DeviceType.CUDA:
            continue
        if not on_gpu and event.cpu_parent is not None:  # on a CPU: operators called by the step itself
            continue
        micros[event.name] += event.time_range.elapsed_us()
        calls[event.name] += 1
    return micros, calls, wall


def table(name: str, micros: Counter[str], calls: Counter[str], steps: int, top: int) -> list[str]:
    """The kernels taking most time per step, then the rest; copies are rows like any other, and calls per step
    below 1 mark the kernels run once per epoch (what runs once per run is gone from the difference)."""
    total = sum(micros.values()) / steps
    lines = [f"{name}: {total:,.0f} µs of device time per step, {sum(calls.values()) / steps:.1f} kernels per step"]
    for kernel, spent in micros.most_common(top):
        per_step = spent / steps
        lines.append(f"  {per_step:>9,.1f} µs {per_step / max(total, 1e-9):>5.0%} {calls[kernel] / steps:>6.2f}/step  "
                     f"{kernel[:90]}")  # fmt: skip
    rest = total - sum(spent for _, spent in micros.most_common(top)) / steps
    lines.append(f"  {rest:>9,.1f} µs {rest / max(total, 1e-9):>5.0%}  the other {max(len(micros) - top, 0)} kernels")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="cuda,torch:cuda", help="xpnet devices, comma-separated")
    parser.add_argument("--precision", default="tf32", choices=("highest", "tf32", "bf16"))
    parser.add_argument("--samples", type=int, default=32768, help="one epoch of this many samples is profiled")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--sizes", default=",".join(map(str, large_net.SIZES)), help="layer widths, input first")
    parser.add_argument("--top", type=int, default=12, help="kernels listed per implementation")
    args = parser.parse_args()
    import torch

    on_gpu = torch.cuda.is_available()
    large_net.SIZES = tuple(int(s) for s in args.sizes.split(","))
    x, y = large_net.data(args.samples)
    steps = math.ceil(args.samples / args.batch_size)
    print(f"large-net step: {large_net.SIZES}, batch {args.batch_size}, precision {args.precision}; one epoch of "
          f"{steps} steps each, {'CUDA kernels' if on_gpu else 'CPU operators (no GPU here)'} by time per step (a run of 2 epochs less a run of 1)")  # fmt: skip
    jobs: list[tuple[str, Callable[[], Any]]] = [
        (
            f"xpnet ({spec})",
            lambda spec=spec: large_net.run_xpnet(spec, args.precision, x, y, args, compile=spec.startswith("jax")),
        )
        for spec in filter(None, args.devices.split(","))
    ]
    jobs.append((f"pytorch ({'cuda' if on_gpu else 'cpu'})", lambda: large_net.run_torch(args.precision, x, y, args)))
    for name, run in jobs:
        args.epochs = 1
        try:
            run()  # warm-up: kernels compiled, libraries started, memory pools grown
        except Exception as exc:  # a precision a device lacks (bf16 on CuPy) is a line, not the end
            print(f"\n{name}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        once = profiled(run, on_gpu)  # a failure from here on (the profiler's) fails the script
        args.epochs = 2
        twice = profiled(run, on_gpu)
        # a run of two epochs less a run of one: one epoch's steps, without what a run does once (data moved to the
        # device, weights made, the test set evaluated)
        calls = twice[1] - once[1]
        micros = Counter({k: v for k, v in (twice[0] - once[0]).items() if calls[k] > 0})  # not timing noise
        print()
        if micros:
            print("\n".join(table(name, micros, calls, steps, args.top)))
        else:
            print(f"{name}: the profiler sees PyTorch's and CUDA's work only")
        print(f"  (under the profiler: {(twice[2] - once[2]) / steps * 1e3:.2f} ms of wall time per step)")
    verdicts = fused_relu_verdicts()  # PyTorch's fused product and ReLU: used, or the two run apart (its check)
    for case, used in verdicts.items():
        print(
            f"fused ReLU on {case}: {'used' if used else 'run apart: the device check found it differs from relu(addmm)'}"
        )
    print("\nµs: device time per step (an epoch's kernels summed, divided by its steps); /step: calls per step")


if __name__ == "__main__":
    main()
