"""Sources on files: CSV and Parquet through DuckDB, DuckDB and SQLite files; value conversion."""

from __future__ import annotations

import datetime as dt
import doctest
import socket
import sqlite3
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest

import shuyu.engine.pushdown
import shuyu.engine.sources
import shuyu.engine.sources.base
import shuyu.engine.sources.database
import shuyu.engine.space
from shuyu.engine.sources import DuckDBSource, SqliteSource, open_source, source_kind
from shuyu.engine.sources.base import catalogue_columns
from shuyu.engine.sources.convert import to_table
from shuyu.errors import SourceError, SourceUnavailable
from shuyu.sql.catalog import BOOL, DATE, FLOAT, INT, STRING, TIMESTAMP, DataType, TypeKind, decimal

from .databases import ITEMS, ITEMS_COLUMNS, write_duckdb, write_sqlite

NOT_NULL_INT = DataType(TypeKind.INT, nullable=False)


@pytest.mark.parametrize(
    "module",
    [
        shuyu.engine.pushdown,
        shuyu.engine.sources,
        shuyu.engine.sources.base,
        shuyu.engine.sources.database,
        shuyu.engine.space,
    ],
    ids=lambda module: module.__name__,
)
def test_docstring_examples_run(module):
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


def rows_of(source, sql, types=None):
    table = source.run(sql, types)
    return [
        tuple(row) for row in zip(*(c.to_python() for c in table.columns.values()), strict=True)
    ]


# --- CSV ----------------------------------------------------------------------------------------


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bank_customers.csv"
    path.write_text(
        "ID,Name,客户等级,income,rate,opened,last_seen,active\n"
        "1,张三,A,1200.50,0.5,2024-01-31,2024-01-31 08:00:00,true\n"
        "2,Li Si,B,-3.05,1e-3,2023-12-01,,false\n"
        "3,,,100,2.25,,2024-02-01 00:00:00.25,\n",
        encoding="utf-8",
    )
    return path


def test_csv_schema_types_and_lower_case_names(customers_csv):
    with open_source(str(customers_csv)) as source:
        assert source.dialect == "duckdb"
        assert source.tables() == ["bank_customers"]
        columns = {c.name: c.type for c in source.schema("bank_customers")}
        assert columns == {
            "id": INT,
            "name": STRING,
            "客户等级": STRING,
            "income": decimal(2),  # plain decimals stay exact
            "rate": FLOAT,  # an exponent makes the column a float
            "opened": DATE,
            "last_seen": TIMESTAMP,
            "active": BOOL,
        }
        assert source.column_names("bank_customers") == {"id": "ID", "name": "Name"}
        assert source.estimate_rows("bank_customers") == 3


def test_csv_values_are_exact(customers_csv):
    with open_source(str(customers_csv), name="customers") as source:
        table = source.run(
            'SELECT "ID", income, opened, last_seen, active FROM customers ORDER BY 1'
        )
        assert list(table.columns) == ["id", "income", "opened", "last_seen", "active"]
        income = table.columns["income"]
        assert income.type == decimal(2)
        assert income.values.dtype == np.int64 and income.values.tolist() == [120050, -305, 10000]
        assert table.columns["opened"].to_python() == [
            dt.date(2024, 1, 31),
            dt.date(2023, 12, 1),
            None,
        ]
        assert table.columns["last_seen"].values[2] == (
            dt.datetime(2024, 2, 1, 0, 0, 0, 250000) - dt.datetime(1970, 1, 1)
        ) // dt.timedelta(microseconds=1)
        assert table.columns["active"].nulls.tolist() == [False, False, True]


def test_csv_files_of_one_party_share_a_duckdb(tmp_path, customers_csv):
    loans = tmp_path / "loans.csv"
    loans.write_text("customer,amount\n1,10.00\n1,5.50\n3,1.25\n", encoding="utf-8")
    with DuckDBSource() as source:
        source.add_file(customers_csv, "customers")
        source.add_file(loans, "loans")
        got = rows_of(
            source,
            'SELECT c."Name", SUM(l.amount) FROM customers c JOIN loans l ON c."ID" = l.customer '
            "GROUP BY 1 ORDER BY 1 NULLS FIRST",
            [STRING, decimal(2)],
        )
        assert got == [(None, Decimal("1.25")), ("张三", Decimal("15.50"))]


