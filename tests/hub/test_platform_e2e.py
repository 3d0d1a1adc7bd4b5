"""The platform end to end through real processes: a hub, three domain nodes enrolled with the
hub's CA, publication → request → approval → query → metered result; the result equals DuckDB's
on the same files. Also: a node refuses a job its own copy of the grants does not allow."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import pytest

from shuyu import pki
from shuyu.client import HubClient
from shuyu.errors import Conflict, PolicyDenied
from shuyu.node.config import NodeConfig
from shuyu.node.worker import check_job

pytestmark = pytest.mark.e2e
PASSWORD = "a-good-password"
SQL = (
    "SELECT c.city, COUNT(*) AS n, SUM(c.income) AS income FROM bank.customers c "
    "JOIN telco.subscribers s ON s.phone = c.phone GROUP BY c.city"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_data(root: Path) -> None:
    cities = ["北京", "上海", "广州"]
    with (root / "bank.csv").open("w", encoding="utf-8") as out:
        out.write("phone,city,income\n")
        for i in range(40):
            out.write(f"1380000{i:04d},{cities[i % 3]},{1000 + 37 * i}.50\n")
    with (root / "telco.csv").open("w", encoding="utf-8") as out:
        out.write("phone,plan\n")
        for i in range(10, 60):
            out.write(f"1380000{i:04d},p{i % 4}\n")
    for party, table, file in (
        ("bank", "customers", "bank.csv"),
        ("telco", "subscribers", "telco.csv"),
    ):
        (root / f"{party}-space.yaml").write_text(
            f"parties:\n  {party}:\n    tables:\n      {table}: {{source: {file}}}\n",
            encoding="utf-8",
        )


def start(argv, env, log):
    return subprocess.Popen(
        [sys.executable, "-m", "shuyu", *argv], env=env, stdout=log, stderr=subprocess.STDOUT
    )


@pytest.fixture
def platform(tmp_path):
    write_data(tmp_path)
    pki.init_ca(tmp_path / "ca")
    env = {
        **os.environ,
        "SHUYU_HUB_ADMIN_PASSWORD": "admin-password-1",
        "PYTHONIOENCODING": "utf-8",
    }
    port, node_port = free_port(), free_port()
    url = f"https://127.0.0.1:{port}"
    ca = str(tmp_path / "ca" / "ca.pem")
    processes: dict[str, subprocess.Popen] = {}
    log = (tmp_path / "processes.log").open("w")
    try:
        processes["hub"] = (
            start(
                [
                    "hub", "serve", "--listen", f"127.0.0.1:{port}", "--admin", "admin",
                    "--node-listen", f"127.0.0.1:{node_port}",
                    "--set", f"hub.home={tmp_path / 'hub'}",
                    "--set", f"hub.ca_dir={tmp_path / 'ca'}",
                ],
                env,
                log,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                checks = ssl.create_default_context(cafile=ca)
                if httpx.get(f"{url}/api/health", timeout=1, verify=checks).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the hub did not start"
            time.sleep(0.2)
        admin = HubClient(url, verify=ca)
        admin.login("admin", "admin-password-1")
        admin.create_user("operator", PASSWORD, "operator")
        for name, role, party in (
            ("bank-owner", "owner", "bank"),
            ("telco-owner", "owner", "telco"),
            ("shop-analyst", "consumer", "shop"),
        ):
            admin.create_user(name, PASSWORD, role, party)
        operator = HubClient(url, verify=ca)
        operator.login("operator", PASSWORD)
        for party in ("bank", "telco", "shop"):
            token = operator.call("POST", "/api/nodes/tokens", json={"name": party})["token"]
            argv = [
                "node", "join", "--hub", url, "--token", token, "--name", party,
                "--home", str(tmp_path / f"node-{party}"), "--mpc", f"127.0.0.1:{free_port()}",
                "--ca", ca,
            ]  # fmt: skip
            if party != "shop":
                argv += ["--space", str(tmp_path / f"{party}-space.yaml")]
            done = subprocess.run(
                [sys.executable, "-m", "shuyu", *argv], env=env, capture_output=True, text=True,
                timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            key = tmp_path / f"node-{party}" / "node.key"
            assert key.stat().st_mode & 0o777 == 0o600
            processes[party] = start(
                ["node", "serve", "--home", str(tmp_path / f"node-{party}")], env, log
            )

        def restart(name: str) -> None:
            processes[name] = start(
                ["node", "serve", "--home", str(tmp_path / f"node-{name}")], env, log
            )

        yield Platform(url, tmp_path, processes, restart, ca, f"https://127.0.0.1:{node_port}")
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


@dataclass
class Platform:
    url: str
    root: Path
    processes: dict[str, subprocess.Popen]
    restart: Callable[[str], None]
    ca: str
    node_url: str


def publish_and_grant(platform: Platform) -> tuple[HubClient, dict[str, tuple[HubClient, int]]]:
    url = platform.url
    owners = {}
    for party, name, columns in (
        ("bank", "customers", [("phone", "STRING"), ("city", "STRING"), ("income", "DECIMAL(2)")]),
        ("telco", "subscribers", [("phone", "STRING"), ("plan", "STRING")]),
    ):
        owner = HubClient(url, verify=platform.ca)
        owner.login(f"{party}-owner", PASSWORD)
        dataset = owner.publish(
            {
                "name": name,
                "rows": 50,
                "group_min_size": 2,
                "columns": [{"name": c, "type": t} for c, t in columns],
            }
        )
        owners[party] = (owner, dataset["id"])
    analyst = HubClient(url, verify=platform.ca)
    analyst.login("shop-analyst", PASSWORD)
    for party, columns, operations in (
        ("bank", ["phone", "city", "income"], ["join", "group_by", "aggregate"]),
        ("telco", ["phone"], ["join"]),
    ):
        owner, dataset_id = owners[party]
        grant = analyst.request(
            dataset_id=dataset_id, purpose="城市收入统计", columns=columns,
            operations=operations, days=1, quota=5,
        )  # fmt: skip
        assert owner.decide(grant["id"], "approve")["state"] == "approved"
    return analyst, owners


def wait_for(analyst: HubClient, job_id: int) -> dict:
    deadline = time.monotonic() + 180
    while True:
        state = analyst.job(job_id)
        if state["state"] in ("succeeded", "failed"):
            return state
        assert time.monotonic() < deadline, f"job stuck: {state}"
        time.sleep(0.5)


def test_publish_request_approve_query_metered_result(platform):
    root = platform.root
    analyst, owners = publish_and_grant(platform)
    job = analyst.submit(SQL)["job"]
    state = wait_for(analyst, job["id"])
    assert state["state"] == "succeeded", state
    result = analyst.result(job["id"])
    assert result["names"] == ["city", "n", "income"]
    connection = duckdb.connect()
    expected = connection.execute(
        f"SELECT c.city, COUNT(*), SUM(c.income) FROM read_csv_auto('{root / 'bank.csv'}') c "
        f"JOIN read_csv_auto('{root / 'telco.csv'}') s ON s.phone = c.phone GROUP BY c.city"
    ).fetchall()
    got = sorted((r[0], r[1], r[2]) for r in result["rows"])
    assert got == sorted((city, n, f"{income:.2f}") for city, n, income in expected)
    metering = analyst.metering()
    assert all(m["queries_used"] == 1 and m["bytes"] > 0 and m["seconds"] > 0 for m in metering)
    # each owner's node reports the rows its sources contributed: all 40 and 50 rows
    assert sorted(m["rows_used"] for m in metering) == [40, 50]
    # the bank owner sees the metering of its grant, not the result
    bank_owner, _ = owners["bank"]
    assert len(bank_owner.metering()) == 1
    with pytest.raises(Exception) as refused:
        bank_owner.result(job["id"])
    assert getattr(refused.value, "code", "") in ("hub.forbidden", "hub.not_found")


@pytest.mark.timeout(600)
def test_a_node_killed_mid_job_fails_it_cleanly_and_the_job_can_be_retried(platform):
    analyst, _ = publish_and_grant(platform)
    telco = platform.processes["telco"]
    telco.kill()
    telco.wait(timeout=30)
    job = analyst.submit(SQL)["job"]
    state = wait_for(analyst, job["id"])
    assert state["state"] == "failed"
    assert state["error_code"] == "mpc.peer_unavailable", state
    with pytest.raises(Conflict):
        analyst.result(job["id"])  # nothing was revealed
    platform.restart("telco")
    assert analyst.retry(job["id"])["state"] == "queued"
    state = wait_for(analyst, job["id"])
    assert state["state"] == "succeeded", state
    assert analyst.result(job["id"])["rows"]


def test_the_node_port_demands_a_certificate_from_the_data_spaces_ca(platform):
    root = platform.root
    key = (root / "node-bank" / "node.key").read_text()
    headers = {"X-Node-Key": key}
    # the right key on the users' port: refused, node routes answer on the node port only
    checks = ssl.create_default_context(cafile=platform.ca)
    users = httpx.get(f"{platform.url}/api/node/work", headers=headers, verify=checks)
    assert users.status_code == 403 and users.json()["code"] == "hub.forbidden"
    # the node port without a client certificate: the TLS handshake is refused
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{platform.node_url}/api/node/work", headers=headers, verify=checks)
    # a certificate from another CA: refused too
    pki.init_ca(root / "other-ca")
    stranger = pki.issue_certificate(root / "other-ca", "bank", out_dir=root / "stranger")
    context = ssl.create_default_context(cafile=platform.ca)
    context.load_cert_chain(str(stranger.cert_path), str(stranger.key_path))
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{platform.node_url}/api/node/work", headers=headers, verify=context)
    # the node's own certificate and key: accepted
    identity = pki.load_identity(root / "node-bank" / "identity", "bank")
    context = ssl.create_default_context(cafile=platform.ca)
    context.load_cert_chain(str(identity.cert_path), str(identity.key_path))
    answer = httpx.get(f"{platform.node_url}/api/node/work", headers=headers, verify=context)
    assert answer.status_code == 200


def test_a_node_refuses_what_its_own_grants_do_not_allow(tmp_path):
    config = NodeConfig(tmp_path, "bank", "domain", "http://hub", "127.0.0.1", 1, None)
    document = {
        "sql": "SELECT COUNT(*) AS n FROM bank.customers c",
        "issuer": "shop",
        "dialect": "mysql",
        "tables": [
            {"party": "bank", "name": "customers", "rows": 10,
             "columns": [{"name": "phone", "type": "STRING"}]},
        ],
        "rules": [
            {"party": "bank", "table": "customers", "column": "phone", "to": "shop",
             "allow": ["PLAINTEXT_AFTER_AGGREGATE"], "group_min_size": 1, "grant": 7},
        ],
        "settings": {"group_min_size": 1},
        "extra_parties": ["shop"],
    }  # fmt: skip
    approved = {
        "7": {"id": 7, "table": "customers", "receiver": "shop", "columns": ["phone"],
              "operations": ["aggregate"], "state": "approved", "valid_until": "2099-01-01"},
    }  # fmt: skip
    check_job(config, document, approved)
    for change in ({"state": "revoked"}, {"receiver": "telco"}, {"operations": ["join"]}):
        with pytest.raises(PolicyDenied):
            check_job(config, document, {"7": approved["7"] | change})
    with pytest.raises(PolicyDenied):
        check_job(config, document, {})
    assert json.dumps(document)  # documents are plain JSON
