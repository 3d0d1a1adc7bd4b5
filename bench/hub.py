"""Hub load benchmark: catalogue browsing and job submission with concurrent clients.

Starts ``shuyu hub serve`` as its own process (SQLite in a temporary home, one uvicorn worker)
on loopback, fills the hall with ``--datasets`` datasets of three owners, gives an analyst
grants on two of them, then runs each operation for ``--seconds`` with ``--clients`` concurrent
clients (asyncio + httpx in this process, each client with its own token and connection):

* ``catalogue``: ``GET /api/datasets?limit=50`` (with a search term every fourth request);
* ``submit``: ``POST /api/jobs`` with a join + GROUP BY query (planned and policy-checked by the
  hub; no node runs it).

Prints one line per operation:

    op=<name> client=<wrk|python> clients=<n> seconds=<s> requests=<n> rps=<r> p50_ms=<x>
        p99_ms=<y> errors=<n>                   (one line)

The load comes from ``wrk`` when it is installed (``apt install wrk``; one thread), else from
this process (asyncio + httpx, which needs much of the CPU itself on a small machine).

Usage: python bench/hub.py [--clients 50] [--seconds 10] [--datasets 1000] [--client wrk]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PASSWORD = "bench-password-1"
SQL = (
    "SELECT c.city, COUNT(*) AS n FROM bank.customers c "
    "JOIN telco.subscribers s ON s.phone = c.phone GROUP BY c.city"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_hub(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "SHUYU_HUB_ADMIN_PASSWORD": PASSWORD}
    process = subprocess.Popen(
        [
            sys.executable, "-m", "shuyu", "hub", "serve", "--listen", f"127.0.0.1:{port}",
            "--admin", "admin", "--set", f"hub.home={home}", "--set", "hub.token_ttl_s=3600",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the hub did not start")


def login(client: httpx.Client, name: str) -> dict[str, str]:
    token = client.post("/api/login", json={"name": name, "password": PASSWORD}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def fill(url: str, datasets: int) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        admin = login(client, "admin")
        for name, role, party in (
            ("bank-owner", "owner", "bank"),
            ("telco-owner", "owner", "telco"),
            ("shop-owner", "owner", "shop"),
            ("analyst", "consumer", "shop"),
        ):
            body = {"name": name, "password": PASSWORD, "role": role, "party": party}
            client.post("/api/users", json=body, headers=admin).raise_for_status()
        owners = {p: login(client, f"{p}-owner") for p in ("bank", "telco", "shop")}
        columns = [
            {"name": "phone", "type": "STRING", "label": "cn_mobile", "grade": "L3"},
            {"name": "city", "type": "STRING", "label": "address", "grade": "L2"},
            {"name": "amount", "type": "DECIMAL(2)", "label": "financial_amount", "grade": "L3"},
        ]
        ids = {}
        for index in range(datasets):
            party = ("bank", "telco", "shop")[index % 3]
            name = {0: "customers", 1: "subscribers"}.get(index, f"table_{index:05d}")
            body = {
                "name": name,
                "description": f"数据集 dataset {index}",
                "columns": columns,
                "rows": 1000,
            }
            answer = client.post("/api/datasets", json=body, headers=owners[party])
            answer.raise_for_status()
            ids[(party, name)] = answer.json()["id"]
        analyst = login(client, "analyst")
        now = datetime.datetime.now(datetime.UTC)
        for party, table, operations in (
            ("bank", "customers", ["join", "group_by"]),
            ("telco", "subscribers", ["join"]),
        ):
            body = {
                "dataset_id": ids[(party, table)],
                "purpose": "bench",
                "columns": ["phone", "city"] if party == "bank" else ["phone"],
                "operations": operations,
                "valid_from": now.isoformat(),
                "valid_until": (now + datetime.timedelta(days=1)).isoformat(),
                "query_quota": 1_000_000,
            }
            grant = client.post("/api/grants", json=body, headers=analyst).json()["id"]
            decided = client.post(f"/api/grants/{grant}/approve", json={}, headers=owners[party])
            decided.raise_for_status()


async def run(url: str, operation: str, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, timeout=60) as client:
        headers = login(client, "analyst")
    deadline = time.monotonic() + seconds

    async def one_client(number: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
            count = 0
            while time.monotonic() < deadline:
                count += 1
                start = time.perf_counter()
                if operation == "catalogue":
                    params = {"limit": 50}
                    if count % 4 == 0:
                        params["q"] = f"dataset {number}"
                    response = await client.get("/api/datasets", params=params)
                else:
                    response = await client.post("/api/jobs", json={"sql": SQL})
                latencies.append(time.perf_counter() - start)
                if response.status_code >= 400:
                    errors += 1

    began = time.monotonic()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    elapsed = time.monotonic() - began
    ordered = sorted(latencies)
    return {
        "seconds": elapsed,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "errors": errors,
    }


def run_wrk(url: str, operation: str, clients: int, seconds: float) -> dict[str, float]:
    """The same load from ``wrk`` (C, two threads), which leaves more CPU to the hub."""
    with httpx.Client(base_url=url, timeout=60) as client:
        headers = login(client, "analyst")
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    if operation == "catalogue":
        target = f"{url}/api/datasets?limit=50"
        script.write_text("", encoding="utf-8")
    else:
        target = f"{url}/api/jobs"
        body = json.dumps({"sql": SQL})
        script.write_text(
            f'wrk.method = "POST"\nwrk.body = [[{body}]]\n'
            'wrk.headers["Content-Type"] = "application/json"\n',
            encoding="utf-8",
        )
    command = [
        "wrk", "-t1", f"-c{clients}", f"-d{int(seconds)}s", "--timeout", "60s", "--latency",
        "-s", str(script),
        "-H", f"Authorization: {headers['Authorization']}", target,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    script.unlink()
    figures: dict[str, float] = {"seconds": seconds, "errors": 0}
    for line in output.splitlines():
        parts = line.split()
        if line.strip().startswith(("50%", "99%")):
            figures["p50_ms" if parts[0] == "50%" else "p99_ms"] = _milliseconds(parts[1])
        elif "requests in" in line:
            figures["requests"] = float(parts[0])
        elif line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif "Non-2xx or 3xx responses" in line:
            figures["errors"] = float(parts[-1])
    return figures


def _milliseconds(text: str) -> float:
    for unit, factor in (("ms", 1.0), ("us", 0.001), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument(
        "--client",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator: wrk (apt install wrk) or this process (asyncio + httpx)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shuyu-bench-hub-") as home:
        process, url = start_hub(Path(home))
        try:
            fill(url, args.datasets)
            for operation in ("catalogue", "submit"):
                if args.client == "wrk":
                    figures = run_wrk(url, operation, args.clients, args.seconds)
                else:
                    figures = asyncio.run(run(url, operation, args.clients, args.seconds))
                print(
                    f"op={operation} client={args.client} clients={args.clients} "
                    f"seconds={figures['seconds']:.1f} "
                    f"requests={figures['requests']} rps={figures['rps']:.1f} "
                    f"p50_ms={figures['p50_ms']:.1f} p99_ms={figures['p99_ms']:.1f} "
                    f"errors={figures['errors']}",
                    flush=True,
                )
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