def test_missing_csv_is_unavailable_and_named(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(SourceUnavailable, match=r"nope\.csv"):
        open_source(str(missing))


def test_unreadable_csv_is_a_source_error(tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b'a,b\n1,"unterminated\n2,3\n\x00\xff\xfe')
    with (
        pytest.raises((SourceError, SourceUnavailable), match=r"broken\.csv"),
        open_source(str(broken)) as source,
    ):
        source.run("SELECT * FROM broken")


def test_unknown_suffix_is_refused():
    with pytest.raises(SourceError) as raised:
        source_kind("data/customers.xlsx")
    assert "customers.xlsx" in raised.value.message
    assert ".parquet" in raised.value.hint


# --- Parquet, DuckDB and SQLite files --------------------------------------------------------


def test_parquet_keeps_declared_types(tmp_path):
    path = tmp_path / "telco.parquet"
    connection = duckdb.connect()
    connection.execute(
        "COPY (SELECT 1::BIGINT AS id, 12.345::DECIMAL(10,3) AS fee, DATE '2024-05-01' AS day, "
        "TIMESTAMPTZ '2024-05-01 10:00:00+08' AS seen, 'x' AS plan UNION ALL "
        "SELECT 2, NULL, NULL, NULL, NULL) TO ? (FORMAT parquet)",
        [str(path)],
    )
    connection.close()
    with open_source(str(path)) as source:
        columns = {c.name: c.type for c in source.schema("telco")}
        assert columns == {
            "id": INT,
            "fee": decimal(3),
            "day": DATE,
            "seen": TIMESTAMP,
            "plan": STRING,
        }
        assert source.estimate_rows("telco") == 2
        got = rows_of(source, "SELECT * FROM telco ORDER BY id", list(columns.values()))
        # A timestamp with a time zone is read in UTC.
        assert got == [
            (1, Decimal("12.345"), dt.date(2024, 5, 1), dt.datetime(2024, 5, 1, 2), "x"),
            (2, None, None, None, None),
        ]


@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_database_files_schema_and_rows(tmp_path, kind):
    if kind == "duckdb":
        path = write_duckdb(tmp_path / "shop.duckdb")
    else:
        path = write_sqlite(tmp_path / "shop.sqlite")
    with open_source(str(path)) as source:
        assert isinstance(source, DuckDBSource if kind == "duckdb" else SqliteSource)
        assert source.tables() == ["items", "tags"]
        assert [(c.name, c.type) for c in source.schema("items")] == [
            (name, data_type) for name, data_type in ITEMS_COLUMNS
        ]
        assert source.schema("items")[0].type == NOT_NULL_INT
        assert source.estimate_rows("items") == len(ITEMS)
        types = [data_type for _, data_type in ITEMS_COLUMNS]
        assert rows_of(source, 'SELECT * FROM items ORDER BY "id"', types) == ITEMS


def test_a_db_file_is_recognised_by_its_header(tmp_path):
    duck = write_duckdb(tmp_path / "shop.duckdb").rename(tmp_path / "duck.db")
    lite = write_sqlite(tmp_path / "lite.db")
    with open_source(str(duck)) as first, open_source(str(lite)) as second:
        assert (first.dialect, second.dialect) == ("duckdb", "sqlite")


def test_database_files_are_read_only(tmp_path):
    lite = open_source(str(write_sqlite(tmp_path / "shop.sqlite")))
    with lite, pytest.raises(SourceError, match="readonly"):
        lite.run("DELETE FROM items")
    duck = open_source(str(write_duckdb(tmp_path / "shop.duckdb")))
    with duck, pytest.raises(SourceError, match="read-only"):
        duck.run("DELETE FROM items")


def test_missing_table_and_missing_database_file(tmp_path):
    source = open_source(str(write_sqlite(tmp_path / "shop.sqlite")))
    with source, pytest.raises(SourceError, match=r"no table loans .*tables: items, tags"):
        source.schema("loans")
    with pytest.raises(SourceUnavailable, match=r"gone\.sqlite"):
        open_source(str(tmp_path / "gone.sqlite"))
    not_a_database = tmp_path / "text.sqlite"
    not_a_database.write_text("hello, this is not SQLite\n" * 10)
    with pytest.raises(SourceError, match="not a readable SQLite database"):
        open_source(str(not_a_database))


def test_unsupported_column_types_are_named(tmp_path):
    path = tmp_path / "odd.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE odd (id INTEGER, photo BLOB)")
    connection.commit()
    connection.close()
    with open_source(str(path)) as source, pytest.raises(SourceError, match="photo") as raised:
        source.schema("odd")
    assert "cannot read" in raised.value.message
    duck_path = tmp_path / "odd.duckdb"
    connection2 = duckdb.connect(str(duck_path))
    connection2.execute("CREATE TABLE odd (id INTEGER, span INTERVAL)")
    connection2.close()
    with open_source(str(duck_path)) as source, pytest.raises(SourceError, match=r"span.*INTERVAL"):
        source.schema("odd")


