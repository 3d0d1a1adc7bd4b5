"""The ``shuyu`` command: bilingual results, errors as code + hint, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

from cryptography import x509

from shuyu import cli, pki
from shuyu.config import Settings, iter_settings
from shuyu.errors import MpcError, all_error_codes


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_ca_init_and_issue(tmp_path, capsys):
    status, out, err = run(capsys, "ca", "init", str(tmp_path / "ca"), "--name", "bank-space")
    assert (status, err) == (0, "")
    assert "已创建数据空间 CA / Created the data space CA: bank-space" in out
    assert str(tmp_path / "ca" / "ca.pem") in out
    assert str(tmp_path / "ca" / "ca-key.pem") in out
    assert pki.certificate_fingerprint(tmp_path / "ca" / "ca.pem") in out
    assert "PRIVATE KEY" not in out

    status, out, err = run(
        capsys,
        "ca",
        "issue",
        str(tmp_path / "ca"),
        "bank-a",
        "--out",
        str(tmp_path / "bank-a"),
        "--dns",
        "bank-a.example.com",
        "--dns",
        "bank-a.internal",
        "--ip",
        "10.0.0.5",
        "::1",
    )
    assert (status, err) == (0, "")
    assert "已签发身份证书 / Issued the identity certificate: bank-a" in out
    for name in ("bank-a.pem", "bank-a-key.pem", "ca.pem"):
        assert str(tmp_path / "bank-a" / name) in out
        assert (tmp_path / "bank-a" / name).is_file()
    assert "PRIVATE KEY" not in out
    key_text = (tmp_path / "bank-a" / "bank-a-key.pem").read_text()
    assert key_text.splitlines()[1] not in out
    identity = pki.load_identity(tmp_path / "bank-a", "bank-a")
    cert = x509.load_pem_x509_certificate(identity.cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [
        "bank-a",
        "localhost",
        "bank-a.example.com",
        "bank-a.internal",
    ]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "10.0.0.5",
        "::1",
    ]


def test_json_results(tmp_path, capsys):
    status, out, _ = run(capsys, "--json", "ca", "init", str(tmp_path / "ca"))
    assert status == 0
    body = json.loads(out)
    assert body["ok"] is True
    assert body["cert_path"] == str(tmp_path / "ca" / "ca.pem")
    # Global options are accepted after the command as well.
    status, out, _ = run(capsys, "ca", "issue", str(tmp_path / "ca"), "alice", "--json")
    assert status == 0
    assert json.loads(out)["key_path"] == str(tmp_path / "ca" / "alice-key.pem")


def test_user_error_prints_code_and_hint(tmp_path, capsys):
    assert run(capsys, "ca", "init", str(tmp_path / "ca"))[0] == 0
    status, out, err = run(capsys, "ca", "init", str(tmp_path / "ca"))
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("error [identity.ca_exists]: ")
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in err

    status, _, err = run(capsys, "ca", "issue", str(tmp_path / "nothing"), "alice")
    assert status == 2
    assert err.startswith("error [identity.ca_missing]")

    status, _, err = run(capsys, "ca", "issue", str(tmp_path / "ca"), "Bad_Name")
    assert status == 2
    assert err.startswith("error [identity.invalid_name]")


def test_json_error_is_the_error_shape(tmp_path, capsys):
    status, out, err = run(capsys, "--json", "ca", "issue", str(tmp_path / "none"), "alice")
    assert status == 2
    assert out == ""
    assert json.loads(err) == {
        "ok": False,
        "code": "identity.ca_missing",
        "error": f"no data space CA in {tmp_path / 'none'} (expected ca.pem and ca-key.pem)",
        "hint": all_error_codes()["identity.ca_missing"].default_hint,
        "status": 404,
    }


def test_server_side_errors_exit_1(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise MpcError("the engine failed")

    monkeypatch.setattr(pki, "init_ca", broken)
    status, _, err = run(capsys, "ca", "init", "somewhere")
    assert status == 1
    assert err.startswith("error [mpc.error]: the engine failed")


def test_unexpected_exception_is_one_line_without_traceback(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk\non fire")

    monkeypatch.setattr(pki, "init_ca", broken)
    status, out, err = run(capsys, "ca", "init", "somewhere")
    assert status == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "error [shuyu.error]: unexpected RuntimeError: disk on fire"
    assert lines[1].startswith("hint: ") and "--debug" in lines[1]
    assert "Traceback" not in err

    status, _, err = run(capsys, "--debug", "ca", "init", "somewhere")
    assert status == 1
    assert "Traceback" in err
    assert "error [shuyu.error]" in err

    status, _, err = run(capsys, "--json", "ca", "init", "somewhere")
    assert json.loads(err)["code"] == "shuyu.error"


def test_usage_errors_and_help(capsys):
    assert run(capsys)[0] == 2
    assert run(capsys, "ca")[0] == 2
    assert run(capsys, "nonsense")[0] == 2
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "settings" in out
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.startswith("shuyu ")


def test_settings_lists_every_setting(capsys):
    status, out, _ = run(capsys, "settings")
    assert status == 0
    for info in iter_settings():
        assert info.name in out
        assert info.env in out
        assert info.help in out
        assert repr(info.default) in out
        assert info.type.__name__ in out
    body = json.loads(run(capsys, "--json", "settings")[1])
    assert [row["name"] for row in body["settings"]] == [i.name for i in iter_settings()]


def test_settings_are_loaded_once_with_file_env_and_flags(tmp_path, capsys, monkeypatch):
    config = tmp_path / "shuyu.toml"
    config.write_text("[mpc]\nfrac_bits = 18\npeer_timeout_s = 30\n", encoding="utf-8")
    monkeypatch.setenv("SHUYU_MPC_PEER_TIMEOUT_S", "40")
    calls = []
    real = cli.load_settings

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(cli, "load_settings", recording)
    status, out, _ = run(
        capsys, "--json", "--config", str(config), "settings", "--set", "mpc.connect_timeout_s=5"
    )
    assert status == 0
    assert len(calls) == 1
    assert calls[0][1]["env"] is os.environ
    current = {row["name"]: row["current"] for row in json.loads(out)["settings"]}
    assert current["mpc.frac_bits"] == 18  # file
    assert current["mpc.peer_timeout_s"] == 40.0  # environment beats file
    assert current["mpc.connect_timeout_s"] == 5.0  # flag


def test_configuration_errors_are_user_errors(tmp_path, capsys, monkeypatch):
    status, _, err = run(capsys, "--set", "mpc.frac_bits=99", "errors")
    assert status == 2 and err.startswith("error [config.invalid]")
    assert "mpc.frac_bits" in err
    status, _, err = run(capsys, "--set", "nosuch.thing=1", "errors")
    assert status == 2 and err.startswith("error [config.unknown_setting]")
    status, _, err = run(capsys, "--set", "missing-equals", "errors")
    assert status == 2 and err.startswith("error [config.invalid]")
    bad = tmp_path / "bad.toml"
    bad.write_text("[mpc\n", encoding="utf-8")
    status, _, err = run(capsys, "--config", str(bad), "errors")
    assert status == 2 and err.startswith("error [config.file_unreadable]")
    monkeypatch.setenv("SHUYU_MPC_FRAC_BITS", "lots")
    status, _, err = run(capsys, "errors")
    assert status == 2 and "mpc.frac_bits from environment" in err


def test_errors_lists_every_code(capsys):
    status, out, _ = run(capsys, "errors")
    assert status == 0
    for code, cls in all_error_codes().items():
        assert code in out
        assert cls.default_hint in out
    rows = json.loads(run(capsys, "errors", "--json")[1])["errors"]
    assert {row["code"] for row in rows} == set(all_error_codes())


def test_demo_is_imported_lazily_and_gets_the_settings(capsys, monkeypatch):
    # A stand-in for shuyu.demo, so this test never runs the real demo.
    received = []
    fake = types.ModuleType("shuyu.demo")
    fake.main = lambda settings, options: received.append(settings) or 0  # type: ignore[attr-defined]
    fake.DemoOptions = lambda **kwargs: kwargs  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "shuyu.demo", fake)
    status, _, _ = run(capsys, "--set", "mpc.frac_bits=20", "demo")
    assert status == 0
    assert len(received) == 1
    assert isinstance(received[0], Settings)
    assert received[0].mpc.frac_bits == 20


def test_cli_module_does_not_import_the_demo():
    code = "import sys, shuyu.cli; print('shuyu.demo' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_real_process(tmp_path):
    console_script = Path(sys.executable).parent / "shuyu"
    command = [str(console_script)] if console_script.exists() else [sys.executable, "-m", "shuyu"]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}

    def shuyu(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *argv], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    done = shuyu("ca", "init", str(tmp_path / "ca"))
    assert done.returncode == 0, done.stderr
    assert "已创建数据空间 CA / Created the data space CA" in done.stdout
    assert (tmp_path / "ca" / "ca-key.pem").is_file()

    done = shuyu("ca", "init", str(tmp_path / "ca"))
    assert done.returncode == 2
    assert done.stderr.startswith("error [identity.ca_exists]")
    assert "hint: " in done.stderr
    assert "Traceback" not in done.stderr

    # python -m shuyu is the same command.
    done = subprocess.run(
        [sys.executable, "-m", "shuyu", "ca", "issue", str(tmp_path / "ca"), "alice"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "已签发身份证书 / Issued the identity certificate: alice" in done.stdout
