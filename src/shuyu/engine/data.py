"""Columnar table data, as sources produce it and executors consume it, and query results.

A :class:`TableData` is one table (or the columns of it a plan reads): a row count and named
:class:`ColumnData`. Each column holds a numpy array of values in the *storage representation*
of its :class:`~shuyu.sql.catalog.DataType`, and a boolean mask that is ``True`` where the value
is SQL NULL:

=============  ===========  ===========================================================
type           dtype        value
=============  ===========  ===========================================================
INT            ``int64``    the integer
DECIMAL(s)     ``int64``    the decimal scaled by ``10**s`` (``12.30`` at scale 2 is ``1230``)
FLOAT          ``float64``  the number
STRING         ``object``   a Python ``str``
DATE           ``int64``    days since 1970-01-01
TIMESTAMP      ``int64``    microseconds since 1970-01-01 00:00:00 (naive, read as UTC)
BOOL           ``bool``     the truth value
=============  ===========  ===========================================================

Where the mask is ``True`` the value is a placeholder (``0``, ``0.0``, ``False`` or ``""``) that
consumers never read. The same storage representation is used by :class:`shuyu.sql.plan.Const`.

A :class:`Result` is what an executor returns: column names and types, and rows of *Python*
values: ``int`` (INT), ``decimal.Decimal`` with exactly ``scale`` digits after the point
(DECIMAL), ``float`` (FLOAT), ``str``, ``datetime.date`` (DATE), ``datetime.datetime`` (TIMESTAMP),
``bool`` and ``None`` (NULL) — the types DuckDB's Python API returns, so results compare directly.

Example:
    >>> from decimal import Decimal
    >>> from shuyu.sql.catalog import decimal
    >>> income = ColumnData.from_python(decimal(2), [Decimal("12.30"), None])
    >>> income.values.tolist(), income.nulls.tolist()
    ([1230, 0], [False, True])
    >>> income.to_python()
    [Decimal('12.30'), None]
"""

from __future__ import annotations

import datetime
import html
import importlib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from shuyu.errors import InvalidInput
from shuyu.sql.catalog import DataType, TypeKind
from shuyu.sql.values import from_python, to_python

DTYPES: dict[TypeKind, np.dtype[Any]] = {
    TypeKind.INT: np.dtype(np.int64),
    TypeKind.DECIMAL: np.dtype(np.int64),
    TypeKind.FLOAT: np.dtype(np.float64),
    TypeKind.STRING: np.dtype(object),
    TypeKind.DATE: np.dtype(np.int64),
    TypeKind.TIMESTAMP: np.dtype(np.int64),
    TypeKind.BOOL: np.dtype(np.bool_),
}
PLACEHOLDERS: dict[TypeKind, object] = {
    TypeKind.INT: 0,
    TypeKind.DECIMAL: 0,
    TypeKind.FLOAT: 0.0,
    TypeKind.STRING: "",
    TypeKind.DATE: 0,
    TypeKind.TIMESTAMP: 0,
    TypeKind.BOOL: False,
}


@dataclass(frozen=True)
class ColumnData:
    """One column: ``values`` in the storage representation and a ``nulls`` mask (True = NULL)."""

    type: DataType
    values: np.ndarray[Any, Any]
    nulls: np.ndarray[Any, Any]

    def __post_init__(self) -> None:
        expected = DTYPES.get(self.type.kind)
        if expected is None:
            raise InvalidInput(f"a column cannot have type {self.type}")
        if self.values.dtype != expected or self.values.ndim != 1:
            raise InvalidInput(
                f"a {self.type} column needs a 1-D {expected} array, got {self.values.dtype} "
                f"with shape {self.values.shape}"
            )
        if self.nulls.dtype != np.bool_ or self.nulls.shape != self.values.shape:
            raise InvalidInput("the NULL mask must be a bool array as long as the values")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @classmethod
    def from_python(cls, data_type: DataType, values: Sequence[Any]) -> ColumnData:
        """A column from Python values (``None`` for NULL), converted by :func:`from_python`."""
        placeholder = PLACEHOLDERS.get(data_type.kind)
        if placeholder is None:
            raise InvalidInput(f"a column cannot have type {data_type}")
        try:
            stored = [from_python(value, data_type) for value in values]
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        nulls = np.array([value is None for value in stored], dtype=np.bool_)
        array = np.empty(len(stored), dtype=DTYPES[data_type.kind])
        for position, value in enumerate(stored):
            array[position] = placeholder if value is None else value
        return cls(data_type, array, nulls)

    def to_python(self) -> list[Any]:
        """The column's Python values, ``None`` where NULL."""
        return [
            None if null else to_python(value, self.type)
            for value, null in zip(self.values.tolist(), self.nulls.tolist(), strict=True)
        ]


@dataclass(frozen=True)
class TableData:
    """A table's rows: ``rows`` (needed when no column is read, as for ``COUNT(*)``) and columns
    by name (lower case, in the table's order)."""

    rows: int
    columns: Mapping[str, ColumnData]

    def __post_init__(self) -> None:
        for name, column in self.columns.items():
            if len(column) != self.rows:
                raise InvalidInput(f"column {name} has {len(column)} values, expected {self.rows}")

    @classmethod
    def of(cls, columns: Mapping[str, ColumnData]) -> TableData:
        """A table from at least one column (the row count is the columns' length)."""
        if not columns:
            raise InvalidInput("TableData.of needs at least one column; give rows explicitly")
        return cls(len(next(iter(columns.values()))), dict(columns))


@dataclass(frozen=True)
class Result:
    """A query's result: column names (as the SQL names them), types, and Python rows."""

    names: tuple[str, ...]
    types: tuple[DataType, ...]
    rows: list[tuple[Any, ...]]
    dropped: int = 0  # groups left out for having fewer rows than group_min_size
    # EXPLAIN ANALYZE: per plan position, seconds, bytes sent by all parties, rounds, rows
    profile: tuple[tuple[int, float, int, int, int], ...] = ()

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per row, keyed by column name."""
        return [dict(zip(self.names, row, strict=True)) for row in self.rows]

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame`` (pandas is not a dependency of Shuyu)."""
        try:
            pandas = importlib.import_module("pandas")  # optional, for notebooks only
        except ImportError:
            raise InvalidInput(
                "pandas is not installed", hint="pip install pandas, or use Result.rows"
            ) from None
        return pandas.DataFrame.from_records(self.rows, columns=list(self.names))

    def _repr_html_(self) -> str:
        """A table for Jupyter."""
        head = "".join(f"<th>{html.escape(name)}</th>" for name in self.names)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(format_value(v))}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        note = ""
        if self.dropped:
            note = f"<p>{self.dropped} group(s) below group_min_size were dropped</p>"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"

    def to_csv_rows(self) -> list[list[str]]:
        """Header then rows as text: NULL is ``NULL``, booleans ``true``/``false``, dates ISO."""
        return [list(self.names)] + [[format_value(value) for value in row] for row in self.rows]


def display_width(text: str) -> int:
    """Columns a string takes in a terminal: CJK (wide and full-width) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_value(value: Any) -> str:
    """A result value as text (the fixtures' and the CSV output's convention)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation: 0.0000005, not 5E-7
    return str(value)
