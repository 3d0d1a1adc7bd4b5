"""DuckDB as a party's local engine: CSV and Parquet files as views, or a DuckDB database file.

CSV files are sniffed by DuckDB (delimiter, header, types). One refinement: a column DuckDB
would read as ``DOUBLE`` whose every value is written as a plain decimal (``-12.50``, no
exponent) with at most 18 digits becomes an exact ``DECIMAL`` of the largest scale seen, so
that amounts in CSV files stay exact. Parquet and DuckDB files keep their declared types.

The files are read in place, on every query (nothing is copied or cached); DuckDB database
files are opened read-only.
"""

from __future__ import annotations

import glob
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from sqlglot import exp

from shuyu.engine.data import DTYPES, PLACEHOLDERS, ColumnData, TableData
from shuyu.engine.pushdown import source_table
from shuyu.engine.sources.base import Source, type_from_name
from shuyu.engine.sources.convert import to_table
from shuyu.errors import SourceError, SourceUnavailable
from shuyu.sql.catalog import DataType, TypeKind

__all__ = ["CSV_SUFFIXES", "DUCKDB_SUFFIXES", "PARQUET_SUFFIXES", "DuckDBSource"]

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
DUCKDB_SUFFIXES = (".duckdb", ".ddb")
_PLAIN_DECIMAL = r"^[+-]?[0-9]+(\.[0-9]+)?$"
_MAX_DIGITS = 18  # int64 holds every 18-digit decimal


