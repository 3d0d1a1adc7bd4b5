"""``shuyu psi``: two real processes over mutually authenticated TLS, and its failure modes.

Every failure must end both sides with a stable code, a hint and no traceback, and must leave no
``--output`` file (nor a partial one) behind.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shuyu import cli, pki

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

HERE = Path(__file__).resolve().parent
ENV = {
    **os.environ,
    "SHUYU_ECDH_PSI_CONNECT_TIMEOUT_S": "30",
    "SHUYU_ECDH_PSI_PEER_TIMEOUT_S": "30",
    "SHUYU_ECDH_PSI_BATCH_SIZE": "64",
}


@pytest.fixture(scope="module")
def ids(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("psi-ids")
    pki.init_ca(root / "ca")
    pki.issue_certificate(root / "ca", "bank-a", out_dir=root / "a")
    pki.issue_certificate(root / "ca", "telco-b", out_dir=root / "b")
    pki.init_ca(root / "other-ca")
    pki.issue_certificate(root / "other-ca", "bank-a", out_dir=root / "forged")
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def side(role: str, port: int, ids: Path, data: Path, *extra: str, identity: str = "") -> list:
    name, peer = ("bank-a", "telco-b") if role == "a" else ("telco-b", "bank-a")
    where = ["--peer" if role == "a" else "--listen", f"127.0.0.1:{port}"]
    return [
        sys.executable, "-m", "shuyu", "psi", "--as", role, *where,
        "--identity", str(ids / (identity or role)), "--name", name, "--peer-name", peer,
        "--input", str(data / f"{role}.csv"), "--column", "phone", *extra,
    ]  # fmt: skip


def run_both(command_a: list, command_b: list, env=ENV) -> tuple:
    process_b = subprocess.Popen(command_b, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    process_a = subprocess.Popen(command_a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out_a, err_a = process_a.communicate(timeout=90)
    out_b, err_b = process_b.communicate(timeout=90)
    return (
        (process_a.returncode, out_a.decode(), err_a.decode()),
        (process_b.returncode, out_b.decode(), err_b.decode()),
    )


def assert_clean_error(outcome: tuple, code: str, status: int) -> None:
    returncode, _, err = outcome
    assert returncode == status, err
    assert f"error [{code}]" in err, err
    assert "hint:" in err
    assert "Traceback" not in err


def write_inputs(directory: Path) -> None:
    (directory / "a.csv").write_text(
        "id,phone,amount\n"
        '1,13800000001,10\n2, 13800000002 ,20\n3,,30\n4,13800000004,"4,0"\n'
        "5,13800000001,50\n6,13900000006,60\n"
        + "".join(f"{i},1370{i:07d},{i}\n" for i in range(7, 400)),
        encoding="utf-8",
    )  # fmt: skip
    (directory / "b.csv").write_text(
        "phone,score\n13800000004,x\n13800000001,y\n13800000002,z\n13700000000,n\n"
        + "".join(f"1370{i:07d},{i}\n" for i in range(200, 600)),
        encoding="utf-8",
    )


class RecordingProxy:
    """Forwards one TCP connection to ``target`` and records every byte in both directions."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.wire = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while chunk := source.recv(65536):
            self.wire += chunk
            sink.sendall(chunk)
        sink.shutdown(socket.SHUT_WR)

    def _run(self) -> None:
        client, _ = self.listener.accept()
        deadline = time.monotonic() + 30
        while True:  # side b may still be reading its input
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        back = threading.Thread(target=self._pump, args=(server, client), daemon=True)
        back.start()
        with contextlib.suppress(OSError):
            self._pump(client, server)
        back.join(30)


def test_two_processes_write_aligned_rows_over_tls(ids, tmp_path):
    write_inputs(tmp_path)
    port = free_port()
    proxy = RecordingProxy(port)
    out_a, out_b = tmp_path / "out-a.csv", tmp_path / "out-b.csv"
    a, b = run_both(
        side("a", proxy.port, ids, tmp_path, "--output", str(out_a)),
        side("b", port, ids, tmp_path, "--output", str(out_b)),
    )
    assert a[0] == 0 and b[0] == 0, (a, b)
    assert "intersection = 203 keys" in a[1] and "intersection = 203 keys" in b[1]
    assert "\r" not in a[2] + b[2]  # no progress bar when stderr is not a terminal
    rows_a = list(csv.reader(io.StringIO(out_a.read_text(encoding="utf-8"))))
    rows_b = list(csv.reader(io.StringIO(out_b.read_text(encoding="utf-8"))))
    assert rows_a[0] == ["id", "phone", "amount"] and rows_b[0] == ["phone", "score"]
    # key 13800000001 is on two rows of a: both are written, next to each other
    assert len(rows_a) - 1 == 204 and len(rows_b) - 1 == 203
    keys_a = [row[1].strip() for row in rows_a[1:]]
    keys_b = [row[0] for row in rows_b[1:]]
    assert list(dict.fromkeys(keys_a)) == keys_b  # aligned, key by key
    assert ["4", "13800000004", "4,0"] in rows_a  # the record is copied as it was
    # what crossed the network is TLS (handshake records first) and carries no key
    proxy.thread.join(30)
    assert proxy.wire[:1] == b"\x16"
    for key in ("13800000001", "13800000002", "13700000250"):
        assert key.encode() not in proxy.wire


