"""``xpnet eval`` and ``xpnet predict``: a saved model on a named test set or on your own files."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import to_numpy
from ..data.sources import NAMED, load_data
from ..datasets.files import LoadedFile, load_file, load_inputs
from ..errors import XPNetValueError
from ..io.atomic import atomic_open
from ..io.format import load
from ..nn.network import MLP
from ..tabular import encode_labels
from ..training import report
from ..training.evaluate import evaluate
from .train import scaled


def _columns_for(model: MLP, loaded: LoadedFile, path: str) -> np.ndarray:
    """``x`` with the model's input columns, chosen by name when both the model and the file have names."""
    if loaded.scale is not None and loaded.x.shape[1] != model.sizes[0]:  # images of another size
        shape = model.image_shape
        if shape is not None:
            hint = f"the model was trained on {shape[1]}x{shape[0]} images: leave out --image-size to use that"
        elif model.feature_names:
            hint = f"the model was trained on a table of the columns {model.feature_names[:8]}, not on images"
        else:
            hint = "pass --image-size WxH with the size the model was trained at"
        raise XPNetValueError(
            f"{path}: the images have {loaded.x.shape[1]} values each (pixels × channels), but the model takes "
            f"{model.sizes[0]}; {hint}"
        )
    if model.feature_names and loaded.features and loaded.features != model.feature_names:
        missing = [name for name in model.feature_names if name not in loaded.features]
        if missing:
            raise XPNetValueError(f"{path}: the model needs the columns {missing}, which the file lacks")
        return loaded.x[:, [loaded.features.index(name) for name in model.feature_names]]
    return loaded.x


def _image_options(model: MLP, args: argparse.Namespace) -> dict[str, Any]:
    """Images are read at ``--image-size``, else at the size the model was trained on, in the model's colour."""
    shape = model.image_shape
    size = args.image_size or (None if shape is None else (shape[1], shape[0]))
    return {"image_size": size, "channels": None if shape is None else shape[2]}


def _labelled_test_set(model: MLP, args: argparse.Namespace) -> tuple[str, np.ndarray, np.ndarray, float | None]:
    """(name, x, integer y, scale) of ``--data``: a named set's test split, a file's test split, or the whole file."""
    if args.data.lower() in NAMED:
        if model.sizes[0] != 784:  # every named set is 28x28 grey
            raise XPNetValueError(
                f"--data: the model takes {model.sizes[0]} inputs, not the 784 pixels of {args.data.lower()}; "
                "pass the test data it was made for: --data PATH"
            )
        source = load_data(args.data.lower())
        assert source.test is not None  # every named data set has a test split
        return f"{args.data.lower()} test", *source.test, source.scale
    loaded = load_file(args.data, label=args.label, header=args.header, features=model.feature_names,
                       **_image_options(model, args))  # fmt: skip
    if loaded.y is None:
        raise XPNetValueError(f"--data: {args.data} has no labels to evaluate against")
    if (
        loaded.test is None
        and args.label is None
        and np.ndim(loaded.x) == 2
        and loaded.x.shape[1] + 1 == model.sizes[0]
    ):
        raise XPNetValueError(  # its last feature column was taken for the labels
            f"--data: {args.data} has {model.sizes[0]} columns, as many as the model's inputs, so no label column to "
            "evaluate against; add the labels (--label COLUMN names one), or get predictions with xpnet predict"
        )
    x, y = loaded.test if loaded.test is not None else (_columns_for(model, loaded, args.data), loaded.y)
    y = np.asarray(y)
    if not model._loss.classifies:  # regression: real targets, one column per output
        if y.dtype.kind not in "iuf":
            raise XPNetValueError(
                f"--data: {args.data} has non-numeric targets {y[:3].tolist()} for a regression model"
            )
        y = y.reshape(len(y), -1).astype(np.float64)
    elif model.classes is not None:
        text = y.astype(str) if y.dtype.kind in "iu" else y  # names that look like numbers were read as numbers
        y = encode_labels("y", text, model.classes)[0]
    elif y.dtype.kind not in "iuf":
        raise XPNetValueError(f"--data: {args.data} has labels {sorted(set(y.tolist()))[:5]}, but the model was "
                              "trained on numbered classes")  # fmt: skip
    return f"{args.data}{' test' if loaded.test is not None else ''}", x, y, loaded.scale