class DuckDBSource(Source):
    """An in-memory DuckDB over CSV/Parquet files (one view per file), or a DuckDB file."""

    dialect = "duckdb"

    def __init__(self, database: Path | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._views: dict[str, Path] = {}
        self._estimates: dict[str, int] = {}
        self.label = str(database) if database is not None else "local files"
        try:
            if database is None:
                self._connection = duckdb.connect(":memory:")
            else:
                if not database.is_file():
                    raise SourceUnavailable(f"DuckDB file {database} does not exist")
                self._connection = duckdb.connect(str(database), read_only=True)
            self._connection.execute("SET TimeZone = 'UTC'")
        except duckdb.Error as error:
            raise SourceUnavailable(f"cannot open {self.label}: {_first_line(error)}") from None

    # --- files as views ------------------------------------------------------------------

    def add_file(self, path: Path, name: str) -> None:
        """Expose a CSV or Parquet file (a glob pattern allowed) as the view ``name``.

        Raises:
            SourceUnavailable: no file matches ``path``.
            SourceError: the file is not readable as CSV or Parquet.
        """
        text = str(path)
        if glob.has_magic(text):
            if not glob.glob(text):
                raise SourceUnavailable(f"no file matches {text}")
        elif not path.is_file():
            raise SourceUnavailable(f"data file {text} does not exist")
        lower = text.lower()
        with self._lock:
            try:
                if lower.endswith(PARQUET_SUFFIXES):
                    relation = self._connection.read_parquet(text)
                elif lower.endswith(CSV_SUFFIXES):
                    relation = self._csv_relation(text, name)
                else:
                    raise SourceError(
                        f"cannot tell the format of {text}",
                        hint="Name CSV files *.csv (or .tsv) and Parquet files *.parquet.",
                    )
                relation.create_view(name, replace=True)
                if name not in self._estimates:
                    self._estimates[name] = self._count_rows(name)
            except duckdb.IOException as error:
                raise SourceUnavailable(f"cannot read {text}: {_first_line(error)}") from None
            except duckdb.Error as error:
                raise SourceError(f"cannot read {text}: {_first_line(error)}") from None
        self._views[name] = path

    def _csv_relation(self, path: str, name: str) -> duckdb.DuckDBPyRelation:
        sniffed = self._connection.read_csv(path)
        doubles = [
            column
            for column, kind in zip(sniffed.columns, sniffed.types, strict=True)
            if str(kind) == "DOUBLE"
        ]
        if not doubles:
            return sniffed
        as_text = self._connection.read_csv(path, dtype=dict.fromkeys(doubles, "VARCHAR"))
        probe = f"__shuyu_probe_{len(self._views)}"
        as_text.create_view(probe, replace=True)
        try:
            checks: list[exp.Expr] = [exp.Count(this=exp.Star())]
            for column in doubles:
                value = exp.column(exp.to_identifier(column, quoted=True))
                plain = exp.Anonymous(
                    this="regexp_full_match",
                    expressions=[value.copy(), exp.Literal.string(_PLAIN_DECIMAL)],
                )
                fraction = exp.Anonymous(
                    this="length",
                    expressions=[
                        exp.Anonymous(
                            this="split_part",
                            expressions=[
                                value.copy(),
                                exp.Literal.string("."),
                                exp.Literal.number(2),
                            ],
                        )
                    ],
                )
                digits = exp.Anonymous(
                    this="length",
                    expressions=[
                        exp.Anonymous(
                            this="regexp_replace",
                            expressions=[
                                value.copy(),
                                exp.Literal.string("[^0-9]"),
                                exp.Literal.string(""),
                                exp.Literal.string("g"),
                            ],
                        )
                    ],
                )
                checks += [
                    exp.Anonymous(this="bool_and", expressions=[plain]),
                    exp.Max(this=fraction),
                    exp.Max(this=digits),
                ]
            query = exp.select(*checks).from_(source_table(probe)).sql("duckdb")
            rows = self._connection.execute(query).fetchall()
            found = rows[0] if rows else None
        finally:
            self._connection.execute(
                exp.Drop(tables=[source_table(probe)], kind="VIEW", exists=True).sql("duckdb")
            )
        if found is None:  # an aggregate returns one row; this is a DuckDB failure
            raise SourceError(f"DuckDB returned nothing for a count of {path}")
        self._estimates[name] = int(found[0])
        exact: dict[str, str] = {}
        for index, column in enumerate(doubles):
            plain, scale, digits = found[1 + 3 * index : 4 + 3 * index]
            if plain and scale is not None and digits is not None and digits <= _MAX_DIGITS:
                exact[column] = f"DECIMAL({_MAX_DIGITS}, {int(scale)})"
        if not exact:
            return sniffed
        return self._connection.read_csv(path, dtype=exact)

    def _count_rows(self, table: str) -> int:
        query = exp.select(exp.Count(this=exp.Star())).from_(source_table(table))
        # fetchall, not fetchone: DuckDB keeps an unfinished result open on the connection.
        rows = self._connection.execute(query.sql("duckdb")).fetchall()
        return int(rows[0][0]) if rows else 0

    # --- Source --------------------------------------------------------------------------

    def tables(self) -> list[str]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT internal "
                "UNION SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"
            ).fetchall()
        return [str(row[0]) for row in rows if not str(row[0]).startswith("__shuyu")]

    def _describe(self, table: str) -> list[tuple[str, DataType]]:
        parts = table.split(".")
        name, schema = parts[-1], (parts[-2] if len(parts) > 1 else None)
        with self._lock:
            rows = self._connection.execute(
                "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
                "WHERE table_name = ? AND (? IS NULL OR schema_name = ?) "
                "ORDER BY column_index",
                [name, schema, schema],
            ).fetchall()
        if not rows:
            raise self._no_table(table)
        columns = []
        for column, type_name, nullable in rows:
            data_type = type_from_name(str(type_name))
            if data_type is None:
                raise SourceError(
                    f"column {column} of {table} in {self.label} has type {type_name}, which "
                    "Shuyu cannot read",
                    hint="Shuyu reads integers, decimals, floats, strings, dates, timestamps "
                    "and booleans; cast the column in a view, or leave it out.",
                )
            columns.append((str(column), DataType(data_type.kind, data_type.scale, bool(nullable))))
        return columns

    def estimate_rows(self, table: str) -> int | None:
        if table in self._estimates:
            return self._estimates[table]
        with self._lock:
            try:
                return self._count_rows(table)
            except duckdb.Error:
                return None

    def run(
        self,
        sql: str,
        types: Sequence[DataType] | None = None,
        names: Sequence[str] | None = None,
    ) -> TableData:
        with self._lock:
            try:
                relation = self._connection.sql(sql)
                if relation is None:
                    raise SourceError(f"the statement run in {self.label} returned no rows")
                found = [str(column).lower() for column in relation.columns]
                output = found if names is None else list(names)
                fast = None if types is None else _columnar(relation, types, output)
                if fast is not None:
                    return fast
                rows: list[tuple[Any, ...]] = relation.fetchall()
            except duckdb.IOException as error:
                raise SourceUnavailable(f"{self.label}: {_first_line(error)}") from None
            except duckdb.Error as error:
                raise SourceError(
                    f"the query failed in {self.label}: {_first_line(error)}"
                ) from None
        return to_table(output, rows, types, self.label)

    def close(self) -> None:
        with self._lock:
            self._connection.close()


