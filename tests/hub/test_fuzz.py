"""Schemathesis against the hub's own OpenAPI document (bounded): every generated request, with
and without a valid token, gets the error shape and never a 5xx."""

from __future__ import annotations

import tempfile

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from shuyu.config import HubSettings
from shuyu.hub.api import create_app

from .conftest import ADMIN

HOME = tempfile.mkdtemp(prefix="shuyu-hub-fuzz-")
APP = create_app(HubSettings(home=HOME), admin=ADMIN)
with TestClient(APP) as _client:
    _token = _client.post("/api/login", json={"name": ADMIN[0], "password": ADMIN[1]}).json()
    TOKEN = _token["token"]
    _client.post(
        "/api/datasets",
        json={"name": "x", "columns": [{"name": "a", "type": "INT"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_hub_fail(case):
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        response = case.call(headers=headers)
        assert response.status_code < 500, (case.method, case.path, response.text)
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"ok", "code", "error", "hint", "status"}, body
            assert body["ok"] is False and body["status"] == response.status_code
