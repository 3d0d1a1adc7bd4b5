"""Plaintext evaluation of plan expressions over rows of Python values, with SQL semantics.

:func:`compile_expr` turns an expression into a function of one row (a tuple whose positions
``positions`` gives by field name). Values are the Python values of :mod:`shuyu.engine.data`.
Semantics (``docs/sql.md``):

* NULL in, NULL out, except ``IS [NOT] NULL``, ``COALESCE``, ``CASE`` and the three-valued
  ``AND``/``OR`` (``FALSE AND NULL`` is FALSE, ``TRUE OR NULL`` is TRUE).
* ``/``, ``%`` and ``DIV`` by zero are NULL (MySQL). ``/`` is the exact quotient rounded to a
  float; ``%`` and ``DIV`` truncate toward zero (the remainder has the dividend's sign).
* Strings compare by code point (a binary collation, like DuckDB and MySQL's ``utf8mb4_bin``).
* Math functions outside their domain (``SQRT(-1)``, ``LN(0)``) are NULL, as in MySQL.
"""

from __future__ import annotations

import calendar
import datetime
import math
import re
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from shuyu.errors import SqlTypeError
from shuyu.sql.catalog import TypeKind
from shuyu.sql.plan import Binary, Call, Case, ColumnRef, Const, InList, Unary
from shuyu.sql.values import cast, to_python

Row = tuple[Any, ...]
Compiled = Callable[[Row], Any]


def compile_expr(expr: Any, positions: Mapping[str, int]) -> Compiled:
    """``expr`` as a function of a row whose field ``name`` is at ``positions[name]``."""
    if isinstance(expr, ColumnRef):
        position = positions[expr.name]
        return lambda row: row[position]
    if isinstance(expr, Const):
        value = to_python(expr.value, expr.type)
        return lambda row: value
    if isinstance(expr, Binary):
        return _binary(expr, positions)
    if isinstance(expr, Unary):
        return _unary(expr, positions)
    if isinstance(expr, Case):
        return _case(expr, positions)
    if isinstance(expr, InList):
        return _in_list(expr, positions)
    if isinstance(expr, Call):
        return _call(expr, positions)
    raise TypeError(f"cannot evaluate {expr!r}")


def _binary(expr: Binary, positions: Mapping[str, int]) -> Compiled:
    left = compile_expr(expr.left, positions)
    right = compile_expr(expr.right, positions)
    op = expr.op
    if op == "AND":

        def conjunction(row: Row) -> bool | None:
            first = left(row)
            if first is False:
                return False
            second = right(row)
            if second is False:
                return False
            return None if first is None or second is None else True

        return conjunction
    if op == "OR":

        def disjunction(row: Row) -> bool | None:
            first = left(row)
            if first is True:
                return True
            second = right(row)
            if second is True:
                return True
            return None if first is None or second is None else False

        return disjunction
    function = OPERATORS[op]

    def apply(row: Row) -> Any:
        a = left(row)
        if a is None:
            return None
        b = right(row)
        return None if b is None else function(a, b)

    return apply


def _divide(a: Any, b: Any) -> float | None:
    if b == 0:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return float(a) / float(b)
    return float(Fraction(a) / Fraction(b))


