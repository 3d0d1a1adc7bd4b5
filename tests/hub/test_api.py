"""The hub's API through FastAPI's in-process client: roles, the resource hall, the
authorisation workflow, and the one error shape on every failure."""

from __future__ import annotations

import datetime
import time

import jwt
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from shuyu.config import HubSettings
from shuyu.hub.api import create_app
from shuyu.hub.models import Job

from .conftest import ADMIN

PASSWORD = "a-good-password"
COLUMNS = [
    {"name": "phone", "type": "STRING", "label": "cn_mobile", "grade": "L3"},
    {"name": "city", "type": "STRING", "label": "address", "grade": "L2"},
    {"name": "income", "type": "DECIMAL(2)", "label": "financial_amount", "grade": "L3"},
]


def login(client, name, password=PASSWORD):
    done = client.post("/api/login", json={"name": name, "password": password})
    assert done.status_code == 200, done.text
    return {"Authorization": f"Bearer {done.json()['token']}"}


@pytest.fixture
def people(hub):
    admin = login(hub, *ADMIN)
    for name, role, party in (
        ("bank-owner", "owner", "bank"),
        ("telco-owner", "owner", "telco"),
        ("shop-analyst", "consumer", "shop"),
        ("other-analyst", "consumer", "telco"),
        ("operator", "operator", None),
        ("regulator", "regulator", None),
    ):
        body = {"name": name, "password": PASSWORD, "role": role, "party": party}
        done = hub.post("/api/users", json=body, headers=admin)
        assert done.status_code == 201, done.text
    return {
        name: login(hub, name)
        for name in (
            "bank-owner",
            "telco-owner",
            "shop-analyst",
            "other-analyst",
            "operator",
            "regulator",
        )
    } | {"admin": admin}


def assert_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body == {
        "ok": False,
        "code": code,
        "error": body["error"],
        "hint": body["hint"],
        "status": status,
    }
    assert body["error"] and body["hint"]
    assert "Traceback" not in response.text


def publish(hub, people):
    hub.post("/api/topics", json={"name": "金融"}, headers=people["operator"])
    body = {
        "name": "customers",
        "topic": "金融",
        "description": "零售客户 retail customers",
        "columns": COLUMNS,
        "sample": [{"phone": "138****0001", "city": "北京", "income": "1****"}],
        "rows": 1000,
    }
    done = hub.post("/api/datasets", json=body, headers=people["bank-owner"])
    assert done.status_code == 201, done.text
    return done.json()


def request(hub, people, dataset_id, **changes):
    now = datetime.datetime.now(datetime.UTC)
    body = {
        "dataset_id": dataset_id,
        "purpose": "联合营销统计 joint marketing statistics",
        "columns": ["phone", "city", "income"],
        "operations": ["join", "group_by", "aggregate"],
        "valid_from": now.isoformat(),
        "valid_until": (now + datetime.timedelta(days=30)).isoformat(),
        "query_quota": 10,
    } | changes
    return hub.post("/api/grants", json=body, headers=people["shop-analyst"])


def test_health_and_login_are_the_only_open_routes(hub):
    assert hub.get("/api/health").json()["ok"] is True
    for method, path in (
        ("get", "/api/me"),
        ("get", "/api/datasets"),
        ("get", "/api/grants"),
        ("post", "/api/users"),
        ("post", "/api/datasets"),
    ):
        assert_error(getattr(hub, method)(path), 401, "hub.unauthenticated")
    assert_error(
        hub.post("/api/login", json={"name": "admin", "password": "wrong-password"}),
        401,
        "hub.unauthenticated",
    )
    assert hub.get("/openapi.json").json()["info"]["title"].startswith("Shuyu hub")


def test_tokens_expire_and_forgeries_are_refused(tmp_path):
    settings = HubSettings(home=str(tmp_path / "hub"), token_ttl_s=10)
    with TestClient(create_app(settings, admin=ADMIN), raise_server_exceptions=False) as hub:
        headers = login(hub, *ADMIN)
        assert hub.get("/api/me", headers=headers).json()["role"] == "admin"
        token = headers["Authorization"].split()[1]
        claims = jwt.decode(token, options={"verify_signature": False})
        forged = jwt.encode(claims | {"role": "admin"}, b"x" * 32, algorithm="HS256")
        bad = {"Authorization": f"Bearer {forged}"}
        assert_error(hub.get("/api/me", headers=bad), 401, "hub.unauthenticated")
        key = (tmp_path / "hub" / "token.key").read_bytes()
        assert (tmp_path / "hub" / "token.key").stat().st_mode & 0o777 == 0o600
        expired = jwt.encode(claims | {"exp": time.time() - 1}, key, algorithm="HS256")
        response = hub.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
        assert_error(response, 401, "hub.unauthenticated")
        assert "expired" in response.json()["error"]


