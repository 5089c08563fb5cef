"""The public MLP API: construction, from_params, shapes, and the errors bad arguments get."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet


def test_params_layout_and_properties():
    net = xpnet.MLP((4, 6, 3), device="cpu", dtype="float64", seed=0)
    assert [tuple(p.shape) for p in net.params] == [(4, 6), (6,), (6, 3), (3,)]
    assert net.sizes == (4, 6, 3)
    assert net.dtype == np.float64 and net.device == "cpu"
    assert "sizes=(4, 6, 3)" in repr(net)
    assert not np.any(net.params[1]) and np.std(net.params[0]) > 0


def test_he_and_glorot_scales():
    relu = xpnet.MLP((400, 300, 10), activation="relu", dtype="float64", device="cpu", seed=0)
    tanh = xpnet.MLP((400, 300, 10), activation="tanh", dtype="float64", device="cpu", seed=0)
    assert np.std(relu.params[0]) == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert np.std(tanh.params[0]) == pytest.approx(np.sqrt(2 / 700), rel=0.02)  # U(±√(6/700)) has var 2/700


@pytest.mark.parametrize("activation, factor", [("relu", 6.0), ("tanh", 6.0), ("sigmoid", 2.0)])
def test_scikit_learns_initialisation(activation, factor):
    """scikit-learn's _init_coef: weights and biases from U(±sqrt(factor / (fan_in + fan_out))), factor 2 for
    logistic networks and 6 otherwise, in every layer."""
    net = xpnet.MLP((400, 300, 10), activation=activation, dtype="float64", device="cpu", seed=0, init="sklearn")
    for (fan_in, fan_out), W, b in zip([(400, 300), (300, 10)], net.params[0::2], net.params[1::2]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        assert bound * 0.99 < np.max(np.abs(W)) <= bound and 0 < np.max(np.abs(b)) <= bound


def test_from_params_follows_the_device_of_the_arrays():
    strict = pytest.importorskip("array_api_strict")
    d1 = strict.Device("device1")
    params = [strict.ones((3, 2), device=d1), strict.zeros((2,), device=d1)]
    net = xpnet.MLP.from_params(params, activation="tanh")
    assert net.device == d1 and net.backend.spec == "strict:device1"
    assert net.params[0] is not params[0]
    out = net(np.ones((5, 3), dtype=np.float32))  # host input is moved to the model's device
    assert out.device == d1 and tuple(out.shape) == (5, 2)


def test_model_and_data_on_different_devices_is_refused():
    strict = pytest.importorskip("array_api_strict")
    net = xpnet.MLP((3, 2), device="strict:CPU_DEVICE")
    x = strict.ones((4, 3), device=strict.Device("device1"))
    with pytest.raises(xpnet.DeviceMismatchError, match="device1"):
        net(x)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sizes": (4,)}, "at least 2"),
        ({"sizes": (4, 0, 2)}, "positive integer"),
        ({"sizes": (4, 2.5)}, "positive integer"),
        ({"sizes": "784,10"}, "sequence"),
        ({"activation": "swish"}, "elu.*gelu.*identity.*leaky_relu.*relu.*sigmoid.*softplus.*tanh"),
        ({"dropout": 1.0}, r"dropout: every rate must lie in \[0, 1\)"),
        ({"norm": "group"}, "norm: expected None, .batch. or .layer."),
        ({"loss": "hinge"}, "cross_entropy.*quadratic"),
        ({"dtype": "float16"}, "float32"),
        ({"seed": "abc"}, "seed"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    args = {"sizes": (4, 3)} | kwargs
    with pytest.raises(xpnet.XPNetError, match=match):
        xpnet.MLP(args.pop("sizes"), **args)


def test_bad_inputs_and_targets():
    net = xpnet.MLP((4, 3), device="cpu", seed=0)
    x = np.zeros((5, 4))
    with pytest.raises(xpnet.XPNetValueError, match=r"x: expected .*\(n_samples >= 1, 4\); received shape \(5, 3\)"):
        net(np.zeros((5, 3)))
    with pytest.raises(xpnet.XPNetValueError, match=r"x: .*received shape \(4,\)"):
        net(np.zeros(4))
    with pytest.raises(xpnet.XPNetValueError, match="NaN"):
        net(np.full((2, 4), np.nan))
    with pytest.raises(xpnet.XPNetValueError, match=r"y: expected shape \(5,\)"):
        net.loss_and_grads(x, np.zeros(4, dtype=int))
    with pytest.raises(xpnet.XPNetValueError, match=r"\[0, 3\)"):
        net.loss_and_grads(x, np.array([0, 1, 2, 3, 0]))
    with pytest.raises(xpnet.XPNetTypeError, match="integer class labels"):
        net.loss_and_grads(x, np.array([0.5, 1, 2, 0, 0]))
    with pytest.raises(xpnet.XPNetValueError, match="l2"):
        net.loss_and_grads(x, np.zeros(5, dtype=int), l2=-1.0)
    quad = xpnet.MLP((4, 3), loss="quadratic", device="cpu")
    with pytest.raises(xpnet.XPNetValueError, match=r"y: expected shape \(5, 3\)"):
        quad.loss_and_grads(x, np.zeros(5, dtype=int))


def test_optimizers_update_numpy_parameters_in_place():
    net = xpnet.MLP((4, 3), device="cpu", seed=0)
    before = list(net.params)
    _, grads = net.loss_and_grads(np.ones((2, 4)), np.array([0, 1]))
    xpnet.optim.Adam(0.1).step(net.params, grads)
    assert all(a is b for a, b in zip(net.params, before))


def test_bad_optimizer_arguments():
    with pytest.raises(xpnet.XPNetValueError, match="lr"):
        xpnet.optim.SGD(0.0)
    with pytest.raises(xpnet.XPNetValueError, match="lr"):
        xpnet.optim.SGD(float("nan"))
    with pytest.raises(xpnet.XPNetValueError, match="beta1"):
        xpnet.optim.Adam(beta1=1.0)
    with pytest.raises(xpnet.XPNetValueError, match=r"adam.*momentum.*nesterov.*sgd"):
        xpnet.optim.make_optimizer("lbfgs", 0.1)
