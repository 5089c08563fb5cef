"""Text xpnet prints: the per-epoch table (printed by :class:`EpochPrinter`) and the one-line summaries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..nn.losses import get_loss
from .evaluate import Evaluation

# (title, history key, format spec); a missing value (no validation data) prints as "-".
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("epoch", "epoch", "d"),
    ("train loss", "train_loss", ".4f"),
    ("train acc", "train_accuracy", ".2%"),
    ("val loss", "val_loss", ".4f"),
    ("val acc", "val_accuracy", ".2%"),
    ("lr", "lr", ".4g"),
    ("seconds", "seconds", ".2f"),
    ("samples/s", "samples_per_second", ",.0f"),
)


# A regression run's table: the validation RMSE (targets' units) and R² where a classifier has accuracies.
REGRESSION_COLUMNS = tuple(
    column for title, key, spec in COLUMNS if key != "train_accuracy"
    for column in ([("val RMSE", "val_rmse", ".4g"), ("val R²", "val_r2", ".4f")] if key == "val_accuracy"
                   else [(title, key, spec)])
)  # fmt: skip


def _width(title: str) -> int:
    return 5 if title == "epoch" else max(len(title), 9)


def _columns(regression: bool) -> tuple[tuple[str, str, str], ...]:
    return REGRESSION_COLUMNS if regression else COLUMNS


def table_header(regression: bool = False) -> str:
    """Column titles of the per-epoch table, right-aligned like the rows."""
    return "  ".join(title.rjust(_width(title)) for title, _, _ in _columns(regression))


def table_row(record: Mapping[str, Any], regression: bool = False) -> str:
    """One history record as a table row under :func:`table_header`."""
    cells = []
    for title, key, spec in _columns(regression):
        value = record.get(key)
        cells.append(("-" if value is None else format(value, spec)).rjust(_width(title)))
    return "  ".join(cells)


class EpochPrinter:
    """A training callback that prints the placement and the table header first, then one row per epoch.

    :func:`xpnet.train` adds it with ``verbose=1`` (on rank 0 of a data-parallel job only).
    """

    regression = False
    SLOWDOWN = 3.0  # an epoch this many times slower than the fastest so far: something else wants the cores

    def __init__(self, on_cpu: bool = False) -> None:
        self.on_cpu = on_cpu  # the run computes on the host's cores (Backend.on_host): a slow epoch is explained

    def on_train_begin(self, meta: Mapping[str, Any]) -> None:
        self.regression = not get_loss(str(meta.get("loss", "cross_entropy"))).classifies
        self.fastest, self.warned = 0.0, False
        note = meta.get("step_note")  # a GPU's steps not captured, or a JAX step not compiled, and why
        shown = note and note != "compile=False"
        print(f"placement: {meta['placement']}" + (f"; steps one operation at a time: {note}" if shown else ""))
        print(table_header(self.regression), flush=True)

    def __call__(self, record: Mapping[str, Any], model: Any) -> None:
        print(table_row(record, self.regression), flush=True)
        rate = record.get("samples_per_second") or 0.0
        if self.on_cpu and not self.warned and self.fastest > self.SLOWDOWN * rate > 0:
            self.warned = True
            print(f"xpnet: epoch {record['epoch']} ran {self.fastest / rate:.1f}x slower than the fastest so far: "
                  "another busy process may be competing for the cores with the BLAS threads; "
                  "OPENBLAS_NUM_THREADS=1 (or the number of idle cores) often restores the speed "
                  "(docs/performance.md)", flush=True)  # fmt: skip
        self.fastest = max(self.fastest, rate)


def evaluation_line(name: str, result: Evaluation) -> str:
    """``test: loss 0.1234, accuracy 96.50% (10000 samples)``; a regression model's RMSE, MAE and R² instead."""
    if result.r2 is not None:
        return (f"{name}: RMSE {result.rmse:.4g}, MAE {result.mae:.4g}, R² {result.r2:.4f}, loss {result.loss:.4g} "
                f"({result.n} samples)")  # fmt: skip
    if result.accuracy is None:
        return f"{name}: loss {result.loss:.4g} ({result.n} samples)"
    return f"{name}: loss {result.loss:.4f}, accuracy {result.accuracy:.2%} ({result.n} samples)"


def device_line(spec: str, family: str) -> str:
    """One line of ``xpnet devices``: the spec to pass as ``--device`` and its backend family."""
    return f"{spec:<20} {family}"


def confusion_table(confusion: Any, names: Sequence[str] | None = None) -> str:
    """A ``(k, k)`` confusion matrix as right-aligned text with class numbers (or ``names``) on both axes."""
    k = len(confusion)
    labels = [str(name) for name in names] if names is not None else [str(j) for j in range(k)]
    width = max(len(str(int(confusion.max()))) if k else 1, *(len(label) for label in labels), 3) + 1
    first = max(5, *(len(label) for label in labels))
    lines = ["true\\pred"[:5].rjust(first) + "".join(label.rjust(width) for label in labels)]
    lines += [
        labels[i].rjust(first) + "".join(str(int(v)).rjust(width) for v in row) for i, row in enumerate(confusion)
    ]
    return "\n".join(lines)
