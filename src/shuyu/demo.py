"""`make demo` / `shuyu demo`: a complete local data space, each part its own process.

A hub, three domain nodes (a bank, a telco, an e-commerce company) and the operator's assist
node start as separate processes, each with its own certificate from a fresh data-space CA (the
nodes enrol through the hub with a certificate request; their keys never leave them). Each
domain gets synthetic data (``shuyu.demo_data``) in its own directory; the owners publish their
datasets to the hall with desensitised samples; an analyst of the e-commerce company requests
access, the owners approve, and two joint queries run through the nodes: their results and their
metering are printed. Then everything stays up until Ctrl-C, which stops every process.

The state lives in ``--home`` (``.shuyu/demo``): a second run reuses it (data, CA, users,
enrolments, grants) and only starts the processes and runs the queries again.
``shuyu demo --engine`` runs the secure computation engine's own demo (``demo_engine``).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shuyu import pki
from shuyu.client import HubClient
from shuyu.config import Settings
from shuyu.demo_data import generate, mask_id, mask_name, mask_phone
from shuyu.engine.data import display_width
from shuyu.errors import HubUnavailable, ShuyuError

PASSWORD = "shuyu-demo-2026"  # noqa: S105 - the demo's accounts, printed on start
ACCOUNTS = (
    # name, role, party, what it shows
    ("admin", "admin", None, "用户与角色 users and roles"),
    ("operator", "operator", None, "节点与任务 nodes and jobs"),
    ("regulator", "regulator", None, "全程监管 everything, read-only"),
    ("bank-owner", "owner", "bank", "银行数据方 the bank's data"),
    ("telco-owner", "owner", "telco", "运营商数据方 the telco's data"),
    ("shop-owner", "owner", "shop", "电商数据方 the shop's data"),
    ("shop-analyst", "consumer", "shop", "电商分析师 the shop's analyst"),
)
NODES = ("bank", "telco", "shop", "assist")
DATASETS: dict[str, dict[str, Any]] = {
    "bank": {
        "name": "customers",
        "topic": "金融",
        "description": "零售客户与存款余额 retail customers and balances",
        "columns": [
            {"name": "id", "type": "INT", "label": "none", "grade": "L1"},
            {"name": "name", "type": "STRING", "label": "person_name", "grade": "L3"},
            {"name": "id_number", "type": "STRING", "label": "cn_resident_id", "grade": "L4"},
            {"name": "phone", "type": "STRING", "label": "cn_mobile", "grade": "L3"},
            {"name": "city", "type": "STRING", "label": "address", "grade": "L2"},
            {"name": "balance", "type": "DECIMAL(2)", "label": "financial_amount", "grade": "L3"},
        ],
    },
    "telco": {
        "name": "subscribers",
        "topic": "通信",
        "description": "移动用户与套餐 mobile subscribers and plans",
        "columns": [
            {"name": "phone", "type": "STRING", "label": "cn_mobile", "grade": "L3"},
            {"name": "plan", "type": "STRING", "label": "none", "grade": "L1"},
            {
                "name": "monthly_fee",
                "type": "DECIMAL(2)",
                "label": "financial_amount",
                "grade": "L2",
            },
            {"name": "data_gb", "type": "INT", "label": "none", "grade": "L1"},
            {"name": "since", "type": "DATE", "label": "none", "grade": "L1"},
        ],
    },
    "shop": {
        "name": "orders",
        "topic": "电商",
        "description": "订单 orders",
        "columns": [
            {"name": "order_id", "type": "INT", "label": "none", "grade": "L1"},
            {"name": "phone", "type": "STRING", "label": "cn_mobile", "grade": "L3"},
            {"name": "amount", "type": "DECIMAL(2)", "label": "financial_amount", "grade": "L2"},
            {"name": "category", "type": "STRING", "label": "none", "grade": "L1"},
            {"name": "ordered_at", "type": "TIMESTAMP", "label": "none", "grade": "L1"},
        ],
    },
}
REQUESTS = (  # the analyst's requests: party, columns, operations
    ("bank", ["phone", "city", "balance"], ["join", "group_by", "aggregate"]),
    ("telco", ["phone", "plan"], ["join", "group_by"]),
)
QUERIES = (
    (
        "各城市、各套餐的客户数与平均存款 customers and mean balance per city and plan "
        "(bank × telco, computed by bank, telco and shop)",
        "SELECT c.city, s.plan, COUNT(*) AS customers, AVG(c.balance) AS mean_balance "
        "FROM bank.customers c JOIN telco.subscribers s ON s.phone = c.phone "
        "GROUP BY c.city, s.plan ORDER BY c.city, s.plan",
    ),
    (
        "各套餐的买家数与消费额 buyers and spending per plan "
        "(shop × telco, computed by shop, telco and the assist node)",
        "SELECT s.plan, COUNT(*) AS orders, SUM(o.amount) AS spent "
        "FROM shop.orders o JOIN telco.subscribers s ON s.phone = o.phone GROUP BY s.plan",
    ),
)


_CA = [""]  # the demo's CA certificate path, once known (for the demo's own clients)


@dataclass(frozen=True)
class DemoOptions:
    home: Path = Path(".shuyu/demo")
    port: int = 8700
    exit_after_queries: bool = False
    engine: bool = False


def main(settings: Settings, options: DemoOptions | None = None) -> int:
    options = options or DemoOptions()
    if options.engine:
        from shuyu import demo_engine  # noqa: PLC0415 - the engine's own demo

        return demo_engine.main(settings)
    home = options.home.resolve()
    _CA[0] = ca(home)
    started = time.monotonic()
    processes: list[subprocess.Popen[bytes]] = []
    log = _log(home)
    try:
        fresh = not (home / "ready").exists()
        _prepare(home)
        url = f"https://127.0.0.1:{options.port}"
        processes.append(_hub(home, options.port, log))
        _wait_for(url, ca(home))
        if fresh:
            _first_run(home, url, options.port)
        for name in NODES:
            processes.append(_spawn(["node", "serve", "--home", str(home / "nodes" / name)], log))
        if fresh:
            _publish_and_grant(home, url)
            (home / "ready").write_text("ok\n", encoding="utf-8")
        print(
            f"\n数据空间已启动 / the data space is up in {time.monotonic() - started:.0f} s: {url}"
        )
        print(f"  API 文档 / API docs: {url}/docs (CA 证书 certificate: {ca(home)})")
        print(f"  节点端口 / the nodes' port (mutual TLS): https://127.0.0.1:{options.port + 5}")
        _print_accounts()
        ok = _run_queries(url)
        if options.exit_after_queries:
            return 0 if ok else 1
        print("\n按 Ctrl-C 停止全部进程 / press Ctrl-C to stop every process.", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("一个进程意外退出 / a process stopped unexpectedly; see", log.name, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(processes)
        log.close()
        print("已停止 / stopped.", flush=True)


# --- setting up -----------------------------------------------------------------------------


def _log(home: Path) -> Any:
    home.mkdir(parents=True, exist_ok=True)
    return (home / "processes.log").open("ab")


def _prepare(home: Path) -> None:
    """Data, space files and the CA, once."""
    data = home / "data"
    if not (data / "bank.csv").exists():
        generate(data)
    for party, dataset in DATASETS.items():
        space = home / "nodes" / f"{party}-space.yaml"
        space.parent.mkdir(parents=True, exist_ok=True)
        space.write_text(
            f"parties:\n  {party}:\n    tables:\n      {dataset['name']}: "
            f"{{source: {data / (party + '.csv')}}}\n",
            encoding="utf-8",
        )
    if not (home / "ca" / "ca.pem").exists():
        pki.init_ca(home / "ca", name="shuyu-demo-ca")


def _spawn(argv: list[str], log: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHUYU_HUB_ADMIN_PASSWORD": PASSWORD, "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "shuyu", *argv]  # our own command, fixed arguments
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


def ca(home: Path) -> str:
    """The demo data space's CA certificate (clients check the hub's certificate with it)."""
    return str(home / "ca" / "ca.pem")


def _hub(home: Path, port: int, log: Any) -> subprocess.Popen[bytes]:
    return _spawn(
        [
            "hub", "serve", "--listen", f"127.0.0.1:{port}", "--admin", "admin",
            "--node-listen", f"127.0.0.1:{port + 5}",
            "--set", f"hub.home={home / 'hub'}", "--set", f"hub.ca_dir={home / 'ca'}",
        ],
        log,
    )  # fmt: skip


def _wait_for(url: str, certificate: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    checks = ssl.create_default_context(cafile=certificate)
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1, verify=checks).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise HubUnavailable(f"the hub did not start at {url}", hint="See processes.log in --home.")


def _client(url: str, name: str) -> HubClient:
    client = HubClient(url, verify=_CA[0])
    client.login(name, PASSWORD)
    return client


def _first_run(home: Path, url: str, port: int) -> None:
    from shuyu.node.worker import join  # noqa: PLC0415 - only the first run enrols

    admin = _client(url, "admin")
    for name, role, party, _ in ACCOUNTS[1:]:
        admin.create_user(name, PASSWORD, role, party)
    operator = _client(url, "operator")
    for topic in ("金融", "通信", "电商"):
        operator.create_topic(topic)
    for offset, name in enumerate(NODES, start=1):
        kind = "assist" if name == "assist" else "domain"
        token = operator.call("POST", "/api/nodes/tokens", json={"name": name, "kind": kind})
        space = home / "nodes" / f"{name}-space.yaml" if name != "assist" else None
        join(
            hub=url,
            token=token["token"],
            name=name,
            home=str(home / "nodes" / name),
            mpc=("127.0.0.1", port + offset),
            space=str(space) if space else None,
            ca=ca(home),
        )


def _publish_and_grant(home: Path, url: str) -> None:
    import csv  # noqa: PLC0415

    ids = {}
    for party, dataset in DATASETS.items():
        with (home / "data" / f"{party}.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        sample = [_masked(row) for row in rows[:5]]
        owner = _client(url, f"{party}-owner")
        published = owner.publish({**dataset, "rows": len(rows), "sample": sample})
        ids[party] = published["id"]
    analyst = _client(url, "shop-analyst")
    for party, columns, operations in REQUESTS:
        grant = analyst.request(
            dataset_id=ids[party],
            purpose="联合营销分析 joint marketing analysis (demo)",
            columns=columns,
            operations=operations,
            days=365,
            quota=1000,
        )
        _client(url, f"{party}-owner").decide(grant["id"], "approve")
    # the shop's own orders: its analyst needs no grant from itself


def _masked(row: dict[str, str]) -> dict[str, str]:
    masks = {"phone": mask_phone, "name": mask_name, "id_number": mask_id}
    return {k: masks[k](v) if k in masks else v for k, v in row.items()}


# --- the queries ---------------------------------------------------------------------------


def _run_queries(url: str) -> bool:
    analyst = _client(url, "shop-analyst")
    ok = True
    for title, sql in QUERIES:
        print(f"\n联合查询 / joint query: {title}\n  {sql}")
        started = time.monotonic()
        try:
            job = analyst.submit(sql)["job"]
            while (state := analyst.job(job["id"]))["state"] not in ("succeeded", "failed"):
                if time.monotonic() - started > 300:
                    raise ShuyuError("the job did not finish in 300 s")
                time.sleep(0.3)
            if state["state"] != "succeeded":
                print(f"  失败 / failed: [{state['error_code']}] {state['error']}")
                ok = False
                continue
            result = analyst.result(job["id"])
        except ShuyuError as error:
            print(f"  失败 / failed: [{error.code}] {error.message}")
            ok = False
            continue
        _print_table(result)
        print(
            f"  job #{job['id']}: {state['seconds']:.2f} s 计算 compute, "
            f"{state['bytes_sent'] / 1e6:.1f} MB 通信 sent, "
            f"{time.monotonic() - started:.1f} s 总计 in all; 已计量 metered against "
            f"grants {state['grant_ids'] or '(the shop’s own data)'}"
        )
    return ok


def _print_table(result: dict[str, Any]) -> None:
    rows = [[("NULL" if v is None else str(v)) for v in row] for row in result["rows"]]
    table = [result["names"], *rows]
    widths = [max(display_width(r[i]) for r in table) for i in range(len(table[0]))]
    for index, row in enumerate(table):
        cells = (c + " " * (w - display_width(c)) for c, w in zip(row, widths, strict=True))
        print(("  " + "  ".join(cells)).rstrip())
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))
    if result.get("dropped"):
        print(f"  ({result['dropped']} 个小分组已删除 small groups left out)")


def _print_accounts() -> None:
    print(f"  演示账号 / demo accounts (密码 password: {PASSWORD}):")
    for name, role, party, what in ACCOUNTS:
        print(f"    {name:<13} {role:<9} {party or '-':<6} {what}")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
