"""A database server reached through a SQLAlchemy URL: PostgreSQL, MySQL/MariaDB, and others.

PostgreSQL (``postgresql://``, driven by psycopg 3) and MySQL/MariaDB (``mysql://`` or
``mariadb://``, driven by PyMySQL) are tested against real servers; any other URL SQLAlchemy
understands works where its driver is installed, with SQL printed by sqlglot for the matching
dialect.

Every connection is opened with a connect timeout, in UTC, and read-only where the driver lets
Shuyu say so (PostgreSQL: ``default_transaction_read_only``; MySQL: ``SESSION TRANSACTION READ
ONLY``). MySQL sessions also drop ``NO_BACKSLASH_ESCAPES`` so string literals mean what sqlglot
wrote.

The URL's password never appears in a message, a label or a ``repr``: labels are rendered with
the password hidden, and any error text from a driver is scrubbed of it.
"""

from __future__ import annotations

import datetime as dt
import decimal as dec
import importlib.util
import math
import socket
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlglot import exp

from shuyu.engine.data import TableData
from shuyu.engine.pushdown import binary_collation, source_table
from shuyu.engine.sources.base import Source
from shuyu.engine.sources.convert import to_table
from shuyu.errors import SourceError, SourceUnavailable
from shuyu.sql.catalog import DataType, TypeKind, decimal

__all__ = ["DatabaseSource", "redact_url"]

