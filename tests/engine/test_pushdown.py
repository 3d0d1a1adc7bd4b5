"""Pushdown: plans built by hand, translated by ``local_sql``, run inside four real engines.

Every case runs in DuckDB, SQLite, PostgreSQL and MariaDB and must give the rows written next to
it — the semantics of the reference executor (MySQL's, with code-point string comparison) —
whatever the engine's own defaults: NULL ordering, integer division, division by zero,
case-insensitive or pad-space collations, missing FULL OUTER JOIN.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from shuyu.engine.pushdown import local_sql
from shuyu.engine.sources import DatabaseSource, DuckDBSource, Source, SqliteSource
from shuyu.errors import UnsupportedSql
from shuyu.sql import plan
from shuyu.sql.catalog import BOOL, DATE, FLOAT, INT, STRING, TIMESTAMP, decimal

from . import plans as p
from .databases import (
    ITEMS,
    ITEMS_COLUMNS,
    TAGS_COLUMNS,
    mysql_database,
    postgres_schema,
    write_duckdb,
    write_sqlite,
)

D = Decimal
EPOCH = dt.date(1970, 1, 1)


def days(year: int, month: int, day: int) -> int:
    return (dt.date(year, month, day) - EPOCH).days


def micros(*parts: int) -> int:
    return (dt.datetime(*parts) - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1)  # type: ignore[arg-type]


# --- the engines ------------------------------------------------------------------------------


class Backend:
    def __init__(self, source: Source, prefix: str) -> None:
        self.source = source
        self.names = {("shop", "items"): prefix + "items", ("shop", "tags"): prefix + "tags"}

    def sql(self, node: plan.Node) -> str:
        return local_sql(node, self.source.dialect, self.names, collation=self.source.collation)

    def rows(self, node: plan.Node) -> list[tuple[Any, ...]]:
        table = self.source.run(
            self.sql(node),
            types=[item.type for item in node.fields],
            names=[item.name for item in node.fields],
        )
        assert list(table.columns) == [item.name for item in node.fields]
        columns = [column.to_python() for column in table.columns.values()]
        return list(zip(*columns, strict=True)) if columns else [() for _ in range(table.rows)]


@pytest.fixture(scope="module", params=["duckdb", "sqlite", "postgres", "mysql"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    kind = request.param
    if kind == "duckdb":
        source: Source = DuckDBSource(write_duckdb(tmp_path_factory.mktemp("duck") / "shop.duckdb"))
        with source:
            yield Backend(source, "")
    elif kind == "sqlite":
        with SqliteSource(write_sqlite(tmp_path_factory.mktemp("lite") / "shop.sqlite")) as source:
            yield Backend(source, "")
    elif kind == "postgres":
        with postgres_schema() as (url, schema), DatabaseSource(url) as source:
            yield Backend(source, schema + ".")
    else:
        with mysql_database() as (url, database), DatabaseSource(url) as source:
            yield Backend(source, database + ".")


# --- the plans --------------------------------------------------------------------------------


def items(alias: str = "i") -> plan.Scan:
    return p.scan("shop", "items", alias, ITEMS_COLUMNS)


def tags(alias: str = "t") -> plan.Scan:
    return p.scan("shop", "tags", alias, TAGS_COLUMNS)


def ids_where(predicate: Callable[[plan.Node], plan.Expr]) -> plan.Node:
    scan = items()
    filtered = p.filter_(scan, predicate(scan))
    return p.project(filtered, [("id", p.col(filtered, "i.id"))])


def ids_sorted(node: plan.Node) -> plan.Node:
    return p.project(node, [("id", p.col(node, "i.id"))])


def _sorted_by_hidden_key() -> plan.Node:
    scan = items()
    return ids_sorted(p.sort(scan, (p.col(scan, "i.unit-price"), False)))


def _sorted_by_expression() -> plan.Node:
    scan = items()
    return ids_sorted(p.sort(scan, (p.unary("NEG", p.col(scan, "i.score")), False)))


def _stable_sort() -> plan.Node:
    scan = items()
    by_id = p.sort(scan, (p.col(scan, "i.id"), True))
    return ids_sorted(p.sort(by_id, (p.col(by_id, "i.flag"), False)))


def _arithmetic() -> plan.Node:
    scan = items()
    rows = p.filter_(scan, p.in_list(p.col(scan, "i.id"), [p.const(1, INT), p.const(6, INT)]))
    order, price, ident = p.col(rows, "i.order"), p.col(rows, "i.unit-price"), p.col(rows, "i.id")
    return p.project(
        rows,
        [
            ("id", ident),
            ("double", p.binary("*", price, p.const(2, decimal(0)), decimal(2))),
            ("by_zero", p.binary("/", ident, p.const(0, INT))),
            ("mod", p.binary("%", order, p.const(3, INT))),
            ("div", p.binary("DIV", order, p.const(2, INT))),
            ("quarter", p.binary("/", ident, p.const(4, INT))),
            ("neg", p.unary("NEG", order)),
            ("minus", p.binary("-", ident, p.const(-5, INT))),
            ("price_plus", p.binary("+", price, p.const(-125, decimal(2)))),
        ],
    )


def _conditionals() -> plan.Node:
    scan = items()
    name, flag, order = p.col(scan, "i.name"), p.col(scan, "i.flag"), p.col(scan, "i.order")
    return p.project(
        scan,
        [
            ("id", p.col(scan, "i.id")),
            ("name", p.call("COALESCE", name, p.const("none", STRING))),
            (
                "yes",
                p.call("IF", flag, p.const("yes", STRING), p.const("no", STRING), data_type=STRING),
            ),
            (
                "size",
                p.case(
                    [
                        (p.binary(">", order, p.const(2, INT)), p.const("big", STRING)),
                        (p.unary("IS NULL", order), p.const("unknown", STRING)),
                    ],
                    p.const("small", STRING),
                ),
            ),
        ],
    )


def _functions() -> plan.Node:
    scan = items()
    rows = p.filter_(
        scan, p.in_list(p.col(scan, "i.id"), [p.const(1, INT), p.const(4, INT), p.const(6, INT)])
    )
    name, customer = p.col(rows, "i.name"), p.col(rows, "i.客户")
    return p.project(
        rows,
        [
            ("id", p.col(rows, "i.id")),
            ("label", p.call("CONCAT", name, p.const("-", STRING), customer)),
            ("abs", p.call("ABS", p.col(rows, "i.order"))),
            ("price", p.call("CAST", p.col(rows, "i.unit-price"), data_type=FLOAT)),
            ("text", p.call("CAST", p.col(rows, "i.id"), data_type=STRING)),
            ("order_dec", p.call("CAST", p.col(rows, "i.order"), data_type=decimal(2))),
            ("year", p.call("YEAR", p.col(rows, "i.day"), data_type=INT)),
            ("month", p.call("MONTH", p.col(rows, "i.day"), data_type=INT)),
            (
                "is_big",
                p.call(
                    "CAST", p.binary(">", p.col(rows, "i.order"), p.const(1, INT)), data_type=BOOL
                ),
            ),
        ],
    )


def _group_by_strings() -> plan.Node:
    scan = items()
    return p.aggregate(
        scan,
        [("name", p.col(scan, "i.name"))],
        [
            ("n", p.agg("COUNT")),
            ("total", p.agg("SUM", p.col(scan, "i.unit-price"))),
            ("first", p.agg("MIN", p.col(scan, "i.id"))),
            ("best", p.agg("MAX", p.col(scan, "i.score"))),
        ],
    )


def _group_by_chinese() -> plan.Node:
    scan = items()
    return p.aggregate(
        scan,
        [("customer", p.col(scan, "i.客户"))],
        [
            ("n", p.agg("COUNT")),
            ("total", p.agg("SUM", p.col(scan, "i.unit-price"))),
            ("names", p.agg("COUNT", p.col(scan, "i.name"), distinct=True)),
            ("mean", p.agg("AVG", p.col(scan, "i.score"))),
        ],
    )


def _empty_aggregate() -> plan.Node:
    scan = items()
    rows = p.filter_(scan, p.binary(">", p.col(scan, "i.id"), p.const(100, INT)))
    return p.aggregate(
        rows,
        [],
        [
            ("n", p.agg("COUNT")),
            ("total", p.agg("SUM", p.col(rows, "i.unit-price"))),
            ("last", p.agg("MAX", p.col(rows, "i.name"))),
        ],
    )


def _constant_key(where: int) -> plan.Node:
    scan = items()
    rows = p.filter_(scan, p.binary(">", p.col(scan, "i.id"), p.const(where, INT)))
    return p.aggregate(rows, [("one", p.const(1, INT))], [("n", p.agg("COUNT"))])


def _dates() -> plan.Node:
    scan = items()
    rows = p.filter_(scan, p.binary(">=", p.col(scan, "i.day"), p.const(days(2024, 1, 1), DATE)))
    day = p.col(rows, "i.day")
    return p.project(
        rows,
        [
            ("id", p.col(rows, "i.id")),
            ("year", p.call("YEAR", day, data_type=INT)),
            ("month", p.call("MONTH", day, data_type=INT)),
            ("day", day),
        ],
    )


def _join(kind: str, residual: bool = False) -> plan.Node:
    left, right = items(), tags()
    keys = [(p.col(left, "i.id"), p.col(right, "t.item_id"))]
    condition = p.binary("<>", p.col(right, "t.tag"), p.const("red", STRING)) if residual else None
    joined = p.join(left, right, kind, keys, condition)
    if kind in ("semi", "anti"):
        return p.project(joined, [("id", p.col(joined, "i.id"))])
    return p.project(joined, [("id", p.col(joined, "i.id")), ("tag", p.col(joined, "t.tag"))])


def _cross_join() -> plan.Node:
    left, right = items(), tags()
    small = p.filter_(left, p.binary("<=", p.col(left, "i.id"), p.const(2, INT)))
    ones = p.filter_(right, p.binary("=", p.col(right, "t.item_id"), p.const(1, INT)))
    joined = p.join(small, ones, "cross")
    return p.project(joined, [("id", p.col(joined, "i.id")), ("tag", p.col(joined, "t.tag"))])


def _union(all_rows: bool) -> plan.Node:
    left = items()
    names = p.project(left, [("value", p.col(left, "i.name"))])
    if all_rows:
        right = tags()
        ones = p.filter_(right, p.binary("=", p.col(right, "t.item_id"), p.const(1, INT)))
        few = p.filter_(left, p.binary("<=", p.col(left, "i.id"), p.const(2, INT)))
        return p.union(
            p.project(few, [("value", p.col(few, "i.name"))]),
            p.project(ones, [("value", p.col(ones, "t.tag"))]),
            all_rows=True,
        )
    again = items("j")
    return p.union(names, p.project(again, [("value", p.col(again, "j.name"))]), all_rows=False)


def _customers(alias: str = "i") -> plan.Project:
    scan = items(alias)
    return p.project(scan, [("customer", p.col(scan, f"{alias}.客户"))])


def _distinct_sorted() -> plan.Node:
    unique = p.distinct(_customers())
    return p.sort(unique, (p.col(unique, "customer"), False))


def _distinct_over_sorted_input() -> plan.Node:
    scan = items()
    by_id = p.sort(scan, (p.col(scan, "i.id"), True))
    return p.distinct(p.project(by_id, [("customer", p.col(by_id, "i.客户"))]))


def _window(func: str) -> plan.Node:
    scan = items()
    customer, ident = p.col(scan, "i.客户"), p.col(scan, "i.id")
    if func == "ROW_NUMBER":
        ranked = p.window(scan, "rank", func, [customer], [plan.SortKey(ident)])
    else:
        ranked = p.window(scan, "rank", func, [], [plan.SortKey(customer)])
    return p.project(ranked, [("id", p.col(ranked, "i.id")), ("rank", p.col(ranked, "rank"))])


def _limit(count: int | None, offset: int, descending: bool, nulls_first: bool | None) -> plan.Node:
    scan = items()
    key = plan.SortKey(p.col(scan, "i.order"), descending, nulls_first)
    return ids_sorted(p.limit(p.sort(scan, key), count, offset))


def _names_sorted() -> plan.Node:
    scan = items()
    ordered = p.sort(scan, (p.col(scan, "i.name"), False))
    return p.project(ordered, [("id", p.col(ordered, "i.id")), ("name", p.col(ordered, "i.name"))])


def _all_columns() -> plan.Node:
    return items()


EVERY_ITEM = {(1,), (2,), (3,), (4,), (5,), (6,), (7,), (8,)}
Case = tuple[Callable[[], plan.Node], Any, bool]
CASES: dict[str, Case] = {
    "scan every column and type": (_all_columns, None, False),  # compared with the data itself
    "string equality is case-sensitive": (
        lambda: ids_where(lambda s: p.binary("=", p.col(s, "i.name"), p.const("apple", STRING))),
        [(1,)],
        False,
    ),
    "a trailing space counts": (
        lambda: ids_where(lambda s: p.binary("=", p.col(s, "i.name"), p.const("apple ", STRING))),
        [(5,)],
        False,
    ),
    "string order is by code point": (
        lambda: ids_where(lambda s: p.binary("<", p.col(s, "i.name"), p.const("b", STRING))),
        [(1,), (2,), (5,), (8,)],
        False,
    ),
    "quote and backslash literals": (
        lambda: ids_where(
            lambda s: p.in_list(
                p.col(s, "i.name"), [p.const("it's", STRING), p.const("a\\b", STRING)]
            )
        ),
        [(7,), (8,)],
        False,
    ),
    "sort strings, NULL first ascending": (
        _names_sorted,
        [
            (3, None),
            (2, "Apple"),
            (8, "a\\b"),
            (1, "apple"),
            (5, "apple "),
            (4, "banana"),
            (6, "cherry"),
            (7, "it's"),
        ],
        True,
    ),
    "sort descending, NULL last, limit and offset": (
        lambda: _limit(3, 1, True, None),
        [(7,), (1,), (4,)],
        True,
    ),
    "explicit NULLS FIRST descending": (lambda: _limit(2, 0, True, True), [(2,), (5,)], True),
    "offset without a limit": (lambda: _limit(None, 6, False, None), [(7,), (5,)], True),
    "order by a column that is projected away": (
        _sorted_by_hidden_key,
        [(3,), (6,), (8,), (5,), (1,), (2,), (7,), (4,)],
        True,
    ),
    "order by an expression": (
        _sorted_by_expression,
        [(3,), (5,), (7,), (2,), (1,), (6,), (8,), (4,)],
        True,
    ),
    "a later sort is stable over an earlier one": (
        _stable_sort,
        [(3,), (7,), (5,), (2,), (8,), (6,), (4,), (1,)],
        True,
    ),
    "decimal constant and AND with NULL": (
        lambda: ids_where(
            lambda s: p.binary(
                "AND",
                p.binary(">=", p.col(s, "i.unit-price"), p.const(100, decimal(2))),
                p.binary(">", p.col(s, "i.order"), p.const(1, INT)),
            )
        ),
        [(1,), (4,), (7,)],
        False,
    ),
    "NOT of NULL is NULL": (
        lambda: ids_where(
            lambda s: p.unary("NOT", p.binary(">", p.col(s, "i.order"), p.const(2, INT)))
        ),
        [(3,), (4,), (6,), (8,)],
        False,
    ),
    "IS NULL on a Chinese column": (
        lambda: ids_where(lambda s: p.unary("IS NULL", p.col(s, "i.客户"))),
        [(4,)],
        False,
    ),
    "IS NOT NULL": (
        lambda: ids_where(lambda s: p.unary("IS NOT NULL", p.col(s, "i.ts"))),
        [(1,), (3,), (4,), (6,), (7,), (8,)],
        False,
    ),
    "IN with NULL": (
        lambda: ids_where(
            lambda s: p.in_list(
                p.col(s, "i.order"), [p.const(1, INT), p.const(2, INT), p.const(None, INT)]
            )
        ),
        [(3,), (4,)],
        False,
    ),
    "NOT IN with NULL is never true": (
        lambda: ids_where(
            lambda s: p.in_list(
                p.col(s, "i.order"), [p.const(1, INT), p.const(None, INT)], negated=True
            )
        ),
        [],
        False,
    ),
    "a boolean column as the predicate": (
        lambda: ids_where(lambda s: p.col(s, "i.flag")),
        [(1,), (4,), (6,), (8,)],
        False,
    ),
    "float comparison": (
        lambda: ids_where(lambda s: p.binary("<", p.col(s, "i.score"), p.const(0.0, FLOAT))),
        [(4,), (8,)],
        False,
    ),
    "arithmetic: decimals exact, / never integer division, x/0 and x%0 are NULL, DIV truncates": (
        _arithmetic,
        [
            (1, D("3.00"), None, 0, 1, 0.25, -3, 6, D("0.25")),
            (6, D("-7.50"), None, -1, 0, 1.5, 1, 11, D("-5.00")),
        ],
        False,
    ),
    "COALESCE, IF and CASE": (
        _conditionals,
        [
            (1, "apple", "yes", "big"),
            (2, "Apple", "no", "unknown"),
            (3, "none", "no", "small"),
            (4, "banana", "yes", "small"),
            (5, "apple ", "no", "big"),
            (6, "cherry", "yes", "small"),
            (7, "it's", "no", "big"),
            (8, "a\\b", "yes", "small"),
        ],
        False,
    ),
    "functions and casts": (
        _functions,
        [
            (1, "apple-张三", 3, 1.5, "1", D("3.00"), 2024, 1, True),
            (4, None, 2, 10.0, "4", D("2.00"), 2023, 6, True),
            (6, "cherry-李四", 1, -3.75, "6", D("-1.00"), 2022, 12, False),
        ],
        False,
    ),
    "GROUP BY strings is case- and space-sensitive": (
        _group_by_strings,
        [
            (None, 1, None, 3, None),
            ("apple", 1, D("1.50"), 1, 0.5),
            ("Apple", 1, D("2.25"), 2, 1.25),
            ("apple ", 1, D("0.05"), 5, 3.0),
            ("banana", 1, D("10.00"), 4, -2.0),
            ("cherry", 1, D("-3.75"), 6, 0.0),
            ("it's", 1, D("7.10"), 7, 2.5),
            ("a\\b", 1, D("0.00"), 8, -0.5),
        ],
        False,
    ),
    "GROUP BY a Chinese column: COUNT, SUM, COUNT DISTINCT, AVG": (
        _group_by_chinese,
        [
            ("张三", 3, D("8.60"), 2, 1.5),
            ("李四", 2, D("-1.50"), 2, 0.625),
            ("王五", 2, D("0.05"), 2, 1.25),
            (None, 1, D("10.00"), 1, -2.0),
        ],
        False,
    ),
    "aggregate of nothing": (_empty_aggregate, [(0, None, None)], False),
    "constant group key": (lambda: _constant_key(0), [(1, 8)], False),
    "constant group key, no rows": (lambda: _constant_key(100), [], False),
    "dates: compare, YEAR, MONTH": (
        _dates,
        [
            (1, 2024, 1, dt.date(2024, 1, 1)),
            (2, 2024, 2, dt.date(2024, 2, 29)),
            (5, 2024, 1, dt.date(2024, 1, 1)),
            (7, 2024, 3, dt.date(2024, 3, 1)),
            (8, 2024, 1, dt.date(2024, 1, 2)),
        ],
        False,
    ),
    "timestamps before": (
        lambda: ids_where(
            lambda s: p.binary("<", p.col(s, "i.ts"), p.const(micros(2024, 1, 1, 8), TIMESTAMP))
        ),
        [(3,), (6,)],
        False,
    ),
    "timestamps after, to the microsecond": (
        lambda: ids_where(
            lambda s: p.binary(">", p.col(s, "i.ts"), p.const(micros(2024, 1, 2), TIMESTAMP))
        ),
        [(4,), (7,), (8,)],
        False,
    ),
    "inner join": (
        lambda: _join("inner"),
        [(1, "red"), (1, "fruit"), (2, "red"), (4, "yellow")],
        False,
    ),
    "inner join with a residual condition": (
        lambda: _join("inner", True),
        [(1, "fruit"), (4, "yellow")],
        False,
    ),
    "left join": (
        lambda: _join("left"),
        [
            (1, "red"),
            (1, "fruit"),
            (2, "red"),
            (3, None),
            (4, "yellow"),
            (5, None),
            (6, None),
            (7, None),
            (8, None),
        ],
        False,
    ),
    "right join": (
        lambda: _join("right"),
        [(1, "red"), (1, "fruit"), (2, "red"), (4, "yellow"), (None, "none"), (None, "x")],
        False,
    ),
    "full outer join (emulated in MySQL)": (
        lambda: _join("full"),
        [
            (1, "red"),
            (1, "fruit"),
            (2, "red"),
            (3, None),
            (4, "yellow"),
            (5, None),
            (6, None),
            (7, None),
            (8, None),
            (None, "none"),
            (None, "x"),
        ],
        False,
    ),
    "semi join": (lambda: _join("semi"), [(1,), (2,), (4,)], False),
    "anti join": (lambda: _join("anti"), [(3,), (5,), (6,), (7,), (8,)], False),
    "cross join": (_cross_join, [(1, "red"), (1, "fruit"), (2, "red"), (2, "fruit")], False),
    "UNION ALL": (lambda: _union(True), [("apple",), ("Apple",), ("red",), ("fruit",)], False),
    "UNION removes duplicates, NULL once": (
        lambda: _union(False),
        [
            (None,),
            ("apple",),
            ("Apple",),
            ("apple ",),
            ("banana",),
            ("cherry",),
            ("it's",),
            ("a\\b",),
        ],
        False,
    ),
    "DISTINCT then ORDER BY (Chinese by code point)": (
        _distinct_sorted,
        [(None,), ("张三",), ("李四",), ("王五",)],
        True,
    ),
    "DISTINCT keeps the input's order by its first row": (
        _distinct_over_sorted_input,
        [("王五",), ("张三",), ("李四",), (None,)],
        True,
    ),
    "ROW_NUMBER over a partition": (
        lambda: _window("ROW_NUMBER"),
        [(1, 1), (3, 2), (7, 3), (2, 1), (6, 2), (5, 1), (8, 2), (4, 1)],
        False,
    ),
    "RANK with NULL first": (
        lambda: _window("RANK"),
        [(4, 1), (1, 2), (3, 2), (7, 2), (2, 5), (6, 5), (5, 7), (8, 7)],
        False,
    ),
}


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((value is None, repr(value)) for value in row)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_pushdown_gives_the_expected_rows(backend: Backend, case: str) -> None:
    build, expected, ordered = CASES[case]
    node = build()
    if expected is None:
        expected = ITEMS
    got = backend.rows(node)
    if ordered:
        assert got == expected, backend.sql(node)
    else:
        assert sorted(got, key=_key) == sorted(expected, key=_key), backend.sql(node)


# --- scalar functions -------------------------------------------------------------------------


def three(build: Callable[[plan.Node], plan.Expr]) -> plan.Node:
    """``SELECT id, <expression> FROM items WHERE id IN (1, 4, 6)``."""
    scan = items()
    ids = [p.const(1, INT), p.const(4, INT), p.const(6, INT)]
    rows = p.filter_(scan, p.in_list(p.col(scan, "i.id"), ids))
    return p.project(rows, [("id", p.col(rows, "i.id")), ("value", build(rows))])


def fn(name: str, *args: Callable[[plan.Node], plan.Expr], data_type: Any = None):
    return lambda rows: p.call(name, *(arg(rows) for arg in args), data_type=data_type)


def c(name: str) -> Callable[[plan.Node], plan.Expr]:
    return lambda rows: p.col(rows, f"i.{name}")


def k(value: Any, data_type: Any) -> Callable[[plan.Node], plan.Expr]:
    return lambda _: p.const(value, data_type)


NULL_STRING = k(None, STRING)
# Rows 1, 4, 6: order 3, 2, -1; unit-price 1.50, 10.00, -3.75; score 0.5, -2.0, 0.0;
# day 2024-01-01 (Mon), 2023-06-15 (Thu), 2022-12-31 (Sat); ts 08:00, 00:00, 12:00;
# name apple, banana, cherry; 客户 张三, NULL, 李四.
FUNCTIONS: dict[str, tuple[Callable[[plan.Node], plan.Expr], list[Any], set[str]]] = {
    "SIGN": (fn("SIGN", c("order"), data_type=INT), [1, 1, -1], set()),
    "ROUND decimal, half away from zero": (
        fn("ROUND", c("unit-price"), k(1, INT), data_type=decimal(1)),
        [D("1.5"), D("10.0"), D("-3.8")],
        {"sqlite"},
    ),
    "ROUND to tens": (fn("ROUND", c("order"), k(-1, INT), data_type=INT), [0, 0, 0], {"sqlite"}),
    "ROUND of a float is not pushed": (
        fn("ROUND", c("score"), k(0, INT), data_type=FLOAT),
        [],
        {"duckdb", "sqlite", "postgres", "mysql"},
    ),
    "CEIL": (fn("CEIL", c("unit-price"), data_type=INT), [2, 10, -3], set()),
    "FLOOR": (fn("FLOOR", c("unit-price"), data_type=INT), [1, 10, -4], set()),
    "SQRT, NULL below zero": (
        fn("SQRT", c("score"), data_type=FLOAT),
        [0.5**0.5, None, 0.0],
        set(),
    ),
    "LN, NULL at zero": (
        fn("LN", c("score"), data_type=FLOAT),
        [-0.6931471805599453, None, None],
        set(),
    ),
    "LOG base 2": (
        fn("LOG", k(2, INT), c("order"), data_type=FLOAT),
        [1.5849625007211563, 1.0, None],
        set(),
    ),
    "POWER, NULL for a root of a negative": (
        fn("POWER", c("score"), k(0.5, FLOAT), data_type=FLOAT),
        [0.5**0.5, None, 0.0],
        set(),
    ),
    "EXP": (
        fn("EXP", c("order"), data_type=FLOAT),
        [20.085536923187668, 7.38905609893065, 0.36787944117144233],
        set(),
    ),
    "GREATEST": (fn("GREATEST", c("order"), k(2, INT), data_type=INT), [3, 2, 2], set()),
    "LEAST is NULL when an argument is": (
        fn("LEAST", c("name"), c("客户"), data_type=STRING),
        ["apple", None, "cherry"],
        set(),
    ),
    "DAY": (fn("DAY", c("day"), data_type=INT), [1, 15, 31], set()),
    "HOUR": (fn("HOUR", c("ts"), data_type=INT), [8, 0, 12], set()),
    "QUARTER": (fn("QUARTER", c("day"), data_type=INT), [1, 2, 4], set()),
    "DAYOFWEEK from Sunday = 1": (fn("DAYOFWEEK", c("day"), data_type=INT), [2, 5, 7], set()),
    "DATEDIFF": (
        fn("DATEDIFF", c("day"), k(days(2023, 1, 1), DATE), data_type=INT),
        [365, 165, -1],
        set(),
    ),
    "DATE_ADD months clamps to the month's end": (
        fn("DATE_ADD", k(days(2024, 1, 31), DATE), c("order"), k("MONTH", STRING), data_type=DATE),
        [dt.date(2024, 4, 30), dt.date(2024, 3, 31), dt.date(2023, 12, 31)],
        {"sqlite"},
    ),
    "DATE_ADD hours": (
        fn("DATE_ADD", c("ts"), c("order"), k("HOUR", STRING), data_type=TIMESTAMP),
        [dt.datetime(2024, 1, 1, 11), dt.datetime(2024, 6, 1, 2), dt.datetime(2022, 12, 31, 11)],
        {"sqlite"},
    ),
    "LIKE is case-sensitive": (
        fn("LIKE", c("name"), k("_pple", STRING), NULL_STRING, data_type=BOOL),
        [True, False, False],
        {"sqlite"},
    ),
    "LIKE with an escape character": (
        fn("LIKE", c("name"), k("a!pple", STRING), k("!", STRING), data_type=BOOL),
        [True, False, False],
        {"sqlite"},
    ),
    "LIKE escapes with a backslash by default": (
        fn("LIKE", c("name"), k("b\\anana", STRING), NULL_STRING, data_type=BOOL),
        [False, True, False],
        {"sqlite"},
    ),
    "LIKE does not match another case": (
        fn("LIKE", c("name"), k("A%", STRING), NULL_STRING, data_type=BOOL),
        [False, False, False],
        {"sqlite"},
    ),
    "UPPER": (fn("UPPER", c("name"), data_type=STRING), ["APPLE", "BANANA", "CHERRY"], {"sqlite"}),
    "CHAR_LENGTH of Chinese": (fn("CHAR_LENGTH", c("客户"), data_type=INT), [2, None, 2], set()),
    "LENGTH in bytes": (fn("LENGTH", c("客户"), data_type=INT), [6, None, 6], set()),
    "SUBSTRING": (
        fn("SUBSTRING", c("name"), k(2, INT), k(3, INT), data_type=STRING),
        ["ppl", "ana", "her"],
        set(),
    ),
    "SUBSTRING to the end": (
        fn("SUBSTRING", c("客户"), k(2, INT), data_type=STRING),
        ["三", None, "四"],
        set(),
    ),
    "SUBSTRING from the end is not pushed": (
        fn("SUBSTRING", c("name"), k(-2, INT), data_type=STRING),
        [],
        {"duckdb", "sqlite", "postgres", "mysql"},
    ),
    "CAST decimal to INT rounds half away": (
        fn("CAST", c("unit-price"), data_type=INT),
        [2, 10, -4],
        set(),
    ),
    "CAST float to INT rounds half away": (
        fn("CAST", c("score"), data_type=INT),
        [1, -2, 0],
        set(),
    ),
    "CAST bool to INT": (fn("CAST", c("flag"), data_type=INT), [1, 1, 1], set()),
    "CAST date to TIMESTAMP": (
        fn("CAST", c("day"), data_type=TIMESTAMP),
        [dt.datetime(2024, 1, 1), dt.datetime(2023, 6, 15), dt.datetime(2022, 12, 31)],
        set(),
    ),
    "CAST date to STRING": (
        fn("CAST", c("day"), data_type=STRING),
        ["2024-01-01", "2023-06-15", "2022-12-31"],
        set(),
    ),
    "CAST float to STRING is not pushed": (
        fn("CAST", c("score"), data_type=STRING),
        [],
        {"duckdb", "sqlite", "postgres", "mysql"},
    ),
    "an unknown function is not pushed": (
        fn("SOUNDEX", c("name"), data_type=STRING),
        [],
        {"duckdb", "sqlite", "postgres", "mysql"},
    ),
}


@pytest.mark.parametrize("case", list(FUNCTIONS), ids=list(FUNCTIONS))
def test_functions_mean_the_same_in_every_engine(backend: Backend, case: str) -> None:
    build, expected, refused = FUNCTIONS[case]
    node = three(build)
    if backend.source.dialect in refused:
        with pytest.raises(UnsupportedSql):
            backend.sql(node)
        return
    got = sorted(backend.rows(node))
    values = [value for _, value in got]
    assert [row[0] for row in got] == [1, 4, 6]
    if node.fields[1].type.kind is FLOAT.kind:
        assert values == [pytest.approx(v, rel=1e-12) if v is not None else None for v in expected]
    else:
        assert values == expected, backend.sql(node)