_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_FAST: dict[TypeKind, set[str]] = {
    TypeKind.INT: _INTEGERS,
    TypeKind.FLOAT: _INTEGERS | {"DOUBLE", "FLOAT"},
    TypeKind.BOOL: {"BOOLEAN"},
    TypeKind.STRING: {"VARCHAR"},
    TypeKind.DATE: {"DATE"},
    TypeKind.TIMESTAMP: {"TIMESTAMP", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP_S"},
}


def _columnar(
    relation: duckdb.DuckDBPyRelation, types: Sequence[DataType], names: Sequence[str]
) -> TableData | None:
    """The result as numpy arrays straight from DuckDB, or None where a column needs Python.

    Decimals are scaled to integers inside DuckDB (``ROUND(x * 10^s)``, half away from zero),
    so no value passes through a binary float.
    """
    columns = [str(column) for column in relation.columns]
    kinds = [str(kind) for kind in relation.types]
    if len(types) != len(columns) or len(names) != len(columns) or len(set(columns)) < len(columns):
        return None
    projections = []
    for position, (column, kind, target) in enumerate(zip(columns, kinds, types, strict=True)):
        value: exp.Expr = exp.column(exp.to_identifier(column, quoted=True))
        if target.kind is TypeKind.DECIMAL:
            if not (kind.startswith("DECIMAL") or kind in _INTEGERS) or target.scale > _MAX_DIGITS:
                return None
            factor = exp.Cast(
                this=exp.Literal.number(10**target.scale),
                to=exp.DataType.build(f"DECIMAL({target.scale + 1}, 0)"),
            )
            scaled = exp.Round(this=exp.Mul(this=value, expression=factor))
            value = exp.Cast(this=scaled, to=exp.DataType.build("BIGINT"))
        elif kind not in _FAST.get(target.kind, set()):
            return None
        projections.append(exp.alias_(value, f"c{position}", quoted=True).sql("duckdb"))
    if not projections:
        return None
    arrays = relation.project(", ".join(projections)).fetchnumpy()
    result: dict[str, ColumnData] = {}
    for position, (name, target) in enumerate(zip(names, types, strict=True)):
        array = arrays[f"c{position}"]
        nulls = np.ma.getmaskarray(array).copy()
        values = np.ma.getdata(array)
        if target.kind in (TypeKind.DATE, TypeKind.TIMESTAMP):
            unit = "datetime64[D]" if target.kind is TypeKind.DATE else "datetime64[us]"
            values = values.astype(unit).astype(np.int64)
        else:
            values = values.astype(DTYPES[target.kind])
        values = values.copy()
        values[nulls] = PLACEHOLDERS[target.kind]
        result[name] = ColumnData(
            DataType(target.kind, target.scale, target.nullable), values, nulls
        )
    return TableData(len(nulls) if result else 0, result)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
