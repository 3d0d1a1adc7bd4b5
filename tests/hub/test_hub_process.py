"""``shuyu hub serve`` as a real process, driven by the ``shuyu`` user commands: publish →
request → approve → submit → metered (the jobs' execution by nodes comes with ``shuyu node``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from shuyu.client import HubClient

pytestmark = pytest.mark.e2e

PASSWORD = "a-good-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hub_process(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "SHUYU_HUB_ADMIN_PASSWORD": "admin-password-1",
        "PYTHONIOENCODING": "utf-8",
    }
    process = subprocess.Popen(
        [
            sys.executable, "-m", "shuyu", "hub", "serve", "--listen", f"127.0.0.1:{port}",
            "--admin", "admin", "--set", f"hub.home={tmp_path / 'hub'}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"the hub did not start: {process.communicate()[1]}")
    yield url
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the hub did not stop on SIGTERM")


def shuyu(tmp_path, user, *argv, password=PASSWORD):
    env = {**os.environ, "SHUYU_PASSWORD": password, "PYTHONIOENCODING": "utf-8"}
    session = tmp_path / f"{user}.session"
    done = subprocess.run(
        [sys.executable, "-m", "shuyu", "--json", *argv, "--session", str(session)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done


def test_the_flow_through_the_hub_process(hub_process, tmp_path):
    url = hub_process
    assert shuyu(tmp_path, "admin", "login", "--hub", url, "--user", "admin",
                 password="admin-password-1").returncode == 0  # fmt: skip

    with HubClient(url) as admin:
        admin.login("admin", "admin-password-1")
        admin.create_user("bank-owner", PASSWORD, "owner", "bank")
        admin.create_user("telco-owner", PASSWORD, "owner", "telco")
        admin.create_user("shop-analyst", PASSWORD, "consumer", "shop")
    for user in ("bank-owner", "telco-owner", "shop-analyst"):
        done = shuyu(tmp_path, user, "login", "--hub", url, "--user", user)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / f"{user}.session").stat().st_mode & 0o777 == 0o600
    ids = {}
    for user, name, columns in (
        ("bank-owner", "customers", [("phone", "STRING"), ("city", "STRING")]),
        ("telco-owner", "subscribers", [("phone", "STRING"), ("plan", "STRING")]),
    ):
        spec = tmp_path / f"{name}.json"
        spec.write_text(json.dumps({
            "name": name, "rows": 100, "group_min_size": 1,
            "columns": [{"name": c, "type": t} for c, t in columns],
        }))  # fmt: skip
        done = shuyu(tmp_path, user, "publish", str(spec))
        assert done.returncode == 0, done.stderr
        ids[user] = json.loads(done.stdout)["id"]
    listed = json.loads(shuyu(tmp_path, "shop-analyst", "datasets").stdout)
    assert {d["name"] for d in listed} == {"customers", "subscribers"}
    for owner, columns, operations in (
        ("bank-owner", "phone,city", "join,group_by"),
        ("telco-owner", "phone", "join"),
    ):
        done = shuyu(
            tmp_path, "shop-analyst", "request", "--dataset", str(ids[owner]),
            "--purpose", "城市客群 customers per city", "--columns", columns,
            "--operations", operations, "--quota", "3",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        grant = json.loads(done.stdout)["id"]
        done = shuyu(tmp_path, owner, "approve", str(grant))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["state"] == "approved"
    sql = (
        "SELECT c.city, COUNT(*) AS n FROM bank.customers c JOIN telco.subscribers s "
        "ON s.phone = c.phone GROUP BY c.city"
    )
    done = shuyu(tmp_path, "shop-analyst", "submit", sql)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["job"]["state"] == "queued"
    metering = json.loads(shuyu(tmp_path, "shop-analyst", "metering").stdout)
    assert sorted(m["queries_used"] for m in metering) == [1, 1]
    # a refusal: the error shape reaches the command line
    done = shuyu(tmp_path, "shop-analyst", "submit", "SELECT c.phone FROM bank.customers c")
    assert done.returncode == 2
    error = json.loads(done.stderr)
    assert error["code"] == "policy.denied" and error["status"] == 403
    done = shuyu(tmp_path, "bank-owner", "request", "--dataset", "1", "--purpose", "x",
                 "--columns", "phone", "--operations", "join")  # fmt: skip
    assert json.loads(done.stderr)["code"] == "hub.forbidden"
