"""The reference job's matrix products and updates with a dense layer's weights stored row-major, ``(fan_in,
fan_out)`` C-contiguous, and column-major, its ``(fan_out, fan_in)`` transpose seen through ``.T`` (what
:mod:`xpnet.backend.layout` does): the same calls xpnet's step makes (``affine``, ``matmul_into`` with ``beta``,
``matmul``, ``axpy``), on NumPy (its own OpenBLAS) and on PyTorch's CPU (MKL) where installed, the two layouts
taking turns in every round.

    python benchmarks/layouts.py                 # MLP 784-1024-10, batch 128, float32
    python benchmarks/layouts.py --rounds 9

Not collected by pytest; figures to read, never assertions. Where ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` are
set for an old OpenBLAS, unset them in this one command to measure the native kernels.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import xpnet
from xpnet.backend import kernels
from xpnet.backend.kernels import affine, axpy, matmul_as, matmul_into
from xpnet.nn.backprop import TRAINING
from xpnet.optim import make_optimizer
from xpnet.training.step import train_step

DEFAULT_ARCH = {"dropout": 0.0, "norm": None, "activation": "relu"}


def products(
    xp: Any,
    rng: np.random.Generator,
    fan_in: int,
    fan_out: int,
    batch: int,
    place: tuple[bool, bool],
    column_major: bool,
) -> dict[str, Callable[[], Any]]:
    """One dense layer's step products on ``xp`` (``numpy`` or ``torch``), weights in the given layout; ``place``:
    whether it is the first layer (its input is the batch, row-major; it computes no input gradient) and the last
    (the gradient it gets is the loss's, row-major)."""
    first, last = place

    def array(*shape: int) -> Any:
        return xp.asarray(rng.standard_normal(shape).astype(np.float32))

    def stored(rows: int, cols: int) -> Any:  # a (rows, cols) parameter in the layout under test
        return array(cols, rows).T if column_major else array(rows, cols)

    # a hidden layer's input is the layer before's output, laid out as its weights (xpnet.backend.layout)
    x = array(batch, fan_in) if first else stored(batch, fan_in)
    dy, b = array(batch, fan_out) if last else stored(batch, fan_out), array(fan_out)
    W, V = stored(fan_in, fan_out), stored(fan_in, fan_out)
    calls = {
        "forward  x @ W + b": lambda: affine(x, W, b),
        "weight gradient  V = x.T @ dy + 0.9·V": lambda: matmul_into(x.T, dy, V, 0.9),
        "input gradient  dy @ W.T": lambda: matmul_as(dy, W.T, x),
        "update  W += -0.05·V": lambda: axpy(-0.05, V, W),
    }
    if first:
        del calls["input gradient  dy @ W.T"]
    return calls


def steps(
    spec: str, sizes: list[int], batch: int, column_major: bool, follow: bool = True, **arch: Any
) -> Callable[[], Any]:
    """xpnet's whole training step (SGD momentum, L2) on ``spec`` with its parameters in the given layout: the
    model's own (column-major) or row-major copies; the optimizer's buffers follow the parameters' strides. With
    ``follow`` False, the layers' outputs and input gradients are made row-major whatever the weights' layout (as
    before 2026-12-05), where they follow it (``kernels.OUTPUTS_FOLLOW_LAYOUT``); ``arch``: ``MLP``'s dropout,
    norm, activation."""
    model = xpnet.MLP(sizes, device=spec, seed=0, **arch)
    if not column_major:
        model.params[:] = [
            np.ascontiguousarray(p) if isinstance(p, np.ndarray) else p.contiguous() for p in model.params
        ]
    optimizer = make_optimizer("momentum", 0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = model.backend.asarray(rng.random((batch, sizes[0]), dtype=np.float32))
    y = model.backend.asarray(rng.integers(0, sizes[-1], batch))

    def step() -> Any:
        before, kernels.OUTPUTS_FOLLOW_LAYOUT = kernels.OUTPUTS_FOLLOW_LAYOUT, follow
        try:
            return train_step(model, optimizer, x, y, 1e-4, context=TRAINING)
        finally:
            kernels.OUTPUTS_FOLLOW_LAYOUT = before

    return step


def compare(layouts: list[Any], rounds: int, repeat: int) -> tuple[float, float]:
    """Best µs per call of the row-major and the column-major callable, taking turns in every round."""
    best = [float("inf"), float("inf")]
    for _ in range(rounds):  # a busy spell of the machine hits both
        for i, call in enumerate(layouts):
            best[i] = min(best[i], best_microseconds(call, repeat))
    return best[0], best[1]


def best_microseconds(call: Callable[[], Any], repeat: int) -> float:
    for _ in range(5):
        call()
    began = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - began) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="784,1024,10", help="layer widths, input first")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5, help="each figure is the best of this many")
    parser.add_argument("--repeat", type=int, default=50, help="calls timed together in one round")
    parser.add_argument("--dropout", type=float, default=0.0, help="the last rows' networks: dropout after each ReLU")
    parser.add_argument("--norm", choices=["batch", "layer"], help="the last rows' networks: normalization layers")
    parser.add_argument("--activation", default="relu", help="the last rows' networks: their activation")
    args = parser.parse_args()
    arch = {"dropout": args.dropout, "norm": args.norm, "activation": args.activation}
    sizes = [int(s) for s in args.sizes.split(",")]
    namespaces: list[tuple[str, str, Any]] = [("numpy (OpenBLAS)", "cpu", np)]
    try:
        import torch

        namespaces.append((f"torch:cpu ({torch.get_num_threads()} threads)", "torch:cpu", torch))
    except ImportError:
        pass
    print(f"dense layers {sizes}, batch {args.batch_size}, float32; µs per call, best of {args.rounds} rounds")
    print(f"{'library':<24}{'layer':<11}{'operation':<42}{'row-major':>10}{'col-major':>10}{'ratio':>8}")
    for library, spec, xp in namespaces:
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            rng = np.random.default_rng(0)
            place = (layer == 0, layer == len(sizes) - 2)
            layouts = [products(xp, rng, fan_in, fan_out, args.batch_size, place, column_major)
                       for column_major in (False, True)]  # fmt: skip
            for name in layouts[0]:
                row, column = compare([calls[name] for calls in layouts], args.rounds, args.repeat)
                print(
                    f"{library:<24}{f'{fan_in}x{fan_out}':<11}{name:<42}{row:>10.0f}{column:>10.0f}{column / row:>7.2f}x"
                )
        whole = [steps(spec, sizes, args.batch_size, column_major) for column_major in (False, True)]
        row, column = compare(whole, args.rounds, max(args.repeat // 5, 1))
        print(
            f"{library:<24}{'all':<11}{'the training step (train_step)':<42}{row:>10.0f}{column:>10.0f}{column / row:>7.2f}x"
        )
        outputs = [steps(spec, sizes, args.batch_size, True, follow, **arch) for follow in (False, True)]
        row, column = compare(outputs, args.rounds, max(args.repeat // 5, 1))
        name = "the step, col-major weights; activations" + ("*" if arch != DEFAULT_ARCH else "")
        print(f"{library:<24}{'all':<11}{name:<42}{row:>10.0f}{column:>10.0f}{column / row:>7.2f}x")
    if arch != DEFAULT_ARCH:
        print(f"*: networks with {arch}")
    print(
        "ratio: column-major time / row-major time (below 1: column-major, xpnet's layout, is faster); the last row of"
        " each library: the layers' outputs and input gradients row-major or column-major, as the weights (xpnet's)"
    )


if __name__ == "__main__":
    main()
