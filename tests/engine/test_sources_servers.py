"""Sources on real servers: PostgreSQL and MariaDB (SHUYU_TEST_PG_URL, SHUYU_TEST_MYSQL_URL).

Each module-scoped fixture creates its own schema or database and drops it afterwards; tests skip,
naming the variable, when a server is not configured.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from shuyu.engine.pushdown import local_sql
from shuyu.engine.sources import DatabaseSource, open_source
from shuyu.errors import SourceError, SourceUnavailable
from shuyu.sql.catalog import BOOL, DATE, FLOAT, INT, STRING, TIMESTAMP, decimal

from . import plans as p
from .databases import (
    ITEMS,
    ITEMS_COLUMNS,
    MYSQL_ENV,
    PG_ENV,
    mysql_database,
    postgres_schema,
    server_url,
)

PASSWORD = "Pw-s3cret-7f3a"


def with_password(url: str, *, port: int | None = None, user: str | None = None) -> str:
    parsed = make_url(url).set(password=PASSWORD)
    if port is not None:
        parsed = parsed.set(port=port)
    if user is not None:
        parsed = parsed.set(username=user)
    return parsed.render_as_string(hide_password=False)


def assert_no_password(error: BaseException) -> None:
    for text in (str(error), repr(error), getattr(error, "hint", "")):
        assert PASSWORD not in text


def rows_of(source, sql, types=None):
    table = source.run(sql, types)
    return [
        tuple(row) for row in zip(*(c.to_python() for c in table.columns.values()), strict=True)
    ]


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[DatabaseSource, str, str]]:
    with postgres_schema() as (url, schema):
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f'CREATE TABLE "{schema}".odd ("Name" TEXT, amount NUMERIC(12,4), loose NUMERIC, '
                "seen TIMESTAMPTZ, token UUID, code CHAR(3), small SMALLINT NOT NULL, ratio REAL)"
            )
            connection.exec_driver_sql(
                f"INSERT INTO \"{schema}\".odd VALUES ('Zoë', 12.3456, 1.5, "
                "'2024-01-01 08:00:00+08', '7b0f2d4c-0000-4000-8000-000000000001', 'ab', 1, 0.5)"
            )
            connection.exec_driver_sql(f'CREATE TABLE "{schema}".blobs (id INT, data BYTEA)')
            connection.exec_driver_sql(f'CREATE TABLE "{schema}".twins ("Amount" INT, amount INT)')
        engine.dispose()
        with DatabaseSource(url) as source:
            yield source, url, schema


def test_postgres_schema_maps_types(postgres):
    source, _, schema = postgres
    assert source.dialect == "postgres" and source.collation == "C"
    assert [(c.name, c.type) for c in source.schema(f"{schema}.items")] == ITEMS_COLUMNS
    odd = {c.name: c.type for c in source.schema(f"{schema}.odd")}
    assert odd == {
        "name": STRING,
        "amount": decimal(4),
        "loose": FLOAT,  # NUMERIC without a scale
        "seen": TIMESTAMP,
        "token": STRING,
        "code": STRING,
        "small": INT.__class__(INT.kind, nullable=False),
        "ratio": FLOAT,
    }
    assert source.column_names(f"{schema}.odd") == {"name": "Name"}


def test_postgres_values_in_utc_and_exact(postgres):
    source, _, schema = postgres
    got = rows_of(
        source,
        f'SELECT "Name", amount, seen, token, code FROM "{schema}".odd',
        [STRING, decimal(4), TIMESTAMP, STRING, STRING],
    )
    assert got == [
        (
            "Zoë",
            Decimal("12.3456"),
            dt.datetime(2024, 1, 1, 0),
            "7b0f2d4c-0000-4000-8000-000000000001",
            "ab ",
        )
    ]
    types = [data_type for _, data_type in ITEMS_COLUMNS]
    assert rows_of(source, f'SELECT * FROM "{schema}".items ORDER BY id', types) == ITEMS


def test_postgres_unreadable_and_missing(postgres):
    source, _, schema = postgres
    with pytest.raises(SourceError, match=r"column data of .*blobs.* has type BYTEA"):
        source.schema(f"{schema}.blobs")
    with pytest.raises(SourceError, match="differ only in case"):
        source.schema(f"{schema}.twins")
    with pytest.raises(SourceError, match="no table"):
        source.schema(f"{schema}.loans")


def test_postgres_is_read_only_and_percent_is_literal(postgres):
    source, _, schema = postgres
    with pytest.raises(SourceError, match="read-only transaction"):
        source.run(f'DELETE FROM "{schema}".items')
    assert rows_of(source, "SELECT 7 % 3 AS a, 'a%sb' AS b, 'x\\y' AS c") == [(1, "a%sb", "x\\y")]
    assert source.estimate_rows(f"{schema}.items") == len(ITEMS)


def test_postgres_refused_port_fails_fast_without_the_password():
    url = with_password(server_url(PG_ENV), port=1)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as raised:
        open_source(url, connect_timeout_s=3)
    assert time.monotonic() - started < 5
    assert "127.0.0.1" in raised.value.message or "localhost" in raised.value.message
    assert "***" in raised.value.message
    assert_no_password(raised.value)


def test_postgres_unknown_role_and_database_are_unavailable():
    url = server_url(PG_ENV)
    with pytest.raises(SourceUnavailable, match="shuyu_nobody") as raised:
        open_source(with_password(url, user="shuyu_nobody"))
    assert_no_password(raised.value)
    missing = make_url(url).set(database="shuyu_no_such_db").render_as_string(hide_password=False)
    with pytest.raises(SourceUnavailable, match="shuyu_no_such_db"):
        open_source(missing)


def test_postgres_url_without_driver_uses_an_installed_one():
    url = make_url(server_url(PG_ENV)).set(drivername="postgresql")
    with open_source(url.render_as_string(hide_password=False)) as source:
        assert rows_of(source, "SELECT 1") == [(1,)]


def test_a_password_never_shows(postgres):
    _, url, _ = postgres
    with DatabaseSource(with_password(url)) as source:  # trust auth accepts any password
        assert PASSWORD not in source.label and PASSWORD not in repr(source)
        with pytest.raises(SourceError) as raised:
            source.run(f"SELECT '{PASSWORD}' + 1")
        assert_no_password(raised.value)


# --- MariaDB / MySQL ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mariadb() -> Iterator[tuple[DatabaseSource, str, str]]:
    with mysql_database() as (url, database):
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE TABLE `{database}`.odd (yes TINYINT(1), small TINYINT, "
                "amount DECIMAL(14,4) NOT NULL, seen DATETIME, day DATE, name VARCHAR(20) "
                "CHARACTER SET latin1, doc JSON, born YEAR, size ENUM('s', 'm'))"
            )
            connection.exec_driver_sql(
                f"INSERT INTO `{database}`.odd VALUES (1, 7, 1.2345, '2024-01-01 08:00:00', "
                "'2024-02-29', 'Zoë', '{}', 1999, 'm')"
            )
            connection.exec_driver_sql(f"CREATE TABLE `{database}`.blobs (id INT, data BLOB)")
        engine.dispose()
        with DatabaseSource(url) as source:
            yield source, url, database


def test_mariadb_schema_maps_types(mariadb):
    source, _, database = mariadb
    assert source.dialect == "mysql"
    assert source.collation in ("utf8mb4_nopad_bin", "utf8mb4_0900_bin", "utf8mb4_bin")
    assert [(c.name, c.type) for c in source.schema(f"{database}.items")] == [
        # MySQL's BOOLEAN is TINYINT(1): read as BOOL.
        (name, data_type)
        for name, data_type in ITEMS_COLUMNS
    ]
    odd = {c.name: c.type for c in source.schema(f"{database}.odd")}
    assert odd["yes"] == BOOL and odd["small"] == INT and odd["day"] == DATE
    assert odd["amount"] == decimal(4).__class__(decimal(4).kind, 4, nullable=False)
    assert odd["seen"] == TIMESTAMP and odd["name"] == STRING
    assert odd["born"] == INT and odd["size"] == STRING


def test_mariadb_values_and_latin1_strings(mariadb):
    source, _, database = mariadb
    got = rows_of(
        source,
        f"SELECT yes, amount, seen, name, born, size FROM `{database}`.odd",
        [BOOL, decimal(4), TIMESTAMP, STRING, INT, STRING],
    )
    assert got == [(True, Decimal("1.2345"), dt.datetime(2024, 1, 1, 8), "Zoë", 1999, "m")]
    types = [data_type for _, data_type in ITEMS_COLUMNS]
    assert rows_of(source, f"SELECT * FROM `{database}`.items ORDER BY id", types) == ITEMS


def test_mariadb_pushdown_on_a_latin1_column(mariadb):
    source, _, database = mariadb
    scan = p.scan("shop", "odd", "o", [("name", STRING), ("born", INT)])
    node = p.filter_(scan, p.binary("=", p.col(scan, "o.name"), p.const("Zoë", STRING)))
    names = {("shop", "odd"): f"{database}.odd"}
    sql = local_sql(node, "mysql", names, collation=source.collation)
    assert "CHARACTER SET utf8mb4" in sql
    assert rows_of(source, sql, [STRING, INT]) == [("Zoë", 1999)]
    lower = p.filter_(scan, p.binary("=", p.col(scan, "o.name"), p.const("zoë", STRING)))
    sql = local_sql(
        lower, "mysql", {("shop", "odd"): f"{database}.odd"}, collation=source.collation
    )
    assert rows_of(source, sql, [STRING, INT]) == []


def test_mariadb_unreadable_types_and_read_only(mariadb):
    source, _, database = mariadb
    with pytest.raises(SourceError, match="column data of"):
        source.schema(f"{database}.blobs")
    with pytest.raises(SourceError, match=r"READ ONLY|read only|read-only"):
        source.run(f"DELETE FROM `{database}`.items")
    # '%' is not a placeholder and a backslash in a literal is an escape, as sqlglot writes it.
    assert rows_of(source, "SELECT 7 % 3, 'a%sb', 'x\\\\y'") == [(1, "a%sb", "x\\y")]
    assert source.estimate_rows(f"{database}.items") == len(ITEMS)


def test_mariadb_wrong_password_is_unavailable_without_the_password():
    url = with_password(server_url(MYSQL_ENV))
    with pytest.raises(SourceUnavailable, match="Access denied") as raised:
        open_source(url)
    assert "***" in raised.value.message
    assert_no_password(raised.value)


def test_mariadb_refused_port_fails_fast():
    url = with_password(server_url(MYSQL_ENV), port=1)
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="Can't connect") as raised:
        open_source(url, connect_timeout_s=3)
    assert time.monotonic() - started < 5
    assert_no_password(raised.value)


def test_mariadb_unknown_database_is_unavailable():
    url = make_url(server_url(MYSQL_ENV)).set(database="shuyu_no_such_db")
    with pytest.raises(SourceUnavailable, match="shuyu_no_such_db"):
        open_source(url.render_as_string(hide_password=False))