def test_columns_differing_only_in_case_are_refused():
    # DuckDB and SQLite rename or refuse such columns themselves; PostgreSQL allows them
    # (tested against the server in test_sources_servers.py).
    described = [("Amount", INT), ("amount", INT)]
    with pytest.raises(SourceError, match="differ only in case"):
        catalogue_columns(described, "loans", "bank.sqlite")


# --- conversion ---------------------------------------------------------------------------------


def test_decimals_round_half_away_from_zero_and_types_are_checked():
    table = to_table(
        ["a", "b"],
        [(Decimal("0.125"), 1.5), (Decimal("-0.125"), 2), (None, None), (0.1, Decimal("7"))],
        [decimal(2), FLOAT],
        "test",
    )
    assert table.columns["a"].values.tolist() == [13, -13, 0, 10]
    assert table.columns["a"].nulls.tolist() == [False, False, True, False]
    assert table.columns["b"].values.tolist() == [1.5, 2.0, 0.0, 7.0]


@pytest.mark.parametrize(
    ("value", "data_type"),
    [
        (2**63, INT),
        (Decimal("1.5"), INT),
        ("abc", FLOAT),
        (Decimal("1e30"), decimal(2)),
        ("maybe", BOOL),
        ("2024-13-01", DATE),
        (b"\xff", STRING),
    ],
)
def test_values_that_do_not_fit_are_errors_without_the_value(value, data_type):
    with pytest.raises(SourceError, match="column x") as raised:
        to_table(["x"], [(value,)], [data_type], "test")
    assert repr(value) not in raised.value.message


def test_timezone_aware_timestamps_are_utc_and_types_can_be_inferred():
    eight = dt.timezone(dt.timedelta(hours=8))
    table = to_table(
        ["ts", "n", "d", "s", "b", "m"],
        [
            (
                dt.datetime(2024, 1, 1, 8, tzinfo=eight),
                1,
                dt.date(1970, 1, 2),
                "x",
                True,
                Decimal("1.5"),
            ),
            (None, None, None, None, None, Decimal("2.25")),
        ],
        None,
        "test",
    )
    kinds = {name: column.type for name, column in table.columns.items()}
    assert kinds == {"ts": TIMESTAMP, "n": INT, "d": DATE, "s": STRING, "b": BOOL, "m": decimal(2)}
    assert table.columns["ts"].to_python()[0] == dt.datetime(2024, 1, 1, 0)
    assert table.columns["d"].values[0] == 1


def test_result_width_must_match_the_types(tmp_path, customers_csv):
    with open_source(str(customers_csv)) as source:
        with pytest.raises(SourceError, match="returned 2 columns where 1 were expected"):
            source.run("SELECT 1, 2", [INT])
        with pytest.raises(SourceError, match="query failed"):
            source.run("SELECT * FROM nowhere")


def test_duckdb_reads_columns_without_python_values_and_stays_exact():
    with DuckDBSource() as source:
        sql = (
            "SELECT * FROM (VALUES (CAST(0.125 AS DECIMAL(10,3)), 7::TINYINT, 'x', "
            "DATE '1969-12-31', TIMESTAMP_NS '2024-01-01 00:00:00.000001', true, 2::BIGINT), "
            "(CAST(-0.125 AS DECIMAL(10,3)), NULL, NULL, NULL, NULL, NULL, NULL)) "
            "AS t(a, b, c, d, e, f, g)"
        )
        types = [decimal(2), INT, STRING, DATE, TIMESTAMP, BOOL, decimal(1)]
        table = source.run(sql, types, names=list("abcdefg"))
        assert table.columns["a"].values.tolist() == [13, -13]  # half away from zero
        assert table.columns["b"].values.dtype == np.int64
        assert table.columns["d"].values.tolist() == [-1, 0]
        assert table.columns["e"].values.tolist()[0] == 1704067200000001
        assert table.columns["g"].values.tolist() == [20, 0]
        for column in "bcdefg":
            assert table.columns[column].nulls.tolist() == [False, True]
        slow = source.run(sql, None)  # Python values, types inferred
        assert slow.columns["c"].to_python() == table.columns["c"].to_python()
        with pytest.raises(SourceError, match="query failed"):
            source.run("SELECT CAST(1e17 AS DECIMAL(38, 0)) AS big", [decimal(3)])


@pytest.mark.parametrize(
    ("scheme", "limit_s"), [("postgresql", 2), ("mysql", 1)], ids=["postgresql", "mysql"]
)
def test_a_server_that_never_answers_times_out(scheme, limit_s):
    # A socket that accepts connections (the kernel completes the handshake) but never speaks:
    # only the connect timeout ends the wait.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(SourceUnavailable, match=f"127.0.0.1:{port}"):
            open_source(f"{scheme}://someone:pw@127.0.0.1:{port}/db", connect_timeout_s=limit_s)
        assert time.monotonic() - started < limit_s + 3
    finally:
        silent.close()
