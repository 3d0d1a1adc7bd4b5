"""What the hub does, independent of HTTP: users, the resource hall, the authorisation workflow.

Every function takes a database session and the acting user, checks the role and the ownership
itself (the API layer only translates), and records an event for every state change. Errors are
``hub.*`` errors with the status the API answers.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shuyu.engine.jobs import column_type_of
from shuyu.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidRequest,
    NotFound,
    Unauthenticated,
)
from shuyu.hub import security
from shuyu.hub.models import (
    OPERATIONS,
    ROLES,
    Dataset,
    Event,
    Grant,
    Topic,
    User,
    utcnow,
)
from shuyu.sql.catalog import DataType

# the states a decision may start from, and the state it leads to
_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": (("requested",), "approved"),
    "refuse": (("requested",), "refused"),
    "suspend": (("approved",), "suspended"),
    "resume": (("suspended",), "approved"),
    "revoke": (("approved", "suspended"), "revoked"),
}


def column_type(text: str) -> DataType:
    """A dataset column's type as published (``INT``, ``DECIMAL(2)``, ``DECIMAL(*,2)``...)."""
    try:
        found: DataType = column_type_of(text)
    except InvalidInput as error:
        raise InvalidRequest(error.message, hint=error.hint) from None
    return found


def record(session: Session, kind: str, actor: User | None, subject: str, **details: Any) -> None:
    """An event for the ledger and monitoring: identifiers only, never data values."""
    session.add(
        Event(kind=kind, actor_id=actor.id if actor else None, subject=subject, details=details)
    )


def require(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}; {user.name} is {user.role}")


# --- users ------------------------------------------------------------------------------------


def create_user(
    session: Session,
    actor: User | None,
    *,
    name: str,
    password: str,
    role: str,
    party: str | None = None,
    display_name: str = "",
) -> User:
    """A new user; ``actor`` None only when the hub creates its first admin."""
    if actor is not None:
        require(actor, "admin")
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role in ("owner", "consumer") and not party:
        raise InvalidRequest(f"a user with role {role} belongs to a party: give party")
    if len(password) < 8:
        raise InvalidRequest("password must have at least 8 characters")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"a user named {name!r} exists already")
    user = User(
        name=name,
        display_name=display_name or name,
        role=role,
        party=party if role in ("owner", "consumer") else None,
        password_hash=security.hash_password(password),
        disabled=0,
    )
    session.add(user)
    session.flush()
    record(session, "user.created", actor, f"user:{user.id}", role=role, party=user.party)
    return user


def login(session: Session, key: bytes, ttl_s: float, name: str, password: str) -> tuple[str, User]:
    user = session.scalar(select(User).where(User.name == name))
    if user is None or user.disabled or not security.check_password(user.password_hash, password):
        record(session, "user.login_failed", None, f"name:{name[:64]}")
        raise Unauthenticated("wrong user name or password")
    if security.needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    record(session, "user.login", user, f"user:{user.id}")
    return security.issue_token(key, user.id, user.role, user.party, ttl_s), user


def authenticate(session: Session, key: bytes, token: str) -> User:
    claims = security.read_token(key, token)
    user = session.get(User, claims.user_id)
    if user is None or user.disabled or user.role != claims.role or user.party != claims.party:
        raise Unauthenticated("the token's user no longer exists or has changed")
    return user


# --- the resource hall ----------------------------------------------------------------------


def create_topic(session: Session, actor: User, name: str, description: str) -> Topic:
    require(actor, "operator", "admin")
    if session.scalar(select(Topic).where(Topic.name == name)) is not None:
        raise Conflict(f"a topic named {name!r} exists already")
    topic = Topic(name=name, description=description)
    session.add(topic)
    session.flush()
    record(session, "topic.created", actor, f"topic:{topic.id}")
    return topic


def topic_by_name(session: Session, name: str | None) -> Topic | None:
    if name is None:
        return None
    topic = session.scalar(select(Topic).where(Topic.name == name))
    if topic is None:
        raise NotFound(f"no topic named {name!r}", hint="List topics with GET /api/topics.")
    return topic


