"""Your own data through the Python API: train(x, y), lists, pandas, class names, standardization, warnings."""

from __future__ import annotations

import re

import numpy as np
import pytest

import xpnet
from xpnet.advice import DataWarning

QUIET = dict(device="cpu", hidden=(16,), epochs=3, verbose=0, progress=False, seed=0)


def blobs(n=300, d=4, k=3, seed=0, offset=0.0, spread=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(k, d))
    y = rng.integers(0, k, size=n)
    return (centres[y] + rng.normal(size=(n, d))) * spread + offset, y


def test_train_x_y_equals_train_of_the_pair():
    x, y = blobs()
    a = xpnet.train(x, y, **QUIET)
    b = xpnet.train((x, y), **QUIET)
    for p, q in zip(a.model.params, b.model.params):
        np.testing.assert_array_equal(p, q)
    with pytest.raises(xpnet.XPNetTypeError, match=r"y: given with data='mnist'; pass y only with an array x"):
        xpnet.train("mnist", y)


def test_lists_train_like_arrays():
    x, y = blobs(n=60)
    a = xpnet.train(x.tolist(), y.tolist(), **QUIET)
    b = xpnet.train(x, y, **QUIET)
    np.testing.assert_array_equal(a.model.params[0], b.model.params[0])


def test_pandas_frames_and_series():
    pd = pytest.importorskip("pandas")
    x, y = blobs(n=120)
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    result = xpnet.train(frame, pd.Series(y), **QUIET)
    np.testing.assert_array_equal(result.model.params[0], xpnet.train(x, y, **QUIET).model.params[0])
    assert result.model.feature_names == ["a", "b", "c", "d"]
    text = frame.assign(colour=["red"] * 120)
    with pytest.raises(xpnet.XPNetValueError, match=r"x: the DataFrame's columns \['colour'\] are not numeric"):
        xpnet.train(text, y, **QUIET)
    model = result.model  # a trained model takes frames by column name, in any order, with extra columns
    expected = xpnet.to_numpy(model.predict_proba(x))
    shuffled = frame[["d", "b", "a", "c"]].assign(note=1.0)
    np.testing.assert_array_equal(xpnet.to_numpy(model.predict_proba(shuffled)), expected)
    with pytest.raises(xpnet.XPNetValueError, match=r"x: the DataFrame lacks the model's columns \['c'\]"):
        model.predict(frame.drop(columns="c"))
    names = np.array(["cat", "dog", "emu"])
    named = xpnet.train(frame, pd.Series(names[y]), **QUIET).model
    by_name, by_index = xpnet.evaluate(named, shuffled, pd.Series(names[y])), xpnet.evaluate(named, x, y)
    assert by_name.accuracy == by_index.accuracy and by_name.loss == by_index.loss
    assert xpnet.evaluate(named, frame, list(names[y])).accuracy == by_index.accuracy
    mixed = frame.assign(flag=frame["a"] > 0, count=pd.array(np.arange(120) % 3, dtype="Int64"))  # bool, Int64
    assert xpnet.train(mixed, y, **QUIET).model.feature_names == ["a", "b", "c", "d", "flag", "count"]
    with pytest.raises(xpnet.XPNetValueError, match=r"x: .*nan"):
        xpnet.train(mixed.assign(count=pd.array([None] + [1] * 119, dtype="Int64")), y, **QUIET)
    for missing in (None, pd.NA, float("nan")):
        labels = pd.Series(np.array(["a", "b"], dtype=object)[y % 2])
        labels[7] = missing
        with pytest.raises(xpnet.XPNetValueError, match=r"y: the label at index 7 is missing .*drop the unlabelled"):
            xpnet.train(frame, labels, **QUIET)
    other = pd.DataFrame(x[:10], columns=["a", "b", "d", "c"])
    with pytest.raises(xpnet.XPNetValueError, match=r"x_test: columns \['a', 'b', 'd', 'c'\] differ"):
        xpnet.train(((frame, y), (other, y[:10])), **QUIET)


