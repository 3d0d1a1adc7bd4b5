"""A Python client of the hub's REST API (``docs/platform.md``).

Example::

    from shuyu.client import HubClient

    hub = HubClient("http://127.0.0.1:8700")
    hub.login("shop-analyst", "password")
    for dataset in hub.datasets(owner="bank"):
        print(dataset["name"], [c["name"] for c in dataset["columns"]])
    grant = hub.request(dataset_id=1, purpose="...", columns=["phone"], operations=["join"],
                        days=30, quota=10)

Errors come back as the :class:`~shuyu.errors.ShuyuError` subclass of the code the hub
answered (``policy.denied``, ``hub.forbidden``...), with its message and hint.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from shuyu.errors import HubUnavailable, ShuyuError, error_from_body


class HubClient:
    """One user's session with a hub."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        verify: str | bool = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        checks: ssl.SSLContext | bool = verify if isinstance(verify, bool) else _context(verify)
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, verify=checks)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, json=json, params=clean, headers=headers)
        except httpx.HTTPError as error:
            raise HubUnavailable(
                f"cannot reach the hub at {self.url}: {type(error).__name__}"
            ) from None
        if response.status_code >= 400:
            raise _error_from(response)
        return response.json()

    # -- routes --------------------------------------------------------------------------

    def login(self, name: str, password: str) -> dict[str, Any]:
        answer = self.call("POST", "/api/login", json={"name": name, "password": password})
        self.token = answer["token"]
        return dict(answer)

    def me(self) -> dict[str, Any]:
        return dict(self.call("GET", "/api/me"))

    def create_user(self, name: str, password: str, role: str, party: str | None = None) -> Any:
        body = {"name": name, "password": password, "role": role, "party": party}
        return self.call("POST", "/api/users", json=body)

    def create_topic(self, name: str, description: str = "") -> Any:
        return self.call("POST", "/api/topics", json={"name": name, "description": description})

    def publish(self, dataset: Mapping[str, Any]) -> Any:
        return self.call("POST", "/api/datasets", json=dict(dataset))

    def datasets(self, **filters: Any) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/datasets", params=filters))

    def dataset(self, dataset_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/datasets/{dataset_id}"))

    def request(
        self,
        *,
        dataset_id: int,
        purpose: str,
        columns: list[str],
        operations: list[str],
        days: float,
        quota: int,
    ) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.UTC)
        body = {
            "dataset_id": dataset_id,
            "purpose": purpose,
            "columns": columns,
            "operations": operations,
            "valid_from": now.isoformat(),
            "valid_until": (now + datetime.timedelta(days=days)).isoformat(),
            "query_quota": quota,
        }
        return dict(self.call("POST", "/api/grants", json=body))

    def grants(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/grants"))

    def decide(self, grant_id: int, action: str, **decision: Any) -> dict[str, Any]:
        body = {k: v for k, v in decision.items() if v is not None}
        return dict(self.call("POST", f"/api/grants/{grant_id}/{action}", json=body))

    def submit(self, sql: str) -> dict[str, Any]:
        return dict(self.call("POST", "/api/jobs", json={"sql": sql}))

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/jobs"))

    def job(self, job_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/jobs/{job_id}"))

    def cancel(self, job_id: int) -> dict[str, Any]:
        return dict(self.call("POST", f"/api/jobs/{job_id}/cancel"))

    def retry(self, job_id: int) -> dict[str, Any]:
        return dict(self.call("POST", f"/api/jobs/{job_id}/retry"))

    def result(self, job_id: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/jobs/{job_id}/result"))

    def metering(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/metering"))


def _context(ca: str) -> ssl.SSLContext:
    """Check the hub's certificate against the data space's CA certificate ``ca``."""
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _error_from(response: httpx.Response) -> ShuyuError:
    try:
        body = response.json()
    except ValueError:
        body = None
    return error_from_body(response.status_code, body)
