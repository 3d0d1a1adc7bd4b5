"""Name resolution: which plan field a SQL column name means.

A :class:`Scope` is what a ``FROM`` clause makes visible: its relations (tables, derived tables,
by alias) and, in ``SELECT *`` order, the columns an unqualified name may mean. A column that
``USING`` merged appears once, as an expression over both sides. :class:`BindContext` is the
state one query's binding shares: the SQL text (for error positions), the catalogue, ``WITH``
definitions, and the counter that makes every generated name unique in the whole plan.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from sqlglot import exp

from shuyu.errors import AmbiguousColumn, UnknownColumn
from shuyu.sql.catalog import Catalog
from shuyu.sql.locate import located
from shuyu.sql.plan import BaseColumn, Call, ColumnRef, Expr, Field, Node, Span, sub_expressions


@dataclass
class BindContext:
    """State shared by the binding of one query (and its subqueries)."""

    sql: str
    catalog: Catalog
    bind_query: Callable[[BindContext, exp.Expr, Scope | None], tuple[Node, list[str]]]
    ctes: dict[str, exp.Expr] = field(default_factory=dict)
    used_names: set[str] = field(default_factory=set)
    counter: int = 0

    def fresh(self, stem: str) -> str:
        """A name not used anywhere in the plan yet: ``stem_1``, ``stem_2``..."""
        while True:
            self.counter += 1
            name = f"{stem}_{self.counter}"
            if name not in self.used_names:
                self.used_names.add(name)
                return name

    def plan_alias(self, alias: str) -> str:
        """``alias`` itself the first time, then a numbered variant (plan aliases are unique)."""
        if alias not in self.used_names:
            self.used_names.add(alias)
            return alias
        return self.fresh(alias)

    def span(self, node: exp.Expr) -> Span | None:
        return node_span(node, self.sql)


@dataclass(frozen=True)
class ScopeColumn:
    """A column a name can mean: usually a field, or an expression for a merged USING column."""

    name: str
    expr: Expr


@dataclass
class Relation:
    """A table or derived table in ``FROM``, named ``alias`` in the SQL."""

    alias: str
    columns: list[ScopeColumn]
    party: str | None = None
    table: str | None = None
    implicit: bool = False  # named by its table, without an alias


@dataclass
class Scope:
    """What a ``FROM`` clause makes visible, over the fields of the plan node it produced."""

    relations: list[Relation]
    visible: list[ScopeColumn]
    fields: dict[str, Field]
    outer: Scope | None = None

    def retyped(self, fields: Iterable[Field]) -> Scope:
        """This scope over a node with ``fields`` (same names; types may have become nullable)."""
        by_name = {f.name: f for f in fields}

        def fix(columns: list[ScopeColumn]) -> list[ScopeColumn]:
            return [ScopeColumn(c.name, retype(c.expr, by_name)) for c in columns]

        relations = [replace(r, columns=fix(r.columns)) for r in self.relations]
        return Scope(relations, fix(self.visible), by_name, self.outer)

    def origins(self, expr: Expr) -> frozenset[BaseColumn]:
        """The base columns ``expr`` reads, through the fields of this scope."""
        return origins(expr, self.fields)


def origins(expr: object, fields: dict[str, Field]) -> frozenset[BaseColumn]:
    found: set[BaseColumn] = set()
    for item in sub_expressions(expr):
        if isinstance(item, ColumnRef) and item.name in fields:
            found |= fields[item.name].origins
    return frozenset(found)


def retype(expr: Expr, fields: dict[str, Field]) -> Expr:
    """``expr`` with its column references' types taken from ``fields`` (nullability)."""
    if isinstance(expr, ColumnRef):
        current = fields.get(expr.name)
        return expr if current is None else ColumnRef(expr.name, current.type, expr.span)
    if isinstance(expr, Call) and expr.name == "COALESCE":
        args = tuple(retype(arg, fields) for arg in expr.args)
        data_type = replace(expr.type, nullable=all(a.type.nullable for a in args))
        return Call(expr.name, args, data_type, expr.span)
    return expr


def column_parts(node: exp.Column) -> tuple[str | None, str | None, str]:
    """``party.table.column``, ``alias.column`` or ``column`` as (party, table, column)."""
    party = node.args.get("db")
    table = node.args.get("table")
    return (
        party.name.lower() if party is not None else None,
        table.name.lower() if table is not None else None,
        node.name.lower(),
    )


