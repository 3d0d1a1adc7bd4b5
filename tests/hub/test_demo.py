"""`shuyu demo` brings up the whole data space as processes, runs its sample queries through the
nodes, and stops every process; a second run reuses the state."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def free_ports(count: int) -> int:
    for _ in range(100):
        base = random.randrange(20000, 60000)
        try:
            sockets = []
            for port in range(base, base + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                sockets.append(sock)
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise AssertionError("no free ports")


def run_demo(home, port):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "shuyu", "demo", "--home", str(home), "--port", str(port),
         "--no-browser", "--exit-after-queries"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip


@pytest.mark.timeout(600)
def test_the_demo_runs_its_queries_and_stops_everything(tmp_path):
    port = free_ports(5)
    done = run_demo(tmp_path / "demo", port)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "数据空间已启动 / the data space is up" in out
    assert "shop-analyst" in out and "shuyu-demo-2026" in out
    assert out.count("联合查询 / joint query") == 2
    assert "失败 / failed" not in out
    assert "mean_balance" in out and "spent" in out
    assert out.rstrip().endswith("已停止 / stopped.")
    for offset in range(5):  # every process is gone: nobody listens on its port any more
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
            sock.bind(("127.0.0.1", port + offset))
    again = run_demo(tmp_path / "demo", port)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "失败 / failed" not in again.stdout
