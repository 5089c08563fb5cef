"""The layer toolbox: new activations, batch and layer norm, dropout, binary cross-entropy, RMSprop, AdamW and
gradient clipping — finite differences, an independent NumPy float64 reference on every backend, and exact resume."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import reference
import reference_layers as ref

import xpnet
from xpnet.nn.layers import EVALUATION, Context
from xpnet.nn.random import keep_mask, step_key
from xpnet.testing import check_grads
from xpnet.training.step import clip_by_global_norm

ACTIVATIONS = ["leaky_relu", "elu", "gelu", "softplus"]


def data(rng, n=12, d=4, k=3, loss="cross_entropy"):
    x = rng.normal(size=(n, d))
    y = rng.integers(0, k, size=n) if loss == "cross_entropy" else rng.uniform(0.05, 0.95, size=(n, k))
    return x, y


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
def test_finite_differences(activation, norm, loss):
    rng = np.random.default_rng(3)
    net = xpnet.MLP((4, 6, 5, 3), activation=activation, loss=loss, norm=norm, dropout=0.25, device="cpu",
                    dtype="float64", seed=1)  # fmt: skip
    for b in net.params[1::2][:1]:
        b += 0.2  # away from the leaky/relu-like kinks at exactly 0
    x, y = data(rng, loss=loss)
    result = check_grads(net, x, y, l2=0.01, max_entries=None)  # training mode: batch statistics, a dropout mask
    assert result.passed, result.per_parameter
    if norm == "batch":  # evaluation mode too: the running statistics as constants
        assert check_grads(net, x, y, l2=0.01, max_entries=None, context=EVALUATION).passed


def test_finite_differences_can_fail(monkeypatch):
    from xpnet.nn import activations

    table = dict(activations.ACTIVATIONS)
    table["gelu"] = (activations.gelu, lambda z, a: activations.gelu_derivative(z, a) * 1.01)
    monkeypatch.setattr(activations, "ACTIVATIONS", table)
    net = xpnet.MLP((4, 6, 3), activation="gelu", device="cpu", dtype="float64", seed=1)
    assert not check_grads(net, *data(np.random.default_rng(0)), max_entries=None).passed


def _reference_layers(net, context, rows):
    """The network as reference_layers' list, with the dropout masks xpnet draws for ``context``."""
    layers, number, units = [], 0, 0
    for layer in net.layers:
        name = type(layer).__name__
        if name == "Dense":
            number, units = number + 1, layer.fan_out
            layers.append(("dense", number))
        elif name in ("BatchNorm", "LayerNorm"):
            layers.append(("batch" if name == "BatchNorm" else "layer", number))
        elif name == "Activation":
            layers.append(("act", layer.name))
        elif context.training and layer.rate:
            key = step_key(context.seed, context.step, layer.stream)
            keep = ref.dropout_keep((rows, units), key, context.first_row, 1 - layer.rate)
            layers.append(("drop", keep / (1 - layer.rate)))
    return layers


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(("norm", "loss"), [("batch", "cross_entropy"), ("layer", "binary_cross_entropy")])
def test_every_backend_matches_the_reference(backend, activation, norm, loss, rng):
    net = backend.mlp((5, 7, 6, 3), activation=activation, loss=loss, norm=norm, dropout=0.3, seed=0)
    x, y = data(rng, n=16, d=5, loss=loss)
    context = Context(training=True, seed=11, step=5, first_row=3)
    value, grads = net.loss_and_grads(x, y, l2=0.01, context=context)
    for g in grads:
        assert xpnet.backend.backend_of(g).spec == backend.spec and g.dtype == backend.dtype
    backend.require_values()
    params = {name: xpnet.to_numpy(p).astype(np.float64) for name, p in zip(net.param_names, net.params)}
    ref_value, ref_grads = ref.forward_backward(_reference_layers(net, context, 16), params, x, y, loss, l2=0.01)
    tolerance = dict(rtol=backend.rtol, atol=backend.rtol * 10)
    np.testing.assert_allclose(float(xpnet.to_numpy(value)), ref_value, **tolerance)
    for name, g in zip(net.param_names, grads):
        np.testing.assert_allclose(xpnet.to_numpy(g), ref_grads[name], err_msg=name, **tolerance)
    if norm == "batch":  # the running statistics moved by momentum 0.1 towards the batch's (unbiased variance)
        z1 = x @ params["W1"] + params["b1"]
        np.testing.assert_allclose(xpnet.to_numpy(net.buffers[0]), 0.1 * z1.mean(axis=0), **tolerance)
        np.testing.assert_allclose(xpnet.to_numpy(net.buffers[1]), 0.9 + 0.1 * z1.var(axis=0, ddof=1), **tolerance)


