"""Scalar functions: argument checks, result types and plan form (:class:`~shuyu.sql.plan.Call`).

Plan names and semantics (``docs/sql.md``, "Functions"); ``x`` numeric, ``d`` DATE or TIMESTAMP,
``s`` STRING; every function returns NULL when an argument is NULL unless said otherwise:

* ``ABS(x)``, ``SIGN(x)`` (INT), ``ROUND(x, digits)`` (digits a constant, half away from zero),
  ``CEIL(x)``/``FLOOR(x)`` (INT for INT and DECIMAL, FLOAT for FLOAT), ``POWER(x, y)``,
  ``SQRT(x)``, ``EXP(x)``, ``LN(x)``, ``LOG(base, x)`` (FLOAT; NULL outside the domain, as MySQL).
* ``GREATEST(...)``, ``LEAST(...)`` (NULL if any argument is NULL, as MySQL), ``COALESCE(...)``
  (also ``IFNULL``).
* ``CAST(x AS t)`` (``Call("CAST", (x,), t)``; ``DATE(x)`` is a CAST to DATE).
* ``YEAR(d)``, ``MONTH(d)``, ``DAY(d)``, ``QUARTER(d)``, ``DAYOFWEEK(d)`` (1 = Sunday),
  ``DATEDIFF(a, b)`` (days from b to a), ``DATE_ADD(d, n, unit)`` with unit ``'DAY'``,
  ``'MONTH'``, ``'YEAR'``, ``'HOUR'``, ``'MINUTE'`` or ``'SECOND'`` (from ``DATE_ADD``/``DATE_SUB``/
  ``ADDDATE``/``SUBDATE``/``d ± INTERVAL n unit``; WEEK and QUARTER become 7 days and 3 months;
  a month added to the 31st lands on the month's last day). ``CURRENT_DATE`` and ``NOW()`` are
  constants fixed when the query is bound.
* Plaintext-only conveniences on strings: ``s LIKE pattern`` (``Call("LIKE", (s, pattern,
  escape))``, case-sensitive), ``UPPER``, ``LOWER``, ``CHAR_LENGTH``, ``LENGTH`` (bytes of UTF-8),
  ``CONCAT`` (NULL if any argument is), ``SUBSTRING(s, start[, length])`` (1-based; negative
  start counts from the end).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlglot import exp

from shuyu.errors import SqlError, SqlTypeError, UnsupportedSql
from shuyu.sql.catalog import DataType, TypeKind
from shuyu.sql.plan import Binary, Call, Const, Expr, Unary
from shuyu.sql.type_rules import (
    BOOL,
    DATE,
    FLOAT,
    INT,
    NUMERIC,
    STRING,
    TEMPORAL,
    TIMESTAMP,
    coerce,
    common_type,
    decimal,
    nullable,
)
from shuyu.sql.values import cast, from_python, to_python

if TYPE_CHECKING:
    from shuyu.sql.bind_expression import ExpressionBinder

Handler = Callable[["ExpressionBinder", exp.Expr], Expr]

DATE_PARTS: dict[type[exp.Expr], str] = {
    exp.Year: "YEAR",
    exp.Month: "MONTH",
    exp.Day: "DAY",
    exp.DayOfMonth: "DAY",
    exp.Quarter: "QUARTER",
    exp.DayOfWeek: "DAYOFWEEK",
}
FLOAT_FUNCTIONS: dict[type[exp.Expr], str] = {
    exp.Sqrt: "SQRT",
    exp.Exp: "EXP",
    exp.Ln: "LN",
}
UNITS = {
    "DAY": ("DAY", 1),
    "WEEK": ("DAY", 7),
    "MONTH": ("MONTH", 1),
    "QUARTER": ("MONTH", 3),
    "YEAR": ("YEAR", 1),
    "HOUR": ("HOUR", 1),
    "MINUTE": ("MINUTE", 1),
    "SECOND": ("SECOND", 1),
}
CAST_TYPES = {
    exp.DataType.Type.BIGINT: INT,
    exp.DataType.Type.INT: INT,
    exp.DataType.Type.SMALLINT: INT,
    exp.DataType.Type.TINYINT: INT,
    exp.DataType.Type.UBIGINT: INT,
    exp.DataType.Type.UINT: INT,
    exp.DataType.Type.DOUBLE: FLOAT,
    exp.DataType.Type.FLOAT: FLOAT,
    exp.DataType.Type.CHAR: STRING,
    exp.DataType.Type.VARCHAR: STRING,
    exp.DataType.Type.TEXT: STRING,
    exp.DataType.Type.NCHAR: STRING,
    exp.DataType.Type.NVARCHAR: STRING,
    exp.DataType.Type.DATE: DATE,
    exp.DataType.Type.DATETIME: TIMESTAMP,
    exp.DataType.Type.TIMESTAMP: TIMESTAMP,
    # MySQL's TIMESTAMP is read by sqlglot as a zoned type; Shuyu's TIMESTAMP has no zone
    exp.DataType.Type.TIMESTAMPTZ: TIMESTAMP,
    exp.DataType.Type.TIMESTAMPLTZ: TIMESTAMP,
}


def bind_function(binder: ExpressionBinder, node: exp.Expr) -> Expr | None:
    """``node`` as a plan expression, or ``None`` if it is no function Shuyu knows."""
    for kind in type(node).__mro__:
        handler = FUNCTIONS.get(kind)
        if handler is not None:
            return handler(binder, node)
    if isinstance(node, exp.Anonymous):
        named = ANONYMOUS.get(str(node.this).upper())
        if named is not None:
            return named(binder, node)
    return None


def _args(node: exp.Expr) -> list[exp.Expr]:
    found = [node.this] if isinstance(node.this, exp.Expr) else []
    return found + list(node.expressions)


def _call(
    binder: ExpressionBinder,
    node: exp.Expr,
    name: str,
    args: tuple[Expr, ...],
    result: DataType,
    *,
    always_nullable: bool = False,
) -> Call:
    any_null = always_nullable or any(arg.type.nullable for arg in args)
    return Call(name, args, nullable(result, any_null), binder.span(node))


def _numeric_arg(binder: ExpressionBinder, node: exp.Expr, what: str) -> Expr:
    return binder.numeric(binder.bind(node), what)


def _integer_constant(binder: ExpressionBinder, node: exp.Expr, what: str) -> int:
    bound = binder.bind(node)
    if not (
        isinstance(bound, Const) and bound.type.kind is TypeKind.INT and bound.value is not None
    ):
        raise binder.error(UnsupportedSql, f"{what} must be an integer constant", node)
    return int(bound.value)


# --- math ------------------------------------------------------------------------------------


def _abs(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    value = _numeric_arg(binder, node.this, "ABS")
    return _call(binder, node, "ABS", (value,), value.type)


def _sign(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    value = _numeric_arg(binder, node.this, "SIGN")
    return _call(binder, node, "SIGN", (value,), INT)


def _round(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    value = _numeric_arg(binder, node.this, "ROUND")
    digits_node = node.args.get("decimals")
    digits = _integer_constant(binder, digits_node, "ROUND's digits") if digits_node else 0
    result = value.type
    if result.kind is TypeKind.DECIMAL:
        result = decimal(max(0, min(result.scale, digits)))
    elif result.kind is TypeKind.NULL:
        result = INT
    return _call(binder, node, "ROUND", (value, Const(digits, nullable(INT, False))), result)


def _ceil_floor(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    name = "CEIL" if isinstance(node, exp.Ceil) else "FLOOR"
    if node.args.get("decimals") is not None or node.args.get("to") is not None:
        raise binder.unsupported(node, f"{name} with a second argument")
    value = _numeric_arg(binder, node.this, name)
    result = FLOAT if value.type.kind is TypeKind.FLOAT else INT
    return _call(binder, node, name, (value,), result)


def _float_function(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    name = FLOAT_FUNCTIONS[type(node)]
    value = _numeric_arg(binder, node.this, name)
    return _call(binder, node, name, (value,), FLOAT, always_nullable=name != "EXP")


def _power(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    base = _numeric_arg(binder, node.this, "POWER")
    exponent = _numeric_arg(binder, node.expression, "POWER")
    return _call(binder, node, "POWER", (base, exponent), FLOAT, always_nullable=True)


def _log(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    if node.expression is None:
        value = _numeric_arg(binder, node.this, "LOG")
        return _call(binder, node, "LN", (value,), FLOAT, always_nullable=True)
    base = _numeric_arg(binder, node.this, "LOG")
    value = _numeric_arg(binder, node.expression, "LOG")
    return _call(binder, node, "LOG", (base, value), FLOAT, always_nullable=True)


def _extreme(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    name = "GREATEST" if isinstance(node, exp.Greatest) else "LEAST"
    args = [binder.bind(arg) for arg in _args(node)]
    return _same_typed_call(binder, node, name, args)


def _coalesce(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    args = [binder.bind(arg) for arg in _args(node)]
    call = _same_typed_call(binder, node, "COALESCE", args)
    return Call(
        call.name, call.args, nullable(call.type, all(a.type.nullable for a in args)), call.span
    )


def _same_typed_call(binder: ExpressionBinder, node: exp.Expr, name: str, args: list[Expr]) -> Call:
    first = next((a.type for a in args if a.type.kind in TEMPORAL), None)
    if first is not None:
        args = [binder.temporal_literal(arg, first) for arg in args]
    common = common_type(arg.type for arg in args)
    if common is None:
        kinds = sorted({arg.type.kind.value for arg in args})
        raise binder.error(
            SqlTypeError,
            f"{name} mixes {' and '.join(kinds)}",
            node,
            hint="Give every argument the same type (CAST one of them).",
        )
    return _call(binder, node, name, tuple(coerce(arg, common) for arg in args), common)


# --- CAST ------------------------------------------------------------------------------------


def cast_target(binder: ExpressionBinder, node: exp.DataType) -> DataType:
    """The Shuyu type a SQL type name means (``CAST(x AS DECIMAL(10, 2))``)."""
    if node.this is exp.DataType.Type.DECIMAL:
        params = [p.this for p in node.expressions if isinstance(p, exp.DataTypeParam)]
        scale = int(str(params[1].this)) if len(params) > 1 else 0
        return decimal(scale)
    target = CAST_TYPES.get(node.this)
    if target is None:
        raise binder.unsupported(node, f"CAST to {node.sql('mysql')}")
    return target


def _cast(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    is_date = isinstance(node, exp.TsOrDsToDate)
    target = DATE if is_date else cast_target(binder, node.args["to"])
    value = binder.bind(node.this)
    return cast_expr(binder, node, value, target)


def cast_expr(binder: ExpressionBinder, node: exp.Expr, value: Expr, target: DataType) -> Expr:
    source = value.type.kind
    allowed = (
        source in (TypeKind.NULL, TypeKind.STRING, target.kind)
        or (target.kind is TypeKind.STRING and source is not TypeKind.BOOL)
        or (source in NUMERIC | {TypeKind.BOOL} and target.kind in NUMERIC)
        or (source in TEMPORAL and target.kind in TEMPORAL)
    )
    if not allowed:
        raise binder.error(SqlTypeError, f"cannot CAST {source.value} to {target.kind.value}", node)
    wanted = nullable(target, value.type.nullable)
    if isinstance(value, Const):
        try:
            folded = cast(to_python(value.value, value.type), wanted)
        except ValueError as error:
            raise binder.error(SqlTypeError, str(error), node) from None
        return Const(from_python(folded, wanted), wanted, binder.span(node))
    if source is TypeKind.STRING and target.kind is not TypeKind.STRING:
        wanted = nullable(target)  # a string that does not convert is an error at run time
    return Call("CAST", (value,), wanted, binder.span(node))


# --- dates -----------------------------------------------------------------------------------


def _temporal_arg(binder: ExpressionBinder, node: exp.Expr, what: str) -> Expr:
    value = binder.temporal_literal(binder.bind(node), DATE)
    if value.type.kind not in TEMPORAL | {TypeKind.NULL}:
        raise binder.error(
            SqlTypeError, f"{what} needs a DATE or TIMESTAMP, got {value.type.kind.value}", node
        )
    return value


def _date_part(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    name = DATE_PARTS[type(node)]
    inner = node.this
    if isinstance(inner, exp.TsOrDsToDate):
        inner = inner.this
    value = _temporal_arg(binder, inner, name)
    return _call(binder, node, name, (value,), INT)


def _datediff(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    unit = node.args.get("unit")
    if unit is not None and str(unit.name).upper() != "DAY":
        raise binder.unsupported(node, f"DATEDIFF in {unit.name}")
    later = _as_date(binder, _temporal_arg(binder, node.this, "DATEDIFF"))
    earlier = _as_date(binder, _temporal_arg(binder, node.expression, "DATEDIFF"))
    return _call(binder, node, "DATEDIFF", (later, earlier), INT)


def _as_date(binder: ExpressionBinder, value: Expr) -> Expr:
    if value.type.kind is TypeKind.TIMESTAMP:
        return Call("CAST", (value,), nullable(DATE, value.type.nullable), value.span)
    return value


def date_arithmetic(binder: ExpressionBinder, node: exp.Expr, op: str) -> Expr:
    """``d + INTERVAL n unit`` / ``d - INTERVAL n unit`` (``node`` is an ``Add`` or ``Sub``)."""
    date_node, interval = node.this, node.expression
    if isinstance(date_node, exp.Interval):
        date_node, interval = interval, date_node
    unit = interval.args.get("unit")
    return _date_add(binder, node, date_node, interval.this, unit, subtract=op == "-")


def _date_add_function(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    amount = node.expression
    unit = node.args.get("unit")
    if isinstance(amount, exp.Interval):
        amount, unit = amount.this, amount.args.get("unit")
    return _date_add(binder, node, node.this, amount, unit, subtract=isinstance(node, exp.DateSub))


def _adddate(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    args = _args(node)
    if len(args) != 2:
        raise binder.error(SqlError, f"{node.this} takes 2 arguments", node)
    date_node, amount = args
    unit: exp.Expr | None = None
    if isinstance(amount, exp.Interval):
        amount, unit = amount.this, amount.args.get("unit")
    subtract = str(node.this).upper() == "SUBDATE"
    return _date_add(binder, node, date_node, amount, unit, subtract=subtract)


def _date_add(
    binder: ExpressionBinder,
    node: exp.Expr,
    date_node: exp.Expr,
    amount_node: exp.Expr,
    unit_node: exp.Expr | None,
    *,
    subtract: bool,
) -> Expr:
    unit_name = str(unit_node.name).upper() if unit_node is not None else "DAY"
    if unit_name.endswith("S") and unit_name[:-1] in UNITS:
        unit_name = unit_name[:-1]
    if unit_name not in UNITS:
        raise binder.unsupported(node, f"INTERVAL unit {unit_name}")
    unit, factor = UNITS[unit_name]
    value = _temporal_arg(binder, date_node, "DATE_ADD")
    if isinstance(amount_node, exp.Literal) and amount_node.is_string:
        try:
            amount: Expr = Const(
                int(str(amount_node.this).strip()), nullable(INT, False), binder.span(amount_node)
            )
        except ValueError:
            raise binder.unsupported(amount_node, f"INTERVAL {amount_node.sql()}") from None
    else:
        amount = binder.bind(amount_node)
    if amount.type.kind not in (TypeKind.INT, TypeKind.NULL):
        raise binder.error(SqlTypeError, "an INTERVAL needs a whole number", amount_node)
    if factor != 1 or subtract:
        multiplier = -factor if subtract else factor
        if isinstance(amount, Const) and isinstance(amount.value, int):
            amount = Const(amount.value * multiplier, amount.type, amount.span)
        else:
            amount = Binary(
                "*", amount, Const(multiplier, nullable(INT, False)), amount.type, amount.span
            )
    result = (
        DATE if value.type.kind is TypeKind.DATE and unit in ("DAY", "MONTH", "YEAR") else TIMESTAMP
    )
    unit_const = Const(unit, nullable(STRING, False))
    return _call(binder, node, "DATE_ADD", (value, amount, unit_const), result)


def _current_date(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    today = datetime.date.today()
    return Const(from_python(today, DATE), nullable(DATE, False), binder.span(node))


def _now(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    now = datetime.datetime.now().replace(microsecond=0)
    return Const(from_python(now, TIMESTAMP), nullable(TIMESTAMP, False), binder.span(node))


# --- strings (plaintext conveniences) --------------------------------------------------------


def _string_arg(binder: ExpressionBinder, node: exp.Expr, what: str) -> Expr:
    value = binder.bind(node)
    if value.type.kind not in (TypeKind.STRING, TypeKind.NULL):
        raise binder.error(
            SqlTypeError,
            f"{what} needs a STRING, got {value.type.kind.value}",
            node,
            hint="CAST(x AS CHAR) turns a value into a string.",
        )
    return value


def _like(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    escape: Expr = Const("\\", nullable(STRING, False))
    like = node
    if isinstance(node, exp.Escape):
        like = node.this
        escape = _string_arg(binder, node.expression, "ESCAPE")
        if not (
            isinstance(escape, Const) and isinstance(escape.value, str) and len(escape.value) == 1
        ):
            raise binder.error(UnsupportedSql, "ESCAPE must be one character", node.expression)
    if not isinstance(like, exp.Like):
        raise binder.unsupported(like)
    value = _string_arg(binder, like.this, "LIKE")
    pattern = _string_arg(binder, like.expression, "LIKE")
    matched = _call(binder, node, "LIKE", (value, pattern, escape), BOOL)
    if like.args.get("negate"):
        return Unary("NOT", matched, matched.type, matched.span)
    return matched


def _upper_lower(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    name = "UPPER" if isinstance(node, exp.Upper) else "LOWER"
    return _call(binder, node, name, (_string_arg(binder, node.this, name),), STRING)


def _length(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    name = "LENGTH" if node.args.get("binary") else "CHAR_LENGTH"
    return _call(binder, node, name, (_string_arg(binder, node.this, name),), INT)


def _concat(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    args = tuple(_string_arg(binder, arg, "CONCAT") for arg in node.expressions)
    return _call(binder, node, "CONCAT", args, STRING)


def _substring(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    value = _string_arg(binder, node.this, "SUBSTRING")
    args = [value]
    for key in ("start", "length"):
        part = node.args.get(key)
        if part is not None:
            bound = binder.bind(part)
            if bound.type.kind not in (TypeKind.INT, TypeKind.NULL):
                raise binder.error(SqlTypeError, f"SUBSTRING's {key} must be an INT", part)
            args.append(bound)
    return _call(binder, node, "SUBSTRING", tuple(args), STRING)


FUNCTIONS: dict[type[exp.Expr], Handler] = {
    exp.Abs: _abs,
    exp.Sign: _sign,
    exp.Round: _round,
    exp.Ceil: _ceil_floor,
    exp.Floor: _ceil_floor,
    exp.Pow: _power,
    exp.Log: _log,
    **{cls: _float_function for cls in FLOAT_FUNCTIONS},
    exp.Greatest: _extreme,
    exp.Least: _extreme,
    exp.Coalesce: _coalesce,
    exp.Cast: _cast,
    exp.TsOrDsToDate: _cast,
    **{cls: _date_part for cls in DATE_PARTS},
    exp.DateDiff: _datediff,
    exp.DateAdd: _date_add_function,
    exp.DateSub: _date_add_function,
    exp.CurrentDate: _current_date,
    exp.CurrentTimestamp: _now,
    exp.Like: _like,
    exp.Escape: _like,
    exp.Upper: _upper_lower,
    exp.Lower: _upper_lower,
    exp.Length: _length,
    exp.Concat: _concat,
    exp.Substring: _substring,
}
ANONYMOUS: dict[str, Handler] = {
    "NOW": _now,
    "CURDATE": _current_date,
    "ADDDATE": _adddate,
    "SUBDATE": _adddate,
}