def publish_dataset(
    session: Session,
    actor: User,
    *,
    name: str,
    columns: Sequence[dict[str, Any]],
    topic: str | None = None,
    description: str = "",
    sample: Sequence[dict[str, Any]] = (),
    rows: int | None = None,
    group_min_size: int = 5,
) -> Dataset:
    """Publish (or update) a dataset of the actor's own party."""
    require(actor, "owner")
    assert actor.party is not None
    names = [c["name"] for c in columns]
    if not names or len(set(names)) != len(names):
        raise InvalidRequest("columns must be non-empty and their names distinct")
    for column in columns:
        column_type(column["type"])  # refuses a type the engine cannot use
    for row in sample:
        unknown = set(row) - set(names)
        if unknown:
            raise InvalidRequest(f"the sample has columns the schema lacks: {sorted(unknown)}")
    found = topic_by_name(session, topic)
    dataset = session.scalar(
        select(Dataset).where(Dataset.party == actor.party, Dataset.name == name)
    )
    if dataset is None:
        dataset = Dataset(party=actor.party, name=name)
        session.add(dataset)
    dataset.topic_id = found.id if found else None
    dataset.description = description
    dataset.columns = [dict(c) for c in columns]
    dataset.sample = [dict(r) for r in sample]
    dataset.rows = rows
    dataset.group_min_size = group_min_size
    dataset.updated_at = utcnow()
    session.flush()
    record(session, "dataset.published", actor, f"dataset:{dataset.id}", columns=len(names))
    return dataset


@dataclass(frozen=True)
class DatasetFilter:
    text: str | None = None
    topic: str | None = None
    owner: str | None = None
    grade: str | None = None
    column: str | None = None


def list_datasets(
    session: Session, filters: DatasetFilter, limit: int, offset: int
) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.party, Dataset.name)
    if filters.owner:
        query = query.where(Dataset.party == filters.owner)
    if filters.topic:
        topic = topic_by_name(session, filters.topic)
        assert topic is not None
        query = query.where(Dataset.topic_id == topic.id)
    if filters.text:
        like = f"%{filters.text}%"
        query = query.where(Dataset.name.ilike(like) | Dataset.description.ilike(like))
    if not (filters.grade or filters.column):  # the database pages
        return list(session.scalars(query.limit(limit).offset(offset)))
    found = list(session.scalars(query))
    if filters.grade:
        found = [d for d in found if any(c.get("grade") == filters.grade for c in d.columns)]
    if filters.column:
        wanted = filters.column.lower()
        found = [d for d in found if any(c["name"].lower() == wanted for c in d.columns)]
    return found[offset : offset + limit]


def get_dataset(session: Session, dataset_id: int) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"no dataset {dataset_id}")
    return dataset


# --- authorisations ---------------------------------------------------------------------------


def request_grant(
    session: Session,
    actor: User,
    *,
    dataset_id: int,
    purpose: str,
    columns: Sequence[str],
    operations: Sequence[str],
    valid_from: datetime.datetime,
    valid_until: datetime.datetime,
    query_quota: int,
    receiver: str | None = None,
) -> Grant:
    require(actor, "consumer")
    dataset = get_dataset(session, dataset_id)
    known = {c["name"] for c in dataset.columns}
    unknown = [c for c in columns if c not in known]
    if not columns or unknown:
        raise InvalidRequest(
            f"columns must name columns of {dataset.party}.{dataset.name}; unknown: {unknown}"
        )
    bad = [op for op in operations if op not in OPERATIONS]
    if not operations or bad:
        raise InvalidRequest(f"operations must be among {', '.join(OPERATIONS)}; got {bad}")
    if valid_until <= valid_from:
        raise InvalidRequest("valid_until must be later than valid_from")
    if query_quota < 1:
        raise InvalidRequest("query_quota must be at least 1")
    if not purpose.strip():
        raise InvalidRequest("purpose must say what the data is for")
    grant = Grant(
        dataset_id=dataset.id,
        consumer_id=actor.id,
        receiver=receiver or actor.party or "",
        purpose=purpose,
        columns=list(dict.fromkeys(columns)),
        operations=list(dict.fromkeys(operations)),
        valid_from=_naive(valid_from),
        valid_until=_naive(valid_until),
        query_quota=query_quota,
        queries_used=0,
        state="requested",
        reason="",
    )
    if grant.receiver != actor.party:
        raise Forbidden("results may only go to the requesting consumer's own party")
    session.add(grant)
    session.flush()
    record(session, "grant.requested", actor, f"grant:{grant.id}", dataset=dataset.id)
    return grant


