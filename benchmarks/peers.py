"""The peers of the benchmark: native PyTorch, scikit-learn's MLPClassifier, and the matmul rate for the floor."""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def run_torch(
    device: str,
    x: np.ndarray,
    y: np.ndarray,
    xt: np.ndarray,
    yt: np.ndarray,
    args: Any,
    compile_mode: str | None = None,
) -> tuple[list[float], float]:
    """The reference job in idiomatic PyTorch: nn.Linear layers, F.cross_entropy, torch.optim.SGD; with
    ``compile_mode``, the forward pass and loss through ``torch.compile`` (its backward too), the step eager."""
    torch, model, opt, (dtype, dev) = torch_job(device, args)
    import torch.nn.functional as F

    def loss_fn(inputs: Any, targets: Any) -> Any:
        return F.cross_entropy(model(inputs), targets)

    loss_of = torch.compile(loss_fn, mode=compile_mode) if compile_mode else loss_fn
    X, Y = torch.as_tensor(x, dtype=dtype, device=dev), torch.as_tensor(y, device=dev)
    generator = torch.Generator(device="cpu").manual_seed(0)
    seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        order = torch.randperm(X.shape[0], generator=generator).to(dev)
        for s in range(0, X.shape[0], args.batch_size):
            rows = order[s : s + args.batch_size]
            loss = loss_of(X.index_select(0, rows), Y.index_select(0, rows))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        pred = model(torch.as_tensor(xt, dtype=dtype, device=dev)).argmax(dim=1).cpu().numpy()
    return seconds, float(np.mean(pred == yt))


def torch_job(device: str, args: Any) -> tuple[Any, Any, Any, Any]:
    """The reference job's model and optimizer in idiomatic PyTorch (L2 on the weights only, as xpnet)."""
    import torch

    dtype, dev = getattr(torch, args.dtype), torch.device(device)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 10))
    model = model.to(device=dev, dtype=dtype)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    opt = torch.optim.SGD(
        [{"params": weights, "weight_decay": 1e-4}, {"params": biases, "weight_decay": 0.0}], lr=0.05, momentum=0.9
    )
    return torch, model, opt, (dtype, dev)


def run_torch_graph(
    x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray, args: Any
) -> tuple[list[float], float]:
    """PyTorch CUDA with its whole step (forward, backward, SGD step) captured by hand as one CUDA graph, replayed
    per step on static buffers filled by ``index_select`` (PyTorch's documented pattern); the short last batch of
    an epoch runs eagerly."""
    torch, model, opt, (dtype, dev) = torch_job("cuda", args)
    import torch.nn.functional as F

    X, Y = torch.as_tensor(x, dtype=dtype, device=dev), torch.as_tensor(y, device=dev)
    bs = args.batch_size
    static_x, static_y = X[:bs].clone(), Y[:bs].clone()

    def step(inputs: Any, targets: Any) -> None:
        loss = F.cross_entropy(model(inputs), targets)
        loss.backward()
        opt.step()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up steps on a side stream, as the documentation asks (they train too)
            opt.zero_grad(set_to_none=True)
            step(static_x, static_y)
    torch.cuda.current_stream().wait_stream(side)
    opt.zero_grad(set_to_none=True)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step(static_x, static_y)  # the gradients are the graph's own buffers from here on: no zero_grad
    generator = torch.Generator(device="cpu").manual_seed(0)
    seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        order = torch.randperm(X.shape[0], generator=generator).to(dev)
        for s in range(0, X.shape[0], bs):
            rows = order[s : s + bs]
            if rows.shape[0] == bs:
                torch.index_select(X, 0, rows, out=static_x)
                torch.index_select(Y, 0, rows, out=static_y)
                graph.replay()
            else:  # eagerly, with gradients of its own: the graph's gradient buffers stay the graph's
                kept = [p.grad for p in model.parameters()]
                opt.zero_grad(set_to_none=True)
                step(X.index_select(0, rows), Y.index_select(0, rows))
                for p, grad in zip(model.parameters(), kept):
                    p.grad = grad
        torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        pred = model(torch.as_tensor(xt, dtype=dtype, device=dev)).argmax(dim=1).cpu().numpy()
    return seconds, float(np.mean(pred == yt))


def run_torch_compiled(
    x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray, args: Any
) -> tuple[list[float], float]:
    """PyTorch CUDA with ``torch.compile(mode="reduce-overhead")`` (Inductor kernels replayed as CUDA graphs) on the
    forward pass and loss; the first epoch pays the compilation."""
    return run_torch("cuda", x, y, xt, yt, args, compile_mode="reduce-overhead")


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
