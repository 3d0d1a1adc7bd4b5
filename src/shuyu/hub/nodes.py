"""Nodes at the hub: enrolment (a one-time token and a certificate signing request: the node's
private key never leaves it), the work each node pulls, and the reports it sends back.

A node authenticates with the key it received at enrolment (``X-Node-Key: NAME.SECRET``; the
hub keeps its SHA-256). Jobs are pulled: a node asks for the jobs in which it is a compute party,
gets each job's document (``shuyu.engine.jobs``) and its peers' MPC addresses, plans the job
itself, checks it against its own copy of its grants, runs it, and reports. A job succeeds when
its three parties report success, and fails at the first failure report.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shuyu import pki
from shuyu.errors import ConfigError, Conflict, InvalidRequest, NotFound, Unauthenticated
from shuyu.hub.models import Dataset, EnrollToken, Grant, Job, Node, User, utcnow
from shuyu.hub.service import record, require

NODE_KINDS = ("domain", "assist")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, actor: User, name: str, kind: str, ttl_s: float) -> str:
    """A one-time enrolment token for node ``name`` (operator)."""
    require(actor, "operator", "admin")
    pki.validate_name(name)
    if kind not in NODE_KINDS:
        raise InvalidRequest(f"kind must be domain or assist, got {kind!r}")
    token = secrets.token_urlsafe(24)
    expires = utcnow() + datetime.timedelta(seconds=ttl_s)
    session.add(EnrollToken(token_hash=_digest(token), name=name, kind=kind, expires_at=expires))
    record(session, "node.token_created", actor, f"node:{name}", node_kind=kind)
    return token


def enroll(
    session: Session,
    ca_dir: str,
    *,
    token: str,
    name: str,
    request_pem: str,
    mpc_host: str,
    mpc_port: int,
) -> dict[str, Any]:
    """Sign the node's certificate request and register it; returns its certificate, the CA's
    and the node's API key (shown once)."""
    if not ca_dir or not (Path(ca_dir) / "ca.pem").exists():
        raise ConfigError(
            "the hub has no CA to sign node certificates",
            hint="Start the hub with --set hub.ca_dir=DIR (a CA made by `shuyu ca init DIR`).",
        )
    found = session.scalar(select(EnrollToken).where(EnrollToken.token_hash == _digest(token)))
    if found is None or found.used_at is not None or found.expires_at <= utcnow():
        raise Unauthenticated("the enrolment token is unknown, used or expired")
    if found.name != name:
        raise Unauthenticated(f"the enrolment token is for node {found.name!r}, not {name!r}")
    if session.scalar(select(Node).where(Node.name == name)) is not None:
        raise Conflict(f"a node named {name!r} is enrolled already")
    addresses = [mpc_host] if _is_ip(mpc_host) else []
    certificate, ca = pki.sign_request(ca_dir, request_pem.encode(), name, ip_addresses=addresses)
    key = f"{name}.{secrets.token_urlsafe(32)}"
    node = Node(
        name=name,
        kind=found.kind,
        mpc_host=mpc_host,
        mpc_port=mpc_port,
        key_hash=_digest(key),
    )
    session.add(node)
    found.used_at = utcnow()
    session.flush()
    record(session, "node.enrolled", None, f"node:{name}", node_kind=found.kind)
    return {
        "certificate": certificate.decode(),
        "ca": ca.decode(),
        "node_key": key,
        "kind": found.kind,
    }


def authenticate(session: Session, header: str | None) -> Node:
    if not header or "." not in header:
        raise Unauthenticated("this route needs a node key (X-Node-Key)")
    name = header.split(".", 1)[0]
    node = session.scalar(select(Node).where(Node.name == name))
    if node is None or not hmac.compare_digest(node.key_hash, _digest(header)):
        raise Unauthenticated("unknown node key")
    node.last_seen = utcnow()
    return node


def node_grants(session: Session, node: Node) -> list[dict[str, Any]]:
    """The grants on the node's party's datasets (the node keeps its own copy)."""
    owned = {d.id: d for d in session.scalars(select(Dataset).where(Dataset.party == node.name))}
    grants = session.scalars(select(Grant).where(Grant.dataset_id.in_(list(owned))))
    return [
        {
            "id": g.id,
            "table": owned[g.dataset_id].name,
            "receiver": g.receiver,
            "columns": g.columns,
            "operations": g.operations,
            "state": g.state,
            "valid_until": g.valid_until.isoformat(),
        }
        for g in grants
    ]


def work(session: Session, node: Node) -> list[dict[str, Any]]:
    """The jobs this node is a compute party of and has not reported on."""
    out = []
    for job in session.scalars(select(Job).where(Job.state.in_(("queued", "running")))):
        if node.name not in job.parties or node.name in job.reports:
            continue
        nodes = {n.name: n for n in session.scalars(select(Node).where(Node.name.in_(job.parties)))}
        missing = [p for p in job.parties if p not in nodes]
        if missing:
            _finish(session, job, "failed", "hub.error", f"no node for {', '.join(missing)}")
            continue
        if job.state == "queued":
            job.state = "running"
            record(session, "job.started", None, f"job:{job.id}")
        out.append(
            {
                "job": job.id,
                "attempt": job.attempt,
                "parties": job.parties,
                "addresses": {p: [nodes[p].mpc_host, nodes[p].mpc_port] for p in job.parties},
                "document": job.document,
            }
        )
    return out


def report(session: Session, node: Node, job_id: int, body: dict[str, Any]) -> Job:
    job = session.get(Job, job_id)
    if job is None or node.name not in job.parties:
        raise NotFound(f"no job {job_id} for node {node.name}")
    if job.state not in ("queued", "running") or body.get("attempt") != job.attempt:
        return job  # cancelled, ended, or a report of an earlier attempt: it changes nothing
    reports = dict(job.reports)
    fields = ("ok", "code", "error", "seconds", "bytes", "rows_used")
    reports[node.name] = {k: body.get(k) for k in fields}
    job.reports = reports
    if not body.get("ok"):
        _finish(session, job, "failed", str(body.get("code")), str(body.get("error")))
        return job
    if body.get("result") is not None:
        if node.name != job.receiver:
            raise InvalidRequest("only the receiving party's node reports a result")
        job.result = body["result"]
    if len(reports) == len(job.parties):
        job.bytes_sent = sum(int(r.get("bytes") or 0) for r in reports.values())
        job.seconds = max(float(r.get("seconds") or 0.0) for r in reports.values())
        job.rows = len((job.result or {}).get("rows", []))
        job.progress = 1.0
        _finish(session, job, "succeeded", None, None)
    return job


def _finish(session: Session, job: Job, state: str, code: str | None, error: str | None) -> None:
    job.state = state
    job.error_code = code
    job.error = error
    job.finished_at = utcnow()
    record(session, f"job.{state}", None, f"job:{job.id}", code=code)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
