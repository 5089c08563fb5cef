"""CSV tables: delimiter sniffing, header detection, the label column, and numeric feature columns.

A table has a header row when its first row says so column by column: some column's first cell is not a number
while the cells under it are (``label,x1,x2`` over numbers). A first row of numbers over numbers is data, and
so is a first row whose only words sit over more words (``5.1,3.5,setosa`` over ``4.9,3.0,setosa``): string
labels alone never make a header. ``header=True`` or ``False`` overrides the guess.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import XPNetValueError

LABEL_NAMES = ("label", "labels", "y", "target", "class")  # a CSV column with one of these names holds the labels
MISSING = ("", "na", "n/a", "nan", "null", "none", "?")  # cells that mean "no value" (compared lower-case)
_SNIFF_ROWS = 200  # rows under the first that header detection looks at


class Table(NamedTuple):
    """A CSV's cells as an object array ``(rows, columns)`` of stripped strings, and its header (or ``None``)."""

    cells: np.ndarray
    header: list[str] | None

    def line(self, row: int) -> int:
        """The 1-based line number of body row ``row`` (blank lines aside)."""
        return row + 1 + (self.header is not None)


def is_number(text: str) -> bool:
    """Whether ``text`` parses as a float."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_rows(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: drop the byte-order mark Excel writes
            sample = f.read(65536)
            f.seek(0)
            try:
                dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t ")
            except csv.Error:
                dialect = csv.excel
            rows = [[cell.strip() for cell in row] for row in csv.reader(f, dialect) if any(c.strip() for c in row)]
    except UnicodeDecodeError as exc:
        raise XPNetValueError(
            f"{path}: not UTF-8 text (byte {exc.start} is {exc.object[exc.start : exc.start + 1]!r}); "
            "save the table as UTF-8 CSV"
        ) from None
    if not rows:
        raise XPNetValueError(f"{path}: the file has no rows")
    return rows


def looks_like_header(rows: list[list[str]], known: list[str] | None = None) -> bool:
    """Whether ``rows[0]`` names the columns: some cell of it is not a number while the cells under it are, or it
    holds the ``known`` column names (a model's features, numbers such as ``0,1,2`` included) in their order."""
    first, body = rows[0], rows[1 : 1 + _SNIFF_ROWS]
    if known and [cell for cell in first if cell in known] == list(known):
        return True
    if not body:
        return not all(is_number(cell) for cell in first)
    return any(
        not is_number(cell) and all(j < len(row) and is_number(row[j]) for row in body) for j, cell in enumerate(first)
    )


def read_table(path: Path, header: bool | None = None, known: list[str] | None = None) -> Table:
    """The cells of the CSV at ``path`` with every row as wide as the first; ``header`` as in the module's doc
    (``known``: column names the first row holds if it is a header, see :func:`looks_like_header`)."""
    rows = _read_rows(path)
    has_header = looks_like_header(rows, known) if header is None else bool(header)
    names = rows[0] if has_header else None
    body = rows[1:] if has_header else rows
    width = len(rows[0])
    for i, row in enumerate(body):
        if len(row) != width:
            raise XPNetValueError(f"{path}: row {i + 1 + has_header} has {len(row)} fields; expected {width}")
    if not body:
        raise XPNetValueError(f"{path}: the file has a header but no data rows")
    return Table(np.asarray(body, dtype=object), names)


def label_column(path: Path, table: Table, label: str | int | None, features: list[str] | None = None) -> int:
    """The index of the label column: named by ``label`` (a header name, else a column number), else the one
    column of the header that is not among a model's ``features``, else the first column named like
    :data:`LABEL_NAMES`, else the last."""
    header, width = table.header, table.cells.shape[1]
    if label is None and features and header is not None:
        others = [i for i, name in enumerate(header) if name not in features]
        if not others:
            raise XPNetValueError(
                f"{path}: has only the model's feature columns {features[:8]}, no label column to compare with"
            )
        if len(others) == 1:
            return others[0]
    if isinstance(label, str) and header is not None and label in header:
        return header.index(label)  # a header name wins over a number: a column may be called "0"
    if isinstance(label, str) and not label.lstrip("-").isdigit():
        found = "the file has no header row" if header is None else f"the columns are {header}"
        raise XPNetValueError(f"label: no column named {label!r} in {path}; {found}")
    if label is not None:
        index = int(label)
        if not -width <= index < width:
            raise XPNetValueError(f"label: column {index} does not exist in {path}, which has {width} columns")
        return index % width
    named = [i for i, name in enumerate(header or []) if name.lower() in LABEL_NAMES]
    return named[0] if named else width - 1


def numeric_columns(path: Path, table: Table, columns: list[int]) -> np.ndarray:
    """The cells of ``columns`` as float64 ``(rows, len(columns))``; a clear error names the first missing value
    or non-number, its column and its line."""
    for j in columns:
        _refuse_missing(path, table, j, "the column", "fill them in (with the column's mean, say) or drop those rows")
    try:
        return table.cells[:, columns].astype(np.float64)
    except ValueError:
        for j in columns:
            bad = [i for i, cell in enumerate(table.cells[:, j]) if not is_number(cell)]
            if bad:
                name = _column_name(table, j)
                raise XPNetValueError(
                    f"{path}: {name!r} must hold numbers; line {table.line(bad[0])} has {table.cells[bad[0], j]!r}. "
                    f"Encode text features as numbers (or drop the column); if {name!r} holds the labels, name it: "
                    f"--label {name} (or xpnet.datasets.load_file(path, label={name!r}))"
                ) from None
        raise


def _column_name(table: Table, column: int) -> str:
    return table.header[column] if table.header else f"column {column}"


def _refuse_missing(path: Path, table: Table, column: int, what: str, fix: str) -> None:
    """An error naming the first line where ``column`` has no value (empty, ``NA``, ``nan``, ...), if any."""
    cells = table.cells[:, column].astype(str)
    missing = [i for i, cell in enumerate(cells) if cell.strip().lower() in MISSING]
    if missing:
        more = f" and {len(missing) - 1} more lines" if len(missing) > 1 else ""
        raise XPNetValueError(
            f"{path}: {what} {_column_name(table, column)!r} has no value on line {table.line(missing[0])} "
            f"({str(cells[missing[0]])!r}){more}; {fix}"
        )


def label_values(path: Path, table: Table, column: int) -> np.ndarray:
    """The label column: integers when every cell is a whole number, floats when all are numbers, else the
    strings themselves. A missing label (empty, ``NA``, ``nan``, ...) is an error naming its line."""
    _refuse_missing(path, table, column, "the label column", "drop those rows or fill them in")
    cells = table.cells[:, column].astype(str)
    if not all(is_number(cell) for cell in cells):
        return cells
    values = cells.astype(np.float64)
    return values.astype(np.int64) if np.all(values == np.round(values)) else values
