"""Differential property test: random queries over random two-party data, reference vs DuckDB.

A small grammar builds well-typed MySQL queries over ``p.a`` and ``q.b`` (joins of every kind,
WHERE with three-valued logic, IN lists and subqueries, EXISTS, GROUP BY with aggregates and
HAVING, DISTINCT, UNION, ORDER BY with LIMIT, CASE/COALESCE/arithmetic, RANK/DENSE_RANK);
hypothesis draws the data (small values, many NULLs and duplicates, so joins and groups collide)
and the query.
Both engines must return the same rows: as multisets, or in order when the query orders by every
output column (the only case where ``LIMIT`` is drawn, so the chosen rows are determined).
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuyu.engine.data import ColumnData, TableData
from shuyu.engine.reference import execute
from shuyu.sql.bind import bind
from shuyu.sql.catalog import FLOAT, INT, STRING, decimal
from shuyu.sql.optimize import optimize
from shuyu.sql.parse import parse

from .fixture_files import differences
from .space import catalog_of, duckdb_type

SCHEMA = {
    ("p", "a"): {"k": "INT", "x": "INT", "d": "DECIMAL", "s": "STRING"},
    ("q", "b"): {"k": "INT", "y": "INT", "f": "FLOAT", "s": "STRING"},
}
NUMERIC = {"x", "d", "k", "y", "f"}
STRINGS = ["a", "b", "B", "中", "ab"]


KINDS = {"INT": INT, "DECIMAL": decimal(2), "FLOAT": FLOAT, "STRING": STRING}
TYPES = {table: {c: KINDS[k] for c, k in cols.items()} for table, cols in SCHEMA.items()}


def maybe_null(values: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), values, values)


CELL = {
    "INT": maybe_null(st.integers(-3, 3)),
    "DECIMAL": maybe_null(st.integers(-300, 300).map(lambda v: Decimal(v).scaleb(-2))),
    "FLOAT": maybe_null(st.integers(-6, 6).map(lambda v: v / 2)),
    "STRING": maybe_null(st.sampled_from(STRINGS)),
}


@st.composite
def tables(draw: st.DrawFn) -> dict[tuple[str, str], TableData]:
    data = {}
    for table, columns in SCHEMA.items():
        rows = draw(st.integers(0, 7))
        data[table] = TableData(
            rows,
            {
                name: ColumnData.from_python(
                    TYPES[table][name], [draw(CELL[kind]) for _ in range(rows)]
                )
                for name, kind in columns.items()
            },
        )
    return data


# --- the grammar -----------------------------------------------------------------------------


def numeric_columns(aliases: list[str]) -> list[str]:
    found = []
    for alias in aliases:
        table = ("p", "a") if alias == "a" else ("q", "b")
        found += [f"{alias}.{c}" for c in SCHEMA[table] if c in NUMERIC]
    return found


def string_columns(aliases: list[str]) -> list[str]:
    return [f"{alias}.s" for alias in aliases]


@st.composite
def numeric_expr(draw: st.DrawFn, aliases: list[str], depth: int = 0) -> str:
    leaf = st.one_of(
        st.sampled_from(numeric_columns(aliases)),
        st.integers(-2, 3).map(str),
        st.sampled_from(["0.5", "1.25", "NULL"]),
    )
    if depth >= 2:
        return draw(leaf)
    choice = draw(st.integers(0, 5))
    if choice <= 1:
        return draw(leaf)
    if choice == 2:
        op = draw(st.sampled_from(["+", "-", "*"]))
        left = draw(numeric_expr(aliases, depth + 1))
        right = draw(numeric_expr(aliases, depth + 1))
        return f"({left} {op} {right})"
    if choice == 3:
        condition = draw(predicate(aliases, depth + 1))
        then = draw(numeric_expr(aliases, depth + 1))
        otherwise = draw(numeric_expr(aliases, depth + 1))
        return f"CASE WHEN {condition} THEN {then} ELSE {otherwise} END"
    if choice == 4:
        value = draw(numeric_expr(aliases, depth + 1))
        fallback = draw(st.integers(-1, 1))
        return f"COALESCE({value}, {fallback})"
    return f"ABS({draw(numeric_expr(aliases, depth + 1))})"


@st.composite
def string_expr(draw: st.DrawFn, aliases: list[str]) -> str:
    return draw(
        st.one_of(
            st.sampled_from(string_columns(aliases)),
            st.sampled_from(STRINGS).map(lambda s: f"'{s}'"),
        )
    )


@st.composite
def window_expr(draw: st.DrawFn, aliases: list[str]) -> str:
    """A rank (ties get the same value, so the result does not depend on row order)."""
    func = draw(st.sampled_from(["RANK", "DENSE_RANK"]))
    columns = numeric_columns(aliases) + string_columns(aliases)
    partition = draw(st.lists(st.sampled_from(columns), max_size=2, unique=True))
    order = draw(st.lists(st.sampled_from(columns), min_size=1, max_size=2, unique=True))
    keys = ", ".join(f"{c}{draw(st.sampled_from(['', ' DESC']))}" for c in order)
    over = (
        f"PARTITION BY {', '.join(partition)} ORDER BY {keys}" if partition else f"ORDER BY {keys}"
    )
    return f"{func}() OVER ({over})"


@st.composite
def predicate(draw: st.DrawFn, aliases: list[str], depth: int = 0) -> str:
    choice = draw(st.integers(0, 7 if depth < 2 else 3))
    if choice == 0:
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        left = draw(numeric_expr(aliases, depth + 1))
        right = draw(numeric_expr(aliases, depth + 1))
        return f"{left} {op} {right}"
    if choice == 1:
        op = draw(st.sampled_from(["=", "<>", "<", ">="]))
        return f"{draw(string_expr(aliases))} {op} {draw(string_expr(aliases))}"
    if choice == 2:
        column = draw(st.sampled_from(numeric_columns(aliases) + string_columns(aliases)))
        return f"{column} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if choice == 3:
        items = draw(st.lists(st.sampled_from(["1", "2", "-1", "NULL"]), min_size=1, max_size=3))
        negation = draw(st.sampled_from(["", "NOT "]))
        column = draw(st.sampled_from(numeric_columns(aliases)))
        return f"{column} {negation}IN ({', '.join(items)})"
    if choice == 4:
        low, high = sorted(draw(st.lists(st.integers(-2, 2), min_size=2, max_size=2)))
        return f"{draw(numeric_expr(aliases, depth + 1))} BETWEEN {low} AND {high}"
    if choice == 5:
        return f"NOT ({draw(predicate(aliases, depth + 1))})"
    op = draw(st.sampled_from(["AND", "OR"]))
    left = draw(predicate(aliases, depth + 1))
    right = draw(predicate(aliases, depth + 1))
    return f"({left} {op} {right})"


@st.composite
def subquery_condition(draw: st.DrawFn) -> str:
    """A condition of ``p.a AS a`` on ``q.b`` through IN / NOT IN / EXISTS."""
    choice = draw(st.integers(0, 3))
    negation = draw(st.sampled_from(["", "NOT "]))
    inner = draw(st.one_of(st.just(""), predicate(["b"], 1).map(lambda p: f" WHERE {p}")))
    if choice == 0:
        return f"a.k {negation}IN (SELECT b.k FROM q.b AS b{inner})"
    if choice == 1:
        return f"a.s {negation}IN (SELECT b.s FROM q.b AS b{inner})"
    if choice == 2:
        extra = inner.replace(" WHERE ", " AND ") if inner else ""
        return f"{negation}EXISTS (SELECT 1 FROM q.b AS b WHERE b.k = a.k{extra})"
    return f"{negation}EXISTS (SELECT 1 FROM q.b AS b{inner})"


@st.composite
def from_clause(draw: st.DrawFn) -> tuple[str, list[str]]:
    kind = draw(
        st.sampled_from(["", "JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL OUTER JOIN", "CROSS JOIN"])
    )
    if not kind:
        return "p.a AS a", ["a"]
    if kind == "CROSS JOIN":
        return "p.a AS a CROSS JOIN q.b AS b", ["a", "b"]
    key = draw(st.sampled_from(["a.k = b.k", "a.s = b.s", "a.x = b.y", "a.d = b.f"]))
    extra = draw(st.one_of(st.just(""), predicate(["a", "b"], 1).map(lambda p: f" AND {p}")))
    return f"p.a AS a {kind} q.b AS b ON {key}{extra}", ["a", "b"]


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, bool]:
    """A query and whether its rows are ordered (ORDER BY every output column)."""
    source, aliases = draw(from_clause())
    conditions = []
    if draw(st.booleans()):
        conditions.append(draw(predicate(aliases)))
    if aliases == ["a"] and draw(st.integers(0, 3)) == 0:
        conditions.append(draw(subquery_condition()))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    if draw(st.booleans()):
        return draw(grouped_query(source, aliases, where)), False
    outputs = draw(
        st.lists(
            st.one_of(
                numeric_expr(aliases),
                string_expr(aliases),
                predicate(aliases, 1),
                window_expr(aliases),
            ),
            min_size=1,
            max_size=3,
        )
    )
    items = ", ".join(f"{o} AS c{i}" for i, o in enumerate(outputs))
    distinct = draw(st.sampled_from(["", "DISTINCT "]))
    sql = f"SELECT {distinct}{items} FROM {source}{where}"
    if draw(st.integers(0, 4)) == 0:
        other = ", ".join(f"{o} AS c{i}" for i, o in enumerate(outputs))
        union = draw(st.sampled_from(["UNION", "UNION ALL"]))
        return f"{sql} {union} SELECT {other} FROM {source}", False
    if draw(st.booleans()):
        directions = [draw(st.sampled_from(["", " DESC"])) for _ in outputs]
        order = ", ".join(f"c{i}{d}" for i, d in enumerate(directions))
        limit = draw(st.sampled_from(["", " LIMIT 3", " LIMIT 2 OFFSET 1"]))
        return f"{sql} ORDER BY {order}{limit}", True
    return sql, False


@st.composite
def grouped_query(draw: st.DrawFn, source: str, aliases: list[str], where: str) -> str:
    candidates = numeric_columns(aliases) + string_columns(aliases)
    keys = draw(st.lists(st.sampled_from(candidates), max_size=2, unique=True))
    numeric = numeric_columns(aliases)
    aggregates = draw(
        st.lists(
            st.one_of(
                st.just("COUNT(*)"),
                st.sampled_from(candidates).map(lambda c: f"COUNT({c})"),
                st.sampled_from(candidates).map(lambda c: f"COUNT(DISTINCT {c})"),
                st.sampled_from(numeric).map(lambda c: f"SUM({c})"),
                st.sampled_from(numeric).map(lambda c: f"AVG({c})"),
                st.sampled_from(candidates).map(lambda c: f"MIN({c})"),
                st.sampled_from(numeric).map(lambda c: f"MAX({c} * 2)"),
            ),
            min_size=1,
            max_size=3,
        )
    )
    items = ", ".join([*keys, *(f"{a} AS g{i}" for i, a in enumerate(aggregates))])
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    having = draw(st.sampled_from(["", " HAVING COUNT(*) > 1", " HAVING MIN(a.k) IS NOT NULL"]))
    return f"SELECT {items} FROM {source}{where}{group}{having}"


def duckdb_rows(data: dict[tuple[str, str], TableData], sql: str) -> list[tuple[object, ...]]:
    connection = duckdb.connect()
    connection.execute("SET error_on_division_by_zero = false")
    for (party, table), table_data in data.items():
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {party}")
        columns = ", ".join(
            f"{name} {duckdb_type(column.type)}" for name, column in table_data.columns.items()
        )
        connection.execute(f"CREATE TABLE {party}.{table} ({columns})")
        rows = list(zip(*(c.to_python() for c in table_data.columns.values()), strict=True))
        if rows:
            marks = ", ".join("?" for _ in table_data.columns)
            connection.executemany(f"INSERT INTO {party}.{table} VALUES ({marks})", rows)
    try:
        return connection.execute(
            sqlglot.transpile(sql, read="mysql", write="duckdb")[0]
        ).fetchall()
    finally:
        connection.close()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=tables(), query=queries())
def test_reference_executor_agrees_with_duckdb(data, query):
    sql, ordered = query
    catalog = catalog_of(data, TYPES)
    query = bind(parse(sql), catalog, sql)
    expected = duckdb_rows(data, sql)
    result = execute(query, data)
    problem = differences(result.rows, expected, ordered=ordered)
    assert problem is None, f"{sql}\n{problem}"
    # the optimiser's rewrites keep the semantics
    optimized = execute(optimize(query), data)
    problem = differences(optimized.rows, expected, ordered=ordered)
    assert problem is None, f"after optimize: {sql}\n{problem}"
