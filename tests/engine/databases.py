"""Test data in every kind of source: DuckDB, SQLite, and the real PostgreSQL and MariaDB servers.

The servers are found through ``SHUYU_TEST_PG_URL`` and ``SHUYU_TEST_MYSQL_URL`` (``.ci/run``
sets both); a test that needs one skips, saying which variable to set, when it is unset. Each
user of a server gets a fresh schema (PostgreSQL) or database (MariaDB) with a random name,
dropped afterwards.

The tables are deliberately awkward: columns named ``order`` (a keyword), ``unit-price`` (a
hyphen) and ``客户`` (Chinese); strings that differ only in case or a trailing space, a quote
and a backslash; NULLs in every column but the key. String columns use a case-insensitive
collation where the server has one (``utf8mb4_general_ci`` in MariaDB, ICU's root collation in
PostgreSQL), so results that depend on code-point comparison prove the pushdown fixed it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from shuyu.sql.catalog import BOOL, DATE, FLOAT, INT, STRING, TIMESTAMP, DataType, decimal

PG_ENV = "SHUYU_TEST_PG_URL"
MYSQL_ENV = "SHUYU_TEST_MYSQL_URL"
EXAMPLES = {
    PG_ENV: "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    MYSQL_ENV: "mysql+pymysql://root@127.0.0.1:3306/test",
}

D = Decimal
ITEMS_COLUMNS: list[tuple[str, DataType]] = [
    ("id", DataType(INT.kind, nullable=False)),
    ("name", STRING),
    ("order", INT),
    ("unit-price", decimal(2)),
    ("客户", STRING),
    ("day", DATE),
    ("ts", TIMESTAMP),
    ("flag", BOOL),
    ("score", FLOAT),
]
ITEMS: list[tuple[Any, ...]] = [
    (1, "apple", 3, D("1.50"), "张三", dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 8), True, 0.5),
    (2, "Apple", None, D("2.25"), "李四", dt.date(2024, 2, 29), None, False, 1.25),
    (3, None, 1, None, "张三", None, dt.datetime(2023, 12, 31, 23, 59, 59, 500000), None, None),
    (4, "banana", 2, D("10.00"), None, dt.date(2023, 6, 15), dt.datetime(2024, 6, 1), True, -2.0),
    (5, "apple ", 5, D("0.05"), "王五", dt.date(2024, 1, 1), None, False, 3.0),
    (
        6,
        "cherry",
        -1,
        D("-3.75"),
        "李四",
        dt.date(2022, 12, 31),
        dt.datetime(2022, 12, 31, 12),
        True,
        0.0,
    ),
    (
        7,
        "it's",
        4,
        D("7.10"),
        "张三",
        dt.date(2024, 3, 1),
        dt.datetime(2024, 3, 1, 9, 30),
        False,
        2.5,
    ),
    (
        8,
        "a\\b",
        0,
        D("0.00"),
        "王五",
        dt.date(2024, 1, 2),
        dt.datetime(2024, 1, 2, 0, 0, 0, 1),
        True,
        -0.5,
    ),
]
TAGS_COLUMNS: list[tuple[str, DataType]] = [("item_id", INT), ("tag", STRING)]
TAGS: list[tuple[Any, ...]] = [
    (1, "red"),
    (1, "fruit"),
    (2, "red"),
    (4, "yellow"),
    (9, "none"),
    (None, "x"),
]
TABLES = {"items": (ITEMS_COLUMNS, ITEMS), "tags": (TAGS_COLUMNS, TAGS)}


def server_url(variable: str) -> str:
    url = os.environ.get(variable)
    if not url:
        server = "PostgreSQL" if variable == PG_ENV else "MySQL/MariaDB"
        example = EXAMPLES[variable]
        pytest.skip(
            f"{variable} is not set: these tests need a {server} server "
            f"(e.g. {variable}={example}; .ci/run sets it)"
        )
    return url


def _sa_type(data_type: DataType, backend: str, string_collation: str | None) -> Any:
    kind = data_type.kind.value
    if kind == "INT":
        return sa.BigInteger()
    if kind == "DECIMAL":
        return sa.Numeric(10, data_type.scale)
    if kind == "FLOAT":
        return sa.Double()
    if kind == "STRING":
        return sa.String(100, collation=string_collation)
    if kind == "DATE":
        return sa.Date()
    if kind == "TIMESTAMP":
        return mysql.DATETIME(fsp=6) if backend == "mysql" else sa.DateTime()
    return sa.Boolean()


def load_tables(engine: sa.Engine, schema: str | None, backend: str, collation: str | None) -> None:
    metadata = sa.MetaData(schema=schema)
    for name, (columns, rows) in TABLES.items():
        table = sa.Table(
            name,
            metadata,
            *[
                sa.Column(
                    column, _sa_type(data_type, backend, collation), nullable=data_type.nullable
                )
                for column, data_type in columns
            ],
        )
        metadata.create_all(engine, tables=[table])
        with engine.begin() as connection:
            connection.execute(
                table.insert(),
                [dict(zip([c for c, _ in columns], row, strict=True)) for row in rows],
            )


@contextmanager
def postgres_schema() -> Iterator[tuple[str, str]]:
    """A fresh schema holding the test tables: yields (URL, schema)."""
    url = server_url(PG_ENV)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    schema = f"shuyu_test_{secrets.token_hex(4)}"
    with engine.begin() as connection:
        connection.execute(sa.schema.CreateSchema(schema))
        icu = connection.execute(
            sa.text("SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'")
        ).first()
    try:
        load_tables(engine, schema, "postgres", "und-x-icu" if icu else None)
        yield url, schema
    finally:
        with engine.begin() as connection:
            connection.execute(sa.schema.DropSchema(schema, cascade=True))
        engine.dispose()


@contextmanager
def mysql_database() -> Iterator[tuple[str, str]]:
    """A fresh database holding the test tables: yields (URL, database)."""
    url = server_url(MYSQL_ENV)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    database = f"shuyu_test_{secrets.token_hex(4)}"
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
        )
    try:
        load_tables(engine, database, "mysql", None)
        yield url, database
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP DATABASE `{database}`")
        engine.dispose()


def write_sqlite(path: Path) -> Path:
    """The test tables in a SQLite file, with declared types."""
    declared = {
        "INT": "INTEGER",
        "DECIMAL": "DECIMAL(10,2)",
        "FLOAT": "REAL",
        "STRING": "TEXT",
        "DATE": "DATE",
        "TIMESTAMP": "DATETIME",
        "BOOL": "BOOLEAN",
    }
    connection = sqlite3.connect(path)
    for name, (columns, rows) in TABLES.items():
        definition = ", ".join(
            f'"{column}" {declared[data_type.kind.value]}'
            + ("" if data_type.nullable else " NOT NULL")
            + (" COLLATE NOCASE" if data_type.kind.value == "STRING" else "")
            for column, data_type in columns
        )
        connection.execute(f'CREATE TABLE "{name}" ({definition})')
        marks = ", ".join("?" for _ in columns)
        connection.executemany(
            f'INSERT INTO "{name}" VALUES ({marks})',
            [tuple(map(_sqlite_value, row)) for row in rows],
        )
    connection.commit()
    connection.close()
    return path


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def write_duckdb(path: Path) -> Path:
    """The test tables in a DuckDB database file."""
    declared = {
        "INT": "BIGINT",
        "DECIMAL": "DECIMAL(10,2)",
        "FLOAT": "DOUBLE",
        "STRING": "VARCHAR",
        "DATE": "DATE",
        "TIMESTAMP": "TIMESTAMP",
        "BOOL": "BOOLEAN",
    }
    connection = duckdb.connect(str(path))
    for name, (columns, rows) in TABLES.items():
        definition = ", ".join(
            f'"{column}" {declared[data_type.kind.value]}'
            + ("" if data_type.nullable else " NOT NULL")
            for column, data_type in columns
        )
        connection.execute(f'CREATE TABLE "{name}" ({definition})')
        marks = ", ".join("?" for _ in columns)
        connection.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows)
    connection.close()
    return path
