"""Weight initialisation, drawn on the host from an explicit ``numpy.random.Generator``.

Parameters are drawn in float64 on the host, cast on the host to the target dtype and moved to the
device once, so the same seed gives bit-identical initial weights on every backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import XPNetTypeError, XPNetValueError, describe

Seed = int | np.random.SeedSequence | np.random.Generator | None


def check_seed(seed: Any) -> None:
    """A seed :func:`generators` takes: a non-negative int, a numpy SeedSequence or Generator, or None."""
    if isinstance(seed, np.random.Generator):
        return
    if isinstance(seed, bool) or not (seed is None or isinstance(seed, (int, np.integer, np.random.SeedSequence))):
        raise XPNetTypeError(
            f"seed: expected an int, a numpy SeedSequence or Generator, or None; received {describe(seed)}"
        )
    if isinstance(seed, (int, np.integer)) and seed < 0:
        raise XPNetValueError(f"seed: expected a non-negative integer; received {seed}")


def generators(seed: Seed, count: int = 2) -> list[np.random.Generator]:
    """Independent host generators (init, shuffling, ...) spawned from one ``seed``."""
    check_seed(seed)
    if isinstance(seed, np.random.Generator):
        return list(seed.spawn(count))
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(child) for child in sequence.spawn(count)]


def he_normal(rng: np.random.Generator, fan_in: int, fan_out: int) -> tuple[np.ndarray, np.ndarray]:
    """He et al. (2015): N(0, 2 / fan_in), suited to ReLU units; zero biases."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out)), np.zeros(fan_out)


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Glorot & Bengio (2010): U(±sqrt(6 / (fan_in + fan_out))), suited to sigmoid/tanh/linear units; zero biases."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)), np.zeros(fan_out)


def sklearn_uniform(
    rng: np.random.Generator, fan_in: int, fan_out: int, factor: float = 6.0
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's MLP initialisation: weights, then biases, from U(±sqrt(factor / (fan_in + fan_out))), with
    ``factor`` 6, or 2 in networks of logistic units (scikit-learn's ``_init_coef``)."""
    limit = np.sqrt(factor / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)), rng.uniform(-limit, limit, size=fan_out)


# Each scheme draws a layer's (W, b) on the host in float64.
INITIALISERS: dict[str, Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]] = {
    "he": he_normal,
    "glorot": glorot_uniform,
    "sklearn": sklearn_uniform,
    "sklearn_logistic": lambda rng, fan_in, fan_out: sklearn_uniform(rng, fan_in, fan_out, 2.0),
}
INITS = ("default", "sklearn")  # xpnet's (He for rectifiers, Glorot otherwise, zero biases) or scikit-learn's
# The scheme of a hidden layer followed by each activation: He for the rectifier family, Glorot otherwise.
SCHEMES = {"relu": "he", "leaky_relu": "he", "elu": "he", "gelu": "he",
           "sigmoid": "glorot", "tanh": "glorot", "identity": "glorot", "softplus": "glorot"}  # fmt: skip


def init_params(sizes: Sequence[int], activation: str, rng: np.random.Generator, dtype: str) -> list[np.ndarray]:
    """Host arrays ``[W1, b1, W2, b2, ...]``: hidden layers by ``activation``'s scheme, the output layer Glorot."""
    params: list[np.ndarray] = []
    last = len(sizes) - 2
    for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        scheme = INITIALISERS[SCHEMES[activation]] if layer < last else glorot_uniform
        params += [array.astype(dtype) for array in scheme(rng, fan_in, fan_out)]
    return params


def scheme(init: str, activation: str, hidden: bool) -> str:
    """The initialiser of one Dense layer: with ``init="default"`` the activation's scheme for a hidden layer and
    Glorot for the output; with ``"sklearn"`` scikit-learn's for every layer."""
    if init == "sklearn":
        return "sklearn_logistic" if activation == "sigmoid" else "sklearn"
    return SCHEMES[activation] if hidden else "glorot"
