"""The hub's REST API (FastAPI): routes translate HTTP to ``shuyu.hub.service`` and back.

Every error, whichever layer raises it, is answered in one shape with its status:
``{"ok": false, "code", "error", "hint", "status"}`` (``docs/errors.md``); an unexpected
exception is a 500 in that shape, without a traceback. The OpenAPI document is at
``/openapi.json``.

(No ``from __future__ import annotations`` here: FastAPI reads the route annotations, which
name dependencies defined inside :func:`create_app`.)
"""

import asyncio
import datetime
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from shuyu import __version__
from shuyu.config import HubSettings
from shuyu.errors import Forbidden, InvalidRequest, NotFound, ShuyuError, Unauthenticated
from shuyu.hub import jobs, nodes, security, service, store
from shuyu.hub.models import Dataset, Event, Grant, Job, Node, Topic, User

log = logging.getLogger("shuyu.hub")
READER_TTL_S = 5.0  # how long a reader's user is trusted without a database lookup

# identifiers fit the databases' 64-bit integers
Id = Annotated[int, PathParam(ge=1, le=2**62)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]


# --- request and response bodies --------------------------------------------------------------


class Login(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class UserIn(BaseModel):
    name: Name
    password: Annotated[str, Field(min_length=8, max_length=1024)]
    role: Literal["owner", "consumer", "operator", "regulator", "admin"]
    party: Name | None = None
    display_name: Annotated[str, Field(max_length=128)] = ""


class UserOut(BaseModel):
    id: int
    name: str
    display_name: str
    role: str
    party: str | None


class Token(BaseModel):
    ok: bool = True
    token: str
    expires_in: float
    user: UserOut


class TopicIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: Annotated[str, Field(max_length=4000)] = ""


class TopicOut(BaseModel):
    id: int
    name: str
    description: str


class ColumnIn(BaseModel):
    name: Name
    type: Annotated[str, Field(min_length=1, max_length=32)]
    label: Annotated[str, Field(max_length=64)] = ""
    grade: Annotated[str, Field(max_length=32)] = ""
    description: Annotated[str, Field(max_length=1000)] = ""


class DatasetIn(BaseModel):
    name: Name
    columns: Annotated[list[ColumnIn], Field(min_length=1, max_length=1000)]
    topic: Annotated[str | None, Field(max_length=64)] = None
    description: Annotated[str, Field(max_length=4000)] = ""
    sample: Annotated[list[dict[str, Any]], Field(max_length=100)] = []
    rows: Annotated[int | None, Field(ge=0, le=2**62)] = None
    group_min_size: Annotated[int, Field(ge=1, le=1_000_000)] = 5


class DatasetOut(BaseModel):
    id: int
    party: str
    name: str
    topic: str | None
    description: str
    columns: list[dict[str, Any]]
    sample: list[dict[str, Any]]
    rows: int | None
    group_min_size: int
    updated_at: datetime.datetime


Operation = Literal["join", "compare", "group_by", "aggregate", "payload", "plaintext"]


class GrantIn(BaseModel):
    dataset_id: Annotated[int, Field(ge=1, le=2**62)]
    purpose: Annotated[str, Field(min_length=1, max_length=2000)]
    columns: Annotated[list[Name], Field(min_length=1, max_length=1000)]
    operations: Annotated[list[Operation], Field(min_length=1, max_length=6)]
    valid_from: datetime.datetime
    valid_until: datetime.datetime
    query_quota: Annotated[int, Field(ge=1, le=1_000_000)]
    receiver: Name | None = None


class Decision(BaseModel):
    reason: Annotated[str, Field(max_length=2000)] = ""
    columns: Annotated[list[Name] | None, Field(max_length=1000)] = None
    operations: Annotated[list[Operation] | None, Field(max_length=6)] = None
    valid_until: datetime.datetime | None = None
    query_quota: Annotated[int | None, Field(ge=1, le=1_000_000)] = None


class GrantOut(BaseModel):
    id: int
    dataset_id: int
    consumer_id: int
    receiver: str
    purpose: str
    columns: list[str]
    operations: list[str]
    valid_from: datetime.datetime
    valid_until: datetime.datetime
    query_quota: int
    queries_used: int
    state: str
    reason: str
    created_at: datetime.datetime
    decided_at: datetime.datetime | None


class JobIn(BaseModel):
    sql: Annotated[str, Field(min_length=1, max_length=100_000)]


class JobOut(BaseModel):
    id: int
    user_id: int
    receiver: str
    sql: str
    grant_ids: list[int]
    state: str
    progress: float
    error_code: str | None
    error: str | None
    rows: int | None
    bytes_sent: int | None
    seconds: float | None
    created_at: datetime.datetime
    finished_at: datetime.datetime | None


class Submission(BaseModel):
    ok: bool = True
    job: JobOut
    explain: str


class EventOut(BaseModel):
    id: int
    at: datetime.datetime
    kind: str
    actor_id: int | None
    subject: str
    details: dict[str, Any]


class NodeTokenIn(BaseModel):
    name: Name
    kind: Literal["domain", "assist"] = "domain"
    ttl_s: Annotated[float, Field(gt=0, le=30 * 86400)] = 86400.0


class EnrollIn(BaseModel):
    token: Annotated[str, Field(min_length=1, max_length=200)]
    name: Name
    request: Annotated[str, Field(min_length=1, max_length=20_000)]  # PEM CSR
    mpc_host: Annotated[str, Field(min_length=1, max_length=255)]
    mpc_port: Annotated[int, Field(ge=1, le=65535)]


class NodeOut(BaseModel):
    name: str
    kind: str
    mpc_host: str
    mpc_port: int
    enrolled_at: datetime.datetime
    last_seen: datetime.datetime | None


class ReportIn(BaseModel):
    ok: bool
    attempt: Annotated[int, Field(ge=1, le=2**31)] = 1
    code: Annotated[str | None, Field(max_length=64)] = None
    error: Annotated[str | None, Field(max_length=4000)] = None
    seconds: Annotated[float, Field(ge=0, le=1e9)] = 0.0
    bytes: Annotated[int, Field(ge=0, le=2**62)] = 0
    rows_used: Annotated[int, Field(ge=0, le=2**62)] = 0  # rows the node's sources contributed
    result: dict[str, Any] | None = None


class ErrorOut(BaseModel):
    ok: bool = False
    code: str
    error: str
    hint: str
    status: int


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 422)
}


