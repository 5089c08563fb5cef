"""``mnist_mlp.py --sweep``: s/epoch of xpnet (NumPy) and PyTorch over hidden size x batch size, drawn as a PNG.

Each cell trains one epoch on the first ``--sweep-samples`` MNIST images and scales the time to 60,000 samples,
so the sweep stays short; the plot shows where cost follows the work (large layers) and where the Python
overhead per step dominates (small layers, small batches).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import xpnet

HIDDEN = (32, 128, 512, 1024, 2048, 4096)
BATCHES = (16, 64, 256, 1024)


def _xpnet_epoch(x: np.ndarray, y: np.ndarray, hidden: int, batch: int) -> float:
    result = xpnet.train((x, y), device="cpu", hidden=(hidden,), epochs=2, batch_size=batch, optimizer="momentum",
                         lr=0.05, l2=1e-4, lr_schedule="constant", progress=False)  # fmt: skip
    return min(result.history["seconds"])


def _torch_epoch(x: np.ndarray, y: np.ndarray, hidden: int, batch: int) -> float:
    from peers import run_torch

    args = type("Args", (), {"hidden": hidden, "batch_size": batch, "epochs": 2, "dtype": "float32"})()
    seconds, _ = run_torch("cpu", x, y, x[:10], y[:10], args)
    return min(seconds)


def sweep(args: Any, samples: int = 6000) -> None:
    (x, y), _ = xpnet.datasets.load_mnist()
    x, y = x[:samples], y[:samples]
    scale = 60000 / samples
    results: dict[str, dict[int, list[float]]] = {"xpnet (cpu)": {}, "pytorch (cpu)": {}}
    print(f"s/epoch scaled to 60,000 samples (measured on {samples}); columns: batch size")
    print(f"{'implementation':<16}{'hidden':>7}" + "".join(f"{b:>9}" for b in BATCHES))
    for name, run in (("xpnet (cpu)", _xpnet_epoch), ("pytorch (cpu)", _torch_epoch)):
        for hidden in HIDDEN:
            row = [scale * run(x, y, hidden, batch) for batch in BATCHES]
            results[name][hidden] = row
            print(f"{name:<16}{hidden:>7}" + "".join(f"{t:>9.3f}" for t in row), flush=True)
    print("ratio xpnet / pytorch:")
    for hidden in HIDDEN:
        ratios = np.array(results["xpnet (cpu)"][hidden]) / np.array(results["pytorch (cpu)"][hidden])
        print(f"{'':<16}{hidden:>7}" + "".join(f"{r:>8.2f}x" for r in ratios))
    _plot(results, args.plot)
    print(f"wrote {args.plot}")


def _plot(results: dict[str, dict[int, list[float]]], path: str) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.5), layout="constrained")
    axes = figure.subplots(1, 2, sharey=True)
    for ax, (name, table) in zip(axes, results.items()):
        for j, batch in enumerate(BATCHES):
            ax.plot(HIDDEN, [table[h][j] for h in HIDDEN], marker="o", label=f"batch {batch}")
        ax.set(xscale="log", yscale="log", xlabel="hidden units", title=name)
        ax.set_xticks(HIDDEN, [str(h) for h in HIDDEN])
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("seconds per epoch (60k samples)")
    axes[1].legend()
    figure.suptitle("MNIST MLP 784-H-10, momentum SGD, float32, this machine")
    figure.savefig(path, dpi=110)
