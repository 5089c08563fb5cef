"""Fit time on MNIST: ``xpnet.sklearn.MLPClassifier`` against scikit-learn's ``MLPClassifier``, same settings.

Both: 784-256-10 ReLU, Adam lr 1e-3, alpha 1e-4, batch 200, exactly ``--epochs`` epochs (``tol=0``,
``n_iter_no_change`` larger than the budget, so neither stops early), float32 inputs in [0, 1], one process.
Prints fit seconds, the ratio xpnet/scikit-learn and the test accuracy; figures to read, never assertions.

    python benchmarks/sklearn_mnist.py --epochs 5
    python benchmarks/sklearn_mnist.py --epochs 5 --device torch:cpu
"""

from __future__ import annotations

import argparse
import time
import warnings

import xpnet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--device", default="cpu", help="xpnet's device")
    args = parser.parse_args()
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from xpnet.sklearn import MLPClassifier

    (x, y), (x_test, y_test) = xpnet.datasets.load_mnist()
    settings = dict(hidden_layer_sizes=(args.hidden,), alpha=1e-4, batch_size=200, learning_rate_init=1e-3,
                    max_iter=args.epochs, tol=0.0, n_iter_no_change=args.epochs + 1, random_state=0)  # fmt: skip
    rows = []
    for name, estimator in (
        (f"xpnet ({args.device})", MLPClassifier(device=args.device, **settings)),
        ("scikit-learn", SklearnMLP(solver="adam", **settings)),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # both warn that max_iter was reached, by design
            began = time.perf_counter()
            estimator.fit(x, y)
            seconds = time.perf_counter() - began
        rows.append((name, seconds, estimator.score(x_test, y_test)))
    print(f"MNIST 60k, 784-{args.hidden}-10 ReLU, Adam, batch 200, {args.epochs} epochs, xpnet {xpnet.__version__}")
    print(f"{'estimator':<22}{'fit s':>8}{'vs sklearn':>12}{'test acc':>10}")
    for name, seconds, accuracy in rows:
        print(f"{name:<22}{seconds:>8.2f}{seconds / rows[-1][1]:>11.2f}x{accuracy:>10.2%}")


if __name__ == "__main__":
    main()
