"""Operations per training step of the reference job (MLP 784-1024-10, batch 128, SGD momentum, L2), counted on a
CPU: no GPU needed. A proxy for the GPU kernel counts that ``launches.py`` measures on a GPU, to follow between
GPU runs what a change adds or saves:

- ``xpnet (torch:cpu)``: PyTorch dispatcher operations of the step run operation by operation, and of the captured
  step's body (batch gather, step, metrics: what a CUDA graph records on ``torch:cuda``), views not counted;
- ``xpnet (cuda, stand-in)``: the CuPy stand-in's kernels of the same two (each elementwise operation or
  reduction, each ``cupy.fuse`` kernel and each cuBLAS call counts one; allocations and views none).

    python benchmarks/op_counts.py

Not collected by pytest; figures to read, never assertions. PyTorch's own CPU step is not a peer here: on CUDA its
optimizer runs multi-tensor kernels and ``addmm`` a fused bias epilogue, so only GPU counts compare with it.
"""

from __future__ import annotations

import argparse
import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import xpnet
from xpnet.optim import make_optimizer

_VIEWS = {"view", "_unsafe_view", "permute", "t", "transpose", "unsqueeze", "squeeze", "reshape", "select", "slice",
          "expand", "alias", "detach", "as_strided"}  # fmt: skip
_NO_KERNEL = {"empty", "reshape"}  # the stand-in's allocations and views


@contextlib.contextmanager
def torch_ops() -> Iterator[Counter[str]]:
    """PyTorch dispatcher operations run in the block, by name, views left out."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: Counter[str] = Counter()

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            name = func.overloadpacket.__name__
            if name not in _VIEWS:
                seen[name] += 1
            return func(*args, **(kwargs or {}))

    with Count():
        yield seen


def reference(spec: str, args: argparse.Namespace) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    model = xpnet.MLP((784, args.hidden, 10), device=spec, seed=0)
    rng = np.random.default_rng(0)
    x = rng.random((args.batch_size * 4, 784), dtype=np.float32)
    return model, make_optimizer("momentum", 0.05, momentum=0.9), x, rng.integers(0, 10, args.batch_size * 4)


def eager_step(spec: str, args: argparse.Namespace) -> Callable[[], None]:
    """The step operation by operation on a device-resident batch (launches.py's eager row)."""
    from xpnet.nn.backprop import TRAINING
    from xpnet.training.step import train_step

    model, opt, x, y = reference(spec, args)
    xb, yb = model.backend.asarray(x[: args.batch_size]), model.backend.asarray(y[: args.batch_size])

    def step() -> None:
        with model.backend.activate():
            train_step(model, opt, xb, yb, 1e-4, context=TRAINING)

    return step


def captured_body(spec: str, args: argparse.Namespace) -> Callable[[], None]:
    """The captured step's body run as it is recorded (a capturer that runs the function at each launch)."""
    from xpnet.backend.graphs import Capturer
    from xpnet.data.batches import Batches
    from xpnet.training.captured import CapturedSteps

    class Eager(Capturer):
        def scope(self) -> Any:
            return contextlib.nullcontext()

        def capture(self, fn: Callable[[], None]) -> Callable[[], None]:
            return fn

    model, opt, x, y = reference(spec, args)
    rng = np.random.default_rng(0)
    batches = Batches(x, y, model.backend, model.dtype, batch_size=args.batch_size, rng=rng, placement="device")
    steps = CapturedSteps(model, opt, batches, 1e-4, None, 0, Eager())
    steps.start_epoch(batches.epoch_order(), 0, 0, lambda step: 0.05)
    done = [0]

    def step() -> None:
        steps.step(done[0] % len(batches))
        done[0] += 1

    return step


def count_torch(
    make: Callable[[str, argparse.Namespace], Callable[[], None]], args: argparse.Namespace
) -> Counter[str]:
    step = make("torch:cpu", args)
    for _ in range(3):  # warm-up: state buffers made, captured sizes warmed
        step()
    with torch_ops() as seen:
        step()
    return seen


def count_standin(
    make: Callable[[str, argparse.Namespace], Callable[[], None]], args: argparse.Namespace
) -> Counter[str]:
    """The stand-in's kernels of one step on ``cuda``: each top-level operation, fused function, cuBLAS call."""
    from xpnet.testing.cupy_standin import installed

    with installed() as cupy, contextlib.ExitStack() as undo:
        from cupy import _dispatch
        from cupy.cuda import cublas_library

        seen: Counter[str] = Counter()
        depth = [0]

        def counted(name: str, run: Callable[[], Any]) -> Any:
            if depth[0] == 0 and name not in _NO_KERNEL:
                seen[name] += 1
            depth[0] += 1
            try:
                return run()
            finally:
                depth[0] -= 1

        call, gemm, fuse = _dispatch.call, cublas_library.Library.cublasGemmEx, cupy.fuse
        undo.callback(setattr, _dispatch, "call", call)
        undo.callback(setattr, cublas_library.Library, "cublasGemmEx", gemm)
        undo.callback(setattr, cupy, "fuse", fuse)
        _dispatch.call = lambda func, a, kw, check_device=True: counted(
            getattr(func, "__name__", str(func)), lambda: call(func, a, kw, check_device)
        )
        cublas_library.Library.cublasGemmEx = lambda self, *a: counted("cublasGemmEx", lambda: gemm(self, *a))
        cupy.fuse = lambda *a, kernel_name=None: lambda f: lambda *x: counted(f"fused {kernel_name}", lambda: f(*x))
        step = make("cuda", args)
        for _ in range(3):
            step()
        seen.clear()
        step()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--verbose", action="store_true", help="list the operations by name")
    args = parser.parse_args()
    print(f"reference step: MLP 784-{args.hidden}-10, batch {args.batch_size}, float32, SGD momentum, l2 1e-4")
    rows = [("xpnet (torch:cpu), operation by operation", lambda: count_torch(eager_step, args)),
            ("xpnet (torch:cpu), captured step's body", lambda: count_torch(captured_body, args)),
            ("xpnet (cuda, stand-in), operation by operation", lambda: count_standin(eager_step, args)),
            ("xpnet (cuda, stand-in), captured step's body", lambda: count_standin(captured_body, args))]  # fmt: skip
    for name, count in rows:
        seen = count()
        print(f"{name:<50}{sum(seen.values()):>5} per step")
        if args.verbose:
            print("    " + ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(seen.items())))


if __name__ == "__main__":
    main()
