"""A SQLite database file, opened read-only through Python's ``sqlite3``.

SQLite has no strict column types: the *declared* type decides the catalogue type (by SQLite's
affinity rules, plus the usual names of dates, timestamps, booleans and ``DECIMAL(p,s)``). Dates
and timestamps are expected as ISO text (``2024-01-31``, ``2024-01-31 08:00:00``); decimals are
stored by SQLite as integers or binary reals and are rounded to the declared scale when read.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlglot import exp

from shuyu.engine.data import TableData
from shuyu.engine.pushdown import binary_collation, source_table
from shuyu.engine.sources.base import Source, type_from_name
from shuyu.engine.sources.convert import to_table
from shuyu.errors import SourceError, SourceUnavailable
from shuyu.sql.catalog import DataType

__all__ = ["SQLITE_SUFFIXES", "SqliteSource"]

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db", ".db3")


class SqliteSource(Source):
    """A SQLite database file."""

    dialect = "sqlite"
    collation = binary_collation("sqlite")

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.label = str(path)
        self._lock = threading.Lock()
        if not path.is_file():
            raise SourceUnavailable(f"SQLite file {path} does not exist")
        try:
            self._connection = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            self._connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            raise SourceError(f"{path} is not a readable SQLite database: {error}") from None

    def tables(self) -> list[str]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def _describe(self, table: str) -> list[tuple[str, DataType]]:
        with self._lock:
            rows = self._connection.execute(
                'SELECT name, type, "notnull" FROM pragma_table_info(?)', (table,)
            ).fetchall()
        if not rows:
            raise self._no_table(table)
        columns = []
        for name, declared, not_null in rows:
            data_type = type_from_name(str(declared or ""), sqlite=True)
            if data_type is None:
                raise SourceError(
                    f"column {name} of {table} in {self.label} has type "
                    f"{str(declared or '(none)')!r}, which Shuyu cannot read",
                    hint="Declare the column's type (INTEGER, DECIMAL(p,s), REAL, TEXT, DATE, "
                    "DATETIME, BOOLEAN), or expose the table through a view that casts it.",
                )
            columns.append((str(name), DataType(data_type.kind, data_type.scale, not not_null)))
        return columns

    def estimate_rows(self, table: str) -> int | None:
        query = exp.select(exp.Count(this=exp.Star())).from_(source_table(table)).sql("sqlite")
        with self._lock:
            try:
                found = self._connection.execute(query).fetchone()
            except sqlite3.Error:
                return None
        return int(found[0]) if found else None

    def run(
        self,
        sql: str,
        types: Sequence[DataType] | None = None,
        names: Sequence[str] | None = None,
    ) -> TableData:
        with self._lock:
            try:
                cursor = self._connection.execute(sql)
                found = [str(item[0]).lower() for item in cursor.description or ()]
                rows: list[tuple[Any, ...]] = cursor.fetchall()
            except sqlite3.Error as error:
                raise SourceError(f"the query failed in {self.label}: {error}") from None
        return to_table(found if names is None else names, rows, types, self.label)

    def close(self) -> None:
        with self._lock:
            self._connection.close()
