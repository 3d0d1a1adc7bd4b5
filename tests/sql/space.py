"""The fixture space (``tests/fixtures/sql/space``) loaded without the space loader.

``space.yaml`` names the tables and their CSV files; :data:`SCHEMA` gives the column types the
tests read them with. :func:`load_space` reads every CSV into DuckDB (schemas named after the
parties, so ``bank.customers`` is valid DuckDB SQL) and returns that connection, the catalogue
(a column is nullable when its data holds a NULL) and each table as
:class:`~shuyu.engine.data.TableData`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import yaml

from shuyu.engine.data import ColumnData, TableData
from shuyu.sql.catalog import (
    BOOL,
    DATE,
    FLOAT,
    INT,
    STRING,
    TIMESTAMP,
    Catalog,
    Column,
    DataType,
    Table,
    TypeKind,
    decimal,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sql"
SPACE_FILE = FIXTURES / "space" / "space.yaml"

SCHEMA: dict[tuple[str, str], dict[str, DataType]] = {
    ("bank", "customers"): {
        "id": INT,
        "name": STRING,
        "phone": STRING,
        "city": STRING,
        "income": decimal(2),
        "birth_date": DATE,
        "vip": BOOL,
        "risk_score": FLOAT,
    },
    ("bank", "loans"): {
        "loan_id": INT,
        "customer_id": INT,
        "amount": decimal(2),
        "rate": FLOAT,
        "status": STRING,
        "opened": DATE,
    },
    ("telco", "subscribers"): {
        "phone": STRING,
        "plan": STRING,
        "monthly_fee": decimal(2),
        "data_gb": INT,
        "since": DATE,
        "churned": BOOL,
    },
    ("shop", "orders"): {
        "order_id": INT,
        "phone": STRING,
        "customer_id": INT,
        "amount": decimal(2),
        "category": STRING,
        "quantity": INT,
        "ordered_at": TIMESTAMP,
    },
}


def duckdb_type(data_type: DataType) -> str:
    """The DuckDB type that holds a Shuyu type's values exactly."""
    if data_type.kind is TypeKind.DECIMAL:
        return f"DECIMAL(18, {data_type.scale})"
    return {
        TypeKind.INT: "BIGINT",
        TypeKind.FLOAT: "DOUBLE",
        TypeKind.STRING: "VARCHAR",
        TypeKind.DATE: "DATE",
        TypeKind.TIMESTAMP: "TIMESTAMP",
        TypeKind.BOOL: "BOOLEAN",
    }[data_type.kind]


@dataclass
class Space:
    connection: duckdb.DuckDBPyConnection
    catalog: Catalog
    tables: dict[tuple[str, str], TableData]


def table_data(
    connection: duckdb.DuckDBPyConnection, party: str, table: str, schema: dict[str, DataType]
) -> TableData:
    """A DuckDB table as TableData of the given column types."""
    rows = connection.execute(f'SELECT * FROM "{party}"."{table}"').fetchall()
    columns = {
        name: ColumnData.from_python(data_type, [row[position] for row in rows])
        for position, (name, data_type) in enumerate(schema.items())
    }
    return TableData(len(rows), columns)


def catalog_of(
    tables: dict[tuple[str, str], TableData], schema: dict[tuple[str, str], dict[str, DataType]]
) -> Catalog:
    """A catalogue of the tables; a column is nullable exactly when its data holds a NULL."""
    catalog = Catalog()
    for (party, name), data in tables.items():
        columns = tuple(
            Column(column, DataType(t.kind, t.scale, bool(data.columns[column].nulls.any())))
            for column, t in schema[(party, name)].items()
        )
        catalog.add(Table(party, name, columns, rows=data.rows))
    return catalog


@cache
def load_space() -> Space:
    """The fixture space (loaded once per test session; treat it as read-only)."""
    description = yaml.safe_load(SPACE_FILE.read_text(encoding="utf-8"))
    connection = duckdb.connect()
    tables: dict[tuple[str, str], TableData] = {}
    for party, entry in description["parties"].items():
        connection.execute(f'CREATE SCHEMA "{party}"')
        for table, source in entry["tables"].items():
            schema = SCHEMA[(party, table)]
            path = SPACE_FILE.parent / source["source"]
            types = ", ".join(f"'{c}': '{duckdb_type(t)}'" for c, t in schema.items())
            connection.execute(
                f'CREATE TABLE "{party}"."{table}" AS SELECT * FROM read_csv(?, header = true, '
                f"columns = {{{types}}}, nullstr = '')",
                [str(path)],
            )
            tables[(party, table)] = table_data(connection, party, table, schema)
    return Space(connection, catalog_of(tables, SCHEMA), tables)
