"""A tiny builder of logical plans by hand, for testing pushdown without the planner.

Every node's fields are derived the way the binder derives them (scans name fields
``alias.column``; a join's fields are the left's then the right's), so tests read like SQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from shuyu.sql import plan
from shuyu.sql.catalog import BOOL, FLOAT, INT, DataType, TypeKind

Expr = plan.Expr


def scan(party: str, table: str, alias: str, columns: Sequence[tuple[str, DataType]]) -> plan.Scan:
    fields = tuple(
        plan.Field(f"{alias}.{name}", data_type, frozenset({plan.BaseColumn(party, table, name)}))
        for name, data_type in columns
    )
    return plan.Scan(party, table, alias, fields)


def col(node: plan.Node, name: str) -> plan.ColumnRef:
    for item in node.fields:
        if item.name == name:
            return plan.ColumnRef(name, item.type)
    raise KeyError(f"{name} is not a field of the node: {[f.name for f in node.fields]}")


def const(value: object, data_type: DataType) -> plan.Const:
    return plan.Const(value, data_type)  # type: ignore[arg-type]


COMPARISONS = {"=", "<>", "<", "<=", ">", ">=", "AND", "OR"}


def binary(op: str, left: Expr, right: Expr, data_type: DataType | None = None) -> plan.Binary:
    if data_type is None:
        if op in COMPARISONS:
            data_type = BOOL
        elif op == "/":
            data_type = FLOAT
        elif op == "DIV":
            data_type = INT
        else:
            data_type = left.type
    return plan.Binary(op, left, right, data_type)  # type: ignore[arg-type]


def unary(op: str, operand: Expr) -> plan.Unary:
    data_type = operand.type if op == "NEG" else BOOL
    return plan.Unary(op, operand, data_type)  # type: ignore[arg-type]


def call(name: str, *args: Expr, data_type: DataType | None = None) -> plan.Call:
    return plan.Call(name, tuple(args), data_type or args[0].type)


def in_list(operand: Expr, items: Sequence[Expr], negated: bool = False) -> plan.InList:
    return plan.InList(operand, tuple(items), negated, BOOL)


def case(whens: Sequence[tuple[Expr, Expr]], default: Expr | None = None) -> plan.Case:
    return plan.Case(tuple(whens), default, whens[0][1].type)


def filter_(node: plan.Node, predicate: Expr) -> plan.Filter:
    return plan.Filter(node, predicate, node.fields)


def project(node: plan.Node, items: Sequence[tuple[str, Expr]]) -> plan.Project:
    pairs = tuple((plan.Field(name, expr.type), expr) for name, expr in items)
    return plan.Project(node, pairs, tuple(item for item, _ in pairs))


def agg(func: str, arg: Expr | None = None, distinct: bool = False) -> plan.AggCall:
    if func == "COUNT":
        data_type = INT
    elif func == "AVG":
        data_type = FLOAT if arg is not None and arg.type.kind is not TypeKind.DECIMAL else arg.type  # type: ignore[union-attr]
    else:
        assert arg is not None
        data_type = arg.type
    return plan.AggCall(func, arg, distinct, data_type)  # type: ignore[arg-type]


def aggregate(
    node: plan.Node,
    keys: Sequence[tuple[str, Expr]],
    aggregates: Sequence[tuple[str, plan.AggCall]],
) -> plan.Aggregate:
    key_pairs = tuple((plan.Field(name, expr.type), expr) for name, expr in keys)
    agg_pairs = tuple((plan.Field(name, call.type), call) for name, call in aggregates)
    fields = tuple(item for item, _ in key_pairs) + tuple(item for item, _ in agg_pairs)
    return plan.Aggregate(node, key_pairs, agg_pairs, fields)


def sort(node: plan.Node, *keys: tuple[Expr, bool] | plan.SortKey) -> plan.Sort:
    sort_keys = tuple(
        key if isinstance(key, plan.SortKey) else plan.SortKey(key[0], key[1]) for key in keys
    )
    return plan.Sort(node, sort_keys, node.fields)


def limit(node: plan.Node, count: int | None, offset: int = 0) -> plan.Limit:
    return plan.Limit(node, count, offset, node.fields)


def distinct(node: plan.Node) -> plan.Distinct:
    return plan.Distinct(node, node.fields)


def join(
    left: plan.Node,
    right: plan.Node,
    kind: str,
    keys: Sequence[tuple[Expr, Expr]] = (),
    residual: Expr | None = None,
) -> plan.Join:
    fields = left.fields if kind in ("semi", "anti") else left.fields + right.fields
    return plan.Join(
        left,
        right,
        kind,  # type: ignore[arg-type]
        tuple(a for a, _ in keys),
        tuple(b for _, b in keys),
        residual,
        fields,
    )


def union(*nodes: plan.Node, all_rows: bool = True) -> plan.SetOperation:
    return plan.SetOperation(tuple(nodes), "union", all_rows, nodes[0].fields)


def window(
    node: plan.Node, name: str, func: str, partition: Sequence[Expr], order: Sequence[plan.SortKey]
) -> plan.Window:
    call_ = plan.WindowCall(func, tuple(partition), tuple(order), INT)  # type: ignore[arg-type]
    item = plan.Field(name, INT)
    return plan.Window(node, ((item, call_),), (*node.fields, item))
