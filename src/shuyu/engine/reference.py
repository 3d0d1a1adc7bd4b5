"""The plaintext reference executor: runs a logical plan over all the data in one process.

It is the oracle the secure executor is tested against, so it is written for obviously right
SQL semantics, not for speed: rows are tuples of Python values, every node is a plain loop.

* Joins: NULL keys never match; outer joins pad with NULLs; ``semi``/``anti`` keep each left
  row once if it has a / no match; ``residual`` must be TRUE for a match.
* ``Aggregate``: NULL keys form one group; aggregates skip NULLs (``COUNT(*)`` counts rows);
  ``SUM``/``MIN``/``MAX``/``AVG`` of no values are NULL, ``COUNT`` 0; ``SUM`` of INT and DECIMAL
  is exact, ``AVG`` is the exact mean rounded once to a float; no keys: one row, even when empty.
* ``Sort`` is stable; each key says where NULLs go (the binder sets MySQL's default: first when
  ascending, last when descending). ``Distinct`` and ``UNION`` treat NULLs as equal.
* Window ranks: ``ROW_NUMBER`` numbers rows in (partition, order) order, ties in input order;
  ``RANK`` and ``DENSE_RANK`` give ties the same rank.

Results (:class:`~shuyu.engine.data.Result`) hold each value converted to its column's type:
DECIMAL values as ``Decimal`` with exactly the type's scale.

Example:
    >>> from shuyu.engine.data import ColumnData, TableData
    >>> from shuyu.sql.bind import bind
    >>> from shuyu.sql.catalog import Catalog, Column, Table, INT, STRING
    >>> from shuyu.sql.parse import parse
    >>> catalog = Catalog()
    >>> catalog.add(Table("bank", "t", (Column("id", INT), Column("city", STRING))))
    >>> data = TableData.of({"id": ColumnData.from_python(INT, [1, 2, 3]),
    ...                      "city": ColumnData.from_python(STRING, ["京", None, "京"])})
    >>> sql = "SELECT city, COUNT(*) AS n FROM bank.t GROUP BY city ORDER BY city"
    >>> execute(bind(parse(sql), catalog, sql), {("bank", "t"): data}).rows
    [(None, 1), ('京', 2)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Context, localcontext
from fractions import Fraction
from functools import cmp_to_key
from typing import Any

from shuyu.engine.data import Result, TableData
from shuyu.engine.evaluate import Row, compile_expr
from shuyu.errors import InvalidInput
from shuyu.sql.catalog import DataType, TypeKind
from shuyu.sql.plan import (
    AggCall,
    Aggregate,
    Distinct,
    Field,
    Filter,
    Join,
    Limit,
    Node,
    Project,
    Query,
    Scan,
    SetOperation,
    Sort,
    SortKey,
    Window,
    WindowCall,
)
from shuyu.sql.values import cast

Tables = Mapping[tuple[str, str], TableData]


def execute(query: Query, tables: Tables) -> Result:
    """Run ``query`` over ``tables`` (every table its plan scans, by (party, table))."""
    with localcontext(Context(prec=100)):
        fields, rows = run(query.root, tables)
        types = tuple(f.type for f in fields)
        converted = [tuple(_typed(v, t) for v, t in zip(row, types, strict=True)) for row in rows]
    return Result(query.names, types, converted)


def _typed(value: Any, data_type: DataType) -> Any:
    if value is None or data_type.kind is TypeKind.NULL:
        return None
    return cast(value, data_type)


def run(node: Node, tables: Tables) -> tuple[tuple[Field, ...], list[Row]]:
    """A node's fields and rows."""
    return node.fields, RUNNERS[type(node)](node, tables)


def _positions(fields: tuple[Field, ...]) -> dict[str, int]:
    return {f.name: position for position, f in enumerate(fields)}


def _scan(node: Scan, tables: Tables) -> list[Row]:
    data = tables.get((node.party, node.table))
    if data is None:
        raise InvalidInput(f"no data given for table {node.party}.{node.table}")
    columns = []
    for f in node.fields:
        name = f.name[len(node.alias) + 1 :]
        column = data.columns.get(name)
        if column is None:
            raise InvalidInput(f"table {node.party}.{node.table} has no column {name}")
        columns.append(column.to_python())
    if not columns:
        return [() for _ in range(data.rows)]
    return [tuple(row) for row in zip(*columns, strict=True)]


def _filter(node: Filter, tables: Tables) -> list[Row]:
    fields, rows = run(node.input, tables)
    predicate = compile_expr(node.predicate, _positions(fields))
    return [row for row in rows if predicate(row) is True]


def _project(node: Project, tables: Tables) -> list[Row]:
    fields, rows = run(node.input, tables)
    positions = _positions(fields)
    items = [compile_expr(expr, positions) for _, expr in node.items]
    return [tuple(item(row) for item in items) for row in rows]


