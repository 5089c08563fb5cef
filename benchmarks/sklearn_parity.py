"""xpnet's scikit-learn estimators against scikit-learn's own MLPs at the same settings, on scikit-learn's data sets:
friedman1-3, diabetes, a make_regression, digits, wine, breast cancer. Each fit: a 75/25 split, StandardScaler on the
features, ``hidden_layer_sizes=(64,)``, ``max_iter=300``, every other setting at both libraries' defaults (Adam at
1e-3, batch 'auto', alpha 1e-4); the score (R² or accuracy) on the held-out quarter, the mean over seeds.

    python benchmarks/sklearn_parity.py --seeds 4

Not collected by pytest; figures to read, never assertions.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler

import xpnet.sklearn

PROBLEMS = {
    "friedman1": lambda seed: datasets.make_friedman1(2000, random_state=seed),
    "friedman2": lambda seed: datasets.make_friedman2(2000, random_state=seed),
    "friedman3": lambda seed: datasets.make_friedman3(2000, random_state=seed),
    "diabetes": lambda seed: datasets.load_diabetes(return_X_y=True),
    "make_regression": lambda seed: datasets.make_regression(2000, 20, n_informative=10, noise=10, random_state=seed),
    "digits": lambda seed: datasets.load_digits(return_X_y=True),
    "wine": lambda seed: datasets.load_wine(return_X_y=True),
    "breast_cancer": lambda seed: datasets.load_breast_cancer(return_X_y=True),
}
CLASSIFIERS = ("digits", "wine", "breast_cancer")


def score(name: str, seed: int) -> tuple[float, float]:
    x, y = PROBLEMS[name](seed)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    ours, theirs = ((xpnet.sklearn.MLPClassifier, MLPClassifier) if name in CLASSIFIERS
                    else (xpnet.sklearn.MLPRegressor, MLPRegressor))  # fmt: skip
    settings = dict(hidden_layer_sizes=(64,), max_iter=300, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, on both sides
        mine = ours(device="cpu", **settings).fit(x_train, y_train).score(x_test, y_test)
        reference = theirs(**settings).fit(x_train, y_train).score(x_test, y_test)
    return float(mine), float(reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    args = parser.parse_args()
    print(f"{'data set':<16}{'metric':>9}{'xpnet':>16}{'scikit-learn':>16}{'difference':>12}")
    for name in args.problems.split(","):
        pairs = np.array([score(name, seed) for seed in range(args.seeds)])
        mean, spread = pairs.mean(axis=0), pairs.std(axis=0)
        metric = "accuracy" if name in CLASSIFIERS else "R²"
        print(f"{name:<16}{metric:>9}{mean[0]:>9.4f} ± {spread[0]:.3f}{mean[1]:>9.4f} ± {spread[1]:.3f}"
              f"{mean[0] - mean[1]:>+12.4f}", flush=True)  # fmt: skip
    print(f"mean over {args.seeds} seeds (± their standard deviation); the split, the model's init and the batch order "
          "follow the seed")  # fmt: skip


if __name__ == "__main__":
    main()
