"""xpnet.sklearn: scikit-learn's estimator checks, Array API inputs on their device, pipelines, search, pickling,
saving, and results at least as good as scikit-learn's own MLP with the same architecture and budget."""

from __future__ import annotations

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # lets scikit-learn run its Array API checks (torch, strict)

import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn import neural_network  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, make_friedman1  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import xpnet  # noqa: E402
from xpnet.backend import backend_of, resolve  # noqa: E402
from xpnet.sklearn import MLPClassifier, MLPRegressor, load_estimator, save_estimator  # noqa: E402

# Every check runs; none is expected to fail. The ones scikit-learn skips are for devices this machine lacks
# (CuPy, PyTorch CUDA/MPS/XPU, dpnp): they are listed with their reasons in docs/sklearn.md.
EXPECTED_FAILURES: dict[str, str] = {}


@pytest.mark.filterwarnings("ignore::xpnet.advice.DataWarning")  # scikit-learn's check data: one label, offset x
@parametrize_with_checks([MLPClassifier(), MLPRegressor()], expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    return rng.normal(size=(n, 5)) + 3.0 * np.eye(5)[y], y


QUICK = dict(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01, random_state=0)


@pytest.mark.parametrize("spec", ["torch:cpu", "strict:device1"])
def test_array_api_inputs_train_and_predict_on_their_device(spec):
    if spec.startswith("torch"):
        pytest.importorskip("torch")
    target = resolve(spec)
    x, y = blobs()
    xd, yd = target.asarray(x.astype(np.float32)), target.asarray(y)
    with sklearn.config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(**QUICK).fit(xd, yd)
        predicted, proba = clf.predict(xd), clf.predict_proba(xd)
        reg = MLPRegressor(**QUICK).fit(xd, target.asarray(x[:, 0]))
        values = reg.predict(xd)
    assert clf.model_.backend.spec == reg.model_.backend.spec == target.spec
    for out in (predicted, proba, values):
        assert backend_of(out).spec == target.spec  # the predictions come back on the inputs' device
    assert tuple(proba.shape) == (300, 3) and tuple(values.shape) == (300,)
    assert np.mean(xpnet.to_numpy(predicted) == y) > 0.9
    with (
        sklearn.config_context(array_api_dispatch=True),
        pytest.raises(ValueError, match="must use the same namespace"),
    ):
        clf.predict(x)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # a short max_iter on purpose
def test_string_labels_int_and_float32_inputs_partial_fit_and_warm_start():
    x, y = blobs()
    names = np.array(["ant", "bee", "cat"])[y]
    clf = MLPClassifier(**QUICK).fit(x.astype(np.int64), names)
    assert clf.classes_.tolist() == ["ant", "bee", "cat"] and clf.predict(x[:4]).dtype.kind == "U"
    assert clf.model_.dtype == clf.model_.xp.float64
    assert MLPClassifier(**QUICK).fit(x.astype(np.float32), y).model_.dtype == resolve("cpu").xp.float32
    assert clf.score(x, names) > 0.9 and len(clf.loss_curve_) == clf.n_iter_ <= 30

    online = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(xpnet.XPNetValueError, match="classes: the first call to partial_fit needs every class"):
        online.partial_fit(x[:50], y[:50])
    online.partial_fit(x[:50], y[:50], classes=[0, 1, 2])
    for _ in range(20):
        online.partial_fit(x, y)
    assert online.n_iter_ == 21 and online.score(x, y) > 0.9
    first = MLPClassifier(**QUICK, warm_start=True).fit(x, y)
    weights = xpnet.to_numpy(first.model_.params[0]).copy()
    first.fit(x, y)  # continues: the weights move on from where they were
    assert not np.array_equal(weights, xpnet.to_numpy(first.model_.params[0])) and len(first.loss_curve_) > 30


def test_changed_layers_restart_a_warm_fit_and_stop_partial_fit():
    x, y = blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(**QUICK, warm_start=True).fit(x, y)
        clf.set_params(hidden_layer_sizes=(7,), activation="gelu").fit(x, y)  # would not fit the old weights
    assert clf.model_.sizes == (x.shape[1], 7, 3) and clf.model_.activation == "gelu"
    assert len(clf.loss_curve_) == clf.n_iter_  # a fresh start: the old curve is gone
    clf.set_params(dropout=0.5)
    with pytest.raises(xpnet.XPNetValueError, match=r"dropout: partial_fit continues the fitted network"):
        clf.partial_fit(x, y)
    clf.set_params(dropout=0.0)
    with pytest.raises(xpnet.XPNetValueError, match=r"classes: \[0, 1, 2, 3\] differ from the classes"):
        clf.partial_fit(x, y, classes=[0, 1, 2, 3])
    clf.partial_fit(x, y, classes=[2, 1, 0])  # the same classes, in any order


def test_dtype_objects_and_generator_seeds_are_accepted_and_saved(tmp_path):
    x, y = blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(**(QUICK | {"random_state": np.random.RandomState(0)}), dtype=np.float32).fit(x, y)
    assert clf.model_.dtype == resolve("cpu").xp.float32
    loaded = load_estimator(save_estimator(clf, tmp_path / "m.safetensors"))
    assert loaded.get_params()["dtype"] == "float32" and loaded.get_params()["random_state"] is None
    np.testing.assert_array_equal(loaded.predict_proba(x), clf.predict_proba(x))
    clf.set_params(device=resolve("cpu"))  # a Backend object: fine to fit with, not JSON
    with pytest.raises(xpnet.XPNetValueError, match=r"device: save_estimator writes the parameters as JSON"):
        save_estimator(clf, tmp_path / "n.safetensors")
    assert not (tmp_path / "n.safetensors").exists()


def test_early_stopping_and_bad_parameters():
    x, y = blobs(n=600)
    clf = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=3, random_state=0).fit(x, y)
    assert clf.n_iter_ < 200 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    for bad, message in [
        (
            dict(hidden_layer_sizes=(0,)),
            r"hidden_layer_sizes: every width must be a positive integer such as \(100,\); received \(0,\)",
        ),
        (
            dict(activation="swish"),
            r"activation: expected one of \['elu', 'gelu', 'identity', 'leaky_relu', 'logistic', 'relu', 'sigmoid', "
            r"'softplus', 'tanh'\]",
        ),
        (dict(batch_size=0), r"batch_size: expected 'auto' or a positive integer"),
        (dict(max_iter=0), r"max_iter: expected a positive integer"),
        (dict(alpha=-1), r"alpha: expected a finite number >= 0\.0; received -1"),  # not the l2 it becomes
        (
            dict(optimizer="lbfgs"),
            r"optimizer: expected one of \['adam', 'adamw', 'momentum', 'nesterov', 'rmsprop', 'sgd'\]",
        ),
    ]:
        with pytest.raises(xpnet.XPNetError, match=message):
            MLPClassifier(**bad).fit(x, y)


