"""An independent plain-NumPy float64 oracle: forward pass, losses, gradients and optimizer updates.

Written from the textbook formulas, not from xpnet's code, so that a bug in the shared code path
shows up as a disagreement on every backend, NumPy included.
"""

from __future__ import annotations

import numpy as np

HIDDEN = {
    "relu": (lambda z: np.where(z > 0, z, 0.0), lambda z: (z > 0).astype(float)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    "tanh": (np.tanh, lambda z: 1 / np.cosh(z) ** 2),
    "identity": (lambda z: z, np.ones_like),
}


def loss_and_grads(params, x, y, activation, loss, l2=0.0):
    """Loss and gradients for an MLP whose parameters are float64 host arrays [W1, b1, ...]."""
    f, df = HIDDEN[activation]
    Ws, bs = params[0::2], params[1::2]
    a, cache = x, []
    for W, b in zip(Ws[:-1], bs[:-1]):
        z = a.dot(W) + b
        cache.append((a, z))
        a = f(z)
    zL = a.dot(Ws[-1]) + bs[-1]
    n = x.shape[0]
    if loss == "cross_entropy":
        p = np.exp(zL - zL.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        value = -np.mean(np.log(p[np.arange(n), y]))
        target = np.eye(zL.shape[1])[y]
        dz = (p - target) / n
    elif loss == "quadratic":
        out = 1 / (1 + np.exp(-zL))
        value = 0.5 * np.sum((out - y) ** 2) / n
        dz = (out - y) * out * (1 - out) / n
    else:  # "mse": identity outputs, mean of the squared errors over samples and outputs
        value = np.mean((zL - y) ** 2)
        dz = 2 * (zL - y) / zL.size
    value += 0.5 * l2 * sum((W**2).sum() for W in Ws)
    # Walk back through the layers: layer_inputs[l] feeds Ws[l]; dz is dloss/dz of that layer.
    layer_inputs = [a_in for a_in, _ in cache] + [a]
    grads = [None] * len(params)
    for layer in reversed(range(len(Ws))):
        grads[2 * layer] = layer_inputs[layer].T.dot(dz) + l2 * Ws[layer]
        grads[2 * layer + 1] = dz.sum(axis=0)
        if layer > 0:
            dz = dz.dot(Ws[layer].T) * df(cache[layer - 1][1])
    return value, grads


def optimizer_run(name, params, grad_fn, steps, lr, momentum=0.9, b1=0.9, b2=0.999, eps=1e-8):
    """Run ``steps`` updates of optimizer ``name`` on copies of ``params``; returns params and losses."""
    params = [p.copy() for p in params]
    buf1 = [np.zeros_like(p) for p in params]
    buf2 = [np.zeros_like(p) for p in params]
    losses = []
    for t in range(1, steps + 1):
        value, grads = grad_fn(params)
        losses.append(value)
        for i, g in enumerate(grads):
            if name == "sgd":
                params[i] = params[i] - lr * g
            elif name == "momentum":
                buf1[i] = momentum * buf1[i] + g
                params[i] = params[i] - lr * buf1[i]
            elif name == "nesterov":
                buf1[i] = momentum * buf1[i] + g
                params[i] = params[i] - lr * (g + momentum * buf1[i])
            elif name == "adam":
                buf1[i] = b1 * buf1[i] + (1 - b1) * g
                buf2[i] = b2 * buf2[i] + (1 - b2) * g * g
                m_hat = buf1[i] / (1 - b1**t)
                v_hat = buf2[i] / (1 - b2**t)
                params[i] = params[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return params, losses
