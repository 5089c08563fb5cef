"""The large-net job: a GPU busy with arithmetic rather than launches. MLP 1024-4096-4096-10, batch 4096, 131072
synthetic samples, SGD momentum; xpnet on each GPU device at each matrix-product precision beside native PyTorch
at the same precision (``allow_tf32`` for tf32, ``torch.autocast`` to bfloat16 for bf16), in one run.

    python benchmarks/large_net.py --devices cuda,torch:cuda,jax:cuda --precisions highest,tf32,bf16

Prints s/epoch (best of the epochs), TFLOP/s and the ratio to PyTorch at the same precision. Not collected by
pytest; figures to read, never assertions.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np

import xpnet

SIZES = (1024, 4096, 4096, 10)


def flops(n: int) -> float:
    pairs = list(itertools.pairwise(SIZES))
    return float(n) * (sum(6 * a * b for a, b in pairs) - 2 * pairs[0][0] * pairs[0][1])


def data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, SIZES[0]), dtype=np.float32)
    y = np.argmax(x[:, :64] @ rng.standard_normal((64, SIZES[-1])).astype(np.float32), axis=1)
    return x, y


def run_xpnet(
    device: str, precision: str, x: np.ndarray, y: np.ndarray, args: argparse.Namespace, compile: bool = True
) -> list[float]:
    result = xpnet.train((x, y), device=device, hidden=SIZES[1:-1], batch_size=args.batch_size, epochs=args.epochs,
                         optimizer="momentum", lr=0.01, lr_schedule="constant", precision=precision, progress=False,
                         verbose=0, seed=0, compile=compile)  # fmt: skip
    return result.history["seconds"]


def run_torch(precision: str, x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> list[float]:
    """The job in idiomatic PyTorch on its GPU (on its CPU where there is none: a dry run of the script)."""
    import contextlib

    import torch
    import torch.nn.functional as F

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.manual_seed(0)
    layers = [torch.nn.Linear(a, b) for a, b in itertools.pairwise(SIZES)]
    model = torch.nn.Sequential(*(m for layer in layers[:-1] for m in (layer, torch.nn.ReLU())), layers[-1]).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    X, Y = torch.as_tensor(x, device=dev), torch.as_tensor(y, device=dev)
    autocast = (lambda: torch.autocast(dev, dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext
    seconds = []
    for _ in range(args.epochs):
        sync()
        start = time.perf_counter()
        order = torch.randperm(X.shape[0], device=dev)
        for s in range(0, X.shape[0], args.batch_size):
            rows = order[s : s + args.batch_size]
            with autocast():
                loss = F.cross_entropy(model(X.index_select(0, rows)), Y.index_select(0, rows))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync()
        seconds.append(time.perf_counter() - start)
    torch.backends.cuda.matmul.allow_tf32 = False
    return seconds


def _peer_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="cuda,torch:cuda,jax:cuda")
    parser.add_argument("--precisions", default="highest,tf32,bf16")
    parser.add_argument("--samples", type=int, default=131072)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    x, y = data(args.samples)
    work = flops(args.samples)
    print(f"large-net job: {args.samples} x {SIZES}, batch {args.batch_size}, {work / 1e12:.2f} TFLOP/epoch, "
          f"{args.epochs} epochs (best shown)")  # fmt: skip
    print(f"{'implementation':<30}{'s/epoch':>9}{'TFLOP/s':>9}{'vs PyTorch':>12}")
    for precision in args.precisions.split(","):
        rows: list[tuple[str, float]] = []
        for name, run in [(f"pytorch ({_peer_device()})", lambda p=precision: run_torch(p, x, y, args)),
                          *((f"xpnet ({d})", lambda d=d, p=precision: run_xpnet(d, p, x, y, args))
                            for d in args.devices.split(","))]:  # fmt: skip
            try:
                rows.append((name, min(run())))
            except Exception as exc:  # a precision a device lacks (bf16 on CuPy) is a row, not the end
                print(f"{name + ', ' + precision:<30}  {type(exc).__name__}: {str(exc)[:110]}", file=sys.stderr)
        peer = rows[0][1] if rows and rows[0][0].startswith("pytorch") else None
        for name, best in rows:
            ratio = f"{best / peer:.2f}x" if peer else "-"
            print(f"{name + ', ' + precision:<30}{best:>9.3f}{work / best / 1e12:>9.1f}{ratio:>12}", flush=True)


if __name__ == "__main__":
    main()