# SQLAlchemy dialect name -> sqlglot dialect name.
_DIALECTS = {
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "mssql": "tsql",
    "oracle": "oracle",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "trino": "trino",
    "presto": "presto",
    "clickhouse": "clickhouse",
    "databricks": "databricks",
    "hive": "hive",
    "teradata": "teradata",
}
# Drivers Shuyu installs, used when a URL names none and SQLAlchemy's default is missing.
_FALLBACK_DRIVERS = {
    "postgresql": ("psycopg2", "psycopg"),
    "mysql": ("MySQLdb", "pymysql"),
    "mariadb": ("MySQLdb", "pymysql"),
}


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (unparseable text is hidden entirely).

    Example:
        >>> redact_url("postgresql://analyst:s3cret@db.bank.example/loans")
        'postgresql://analyst:***@db.bank.example/loans'
    """
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError, TypeError):
        return "<unparseable URL>"


class DatabaseSource(Source):
    """Tables of one database server, read through SQLAlchemy."""

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0) -> None:
        super().__init__()
        self._lock = threading.Lock()
        try:
            parsed = _with_driver(make_url(url))
        except (sa_exc.ArgumentError, ValueError) as error:
            raise SourceError(
                f"{redact_url(url)} is not a database URL ({type(error).__name__})",
                hint="Write it as dialect[+driver]://user[:password]@host[:port]/database.",
            ) from None
        self._url = parsed
        self._secrets = [secret for secret in (parsed.password,) if secret]
        self.label = parsed.render_as_string(hide_password=True)
        backend = parsed.get_backend_name()
        self.dialect = _DIALECTS.get(backend, backend)
        try:
            self._engine: Engine = sqlalchemy.create_engine(
                parsed,
                connect_args=_connect_args(parsed, connect_timeout_s),
                pool_pre_ping=True,
                pool_size=2,
                max_overflow=2,
            )
        except (sa_exc.NoSuchModuleError, ImportError) as error:
            raise SourceError(
                f"no SQLAlchemy driver for {self.label}: {self._scrub(error)}",
                hint="Install the database's SQLAlchemy driver in Shuyu's environment, or name "
                "an installed one in the URL (postgresql+psycopg://, mysql+pymysql://).",
            ) from None
        except (sa_exc.ArgumentError, TypeError, ValueError) as error:
            raise SourceError(f"cannot use {self.label}: {self._scrub(error)}") from None
        if self.dialect == "mysql":
            sqlalchemy.event.listen(self._engine, "connect", _prepare_mysql_session)
            self._await_greeting(connect_timeout_s)
        version = self._server_version()
        self.collation = binary_collation(self.dialect, version)

    # --- connections and errors ----------------------------------------------------------

    def _scrub(self, error: BaseException | str) -> str:
        """An error's text, first line only, with every secret of the URL removed."""
        if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
            text = str(error.orig)
        else:
            text = str(error)
        text = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _unavailable(self, error: BaseException) -> SourceUnavailable:
        return SourceUnavailable(f"cannot connect to {self.label}: {self._scrub(error)}")

    def _await_greeting(self, timeout_s: float) -> None:
        """Fail within the timeout if a MySQL server accepts the connection but never speaks.

        PyMySQL's ``connect_timeout`` covers the TCP connect only; a MySQL server greets first,
        so waiting for that greeting bounds the rest. Refusals are left to the driver's message.
        """
        host, port = self._url.host, self._url.port or 3306
        if not host or self._url.query.get("unix_socket"):
            return
        try:
            with socket.create_connection((host, port), timeout=timeout_s) as probe:
                probe.settimeout(timeout_s)
                greeting = probe.recv(1)
        except TimeoutError:
            raise SourceUnavailable(
                f"cannot connect to {self.label}: the server did not answer within "
                f"{timeout_s:g} s (sources.connect_timeout_s)"
            ) from None
        except OSError:
            return
        if not greeting:
            raise SourceUnavailable(
                f"cannot connect to {self.label}: the server closed the connection at once"
            )

    def _server_version(self) -> str:
        try:
            with self._engine.connect() as connection:
                info = connection.dialect.server_version_info or ()
                text = ".".join(str(part) for part in info)
                if self.dialect == "mysql":
                    found = connection.exec_driver_sql("SELECT VERSION()").scalar()
                    text = str(found or text)
                return text
        except sa_exc.SQLAlchemyError as error:
            raise self._unavailable(error) from None

    def _execute(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run ``sql`` and return (column names, rows); driver errors become Shuyu errors."""
        try:
            with self._lock, self._engine.connect() as connection:
                if parameters is None:
                    # No parameters: the driver must not read '%' in the SQL as a placeholder.
                    plain = connection.execution_options(no_parameters=True)
                    result = plain.exec_driver_sql(sql)
                else:
                    result = connection.execute(sqlalchemy.text(sql), parameters)
                names = list(result.keys())
                rows = [tuple(row) for row in result.fetchall()]
                return names, rows
        except sa_exc.DBAPIError as error:
            if error.connection_invalidated or (
                isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
                and _is_connection_error(error)
            ):
                raise self._unavailable(error) from None
            raise SourceError(f"the query failed in {self.label}: {self._scrub(error)}") from None
        except sa_exc.SQLAlchemyError as error:
            raise SourceError(f"the query failed in {self.label}: {self._scrub(error)}") from None

    # --- Source --------------------------------------------------------------------------

    def tables(self) -> list[str]:
        try:
            with self._lock:
                inspector = sqlalchemy.inspect(self._engine)
                return sorted([*inspector.get_table_names(), *inspector.get_view_names()])
        except sa_exc.DBAPIError as error:
            raise self._unavailable(error) from None

    def _describe(self, table: str) -> list[tuple[str, DataType]]:
        name, schema = _split(table)
        try:
            with self._lock:
                inspector = sqlalchemy.inspect(self._engine)
                found = inspector.get_columns(name, schema=schema)
        except sa_exc.NoSuchTableError:
            raise SourceError(
                f"no table {table} in {self.label}",
                hint="Check the table name in the space file (schema.table where the table is "
                "outside the default schema).",
            ) from None
        except sa_exc.DBAPIError as error:
            raise self._unavailable(error) from None
        columns = []
        for column in found:
            data_type = _catalogue_type(column["type"])
            if data_type is None:
                raise SourceError(
                    f"column {column['name']} of {table} in {self.label} has type "
                    f"{column['type']}, which Shuyu cannot read",
                    hint="Shuyu reads integers, decimals, floats, strings, dates, timestamps "
                    "and booleans; cast the column in a view, or leave it out.",
                )
            nullable = bool(column.get("nullable", True))
            columns.append(
                (str(column["name"]), DataType(data_type.kind, data_type.scale, nullable))
            )
        return columns

    def estimate_rows(self, table: str) -> int | None:
        name, schema = _split(table)
        estimate: Any = None
        if self.dialect == "postgres":
            _, rows = self._execute(
                "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = :name AND n.nspname = COALESCE(:schema, current_schema())",
                {"name": name, "schema": schema},
            )
            estimate = rows[0][0] if rows else None
        elif self.dialect == "mysql":
            _, rows = self._execute(
                "SELECT table_rows FROM information_schema.tables "
                "WHERE table_name = :name AND table_schema = COALESCE(:schema, DATABASE())",
                {"name": name, "schema": schema},
            )
            estimate = rows[0][0] if rows else None
        if estimate is not None and float(estimate) > 0:
            return int(estimate)
        # Never analysed, or another database: count (the tables of a party are its own).
        query = exp.select(exp.Count(this=exp.Star())).from_(source_table(table))
        try:
            _, rows = self._execute(query.sql(self.dialect or None))
        except SourceError:
            return None
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def run(
        self,
        sql: str,
        types: Sequence[DataType] | None = None,
        names: Sequence[str] | None = None,
    ) -> TableData:
        found, rows = self._execute(sql)
        output = [str(name).lower() for name in found] if names is None else names
        return to_table(output, rows, types, self.label)

    def close(self) -> None:
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"<DatabaseSource {self.label}>"


def _with_driver(url: URL) -> URL:
    """A URL without a driver gets one that is installed (psycopg 3, PyMySQL)."""
    backend = url.get_backend_name()
    if "+" in url.drivername or backend not in _FALLBACK_DRIVERS:
        return url
    default, fallback = _FALLBACK_DRIVERS[backend]
    if importlib.util.find_spec(default) is not None:
        return url
    return url.set(drivername=f"{backend}+{fallback}")


def _connect_args(url: URL, timeout_s: float) -> dict[str, Any]:
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "postgresql" and driver in ("psycopg", "psycopg2"):
        return {
            # libpq counts whole seconds (and at least 2).
            "connect_timeout": max(2, math.ceil(timeout_s)),
            "options": "-c TimeZone=UTC -c default_transaction_read_only=on",
        }
    if backend in ("mysql", "mariadb") and driver in ("pymysql", "mysqldb"):
        return {
            "connect_timeout": max(1, math.ceil(timeout_s)),
            "charset": "utf8mb4",
        }
    return {}


_MYSQL_SESSION = (
    "SET SESSION time_zone = '+00:00'",
    "SET SESSION sql_mode = REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
    "SET SESSION TRANSACTION READ ONLY",
)


def _prepare_mysql_session(connection: Any, _: Any) -> None:
    """UTC, literal backslashes as sqlglot escapes them, and no writes (MySQL SETs are not
    transactional, so they outlive SQLAlchemy's rollback on check-in)."""
    cursor = connection.cursor()
    try:
        for statement in _MYSQL_SESSION:
            cursor.execute(statement)
    finally:
        cursor.close()


def _split(table: str) -> tuple[str, str | None]:
    parts = table.rsplit(".", 1)
    return (parts[1], parts[0]) if len(parts) == 2 else (parts[0], None)


def _is_connection_error(error: sa_exc.DBAPIError) -> bool:
    """Whether a driver error means the server is unreachable or refused us (not a bad query)."""
    orig = error.orig
    code = getattr(orig, "args", (None,))[0] if orig is not None else None
    # MySQL: 1044/1045 access denied, 1049 unknown database, 2002/2003/2005/2006/2013 network.
    if isinstance(code, int):
        return code in (1044, 1045, 1049, 2002, 2003, 2005, 2006, 2013)
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        # PostgreSQL classes 08 (connection), 28 (authorisation), 3D000 (no such database),
        # 57P0x (shutdown).
        return sqlstate.startswith(("08", "28", "3D", "57P"))
    return sqlstate is None and "connect" in str(orig).lower()


def _catalogue_type(type_: Any) -> DataType | None:
    """A SQLAlchemy column type to a catalogue type (None: Shuyu cannot read it)."""
    name = type(type_).__name__.upper()
    if name == "TINYINT" and getattr(type_, "display_width", None) == 1:
        return DataType(TypeKind.BOOL)  # MySQL's BOOLEAN
    if name == "YEAR":
        return DataType(TypeKind.INT)  # MySQL's YEAR: 1901..2155
    try:
        python_type = type_.python_type
    except (NotImplementedError, AttributeError):
        return None
    if python_type is bool:
        return DataType(TypeKind.BOOL)
    if python_type is int:
        return DataType(TypeKind.INT)
    if python_type is float:
        return DataType(TypeKind.FLOAT)
    if python_type is dec.Decimal:
        scale = getattr(type_, "scale", None)
        if isinstance(scale, int) and 0 <= scale <= 18:
            return decimal(scale)
        # NUMERIC without a declared scale: no exact fixed point fits every value.
        return DataType(TypeKind.FLOAT)
    if python_type is str or python_type is uuid.UUID:
        return DataType(TypeKind.STRING)
    if python_type is dt.datetime:
        return DataType(TypeKind.TIMESTAMP)
    if python_type is dt.date:
        return DataType(TypeKind.DATE)
    return None
