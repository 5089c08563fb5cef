"""The training loop: it learns, it is reproducible across backends, and it never syncs inside an epoch."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.training import metrics as metrics_module


def blobs(n=400, seed=0):
    """Three well separated Gaussian blobs in 2-D."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = rng.integers(0, 3, size=n)
    return rng.normal(size=(n, 2)) * 0.5 + centers[y], y


def xor(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    return x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)


@pytest.mark.parametrize("problem", [blobs, xor])
def test_learns_small_problems_on_every_backend(backend, problem):
    backend.require_values()
    x, y = problem()
    result = xpnet.train(
        (x, y), device=backend.backend, dtype=backend.dtype_name, hidden=(16,), epochs=60, batch_size=32,
        optimizer="adam", lr=0.01, l2=0.0, lr_schedule="constant", seed=1, progress=False,
    )  # fmt: skip
    assert result.device == backend.backend.spec
    assert result.model.params[0].dtype == backend.dtype
    final = xpnet.evaluate(result.model, x, y)
    assert final.accuracy >= 0.95, result.history["train_accuracy"][-5:]
    assert result.history["train_loss"][-1] < 0.5 * result.history["train_loss"][0]


def test_quadratic_loss_with_one_hot_targets_learns():
    x, labels = blobs()
    targets = np.eye(3)[labels]
    result = xpnet.train(
        (x, targets), device="cpu", hidden=(8,), activation="sigmoid", loss="quadratic", epochs=40,
        batch_size=10, optimizer="sgd", lr=3.0, l2=0.0, lr_schedule="constant", progress=False,
    )  # fmt: skip
    assert result.model.loss == "quadratic"
    assert xpnet.evaluate(result.model, x, targets).accuracy >= 0.95


@pytest.mark.slow
def test_short_mnist_run_beats_ninety_percent():
    (x, y), (xt, yt) = xpnet.datasets.load_mnist()
    result = xpnet.train(
        ((x[:5000], y[:5000]), (xt[:2000], yt[:2000])), device="cpu", hidden=(64,), epochs=10, progress=False
    )
    assert result.test is not None and result.test.accuracy >= 0.90
    assert result.test.confusion.sum() == 2000 and result.test.confusion.shape == (10, 10)
    assert np.trace(result.test.confusion) == round(result.test.accuracy * 2000)


def test_same_seed_same_history_on_numpy_and_strict_device1():
    x, y = blobs(n=300)
    runs = [
        xpnet.train((x, y), device=spec, hidden=(8,), epochs=3, batch_size=32, seed=7, progress=False, validation=0.2)
        for spec in ("cpu", "strict:device1", "cpu")
    ]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
        np.testing.assert_allclose(runs[0].history[key], runs[1].history[key], rtol=1e-6, err_msg=key)
        assert runs[0].history[key] == runs[2].history[key]  # same backend: identical
    other = xpnet.train((x, y), device="cpu", hidden=(8,), epochs=3, batch_size=32, seed=8, progress=False)
    assert other.history["train_loss"] != runs[0].history["train_loss"]


def test_no_host_sync_inside_the_epoch(monkeypatch):
    """On torch:meta any read of a value raises; the only read allowed is Metrics.read, once per epoch."""
    pytest.importorskip("torch")
    reads = []

    def fake_to_numpy(a):
        reads.append(tuple(a.shape))
        return np.zeros(tuple(a.shape))

    monkeypatch.setattr(metrics_module, "to_numpy", fake_to_numpy)
    x, y = blobs(n=640)
    result = xpnet.train((x, y), device="torch:meta", hidden=(8,), epochs=2, batch_size=32, progress=False)
    assert len(reads) == 2  # 20 steps per epoch, one read per epoch
    assert all(p.device.type == "meta" for p in result.model.params)
    reads.clear()
    xpnet.train((x, y), device="torch:meta", hidden=(8,), epochs=1, batch_size=32, progress=True)
    assert 1 < len(reads) <= 12  # progress refreshes read about ten times an epoch, never every step