def _join(node: Join, tables: Tables) -> list[Row]:
    left_fields, left_rows = run(node.left, tables)
    right_fields, right_rows = run(node.right, tables)
    left_keys = [compile_expr(k, _positions(left_fields)) for k in node.left_keys]
    right_keys = [compile_expr(k, _positions(right_fields)) for k in node.right_keys]
    residual = (
        compile_expr(node.residual, _positions(left_fields + right_fields))
        if node.residual is not None
        else None
    )
    index: dict[tuple[Any, ...], list[int]] = {}
    for position, row in enumerate(right_rows):
        key = tuple(k(row) for k in right_keys)
        if None not in key:
            index.setdefault(key, []).append(position)
    everything = list(range(len(right_rows)))
    left_pad = (None,) * len(left_fields)
    right_pad = (None,) * len(right_fields)
    matched_right: set[int] = set()
    output: list[Row] = []
    for left in left_rows:
        key = tuple(k(left) for k in left_keys)
        candidates = everything if not left_keys else ([] if None in key else index.get(key, []))
        matches = [
            p for p in candidates if residual is None or residual(left + right_rows[p]) is True
        ]
        if node.kind == "semi":
            if matches:
                output.append(left)
            continue
        if node.kind == "anti":
            if not matches:
                output.append(left)
            continue
        matched_right.update(matches)
        output += [left + right_rows[p] for p in matches]
        if not matches and node.kind in ("left", "full"):
            output.append(left + right_pad)
    if node.kind in ("right", "full"):
        output += [left_pad + row for p, row in enumerate(right_rows) if p not in matched_right]
    return output


def _aggregate(node: Aggregate, tables: Tables) -> list[Row]:
    fields, rows = run(node.input, tables)
    positions = _positions(fields)
    keys = [compile_expr(expr, positions) for _, expr in node.keys]
    arguments = [
        compile_expr(call.arg, positions) if call.arg is not None else None
        for _, call in node.aggregates
    ]
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(k(row) for k in keys), []).append(row)
    if not keys and not groups:
        groups[()] = []
    output = []
    for key, members in groups.items():
        values = [
            _aggregate_value(call, argument, members)
            for (_, call), argument in zip(node.aggregates, arguments, strict=True)
        ]
        output.append(key + tuple(values))
    return output


def _aggregate_value(call: AggCall, argument: Callable[[Row], Any] | None, rows: list[Row]) -> Any:
    if argument is None:
        return len(rows)
    values = [v for v in (argument(row) for row in rows) if v is not None]
    if call.distinct:
        values = list(dict.fromkeys(values))
    if call.func == "COUNT":
        return len(values)
    if not values:
        return None
    if call.func == "MIN":
        return min(values)
    if call.func == "MAX":
        return max(values)
    floats = any(isinstance(v, float) for v in values)
    if call.func == "SUM":
        return math.fsum(values) if floats else sum(values)
    if floats:
        return math.fsum(values) / len(values)
    return float(Fraction(sum(Fraction(v) for v in values)) / len(values))


def _compare(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def _sort_rows(rows: list[Row], keys: list[tuple[Callable[[Row], Any], SortKey]]) -> list[Row]:
    def order(first: Row, second: Row) -> int:
        for evaluate, key in keys:
            a, b = evaluate(first), evaluate(second)
            if a is None or b is None:
                if a is None and b is None:
                    continue
                null_first = (
                    bool(key.nulls_first) if key.nulls_first is not None else (not key.descending)
                )
                return (-1 if a is None else 1) * (1 if null_first else -1)
            result = _compare(a, b)
            if result:
                return -result if key.descending else result
        return 0

    return sorted(rows, key=cmp_to_key(order))


def _sort(node: Sort, tables: Tables) -> list[Row]:
    fields, rows = run(node.input, tables)
    positions = _positions(fields)
    return _sort_rows(rows, [(compile_expr(k.expr, positions), k) for k in node.keys])


def _limit(node: Limit, tables: Tables) -> list[Row]:
    _, rows = run(node.input, tables)
    end = None if node.limit is None else node.offset + node.limit
    return rows[node.offset : end]


def _distinct(node: Distinct, tables: Tables) -> list[Row]:
    _, rows = run(node.input, tables)
    return list(dict.fromkeys(rows))


def _union(node: SetOperation, tables: Tables) -> list[Row]:
    rows = [row for child in node.inputs for row in run(child, tables)[1]]
    return rows if node.all else list(dict.fromkeys(rows))


def _window(node: Window, tables: Tables) -> list[Row]:
    fields, rows = run(node.input, tables)
    positions = _positions(fields)
    columns = [_window_values(call, rows, positions) for _, call in node.calls]
    return [row + tuple(column[i] for column in columns) for i, row in enumerate(rows)]


def _window_values(call: WindowCall, rows: list[Row], positions: dict[str, int]) -> list[int]:
    partition = [compile_expr(e, positions) for e in call.partition_by]
    order = [(compile_expr(k.expr, positions), k) for k in call.order_by]
    numbered = [(*row, i) for i, row in enumerate(rows)]
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in numbered:
        groups.setdefault(tuple(p(row) for p in partition), []).append(row)
    values = [0] * len(rows)
    for members in groups.values():
        ordered = _sort_rows(members, order)
        rank = dense = 0
        previous: tuple[Any, ...] | None = None
        for position, row in enumerate(ordered, start=1):
            current = tuple(evaluate(row) for evaluate, _ in order)
            if current != previous:
                rank, dense, previous = position, dense + 1, current
            values[row[-1]] = {"ROW_NUMBER": position, "RANK": rank, "DENSE_RANK": dense}[call.func]
    return values


RUNNERS: dict[type, Callable[[Any, Tables], list[Row]]] = {
    Scan: _scan,
    Filter: _filter,
    Project: _project,
    Join: _join,
    Aggregate: _aggregate,
    Sort: _sort,
    Limit: _limit,
    Distinct: _distinct,
    SetOperation: _union,
    Window: _window,
}
