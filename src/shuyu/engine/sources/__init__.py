"""Data sources: where a party's tables live, and the SQL that runs inside them.

:func:`open_source` opens one from a spec — a file path or a SQLAlchemy URL:

==========================================  =============================  ===============
spec                                        source                         SQL dialect
==========================================  =============================  ===============
``*.csv``, ``*.tsv`` (also ``.gz``)         in-memory DuckDB, a view       ``duckdb``
``*.parquet``                               in-memory DuckDB, a view       ``duckdb``
``*.duckdb``, ``*.ddb``, ``duckdb:///F``    the DuckDB file, read-only     ``duckdb``
``*.sqlite``, ``*.db``, ``sqlite:///F``     the SQLite file, read-only     ``sqlite``
``postgresql://...``                        PostgreSQL (psycopg 3)         ``postgres``
``mysql://...``, ``mariadb://...``          MySQL/MariaDB (PyMySQL)        ``mysql``
any other SQLAlchemy URL                    its driver, if installed       sqlglot's name
==========================================  =============================  ===============

Every source implements :class:`Source`: ``schema(table)``, ``estimate_rows(table)``,
``run(sql, types)`` returning :class:`~shuyu.engine.data.TableData`, and ``dialect``.
"""

from __future__ import annotations

import re
from pathlib import Path

from shuyu.engine.sources.base import Source, type_from_name
from shuyu.engine.sources.database import DatabaseSource, redact_url
from shuyu.engine.sources.files import (
    CSV_SUFFIXES,
    DUCKDB_SUFFIXES,
    PARQUET_SUFFIXES,
    DuckDBSource,
)
from shuyu.engine.sources.sqlite import SQLITE_SUFFIXES, SqliteSource
from shuyu.errors import SourceError, SourceUnavailable

__all__ = [
    "DatabaseSource",
    "DuckDBSource",
    "Source",
    "SqliteSource",
    "file_path",
    "is_url",
    "open_source",
    "redact_url",
    "source_kind",
    "type_from_name",
]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_DUCKDB_MAGIC = b"DUCK"  # at offset 8 of a DuckDB database file


def is_url(spec: str) -> bool:
    """Whether ``spec`` is a URL (``scheme://...``) rather than a file path."""
    return bool(_URL.match(spec))


def source_kind(spec: str) -> str:
    """``"file"`` (CSV/Parquet), ``"duckdb"``, ``"sqlite"`` or ``"url"`` for a source spec.

    Example:
        >>> [source_kind(s) for s in ("a.csv", "b.parquet", "c.duckdb", "postgresql://h/d")]
        ['file', 'file', 'duckdb', 'url']
    """
    if is_url(spec):
        scheme = spec.split("://", 1)[0].lower()
        if scheme == "sqlite":
            return "sqlite"
        if scheme == "duckdb":
            return "duckdb"
        return "url"
    lower = spec.lower()
    if lower.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES) or ("*" in spec and "." in lower):
        return "file"
    if lower.endswith(DUCKDB_SUFFIXES):
        return "duckdb"
    if lower.endswith(SQLITE_SUFFIXES):
        return "sqlite"
    raise SourceError(
        f"cannot tell what kind of source {spec!r} is",
        hint="Give a CSV (.csv, .tsv), Parquet (.parquet), DuckDB (.duckdb) or SQLite "
        "(.sqlite, .db) file, or a database URL such as postgresql://user@host/db.",
    )


def file_path(spec: str, base_dir: Path | None = None) -> Path:
    """The path a file spec or a ``sqlite:///`` / ``duckdb:///`` URL names."""
    if is_url(spec):
        spec = spec.split("://", 1)[1]
        spec = spec[1:] if spec.startswith("/") else spec
    path = Path(spec).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def open_source(
    spec: str,
    *,
    base_dir: Path | None = None,
    name: str | None = None,
    connect_timeout_s: float = 10.0,
) -> Source:
    """Open the source a spec names.

    Args:
        spec: a file path (relative paths are taken from ``base_dir``) or a database URL.
        base_dir: the directory relative paths start from (the space file's).
        name: for a CSV or Parquet file, the table name it gets (default: the file's stem).
        connect_timeout_s: how long to wait for a database server to accept the connection.

    Raises:
        SourceUnavailable: the file does not exist, or the server refuses or does not answer.
        SourceError: the spec or the file is not a source Shuyu can read.
    """
    kind = source_kind(spec)
    if kind == "url":
        return DatabaseSource(spec, connect_timeout_s=connect_timeout_s)
    path = file_path(spec, base_dir)
    if kind == "file":
        source = DuckDBSource()
        try:
            source.add_file(path, name or path.name.split(".", 1)[0].lower())
        except BaseException:
            source.close()
            raise
        return source
    if not path.is_file():
        raise SourceUnavailable(f"database file {path} does not exist")
    kind = _sniff_database(path, kind)
    return DuckDBSource(path) if kind == "duckdb" else SqliteSource(path)


def _sniff_database(path: Path, guess: str) -> str:
    """``duckdb`` or ``sqlite`` from the file's header (``.db`` is used by both)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(16)
    except OSError as error:
        raise SourceUnavailable(f"cannot read {path}: {error.strerror}") from None
    if header.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if header[8:12] == _DUCKDB_MAGIC:
        return "duckdb"
    return guess