def _remainder(a: Any, b: Any) -> Any:
    if b == 0:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return math.fmod(a, b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return Decimal(a) % Decimal(b)  # Decimal's remainder has the dividend's sign
    magnitude = abs(a) % abs(b)
    return -magnitude if a < 0 else magnitude


def _integer_divide(a: int, b: int) -> int | None:
    if b == 0:
        return None
    quotient = abs(a) // abs(b)
    return -quotient if (a < 0) != (b < 0) else quotient


OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
    "%": _remainder,
    "DIV": _integer_divide,
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _unary(expr: Unary, positions: Mapping[str, int]) -> Compiled:
    operand = compile_expr(expr.operand, positions)
    if expr.op == "IS NULL":
        return lambda row: operand(row) is None
    if expr.op == "IS NOT NULL":
        return lambda row: operand(row) is not None
    if expr.op == "NOT":

        def negate(row: Row) -> bool | None:
            value = operand(row)
            return None if value is None else not value

        return negate

    def minus(row: Row) -> Any:
        value = operand(row)
        return None if value is None else -value

    return minus


def _case(expr: Case, positions: Mapping[str, int]) -> Compiled:
    whens = [(compile_expr(c, positions), compile_expr(v, positions)) for c, v in expr.whens]
    default = compile_expr(expr.default, positions) if expr.default is not None else None

    def choose(row: Row) -> Any:
        for condition, value in whens:
            if condition(row) is True:
                return value(row)
        return default(row) if default is not None else None

    return choose


def _in_list(expr: InList, positions: Mapping[str, int]) -> Compiled:
    operand = compile_expr(expr.operand, positions)
    items = [compile_expr(item, positions) for item in expr.items]
    negated = expr.negated

    def member(row: Row) -> bool | None:
        value = operand(row)
        if value is None:
            return None
        saw_null = False
        for item in items:
            candidate = item(row)
            if candidate is None:
                saw_null = True
            elif candidate == value:
                return not negated
        return None if saw_null else negated

    return member


# --- functions -------------------------------------------------------------------------------


def _call(expr: Call, positions: Mapping[str, int]) -> Compiled:
    args = [compile_expr(arg, positions) for arg in expr.args]
    if expr.name == "COALESCE":

        def coalesce(row: Row) -> Any:
            for arg in args:
                value = arg(row)
                if value is not None:
                    return value
            return None

        return coalesce
    if expr.name == "CAST":
        target = expr.type
        (operand,) = args

        def convert(row: Row) -> Any:
            try:
                return cast(operand(row), target)
            except ValueError as error:
                raise SqlTypeError(f"CAST failed: {error}") from None

        return convert
    function = FUNCTIONS.get(expr.name)
    if function is None:
        raise TypeError(f"no function {expr.name}")
    result_kind = expr.type.kind

    def apply(row: Row) -> Any:
        values = [arg(row) for arg in args]
        if any(value is None for value in values):
            return None
        return function(values, result_kind)

    return apply


def _round(values: list[Any], kind: TypeKind) -> Any:
    value, digits = values
    if isinstance(value, float):
        scale = 10.0**digits
        rounded = Decimal(value * scale).quantize(Decimal(1), ROUND_HALF_UP)
        return float(rounded) / scale
    step = Decimal(1).scaleb(-digits)
    rounded = Decimal(value).quantize(step, ROUND_HALF_UP)
    return int(rounded) if kind is TypeKind.INT else rounded


def _guarded(function: Callable[..., float], domain: Callable[..., bool]) -> Callable[..., Any]:
    def apply(values: list[Any], kind: TypeKind) -> float | None:
        numbers = [float(v) for v in values]
        if not domain(*numbers):
            return None
        try:
            result = function(*numbers)
        except (OverflowError, ValueError, ZeroDivisionError):
            return None
        return result if math.isfinite(result) else None

    return apply


def _floor_or_ceil(rounding: Callable[[Any], int]) -> Callable[..., Any]:
    def apply(values: list[Any], kind: TypeKind) -> Any:
        result = rounding(values[0])
        return float(result) if kind is TypeKind.FLOAT else int(result)

    return apply


def _add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return day.replace(year=year, month=month + 1, day=min(day.day, last))


def _date_add(values: list[Any], kind: TypeKind) -> Any:
    moment, amount, unit = values
    if unit == "DAY":
        return moment + datetime.timedelta(days=amount)
    if unit in ("MONTH", "YEAR"):
        return _add_months(moment, amount * (12 if unit == "YEAR" else 1))
    if not isinstance(moment, datetime.datetime):
        moment = datetime.datetime.combine(moment, datetime.time())
    seconds = {"HOUR": 3600, "MINUTE": 60, "SECOND": 1}[unit]
    return moment + datetime.timedelta(seconds=amount * seconds)


@lru_cache(maxsize=256)
def like_pattern(pattern: str, escape: str) -> re.Pattern[str]:
    """A SQL LIKE pattern (``%`` any text, ``_`` one character) as a regular expression."""
    parts: list[str] = []
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == escape and position + 1 < len(pattern):
            parts.append(re.escape(pattern[position + 1]))
            position += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        position += 1
    return re.compile("".join(parts), re.DOTALL)


def _substring(values: list[Any], kind: TypeKind) -> str:
    text, start = values[0], values[1]
    length = values[2] if len(values) > 2 else len(text)
    if start == 0 or length < 1:
        return ""
    begin = start - 1 if start > 0 else len(text) + start
    if begin < 0:
        return ""
    return str(text[begin : begin + length])


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    return lambda values, kind: pick(values)


FUNCTIONS: dict[str, Callable[[list[Any], TypeKind], Any]] = {
    "ABS": lambda v, k: abs(v[0]),
    "SIGN": lambda v, k: (v[0] > 0) - (v[0] < 0),
    "ROUND": _round,
    "CEIL": _floor_or_ceil(math.ceil),
    "FLOOR": _floor_or_ceil(math.floor),
    "POWER": _guarded(math.pow, lambda base, exponent: not (base == 0 and exponent < 0)),
    "SQRT": _guarded(math.sqrt, lambda x: x >= 0),
    "EXP": _guarded(math.exp, lambda x: True),
    "LN": _guarded(math.log, lambda x: x > 0),
    "LOG": _guarded(
        lambda b, x: math.log(x) / math.log(b), lambda b, x: b > 0 and b != 1 and x > 0
    ),
    "GREATEST": _extreme(max),
    "LEAST": _extreme(min),
    "YEAR": lambda v, k: v[0].year,
    "MONTH": lambda v, k: v[0].month,
    "DAY": lambda v, k: v[0].day,
    "QUARTER": lambda v, k: (v[0].month - 1) // 3 + 1,
    "DAYOFWEEK": lambda v, k: v[0].isoweekday() % 7 + 1,
    "DATEDIFF": lambda v, k: (v[0] - v[1]).days,
    "DATE_ADD": _date_add,
    "LIKE": lambda v, k: like_pattern(v[1], v[2]).fullmatch(v[0]) is not None,
    "UPPER": lambda v, k: v[0].upper(),
    "LOWER": lambda v, k: v[0].lower(),
    "CHAR_LENGTH": lambda v, k: len(v[0]),
    "LENGTH": lambda v, k: len(v[0].encode("utf-8")),
    "CONCAT": lambda v, k: "".join(v),
    "SUBSTRING": _substring,
}
