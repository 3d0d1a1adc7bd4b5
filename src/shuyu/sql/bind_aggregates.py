"""Bind the clauses of a grouped query (SELECT, HAVING, ORDER BY above ``GROUP BY``).

Above an :class:`~shuyu.sql.plan.Aggregate` only two things exist: the grouping keys and the
aggregates. :class:`GroupedBinder` binds an expression by first trying it, whole, in the scope
below the aggregate: if it equals a grouping key (``YEAR(d)`` grouped by ``YEAR(d)``) it becomes
a reference to that key's field; an aggregate call becomes a reference to a new aggregate field;
anything else is taken apart and its pieces bound the same way, so ``SUM(x) / COUNT(*)`` and
``CASE WHEN city = '北京' ...`` over a grouped ``city`` work, and a bare column that is neither
grouped nor aggregated is an error, as in MySQL with ``ONLY_FULL_GROUP_BY`` and in DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from shuyu.errors import SqlError, SqlTypeError
from shuyu.sql.bind_expression import ExpressionBinder, construct_name
from shuyu.sql.catalog import DataType, TypeKind
from shuyu.sql.plan import (
    AggCall,
    AggregateFunction,
    ColumnRef,
    Const,
    Expr,
    Field,
    sub_expressions,
)
from shuyu.sql.scope import column_parts, unknown_column
from shuyu.sql.type_rules import FLOAT, INT, coerce, nullable

AGGREGATES: dict[type[exp.Expr], AggregateFunction] = {
    exp.Count: "COUNT",
    exp.Sum: "SUM",
    exp.Avg: "AVG",
    exp.Min: "MIN",
    exp.Max: "MAX",
}
NOT_KEYS = (exp.AggFunc, exp.Window, exp.Subquery, exp.Exists, exp.Star)


@dataclass
class GroupedBinder(ExpressionBinder):
    """Binds over the output of ``Aggregate(keys, aggregates)``, collecting the aggregates.

    ``inner`` binds in the scope below the aggregate (keys and aggregate arguments).
    """

    inner: ExpressionBinder | None = None
    keys: list[tuple[Field, Expr]] = field(default_factory=list)
    aggregates: list[tuple[Field, AggCall]] = field(default_factory=list)

    @property
    def below(self) -> ExpressionBinder:
        if self.inner is None:
            raise ValueError("a GroupedBinder needs the binder of the scope below it")
        return self.inner

    def add_key(self, expr: Expr) -> None:
        """Group by ``expr`` (bound below the aggregate); duplicates are grouped once."""
        if any(existing == expr for _, existing in self.keys):
            return
        name = expr.name if isinstance(expr, ColumnRef) else self.context.fresh("key")
        self.keys.append((Field(name, expr.type, self.scope.origins(expr)), expr))

    def lift(self, expr: Expr) -> Expr:
        """An expression bound below the aggregate, as seen above it (``SELECT *`` items)."""
        for key_field, key in self.keys:
            if key == expr:
                return ColumnRef(key_field.name, key_field.type, expr.span)
        if not any(isinstance(e, ColumnRef) for e in sub_expressions(expr)):
            return expr
        raise self.not_grouped(expr, _name_of(expr))

    def bind(self, node: exp.Expr) -> Expr:
        if isinstance(node, exp.AggFunc):
            return self.aggregate(node)
        if not isinstance(node, NOT_KEYS) and node.find(*NOT_KEYS) is None:
            try:
                below = self.below.bind(node)
            except SqlError:
                below = None  # e.g. a SELECT alias used in HAVING: bound piecewise below
            if below is not None:
                for key_field, key in self.keys:
                    if key == below:
                        return ColumnRef(key_field.name, key_field.type, below.span)
                if not any(isinstance(e, ColumnRef) for e in sub_expressions(below)):
                    return below
        return self.bind_node(node)

    def column(self, node: exp.Column) -> Expr:
        _, table, name = column_parts(node)
        if table is None and name in self.aliases and name not in self._expanding:
            self._expanding.add(name)
            try:
                return self.bind(self.aliases[name])
            finally:
                self._expanding.discard(name)
        try:
            self.below.bind(node)
        except SqlError:
            raise unknown_column(node, self.scope, self.context, extra=self.aliases) from None
        raise self.not_grouped(node, node.sql())

    def not_grouped(self, where: exp.Expr | Expr, name: str) -> SqlError:
        return self.error(
            SqlError,
            f"{name} must appear in GROUP BY or be used in an aggregate function",
            where,
            hint=f"Add {name} to GROUP BY, or aggregate it (MIN({name}), COUNT(...)).",
        )

    def aggregate(self, node: exp.AggFunc) -> Expr:
        func = AGGREGATES.get(type(node))
        if func is None:
            raise self.unsupported(node, f"aggregate function {construct_name(node)}")
        span = self.span(node)
        argument = node.this
        distinct = isinstance(argument, exp.Distinct)
        if distinct:
            if len(argument.expressions) != 1:
                raise self.unsupported(node, f"{func}(DISTINCT) over several columns")
            argument = argument.expressions[0]
        arg: Expr | None
        if isinstance(argument, exp.Star) or argument is None:
            if func != "COUNT":
                raise self.error(SqlError, f"{func}(*) is not valid SQL", node)
            arg = None
        else:
            arg = self.below.bind(argument)
            if (
                func == "COUNT"
                and isinstance(arg, Const)
                and arg.value is not None
                and not distinct
            ):
                arg = None  # COUNT(1) counts rows
            elif func in ("SUM", "AVG") and arg.type.kind is TypeKind.BOOL:
                arg = coerce(arg, INT)  # SUM(vip) counts the TRUEs, as in MySQL
        data_type = self.result_type(func, arg, node)
        call = AggCall(func, arg, distinct, data_type, span)
        for existing_field, existing in self.aggregates:
            if existing == call:
                return ColumnRef(existing_field.name, existing_field.type, span)
        name = self.context.fresh(func.lower())
        origins = self.scope.origins(arg) if arg is not None else frozenset()
        self.aggregates.append((Field(name, data_type, origins), call))
        return ColumnRef(name, data_type, span)

    def result_type(self, func: AggregateFunction, arg: Expr | None, node: exp.Expr) -> DataType:
        if func == "COUNT":
            return nullable(INT, False)
        if arg is None:
            raise self.error(SqlError, f"{func} needs an argument", node)
        kind = arg.type.kind
        if func in ("SUM", "AVG"):
            if kind not in (TypeKind.INT, TypeKind.DECIMAL, TypeKind.FLOAT, TypeKind.NULL):
                raise self.error(
                    SqlTypeError,
                    f"{func} needs a number, got {kind.value}",
                    node,
                    hint="Only COUNT, MIN and MAX take strings and dates.",
                )
            if func == "AVG":
                return FLOAT
            return nullable(INT if kind is TypeKind.NULL else arg.type)
        if kind is TypeKind.NULL:
            return nullable(INT)
        return nullable(arg.type)


def _name_of(expr: Expr) -> str:
    if isinstance(expr, ColumnRef):
        return expr.name
    return "the expression"
