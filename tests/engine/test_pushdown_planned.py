"""Pushdown of plans the planner builds from SQL, against the plaintext reference executor.

The same queries run two ways: ``Space.run_local`` (the whole plan as one query inside DuckDB,
SQLite, PostgreSQL or MariaDB) and ``shuyu.engine.reference.execute`` over the same rows in
Python; the results must agree (as multisets, or in order where the query sorts).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shuyu.engine.data import ColumnData, TableData
from shuyu.engine.reference import execute
from shuyu.engine.space import Space, SpaceSpec, TableSpec, open_space
from shuyu.errors import UnsupportedSql
from shuyu.sql.bind import bind
from shuyu.sql.catalog import TypeKind
from shuyu.sql.parse import parse

from .databases import TABLES, mysql_database, postgres_schema, write_duckdb, write_sqlite

# Queries whose ORDER BY fixes the order of every row are compared in order.
ORDERED = {
    "SELECT id, name FROM shop.items WHERE name < 'b' ORDER BY name DESC, id",
    "SELECT DISTINCT `客户` FROM shop.items ORDER BY `客户` LIMIT 3",
    "SELECT id, ts FROM shop.items WHERE ts > '2024-01-01 08:00:00' ORDER BY ts DESC LIMIT 2",
}
QUERIES = [
    "SELECT name, COUNT(*) AS n, SUM(`unit-price`) AS total FROM shop.items GROUP BY name",
    "SELECT id, name FROM shop.items WHERE name < 'b' ORDER BY name DESC, id",
    "SELECT i.id, t.tag FROM shop.items i LEFT JOIN shop.tags t ON i.id = t.item_id",
    "SELECT i.id, t.tag FROM shop.items i FULL OUTER JOIN shop.tags t ON i.id = t.item_id",
    "SELECT `客户`, AVG(score) AS mean, AVG(`order`) AS o FROM shop.items GROUP BY `客户`",
    "SELECT id FROM shop.items WHERE `order` NOT IN (1, 2)",
    "SELECT DISTINCT `客户` FROM shop.items ORDER BY `客户` LIMIT 3",
    "SELECT id, CASE WHEN `order` > 2 THEN 'big' WHEN `order` IS NULL THEN '?' ELSE 'small' END "
    "AS size FROM shop.items",
    "SELECT id, YEAR(day) AS y, DATEDIFF(day, '2023-01-01') AS d FROM shop.items "
    "WHERE day >= '2024-01-01'",
    "SELECT id FROM shop.items WHERE id IN (SELECT item_id FROM shop.tags)",
    "SELECT id FROM shop.items WHERE id NOT IN (SELECT item_id FROM shop.tags WHERE item_id < 3)",
    "SELECT name FROM shop.items UNION SELECT tag FROM shop.tags",
    "SELECT id, ROW_NUMBER() OVER (PARTITION BY `客户` ORDER BY id) AS rn FROM shop.items",
    "SELECT COUNT(*) AS n FROM shop.items WHERE `unit-price` * 2 > 3.00 AND flag",
    "SELECT id, `unit-price` / 4 AS q, `order` DIV 2 AS d, `order` % 2 AS m FROM shop.items",
    "SELECT id, COALESCE(name, `客户`) AS who, GREATEST(`order`, 2) AS g FROM shop.items",
    "SELECT id, ts FROM shop.items WHERE ts > '2024-01-01 08:00:00' ORDER BY ts DESC LIMIT 2",
    "SELECT tag, COUNT(DISTINCT item_id) AS n FROM shop.tags GROUP BY tag HAVING COUNT(*) > 1",
    "SELECT id, CAST(`unit-price` AS SIGNED) AS whole, CAST(score AS SIGNED) AS s FROM shop.items",
]


def reference_tables() -> dict[tuple[str, str], TableData]:
    tables = {}
    for name, (columns, rows) in TABLES.items():
        data = {
            column: ColumnData.from_python(data_type, [row[i] for row in rows])
            for i, (column, data_type) in enumerate(columns)
        }
        tables[("shop", name)] = TableData(len(rows), data)
    return tables


@pytest.fixture(scope="module", params=["duckdb", "sqlite", "postgres", "mysql"])
def space(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Space]:
    kind = request.param
    directory = tmp_path_factory.mktemp(kind)

    def opened(source: str, prefix: str = "") -> Space:
        tables = {
            ("shop", name): TableSpec("shop", name, source, prefix + name, f"shop.{name}")
            for name in TABLES
        }
        return open_space(SpaceSpec(("shop",), tables, (), {"group_min_size": 1}, directory))

    if kind == "duckdb":
        with opened(str(write_duckdb(directory / "shop.duckdb"))) as result:
            yield result
    elif kind == "sqlite":
        with opened(str(write_sqlite(directory / "shop.sqlite"))) as result:
            yield result
    elif kind == "postgres":
        with postgres_schema() as (url, schema), opened(url, schema + ".") as result:
            yield result
    else:
        with mysql_database() as (url, database), opened(url, database + ".") as result:
            yield result


def normalised(row: tuple[Any, ...], types: list[Any]) -> tuple[Any, ...]:
    return tuple(
        round(value, 9) if value is not None and kind is TypeKind.FLOAT else value
        for value, kind in zip(row, types, strict=True)
    )


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((value is None, repr(value)) for value in row)


@pytest.mark.parametrize("sql", QUERIES)
def test_pushdown_agrees_with_the_reference_executor(space: Space, sql: str) -> None:
    query = bind(parse(sql), space.catalog, sql)
    expected = execute(query, reference_tables())
    try:
        table = space.run_local(query.root)
    except UnsupportedSql:
        dialect = space.source("shop", "items").dialect
        assert dialect == "sqlite", f"{dialect} could not push down {sql}"
        pytest.skip(f"SQLite cannot say this with the same meaning: {sql}")
    columns = [column.to_python() for column in table.columns.values()]
    got = list(zip(*columns, strict=True))
    kinds = [item.type.kind for item in query.root.fields]
    got = [normalised(row, kinds) for row in got]
    want = [normalised(row, kinds) for row in expected.rows]
    if sql in ORDERED:
        assert got == want
    else:
        assert sorted(got, key=_key) == sorted(want, key=_key)
