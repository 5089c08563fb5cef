"""xpnet behind scikit-learn's interface: a Pipeline with StandardScaler, a grid search, and a regression.

python examples/sklearn_pipeline.py [--device cpu|cuda|torch:cpu|...]
"""

from __future__ import annotations

import argparse
import warnings

from sklearn.datasets import load_digits, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xpnet.sklearn import MLPClassifier, MLPRegressor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="xpnet device spec")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0, stratify=y)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), device=args.device, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2, 1e-1]}, cv=3, n_jobs=2).fit(x_train, y_train)
    print(f"digits: best alpha {search.best_params_['mlpclassifier__alpha']}, "
          f"test accuracy {search.score(x_test, y_test):.2%}")  # fmt: skip

    x, y = make_friedman1(n_samples=3000, noise=0.5, random_state=0)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(64,), max_iter=300, device=args.device, random_state=0).fit(x_train, y_train)
    print(f"make_friedman1: test R² {reg.score(x_test, y_test):.3f} after {reg.n_iter_} epochs")


if __name__ == "__main__":
    main()