def visible_grants(session: Session, actor: User) -> list[Grant]:
    query = select(Grant).order_by(Grant.id)
    if actor.role == "consumer":
        query = query.where(Grant.consumer_id == actor.id)
    elif actor.role == "owner":
        owned = select(Dataset.id).where(Dataset.party == actor.party)
        query = query.where(Grant.dataset_id.in_(owned))
    elif actor.role not in ("regulator", "operator", "admin"):
        raise Forbidden("this role sees no grants")
    grants = list(session.scalars(query))
    for grant in grants:
        expire_if_due(session, grant)
    return grants


def get_grant(session: Session, actor: User, grant_id: int) -> Grant:
    """One grant, by the rules of :func:`visible_grants` (without reading every grant)."""
    if actor.role not in ("consumer", "owner", "regulator", "operator", "admin"):
        raise Forbidden("this role sees no grants")
    grant = session.get(Grant, grant_id)
    visible = grant is not None and (
        actor.role in ("regulator", "operator", "admin")
        or (actor.role == "consumer" and grant.consumer_id == actor.id)
        or (actor.role == "owner" and get_dataset(session, grant.dataset_id).party == actor.party)
    )
    if grant is None or not visible:
        raise NotFound(f"no grant {grant_id}")
    expire_if_due(session, grant)
    return grant


def decide(
    session: Session,
    actor: User,
    grant_id: int,
    action: str,
    *,
    reason: str = "",
    columns: Sequence[str] | None = None,
    operations: Sequence[str] | None = None,
    valid_until: datetime.datetime | None = None,
    query_quota: int | None = None,
) -> Grant:
    """The dataset owner's decision; approval may narrow, never widen, the request."""
    require(actor, "owner")
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound(f"no grant {grant_id}")
    dataset = get_dataset(session, grant.dataset_id)
    if dataset.party != actor.party:
        raise Forbidden(f"only {dataset.party}'s owners decide requests for its datasets")
    expire_if_due(session, grant)
    starts, target = _TRANSITIONS[action]
    if grant.state not in starts:
        raise Conflict(
            f"grant {grant.id} is {grant.state}; {action} needs it {' or '.join(starts)}"
        )
    if action == "approve":
        if columns is not None:
            _narrower(columns, grant.columns, "columns")
            grant.columns = list(dict.fromkeys(columns))
        if operations is not None:
            _narrower(operations, grant.operations, "operations")
            grant.operations = list(dict.fromkeys(operations))
        if valid_until is not None:
            if _naive(valid_until) > grant.valid_until:
                raise InvalidRequest("an approval may shorten the validity window, not extend it")
            grant.valid_until = _naive(valid_until)
        if query_quota is not None:
            if not 1 <= query_quota <= grant.query_quota:
                raise InvalidRequest(f"query_quota must be between 1 and {grant.query_quota}")
            grant.query_quota = query_quota
    if action in ("refuse", "revoke", "suspend") and not reason.strip():
        raise InvalidRequest(f"say why: {action} needs a reason")
    grant.state = target
    grant.reason = reason
    grant.decided_by = actor.id
    grant.decided_at = utcnow()
    session.flush()
    record(session, f"grant.{target}", actor, f"grant:{grant.id}", action=action)
    return grant


def expire_if_due(session: Session, grant: Grant) -> None:
    if grant.state in ("approved", "suspended") and grant.valid_until <= utcnow():
        grant.state = "expired"
        record(session, "grant.expired", None, f"grant:{grant.id}")


def _narrower(given: Sequence[str], allowed: Sequence[str], what: str) -> None:
    extra = [item for item in given if item not in allowed]
    if not given or extra:
        raise InvalidRequest(
            f"an approval may only narrow the requested {what}; not requested: {extra}"
        )


def _naive(moment: datetime.datetime) -> datetime.datetime:
    """Times are stored in UTC without a zone."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment
