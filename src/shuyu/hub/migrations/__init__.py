"""Alembic migrations of the hub's schema (run by ``shuyu.hub.store.upgrade``)."""
