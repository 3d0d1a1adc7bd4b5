"""The hub's schema: the Alembic migrations build exactly the models' tables, on SQLite and on
the real PostgreSQL server; the API's state lives in either."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from tests.engine.databases import PG_ENV, server_url

from shuyu.config import HubSettings
from shuyu.hub import store
from shuyu.hub.api import create_app
from shuyu.hub.models import Base


def assert_schema_matches(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_migrations_build_the_models_tables_on_sqlite(tmp_path):
    engine = store.open_database(f"sqlite:///{tmp_path / 'hub.db'}")
    store.upgrade(engine)
    store.upgrade(engine)  # idempotent
    assert_schema_matches(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.fixture
def pg_database():
    url = sa.make_url(server_url(PG_ENV))
    name = f"shuyu_hub_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_the_hub_runs_on_postgresql(pg_database, tmp_path):
    engine = store.open_database(pg_database)
    store.upgrade(engine)
    assert_schema_matches(engine)
    engine.dispose()
    settings = HubSettings(home=str(tmp_path / "hub"), database_url=pg_database)
    app = create_app(settings, admin=("admin", "admin-password"))
    with TestClient(app) as hub:
        token = hub.post("/api/login", json={"name": "admin", "password": "admin-password"})
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        body = {"name": "bank-owner", "password": "pass-word-1", "role": "owner", "party": "bank"}
        assert hub.post("/api/users", json=body, headers=headers).status_code == 201
        assert hub.get("/api/me", headers=headers).json()["name"] == "admin"
    app.state.engine.dispose()
