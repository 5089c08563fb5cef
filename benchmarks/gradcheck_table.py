"""The gradient-check table of docs/layers.md: each toolbox piece's largest relative error against central
differences (float64, every entry), on a 4-6-5-3 network with L2 0.01 and 16 random rows.

    python benchmarks/gradcheck_table.py

Also prints the worst parameter of each case: a bias just before batch norm has a zero gradient in exact
arithmetic, so its error is finite-difference noise measured against check_grads' 1e-3 floor.
Not collected by pytest; figures to read (tests/test_layers.py holds the assertions).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import xpnet
from xpnet.nn.layers import EVALUATION, Context
from xpnet.testing import check_grads

DROPOUT_STEP = Context(training=True, seed=3, step=1)
CASES: dict[str, dict[str, Any]] = {
    "leaky_relu": {"activation": "leaky_relu"},
    "elu": {"activation": "elu"},
    "gelu": {"activation": "gelu"},
    "softplus": {"activation": "softplus"},
    "batch norm, training": {"norm": "batch"},
    "batch norm, evaluation": {"norm": "batch", "context": EVALUATION},
    "layer norm": {"norm": "layer"},
    "dropout 0.3": {"dropout": 0.3, "context": DROPOUT_STEP},
    "binary cross-entropy": {"loss": "binary_cross_entropy"},
    "mse": {"loss": "mse"},
}


def main() -> None:
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(16, 4)), rng.integers(0, 3, size=16)
    targets = {"binary_cross_entropy": np.eye(3)[labels], "mse": rng.normal(size=(16, 3))}
    print(f"{'piece':<24} {'largest relative error':>22}  worst parameter")
    for name, case in CASES.items():
        options = {"activation": "tanh", **case}
        context = options.pop("context", None)
        net = xpnet.MLP((4, 6, 5, 3), device="cpu", dtype="float64", seed=1, **options)
        y = targets.get(options.get("loss", ""), labels)
        extra = {} if context is None else {"context": context}
        result = check_grads(net, x, y, l2=0.01, max_entries=None, **extra)
        errors = dict(zip(net.param_names, result.per_parameter))
        worst = max(errors, key=errors.__getitem__)
        print(
            f"{name:<24} {result.max_relative_error:>22.1e}  {worst} {errors[worst]:.1e} ({'passed' if result.passed else 'FAILED'})"
        )


if __name__ == "__main__":
    main()
