"""Values of each :class:`~shuyu.sql.catalog.DataType`: storage representation ↔ Python value.

The *storage representation* is what columns hold (``shuyu.engine.data``) and what
:class:`~shuyu.sql.plan.Const` carries: INT as ``int``, DECIMAL(s) as the integer scaled by
``10**s``, FLOAT as ``float``, STRING as ``str``, DATE as days since 1970-01-01, TIMESTAMP as
microseconds since 1970-01-01 00:00:00, BOOL as ``bool``. The *Python value* is what results
hold: ``int``, ``Decimal`` (exactly ``scale`` digits after the point), ``float``, ``str``,
``datetime.date``, ``datetime.datetime``, ``bool``. ``None`` is NULL in both.

Example:
    >>> from shuyu.sql.catalog import DATE, decimal
    >>> from_python("2024-02-29", DATE), to_python(19782, DATE)
    (19782, datetime.date(2024, 2, 29))
    >>> from_python(Decimal("1.005"), decimal(2)), to_python(101, decimal(2))
    (101, Decimal('1.01'))
"""

from __future__ import annotations

import datetime
import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shuyu.sql.catalog import DataType, TypeKind

EPOCH_DATE = datetime.date(1970, 1, 1)
EPOCH = datetime.datetime(1970, 1, 1)
MICROSECOND = datetime.timedelta(microseconds=1)


def to_python(value: Any, data_type: DataType) -> Any:
    """One value from its storage representation to its Python value."""
    if value is None:
        return None
    kind = data_type.kind
    if kind is TypeKind.DECIMAL:
        return Decimal(int(value)).scaleb(-data_type.scale)
    if kind is TypeKind.DATE:
        return EPOCH_DATE + datetime.timedelta(days=int(value))
    if kind is TypeKind.TIMESTAMP:
        return EPOCH + datetime.timedelta(microseconds=int(value))
    if kind is TypeKind.INT:
        return int(value)
    if kind is TypeKind.FLOAT:
        return float(value)
    if kind is TypeKind.BOOL:
        return bool(value)
    if kind is TypeKind.STRING:
        return str(value)
    return None  # TypeKind.NULL holds only NULL


def from_python(value: Any, data_type: DataType) -> Any:
    """One Python value to its storage representation; ``ValueError`` if it does not fit.

    DECIMAL values are rounded half away from zero to the type's scale; strings are parsed for
    DATE, TIMESTAMP and DECIMAL; a ``date`` is taken as midnight for a TIMESTAMP, and a
    ``datetime``'s day for a DATE.
    """
    if value is None:
        return None
    kind = data_type.kind
    try:
        if kind is TypeKind.DECIMAL:
            exact = Decimal(repr(value) if isinstance(value, float) else value)
            return int(exact.scaleb(data_type.scale).quantize(Decimal(1), ROUND_HALF_UP))
        if kind is TypeKind.DATE:
            if isinstance(value, str):
                value = parse_timestamp(value)
            if isinstance(value, datetime.datetime):
                value = value.date()
            return (value - EPOCH_DATE).days
        if kind is TypeKind.TIMESTAMP:
            if isinstance(value, str):
                value = parse_timestamp(value)
            elif not isinstance(value, datetime.datetime):
                value = datetime.datetime.combine(value, datetime.time())
            return (value.replace(tzinfo=None) - EPOCH) // MICROSECOND
        if kind is TypeKind.INT:
            return int(value)
        if kind is TypeKind.FLOAT:
            return float(value)
        if kind is TypeKind.BOOL:
            return bool(value)
        if kind is TypeKind.STRING:
            return str(value)
    except (TypeError, ValueError, ArithmeticError) as error:
        raise ValueError(f"{value!r} is not a {data_type} value") from error
    raise ValueError(f"no value can have type {data_type}")


def parse_timestamp(text: str) -> datetime.datetime:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]]`` (MySQL's literal forms)."""
    value = datetime.datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=None)


def cast(value: Any, target: DataType) -> Any:
    """``CAST(value AS target)`` on Python values; ``ValueError`` if the value does not convert.

    Numbers round half away from zero (as MySQL and DuckDB do); strings are parsed; a DATE
    becomes midnight as a TIMESTAMP and a TIMESTAMP its day as a DATE.
    """
    if value is None:
        return None
    kind = target.kind
    if kind is TypeKind.STRING:
        return _to_text(value)
    if isinstance(value, str) and kind in NUMBER_KINDS:
        value = _parse_number(value)
    if kind is TypeKind.INT:
        if isinstance(value, bool | int):
            return int(value)
        return int(_exact(value).quantize(Decimal(1), ROUND_HALF_UP))
    if kind is TypeKind.DECIMAL:
        step = Decimal(1).scaleb(-target.scale)
        return _exact(value).quantize(step, ROUND_HALF_UP)
    if kind is TypeKind.FLOAT:
        return float(value)
    if kind is TypeKind.BOOL:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(f"{value!r} is not a BOOL value")
            return lowered in ("true", "1")
        return bool(value)
    if kind in (TypeKind.DATE, TypeKind.TIMESTAMP):
        if isinstance(value, str):
            try:
                value = parse_timestamp(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a {kind.value} value") from None
        if not isinstance(value, datetime.date):
            raise ValueError(f"{value!r} is not a {kind.value} value")
        if kind is TypeKind.DATE:
            return value.date() if isinstance(value, datetime.datetime) else value
        if isinstance(value, datetime.datetime):
            return value
        return datetime.datetime.combine(value, datetime.time())
    raise ValueError(f"cannot convert {value!r} to {target}")


NUMBER_KINDS = frozenset({TypeKind.INT, TypeKind.DECIMAL, TypeKind.FLOAT, TypeKind.BOOL})


def _exact(value: Any) -> Decimal:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no exact value")
        return Decimal(value)
    return Decimal(value)


def _parse_number(text: str) -> int | Decimal | float:
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return Decimal(stripped) if "e" not in stripped.lower() else float(stripped)
    except (ArithmeticError, ValueError):
        raise ValueError(f"{text!r} is not a number") from None


def _to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)