def test_roles_are_checked_on_every_write(hub, people):
    body = {"name": "x-user", "password": PASSWORD, "role": "admin"}
    assert_error(
        hub.post("/api/users", json=body, headers=people["bank-owner"]), 403, "hub.forbidden"
    )
    dataset = {"name": "t", "columns": COLUMNS}
    assert_error(
        hub.post("/api/datasets", json=dataset, headers=people["shop-analyst"]),
        403,
        "hub.forbidden",
    )
    assert_error(
        hub.post("/api/topics", json={"name": "t"}, headers=people["shop-analyst"]),
        403,
        "hub.forbidden",
    )


def test_the_hall_searches_and_filters(hub, people):
    published = publish(hub, people)
    assert published["party"] == "bank" and published["topic"] == "金融"
    consumer = people["shop-analyst"]
    assert [d["id"] for d in hub.get("/api/datasets", headers=consumer).json()] == [published["id"]]
    for query, hits in (
        ("q=retail", 1),
        ("q=nothing", 0),
        ("owner=bank", 1),
        ("owner=telco", 0),
        ("grade=L3", 1),
        ("grade=L5", 0),
        ("column=INCOME", 1),
        ("topic=金融", 1),
    ):
        assert len(hub.get(f"/api/datasets?{query}", headers=consumer).json()) == hits, query
    assert_error(hub.get("/api/datasets?topic=none", headers=consumer), 404, "hub.not_found")
    assert_error(hub.get("/api/datasets/999", headers=consumer), 404, "hub.not_found")


