"""Bind one sqlglot expression to a typed plan expression over a scope's fields.

:class:`ExpressionBinder` resolves names (:mod:`shuyu.sql.scope`), checks and infers types
(:mod:`shuyu.sql.type_rules`), makes implicit conversions explicit, and rewrites sugar into the
plan's few expression forms: ``BETWEEN`` into two comparisons, ``IF``/``NULLIF``/simple ``CASE``
/``<=>`` into searched ``CASE``, ``IFNULL`` into ``COALESCE``, ``NOT IN`` lists into a negated
:class:`~shuyu.sql.plan.InList`. Functions are bound by :mod:`shuyu.sql.bind_functions`.

Aggregates, window functions and scalar subqueries are not expressions of the plan: a binder
made for a clause that allows them collects them into lists its owner turns into plan nodes
(``windows``, ``subqueries``), and returns a column reference to their output field;
:class:`~shuyu.sql.bind_aggregates.GroupedBinder` does the same for aggregates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from shuyu.errors import SqlError, SqlTypeError, UnsupportedSql
from shuyu.sql.bind_functions import bind_function, date_arithmetic
from shuyu.sql.catalog import DataType, TypeKind
from shuyu.sql.locate import located
from shuyu.sql.nodes import rename_outputs
from shuyu.sql.plan import (
    Binary,
    BinaryOperator,
    Case,
    ColumnRef,
    Const,
    Expr,
    Field,
    InList,
    Node,
    SortKey,
    Span,
    Unary,
    UnaryOperator,
    WindowCall,
    WindowFunction,
)
from shuyu.sql.scope import BindContext, Scope, column_parts, resolve, unknown_column
from shuyu.sql.type_rules import (
    BOOL,
    INT,
    NULL,
    TEMPORAL,
    arithmetic_type,
    coerce,
    common_type,
    literal,
    nullable,
)
from shuyu.sql.values import from_python, parse_timestamp

ARITHMETIC: dict[type[exp.Expr], BinaryOperator] = {
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.Mod: "%",
    exp.IntDiv: "DIV",
}
COMPARISON: dict[type[exp.Expr], BinaryOperator] = {
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.LT: "<",
    exp.LTE: "<=",
    exp.GT: ">",
    exp.GTE: ">=",
}
WINDOW_FUNCTIONS: dict[type[exp.Expr], WindowFunction] = {
    exp.RowNumber: "ROW_NUMBER",
    exp.Rank: "RANK",
    exp.DenseRank: "DENSE_RANK",
}


@dataclass
class PendingSubquery:
    """A scalar subquery's plan, to be cross-joined below the node that uses its one field."""

    node: Node
    span: Span | None