def test_pipeline_grid_search_clone_and_pickle():
    x, y = blobs()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**QUICK))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2, n_jobs=2).fit(x, y)
    assert search.best_score_ > 0.9
    fitted = search.best_estimator_
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(x), fitted.predict_proba(x))
    assert clone(fitted[-1]).get_params() == fitted[-1].get_params() and not hasattr(clone(fitted[-1]), "model_")


def test_save_and_load_through_xpnets_safe_format(tmp_path):
    x, y = blobs()
    names = np.array(["ant", "bee", "cat"])[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(**QUICK).fit(x, names)
        reg = MLPRegressor(**QUICK).fit(x, x[:, :2])
        single = MLPRegressor(**QUICK).fit(x, x[:, 0])  # (n,) targets: the model alone predicts (n,) too
    for estimator in (clf, reg):
        path = save_estimator(estimator, tmp_path / f"{type(estimator).__name__}.safetensors")
        assert b"pickle" not in path.read_bytes()[:2000]
        loaded = load_estimator(path, device="strict:device1")
        assert loaded.get_params() == {**estimator.get_params()}
        got, expected = loaded.predict(x), estimator.predict(x)
        if got.dtype.kind == "U":  # class names
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert single.predict(x).shape == single.model_.predict(x).shape == (len(x),)
    xpnet.save(single.model_, tmp_path / "single.safetensors")
    assert xpnet.load(tmp_path / "single.safetensors").predict(x).shape == (len(x),)
    xpnet.save(clf.model_, tmp_path / "plain.safetensors")
    with pytest.raises(xpnet.DataIntegrityError, match=r"not one saved by xpnet\.sklearn\.save_estimator"):
        load_estimator(tmp_path / "plain.safetensors")


def _mean_scores(ours, theirs, x_train, y_train, x_test, y_test, seeds=range(4)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mine = [ours(random_state=s).fit(x_train, y_train).score(x_test, y_test) for s in seeds]
        peer = [theirs(random_state=s).fit(x_train, y_train).score(x_test, y_test) for s in seeds]
    return float(np.mean(mine)), float(np.mean(peer))


def test_digits_accuracy_at_least_scikit_learns():
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, random_state=0, stratify=y)
    settings = dict(hidden_layer_sizes=(64,), max_iter=200)
    ours, theirs = _mean_scores(lambda **k: MLPClassifier(**settings, **k), lambda **k: neural_network.MLPClassifier(**settings, **k),
                                x_train, y_train, x_test, y_test)  # fmt: skip
    print(f"digits test accuracy, mean of 4 seeds: xpnet {ours:.4f}, scikit-learn {theirs:.4f}")
    assert ours >= theirs - 0.005 and ours > 0.96


def test_friedman_r2_at_least_scikit_learns():
    x, y = make_friedman1(n_samples=3000, noise=0.5, random_state=0)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0)
    settings = dict(hidden_layer_sizes=(64,), max_iter=300)
    ours, theirs = _mean_scores(lambda **k: MLPRegressor(**settings, **k), lambda **k: neural_network.MLPRegressor(**settings, **k),
                                x_train, y_train, x_test, y_test)  # fmt: skip
    print(f"make_friedman1 test R², mean of 4 seeds: xpnet {ours:.4f}, scikit-learn {theirs:.4f}")
    assert ours >= theirs - 0.01 and ours > 0.95  # it was 0.80-0.82 from He initialisation on raw targets


