"""A small builder of catalogues and logical plans by hand, for the policy tests.

Plans are built the way the binder builds them (``plan.py``'s conventions: scan fields named
``alias.column``, a join's fields the left's then the right's, an aggregate's the keys then the
aggregates), so the policy pass can be tested independently of the SQL front end. Spans are
found in an optional SQL text with :func:`at`, so refusals can be checked for their underline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import pytest

from shuyu.errors import PolicyDenied
from shuyu.sql import plan
from shuyu.sql.catalog import INT, Catalog, Column, PolicyRule, Table, parse_grants
from shuyu.sql.policy import PolicyReport, check_policy

Rule = tuple[str, str, Iterable[str]]  # ("alice.ta.id", "bob", ["PLAINTEXT_AFTER_JOIN"])


def catalog(
    tables: dict[str, Sequence[str]],
    rules: Iterable[Rule] = (),
    *,
    settings: dict[str, object] | None = None,
    extra_parties: Sequence[str] = (),
    group_min_sizes: dict[tuple[str, str], int] | None = None,
) -> Catalog:
    """A catalogue from ``{"party.table": [columns]}`` and ``(column, receiver, grants)`` rules.

    ``group_min_sizes`` maps ``(column, receiver)`` of a rule to its ``group_min_size``.
    """
    result = Catalog(settings=dict(settings or {}), extra_parties=tuple(extra_parties))
    for name, columns in tables.items():
        party, table = name.split(".")
        result.add(Table(party, table, tuple(Column(column, INT) for column in columns)))
    sizes = group_min_sizes or {}
    for column, receiver, grants in rules:
        party, table, name = column.split(".")
        result.rules.append(
            PolicyRule(
                party,
                table,
                name,
                receiver,
                parse_grants(grants),
                group_min_size=sizes.get((column, receiver)),
            )
        )
    return result


class Sql:
    """Spans of fragments of one SQL text."""

    def __init__(self, text: str = "") -> None:
        self.text = text

    def at(self, fragment: str, occurrence: int = 0) -> plan.Span | None:
        """The span of the ``occurrence``-th appearance of ``fragment`` (None when absent)."""
        start = -1
        for _ in range(occurrence + 1):
            start = self.text.find(fragment, start + 1)
            if start < 0:
                return None
        return plan.Span(start, start + len(fragment))


NO_SQL = Sql()


# --- expressions ------------------------------------------------------------------------------


def col(name: str, sql: Sql = NO_SQL, fragment: str | None = None) -> plan.ColumnRef:
    """A reference to field ``name``; its span is ``fragment`` (default: the name) in ``sql``."""
    return plan.ColumnRef(name, INT, sql.at(fragment or name))


def const(value: int | str | None) -> plan.Const:
    return plan.Const(value, INT)


def binary(op: plan.BinaryOperator, left: plan.Expr, right: plan.Expr) -> plan.Binary:
    return plan.Binary(op, left, right, INT)


def call(name: str, *args: plan.Expr) -> plan.Call:
    return plan.Call(name, tuple(args), INT)


def case(whens: Sequence[tuple[plan.Expr, plan.Expr]], default: plan.Expr | None) -> plan.Case:
    return plan.Case(tuple(whens), default, INT)


def in_list(operand: plan.Expr, *items: plan.Expr, negated: bool = False) -> plan.InList:
    return plan.InList(operand, tuple(items), negated, INT)


def unary(op: plan.UnaryOperator, operand: plan.Expr) -> plan.Unary:
    return plan.Unary(op, operand, INT)


def agg(
    func: plan.AggregateFunction,
    arg: plan.Expr | None = None,
    *,
    distinct: bool = False,
    span: plan.Span | None = None,
) -> plan.AggCall:
    return plan.AggCall(func, arg, distinct, INT, span)


# --- nodes ------------------------------------------------------------------------------------


def scan(table: str, columns: Sequence[str], alias: str | None = None) -> plan.Scan:
    """``party.table`` read as ``alias`` (default: the table's name)."""
    party, name = table.split(".")
    alias = alias or name
    fields = tuple(
        plan.Field(f"{alias}.{column}", INT, frozenset({plan.BaseColumn(party, name, column)}))
        for column in columns
    )
    return plan.Scan(party, name, alias, fields)


def project(source: plan.Node, *items: tuple[str, plan.Expr]) -> plan.Project:
    pairs = tuple((plan.Field(name, INT), expr) for name, expr in items)
    return plan.Project(source, pairs, tuple(item for item, _ in pairs))


def select(source: plan.Node, *names: str) -> plan.Project:
    """Project input fields by name (a ``SELECT a.x, b.y``)."""
    return project(source, *((name, col(name)) for name in names))


def where(source: plan.Node, predicate: plan.Expr) -> plan.Filter:
    return plan.Filter(source, predicate, source.fields)


def join(
    left: plan.Node,
    right: plan.Node,
    on: Sequence[tuple[str, str]] = (),
    kind: plan.JoinKind = "inner",
    residual: plan.Expr | None = None,
) -> plan.Join:
    left_keys = tuple(col(name) for name, _ in on)
    right_keys = tuple(col(name) for _, name in on)
    fields = left.fields if kind in ("semi", "anti") else left.fields + right.fields
    return plan.Join(left, right, kind, left_keys, right_keys, residual, fields)


def aggregate(
    source: plan.Node,
    keys: Sequence[tuple[str, plan.Expr]] = (),
    aggregates: Sequence[tuple[str, plan.AggCall]] = (),
) -> plan.Aggregate:
    key_pairs = tuple((plan.Field(name, INT), expr) for name, expr in keys)
    agg_pairs = tuple((plan.Field(name, INT), call) for name, call in aggregates)
    fields = tuple(item for item, _ in key_pairs) + tuple(item for item, _ in agg_pairs)
    return plan.Aggregate(source, key_pairs, agg_pairs, fields)


def group_by(
    source: plan.Node, keys: Sequence[str], *aggregates: tuple[str, plan.AggCall]
) -> plan.Aggregate:
    """``GROUP BY`` input fields by name (the key fields keep their names)."""
    return aggregate(source, [(key, col(key)) for key in keys], aggregates)


def order_by(source: plan.Node, *keys: str | tuple[str, bool]) -> plan.Sort:
    sort_keys = []
    for key in keys:
        name, descending = (key, False) if isinstance(key, str) else key
        sort_keys.append(plan.SortKey(col(name), descending))
    return plan.Sort(source, tuple(sort_keys), source.fields)


def limit(source: plan.Node, count: int) -> plan.Limit:
    return plan.Limit(source, count, 0, source.fields)


def distinct(source: plan.Node) -> plan.Distinct:
    return plan.Distinct(source, source.fields)


def union(*inputs: plan.Node, all: bool = True) -> plan.SetOperation:
    return plan.SetOperation(tuple(inputs), "union", all, inputs[0].fields)


def window(
    source: plan.Node,
    name: str,
    func: plan.WindowFunction = "RANK",
    partition_by: Sequence[str] = (),
    order_by: Sequence[str] = (),
) -> plan.Window:
    window_call = plan.WindowCall(
        func,
        tuple(col(key) for key in partition_by),
        tuple(plan.SortKey(col(key)) for key in order_by),
        INT,
    )
    output = plan.Field(name, INT)
    return plan.Window(source, ((output, window_call),), (*source.fields, output))


def query(root: plan.Node, sql: Sql = NO_SQL, names: Sequence[str] | None = None) -> plan.Query:
    result_names = tuple(names) if names is not None else tuple(f.name for f in root.fields)
    return plan.Query(root, result_names, sql.text)


def check(root: plan.Node | plan.Query, space: Catalog, issuer: str) -> PolicyReport:
    """``check_policy`` on a plan (wrapped in a query without SQL text) or a query."""
    built = root if isinstance(root, plan.Query) else query(root)
    return check_policy(built, space, issuer)


def refused(root: plan.Node | plan.Query, space: Catalog, issuer: str) -> PolicyDenied:
    """The ``policy.denied`` refusal ``check_policy`` raises (fails the test if it allows)."""
    with pytest.raises(PolicyDenied) as info:
        check(root, space, issuer)
    assert info.value.code == "policy.denied"
    assert info.value.status == 403
    return info.value


SUGGESTION = re.compile(
    r"Granting (\w+) ([A-Z_, ]+(?: or [A-Z_]+)?) on ([\w.]+) would make it visible"
)
REFUSED_COLUMN = re.compile(r'result column "([^"]+)" is not visible')


def refused_column(error: PolicyDenied) -> str:
    """The result column a refusal names."""
    match = REFUSED_COLUMN.search(error.message)
    assert match, error.message
    return match.group(1)


def suggested(error: PolicyDenied) -> tuple[str, list[str], str]:
    """(party, grants, column) of a refusal's first suggestion."""
    match = SUGGESTION.search(error.message)
    assert match, error.message
    grants = re.split(r", | or ", match.group(2))
    return match.group(1), grants, match.group(3)
