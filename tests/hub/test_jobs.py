"""Jobs at the hub: planned against the hall and the consumer's live grants, refused without
them, metered against each grant's quota (execution by the nodes comes with ``shuyu node``)."""

from __future__ import annotations

import datetime

import pytest
from fastapi.testclient import TestClient

from shuyu.config import HubSettings
from shuyu.hub.api import create_app
from shuyu.hub.models import Job

from .conftest import ADMIN
from .test_api import PASSWORD, assert_error, login

JOIN_BY_CITY = (
    "SELECT c.city, COUNT(*) AS n, SUM(c.income) AS total FROM bank.customers c "
    "JOIN telco.subscribers s ON s.phone = c.phone GROUP BY c.city"
)


@pytest.fixture
def space(hub):
    admin = login(hub, *ADMIN)
    for name, role, party in (
        ("bank-owner", "owner", "bank"),
        ("telco-owner", "owner", "telco"),
        ("shop-analyst", "consumer", "shop"),
        ("regulator", "regulator", None),
    ):
        body = {"name": name, "password": PASSWORD, "role": role, "party": party}
        assert hub.post("/api/users", json=body, headers=admin).status_code == 201
    people = {
        name: login(hub, name)
        for name in ("bank-owner", "telco-owner", "shop-analyst", "regulator")
    }
    datasets = {}
    for owner, body in (
        (
            "bank-owner",
            {
                "name": "customers",
                "columns": [
                    {"name": "phone", "type": "STRING"},
                    {"name": "city", "type": "STRING"},
                    {"name": "income", "type": "DECIMAL(2)"},
                ],
                "rows": 1000,
                "group_min_size": 3,
            },
        ),
        (
            "telco-owner",
            {
                "name": "subscribers",
                "columns": [
                    {"name": "phone", "type": "STRING"},
                    {"name": "plan", "type": "STRING"},
                    {"name": "fee", "type": "DECIMAL(2)"},
                ],
                "rows": 2000,
            },
        ),
    ):
        done = hub.post("/api/datasets", json=body, headers=people[owner])
        assert done.status_code == 201, done.text
        datasets[owner] = done.json()["id"]
    return people, datasets


def grant(hub, people, dataset_id, owner, columns, operations, quota=5):
    now = datetime.datetime.now(datetime.UTC)
    body = {
        "dataset_id": dataset_id,
        "purpose": "城市客群统计 customers per city",
        "columns": columns,
        "operations": operations,
        "valid_from": (now - datetime.timedelta(minutes=1)).isoformat(),
        "valid_until": (now + datetime.timedelta(days=1)).isoformat(),
        "query_quota": quota,
    }
    requested = hub.post("/api/grants", json=body, headers=people["shop-analyst"])
    assert requested.status_code == 201, requested.text
    path = f"/api/grants/{requested.json()['id']}/approve"
    approved = hub.post(path, json={}, headers=people[owner])
    assert approved.status_code == 200, approved.text
    return approved.json()["id"]


def both_grants(hub, people, datasets, quota=5):
    bank = grant(
        hub, people, datasets["bank-owner"], "bank-owner", ["phone", "city", "income"],
        ["join", "group_by", "aggregate"], quota,
    )  # fmt: skip
    telco = grant(hub, people, datasets["telco-owner"], "telco-owner", ["phone"], ["join"], quota)
    return bank, telco


def submit(hub, people, sql):
    return hub.post("/api/jobs", json={"sql": sql}, headers=people["shop-analyst"])


def used(hub, people):
    return {
        g["id"]: g["queries_used"]
        for g in hub.get("/api/grants", headers=people["shop-analyst"]).json()
    }


def test_a_query_without_grants_is_refused_and_creates_no_job(hub, space):
    people, _ = space
    response = submit(hub, people, JOIN_BY_CITY)
    assert response.status_code == 403
    assert response.json()["code"] in ("policy.denied", "hub.quota_exhausted")
    assert hub.get("/api/jobs", headers=people["shop-analyst"]).json() == []


def test_a_granted_query_is_planned_queued_and_metered(hub, space):
    people, datasets = space
    bank, telco = both_grants(hub, people, datasets)
    response = submit(hub, people, JOIN_BY_CITY)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["job"]["state"] == "queued" and body["job"]["receiver"] == "shop"
    assert sorted(body["job"]["grant_ids"]) == sorted([bank, telco])
    # the owners hold no grant on each other's phones: the join runs in private mode
    assert "delegated INNER JOIN (private mode)" in body["explain"]
    assert used(hub, people) == {bank: 1, telco: 1}
    metering = hub.get("/api/metering", headers=people["bank-owner"]).json()
    assert [(m["grant_id"], m["queries"]) for m in metering] == [(bank, 1)]
    # the regulator sees the submission as a digest, never the SQL text
    events = hub.get("/api/events", headers=people["regulator"]).json()
    submitted = [e for e in events if e["kind"] == "job.submitted"]
    assert len(submitted) == 1 and len(submitted[0]["details"]["sql_sha256"]) == 64
    assert "SELECT" not in str(events)
    assert_error(hub.get("/api/events", headers=people["shop-analyst"]), 403, "hub.forbidden")


