"""Rows of Python values, as database drivers return them, to columnar ``TableData``.

Conversions are exact: decimals go through :class:`decimal.Decimal` and are rounded half away
from zero to the column's scale, integers are checked against the int64 range, dates become
days and timestamps microseconds since the epoch (timezone-aware values are converted to UTC
first). A value that cannot be represented is a :class:`~shuyu.errors.SourceError` naming the
column, never silently truncated; the message does not quote the value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import numpy as np

from shuyu.engine.data import DTYPES, PLACEHOLDERS, ColumnData, TableData
from shuyu.errors import SourceError
from shuyu.sql.catalog import DataType, TypeKind, decimal

__all__ = ["infer_type", "to_table"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_EPOCH_DATE = dt.date(1970, 1, 1)
_EPOCH = dt.datetime(1970, 1, 1)
_MICROSECOND = dt.timedelta(microseconds=1)
_TRUE = {"1", "t", "true", "y", "yes"}
_FALSE = {"0", "f", "false", "n", "no"}
_MAX_INFERRED_SCALE = 18


def to_table(
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    types: Sequence[DataType] | None,
    label: str,
) -> TableData:
    """Rows to a :class:`TableData` with columns ``names`` of ``types``."""
    width = len(names)
    if types is not None and len(types) != width:
        raise SourceError(
            f"the query in {label} returned {width} columns where {len(types)} were expected"
        )
    columns: dict[str, ColumnData] = {}
    for position, name in enumerate(names):
        if name in columns:
            raise SourceError(f"the query in {label} returned two columns named {name!r}")
        values = [row[position] for row in rows]
        data_type = types[position] if types is not None else infer_type(values)
        columns[name] = to_column(values, data_type, name, label)
    return TableData(len(rows), columns)


def infer_type(values: Sequence[Any]) -> DataType:
    """The catalogue type of a column of Python values (STRING when all are NULL)."""
    present = [value for value in values if value is not None]
    if not present:
        return DataType(TypeKind.STRING)
    first = present[0]
    if isinstance(first, bool):
        return DataType(TypeKind.BOOL)
    if isinstance(first, int):
        return DataType(TypeKind.INT)
    if isinstance(first, float):
        return DataType(TypeKind.FLOAT)
    if isinstance(first, Decimal):
        scale = 0
        for value in present:
            exponent = value.as_tuple().exponent if isinstance(value, Decimal) else 0
            if isinstance(exponent, int):
                scale = max(scale, -exponent)
        return decimal(min(scale, _MAX_INFERRED_SCALE))
    if isinstance(first, dt.datetime):
        return DataType(TypeKind.TIMESTAMP)
    if isinstance(first, dt.date):
        return DataType(TypeKind.DATE)
    return DataType(TypeKind.STRING)


def to_column(values: Sequence[Any], data_type: DataType, name: str, label: str) -> ColumnData:
    """Python values (``None`` for NULL) to one column of ``data_type``."""
    kind = data_type.kind
    if kind is TypeKind.NULL:
        data_type = DataType(TypeKind.STRING)
        kind = TypeKind.STRING
    convert = _CONVERTERS[kind]
    placeholder = PLACEHOLDERS[kind]
    nulls = np.fromiter((value is None for value in values), dtype=np.bool_, count=len(values))
    stored: list[Any] = []
    for value in values:
        if value is None:
            stored.append(placeholder)
            continue
        try:
            converted = convert(value, data_type)
        except (TypeError, ValueError, ArithmeticError, OverflowError):
            converted = None
        if converted is None:
            raise SourceError(
                f"column {name} of a result from {label} holds a {type(value).__name__} "
                f"value that is not a valid {data_type}",
                hint="Check the column's type in the source, or cast it in a view.",
            )
        stored.append(converted)
    array = np.array(stored, dtype=DTYPES[kind]) if stored else np.empty(0, DTYPES[kind])
    return ColumnData(data_type, array, nulls)


def _checked(value: int) -> int | None:
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def _to_int(value: Any, _: DataType) -> int | None:
    if isinstance(value, bool | int):
        return _checked(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            return None
        return _checked(int(value))
    if isinstance(value, float):
        return _checked(int(value)) if value.is_integer() else None
    if isinstance(value, str):
        return _checked(int(value.strip()))
    return None


def _to_decimal(value: Any, data_type: DataType) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        number = Decimal(value.strip())
    else:
        return None
    if not number.is_finite():
        return None
    try:
        scaled = number.scaleb(data_type.scale).quantize(Decimal(1), ROUND_HALF_UP)
    except InvalidOperation:
        return None
    return _checked(int(scaled))


def _to_float(value: Any, _: DataType) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal | str):
        return float(value)
    return None


def _to_bool(value: Any, _: DataType) -> bool | None:
    if isinstance(value, bool | int):
        return bool(value)
    if isinstance(value, Decimal | float):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def _to_string(value: Any, _: DataType) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    if isinstance(value, bool | int | float | Decimal | dt.date):
        return str(value)
    return str(value)  # UUIDs, enums and other driver objects with a textual form


def _to_date(value: Any, _: DataType) -> int | None:
    if isinstance(value, dt.datetime):
        value = _utc(value).date()
    elif isinstance(value, str):
        text = value.strip()
        value = (
            dt.date.fromisoformat(text)
            if len(text) == 10
            else _utc(dt.datetime.fromisoformat(text)).date()
        )
    if isinstance(value, dt.date):
        return (value - _EPOCH_DATE).days
    return None


def _to_timestamp(value: Any, _: DataType) -> int | None:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.strip())
    if isinstance(value, dt.datetime):
        return _checked((_utc(value) - _EPOCH) // _MICROSECOND)
    if isinstance(value, dt.date):
        return (value - _EPOCH_DATE).days * 86_400_000_000
    return None


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


_CONVERTERS: dict[TypeKind, Any] = {
    TypeKind.INT: _to_int,
    TypeKind.DECIMAL: _to_decimal,
    TypeKind.FLOAT: _to_float,
    TypeKind.BOOL: _to_bool,
    TypeKind.STRING: _to_string,
    TypeKind.DATE: _to_date,
    TypeKind.TIMESTAMP: _to_timestamp,
}
