"""Jobs: SQL planned against the hall and the consumer's live grants, metered per grant.

A job is planned by the hub with the same planner and policy pass as ``shuyu query``, over a
catalogue built from the datasets' schemas (no data) and a column policy built from the
submitter's live grants (``docs/platform.md``, "Authorisations"). Every other party's dataset the
query reads needs a live grant that covers the columns it reads; each such grant gives up one
query of its quota. A refused query creates no job and uses no quota.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlglot import exp

from shuyu.engine.jobs import OPERATION_GRANTS, plan_document
from shuyu.engine.query import Planned
from shuyu.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    QuotaExhausted,
    ShuyuError,
)
from shuyu.hub.models import Dataset, Grant, Job, User, utcnow
from shuyu.hub.service import expire_if_due, record, require, visible_grants
from shuyu.sql import plan
from shuyu.sql.parse import parse


def approved_grants(session: Session, consumer: User) -> list[Grant]:
    """The consumer's approved grants (expired ones turned expired first)."""
    out = []
    for grant in session.scalars(select(Grant).where(Grant.consumer_id == consumer.id)):
        expire_if_due(session, grant)
        if grant.state == "approved":
            out.append(grant)
    return out


def _usable(grant: Grant) -> bool:
    """In its validity window, with queries left."""
    return (
        grant.valid_from <= utcnow() < grant.valid_until and grant.queries_used < grant.query_quota
    )


def job_document(session: Session, grants: list[Grant], receiver: str, sql: str) -> dict[str, Any]:
    """The job as every compute party will plan it (``shuyu.engine.jobs``): the datasets the
    SQL names as tables (all of them when it names one that does not exist, so that the error
    can suggest the right name), the grants as column policy for ``receiver``."""
    named = _tables_named(sql)
    query = select(Dataset).order_by(Dataset.id)
    datasets = [d for d in session.scalars(query) if named is None or (d.party, d.name) in named]
    if named is not None and len(datasets) < len(named):
        datasets = list(session.scalars(query))
    by_id = {d.id: d for d in datasets}
    rules = []
    for grant in grants:
        if grant.dataset_id not in by_id:
            continue
        dataset = by_id[grant.dataset_id]
        allow = sorted(OPERATION_GRANTS[op].value for op in grant.operations)
        for name in grant.columns:
            rules.append(
                {
                    "party": dataset.party,
                    "table": dataset.name,
                    "column": name,
                    "to": receiver,
                    "allow": allow,
                    "group_min_size": dataset.group_min_size,
                    "grant": grant.id,
                }
            )
    parties = {d.party for d in datasets}
    return {
        "sql": sql,
        "issuer": receiver,
        "dialect": "mysql",
        "tables": [
            {"party": d.party, "name": d.name, "columns": d.columns, "rows": d.rows}
            for d in datasets
        ],
        "rules": rules,
        # the strictest threshold of the hall applies to every grouping (docs/policy.md)
        "settings": {"group_min_size": max((d.group_min_size for d in datasets), default=5)},
        "extra_parties": [] if receiver in parties else [receiver],
    }


def _tables_named(sql: str) -> set[tuple[str, str]] | None:
    """The ``party.table`` names a query mentions (None when it does not parse: the planner
    then reports the syntax error)."""
    try:
        tree = parse(sql, "mysql")
    except ShuyuError:
        return None
    return {
        (table.db.lower(), table.name.lower()) for table in tree.find_all(exp.Table) if table.db
    }


@dataclass(frozen=True)
class Submitted:
    job: Job
    planned: Planned


def submit(session: Session, actor: User, sql: str) -> Submitted:
    """Plan, check and queue a job for the actor's party."""
    require(actor, "consumer")
    if not sql.strip():
        raise InvalidRequest("sql is empty")
    receiver = actor.party or ""
    grants = approved_grants(session, actor)
    document = job_document(session, grants, receiver, sql)
    planned = plan_document(document)  # sql.* and policy.* errors as they are
    used = _grants_used(session, planned, grants, receiver)
    document["grants"] = [g.id for g in used]
    for grant in used:
        grant.queries_used += 1
    job = Job(
        user_id=actor.id,
        receiver=receiver,
        sql=sql,
        grant_ids=[g.id for g in used],
        state="queued",
        progress=0.0,
        parties=list(planned.parties),
        document=document,
        reports={},
        attempt=1,
    )
    session.add(job)
    session.flush()
    digest = hashlib.sha256(sql.encode()).hexdigest()
    record(
        session, "job.submitted", actor, f"job:{job.id}", sql_sha256=digest, grants=job.grant_ids
    )
    return Submitted(job, planned)


