"""The hub's tables (SQLAlchemy 2.0 declarative models).

The schema itself is created and changed only by the Alembic migrations in
``shuyu/hub/migrations`` (a test checks that they and these models agree). Nothing here holds
raw data: datasets are metadata, labels and desensitised samples; jobs keep SQL text, status and
metering, and a result only until its receiver has read it (see ``docs/platform.md``).
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


ROLES = ("owner", "consumer", "operator", "regulator", "admin")
GRANT_STATES = ("requested", "approved", "refused", "suspended", "revoked", "expired")
OPERATIONS = ("join", "compare", "group_by", "aggregate", "payload", "plaintext")
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16))
    party: Mapped[str | None] = mapped_column(String(64), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    disabled: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class Topic(Base):
    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("party", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id"), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # [{"name", "type", "label", "grade", "description"}]
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    sample: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # desensitised
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    group_min_size: Mapped[int] = mapped_column(Integer, default=5)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class Grant(Base):
    """A request for a dataset and, once decided, the authorisation it became."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    consumer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    receiver: Mapped[str] = mapped_column(String(64))  # the party results may go to
    purpose: Mapped[str] = mapped_column(Text)
    columns: Mapped[list[str]] = mapped_column(JSON)
    operations: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[datetime.datetime] = mapped_column(DateTime)
    valid_until: Mapped[datetime.datetime] = mapped_column(DateTime)
    query_quota: Mapped[int] = mapped_column(Integer)
    queries_used: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="requested")
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    decided_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    receiver: Mapped[str] = mapped_column(String(64))
    sql: Mapped[str] = mapped_column(Text)
    grant_ids: Mapped[list[int]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bytes_sent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)
    parties: Mapped[list[str]] = mapped_column(JSON, default=list)  # compute parties 0, 1, 2
    document: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # shuyu.engine.jobs
    reports: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # per party's node
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # reports of older ones are stale


class Node(Base):
    """A domain's node or an assist node, enrolled with a certificate from the data space's CA."""

    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # domain | assist
    mpc_host: Mapped[str] = mapped_column(String(255))
    mpc_port: Mapped[int] = mapped_column(Integer)
    key_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the node's API key
    enrolled_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)


class EnrollToken(Base):
    """A one-time token the operator gives a new node (``shuyu node join --token``)."""

    __tablename__ = "enroll_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, nullable=True)


class Event(Base):
    """Every state change, for the ledger and monitoring (identifiers and digests, no data)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    subject: Mapped[str] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