@dataclass
class ExpressionBinder:
    """Binds expressions of one clause over ``scope``.

    ``windows`` / ``subqueries``: where window calls and scalar subqueries of this clause are
    collected (``None``: not allowed here). ``aliases``: the SELECT list's aliases, which a name
    falls back to (HAVING). ``allow_outer``: names of enclosing queries may be used (the WHERE
    of a correlated subquery); otherwise using one is reported as unsupported correlation.
    """

    context: BindContext
    scope: Scope
    clause: str = "this clause"
    windows: list[tuple[Field, WindowCall]] | None = None
    subqueries: list[PendingSubquery] | None = None
    aliases: dict[str, exp.Expr] = field(default_factory=dict)
    allow_outer: bool = False
    _expanding: set[str] = field(default_factory=set)

    # --- entry points ----------------------------------------------------------------------

    def bind(self, node: exp.Expr) -> Expr:
        """``node`` as a plan expression (subclasses intercept aggregates and group keys here)."""
        return self.bind_node(node)

    def bind_condition(self, node: exp.Expr, what: str) -> Expr:
        """A condition: its type must be BOOL (or NULL)."""
        bound = self.bind(node)
        return self.boolean(bound, what)

    def bind_node(self, node: exp.Expr) -> Expr:
        for kind in type(node).__mro__:
            handler = HANDLERS.get(kind)
            if handler is not None:
                return handler(self, node)
        from_table = bind_function(self, node)
        if from_table is not None:
            return from_table
        raise self.unsupported(node)

    # --- helpers -----------------------------------------------------------------------------

    def span(self, node: exp.Expr) -> Span | None:
        return self.context.span(node)

    def error(
        self,
        cls: type[SqlError],
        message: str,
        node: exp.Expr | Expr | None,
        hint: str | None = None,
    ) -> SqlError:
        """An error of class ``cls`` located at ``node`` (a sqlglot node or a bound expression)."""
        if isinstance(node, exp.Expr):
            span = self.span(node)
        else:
            span = node.span if node is not None else None
        return cls(located(message, self.context.sql, span), hint=hint)

    def unsupported(self, node: exp.Expr, what: str | None = None) -> SqlError:
        name = what or construct_name(node)
        return self.error(UnsupportedSql, f"{name} is not supported", node)

    def boolean(self, expr: Expr, what: str) -> Expr:
        if expr.type.kind is TypeKind.NULL:
            return Const(None, BOOL, expr.span)
        if expr.type.kind is not TypeKind.BOOL:
            raise self.error(
                SqlTypeError,
                f"{what} needs a condition (BOOL), got {expr.type.kind.value}",
                expr,
                hint="Compare the value explicitly, e.g. x <> 0 or x IS NOT NULL.",
            )
        return expr

    def numeric(self, expr: Expr, what: str) -> Expr:
        if expr.type.kind not in (TypeKind.INT, TypeKind.DECIMAL, TypeKind.FLOAT, TypeKind.NULL):
            raise self.error(
                SqlTypeError,
                f"{what} needs a number, got {expr.type.kind.value}",
                expr,
                hint="Use a numeric column, or CAST(x AS DECIMAL(18, 2)) a string holding numbers.",
            )
        return expr

    def comparable(
        self, left: Expr, right: Expr, what: str, span: Span | None
    ) -> tuple[Expr, Expr]:
        """Both sides converted to their common type (a string literal read as a date)."""
        left, right = (
            self.temporal_literal(left, right.type),
            self.temporal_literal(right, left.type),
        )
        common = common_type([left.type, right.type])
        if common is None:
            raise SqlTypeError(
                located(
                    f"cannot compare {left.type.kind.value} with {right.type.kind.value} in {what}",
                    self.context.sql,
                    span,
                ),
            )
        return coerce(left, common), coerce(right, common)

    def temporal_literal(self, expr: Expr, other: DataType) -> Expr:
        """A string constant next to a DATE/TIMESTAMP, read as one (MySQL does so)."""
        if (
            isinstance(expr, Const)
            and expr.type.kind is TypeKind.STRING
            and other.kind in TEMPORAL
            and isinstance(expr.value, str)
        ):
            try:
                moment = parse_timestamp(expr.value)
            except ValueError:
                raise self.error(
                    SqlTypeError,
                    f"{expr.value!r} is not a {other.kind.value} (write 'YYYY-MM-DD')",
                    expr,
                ) from None
            kind = other.kind
            if kind is TypeKind.DATE and (moment.hour, moment.minute, moment.second) != (0, 0, 0):
                kind = TypeKind.TIMESTAMP
            target = DataType(kind, nullable=False)
            return Const(from_python(moment, target), target, expr.span)
        return expr

    # --- leaves ------------------------------------------------------------------------------

    def column(self, node: exp.Column) -> Expr:
        if isinstance(node.this, exp.Star):
            raise self.error(SqlError, "a * is allowed only in the SELECT list or COUNT(*)", node)
        found = resolve(self.scope, node, self.context)
        if found is not None:
            return found
        _, table, name = column_parts(node)
        if table is None and name in self.aliases and name not in self._expanding:
            self._expanding.add(name)
            try:
                return self.bind(self.aliases[name])
            finally:
                self._expanding.discard(name)
        outer = self.scope.outer
        while outer is not None:
            found = resolve(outer, node, self.context)
            if found is not None:
                if not self.allow_outer:
                    raise self.error(
                        UnsupportedSql,
                        f"correlated reference to {node.sql()} in {self.clause} is not supported",
                        node,
                        hint="Correlate subqueries only through their WHERE clause, "
                        "or rewrite the subquery as a join.",
                    )
                return found
            outer = outer.outer
        raise unknown_column(node, self.scope, self.context, extra=self.aliases)

    def literal(self, node: exp.Literal) -> Expr:
        const = literal(str(node.this), bool(node.is_string))
        if const is None:
            raise self.error(SqlTypeError, f"number {node.this} does not fit 64 bits", node)
        return Const(const.value, const.type, self.span(node))

    # --- operators ---------------------------------------------------------------------------

    def arithmetic(self, node: exp.Binary) -> Expr:
        op = ARITHMETIC[type(node)]
        if op in ("+", "-") and (
            isinstance(node.expression, exp.Interval)
            or (op == "+" and isinstance(node.this, exp.Interval))
        ):
            return date_arithmetic(self, node, op)
        left, right = self.bind(node.this), self.bind(node.expression)
        span = self.span(node)
        result = arithmetic_type(op, left.type, right.type)
        if result is None:
            hint = None
            if left.type.kind in TEMPORAL or right.type.kind in TEMPORAL:
                hint = "Use DATE_ADD(d, INTERVAL n DAY) or DATEDIFF(a, b) for dates."
            elif op == "DIV":
                hint = "DIV takes integers; use FLOOR(a / b) for other numbers."
            raise self.error(
                SqlTypeError,
                f"cannot apply {op} to {left.type.kind.value} and {right.type.kind.value}",
                node,
                hint=hint,
            )
        if op in ("+", "-", "%") or (result.kind is TypeKind.FLOAT and op != "/"):
            left, right = coerce(left, result), coerce(right, result)
        return Binary(op, left, right, result, span)

    def comparison(self, node: exp.Binary) -> Expr:
        op = COMPARISON[type(node)]
        left, right = self.bind(node.this), self.bind(node.expression)
        span = self.span(node)
        left, right = self.comparable(left, right, f"'{op}'", span)
        return Binary(
            op, left, right, nullable(BOOL, left.type.nullable or right.type.nullable), span
        )

    def logical(self, node: exp.Binary) -> Expr:
        op: BinaryOperator = "AND" if isinstance(node, exp.And) else "OR"
        left = self.bind_condition(node.this, op)
        right = self.bind_condition(node.expression, op)
        data_type = nullable(BOOL, left.type.nullable or right.type.nullable)
        return Binary(op, left, right, data_type, self.span(node))

    def negation(self, node: exp.Not) -> Expr:
        inner = node.this
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.Is):
            operand = self.is_null_operand(inner)
            return Unary("IS NOT NULL", operand, nullable(BOOL, False), self.span(node))
        operand = self.bind_condition(node.this, "NOT")
        return Unary("NOT", operand, operand.type, self.span(node))

    def minus(self, node: exp.Neg) -> Expr:
        operand = self.numeric(self.bind(node.this), "unary minus")
        span = self.span(node)
        if isinstance(operand, Const) and isinstance(operand.value, int | float):
            return Const(-operand.value, operand.type, span)
        return Unary("NEG", operand, operand.type, span)

    def is_null_operand(self, node: exp.Is) -> Expr:
        if not isinstance(node.expression, exp.Null):
            raise self.unsupported(node, f"IS {node.expression.sql()}")
        return self.bind(node.this)

    def is_null(self, node: exp.Is) -> Expr:
        operand = self.is_null_operand(node)
        op: UnaryOperator = "IS NOT NULL" if node.args.get("negate") else "IS NULL"
        return Unary(op, operand, nullable(BOOL, False), self.span(node))

    def between(self, node: exp.Between) -> Expr:
        if node.args.get("symmetric"):
            raise self.unsupported(node, "BETWEEN SYMMETRIC")
        operand = self.bind(node.this)
        low, high = self.bind(node.args["low"]), self.bind(node.args["high"])
        span = self.span(node)
        lower_left, lower_right = self.comparable(operand, low, "BETWEEN", span)
        upper_left, upper_right = self.comparable(operand, high, "BETWEEN", span)
        lower = Binary(">=", lower_left, lower_right, self._bool_of(lower_left, lower_right), span)
        upper = Binary("<=", upper_left, upper_right, self._bool_of(upper_left, upper_right), span)
        return Binary(
            "AND", lower, upper, nullable(BOOL, lower.type.nullable or upper.type.nullable), span
        )

    @staticmethod
    def _bool_of(*operands: Expr) -> DataType:
        return nullable(BOOL, any(o.type.nullable for o in operands))

    def in_list(self, node: exp.In) -> Expr:
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            raise self.error(
                UnsupportedSql,
                f"IN (subquery) in {self.clause} is not supported",
                node,
                hint="Use IN / NOT IN (subquery) as a condition of WHERE or HAVING, joined to "
                "the others by AND.",
            )
        operand = self.bind(node.this)
        items = [self.bind(item) for item in node.expressions]
        if not items:
            raise self.error(SqlError, "IN () needs at least one value", node)
        items = [self.temporal_literal(item, operand.type) for item in items]
        common = common_type([operand.type] + [item.type for item in items])
        if common is None:
            kinds = sorted({item.type.kind.value for item in items} - {operand.type.kind.value})
            raise self.error(
                SqlTypeError,
                f"IN compares {operand.type.kind.value} with {', '.join(kinds)}",
                node,
            )
        operand = coerce(operand, common)
        coerced = tuple(coerce(item, common) for item in items)
        data_type = nullable(BOOL, common.nullable)
        return InList(operand, coerced, False, data_type, self.span(node))

    def case(self, node: exp.Case) -> Expr:
        span = self.span(node)
        subject = self.bind(node.this) if node.this is not None else None
        whens: list[tuple[Expr, Expr]] = []
        for branch in node.args.get("ifs") or []:
            if subject is None:
                condition = self.bind_condition(branch.this, "WHEN")
            else:
                value = self.bind(branch.this)
                left, right = self.comparable(subject, value, "CASE", span)
                condition = Binary("=", left, right, self._bool_of(left, right), self.span(branch))
            whens.append((condition, self.bind(branch.args["true"])))
        default = node.args.get("default")
        return self.make_case(whens, self.bind(default) if default is not None else None, span)

    def make_case(
        self, whens: list[tuple[Expr, Expr]], default: Expr | None, span: Span | None
    ) -> Case:
        values = [value for _, value in whens] + ([default] if default is not None else [])
        common = common_type(value.type for value in values)
        if common is None:
            kinds = sorted({value.type.kind.value for value in values})
            raise SqlTypeError(
                located(f"CASE branches mix {' and '.join(kinds)}", self.context.sql, span),
                hint="Make every branch the same type (CAST one of them).",
            )
        data_type = nullable(common, common.nullable or default is None)
        return Case(
            tuple((condition, coerce(value, common)) for condition, value in whens),
            coerce(default, common) if default is not None else None,
            data_type,
            span,
        )

    def if_function(self, node: exp.If) -> Expr:
        condition = self.bind_condition(node.this, "IF")
        false = node.args.get("false")
        return self.make_case(
            [(condition, self.bind(node.args["true"]))],
            self.bind(false) if false is not None else Const(None, NULL),
            self.span(node),
        )

    def nullif(self, node: exp.Nullif) -> Expr:
        value, other = self.bind(node.this), self.bind(node.expression)
        span = self.span(node)
        left, right = self.comparable(value, other, "NULLIF", span)
        equal = Binary("=", left, right, self._bool_of(left, right), span)
        return self.make_case([(equal, Const(None, NULL))], value, span)

    def null_safe_equal(self, node: exp.NullSafeEQ) -> Expr:
        left, right = self.bind(node.this), self.bind(node.expression)
        span = self.span(node)
        left, right = self.comparable(left, right, "<=>", span)
        not_null = nullable(BOOL, False)
        left_null = Unary("IS NULL", left, not_null, span)
        right_null = Unary("IS NULL", right, not_null, span)
        both = Binary("AND", left_null, right_null, not_null, span)
        either = Binary("OR", left_null, right_null, not_null, span)
        equal = Binary("=", left, right, self._bool_of(left, right), span)
        return Case(
            ((both, Const(True, not_null)), (either, Const(False, not_null))),
            equal,
            nullable(BOOL, False),
            span,
        )

    # --- windows and subqueries --------------------------------------------------------------

    def window(self, node: exp.Window) -> Expr:
        if self.windows is None:
            raise self.error(
                SqlError,
                f"window functions are not allowed in {self.clause}",
                node,
                hint="Use window functions in the SELECT list or ORDER BY only.",
            )
        func = WINDOW_FUNCTIONS.get(type(node.this))
        if func is None:
            raise self.unsupported(node, f"window function {construct_name(node.this)} OVER")
        if node.args.get("spec") is not None:
            raise self.unsupported(node, "window frame clauses (ROWS/RANGE BETWEEN)")
        if node.args.get("alias") is not None:
            raise self.unsupported(node, "named windows (OVER w)")
        partition = tuple(self.bind(item) for item in node.args.get("partition_by") or [])
        order = tuple(
            self.sort_key(item) for item in (node.args.get("order") or exp.Order()).expressions
        )
        span = self.span(node)
        data_type = nullable(INT, False)
        call = WindowCall(func, partition, order, data_type, span)
        for existing_field, existing in self.windows:
            if existing == call:
                return ColumnRef(existing_field.name, data_type, span)
        name = self.context.fresh(func.lower())
        # origins are filled in when the Window node is built (this binder may sit above an
        # Aggregate whose fields the scope does not know)
        self.windows.append((Field(name, data_type), call))
        return ColumnRef(name, data_type, span)

    def sort_key(self, node: exp.Expr) -> SortKey:
        if not isinstance(node, exp.Ordered):
            return SortKey(self.bind(node), False, True)
        descending = bool(node.args.get("desc"))
        nulls_first = node.args.get("nulls_first")
        return SortKey(
            self.bind(node.this),
            descending,
            bool(nulls_first) if nulls_first is not None else not descending,
        )

    def scalar_subquery(self, node: exp.Subquery) -> Expr:
        if self.subqueries is None:
            raise self.unsupported(node, f"a scalar subquery in {self.clause}")
        query = node.this
        if not (
            isinstance(query, exp.Select)
            and query.args.get("group") is None
            and query.args.get("having") is None
            and query.args.get("limit") is None
            and query.args.get("offset") is None
            and len(query.expressions) == 1
            and query.expressions[0].find(exp.AggFunc) is not None
        ):
            raise self.unsupported(
                node,
                "a scalar subquery other than one aggregate without GROUP BY "
                "(SELECT MAX(x) FROM ...)",
            )
        sub, _ = self.context.bind_query(self.context, query, self.scope)
        (only,) = sub.fields
        name = self.context.fresh("scalar")
        renamed = rename_outputs(sub, [name])
        self.subqueries.append(PendingSubquery(renamed, self.span(node)))
        return ColumnRef(name, only.type, self.span(node))