def test_device_auto_follows_device_data():
    strict = pytest.importorskip("array_api_strict")
    x, y = blobs(n=100)
    d1 = strict.Device("device1")
    xd, yd = strict.asarray(x, device=d1), strict.asarray(y, device=d1)
    result = xpnet.train((xd, yd), hidden=(4,), epochs=1, progress=False, validation=0.2)
    assert result.device == "strict:device1" and result.placement == "device"
    assert result.model.params[0].device == d1


def test_early_stopping_restores_the_best_weights():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 10)), rng.integers(0, 3, size=200)  # pure noise: validation loss soon rises
    snapshots = []

    def remember(record, model):
        snapshots.append([xpnet.to_numpy(p).copy() for p in model.params])

    stopper = xpnet.EarlyStopping(patience=2)
    result = xpnet.train(
        (x, y), device="cpu", hidden=(64,), epochs=200, lr=0.5, optimizer="sgd", lr_schedule="constant",
        validation=0.3, early_stopping=stopper, callbacks=[remember], progress=False,
    )  # fmt: skip
    assert result.stopped_early and len(result.history) < 200
    best = result.history.best("val_loss")
    assert stopper.best_epoch == best["epoch"] and len(result.history) == best["epoch"] + 3
    for restored, kept in zip(result.model.params, snapshots[best["epoch"] - 1]):
        np.testing.assert_array_equal(xpnet.to_numpy(restored), kept)