def test_alpha_and_the_loss_are_on_scikit_learns_scale(monkeypatch):
    from xpnet.sklearn import _base

    given = []
    real = _base.train
    monkeypatch.setattr(_base, "train", lambda *a, **k: given.append(k["l2"]) or real(*a, **k))
    x, y = blobs(n=80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(hidden_layer_sizes=(4,), alpha=0.3, batch_size=20, max_iter=1).fit(x, y)
        # one full-batch epoch at a vanishing learning rate: the epoch's loss is the initial weights' loss
        reg = MLPRegressor(hidden_layer_sizes=(4,), alpha=0.3, batch_size=80, max_iter=1, optimizer="sgd",
                           learning_rate_init=1e-12, random_state=0, standardize_targets=False).fit(x, y.astype(float))  # fmt: skip
        scaled = MLPRegressor(hidden_layer_sizes=(4,), alpha=0.3, batch_size=80, max_iter=1, optimizer="sgd",
                              learning_rate_init=1e-12, random_state=0).fit(x, 10 * y.astype(float))  # fmt: skip
    variance = np.var(10 * y)  # on standardized targets the data term shrinks by their variance: alpha too
    assert given == pytest.approx([0.3 / 20, 2 * 0.3 / 80, 2 * 0.3 / 80 / variance])  # mse: twice squared_error
    half_mean_square = 0.5 * np.mean((reg.predict(x) - y) ** 2)  # scikit-learn's squared_error
    assert reg.loss_curve_ == [pytest.approx(half_mean_square, rel=1e-9)] and reg.best_loss_ == reg.loss_curve_[0]
    assert scaled.model_.target_standardization[1][0] == pytest.approx(np.std(10 * y))
    # trained on standardized targets, the curve (and tol) is still in the targets' units, as scikit-learn's
    assert scaled.loss_curve_ == [pytest.approx(0.5 * np.mean((scaled.predict(x) - 10 * y) ** 2), rel=1e-7)]


def test_a_warm_fit_builds_the_optimizer_it_is_given_now():
    x, y = blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(**QUICK, warm_start=True).fit(x, y)
        assert type(clf._optimizer).__name__ == "Adam" and clf._optimizer.lr == 0.01
        weights = xpnet.to_numpy(clf.model_.params[0]).copy()
        clf.set_params(optimizer="sgd", learning_rate_init=0.5, max_iter=1).fit(x, y)
    assert type(clf._optimizer).__name__ == "SGD" and clf._optimizer.lr == 0.5
    assert not np.array_equal(weights, xpnet.to_numpy(clf.model_.params[0])) and len(clf.loss_curve_) == 31


def test_a_failed_first_partial_fit_leaves_no_classes_behind():
    x, y = blobs()
    clf = MLPClassifier(**QUICK)
    with pytest.raises(ValueError, match="NaN"):  # scikit-learn's own input check
        clf.partial_fit(np.full_like(x[:10], np.nan), y[:10] % 2, classes=[0, 1])
    assert not hasattr(clf, "classes_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert clf.fit(x, y).classes_.tolist() == [0, 1, 2]