def test_dropout_masks_are_the_same_on_every_backend(backend):
    backend.require_values()
    mask = keep_mask(backend.xp, backend.device, (33, 17), key=123456789, first_row=40, keep=0.7)
    expected = ref.dropout_keep((33, 17), 123456789, 40, 0.7)
    np.testing.assert_array_equal(xpnet.to_numpy(mask), expected)
    assert 0.65 < expected.mean() < 0.75
    whole = ref.dropout_keep((73, 17), 123456789, 0, 0.7)
    np.testing.assert_array_equal(whole[40:], expected)  # a shard draws what the whole batch draws there


def test_dropout_is_off_in_evaluation_and_scales_in_training(rng):
    net = xpnet.MLP((4, 2000, 3), dropout=0.5, device="cpu", dtype="float64", seed=0)
    x = np.ones((1, 4))
    plain = xpnet.MLP.from_params(net.params)  # the same weights without dropout
    x8, y8 = rng.normal(size=(8, 4)), rng.integers(0, 3, size=8)
    np.testing.assert_array_equal(net(x8), plain(x8))  # evaluation: no mask, no 1/keep scaling
    np.testing.assert_array_equal(net.predict_proba(x8), plain.predict_proba(x8))
    assert xpnet.evaluate(net, x8, y8).loss == xpnet.evaluate(plain, x8, y8).loss
    assert (
        net.loss_and_grads(x8, y8, context=Context(training=True, seed=1, step=2))[0] != plain.loss_and_grads(x8, y8)[0]
    )
    dense, relu, drop = net.layers[0], net.layers[1], net.layers[2]
    z, _, _ = dense.forward(net.params[:2], [], x, EVALUATION)
    a, _, _ = relu.forward([], [], z, EVALUATION)
    dropped, scale, _ = drop.forward([], [], a, Context(training=True, seed=1, step=2))
    kept = np.asarray(scale) > 0
    assert 0.45 < kept.mean() < 0.55 and np.allclose(np.asarray(dropped)[kept], 2 * np.asarray(a)[kept])