def test_values_size_only_and_json(ids, tmp_path):
    write_inputs(tmp_path)
    port = free_port()
    out_a = tmp_path / "values.csv"
    a, b = run_both(
        [*side("a", port, ids, tmp_path, "--output", str(out_a), "--values"), "--json",
         "--reveal-to-peer", "size"],
        [*side("b", port, ids, tmp_path, "--size-only"), "--json"],
    )  # fmt: skip
    assert a[0] == 0 and b[0] == 0, (a, b)
    report_a, report_b = json.loads(a[1]), json.loads(b[1])
    assert report_a["intersection_size"] == report_b["intersection_size"] == 203
    assert report_a["written"] == 203 and report_b["written"] is None
    assert report_a["own_rows"] == 399 and report_a["own_keys"] == 397
    assert report_b["peer_keys"] == 397
    values = out_a.read_text(encoding="utf-8").splitlines()
    assert values[0] == "phone" and "13800000002" in values  # stripped, normalised


def test_asking_for_more_than_the_peer_reveals_stops_both_and_writes_nothing(ids, tmp_path):
    write_inputs(tmp_path)
    port = free_port()
    out_a, out_b = tmp_path / "out-a.csv", tmp_path / "out-b.csv"
    a, b = run_both(
        side("a", port, ids, tmp_path, "--output", str(out_a)),
        side("b", port, ids, tmp_path, "--output", str(out_b), "--reveal-to-peer", "size"),
    )
    assert_clean_error(a, "psi.peer_mismatch", 2)
    assert_clean_error(b, "psi.peer_mismatch", 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]


@pytest.mark.parametrize("vanishing", ["a", "b"])
def test_a_peer_that_vanishes_mid_way(ids, tmp_path, vanishing):
    write_inputs(tmp_path)
    port = free_port()
    survivor = "b" if vanishing == "a" else "a"
    name, peer = ("bank-a", "telco-b") if vanishing == "a" else ("telco-b", "bank-a")
    crash = [
        sys.executable, str(HERE / "vanishing_party.py"), vanishing, "127.0.0.1", str(port),
        str(ids / vanishing), name, peer, str(tmp_path / f"{vanishing}.csv"), "phone", "4",
    ]  # fmt: skip
    out = tmp_path / "out.csv"
    normal = side(survivor, port, ids, tmp_path, "--output", str(out))
    first, second = (normal, crash) if survivor == "a" else (crash, normal)
    a, b = run_both(first, second)
    crashed, survived = (a, b) if vanishing == "a" else (b, a)
    assert crashed[0] == 17, crashed
    assert_clean_error(survived, "psi.peer_unavailable", 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]


def test_untrusted_peers_are_refused(ids, tmp_path):
    write_inputs(tmp_path)
    env = {**ENV, "SHUYU_ECDH_PSI_CONNECT_TIMEOUT_S": "2"}
    # a certificate from another data space's CA: refused in the TLS handshake
    port = free_port()
    a, b = run_both(
        side("a", port, ids, tmp_path, "--size-only", identity="forged"),
        side("b", port, ids, tmp_path, "--size-only"),
        env=env,
    )
    assert_clean_error(a, "identity.untrusted_peer", 2)
    assert_clean_error(b, "psi.peer_unavailable", 1)
    assert "did not connect" in b[2] and ("handshake" in b[2] or "certificate" in b[2])
    # a party of this data space, but not the one side b expects: told why, then refused
    port = free_port()
    command_b = side("b", port, ids, tmp_path, "--size-only")
    command_b[command_b.index("--peer-name") + 1] = "insurer-c"
    a, b = run_both(side("a", port, ids, tmp_path, "--size-only"), command_b, env=env)
    assert_clean_error(a, "psi.peer_failed", 1)
    assert "identity.untrusted_peer" in a[2] and "insurer-c" in a[2]
    assert_clean_error(b, "psi.peer_unavailable", 1)
    assert "rejected 'bank-a'" in b[2]


# --- bad input, reported before any connection (in-process) ---------------------------------


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    ("content", "extra", "code"),
    [
        (b"id,mobile\n1,2\n", [], "psi.unknown_column"),
        (b"id,phone\n1,\xff\xfe\n", [], "psi.invalid_csv"),
        (b"id,phone\n1,2,3\n", [], "psi.invalid_csv"),
        (b"\xff\xfei\x00d\x00", [], "psi.invalid_csv"),
        (b"id,phone\n1,138\n2,abc\n", ["--key-type", "int"], "psi.mixed_key_types"),
        (None, [], "psi.input_unreadable"),
    ],
    ids=["unknown-column", "not-utf8", "field-count", "utf16", "mixed-types", "missing-file"],
)
def test_bad_input_exits_2_with_code_and_hint(ids, tmp_path, capsys, content, extra, code):
    if content is not None:
        (tmp_path / "a.csv").write_bytes(content)
    out = tmp_path / "out.csv"
    status, _, err = run_cli(
        capsys, *side("a", free_port(), ids, tmp_path, "--output", str(out), *extra)[3:]
    )
    assert_clean_error((status, "", err), code, 2)
    assert not out.exists()


def test_usage_mistakes_are_explained(ids, tmp_path, capsys):
    write_inputs(tmp_path)
    base = side("a", 7000, ids, tmp_path)[3:]
    for argv, needle in (
        ([*base, "--size-only", "--output", "x.csv"], "--size-only writes no file"),
        (base, "--output"),
        ([*base[:4], "7000", *base[5:], "--size-only"], "HOST:PORT"),
        ([*base, "--output", str(tmp_path / "absent" / "x.csv")], "cannot write"),
    ):
        status, _, err = run_cli(capsys, *argv)
        assert status == 2, err
        assert needle in err and "hint:" in err


def test_progress_bar_draws_on_a_terminal_only():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = cli._ProgressBar(screen)
    bar("read", 50, 100)
    bar("join", 10, 20)
    bar("join", 20, 20)
    bar.close()
    text = screen.getvalue()
    assert "\r" in text and "50.0%" in text and "100.0%" in text and "20/20" in text
    assert text.endswith("\n")
