"""The peers of the benchmark: native PyTorch, scikit-learn's MLPClassifier, and the matmul rate for the floor."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def run_torch(
    device: str, x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray, args: Any
) -> tuple[list[float], float]:
    """The reference job in idiomatic PyTorch: nn.Linear layers, F.cross_entropy, torch.optim.SGD."""
    import torch
    import torch.nn.functional as F

    dtype = getattr(torch, args.dtype)
    dev = torch.device(device)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 10))
    model = model.to(device=dev, dtype=dtype)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    opt = torch.optim.SGD(
        [{"params": weights, "weight_decay": 1e-4}, {"params": biases, "weight_decay": 0.0}], lr=0.05, momentum=0.9
    )  # L2 on the weights only, as xpnet
    X, Y = torch.as_tensor(x, dtype=dtype, device=dev), torch.as_tensor(y, device=dev)
    generator = torch.Generator(device="cpu").manual_seed(0)
    seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        order = torch.randperm(X.shape[0], generator=generator).to(dev)
        for s in range(0, X.shape[0], args.batch_size):
            rows = order[s : s + args.batch_size]
            loss = F.cross_entropy(model(X.index_select(0, rows)), Y.index_select(0, rows))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        pred = model(torch.as_tensor(xt, dtype=dtype, device=dev)).argmax(dim=1).cpu().numpy()
    return seconds, float(np.mean(pred == yt))


def run_sklearn(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray, args: Any) -> tuple[list[float], float]:
    """scikit-learn's MLPClassifier, solver sgd, one epoch per fit() with warm_start (same settings)."""
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=(args.hidden,), activation="relu", solver="sgd", learning_rate="constant",
        learning_rate_init=0.05, momentum=0.9, nesterovs_momentum=False, batch_size=args.batch_size,
        alpha=1e-4 * args.batch_size,  # sklearn divides its L2 term by the batch size
        max_iter=1, warm_start=True, shuffle=True, random_state=0, tol=0.0, n_iter_no_change=10**9,
    )  # fmt: skip
    x, xt = x.astype(args.dtype), xt.astype(args.dtype)
    seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.fit(x, y)
        seconds.append(time.perf_counter() - start)
    return seconds, float(model.score(xt, yt))


def gemm_rate(batch: int, sizes: tuple[int, ...], dtype: str, repeats: int = 30) -> tuple[float, tuple[int, int, int]]:
    """Best FLOP/s of NumPy matmul over the job's shapes ``(m, k) @ (k, n)``; returns the rate and its shape."""
    d, h, k = sizes
    shapes = [(batch, d, h), (batch, h, k), (h, batch, k), (batch, k, h), (d, batch, h)]
    rng = np.random.default_rng(0)
    best, best_shape = 0.0, shapes[0]
    for m, inner, n in shapes:
        a = rng.standard_normal((m, inner)).astype(dtype)
        b = rng.standard_normal((inner, n)).astype(dtype)
        a @ b  # warm up
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        rate = 2.0 * m * inner * n * repeats / (time.perf_counter() - start)
        if rate > best:
            best, best_shape = rate, (m, inner, n)
    return best, best_shape