def resolve(scope: Scope, node: exp.Column, context: BindContext) -> Expr | None:
    """The expression a column name means in ``scope`` (not its outer scopes), or ``None``.

    Raises :class:`AmbiguousColumn` when the name fits more than one column.
    """
    party, table, name = column_parts(node)
    span = context.span(node)
    if table is None:
        found = [c for c in scope.visible if c.name == name]
        if len(found) > 1:
            raise AmbiguousColumn(
                located(f"column {name!r} is ambiguous", context.sql, span),
                hint=f"Qualify it: {' or '.join(_qualified(scope, name))}.",
            )
        return _at(found[0].expr, span) if found else None
    relations = [
        r
        for r in scope.relations
        if (party is None and r.alias == table)
        or (r.party is not None and (r.party, r.table) == (party, table))
    ]
    if len(relations) > 1 and party is None:
        raise AmbiguousColumn(
            located(f"table name {table!r} is ambiguous", context.sql, span),
            hint="Give the tables different aliases (FROM bank.t AS a, shop.t AS b).",
        )
    for relation in relations[:1]:
        for column in relation.columns:
            if column.name == name:
                return _at(column.expr, span)
    return None


def _at(expr: Expr, span: Span | None) -> Expr:
    if isinstance(expr, ColumnRef):
        return ColumnRef(expr.name, expr.type, span)
    return replace(expr, span=span)


def _qualified(scope: Scope, name: str) -> list[str]:
    return [f"{r.alias}.{name}" for r in scope.relations if any(c.name == name for c in r.columns)]


def unknown_column(
    node: exp.Column, scope: Scope, context: BindContext, extra: Iterable[str] = ()
) -> UnknownColumn:
    """The error for a name no scope resolves, with the closest names as suggestions."""
    party, table, name = column_parts(node)
    written = ".".join(part for part in (party, table, name) if part)
    candidates: set[str] = set(extra)
    walk: Scope | None = scope
    while walk is not None:
        for relation in walk.relations:
            if table is None or table in (relation.alias, relation.table):
                candidates |= {c.name for c in relation.columns}
            candidates |= {f"{relation.alias}.{c.name}" for c in relation.columns}
        walk = walk.outer
    aliases = sorted({r.alias for r in scope.relations})
    target = name if table is None else f"{table}.{name}"
    close = difflib.get_close_matches(target, sorted(candidates), n=3, cutoff=0.7)
    if table is not None and not close:
        close = difflib.get_close_matches(name, sorted(candidates), n=3, cutoff=0.7)
    message = f"unknown column {written!r}"
    if close:
        message += " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
    if (
        table is not None
        and table not in aliases
        and not any(r.table == table for r in scope.relations)
    ):
        known = ", ".join(aliases) or "none"
        message += f"; no table or alias {table!r} in FROM (there is {known})"
    return UnknownColumn(located(message, context.sql, context.span(node)))


def node_span(node: exp.Expr, sql: str) -> Span | None:
    """The characters of ``sql`` a sqlglot node came from (from its tokens' offsets).

    sqlglot records offsets on identifiers, literals and ``*``; a function call is widened to
    its name and parentheses, and ``CASE`` to its keywords, which sqlglot does not record.
    """
    starts: list[int] = []
    ends: list[int] = []
    for item in node.walk():
        meta = item.meta if isinstance(item, exp.Expr) else {}
        if "start" in meta:
            starts.append(meta["start"])
            ends.append(meta["end"] + 1)
    if not starts:
        return None
    start, end = min(starts), max(ends)
    if isinstance(node, exp.Case):
        keyword = CASE_START.search(sql, 0, start)
        finish = CASE_END.match(sql, end)
        if keyword and finish:
            start, end = keyword.start(), finish.end()
    elif isinstance(node, exp.Func | exp.Window | exp.Paren):
        call = CALL_START.search(sql, 0, start)
        if call:
            start = call.start() if not isinstance(node, exp.Paren) else call.end() - 1
        depth = sql.count("(", start, end) - sql.count(")", start, end)
        while end < len(sql) and depth > 0:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
    return Span(start, end)


CASE_START = re.compile(r"\bCASE\s+(?:WHEN\s+)?$", re.IGNORECASE)
CASE_END = re.compile(r"\s*END\b", re.IGNORECASE)
CALL_START = re.compile(r"(?:\b\w+\s*)?\(\s*(?:DISTINCT\s+)?$", re.IGNORECASE)