def test_batch_norm_evaluates_with_its_running_statistics(rng):
    x, y = rng.normal(size=(64, 4)) * 3 + 1, rng.integers(0, 3, size=64)
    result = xpnet.train(x, y, hidden=(6,), norm="batch", epochs=3, batch_size=16, device="cpu", dtype="float64",
                         seed=0, verbose=0, progress=False)  # fmt: skip
    net = result.model
    p = dict(zip(net.param_names, map(xpnet.to_numpy, net.params)))
    b = dict(zip(net.buffer_names, map(xpnet.to_numpy, net.buffers)))
    assert np.all(b["running_var1"] != 1.0) and np.all(b["running_mean1"] != 0.0)  # moved by training
    batch = x[:5]
    z = batch @ p["W1"] + p["b1"]
    normed = (z - b["running_mean1"]) / np.sqrt(b["running_var1"] + 1e-5) * p["gamma1"] + p["beta1"]
    expected = np.maximum(normed, 0.0) @ p["W2"] + p["b2"]
    np.testing.assert_allclose(xpnet.to_numpy(net(batch)), expected, rtol=1e-12, atol=1e-12)
    one = xpnet.to_numpy(net(batch[:1]))  # a row's output does not depend on the rows beside it
    np.testing.assert_allclose(one, expected[:1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["rmsprop", "adamw"])
def test_new_optimizers_match_the_reference(backend, name, rng):
    net = backend.mlp((5, 8, 3), activation="tanh", seed=1)
    x, y = rng.normal(size=(16, 5)), rng.integers(0, 3, size=16)
    start = [xpnet.to_numpy(p).astype(np.float64) for p in net.params] if backend.has_values else None
    opt = xpnet.optim.make_optimizer(name, 0.01)
    for _ in range(15):
        opt.step(net.params, net.loss_and_grads(x, y, l2=0.001)[1])
    backend.require_values()

    def grads(params):
        return reference.loss_and_grads(params, x, y, "tanh", "cross_entropy", l2=0.001)[1]

    expected = (ref.rmsprop if name == "rmsprop" else ref.adamw)(start, grads, 15, 0.01)
    for p, e in zip(net.params, expected):
        np.testing.assert_allclose(xpnet.to_numpy(p), e, rtol=backend.rtol * 10, atol=backend.rtol * 10)


def test_clipping_by_global_norm(backend):
    backend.require_values()
    host = [np.full((3, 4), 3.0), np.full((4,), 4.0)]
    norm = np.sqrt(sum((g**2).sum() for g in host))
    with backend.backend.activate():  # an internal step of the loop, which runs on the model's device
        clipped = clip_by_global_norm([backend.asarray(g.copy()) for g in host], 2.0)  # scaled in place
        kept = clip_by_global_norm([backend.asarray(g.copy()) for g in host], 1e9)
    for c, g in zip(clipped, host):
        np.testing.assert_allclose(xpnet.to_numpy(c), g * 2.0 / norm, rtol=backend.rtol)
    np.testing.assert_array_equal(xpnet.to_numpy(kept[0]), host[0])


def test_toolbox_trains_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 6))
    y = (x[:, 0] + x[:, 1] ** 2 > 1).astype(int)
    result = xpnet.train(((x[:500], y[:500]), (x[500:], y[500:])), hidden=(32, 16), norm="batch", dropout=0.1,
                         activation="gelu", optimizer="adamw", lr=0.01, clip_norm=1.0, epochs=15, batch_size=32,
                         device="cpu", verbose=0, progress=False)  # fmt: skip
    assert result.test.accuracy > 0.85
    assert result.history.meta["norm"] == "batch" and result.history.meta["dropout"] == [0.1, 0.1]
    path = xpnet.save(result.model, tmp_path / "m.safetensors")
    loaded = xpnet.load(path, "strict:device1")
    assert loaded.param_names == result.model.param_names and loaded.buffer_names == ["running_mean1", "running_var1",
                                                                                      "running_mean2", "running_var2"]  # fmt: skip
    np.testing.assert_allclose(xpnet.to_numpy(loaded.predict_proba(x)), xpnet.to_numpy(result.model.predict_proba(x)),
                               rtol=1e-6, atol=1e-7)  # fmt: skip
    moved = result.model.to("torch:cpu") if "torch:cpu" in xpnet.devices() else loaded
    np.testing.assert_array_equal(xpnet.to_numpy(moved.predict(x)), xpnet.to_numpy(result.model.predict(x)))


class _Interrupt(Exception):
    pass


def test_resume_is_bit_exact_with_dropout_and_running_statistics(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 6)), rng.integers(0, 3, size=400)
    settings = dict(hidden=(16,), norm="batch", dropout=0.3, epochs=3, batch_size=32, device="cpu", verbose=0,
                    progress=False, checkpoint_every=5, seed=4)  # fmt: skip
    whole = xpnet.train((x, y), checkpoint_dir=tmp_path / "a", **settings)

    def stop(record, model):
        if record["epoch"] == 2:
            raise _Interrupt  # after epoch 2's mid-epoch checkpoints, before its end-of-epoch one

    with pytest.raises(_Interrupt):
        xpnet.train((x, y), checkpoint_dir=tmp_path / "b", callbacks=[stop], **settings)
    resumed = xpnet.train((x, y), checkpoint_dir=tmp_path / "b", resume=True, **settings)
    for a, b in zip(whole.model.params + whole.model.buffers, resumed.model.params + resumed.model.buffers):
        np.testing.assert_array_equal(a, b)
    assert len(resumed.model.buffers) == 2


@pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")  # one sample: a constant x
def test_batch_norm_refuses_a_batch_of_one_sample(rng):
    model = xpnet.MLP((4, 5, 3), norm="batch")
    x, y = data(rng, n=65)
    with pytest.raises(xpnet.XPNetValueError, match=r"x: batch normalization in training needs at least 2 samples"):
        model.loss_and_grads(x[:1], y[:1])
    model(x[:1])  # evaluation uses the running statistics: one sample is fine
    with pytest.raises(xpnet.XPNetValueError, match=r"batch_size: .*65 training samples in batches of 32 leave a last "
                       r"batch of 1; choose another batch_size \(such as 33\)"):  # fmt: skip
        xpnet.train((x, y), hidden=(5,), norm="batch", batch_size=32, epochs=1, progress=False, verbose=0)
    xpnet.train((x, y), hidden=(5,), norm="layer", batch_size=32, epochs=1, progress=False, verbose=0)
    with pytest.raises(xpnet.XPNetValueError, match=r"batch_size: norm='batch' needs at least 2 samples per batch"):
        xpnet.train((x, y), hidden=(5,), norm="batch", batch_size=1, epochs=1, progress=False, verbose=0)
    with pytest.raises(xpnet.XPNetValueError, match=r"x: norm='batch' needs at least 2 training samples; received 1"):
        xpnet.train((x[:1], y[:1]), hidden=(5,), norm="batch", batch_size=1, epochs=1, progress=False, verbose=0)
    xpnet.train((x, y), hidden=(), norm="batch", batch_size=1, epochs=1, progress=False, verbose=0)  # no hidden layer


def test_a_given_model_fixes_its_architecture(rng):
    model = xpnet.MLP((4, 5, 3), dropout=0.2, activation="tanh")
    x, y = data(rng, n=32)
    for same in ({"dropout": [0.2]}, {"dropout": 0.2}, {"hidden": (5,)}, {"activation": "tanh"}):  # accepted
        xpnet.train((x, y), model=model, epochs=1, progress=False, verbose=0, **same)
    for option in ({"dropout": 0.5}, {"norm": "layer"}, {"hidden": (7,)}, {"activation": "gelu"}, {"loss": "mse"},
                   {"norm_momentum": 0.5}, {"norm_eps": 1e-3}):  # fmt: skip
        name = next(iter(option))
        with pytest.raises(xpnet.XPNetValueError, match=rf"{name}: the model given with model= fixes its layers"):
            xpnet.train((x, y), model=model, epochs=1, progress=False, verbose=0, **option)


def test_train_sets_batch_norms_momentum_and_eps(rng, tmp_path):
    x, y = data(rng, n=64)
    settings = dict(hidden=(5,), norm="batch", epochs=2, batch_size=16, device="cpu", progress=False, verbose=0)
    frozen = xpnet.train((x, y), norm_momentum=0.0, norm_eps=1e-3, **settings)
    assert (frozen.model.arch.norm_momentum, frozen.model.arch.norm_eps) == (0.0, 1e-3)
    assert (frozen.history.meta["norm_momentum"], frozen.history.meta["norm_eps"]) == (0.0, 1e-3)
    mean, var = (xpnet.to_numpy(b) for b in frozen.model.buffers)  # momentum 0: never moved from their start
    np.testing.assert_array_equal(mean, 0.0)
    np.testing.assert_array_equal(var, 1.0)
    moved = xpnet.train((x, y), norm_momentum=1.0, **settings).model  # momentum 1: the last batch's statistics
    assert np.all(xpnet.to_numpy(moved.buffers[0]) != 0.0)
    assert xpnet.load(xpnet.save(frozen.model, tmp_path / "m.safetensors")).arch.norm_eps == 1e-3
    with pytest.raises(xpnet.XPNetValueError, match=r"norm_momentum: expected a number in \[0, 1\]; received 2\.0"):
        xpnet.train((x, y), norm_momentum=2.0, **settings)


def test_the_architecture_defaults_are_trains():
    from xpnet.training.args import ARCHITECTURE_DEFAULTS

    parameters = inspect.signature(xpnet.train).parameters
    assert {name: parameters[name].default for name in ARCHITECTURE_DEFAULTS} == ARCHITECTURE_DEFAULTS


def test_weight_decay_is_adamws_alone(rng):
    x, y = data(rng, n=32)
    with pytest.raises(xpnet.XPNetValueError, match=r"weight_decay: only optimizer='adamw' .*optimizer='sgd'"):
        xpnet.train((x, y), hidden=(5,), optimizer="sgd", weight_decay=0.1, epochs=1, progress=False, verbose=0)
    with pytest.raises(xpnet.XPNetValueError, match=r"weight_decay: AdamW objects carry their own settings"):
        xpnet.train((x, y), hidden=(5,), optimizer=xpnet.optim.AdamW(0.01), weight_decay=0.1, epochs=1)
    result = xpnet.train((x, y), hidden=(5,), optimizer="adamw", weight_decay=0.1, epochs=1, progress=False, verbose=0)
    assert result.history.meta["weight_decay"] == 0.1
