"""Typing rules: the type of literals and operators, and the conversions the binder makes explicit.

Rules (``docs/sql.md``, "Types"):

* INT, DECIMAL(s) and FLOAT are numeric; mixing them widens INT → DECIMAL → FLOAT, and two
  DECIMALs to the larger scale. ``a * b`` of DECIMALs adds the scales; ``/`` is FLOAT (the exact
  quotient, rounded once); ``DIV`` takes INTs; ``%`` has the common type.
* STRING compares only with STRING; DATE with DATE or TIMESTAMP (the DATE is widened); BOOL with
  BOOL. A string *literal* compared with a DATE or TIMESTAMP is read as one.
* ``NULL`` has every type.

Whenever operands of ``+ - %``, a comparison, ``IN``, ``CASE``/``COALESCE``/``GREATEST``/``LEAST``,
a join key or a ``UNION`` column have different types, the binder wraps the narrower one in
``CAST`` (:func:`coerce`), so executors never convert implicitly; constants are converted at
bind time instead.

Example:
    >>> str(common_type([INT, decimal(2)]))
    'DECIMAL(*,2)'
    >>> coerce(Const(3, INT), decimal(2)).value
    300
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from shuyu.sql.catalog import (
    BOOL,
    DATE,
    FLOAT,
    INT,
    NULL,
    STRING,
    TIMESTAMP,
    DataType,
    TypeKind,
    decimal,
)
from shuyu.sql.plan import Call, Const, Expr
from shuyu.sql.values import cast, from_python, to_python

NUMERIC = frozenset({TypeKind.INT, TypeKind.DECIMAL, TypeKind.FLOAT})
TEMPORAL = frozenset({TypeKind.DATE, TypeKind.TIMESTAMP})
INT64_MAX = 2**63 - 1

__all__ = [
    "BOOL",
    "DATE",
    "FLOAT",
    "INT",
    "NULL",
    "STRING",
    "TIMESTAMP",
    "arithmetic_type",
    "coerce",
    "common_type",
    "decimal",
    "literal",
    "nullable",
    "same_type",
]


def nullable(data_type: DataType, value: bool = True) -> DataType:
    return data_type if data_type.nullable == value else replace(data_type, nullable=value)


def same_type(left: DataType, right: DataType) -> bool:
    """Same kind (and scale for DECIMAL), whatever the nullability."""
    return left.kind is right.kind and (
        left.kind is not TypeKind.DECIMAL or left.scale == right.scale
    )


def literal(text: str, is_string: bool) -> Const | None:
    """A SQL literal as a constant; ``None`` if a number does not fit 64 bits."""
    if is_string:
        return Const(text, nullable(STRING, False))
    if text.isdigit():
        value = int(text)
        return Const(value, nullable(INT, False)) if value <= INT64_MAX else None
    if "e" in text.lower():
        return Const(float(text), nullable(FLOAT, False))
    try:
        exact = Decimal(text)
    except InvalidOperation:
        return None
    scale = max(0, -int(exact.as_tuple().exponent))
    scaled = int(exact.scaleb(scale))
    if abs(scaled) > INT64_MAX:
        return Const(float(text), nullable(FLOAT, False))
    return Const(scaled, DataType(TypeKind.DECIMAL, scale, nullable=False))


def common_type(types: Iterable[DataType]) -> DataType | None:
    """The type every one of ``types`` converts to, or ``None`` if they do not mix."""
    result: DataType | None = None
    any_nullable = False
    for data_type in types:
        any_nullable = any_nullable or data_type.nullable
        if data_type.kind is TypeKind.NULL:
            continue
        if result is None:
            result = data_type
            continue
        merged = _merge(result, data_type)
        if merged is None:
            return None
        result = merged
    if result is None:
        return NULL
    return nullable(result, any_nullable)


def _merge(left: DataType, right: DataType) -> DataType | None:
    if left.kind in NUMERIC and right.kind in NUMERIC:
        if TypeKind.FLOAT in (left.kind, right.kind):
            return FLOAT
        if TypeKind.DECIMAL in (left.kind, right.kind):
            return decimal(max(left.scale, right.scale))
        return INT
    if left.kind in TEMPORAL and right.kind in TEMPORAL:
        return TIMESTAMP if TypeKind.TIMESTAMP in (left.kind, right.kind) else DATE
    if left.kind is right.kind:
        return left
    return None


def arithmetic_type(op: str, left: DataType, right: DataType) -> DataType | None:
    """The result type of ``left op right`` for ``+ - * / % DIV``; ``None`` if not allowed."""
    kinds = {left.kind, right.kind} - {TypeKind.NULL}
    if not kinds <= NUMERIC:
        return None
    either_nullable = left.nullable or right.nullable
    if op == "/":
        return FLOAT
    if op == "DIV":
        return INT if kinds <= {TypeKind.INT} else None
    if op == "*" and TypeKind.FLOAT not in kinds and TypeKind.DECIMAL in kinds:
        scale = sum(t.scale for t in (left, right) if t.kind is TypeKind.DECIMAL)
        return DataType(TypeKind.DECIMAL, scale, either_nullable)
    widened = common_type([left, right])
    if widened is None:
        return None
    if widened.kind is TypeKind.NULL:
        widened = INT
    return nullable(widened, either_nullable or op == "%")


def coerce(expr: Expr, target: DataType) -> Expr:
    """``expr`` converted to ``target``'s kind and scale (its nullability kept).

    Constants are converted here (``ValueError`` if they cannot be); anything else is wrapped
    in ``CAST``.
    """
    if target.kind is TypeKind.NULL or same_type(expr.type, target):
        return expr
    wanted = nullable(target, expr.type.nullable)
    if isinstance(expr, Const):
        if expr.value is None:
            return Const(None, nullable(target), expr.span)
        value = from_python(cast(to_python(expr.value, expr.type), wanted), wanted)
        return Const(value, wanted, expr.span)
    return Call("CAST", (expr,), wanted, expr.span)