def _bind_bool_literal(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    return Const(bool(node.this), nullable(BOOL, False), binder.span(node))


def _bind_null(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    return Const(None, NULL, binder.span(node))


def _bind_paren(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    return binder.bind(node.this)


def _bind_aggregate(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    raise binder.error(
        SqlError,
        f"aggregate function {construct_name(node)} is not allowed in {binder.clause}",
        node,
        hint="Aggregates belong in the SELECT list, HAVING or ORDER BY of a query.",
    )


def _bind_subquery_predicate(binder: ExpressionBinder, node: exp.Expr) -> Expr:
    raise binder.error(
        UnsupportedSql,
        f"{construct_name(node)} (subquery) in {binder.clause} is not supported",
        node,
        hint="Use EXISTS / IN (subquery) as a condition of WHERE or HAVING, joined to the "
        "others by AND.",
    )


def construct_name(node: exp.Expr) -> str:
    """A readable name of a sqlglot node for messages (``LATERAL``, ``GROUP_CONCAT``)."""
    if isinstance(node, exp.Anonymous):
        return str(node.this).upper()
    if isinstance(node, exp.Func):
        return node.sql_name()
    return node.key.upper()


def conjuncts(node: exp.Expr) -> list[exp.Expr]:
    """``a AND (b AND c)`` → ``[a, b, c]`` (parentheses looked through)."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return conjuncts(node.this) + conjuncts(node.expression)
    return [node]


def strip_not(node: exp.Expr) -> tuple[exp.Expr, bool]:
    negated = False
    while True:
        if isinstance(node, exp.Paren):
            node = node.this
        elif isinstance(node, exp.Not):
            negated = not negated
            node = node.this
        else:
            return node, negated


def is_subquery_predicate(node: exp.Expr) -> bool:
    core, _ = strip_not(node)
    return isinstance(core, exp.Exists) or (
        isinstance(core, exp.In) and core.args.get("query") is not None
    )


HANDLERS: dict[type[exp.Expr], Callable[[ExpressionBinder, exp.Expr], Expr]] = {
    exp.Column: lambda b, n: b.column(n),  # type: ignore[arg-type]
    exp.Literal: lambda b, n: b.literal(n),  # type: ignore[arg-type]
    exp.Boolean: _bind_bool_literal,
    exp.Null: _bind_null,
    exp.Paren: _bind_paren,
    exp.Alias: _bind_paren,
    **{cls: lambda b, n: b.arithmetic(n) for cls in ARITHMETIC},  # type: ignore[arg-type]
    **{cls: lambda b, n: b.comparison(n) for cls in COMPARISON},  # type: ignore[arg-type]
    exp.And: lambda b, n: b.logical(n),  # type: ignore[arg-type]
    exp.Or: lambda b, n: b.logical(n),  # type: ignore[arg-type]
    exp.Not: lambda b, n: b.negation(n),  # type: ignore[arg-type]
    exp.Neg: lambda b, n: b.minus(n),  # type: ignore[arg-type]
    exp.Is: lambda b, n: b.is_null(n),  # type: ignore[arg-type]
    exp.Between: lambda b, n: b.between(n),  # type: ignore[arg-type]
    exp.In: lambda b, n: b.in_list(n),  # type: ignore[arg-type]
    exp.Case: lambda b, n: b.case(n),  # type: ignore[arg-type]
    exp.If: lambda b, n: b.if_function(n),  # type: ignore[arg-type]
    exp.Nullif: lambda b, n: b.nullif(n),  # type: ignore[arg-type]
    exp.NullSafeEQ: lambda b, n: b.null_safe_equal(n),  # type: ignore[arg-type]
    exp.Window: lambda b, n: b.window(n),  # type: ignore[arg-type]
    exp.Subquery: lambda b, n: b.scalar_subquery(n),  # type: ignore[arg-type]
    exp.AggFunc: _bind_aggregate,
    exp.Exists: _bind_subquery_predicate,
}