def test_the_authorisation_workflow(hub, people):
    dataset = publish(hub, people)
    done = request(hub, people, dataset["id"])
    assert done.status_code == 201, done.text
    grant = done.json()
    assert grant["state"] == "requested" and grant["receiver"] == "shop"
    # the owner sees it, another consumer does not, the regulator does
    assert [g["id"] for g in hub.get("/api/grants", headers=people["bank-owner"]).json()] == [
        grant["id"]
    ]
    assert hub.get("/api/grants", headers=people["other-analyst"]).json() == []
    assert len(hub.get("/api/grants", headers=people["regulator"]).json()) == 1
    assert hub.get("/api/grants", headers=people["telco-owner"]).json() == []
    # only the dataset's owner decides
    path = f"/api/grants/{grant['id']}"
    assert_error(
        hub.post(f"{path}/approve", json={}, headers=people["telco-owner"]), 403, "hub.forbidden"
    )
    assert_error(
        hub.post(f"{path}/approve", json={}, headers=people["shop-analyst"]), 403, "hub.forbidden"
    )
    # an approval may narrow, never widen
    wider = {"operations": ["join", "plaintext"]}
    assert_error(
        hub.post(f"{path}/approve", json=wider, headers=people["bank-owner"]),
        422,
        "hub.invalid_request",
    )
    more = {"query_quota": 11}
    assert_error(
        hub.post(f"{path}/approve", json=more, headers=people["bank-owner"]),
        422,
        "hub.invalid_request",
    )
    narrow = {"columns": ["phone", "city"], "operations": ["join", "group_by"], "query_quota": 5}
    approved = hub.post(f"{path}/approve", json=narrow, headers=people["bank-owner"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    assert approved.json()["columns"] == ["phone", "city"] and approved.json()["query_quota"] == 5
    # the state machine
    assert_error(
        hub.post(f"{path}/approve", json={}, headers=people["bank-owner"]), 409, "hub.conflict"
    )
    assert_error(
        hub.post(f"{path}/suspend", json={}, headers=people["bank-owner"]),
        422,
        "hub.invalid_request",
    )
    owner = people["bank-owner"]
    assert (
        hub.post(f"{path}/suspend", json={"reason": "审计中"}, headers=owner).json()["state"]
        == "suspended"
    )
    assert hub.post(f"{path}/resume", json={}, headers=owner).json()["state"] == "approved"
    assert (
        hub.post(f"{path}/revoke", json={"reason": "合同终止"}, headers=owner).json()["state"]
        == "revoked"
    )
    assert_error(hub.post(f"{path}/resume", json={}, headers=owner), 409, "hub.conflict")


def test_bad_requests_get_the_error_shape(hub, people):
    dataset = publish(hub, people)
    consumer = people["shop-analyst"]
    assert_error(request(hub, people, dataset["id"], columns=["nope"]), 422, "hub.invalid_request")
    assert_error(
        request(hub, people, dataset["id"], operations=["steal"]), 422, "hub.invalid_request"
    )
    assert_error(request(hub, people, dataset["id"], query_quota=0), 422, "hub.invalid_request")
    assert_error(request(hub, people, 999), 404, "hub.not_found")
    now = datetime.datetime.now(datetime.UTC).isoformat()
    assert_error(
        request(hub, people, dataset["id"], valid_until=now, valid_from=now),
        422,
        "hub.invalid_request",
    )
    assert_error(request(hub, people, dataset["id"], receiver="bank"), 403, "hub.forbidden")
    response = hub.post(
        "/api/grants", content=b"{not json", headers=consumer | {"content-type": "application/json"}
    )
    assert_error(response, 422, "hub.invalid_request")
    assert_error(hub.get("/api/nowhere", headers=consumer), 404, "hub.not_found")
    assert_error(
        hub.post("/api/grants/1/dance", json={}, headers=consumer), 422, "hub.invalid_request"
    )
    duplicate = {"name": "bank-owner", "password": PASSWORD, "role": "owner", "party": "bank"}
    assert_error(
        hub.post("/api/users", json=duplicate, headers=people["admin"]), 409, "hub.conflict"
    )


def test_state_survives_a_restart(tmp_path):
    settings = HubSettings(home=str(tmp_path / "hub"))
    with TestClient(create_app(settings, admin=ADMIN)) as hub:
        admin = login(hub, *ADMIN)
        body = {"name": "bank-owner", "password": PASSWORD, "role": "owner", "party": "bank"}
        assert hub.post("/api/users", json=body, headers=admin).status_code == 201
    with TestClient(create_app(settings, admin=("other", "other-password"))) as hub:
        owner = login(hub, "bank-owner")
        assert hub.get("/api/me", headers=owner).json()["party"] == "bank"
        assert (
            hub.post("/api/login", json={"name": "other", "password": "other-password"}).status_code
            == 401
        )


def test_identifiers_beyond_64_bits_are_invalid_not_errors(hub, people):
    consumer = people["shop-analyst"]
    for path in (
        "/api/datasets/99999999999999999999999",
        "/api/jobs/18446744073709551616",
        "/api/grants/18446744073709551616",
        "/api/events?after=99999999999999999999",
        "/api/datasets?offset=99999999999999999999",
    ):
        assert_error(hub.get(path, headers=consumer), 422, "hub.invalid_request")


OPEN_ROUTES = {("GET", "/api/health"), ("POST", "/api/login"), ("POST", "/api/nodes/enroll")}
NODE_ROUTES = {
    ("GET", "/api/node/grants"),
    ("GET", "/api/node/work"),
    ("POST", "/api/node/jobs/{job_id}/report"),
}


def test_every_route_needs_a_token_or_a_node_key(hub):
    checked = 0
    for route in hub.app.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/"):
            continue
        for method in route.methods:
            if (method, route.path) in OPEN_ROUTES:
                continue
            path = route.path
            for name in ("dataset_id", "grant_id", "job_id", "action"):
                path = path.replace("{" + name + "}", "approve" if name == "action" else "1")
            response = hub.request(method, path, json={})
            assert response.status_code == 401, (method, route.path, response.text)
            code = response.json()["code"]
            assert code == "hub.unauthenticated", (method, route.path)
            if (method, route.path) in NODE_ROUTES:
                assert "node key" in response.json()["error"]
            checked += 1
    assert checked >= 20


def test_a_consumer_cannot_read_another_consumers_jobs(hub, people):
    with hub.app.state.engine.begin() as connection:  # a succeeded job of shop-analyst
        connection.execute(
            Job.__table__.insert().values(
                id=1, user_id=4, receiver="shop", sql="SELECT 1", grant_ids=[], state="succeeded",
                progress=1.0, result={"names": ["n"], "rows": [[1]]}, parties=[], document={},
                reports={}, attempt=1, created_at=datetime.datetime(2026, 1, 1),
            )
        )  # fmt: skip
    own = hub.get("/api/jobs/1/result", headers=people["shop-analyst"])
    assert own.status_code == 200 and own.json()["rows"] == [[1]]
    for other in ("other-analyst", "bank-owner"):
        response = hub.get("/api/jobs/1/result", headers=people[other])
        assert response.status_code in (403, 404), response.text
        assert "rows" not in response.text
