"""An independent plain-NumPy float64 oracle for the layer toolbox: activations, normalizations, dropout masks,
binary cross-entropy, RMSprop and AdamW, written from the papers' formulas (and, for dropout, from the hash's
specification in docs/layers.md), not from xpnet's code."""

from __future__ import annotations

import numpy as np

ACTIVATIONS = {
    "leaky_relu": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z: np.where(z > 0, 1.0, 0.01)),
    "elu": (
        lambda z: np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1),
        lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))),
    ),
    "softplus": (lambda z: np.log1p(np.exp(z)), lambda z: 1 / (1 + np.exp(-z))),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
}


def _gelu(z):
    c = np.sqrt(2 / np.pi)
    return 0.5 * z * (1 + np.tanh(c * (z + 0.044715 * z**3)))


def _gelu_grad(z, h=1e-6):  # by a complex step: exact to rounding, and independent of the closed form
    return (
        np.imag(0.5 * (z + 1j * h) * (1 + np.tanh(np.sqrt(2 / np.pi) * ((z + 1j * h) + 0.044715 * (z + 1j * h) ** 3))))
        / h
    )


ACTIVATIONS["gelu"] = (_gelu, _gelu_grad)


def _mix32(h):
    for _ in range(2):
        h ^= h >> np.uint64(16)
        h = (h * np.uint64(0x45D9F3B)) & np.uint64(0xFFFFFFFF)
    return h ^ (h >> np.uint64(16))


def dropout_keep(shape, key, first_row, keep):
    """The mask xpnet's dropout draws: 32-bit hash of (hash of the position xor key), kept below ``keep·2^32``."""
    rows, units = shape
    position = np.arange(first_row * units, (first_row + rows) * units, dtype=np.uint64) & np.uint64(0xFFFFFFFF)
    h = _mix32(_mix32(position) ^ np.uint64(key))
    return (h < np.uint64(min(int(keep * 2**32), 2**32 - 1))).reshape(shape)


def forward_backward(layers, params, x, y, loss, l2=0.0):
    """Loss and gradients of a network given as a list of ("dense", i) / ("act", name) / ("batch", i) /
    ("layer", i) / ("drop", mask) entries; ``params`` maps names to float64 arrays; ``loss`` is
    "cross_entropy" or "binary_cross_entropy". Returns (loss, {name: gradient})."""
    caches, a = [], x
    for kind, arg in layers:
        if kind == "dense":
            caches.append(a)
            a = a @ params[f"W{arg}"] + params[f"b{arg}"]
        elif kind == "act":
            caches.append(a)
            a = ACTIVATIONS[arg][0](a)
        elif kind in ("batch", "layer"):
            axis = 0 if kind == "batch" else 1
            mu, var = a.mean(axis=axis, keepdims=True), a.var(axis=axis, keepdims=True)
            xhat = (a - mu) / np.sqrt(var + 1e-5)
            caches.append((xhat, var))
            a = params[f"gamma{arg}"] * xhat + params[f"beta{arg}"]
        else:
            caches.append(arg)
            a = a * arg
    n = x.shape[0]
    if loss == "cross_entropy":
        p = np.exp(a - a.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        value = -np.mean(np.log(p[np.arange(n), y]))
        d = (p - np.eye(a.shape[1])[y]) / n
    else:
        s = 1 / (1 + np.exp(-a))
        value = -np.sum(y * np.log(s) + (1 - y) * np.log(1 - s)) / n
        d = (s - y) / n
    value += 0.5 * l2 * sum((params[k] ** 2).sum() for k in params if k.startswith("W"))
    grads = {}
    for (kind, arg), cache in reversed(list(zip(layers, caches))):
        if kind == "dense":
            grads[f"W{arg}"] = cache.T @ d + l2 * params[f"W{arg}"]
            grads[f"b{arg}"] = d.sum(axis=0)
            d = d @ params[f"W{arg}"].T
        elif kind == "act":
            d = d * ACTIVATIONS[arg][1](cache)
        elif kind in ("batch", "layer"):
            axis = 0 if kind == "batch" else 1
            xhat, var = cache
            grads[f"gamma{arg}"], grads[f"beta{arg}"] = (d * xhat).sum(axis=0), d.sum(axis=0)
            m = xhat.shape[axis]
            g = d * params[f"gamma{arg}"]
            d = (m * g - g.sum(axis=axis, keepdims=True) - xhat * (g * xhat).sum(axis=axis, keepdims=True)) / (
                m * np.sqrt(var + 1e-5)
            )
        else:
            d = d * cache
    return value, grads


def rmsprop(params, grads_fn, steps, lr, alpha=0.99, eps=1e-8):
    params, v = [p.copy() for p in params], [np.zeros_like(p) for p in params]
    for _ in range(steps):
        for i, g in enumerate(grads_fn(params)):
            v[i] = alpha * v[i] + (1 - alpha) * g * g
            params[i] = params[i] - lr * g / (np.sqrt(v[i]) + eps)
    return params


def adamw(params, grads_fn, steps, lr, wd=0.01, b1=0.9, b2=0.999, eps=1e-8):
    params = [p.copy() for p in params]
    m, v = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        for i, g in enumerate(grads_fn(params)):
            if params[i].ndim >= 2:
                params[i] = params[i] * (1 - lr * wd)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            params[i] = params[i] - lr * (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps)
    return params
