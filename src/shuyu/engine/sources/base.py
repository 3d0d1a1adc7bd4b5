"""The interface every data source implements, and what the implementations share.

A :class:`Source` is one place a party's tables live: a set of CSV/Parquet files read by an
in-memory DuckDB, a DuckDB or SQLite database file, or a database server reached through a
SQLAlchemy URL. It answers three questions about a table (its columns and their catalogue
types, its approximate size, the catalogue-to-source column names) and runs SQL *inside the
source*, returning columnar :class:`~shuyu.engine.data.TableData`.

Sources only read: database files are opened read-only and server sessions are read-only
transactions where the server allows it.

Names. The catalogue's column names are the source's names in lower case (the planner matches
names case-insensitively, as MySQL does); :meth:`Source.column_names` maps back where they
differ, and two source columns that differ only in case are an error.

Messages name the source by its path or by its URL *without the password*.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from types import TracebackType

from shuyu.engine.data import TableData
from shuyu.errors import SourceError
from shuyu.sql.catalog import Column, DataType, TypeKind, decimal

__all__ = ["Source", "catalogue_columns", "type_from_name"]


class Source(abc.ABC):
    """A data source: schemas, size estimates, and SQL run inside it."""

    #: The sqlglot dialect of the SQL this source runs (``duckdb``, ``sqlite``, ``postgres``...).
    dialect: str = ""
    #: The source for messages: a path, or a URL with its password hidden.
    label: str = ""
    #: The collation that makes strings compare by code point (see ``pushdown.local_sql``).
    collation: str | None = None

    def __init__(self) -> None:
        self._columns: dict[str, tuple[tuple[Column, ...], dict[str, str]]] = {}

    def schema(self, table: str) -> tuple[Column, ...]:
        """The table's columns with catalogue names and types.

        Raises:
            SourceError: the table does not exist, or a column has a type Shuyu cannot read.
            SourceUnavailable: the source cannot be reached.
        """
        return self._described(table)[0]

    def column_names(self, table: str) -> dict[str, str]:
        """Catalogue column name → source column name, for the columns whose names differ."""
        return dict(self._described(table)[1])

    def _described(self, table: str) -> tuple[tuple[Column, ...], dict[str, str]]:
        if table not in self._columns:
            self._columns[table] = catalogue_columns(self._describe(table), table, self.label)
        return self._columns[table]

    def _no_table(self, table: str) -> SourceError:
        """The error for a table this source lacks, listing the tables it has."""
        known = ", ".join(self.tables()) or "none"
        return SourceError(
            f"no table {table} in {self.label} (tables: {known})",
            hint="Check the table name in the space file.",
        )

    @abc.abstractmethod
    def _describe(self, table: str) -> list[tuple[str, DataType]]:
        """The table's columns as (source name, type), in order."""

    @abc.abstractmethod
    def tables(self) -> list[str]:
        """The names of the tables this source can read (for listings and suggestions)."""

    @abc.abstractmethod
    def estimate_rows(self, table: str) -> int | None:
        """About how many rows the table has (``None`` when the source cannot tell cheaply)."""

    @abc.abstractmethod
    def run(
        self,
        sql: str,
        types: Sequence[DataType] | None = None,
        names: Sequence[str] | None = None,
    ) -> TableData:
        """Run one query of this source's dialect inside the source.

        Args:
            sql: the query (built by ``shuyu.engine.pushdown.local_sql`` or by hand).
            types: the catalogue type of each result column, in order; values are converted to
                them exactly (decimals rounded half away from zero to the scale). Without them
                the types follow the values the source returns.
            names: the result's column names, in order (default: the query's output names).

        Returns:
            The rows as columns named ``names``, or the query's output names, lower-cased.

        Raises:
            SourceError: the query failed in the source, or a value does not fit its type.
            SourceUnavailable: the source cannot be reached.
        """

    def close(self) -> None:  # noqa: B027 - most sources have nothing to release
        """Release connections and files."""

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


def catalogue_columns(
    described: list[tuple[str, DataType]], table: str, label: str
) -> tuple[tuple[Column, ...], dict[str, str]]:
    """Source columns → catalogue columns (lower-case names) and the renames that took."""
    columns: list[Column] = []
    renames: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, data_type in described:
        lowered = name.lower()
        if lowered in seen:
            raise SourceError(
                f"table {table} in {label} has columns {seen[lowered]!r} and {name!r}, which "
                "differ only in case",
                hint="Column names are case-insensitive in Shuyu; rename one of them, or expose "
                "the table through a view.",
            )
        seen[lowered] = name
        if lowered != name:
            renames[lowered] = name
        columns.append(Column(lowered, data_type))
    if not columns:
        raise SourceError(f"table {table} in {label} has no columns")
    return tuple(columns), renames


_DECIMAL = re.compile(r"(?:DECIMAL|NUMERIC|NUMBER)\s*\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)")
_INTEGERS = (
    "BIGINT", "INTEGER", "INT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER",
    "USMALLINT", "UTINYINT", "INT2", "INT4", "INT8", "SERIAL", "BIGSERIAL", "MEDIUMINT", "LONG",
)  # fmt: skip


def type_from_name(name: str, *, sqlite: bool = False) -> DataType | None:
    """A catalogue type for a SQL type name (DuckDB's, or a SQLite declared type), or None.

    SQLite declares types freely; its affinity rules decide integers, text and reals, and the
    common names of dates, timestamps, booleans and decimals are honoured on top.

    Example:
        >>> str(type_from_name("DECIMAL(18,2)")), str(type_from_name("VARCHAR"))
        ('DECIMAL(*,2)', 'STRING')
        >>> type_from_name("BLOB") is None
        True
    """
    upper = " ".join(name.upper().split())
    match = _DECIMAL.fullmatch(upper)
    if match:
        scale = int(match.group(2) or 0)
        return decimal(scale) if 0 <= scale <= 18 else None
    base = upper.split("(", 1)[0].strip()
    if base in ("BOOLEAN", "BOOL", "BIT"):
        return DataType(TypeKind.BOOL)
    if base == "DATE":
        return DataType(TypeKind.DATE)
    if base.startswith(("TIMESTAMP", "DATETIME")):
        return DataType(TypeKind.TIMESTAMP)
    if base in ("DOUBLE", "DOUBLE PRECISION", "FLOAT", "FLOAT4", "FLOAT8", "REAL"):
        return DataType(TypeKind.FLOAT)
    if base in ("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR", "UUID", "CHARACTER VARYING") or (
        base.startswith("ENUM")
    ):
        return DataType(TypeKind.STRING)
    if base in _INTEGERS:
        return DataType(TypeKind.INT)
    if sqlite:
        # SQLite's affinity rules (https://sqlite.org/datatype3.html, section 3.1).
        if "INT" in base:
            return DataType(TypeKind.INT)
        if any(part in base for part in ("CHAR", "CLOB", "TEXT")):
            return DataType(TypeKind.STRING)
        if any(part in base for part in ("REAL", "FLOA", "DOUB")):
            return DataType(TypeKind.FLOAT)
        if base and "BLOB" not in base:  # NUMERIC affinity: integers or reals
            return DataType(TypeKind.FLOAT)
    return None
