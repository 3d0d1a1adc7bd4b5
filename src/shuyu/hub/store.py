"""The hub's database: opening it, migrating it, sessions.

SQLite (WAL, foreign keys on) by default, any SQLAlchemy URL otherwise (PostgreSQL is tested).
The schema is created and upgraded only by the Alembic migrations (``migrations/``), when the
hub starts; ``upgrade`` is idempotent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from shuyu.errors import ConfigError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url(home: Path, url: str) -> str:
    """The configured URL, or SQLite in the hub's home directory."""
    if url:
        return url
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'hub.db'}"


def open_database(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and foreign keys."""
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except Exception as error:  # an unparsable URL, a missing driver
        raise ConfigError(
            f"hub.database_url cannot be used: {type(error).__name__}",
            hint="Give a SQLAlchemy URL such as postgresql+psycopg://user@host/db, or leave it "
            "empty for SQLite.",
        ) from None
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