def _grants_used(
    session: Session, planned: Planned, grants: list[Grant], receiver: str
) -> list[Grant]:
    """For every other party's table the plan reads, the live grant that covers the columns it
    reads (the one with the most queries left)."""
    read: dict[tuple[str, str], set[str]] = {}
    for node in plan.walk(planned.query.root):
        if isinstance(node, plan.Scan) and node.party != receiver:
            columns = read.setdefault((node.party, node.table), set())
            for item in node.fields:
                columns.update(origin.column for origin in item.origins)
    used: list[Grant] = []
    for (party, table), columns in sorted(read.items()):
        dataset = session.scalar(
            select(Dataset).where(Dataset.party == party, Dataset.name == table)
        )
        assert dataset is not None
        covering = [g for g in grants if g.dataset_id == dataset.id and columns <= set(g.columns)]
        if not covering:
            raise Forbidden(
                f"no approved grant on {party}.{table} covers the columns "
                f"{', '.join(sorted(columns))}",
                hint=f"Request a grant on {party}.{table} that includes these columns.",
            )
        usable = [g for g in covering if _usable(g)]
        if not usable:
            raise QuotaExhausted(
                f"your grants on {party}.{table} have no queries left or are outside their "
                "validity window"
            )
        used.append(max(usable, key=lambda g: g.query_quota - g.queries_used))
    return used


def _owner(session: Session, grant: Grant) -> str:
    dataset = session.get(Dataset, grant.dataset_id)
    return dataset.party if dataset is not None else ""


# --- reading jobs -----------------------------------------------------------------------------


def visible_jobs(session: Session, actor: User) -> list[Job]:
    query = select(Job).order_by(Job.id)
    if actor.role == "consumer":
        query = query.where(Job.user_id == actor.id)
    elif actor.role not in ("operator", "regulator", "admin"):
        raise Forbidden("this role sees no jobs")
    return list(session.scalars(query))


def get_job(session: Session, actor: User, job_id: int) -> Job:
    """One job, by the rules of :func:`visible_jobs` (without reading every job: clients poll)."""
    if actor.role not in ("consumer", "operator", "regulator", "admin"):
        raise Forbidden("this role sees no jobs")
    job = session.get(Job, job_id)
    if job is None or (actor.role == "consumer" and job.user_id != actor.id):
        raise NotFound(f"no job {job_id}")
    return job


def cancel(session: Session, actor: User, job_id: int) -> Job:
    job = get_job(session, actor, job_id)
    if job.user_id != actor.id:
        raise Forbidden("only the submitter cancels a job")
    if job.state not in ("queued", "running"):
        raise Conflict(f"job {job.id} is {job.state} already")
    job.state = "cancelled"
    job.finished_at = utcnow()
    record(session, "job.cancelled", actor, f"job:{job.id}")
    return job


def retry(session: Session, actor: User, job_id: int) -> Job:
    """Queue a failed job again (its grants are not charged twice: the failed run revealed
    nothing). The job is planned again against the grants as they are now."""
    job = get_job(session, actor, job_id)
    if job.user_id != actor.id:
        raise Forbidden("only the submitter retries a job")
    if job.state != "failed":
        raise Conflict(f"job {job.id} is {job.state}; only a failed job is retried")
    grants = approved_grants(session, actor)
    document = job_document(session, grants, job.receiver, job.sql)
    planned = plan_document(document)
    used = _grants_used(session, planned, grants, job.receiver)
    document["grants"] = [g.id for g in used]
    job.document = document
    job.parties = list(planned.parties)
    job.grant_ids = [g.id for g in used]
    job.state, job.reports, job.error_code, job.error = "queued", {}, None, None
    job.attempt += 1  # reports from the failed attempt are ignored from now on
    job.result, job.finished_at, job.progress = None, None, 0.0
    record(session, "job.retried", actor, f"job:{job.id}")
    return job


def fail_interrupted(session: Session) -> int:
    """At the hub's start: jobs that were running when it stopped end as failed (never lost
    silently); their submitters can retry them."""
    count = 0
    for job in session.scalars(select(Job).where(Job.state == "running")):
        job.state = "failed"
        job.error_code = "hub.error"
        job.error = "the hub restarted while the job ran; retry it"
        job.finished_at = utcnow()
        record(session, "job.failed", None, f"job:{job.id}", code="hub.error")
        count += 1
    return count


def result(session: Session, actor: User, job_id: int) -> dict[str, Any]:
    """The result, for the submitter of the receiving party only."""
    job = get_job(session, actor, job_id)
    if job.user_id != actor.id or actor.party != job.receiver:
        raise Forbidden("only the submitter of the receiving party reads a result")
    if job.state != "succeeded" or job.result is None:
        raise Conflict(f"job {job.id} is {job.state}; a result exists once it has succeeded")
    return job.result


def metering(session: Session, actor: User) -> list[dict[str, Any]]:
    """Per grant the actor may see: queries, rows returned, bytes sent, compute seconds."""
    rows = []
    jobs = list(session.scalars(select(Job)))
    for grant in visible_grants(session, actor):
        owner = _owner(session, grant)
        mine = [j for j in jobs if grant.id in j.grant_ids]
        done = [j for j in mine if j.state == "succeeded"]
        rows.append(
            {
                "grant_id": grant.id,
                "dataset_id": grant.dataset_id,
                "queries": len(mine),
                "queries_used": grant.queries_used,
                "query_quota": grant.query_quota,
                "rows": sum(j.rows or 0 for j in done),
                # rows the grant's dataset's owner contributed to the jobs (its node reports them)
                "rows_used": sum(
                    int((j.reports.get(owner) or {}).get("rows_used") or 0) for j in done
                ),
                "bytes": sum(j.bytes_sent or 0 for j in done),
                "seconds": round(sum(j.seconds or 0.0 for j in done), 3),
            }
        )
    return rows