def test_schedules_shape_the_learning_rate():
    x, y = blobs(n=64)
    lrs = {
        name: xpnet.train(
            (x, y), device="cpu", hidden=(4,), epochs=4, batch_size=64, lr=0.1, lr_schedule=name, progress=False
        ).history["lr"]
        for name in ("constant", "step", "cosine")
    }
    assert lrs["constant"] == [0.1] * 4
    assert lrs["step"] == pytest.approx([0.1, 0.01, 0.001, 0.0001])
    assert lrs["cosine"] == pytest.approx([0.1 * 0.5 * (1 + np.cos(np.pi * s / 4)) for s in range(4)])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": -1}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"l2": -0.1}, "l2"),
        ({"batch_size": 0}, "batch_size"),
        ({"validation": 1.5}, "validation"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"lr_schedule": "linear"}, "lr_schedule"),
        ({"placement": "disk"}, "placement"),
        ({"hidden": 16}, "hidden"),
        ({"early_stopping": 3}, "validation"),
        ({"data": "cifar10"}, "data"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    x, y = blobs(n=40)
    args = {"data": (x, y), "device": "cpu", "progress": False, "epochs": 1} | kwargs
    with pytest.raises(xpnet.XPNetError, match=match):
        xpnet.train(args.pop("data"), **args)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")  # huge inputs on purpose
def test_divergence_is_reported_with_the_epoch():
    x, y = blobs(n=64)
    expected = r"epoch \d+.*smaller learning rate than lr=1e\+10 \(the schedule's [\d.e+]+ at that step\)"
    with pytest.raises(xpnet.TrainingDivergedError, match=expected):
        xpnet.train((x * 1e30, y), device="cpu", hidden=(4,), epochs=2, lr=1e10, progress=False)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_weights_that_overflow_are_reported_at_the_runs_step_as_a_loss_is():
    """The weights' check named the optimizer's lifetime count (step 6 of a second run's first step) where the
    loss's names the run's own step."""
    x, y = blobs(n=64)
    opt = xpnet.optim.make_optimizer("sgd", 0.01)
    first = xpnet.train((x, y), device="cpu", hidden=(4,), epochs=5, batch_size=64, optimizer=opt, progress=False)
    opt.lr = 1e300  # the loss of the next step is finite; its update overflows the weights
    with pytest.raises(xpnet.TrainingDivergedError) as caught:
        xpnet.train((x, y), model=first.model, optimizer=opt, epochs=1, batch_size=64, progress=False)
    assert (caught.value.step, caught.value.epoch) == (1, 1) and opt.steps == 6


def test_quadratic_labels_in_validation_and_test_follow_the_training_classes():
    x, y = blobs(n=90)
    result = xpnet.train(
        ((x, y), (x[:5], np.zeros(5, dtype=np.int64))), loss="quadratic", validation=(x[:6], y[:6]),
        device="cpu", hidden=(4,), epochs=1, progress=False,
    )  # fmt: skip
    assert result.model.sizes[-1] == 3 and result.history[0]["val_accuracy"] is not None
    assert result.test is not None and result.test.confusion.shape == (3, 3)


@pytest.mark.parametrize("callbacks", [3, print, ["not callable"]])
def test_callbacks_must_be_a_list_of_callables(callbacks):
    x, y = blobs(n=20)
    with pytest.raises(xpnet.XPNetTypeError, match=r"callbacks(\[0\])?: expected"):
        xpnet.train((x, y), device="cpu", epochs=1, progress=False, callbacks=callbacks)


def test_a_warm_up_schedule_may_start_at_zero():
    x, y = blobs(n=64)
    result = xpnet.train((x, y), device="cpu", hidden=(4,), epochs=2, batch_size=64, lr=0.1, progress=False,
                         lr_schedule=lambda done: min(1.0, done / 0.5))  # fmt: skip
    assert result.history["lr"] == pytest.approx([0.0, 0.1])


def test_continued_model_refuses_a_conflicting_device_or_dtype():
    x, y = blobs(n=40)
    net = xpnet.MLP((2, 4, 3), device="cpu", seed=0)
    with pytest.raises(xpnet.XPNetValueError, match=r"device: the model lives on 'cpu' but device='strict:device1'"):
        xpnet.train((x, y), model=net, device="strict:device1", epochs=1, progress=False)
    with pytest.raises(xpnet.XPNetValueError, match=r"dtype: the model is float32 but dtype='float64'"):
        xpnet.train((x, y), model=net, dtype="float64", epochs=1, progress=False)
    xpnet.train((x, y), model=net, device="cpu", dtype="float32", epochs=1, progress=False)  # agreeing is fine
    for same in ("CPU", " Auto ", "numpy"):  # specs are case-insensitive here too
        xpnet.train((x, y), model=net, device=same, epochs=1, progress=False, verbose=0)


def test_a_bad_test_split_is_refused_before_any_training():
    x, y = blobs(n=60)
    epochs_run = []
    with pytest.raises(xpnet.XPNetValueError, match=r"y_test: labels run up to 3, but the training labels hold only "
                       r"classes 0 to 2, and the number of outputs \(3\) comes from them"):  # fmt: skip
        xpnet.train(((x, y), (x[:5], np.array([0, 1, 2, 3, 0]))), device="cpu", hidden=(4,), epochs=3,
                    progress=False, callbacks=[lambda record, model: epochs_run.append(record["epoch"])])  # fmt: skip
    assert epochs_run == []


def test_resume_needs_an_integer_seed(tmp_path):
    x, y = blobs(n=40)
    with pytest.raises(xpnet.XPNetValueError, match="seed: resume needs an integer seed"):
        xpnet.train((x, y), device="cpu", epochs=1, progress=False, checkpoint_dir=tmp_path, resume=True, seed=None)


@pytest.mark.parametrize(("optimizer", "lr"), [("momentum", 0.05), ("sgd", 0.05), ("adam", 1e-3), ("rmsprop", 1e-3)])
def test_each_optimizer_gets_its_own_default_learning_rate(optimizer, lr):
    x, y = blobs(n=64)
    result = xpnet.train((x, y), hidden=(4,), optimizer=optimizer, epochs=1, device="cpu", progress=False, verbose=0)
    assert result.optimizer.lr == lr and result.history.meta["lr"] == lr
    given = xpnet.train((x, y), hidden=(4,), optimizer=optimizer, lr=0.2, epochs=1, device="cpu", verbose=0)
    assert given.optimizer.lr == 0.2 and given.history.meta["lr"] == 0.2