def test_named_classes_are_kept_and_test_labels_follow_them():
    x, y = blobs()
    names = np.array(["cat", "dog", "emu"])[y]
    result = xpnet.train(((x, names), (x[:50], names[:50])), **QUIET)
    assert result.model.classes == ["cat", "dog", "emu"]
    predicted = np.asarray(result.model.classes)[xpnet.to_numpy(result.model.predict(x[:50]))]
    assert np.mean(predicted == names[:50]) == pytest.approx(result.test.accuracy)
    with pytest.raises(xpnet.XPNetValueError, match=r"y_test: labels \['fox'\] are not among the classes"):
        xpnet.train(((x, names), (x[:2], ["cat", "fox"])), **QUIET)


def test_one_hot_labels_under_cross_entropy_say_the_fix():
    x, y = blobs(n=30)
    with pytest.raises(
        xpnet.XPNetValueError, match=re.escape("y looks one-hot encoded: pass the class indices y.argmax(1)")
    ):
        xpnet.train(x, np.eye(3)[y], **QUIET)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda x, y: (np.rint(np.clip(x * 30 + 120, 0, 255)).astype(np.uint8), y),
            r"like raw 8-bit pixels; .*x / 255",
        ),
        (
            lambda x, y: (np.random.default_rng(0).random((len(y), 64)) * 254.5, y),  # resampled images
            r"x: values lie in \[[\d.e-]+, 254\.\d*\] over 64 features, like 8-bit pixels as floats; .*x / 255",
        ),
        (
            lambda x, y: (np.random.default_rng(0).random((len(y), 3)) * 254.5, y),  # a table, not images
            r"features have means up to [\d.e+]+ and spreads up to [\d.e+]+; .*standardize=True",
        ),
        (
            lambda x, y: (x * 1000.0, y),
            r"features have means up to [\d.e+]+ and spreads up to [\d.e+]+; .*standardize=True",
        ),
        (lambda x, y: (np.ones_like(x), y), r"every feature is constant"),
        (lambda x, y: (x, y + 1), r"y: labels run from 1 to 3 and class 0 never occurs; .*pass y - 1"),
        (lambda x, y: (x, np.full_like(y, 2)), r"y: every label is 2: with a single class there is nothing to tell"),
        (
            lambda x, y: (x, y * 10),
            r"y: labels run from 0 to 20 but 18 of those 21 classes never occur \(1, 2, 3, 4, 5, "
            r"\.\.\.\); each still gets an output\. .*np\.unique\(y, return_inverse=True\)\[1\]",
        ),
        (lambda x, y: (x, np.where(y == 1, 2, y)), r"but 1 of those 3 classes never occurs \(1\)"),
    ],
    ids=["pixels", "float-pixels", "float-table", "large", "constant", "one-based", "one-class", "codes", "a-gap"],
)
def test_inputs_that_train_to_chance_warn(make, message):
    x, y = make(*blobs(n=60))
    with pytest.warns(DataWarning, match=message):
        xpnet.train(x, y, **{**QUIET, "epochs": 1})


def test_well_scaled_inputs_do_not_warn(recwarn):
    xpnet.train(*blobs(n=60), **{**QUIET, "epochs": 1})
    assert not [w for w in recwarn if issubclass(w.category, DataWarning)]


def test_standardize_learns_unscaled_features_and_travels_with_the_model(tmp_path):
    x, y = blobs(n=400, offset=5000.0, spread=800.0)
    with pytest.warns(DataWarning):
        raw = xpnet.train(((x, y), (x, y)), **{**QUIET, "epochs": 5})
    fixed = xpnet.train(((x, y), (x, y)), standardize=True, **{**QUIET, "epochs": 5})
    assert fixed.test.accuracy > 0.9 > raw.test.accuracy
    mean, std = fixed.model.standardization
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(axis=0), rtol=1e-12)
    path = xpnet.save(fixed.model, tmp_path / "m.safetensors")
    again = xpnet.load(path, "strict:device1")
    np.testing.assert_array_equal(xpnet.to_numpy(again.predict(x)), xpnet.to_numpy(fixed.model.predict(x)))
    np.testing.assert_allclose(again.standardization[0], mean)


def test_verbose_prints_one_line_per_epoch(capsys):
    xpnet.train(*blobs(n=60), **{**QUIET, "verbose": 1})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "placement: device" and lines[1].split()[:3] == ["epoch", "train", "loss"]
    assert [line.split()[0] for line in lines[2:]] == ["1", "2", "3"]
    xpnet.train(*blobs(n=60), **QUIET)
    assert capsys.readouterr().out == ""
    with pytest.raises(xpnet.XPNetValueError, match=r"verbose: expected 0 \(silent\) or 1"):
        xpnet.train(*blobs(n=60), **{**QUIET, "verbose": 2})


def test_resume_says_where_and_warns_about_a_changed_schedule(tmp_path, capsys):
    x, y = blobs(n=100)
    settings = {**QUIET, "verbose": 1, "checkpoint_dir": tmp_path / "ck"}
    xpnet.train(x, y, **{**settings, "epochs": 2})
    capsys.readouterr()
    xpnet.train(x, y, resume=True, **{**settings, "epochs": 2})
    assert (
        f"resuming from {tmp_path / 'ck'} (the run finished its 2 epochs: nothing to train" in capsys.readouterr().out
    )
    with pytest.warns(UserWarning, match=r"set for 2 epochs and this one for 4: the cosine learning-rate schedule"):
        xpnet.train(x, y, resume=True, **{**settings, "epochs": 4})
    with pytest.raises(xpnet.XPNetValueError, match=r"epochs: the checkpoint in .* is at epoch 5, step 0; a run of 3 "
                       r"epochs would end before it and train nothing: pass epochs=5 or more to continue it \(epochs=4 takes it as "
                       r"it stands\)"):  # fmt: skip
        xpnet.train(x, y, resume=True, **{**settings, "epochs": 3})
    from xpnet.training.checkpoint import _refuse_ending_before

    _refuse_ending_before("ck", {"epoch": 5, "position": 7}, 5)  # finishes the epoch in progress
    _refuse_ending_before("ck", {"epoch": 5, "position": 7, "stopped_early": True}, 2)  # stopped: trains no further
    with pytest.raises(xpnet.XPNetValueError, match=r"at epoch 5, step 7; .*pass epochs=5 or more"):
        _refuse_ending_before("ck", {"epoch": 5, "position": 7}, 4)


def test_image_folders_of_mixed_colour_become_rgb_and_mixed_sizes_say_which(tmp_path):
    image = pytest.importorskip("PIL.Image")
    for name, pixels in (
        ("grey", np.full((4, 6), 90, np.uint8)),
        ("colour", np.full((4, 6, 3), (10, 20, 30), np.uint8)),
    ):
        (tmp_path / "set" / name).mkdir(parents=True)
        image.fromarray(pixels).save(tmp_path / "set" / name / "a.png")
    loaded = xpnet.datasets.load_file(tmp_path / "set")
    assert loaded.image_shape == (4, 6, 3) and loaded.x.shape == (2, 72)
    rows = dict(zip(loaded.y.tolist(), loaded.x.reshape(2, 4, 6, 3)))
    assert (rows["grey"] == 90).all() and (rows["colour"][..., 2] == 30).all()  # grey: three equal channels
    assert xpnet.datasets.load_file(tmp_path / "set", channels=1).image_shape == (4, 6, 1)
    image.fromarray(np.zeros((5, 6), np.uint8)).save(tmp_path / "set" / "grey" / "b.png")
    with pytest.raises(xpnet.XPNetValueError, match=r"images differ in size: .*a\.png is 6x4, .*b\.png is 6x5 \(width"):
        xpnet.datasets.load_file(tmp_path / "set")
    assert xpnet.datasets.load_file(tmp_path / "set", image_size=(3, 2)).image_shape == (2, 3, 3)


@pytest.mark.parametrize("loss", ["quadratic", "binary_cross_entropy"])
def test_evaluate_takes_labels_for_losses_on_one_hot_targets(loss):
    x, y = blobs()
    model = xpnet.train(x, np.eye(3)[y], **{**QUIET, "loss": loss}).model
    by_label, by_target = xpnet.evaluate(model, x, y), xpnet.evaluate(model, x, np.eye(3)[y])
    assert (by_label.loss, by_label.accuracy) == (by_target.loss, by_target.accuracy) and by_label.accuracy > 0.6
    np.testing.assert_array_equal(by_label.confusion, by_target.confusion)
    with pytest.raises(xpnet.XPNetValueError, match=r"y: labels must lie in \[0, 3\); received min 0, max 3"):
        xpnet.evaluate(model, x, np.r_[y[:-1], 3])
