"""Plan expressions as sqlglot expressions of one SQL dialect, with the same meaning in each.

:class:`ExpressionTranslator` turns :mod:`shuyu.sql.plan` expressions (columns, constants,
operators, ``CASE``, ``IN``, scalar functions, aggregates) into sqlglot expressions for
``local_sql`` (:mod:`shuyu.engine.pushdown`). Constants become sqlglot literals; nothing is built by
concatenating text.

The meaning is the planner's (``docs/sql.md``, MySQL's in almost everything), whatever the
engine's defaults: ``x / 0`` and ``x % 0`` are NULL, ``/`` is never integer division, ``GREATEST``
and ``LEAST`` are NULL when an argument is, ``SQRT``/``LN``/``LOG``/``POWER`` are NULL outside
their domain, ``LIKE`` is case-sensitive with ``\\`` as the default escape, ``DAYOFWEEK`` counts
from Sunday = 1, ``CAST`` to an integer rounds half away from zero. Where a dialect cannot say
the same thing (SQLite's calendar arithmetic and ASCII-only ``UPPER``, a float ``ROUND``, casts
whose text formats differ between engines), :class:`~shuyu.errors.UnsupportedSql` names the
construct and the caller computes it outside the source instead.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from sqlglot import exp

from shuyu.errors import UnsupportedSql
from shuyu.sql import plan
from shuyu.sql.catalog import DataType, TypeKind

__all__ = ["ExpressionTranslator", "grouped"]

_EPOCH = dt.date(1970, 1, 1)
_EPOCH_TIME = dt.datetime(1970, 1, 1)

_BINARY_OPS: dict[str, type[exp.Expr]] = {
    "+": exp.Add,
    "-": exp.Sub,
    "*": exp.Mul,
    "=": exp.EQ,
    "<>": exp.NEQ,
    "<": exp.LT,
    "<=": exp.LTE,
    ">": exp.GT,
    ">=": exp.GTE,
    "AND": exp.And,
    "OR": exp.Or,
}
_AGGREGATES: dict[str, type[exp.Expr]] = {
    "SUM": exp.Sum,
    "AVG": exp.Avg,
    "MIN": exp.Min,
    "MAX": exp.Max,
}
# SQLite has no YEAR(), MONTH(), ...: strftime() gives text, cast back to an integer.
_SQLITE_PARTS = {"YEAR": "%Y", "MONTH": "%m", "DAY": "%d", "HOUR": "%H", "MINUTE": "%M"}
_UNITS = ("DAY", "MONTH", "YEAR", "HOUR", "MINUTE", "SECOND")
_NUMERIC = (TypeKind.INT, TypeKind.DECIMAL, TypeKind.FLOAT)


def grouped(value: exp.Expr) -> exp.Expr:
    """``value`` in parentheses unless it is atomic (a column, literal or function call)."""
    atomic = (exp.Column, exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.Func)
    return value if isinstance(value, atomic) else exp.paren(value)


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    """A function call printed as written in every dialect."""
    return exp.Anonymous(this=name, expressions=list(args))


def _null_if_any_null(args: list[exp.Expr], value: exp.Expr) -> exp.Expr:
    checks = [exp.Is(this=grouped(arg.copy()), expression=exp.Null()) for arg in args]
    return exp.Case().when(exp.or_(*checks), exp.Null()).else_(value)


def _null_unless(condition: exp.Expr, value: exp.Expr) -> exp.Expr:
    """``CASE WHEN condition THEN value END``: NULL outside a function's domain, as in MySQL."""
    return exp.Case().when(condition, value)


