"""Where the reference step's time goes on PyTorch's CPU, and whether its products would run faster through NumPy's
OpenBLAS: the step xpnet runs on ``torch:cpu`` (SGD momentum, L2, weights column-major and the layers' outputs and
input gradients laid out as them) written out as the PyTorch operations it dispatches, each timed, then the same
step with its matrix products computed by OpenBLAS on NumPy views of the same tensors (with PyTorch's threads as
they are, and with one PyTorch thread).

    python benchmarks/cpu_step.py                # MLP 784-1024-10, batch 128, float32
    python benchmarks/cpu_step.py --rounds 5

Not collected by pytest; figures to read, never assertions. Where ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` are
set for an old OpenBLAS, unset them in this one command to measure the native kernels.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from layouts import steps
from peers import torch_job

from xpnet.backend.host_blas import host_blas
from xpnet.backend.step_ops import softmax_cross_entropy

PARTS = ("forward 1", "relu", "forward 2", "cross-entropy and its gradient", "weight gradient 2", "bias gradient 2",
         "input gradient 2", "relu backward", "weight gradient 1", "bias gradient 1", "L2 into velocity 1", "update 1",
         "the other updates")  # fmt: skip
PRODUCTS = ("forward 1", "forward 2", "weight gradient 2", "input gradient 2", "weight gradient 1")


def step_parts(torch: Any, sizes: tuple[int, int, int], batch: int, blas: Any = None) -> Callable[[], list[float]]:
    """One step as (name, operation) pairs timed one by one; ``blas`` computes the products instead of PyTorch."""
    aten, gen = torch.ops.aten, torch.Generator().manual_seed(0)
    d_in, hidden, k = sizes
    x, y = torch.rand(batch, d_in, generator=gen), torch.randint(0, k, (batch,), generator=gen)
    W1, W2 = (torch.randn(hidden, d_in, generator=gen) * 0.03).T, (torch.randn(k, hidden, generator=gen) * 0.03).T
    b1, b2, V1, V2 = torch.zeros(hidden), torch.zeros(k), torch.zeros(hidden, d_in).T, torch.zeros(k, hidden).T
    vb1, vb2, ones = torch.zeros(hidden), torch.zeros(k), torch.ones(batch)
    lr, l2, mu = 0.05, 1e-4, 0.9

    def affine(a: Any, w: Any, b: Any) -> Any:  # a @ w + b laid out as w, column-major: (wᵀ @ aᵀ + b)ᵀ
        if blas is None:
            return aten.addmm.default(b[:, None], w.T, a.T).T
        out = torch.empty(w.shape[1], a.shape[0])
        out.numpy()[...] = b.numpy()[:, None]
        blas.gemm(w.T.numpy(), a.T.numpy(), out.numpy(), 1.0)
        return out.T

    def into(a: Any, b: Any, out: Any, beta: float) -> Any:
        return out.addmm_(a, b, beta=beta) if blas is None else blas.gemm(a.numpy(), b.numpy(), out.numpy(), beta)

    def product(a: Any, b: Any) -> Any:  # a @ b laid out column-major, as the hidden layer's output: (bᵀ @ aᵀ)ᵀ
        if blas is None:
            return torch.mm(b.T, a.T).T
        out = torch.empty(b.shape[1], a.shape[0])
        blas.gemm(b.T.numpy(), a.T.numpy(), out.numpy(), 0.0)
        return out.T

    def step() -> list[float]:
        s: dict[str, Any] = {}
        calls: list[Callable[[], Any]] = [  # in the order of PARTS
            lambda: s.update(z1=affine(x, W1, b1)),
            lambda: s.update(h=aten.relu.default(s["z1"])),
            lambda: s.update(z2=affine(s["h"], W2, b2)),
            lambda: s.update(d2=softmax_cross_entropy(s["z2"], y)[1]),  # xpnet's: PyTorch's own 4 kernels
            lambda: into(s["h"].T, s["d2"], V2, mu),
            lambda: vb2.addmv_(s["d2"].T, ones, beta=mu),
            lambda: s.update(dx=product(s["d2"], W2.T)),
            lambda: s.update(dz=aten.threshold_backward.default(s["dx"], s["z1"], 0)),
            lambda: into(x.T, s["dz"], V1, mu),
            lambda: vb1.addmv_(s["dz"].T, ones, beta=mu),
            lambda: V1.add_(W1, alpha=l2),
            lambda: W1.add_(V1, alpha=-lr),
            lambda: (V2.add_(W2, alpha=l2), W2.add_(V2, alpha=-lr), b1.add_(vb1, alpha=-lr), b2.add_(vb2, alpha=-lr)),
        ]
        assert len(calls) == len(PARTS)
        times = []
        for call in calls:
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
        return times

    return step


def timed(call: Callable[[], Any]) -> Callable[[], list[float]]:
    """``call`` as a step of one part, timed whole."""

    def step() -> list[float]:
        began = time.perf_counter()
        call()
        return [time.perf_counter() - began]

    return step


def pytorch_step(torch: Any, sizes: tuple[int, int, int], batch: int) -> Callable[[], list[float]]:
    """PyTorch's own step on the same job (``benchmarks/peers.py``'s): autograd, ``torch.optim.SGD``, timed whole."""
    _, model, opt, _ = torch_job("cpu", argparse.Namespace(dtype="float32", hidden=sizes[1]))
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(batch, sizes[0], generator=gen), torch.randint(0, sizes[2], (batch,), generator=gen)

    def call() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return timed(call)


def mean_parts(step: Callable[[], list[float]], rounds: int, repeat: int) -> np.ndarray:
    """µs per part, each the best round's mean over ``repeat`` steps."""
    for _ in range(10):
        step()
    best = None
    for _ in range(rounds):
        parts = np.mean([step() for _ in range(repeat)], axis=0) * 1e6
        best = parts if best is None or parts.sum() < best.sum() else best
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="each figure is the best of this many")
    parser.add_argument("--repeat", type=int, default=100, help="steps timed in one round")
    args = parser.parse_args()
    import torch

    sizes, threads = (784, args.hidden, 10), torch.get_num_threads()
    blas = host_blas()
    print(f"reference step: MLP {'-'.join(map(str, sizes))}, batch {args.batch_size}, float32; µs per step, best of "
          f"{args.rounds} rounds of {args.repeat} steps; PyTorch {torch.__version__}, {threads} threads")  # fmt: skip
    native = mean_parts(step_parts(torch, sizes, args.batch_size), args.rounds, args.repeat)
    names = PARTS
    flops = {"forward 1": sizes[0] * sizes[1], "weight gradient 1": sizes[0] * sizes[1]}
    print(f"{'part':<34}{'µs':>8}{'share':>8}{'GFLOP/s':>9}")
    for name, us in zip(names, native):
        rate = f"{2 * args.batch_size * flops[name] / us / 1e3:>9.0f}" if name in flops else ""
        print(f"{name:<34}{us:>8.0f}{us / native.sum():>8.0%}{rate}")
    share = sum(us for name, us in zip(names, native) if name in PRODUCTS) / native.sum()
    print(f"{'the whole step':<34}{native.sum():>8.0f}   matrix products {share:.0%} of it")
    peer = mean_parts(pytorch_step(torch, sizes, args.batch_size), args.rounds, args.repeat).sum()
    label = "PyTorch's own step (autograd, SGD)"
    print(f"{label:<34}{peer:>8.0f}   the step above takes {native.sum() / peer:.2f}x of it")
    own = mean_parts(timed(steps("torch:cpu", list(sizes), args.batch_size, True)), args.rounds, args.repeat).sum()
    print(f"{'xpnet train_step (torch:cpu)':<34}{own:>8.0f}   {own / peer:.2f}x PyTorch's step")
    if blas is None:
        print("NumPy's OpenBLAS not found: no comparison")
        return
    mixed = mean_parts(step_parts(torch, sizes, args.batch_size, blas), args.rounds, args.repeat).sum()
    torch.set_num_threads(1)
    single = mean_parts(step_parts(torch, sizes, args.batch_size, blas), args.rounds, args.repeat).sum()
    alone = mean_parts(step_parts(torch, sizes, args.batch_size), args.rounds, args.repeat).sum()
    torch.set_num_threads(threads)
    print(f"products through NumPy's OpenBLAS, PyTorch's {threads} threads beside its pool: {mixed:>8.0f} µs "
          f"({mixed / native.sum():.2f}x)")  # fmt: skip
    print(f"the same with 1 PyTorch thread:                             {single:>8.0f} µs "
          f"({single / native.sum():.2f}x; PyTorch alone on 1 thread {alone:.0f} µs)")  # fmt: skip


if __name__ == "__main__":
    main()