def test_refusals_use_no_quota(hub, space):
    people, datasets = space
    bank, telco = both_grants(hub, people, datasets)
    revealing = (
        "SELECT c.income FROM bank.customers c JOIN telco.subscribers s ON s.phone = c.phone"
    )
    assert_error(submit(hub, people, revealing), 403, "policy.denied")
    ungranted = (
        "SELECT c.city, SUM(s.fee) AS fees FROM bank.customers c "
        "JOIN telco.subscribers s ON s.phone = c.phone GROUP BY c.city"
    )
    refused = submit(hub, people, ungranted)  # fee is outside the telco grant
    assert refused.status_code == 403
    assert refused.json()["code"] in ("policy.denied", "hub.forbidden")
    keyed = "SELECT COUNT(*) AS n FROM bank.customers c JOIN telco.subscribers s ON s.plan = c.city"
    refused = submit(hub, people, keyed)  # plan is outside the grant, even as a secret key
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] in ("policy.denied", "hub.forbidden")
    assert_error(submit(hub, people, "SELECT FROM"), 400, "sql.syntax_error")
    assert used(hub, people) == {bank: 0, telco: 0}


def test_quota_revocation_and_cancellation(hub, space):
    people, datasets = space
    bank, _ = both_grants(hub, people, datasets, quota=1)
    first = submit(hub, people, JOIN_BY_CITY)
    assert first.status_code == 201
    assert_error(submit(hub, people, JOIN_BY_CITY), 403, "hub.quota_exhausted")
    job = first.json()["job"]["id"]
    assert_error(
        hub.get(f"/api/jobs/{job}/result", headers=people["shop-analyst"]), 409, "hub.conflict"
    )
    cancelled = hub.post(f"/api/jobs/{job}/cancel", headers=people["shop-analyst"])
    assert cancelled.json()["state"] == "cancelled"
    assert_error(
        hub.post(f"/api/jobs/{job}/cancel", headers=people["shop-analyst"]), 409, "hub.conflict"
    )
    # a fresh grant, then revoked: the next query is refused
    people_bank = people["bank-owner"]
    new_bank = grant(
        hub, people, datasets["bank-owner"], "bank-owner", ["phone", "city", "income"],
        ["join", "group_by", "aggregate"],
    )  # fmt: skip
    grant(hub, people, datasets["telco-owner"], "telco-owner", ["phone"], ["join"])
    assert submit(hub, people, JOIN_BY_CITY).status_code == 201
    revoke = hub.post(
        f"/api/grants/{new_bank}/revoke", json={"reason": "审计"}, headers=people_bank
    )
    assert revoke.json()["state"] == "revoked"
    refused = submit(hub, people, JOIN_BY_CITY)
    assert_error(refused, 403, "hub.quota_exhausted")  # the first grant is still approved, spent
    path = f"/api/grants/{bank}/revoke"
    assert hub.post(path, json={"reason": "审计"}, headers=people_bank).status_code == 200
    refused = submit(hub, people, JOIN_BY_CITY)
    assert refused.status_code == 403  # the policy no longer lets the result out
    assert refused.json()["code"] == "policy.denied"


def test_only_the_submitter_sees_its_jobs(hub, space):
    people, datasets = space
    both_grants(hub, people, datasets)
    job = submit(hub, people, JOIN_BY_CITY).json()["job"]["id"]
    assert_error(hub.get(f"/api/jobs/{job}", headers=people["bank-owner"]), 403, "hub.forbidden")
    assert hub.get(f"/api/jobs/{job}", headers=people["regulator"]).json()["id"] == job
    assert_error(hub.get("/api/jobs/999", headers=people["shop-analyst"]), 404, "hub.not_found")


def test_a_hub_restart_fails_running_jobs_instead_of_losing_them(tmp_path):
    settings = HubSettings(home=str(tmp_path / "hub"))
    app = create_app(settings, admin=ADMIN)
    with TestClient(app) as hub:
        admin = login(hub, *ADMIN)
        body = {"name": "shop-analyst", "password": PASSWORD, "role": "consumer", "party": "shop"}
        assert hub.post("/api/users", json=body, headers=admin).status_code == 201
        analyst = login(hub, "shop-analyst")
        published = {"name": "x", "columns": [{"name": "a", "type": "INT"}]}
        owner = {"name": "shop-owner", "password": PASSWORD, "role": "owner", "party": "shop"}
        assert hub.post("/api/users", json=owner, headers=admin).status_code == 201
        assert (
            hub.post("/api/datasets", json=published, headers=login(hub, "shop-owner")).status_code
            == 201
        )
        job = submit(hub, {"shop-analyst": analyst}, "SELECT COUNT(*) AS n FROM shop.x")
        assert job.status_code == 201, job.text
        job_id = job.json()["job"]["id"]
    with app.state.engine.begin() as connection:  # the hub stops while the job runs
        connection.execute(Job.__table__.update().values(state="running"))
    with TestClient(create_app(settings)) as hub:
        analyst = login(hub, "shop-analyst")
        state = hub.get(f"/api/jobs/{job_id}", headers=analyst).json()
        assert state["state"] == "failed" and "restarted" in state["error"]
        retried = hub.post(f"/api/jobs/{job_id}/retry", headers=analyst)
        assert retried.status_code == 200 and retried.json()["state"] == "queued"
        assert_error(hub.post(f"/api/jobs/{job_id}/retry", headers=analyst), 409, "hub.conflict")