class ExpressionTranslator:
    """Plan expressions → sqlglot expressions of ``dialect``, over a scope of input columns."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._functions: dict[str, Callable[[plan.Call, list[exp.Expr]], exp.Expr]] = {
            "CAST": self._cast_call,
            "IF": lambda _, a: exp.If(this=a[0], true=a[1], false=a[2]),
            "COALESCE": lambda _, a: exp.Coalesce(this=a[0], expressions=a[1:]),
            "IFNULL": lambda _, a: exp.Coalesce(this=a[0], expressions=a[1:]),
            "NULLIF": lambda _, a: exp.Nullif(this=a[0], expression=a[1]),
            "ABS": lambda _, a: exp.Abs(this=a[0]),
            "SIGN": lambda c, a: self.cast(_fn("SIGN", a[0]), c.type),
            "ROUND": self._round,
            "CEIL": self._ceil_floor,
            "CEILING": self._ceil_floor,
            "FLOOR": self._ceil_floor,
            "SQRT": self._sqrt,
            "EXP": lambda _, a: exp.Exp(this=self._float(a[0])),
            "LN": self._ln,
            "LOG": self._log,
            "POWER": self._power,
            "GREATEST": self._extreme,
            "LEAST": self._extreme,
            "YEAR": self._date_part,
            "MONTH": self._date_part,
            "DAY": self._date_part,
            "HOUR": self._date_part,
            "MINUTE": self._date_part,
            "QUARTER": self._quarter,
            "DAYOFWEEK": self._day_of_week,
            "DATEDIFF": self._date_diff,
            "DATE_ADD": self._date_add,
            "LIKE": self._like,
            "UPPER": self._case_map,
            "LOWER": self._case_map,
            "CHAR_LENGTH": lambda _, a: exp.Length(this=a[0]),
            "LENGTH": self._byte_length,
            "CONCAT": lambda _, a: exp.Concat(expressions=a),
            "SUBSTRING": self._substring,
        }

    # --- expressions ---------------------------------------------------------------------

    def expr(self, node: plan.Expr, scope: Mapping[str, exp.Expr]) -> exp.Expr:
        """``node`` over the input columns ``scope`` (field name → column expression)."""
        if isinstance(node, plan.ColumnRef):
            if node.name not in scope:
                raise UnsupportedSql(f"column {node.name!r} is not an input of this step")
            return scope[node.name].copy()
        if isinstance(node, plan.Const):
            return self.const(node.value, node.type)
        if isinstance(node, plan.Binary):
            return self.binary(node, scope)
        if isinstance(node, plan.Unary):
            operand = grouped(self.expr(node.operand, scope))
            if node.op == "NOT":
                return exp.Not(this=operand)
            if node.op == "NEG":
                return exp.Neg(this=operand)
            is_null = exp.Is(this=operand, expression=exp.Null())
            return is_null if node.op == "IS NULL" else exp.Not(this=is_null)
        if isinstance(node, plan.Call):
            return self.call(node, scope)
        if isinstance(node, plan.Case):
            case = exp.Case()
            for condition, value in node.whens:
                case = case.when(self.expr(condition, scope), self.expr(value, scope))
            if node.default is not None:
                case = case.else_(self.expr(node.default, scope))
            return case
        if isinstance(node, plan.InList):
            operand = self.expr(node.operand, scope)
            if not node.items:
                return exp.true() if node.negated else exp.false()
            found = exp.In(
                this=grouped(operand),
                expressions=[self.expr(item, scope) for item in node.items],
            )
            return exp.Not(this=found) if node.negated else found
        raise UnsupportedSql(f"cannot push down the expression {plan.render(node)}")

    def binary(self, node: plan.Binary, scope: Mapping[str, exp.Expr]) -> exp.Expr:
        left = grouped(self.expr(node.left, scope))
        right = grouped(self.expr(node.right, scope))
        if node.op in _BINARY_OPS:
            return exp.paren(_BINARY_OPS[node.op](this=left, expression=right))
        divisor = exp.Nullif(this=right, expression=exp.Literal.number(0))
        kind = node.type.kind
        if node.op == "%":
            if kind is TypeKind.FLOAT and self.dialect == "postgres":
                # PostgreSQL has no % on floats: x - TRUNC(x / y) * y has its sign, as MySQL.
                quotient = _fn("TRUNC", exp.Div(this=left.copy(), expression=divisor))
                return exp.paren(
                    exp.Sub(this=left, expression=exp.Mul(this=quotient, expression=right.copy()))
                )
            return exp.paren(exp.Mod(this=left, expression=divisor))
        if node.op == "DIV" or kind is TypeKind.INT:
            return exp.paren(exp.IntDiv(this=left, expression=divisor))
        if kind is TypeKind.DECIMAL and self.dialect != "sqlite":
            numerator = exp.Cast(
                this=left, to=self.sql_type(DataType(TypeKind.DECIMAL, node.type.scale + 6))
            )
            return exp.paren(exp.Div(this=numerator, expression=divisor))
        # "/" is FLOAT: the exact quotient, never integer division.
        return exp.paren(exp.Div(this=self._float(left), expression=divisor))

    def call(self, node: plan.Call, scope: Mapping[str, exp.Expr]) -> exp.Expr:
        name = node.name.upper()
        handler = self._functions.get(name)
        if handler is None:
            raise UnsupportedSql(
                f"cannot push down the function {name}() to {self.dialect}",
                hint="The function is computed outside the source instead.",
            )
        return handler(node, [self.expr(arg, scope) for arg in node.args])

    def aggregate(self, call: plan.AggCall, scope: Mapping[str, exp.Expr]) -> exp.Expr:
        if call.func == "COUNT" and call.arg is None:
            return exp.Count(this=exp.Star())
        if call.arg is None:
            raise UnsupportedSql(f"{call.func}() needs an argument")
        argument = self.expr(call.arg, scope)
        if call.distinct:
            argument = exp.Distinct(expressions=[argument])
        if call.func == "COUNT":
            return exp.Count(this=argument)
        exact = call.arg.type.kind in (TypeKind.INT, TypeKind.DECIMAL)
        if call.func == "AVG" and exact and self.dialect == "mysql":
            # MySQL's AVG keeps 4 more digits than its argument; the mean must be exact before
            # it is rounded once to a float: a 30-digit decimal quotient is.
            total = exp.Cast(this=exp.Sum(this=argument), to=exp.DataType.build("DECIMAL(65, 30)"))
            count = exp.Nullif(
                this=exp.Count(this=argument.copy()), expression=exp.Literal.number(0)
            )
            return exp.paren(exp.Div(this=total, expression=count))
        return _AGGREGATES[call.func](this=argument)

    # --- functions -----------------------------------------------------------------------

    def _unsupported(self, what: str) -> UnsupportedSql:
        return UnsupportedSql(
            f"cannot push down {what} to {self.dialect} with the same meaning",
            hint="It is computed outside the source instead.",
        )

    def _float(self, value: exp.Expr) -> exp.Expr:
        return exp.Cast(this=value, to=self.sql_type(DataType(TypeKind.FLOAT)))

    def _round(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        # Engines round binary floats differently at ties; exact numbers they all round half
        # away from zero.
        kind = call.args[0].type.kind
        if kind is TypeKind.FLOAT:
            raise self._unsupported("ROUND of a float")
        digits = call.args[1] if len(call.args) > 1 else plan.Const(0, DataType(TypeKind.INT))
        if not (isinstance(digits, plan.Const) and isinstance(digits.value, int)):
            raise self._unsupported("ROUND with non-constant digits")
        if self.dialect == "sqlite":
            if kind is not TypeKind.INT or digits.value < 0:
                raise self._unsupported("ROUND of a SQLite decimal (a binary real)")
            return args[0]
        rounded = exp.Round(this=args[0], decimals=self.const(digits.value, digits.type))
        return self.cast(rounded, call.type)

    def _ceil_floor(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        function = exp.Floor if call.name.upper() == "FLOOR" else exp.Ceil
        return self.cast(function(this=args[0]), call.type)

    def _sqrt(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        value = self._float(args[0])
        return _null_unless(
            exp.GTE(this=value.copy(), expression=exp.Literal.number(0)), exp.Sqrt(this=value)
        )

    def _ln(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        value = self._float(args[0])
        return _null_unless(
            exp.GT(this=value.copy(), expression=exp.Literal.number(0)), exp.Ln(this=value)
        )

    def _log(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        if len(args) == 1:
            return self._ln(call, args)
        base, value = self._float(args[0]), self._float(args[1])
        domain = exp.and_(
            exp.GT(this=base.copy(), expression=exp.Literal.number(0)),
            exp.NEQ(this=base.copy(), expression=exp.Literal.number(1)),
            exp.GT(this=value.copy(), expression=exp.Literal.number(0)),
        )
        quotient = exp.Div(this=exp.Ln(this=value), expression=exp.Ln(this=base))
        return _null_unless(domain, quotient)

    def _power(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        base, power = self._float(args[0]), self._float(args[1])
        undefined = exp.or_(
            exp.and_(
                exp.LT(this=base.copy(), expression=exp.Literal.number(0)),
                exp.NEQ(this=power.copy(), expression=exp.Floor(this=power.copy())),
            ),
            exp.and_(
                exp.EQ(this=base.copy(), expression=exp.Literal.number(0)),
                exp.LT(this=power.copy(), expression=exp.Literal.number(0)),
            ),
        )
        return exp.Case().when(undefined, exp.Null()).else_(exp.Pow(this=base, expression=power))

    def _extreme(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        function = exp.Greatest if call.name.upper() == "GREATEST" else exp.Least
        value = function(this=args[0], expressions=[arg.copy() for arg in args[1:]])
        return _null_if_any_null(args, value)

    def _date_part(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        name = call.name.upper()
        if self.dialect == "sqlite":
            text = _fn("STRFTIME", exp.Literal.string(_SQLITE_PARTS[name]), args[0])
            return exp.Cast(this=text, to=exp.DataType.build("INTEGER"))
        if self.dialect == "mysql":
            return _fn(name, args[0])
        extract = exp.Extract(this=exp.Var(this=name), expression=args[0])
        return exp.Cast(this=extract, to=self.sql_type(DataType(TypeKind.INT)))

    def _quarter(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        if self.dialect == "mysql":
            return _fn("QUARTER", args[0])
        month = self._date_part(plan.Call("MONTH", call.args, call.type), args)
        shifted = exp.paren(exp.Add(this=month, expression=exp.Literal.number(2)))
        return exp.paren(exp.IntDiv(this=shifted, expression=exp.Literal.number(3)))

    def _day_of_week(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        if self.dialect == "mysql":
            return _fn("DAYOFWEEK", args[0])
        if self.dialect == "sqlite":
            sunday_zero: exp.Expr = exp.Cast(
                this=_fn("STRFTIME", exp.Literal.string("%w"), args[0]),
                to=exp.DataType.build("INTEGER"),
            )
        elif self.dialect == "postgres":
            sunday_zero = exp.Extract(this=exp.Var(this="DOW"), expression=args[0])
        elif self.dialect == "duckdb":
            sunday_zero = _fn("DAYOFWEEK", args[0])
        else:
            raise self._unsupported("DAYOFWEEK")
        one_based = exp.paren(exp.Add(this=sunday_zero, expression=exp.Literal.number(1)))
        return exp.Cast(this=one_based, to=self.sql_type(DataType(TypeKind.INT)))

    def _date_diff(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        later, earlier = args
        if self.dialect == "mysql":
            return _fn("DATEDIFF", later, earlier)
        if self.dialect == "sqlite":
            days = exp.Sub(this=_fn("JULIANDAY", later), expression=_fn("JULIANDAY", earlier))
            return exp.Cast(this=exp.paren(days), to=exp.DataType.build("INTEGER"))
        if self.dialect in ("postgres", "duckdb"):
            difference = exp.Sub(this=grouped(later), expression=grouped(earlier))
            return exp.Cast(this=exp.paren(difference), to=self.sql_type(DataType(TypeKind.INT)))
        raise self._unsupported("DATEDIFF")

    def _date_add(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        unit_arg = call.args[2] if len(call.args) > 2 else None
        unit = unit_arg.value if isinstance(unit_arg, plan.Const) else None
        if not isinstance(unit, str) or unit.upper() not in _UNITS:
            raise self._unsupported(f"DATE_ADD with unit {unit!r}")
        unit = unit.upper()
        value, amount = args[0], args[1]
        if self.dialect == "sqlite":
            # SQLite's '+1 month' overflows into the next month instead of clamping to its end.
            raise self._unsupported("DATE_ADD")
        if self.dialect == "mysql":
            interval = exp.Interval(this=amount, unit=exp.Var(this=unit))
            result: exp.Expr = _fn("DATE_ADD", value, interval)
        elif self.dialect in ("postgres", "duckdb"):
            one = exp.Interval(this=exp.Literal.string("1"), unit=exp.Var(this=unit))
            step = exp.Mul(this=grouped(amount), expression=one)
            result = exp.paren(exp.Add(this=grouped(value), expression=step))
        else:
            raise self._unsupported("DATE_ADD")
        return exp.Cast(this=result, to=self.sql_type(call.type))

    def _like(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        escape = args[2] if len(args) > 2 else None
        if (
            escape is None
            or isinstance(escape, exp.Null)
            or (isinstance(escape, exp.Cast) and isinstance(escape.this, exp.Null))
        ):
            escape = exp.Literal.string("\\")
        if self.dialect == "sqlite":
            # SQLite's LIKE ignores ASCII case; GLOB has other wildcards. Not the same meaning.
            raise self._unsupported("LIKE")
        like = exp.Like(this=grouped(args[0]), expression=args[1])
        return exp.Escape(this=like, expression=escape)

    def _case_map(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        if self.dialect == "sqlite":
            raise self._unsupported(f"{call.name.upper()} (SQLite maps ASCII letters only)")
        function = exp.Upper if call.name.upper() == "UPPER" else exp.Lower
        return function(this=args[0])

    def _byte_length(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        if self.dialect == "mysql":
            return _fn("LENGTH", args[0])
        if self.dialect == "postgres":
            return _fn("OCTET_LENGTH", args[0])
        if self.dialect == "duckdb":
            return _fn("STRLEN", args[0])
        if self.dialect == "sqlite":
            return _fn("LENGTH", exp.Cast(this=args[0], to=exp.DataType.build("BLOB")))
        raise self._unsupported("LENGTH in bytes")

    def _substring(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        # Engines disagree on a start below 1 and a negative length: only the common ground.
        start = call.args[1] if len(call.args) > 1 else None
        if not (
            isinstance(start, plan.Const) and isinstance(start.value, int) and start.value >= 1
        ):
            raise self._unsupported("SUBSTRING without a constant start of at least 1")
        if len(call.args) > 2:
            length = call.args[2]
            if not (
                isinstance(length, plan.Const)
                and isinstance(length.value, int)
                and length.value >= 0
            ):
                raise self._unsupported("SUBSTRING without a constant, non-negative length")
            return exp.Substring(this=args[0], start=args[1], length=args[2])
        return exp.Substring(this=args[0], start=args[1])

    # --- casts ---------------------------------------------------------------------------

    def _cast_call(self, call: plan.Call, args: list[exp.Expr]) -> exp.Expr:
        if len(args) != 1:
            raise UnsupportedSql("CAST takes one argument")
        source = call.args[0].type.kind
        target = call.type.kind
        if source is target and (
            target is not TypeKind.DECIMAL or call.args[0].type.scale == call.type.scale
        ):
            return args[0]
        if target is TypeKind.STRING:
            same_text = (TypeKind.INT, TypeKind.STRING, TypeKind.DATE, TypeKind.NULL)
            if source not in same_text and not (
                source is TypeKind.DECIMAL and self.dialect != "sqlite"
            ):
                raise self._unsupported(f"CAST of {source.value} to STRING (formats differ)")
        elif source is TypeKind.STRING:
            raise self._unsupported(f"CAST of STRING to {target.value} (engines parse differently)")
        if source is TypeKind.BOOL and target in _NUMERIC:
            as_int = (
                exp.Case()
                .when(args[0], exp.Literal.number(1))
                .when(exp.Not(this=grouped(args[0].copy())), exp.Literal.number(0))
            )
            return as_int if target is TypeKind.INT else self.cast(as_int, call.type)
        if target is TypeKind.INT and source is TypeKind.FLOAT:
            # Casts of floats round ties to even (PostgreSQL, MySQL, DuckDB) or truncate
            # (SQLite); the planner rounds half away from zero, as ROUND of an exact number does.
            if self.dialect == "postgres":
                decimal: exp.Expr = exp.Cast(this=args[0], to=exp.DataType.build("DECIMAL"))
            elif self.dialect == "mysql":
                decimal = exp.Cast(this=args[0], to=exp.DataType.build("DECIMAL(65, 30)"))
            else:
                decimal = args[0]  # DuckDB's and SQLite's ROUND of a float go half away
            return self.cast(exp.Round(this=decimal), call.type)
        if target is TypeKind.INT and source is TypeKind.DECIMAL and self.dialect == "sqlite":
            # SQLite's CAST truncates.
            return self.cast(exp.Round(this=args[0]), call.type)
        return self.cast(args[0], call.type)

    def cast(self, value: exp.Expr, type_: DataType) -> exp.Expr:
        kind = type_.kind
        if self.dialect == "sqlite" and kind is TypeKind.DATE:
            return _fn("DATE", value)
        if self.dialect == "sqlite" and kind is TypeKind.TIMESTAMP:
            return _fn("DATETIME", value)
        if kind is TypeKind.BOOL and self.dialect in ("mysql", "sqlite"):
            return exp.paren(exp.NEQ(this=grouped(value), expression=exp.Literal.number(0)))
        return exp.Cast(this=value, to=self.sql_type(type_))

    def sql_type(self, type_: DataType) -> exp.DataType:
        kind = type_.kind
        if kind is TypeKind.DECIMAL:
            if self.dialect == "sqlite":
                return exp.DataType.build("NUMERIC", dialect="sqlite")
            return exp.DataType.build(f"DECIMAL(38, {min(type_.scale, 30)})")
        if kind is TypeKind.TIMESTAMP and self.dialect == "mysql":
            return exp.DataType.build("DATETIME(6)", dialect="mysql")
        names = {
            TypeKind.INT: "BIGINT",
            TypeKind.FLOAT: "DOUBLE",
            TypeKind.STRING: "VARCHAR" if self.dialect == "duckdb" else "TEXT",
            TypeKind.DATE: "DATE",
            TypeKind.TIMESTAMP: "TIMESTAMP",
            TypeKind.BOOL: "BOOLEAN",
        }
        if kind not in names:
            raise UnsupportedSql(f"cannot push down a value of type {type_}")
        return exp.DataType.build(names[kind])

    # --- constants -----------------------------------------------------------------------

    def null(self, type_: DataType) -> exp.Expr:
        """A NULL of ``type_`` (typed, so that PostgreSQL can tell a UNION's column types)."""
        if type_.kind is TypeKind.NULL:
            return exp.Null()
        return exp.Cast(this=exp.Null(), to=self.sql_type(type_))

    def const(self, value: object, type_: DataType) -> exp.Expr:
        """A constant in the storage representation of ``type_`` (``shuyu.engine.data``)."""
        if value is None:
            return self.null(type_)
        kind = type_.kind
        if kind is TypeKind.BOOL or (kind is TypeKind.NULL and isinstance(value, bool)):
            return exp.true() if value else exp.false()
        if kind is TypeKind.STRING:
            return exp.Literal.string(str(value))
        if kind is TypeKind.DATE:
            text = exp.Literal.string(_as_date(value).isoformat())
            return (
                text if self.dialect == "sqlite" else exp.Cast(this=text, to=self.sql_type(type_))
            )
        if kind is TypeKind.TIMESTAMP:
            text = exp.Literal.string(_as_timestamp(value).isoformat(sep=" "))
            return (
                text if self.dialect == "sqlite" else exp.Cast(this=text, to=self.sql_type(type_))
            )
        if kind is TypeKind.DECIMAL:
            return exp.Cast(this=_number(_as_decimal(value, type_.scale)), to=self.sql_type(type_))
        if kind is TypeKind.FLOAT:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise UnsupportedSql(f"cannot push down the number {value!r}")
            return exp.Cast(this=_number(float(value)), to=self.sql_type(type_))
        if isinstance(value, int) and not isinstance(value, bool):
            return _number(value)
        if isinstance(value, str):
            return exp.Literal.string(value)
        raise UnsupportedSql(f"cannot push down the constant {value!r} of type {type_}")


def _number(value: int | float | Decimal) -> exp.Expr:
    """A numeric literal; negative numbers as ``(-n)`` so no dialect reads ``--`` as a comment."""
    if value < 0:
        return exp.paren(exp.Neg(this=exp.Literal.number(_number_text(-value))))
    return exp.Literal.number(_number_text(value))


def _number_text(value: int | float | Decimal) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return repr(value)


def _as_decimal(value: object, scale: int) -> Decimal:
    """A DECIMAL constant's value: an ``int`` is already scaled by ``10^scale`` (as in data)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int):
            return Decimal(value).scaleb(-scale)
        if isinstance(value, float | str | Decimal):
            return Decimal(str(value) if isinstance(value, float) else value)
    except (InvalidOperation, TypeError, ValueError):
        pass
    raise UnsupportedSql(f"cannot push down the decimal constant {value!r}")


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return _EPOCH + dt.timedelta(days=value)
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise UnsupportedSql(f"cannot push down the date constant {value!r}")


def _as_timestamp(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, int) and not isinstance(value, bool):
        return _EPOCH_TIME + dt.timedelta(microseconds=value)
    if isinstance(value, str):
        try:
            return _as_timestamp(dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise UnsupportedSql(f"cannot push down the timestamp constant {value!r}")
