"""Translate a single-party sub-plan into one SQL query that runs inside the party's own source.

:func:`local_sql` turns a plan of :mod:`shuyu.sql.plan` whose tables all live in one source
(``Scan``, ``Filter``, ``Project``, ``Aggregate``, ``Sort``, ``Limit``, ``Distinct``, ``Window``,
joins between tables of that source, ``UNION [ALL]``) into SQL of the source's dialect. The query
is built as a tree of sqlglot expressions and printed by sqlglot for that dialect: values become
sqlglot literals and names quoted identifiers, never pieces of concatenated text.

Shape. Each plan node becomes a derived table whose columns are named ``c0, c1, ...`` in the
order of the node's fields (short, plain names that no dialect truncates or folds); the outermost
``SELECT`` aliases them to the fields' names. Results are meant to be read by position.

Semantics kept identical across dialects (the reference executor's, which are MySQL's):

* Strings compare, group and sort by code point, case- and trailing-space-sensitive: string
  columns are read with a binary collation (``COLLATE "C"`` in PostgreSQL, a no-pad binary
  ``utf8mb4`` collation in MySQL/MariaDB, ``BINARY`` in SQLite; DuckDB's default already is).
* ``ORDER BY`` without ``NULLS FIRST/LAST`` puts NULLs first ascending and last descending, and
  the order survives to the outermost query (sort keys travel as hidden columns when needed).
* ``/`` and ``%`` by zero give NULL (PostgreSQL and DuckDB would raise); ``/`` is never integer
  division; ``DIV`` truncates toward zero.
* A ``FULL OUTER JOIN`` in MySQL/MariaDB (which lack it) becomes a left join plus the right rows
  without a match.
* Expressions and functions mean the same in every dialect, or are refused
  (:mod:`shuyu.engine.pushdown_expressions`).

Nothing here runs a query or reveals data: the output is SQL text for the owner's own source.

Example:
    >>> from shuyu.sql import plan
    >>> from shuyu.sql.catalog import INT
    >>> scan = plan.Scan("bank", "loans", "l", (plan.Field("l.amount", INT),))
    >>> print(local_sql(scan, "postgres", {("bank", "loans"): "public.loans"}))
    SELECT t."c0" AS "l.amount" FROM (SELECT t."amount" AS "c0" FROM "public"."loans" AS t) AS t
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp

from shuyu.engine.pushdown_expressions import ExpressionTranslator
from shuyu.errors import UnsupportedSql
from shuyu.sql import plan
from shuyu.sql.catalog import TypeKind

__all__ = ["binary_collation", "local_sql", "source_table"]

# LIMIT for "no limit" where a dialect needs one before OFFSET (MySQL, SQLite).
_NO_LIMIT = 9223372036854775807


def binary_collation(dialect: str, server_version: str = "") -> str | None:
    """The collation that makes strings compare by code point in ``dialect`` (None: default).

    ``server_version`` distinguishes MariaDB (``utf8mb4_nopad_bin``) from MySQL 8
    (``utf8mb4_0900_bin``); older MySQL servers only offer the pad-space ``utf8mb4_bin``.

    Example:
        >>> binary_collation("postgres"), binary_collation("mysql", "10.11.6-MariaDB")
        ('C', 'utf8mb4_nopad_bin')
    """
    if dialect == "postgres":
        return "C"
    if dialect == "sqlite":
        return "BINARY"
    if dialect == "mysql":
        version = server_version.lower()
        if "mariadb" in version:
            return "utf8mb4_nopad_bin"
        major = version.split(".", 1)[0]
        if major.isdigit() and int(major) >= 8:
            return "utf8mb4_0900_bin"
        return "utf8mb4_bin"
    return None


def source_table(name: str) -> exp.Table:
    """A source table name, dotted as ``[catalog.][schema.]table``, as a quoted sqlglot table.

    Example:
        >>> source_table("analytics.loans").sql("mysql")
        '`analytics`.`loans`'
    """
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise UnsupportedSql(
            f"cannot read source table name {name!r}",
            hint="Name a source table as table, schema.table or catalog.schema.table.",
        )
    identifiers = [exp.to_identifier(part, quoted=True) for part in parts]
    table = identifiers[-1]
    schema = identifiers[-2] if len(parts) > 1 else None
    catalog = identifiers[-3] if len(parts) > 2 else None
    return exp.Table(this=table, db=schema, catalog=catalog)


def local_sql(
    node: plan.Node,
    dialect: str,
    table_names: Mapping[tuple[str, str], str],
    *,
    column_names: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
    collation: str | None = None,
) -> str:
    """SQL of ``dialect`` that computes ``node`` inside one source.

    Args:
        node: a sub-plan whose scans all read tables of this source.
        dialect: a sqlglot dialect name (``duckdb``, ``sqlite``, ``postgres``, ``mysql``...).
        table_names: ``(party, table)`` of the catalogue → the table's name in the source
            (``schema.table`` allowed).
        column_names: ``(party, table)`` → {catalogue column → source column} where they differ
            (the catalogue lower-cases names); a missing entry means the same name.
        collation: the binary collation for string columns; by default
            :func:`binary_collation` of the dialect (``""``: the columns' own collations).

    Returns:
        One ``SELECT`` whose columns, in order, are ``node.fields`` (aliased to their names)
        and whose rows come in the plan's order where the plan sorts.

    Raises:
        UnsupportedSql: the plan uses a node, function or value this translation cannot express;
            the caller runs that part elsewhere.
    """
    translator = _Translator(
        dialect,
        table_names,
        column_names or {},
        collation if collation is not None else binary_collation(dialect),
    )
    return translator.translate_root(node).sql(dialect=dialect)


# --- relations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _OrderKey:
    column: str  # an output column of the relation (c<i> or a hidden s<j>)
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class _Relation:
    """A query whose outputs are ``c0..c<width-1>`` (the fields), then hidden sort columns."""

    query: exp.Query
    width: int
    hidden: tuple[str, ...] = ()
    order: tuple[_OrderKey, ...] = ()


def _column(name: str, table: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier(table))


def _alias(expression: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(expression, exp.to_identifier(name, quoted=True))


def _derived(relation: _Relation, alias: str) -> exp.Subquery:
    return exp.Subquery(this=relation.query, alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _field_names(node: plan.Node) -> list[str]:
    return [item.name for item in node.fields]


def _scope(node: plan.Node, table: str) -> dict[str, exp.Expr]:
    return {name: _column(f"c{i}", table) for i, name in enumerate(_field_names(node))}


class _Translator:
    def __init__(
        self,
        dialect: str,
        table_names: Mapping[tuple[str, str], str],
        column_names: Mapping[tuple[str, str], Mapping[str, str]],
        collation: str | None,
    ) -> None:
        self.dialect = dialect
        self.expressions = ExpressionTranslator(dialect)
        self.table_names = table_names
        self.column_names = column_names
        self.collation = collation

    # --- nodes ---------------------------------------------------------------------------

    def translate_root(self, node: plan.Node) -> exp.Select:
        relation = self.relation(node)
        select = exp.select(
            *[_alias(_column(f"c{i}", "t"), item.name) for i, item in enumerate(node.fields)]
            or [_alias(exp.Literal.number(1), "_")]
        ).from_(_derived(relation, "t"))
        return self._ordered(select, relation.order, "t")

    def relation(self, node: plan.Node) -> _Relation:
        if isinstance(node, plan.Scan):
            return self.scan(node)
        if isinstance(node, plan.Filter):
            return self.filter(node)
        if isinstance(node, plan.Project):
            return self.project(node)
        if isinstance(node, plan.Aggregate):
            return self.aggregate(node)
        if isinstance(node, plan.Sort):
            return self.sort(node)
        if isinstance(node, plan.Limit):
            return self.limit(node)
        if isinstance(node, plan.Distinct):
            return self.distinct(node)
        if isinstance(node, plan.Join):
            return self.join(node)
        if isinstance(node, plan.SetOperation):
            return self.union(node)
        return self.window(node)

    def scan(self, node: plan.Scan) -> _Relation:
        key = (node.party, node.table)
        if key not in self.table_names:
            raise UnsupportedSql(f"table {node.party}.{node.table} is not in this source")
        renames = self.column_names.get(key, {})
        outputs: list[exp.Expr] = []
        for i, item in enumerate(node.fields):
            column = _scan_column(node, item)
            value: exp.Expr = _column(renames.get(column, column), "t")
            if item.type.kind is TypeKind.STRING:
                value = self._binary_string(value)
            outputs.append(_alias(value, f"c{i}"))
        if not outputs:
            outputs.append(_alias(exp.Literal.number(1), "_"))
        table = source_table(self.table_names[key])
        table.set("alias", exp.TableAlias(this=exp.to_identifier("t")))
        return _Relation(exp.select(*outputs).from_(table), len(node.fields))

    def _binary_string(self, value: exp.Expr) -> exp.Expr:
        if not self.collation:
            return value
        if self.dialect == "mysql":
            # Any column charset -> utf8mb4 first, so that the binary collation applies.
            utf8mb4 = exp.DataType(
                this=exp.DataType.Type.CHARACTER_SET, kind=exp.Var(this="utf8mb4")
            )
            value = exp.Cast(this=value, to=utf8mb4)
            return exp.Collate(this=value, expression=exp.Var(this=self.collation))
        return exp.Collate(this=value, expression=exp.to_identifier(self.collation, quoted=True))

    def _wrap(
        self,
        relation: _Relation,
        outputs: Sequence[exp.Expr],
        *,
        keep_order: bool = True,
        alias: str = "t",
    ) -> tuple[exp.Select, tuple[str, ...], tuple[_OrderKey, ...]]:
        """``SELECT outputs AS c<i> [, hidden sort columns] FROM (relation) AS alias``."""
        columns = [_alias(value, f"c{i}") for i, value in enumerate(outputs)]
        hidden: tuple[str, ...] = ()
        order: tuple[_OrderKey, ...] = ()
        if keep_order and relation.order:
            # Sort keys that are not among the new outputs travel along as hidden columns.
            renamed: dict[str, str] = {}
            for key in relation.order:
                if key.column not in renamed:
                    renamed[key.column] = f"s{len(renamed)}"
            columns += [_alias(_column(old, alias), new) for old, new in renamed.items()]
            hidden = tuple(renamed.values())
            order = tuple(
                _OrderKey(renamed[key.column], key.descending, key.nulls_first)
                for key in relation.order
            )
        if not columns:
            columns.append(_alias(exp.Literal.number(1), "_"))
        select = exp.select(*columns).from_(_derived(relation, alias))
        return select, hidden, order

    def filter(self, node: plan.Filter) -> _Relation:
        relation = self.relation(node.input)
        scope = _scope(node.input, "t")
        outputs = [scope[name] for name in _field_names(node)]
        select, hidden, order = self._wrap(relation, outputs)
        select = select.where(self.expressions.expr(node.predicate, scope))
        return _Relation(select, len(outputs), hidden, order)

    def project(self, node: plan.Project) -> _Relation:
        relation = self.relation(node.input)
        scope = _scope(node.input, "t")
        outputs = [self.expressions.expr(expression, scope) for _, expression in node.items]
        select, hidden, order = self._wrap(relation, outputs)
        return _Relation(select, len(outputs), hidden, order)

    def aggregate(self, node: plan.Aggregate) -> _Relation:
        relation = self.relation(node.input)
        scope = _scope(node.input, "t")
        if not node.keys:
            aggregates = [self.expressions.aggregate(call, scope) for _, call in node.aggregates]
            select, _, _ = self._wrap(relation, aggregates, keep_order=False)
            return _Relation(select, len(aggregates))
        # Keys are computed one level down and grouped by as plain columns: a constant key
        # such as 1 would otherwise read as a column position in GROUP BY.
        keys = [self.expressions.expr(expression, scope) for _, expression in node.keys]
        inputs = list(scope.values())
        inner = exp.select(
            *[_alias(key, f"k{i}") for i, key in enumerate(keys)],
            *[_alias(value, f"c{i}") for i, value in enumerate(inputs)],
        ).from_(_derived(relation, "t"))
        group_scope: dict[str, exp.Expr] = {
            name: _column(f"c{i}", "g") for i, name in enumerate(_field_names(node.input))
        }
        key_columns = [_column(f"k{i}", "g") for i in range(len(keys))]
        aggregates = [self.expressions.aggregate(call, group_scope) for _, call in node.aggregates]
        outputs = [column.copy() for column in key_columns] + aggregates
        select = exp.select(*[_alias(value, f"c{i}") for i, value in enumerate(outputs)])
        select = select.from_(
            exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("g")))
        ).group_by(*key_columns)
        return _Relation(select, len(outputs))

    def sort(self, node: plan.Sort) -> _Relation:
        relation = self.relation(node.input)
        scope = _scope(node.input, "t")
        names = _field_names(node.input)
        outputs = [scope[name] for name in names]
        columns = [_alias(value, f"c{i}") for i, value in enumerate(outputs)]
        order: list[_OrderKey] = []
        hidden: list[str] = []
        for key in node.keys:
            nulls_first = not key.descending if key.nulls_first is None else key.nulls_first
            if isinstance(key.expr, plan.ColumnRef) and key.expr.name in names:
                column = f"c{names.index(key.expr.name)}"
            else:
                column = f"s{len(hidden)}"
                hidden.append(column)
                columns.append(_alias(self.expressions.expr(key.expr, scope), column))
            order.append(_OrderKey(column, key.descending, nulls_first))
        # A later sort is stable over an earlier one: the earlier keys break ties.
        for earlier in relation.order:
            column = f"s{len(hidden)}"
            hidden.append(column)
            columns.append(_alias(_column(earlier.column, "t"), column))
            order.append(_OrderKey(column, earlier.descending, earlier.nulls_first))
        if not columns:
            columns.append(_alias(exp.Literal.number(1), "_"))
        select = exp.select(*columns).from_(_derived(relation, "t"))
        return _Relation(select, len(outputs), tuple(hidden), tuple(order))

    def limit(self, node: plan.Limit) -> _Relation:
        relation = self.relation(node.input)
        scope = _scope(node.input, "t")
        outputs = [scope[name] for name in _field_names(node)]
        select, hidden, order = self._wrap(relation, outputs)
        select = self._ordered(select, order, None)
        if node.limit is not None or node.offset:
            select = select.limit(
                exp.Literal.number(node.limit if node.limit is not None else _NO_LIMIT)
            )
        if node.offset:
            select = select.offset(exp.Literal.number(node.offset))
        return _Relation(select, len(outputs), hidden, order)

    def distinct(self, node: plan.Distinct) -> _Relation:
        relation = self.relation(node.input)
        scope = _scope(node.input, "t")
        inputs = _field_names(node.input)
        names = _field_names(node)
        outputs = [scope[name] for name in names]
        select, _, _ = self._wrap(relation, outputs, keep_order=False)
        # Input column -> output column, for an order over the distinct columns themselves.
        position = {f"c{inputs.index(name)}": f"c{i}" for i, name in enumerate(names)}
        if all(key.column in position for key in relation.order):
            order = tuple(
                _OrderKey(position[key.column], key.descending, key.nulls_first)
                for key in relation.order
            )
            return _Relation(select.distinct(), len(outputs), (), order)
        # An order by other keys: each distinct row sorts by its first key value in that
        # order (MIN ascending, MAX descending).
        hidden: list[str] = []
        order_keys: list[_OrderKey] = []
        for key in relation.order:
            pick = exp.Max if key.descending else exp.Min
            column = f"s{len(hidden)}"
            hidden.append(column)
            select = select.select(_alias(pick(this=_column(key.column, "t")), column))
            order_keys.append(_OrderKey(column, key.descending, key.nulls_first))
        if outputs:
            select = select.group_by(*[value.copy() for value in outputs])
        return _Relation(select, len(outputs), tuple(hidden), tuple(order_keys))

    def join(self, node: plan.Join) -> _Relation:
        left, right = self.relation(node.left), self.relation(node.right)
        left_scope, right_scope = _scope(node.left, "l"), _scope(node.right, "r")
        both = {**left_scope, **right_scope}
        conditions: list[exp.Expr] = [
            exp.EQ(
                this=self.expressions.expr(a, left_scope),
                expression=self.expressions.expr(b, right_scope),
            )
            for a, b in zip(node.left_keys, node.right_keys, strict=True)
        ]
        if node.residual is not None:
            conditions.append(self.expressions.expr(node.residual, both))
        condition = exp.and_(*conditions) if conditions else None
        fields = _field_names(node)  # the left's fields, then the right's (none for semi/anti)
        if node.kind in ("semi", "anti"):
            inner = exp.select(exp.Literal.number(1)).from_(_derived(right, "r"))
            if condition is not None:
                inner = inner.where(condition)
            exists: exp.Expr = exp.Exists(this=inner)
            if node.kind == "anti":
                exists = exp.Not(this=exists)
            outputs = [left_scope[name] for name in fields]
            select = _select_outputs(outputs).from_(_derived(left, "l")).where(exists)
            return _Relation(select, len(outputs))
        if node.kind == "full" and self.dialect == "mysql":
            return self._emulated_full_join(left, right, node, condition)
        outputs = [both[name] for name in fields]
        select = _select_outputs(outputs).from_(_derived(left, "l"))
        kind = node.kind
        if kind == "inner" and condition is None:
            kind = "cross"
        if kind == "cross":
            select = select.join(_derived(right, "r"), join_type="CROSS")
            if condition is not None:
                select = select.where(condition)
        else:
            select = select.join(
                _derived(right, "r"),
                on=condition if condition is not None else exp.true(),
                join_type=kind.upper(),
            )
        return _Relation(select, len(outputs))

    def _emulated_full_join(
        self,
        left: _Relation,
        right: _Relation,
        node: plan.Join,
        condition: exp.Expr | None,
    ) -> _Relation:
        fields = _field_names(node)
        both = {**_scope(node.left, "l"), **_scope(node.right, "r")}
        outputs = [both[name] for name in fields]
        on = condition if condition is not None else exp.true()
        matched = _select_outputs(outputs).from_(_derived(left, "l"))
        matched = matched.join(_derived(right, "r"), on=on.copy(), join_type="LEFT")
        probe = exp.select(exp.Literal.number(1)).from_(_derived(left, "l")).where(on.copy())
        # The left's columns are bare NULLs: MySQL types them from the other branch of the UNION.
        alone: dict[str, exp.Expr] = {
            **{name: exp.Null() for name in _field_names(node.left)},
            **_scope(node.right, "r"),
        }
        unmatched = _select_outputs([alone[name] for name in fields]).from_(_derived(right, "r"))
        unmatched = unmatched.where(exp.Not(this=exp.Exists(this=probe)))
        return _Relation(exp.union(matched, unmatched, distinct=False), len(outputs))

    def union(self, node: plan.SetOperation) -> _Relation:
        width = len(node.fields)
        members: list[exp.Query] = []
        for child in node.inputs:
            relation = self.relation(child)
            scope = _scope(child, "t")
            select, _, _ = self._wrap(relation, list(scope.values())[:width], keep_order=False)
            members.append(select)
        query: exp.Query = members[0]
        for member in members[1:]:
            query = exp.union(query, member, distinct=not node.all)
        return _Relation(query, width)

    def window(self, node: plan.Window) -> _Relation:
        relation = self.relation(node.input)
        scope = _scope(node.input, "t")
        outputs = list(scope.values())
        for _, call in node.calls:
            function: exp.Expr
            if call.func == "ROW_NUMBER":
                function = exp.RowNumber()
            else:
                function = exp.Anonymous(this=call.func, expressions=[])
            order = [
                self.ordered(self.expressions.expr(key.expr, scope), key) for key in call.order_by
            ]
            outputs.append(
                exp.Window(
                    this=function,
                    partition_by=[self.expressions.expr(e, scope) for e in call.partition_by]
                    or None,
                    order=exp.Order(expressions=order) if order else None,
                )
            )
        select, hidden, order_keys = self._wrap(relation, outputs)
        return _Relation(select, len(outputs), hidden, order_keys)

    def _ordered(
        self, select: exp.Select, order: Sequence[_OrderKey], table: str | None
    ) -> exp.Select:
        if not order:
            return select
        terms = []
        for key in order:
            # Without a table: the select's own output columns (hidden keys are renamed).
            column = (
                _column(key.column, table)
                if table
                else exp.column(exp.to_identifier(key.column, quoted=True))
            )
            terms.append(exp.Ordered(this=column, desc=key.descending, nulls_first=key.nulls_first))
        return select.order_by(*terms)

    def ordered(self, value: exp.Expr, key: plan.SortKey) -> exp.Ordered:
        nulls_first = not key.descending if key.nulls_first is None else key.nulls_first
        return exp.Ordered(this=value, desc=key.descending, nulls_first=nulls_first)


def _select_outputs(outputs: Sequence[exp.Expr]) -> exp.Select:
    columns = [_alias(value.copy(), f"c{i}") for i, value in enumerate(outputs)]
    return exp.select(*(columns or [_alias(exp.Literal.number(1), "_")]))


def _scan_column(node: plan.Scan, item: plan.Field) -> str:
    """The catalogue column a scan field reads (fields are named ``alias.column``)."""
    prefix = node.alias + "."
    if item.name.startswith(prefix):
        return item.name[len(prefix) :]
    for origin in item.origins:
        if (origin.party, origin.table) == (node.party, node.table):
            return origin.column
    raise UnsupportedSql(f"cannot tell which column of {node.party}.{node.table} {item.name} reads")