def _user(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        display_name=user.display_name,
        role=user.role,
        party=user.party,
    )


def _dataset(session: Session, dataset: Dataset) -> DatasetOut:
    topic = session.get(Topic, dataset.topic_id) if dataset.topic_id else None  # identity map
    return DatasetOut(
        id=dataset.id,
        party=dataset.party,
        name=dataset.name,
        topic=topic.name if topic else None,
        description=dataset.description,
        columns=dataset.columns,
        sample=dataset.sample,
        rows=dataset.rows,
        group_min_size=dataset.group_min_size,
        updated_at=dataset.updated_at,
    )


def _grant(grant: Grant) -> GrantOut:
    return GrantOut.model_validate(grant, from_attributes=True)


# --- the application -----------------------------------------------------------------------


def create_app(settings: HubSettings, *, admin: tuple[str, str] | None = None) -> FastAPI:
    """The hub's application over its database (migrated on creation). ``admin``: a first admin
    user (name, password) created when the hub has no user yet."""
    home = Path(settings.home)
    engine = store.open_database(store.database_url(home, settings.database_url))
    store.upgrade(engine)
    key = security.signing_key(home)
    sessions = store.sessions(engine)
    if admin is not None:
        _bootstrap(sessions, *admin)
    with sessions() as db:  # jobs the last run left running end as failed
        if jobs.fail_interrupted(db):
            db.commit()
    # SQLite has one writer at a time: writing requests queue here, in the event loop, instead of
    # waiting inside SQLite (whose busy handler is not fair: under load some time out)
    # (one lock per event loop: the node listener runs its own loop in its own thread)
    writers: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
    sqlite = engine.dialect.name == "sqlite"

    async def write_slot(request: Request) -> AsyncIterator[None]:
        if not sqlite or request.method in ("GET", "HEAD", "OPTIONS"):
            yield
            return
        lock = writers.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            yield

    app = FastAPI(
        dependencies=[Depends(write_slot, scope="function")],
        title="Shuyu hub / 数域运营平台",
        version=__version__,
        description="The operator's hub of a Shuyu data space (docs/platform.md).",
        responses=ERRORS,
    )
    app.state.engine = engine
    hall: dict[tuple[Any, ...], bytes] = {}  # cached pages of GET /api/datasets
    _errors(app)

    def session() -> Iterator[Session]:
        with sessions() as db:
            try:
                yield db
                db.commit()
            except BaseException:
                db.rollback()
                raise

    # scope="function": the transaction commits before the response leaves, so a client that
    # reads right after a write sees it
    Db = Annotated[Session, Depends(session, scope="function")]

    def current_user(db: Db, authorization: Annotated[str | None, Header()] = None) -> User:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("this route needs a token")
        return service.authenticate(db, key, authorization[7:].strip())

    Me = Annotated[User, Depends(current_user)]

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "service": "hub", "version": __version__}

    @app.post("/api/login")
    def login(body: Login, db: Db) -> Token:
        token, user = service.login(db, key, settings.token_ttl_s, body.name, body.password)
        return Token(token=token, expires_in=settings.token_ttl_s, user=_user(user))

    @app.get("/api/me")
    def me(user: Me) -> UserOut:
        return _user(user)

    @app.post("/api/users", status_code=201)
    def create_user(body: UserIn, user: Me, db: Db) -> UserOut:
        created = service.create_user(db, user, **body.model_dump())
        return _user(created)

    @app.get("/api/topics")
    def topics(user: Me, db: Db) -> list[TopicOut]:
        return [
            TopicOut(id=t.id, name=t.name, description=t.description)
            for t in db.query(Topic).order_by(Topic.name)
        ]

    @app.post("/api/topics", status_code=201)
    def create_topic(body: TopicIn, user: Me, db: Db) -> TopicOut:
        topic = service.create_topic(db, user, body.name, body.description)
        db.commit()
        hall.clear()
        return TopicOut(id=topic.id, name=topic.name, description=topic.description)

    @app.post("/api/datasets", status_code=201)
    def publish(body: DatasetIn, user: Me, db: Db) -> DatasetOut:
        dataset = service.publish_dataset(db, user, **body.model_dump())
        db.commit()
        hall.clear()
        return _dataset(db, dataset)

    # The hall is read far more than anything else: its pages come from a cache that any
    # publication clears, and the reader's token is checked without a database round trip when
    # its user was seen in the last few seconds (a disabled user is refused within that time).
    seen: dict[int, tuple[float, str, str | None]] = {}  # user id -> (when, role, party)

    def load_user(user_id: int) -> tuple[str, str | None] | None:
        with sessions() as db:
            user = db.get(User, user_id)
            return None if user is None or user.disabled else (user.role, user.party)

    async def reader(authorization: Annotated[str | None, Header()] = None) -> None:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("this route needs a token")
        claims = security.read_token(key, authorization[7:].strip())
        now = time.monotonic()
        entry = seen.get(claims.user_id)
        if entry is None or now - entry[0] > READER_TTL_S:
            found = await run_in_threadpool(load_user, claims.user_id)
            if found is None:
                seen.pop(claims.user_id, None)
                raise Unauthenticated("the token's user no longer exists or has changed")
            entry = (now, *found)
            seen[claims.user_id] = entry
        if (entry[1], entry[2]) != (claims.role, claims.party):
            raise Unauthenticated("the token's user no longer exists or has changed")

    def hall_page(key: tuple[Any, ...]) -> bytes:
        q, topic, owner, grade, column, limit, offset = key
        with sessions() as db:
            filters = service.DatasetFilter(q, topic, owner, grade, column)
            found = [_dataset(db, d) for d in service.list_datasets(db, filters, limit, offset)]
        return TypeAdapter(list[DatasetOut]).dump_json(found)

    @app.get("/api/datasets", dependencies=[Depends(reader)])
    async def datasets(
        *,
        q: Annotated[str | None, Query(max_length=200)] = None,
        topic: Annotated[str | None, Query(max_length=64)] = None,
        owner: Annotated[str | None, Query(max_length=64)] = None,
        grade: Annotated[str | None, Query(max_length=32)] = None,
        column: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    ) -> list[DatasetOut]:
        key = (q, topic, owner, grade, column, limit, offset)
        page = hall.get(key)
        if page is None:
            page = await run_in_threadpool(hall_page, key)
            if len(hall) > 10_000:
                hall.clear()
            hall[key] = page
        return Response(page, media_type="application/json")  # type: ignore[return-value]

    @app.get("/api/datasets/{dataset_id}")
    def dataset(dataset_id: Id, user: Me, db: Db) -> DatasetOut:
        return _dataset(db, service.get_dataset(db, dataset_id))

    @app.post("/api/grants", status_code=201)
    def request_grant(body: GrantIn, user: Me, db: Db) -> GrantOut:
        return _grant(service.request_grant(db, user, **body.model_dump()))

    @app.get("/api/grants")
    def grants(user: Me, db: Db) -> list[GrantOut]:
        return [_grant(g) for g in service.visible_grants(db, user)]

    @app.get("/api/grants/{grant_id}")
    def grant(grant_id: Id, user: Me, db: Db) -> GrantOut:
        return _grant(service.get_grant(db, user, grant_id))

    @app.post("/api/grants/{grant_id}/{action}")
    def decide(
        grant_id: Id,
        action: Literal["approve", "refuse", "suspend", "resume", "revoke"],
        body: Decision,
        user: Me,
        db: Db,
    ) -> GrantOut:
        return _grant(service.decide(db, user, grant_id, action, **body.model_dump()))

    @app.post("/api/jobs", status_code=201)
    def submit(body: JobIn, user: Me, db: Db) -> Submission:
        submitted = jobs.submit(db, user, body.sql)
        return Submission(job=_job(submitted.job), explain=submitted.planned.explain())

    @app.get("/api/jobs")
    def list_jobs(user: Me, db: Db) -> list[JobOut]:
        return [_job(j) for j in jobs.visible_jobs(db, user)]

    @app.get("/api/jobs/{job_id}")
    def job(job_id: Id, user: Me, db: Db) -> JobOut:
        return _job(jobs.get_job(db, user, job_id))

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: Id, user: Me, db: Db) -> JobOut:
        return _job(jobs.cancel(db, user, job_id))

    @app.post("/api/jobs/{job_id}/retry")
    def retry(job_id: Id, user: Me, db: Db) -> JobOut:
        return _job(jobs.retry(db, user, job_id))

    @app.get("/api/jobs/{job_id}/result")
    def job_result(job_id: Id, user: Me, db: Db) -> dict[str, Any]:
        return jobs.result(db, user, job_id)

    @app.get("/api/metering")
    def metering(user: Me, db: Db) -> list[dict[str, Any]]:
        return jobs.metering(db, user)

    @app.get("/api/events")
    def events(
        *,
        user: Me,
        db: Db,
        after: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[EventOut]:
        service.require(user, "regulator", "operator", "admin")
        found = db.query(Event).where(Event.id > after).order_by(Event.id).limit(limit)
        return [EventOut.model_validate(e, from_attributes=True) for e in found]

    # -- nodes ---------------------------------------------------------------------------

    app.state.node_port = None  # with TLS, the port whose clients must present a certificate
    app.state.node_url = None  # what enrolment tells a node to call

    def current_node(
        request: Request, db: Db, key: Annotated[str | None, Header(alias="X-Node-Key")] = None
    ) -> Node:
        node_port = app.state.node_port
        server = request.scope.get("server") or (None, None)
        if node_port is not None and server[1] != node_port:
            raise Forbidden(
                "node routes answer on the hub's node port only (mutual TLS)",
                hint="Call the node_url the enrolment returned, with the node's certificate.",
            )
        return nodes.authenticate(db, key)

    ThisNode = Annotated[Node, Depends(current_node)]

    @app.post("/api/nodes/tokens", status_code=201)
    def node_token(body: NodeTokenIn, user: Me, db: Db) -> dict[str, Any]:
        token = nodes.create_token(db, user, body.name, body.kind, body.ttl_s)
        return {"ok": True, "token": token, "name": body.name, "kind": body.kind}

    @app.post("/api/nodes/enroll", status_code=201)
    def enroll(body: EnrollIn, db: Db) -> dict[str, Any]:
        answer = nodes.enroll(
            db,
            settings.ca_dir,
            token=body.token,
            name=body.name,
            request_pem=body.request,
            mpc_host=body.mpc_host,
            mpc_port=body.mpc_port,
        )
        return answer | {"node_url": app.state.node_url}

    @app.get("/api/nodes")
    def list_nodes(user: Me, db: Db) -> list[NodeOut]:
        service.require(user, "operator", "regulator", "admin")
        found = db.query(Node).order_by(Node.name)
        return [NodeOut.model_validate(n, from_attributes=True) for n in found]

    @app.get("/api/node/grants")
    def grants_for_node(node: ThisNode, db: Db) -> list[dict[str, Any]]:
        return nodes.node_grants(db, node)

    @app.get("/api/node/work")
    def node_work(node: ThisNode, db: Db) -> list[dict[str, Any]]:
        return nodes.work(db, node)

    @app.post("/api/node/jobs/{job_id}/report")
    def node_report(job_id: Id, body: ReportIn, node: ThisNode, db: Db) -> JobOut:
        return _job(nodes.report(db, node, job_id, body.model_dump()))

    return app


def _job(job: Job) -> JobOut:
    return JobOut.model_validate(job, from_attributes=True)


def _bootstrap(sessions: sessionmaker[Session], name: str, password: str) -> None:
    with sessions() as db:
        if db.query(User).count() == 0:
            service.create_user(db, None, name=name, password=password, role="admin")
            db.commit()


def _errors(app: FastAPI) -> None:
    @app.exception_handler(ShuyuError)
    async def shuyu_error(_: Request, error: ShuyuError) -> JSONResponse:
        return JSONResponse(error.to_dict(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors()[:5]:
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
        shaped = InvalidRequest("invalid request: " + "; ".join(problems))
        return JSONResponse(shaped.to_dict(), status_code=shaped.status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 404:
            shaped: ShuyuError = NotFound("no such route", hint="/openapi.json lists the routes.")
        else:
            shaped = InvalidRequest(str(error.detail))
            body = shaped.to_dict() | {"status": error.status_code}
            return JSONResponse(body, status_code=error.status_code)
        return JSONResponse(shaped.to_dict(), status_code=shaped.status)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        shaped = ShuyuError(f"internal error ({type(error).__name__})")
        return JSONResponse(shaped.to_dict(), status_code=500)