def eval_command(args: argparse.Namespace) -> None:
    model = load(args.model, device=args.device, dtype=args.dtype)
    name, x, y, scale = _labelled_test_set(model, args)
    result = evaluate(model, x, y, x_scale=scale)
    print(f"model: {args.model} {model!r}")
    print(report.evaluation_line(name, result))
    if result.confusion is not None:
        print("confusion matrix (rows: true class, columns: predicted):")
        print(report.confusion_table(result.confusion, model.classes))


def predict_command(args: argparse.Namespace) -> None:
    if Path(args.output).suffix.lower() not in (".csv", ".txt", ".npz"):
        raise XPNetValueError(f"-o: expected a .csv (or .txt) or .npz file to write; received {args.output!r}")
    model = load(args.model, device=args.device, dtype=args.dtype)
    source = args.input[0] if len(args.input) == 1 else args.input
    loaded = load_inputs(source, model.sizes[0], model.feature_names, args.label, args.header,
                         **_image_options(model, args))  # fmt: skip
    x = scaled(_columns_for(model, loaded, loaded.name), loaded.scale)
    if loaded.reading:
        print(loaded.reading)
    out = Path(args.output)
    if model._loss.classifies:
        proba = to_numpy(model.predict_proba(x)).astype(np.float64)
        indices = np.argmax(proba, axis=1)
        names = model.classes or [str(k) for k in range(model.sizes[-1])]
        labels = np.asarray(names)[indices] if model.classes else indices
        arrays = {"labels": labels, "proba": proba, "classes": np.asarray(names)}
        columns, rows = ["label", *(f"p_{name}" for name in names)], [[names[k], *p] for k, p in zip(indices, proba)]
        if loaded.rows is not None:  # which image each row is
            arrays["files"], columns, rows = (
                np.asarray(loaded.rows),
                ["file", *columns],
                [[f, *r] for f, r in zip(loaded.rows, rows)],
            )
        _write(out, arrays, columns, rows)
        counts = np.bincount(indices, minlength=len(names))
        summary = ", ".join(f"{names[k]}: {counts[k]}" for k in np.argsort(-counts)[:5] if counts[k])
        summary = summary if len(x) > 1 else f"label {names[int(indices[0])]}"
    else:
        values = to_numpy(model(x)).astype(np.float64)
        columns = ["y"] if values.shape[1] == 1 else [f"y_{j}" for j in range(values.shape[1])]
        _write(out, {"outputs": values}, columns, values.tolist())
        summary = f"outputs from {values.min():.4g} to {values.max():.4g}"
    print(f"predicted {len(x)} row{'' if len(x) == 1 else 's'} of {loaded.name} ({summary}); wrote {out}")


def _write(out: Path, arrays: dict[str, Any], columns: list[str], rows: list[list]) -> None:
    """``arrays`` to an ``.npz`` when ``out`` ends so, else ``rows`` under ``columns`` as CSV; atomically."""
    if out.suffix.lower() == ".npz":
        with atomic_open(out, "wb") as f:
            np.savez(f, **arrays)
        return
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([cell if isinstance(cell, str) else f"{cell:.6g}" for cell in row] for row in rows)
    with atomic_open(out, "w") as f:
        f.write(text.getvalue())


def export_command(args: argparse.Namespace) -> None:
    from ..io.export import export_onnx

    model = load(args.model, device="cpu")
    written = export_onnx(model, args.output)
    outputs = "probabilities, labels" if model._loss.classifies else "outputs"
    print(f"exported {model!r} to {written} (input x: (N, {model.sizes[0]}); outputs: {outputs})")
