"""The ``shuyu`` command: the edge where arguments, the environment and files come in.

Settings are loaded here exactly once (defaults, ``--config`` TOML file, ``SHUYU_*`` environment
variables, ``--set NAME=VALUE`` flags) and passed down to the command; nothing below reads the
environment.

Every :class:`~shuyu.errors.ShuyuError` is printed on stderr as two lines, ``error [CODE]:
MESSAGE`` and ``hint: FIX``, never as a traceback; with ``--json`` the error's ``to_dict()``
is printed on stderr instead, and results are printed as JSON on stdout. Exit status: 0 on
success, 2 for a user error (HTTP status below 500, and for command-line usage errors), 1 for
anything else. Unexpected exceptions are reported with code ``shuyu.error``; ``--debug`` adds
their traceback.

The command never prints key material: ``ca`` commands print paths and public fingerprints.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from shuyu import __version__, pki
from shuyu.config import Settings, iter_settings, load_settings
from shuyu.errors import ConfigError, ShuyuError, all_error_codes

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

Command = Callable[[argparse.Namespace, Settings, "Output"], int]


class Output:
    """Where a command writes: plain text for people, or JSON documents for programs."""

    def __init__(self, *, as_json: bool, stdout: TextIO, stderr: TextIO) -> None:
        self.as_json = as_json
        self.stdout = stdout
        self.stderr = stderr

    def result(self, text: str, document: Any) -> None:
        """Print a command's result: ``text`` for people, ``document`` under ``--json``."""
        if self.as_json:
            print(json.dumps(document, ensure_ascii=False, indent=2), file=self.stdout)
        else:
            print(text, file=self.stdout)

    def error(self, error: ShuyuError) -> None:
        """Print an error: code, message and hint, or its JSON shape under ``--json``."""
        if self.as_json:
            print(json.dumps(error.to_dict(), ensure_ascii=False), file=self.stderr)
        else:
            print(f"error [{error.code}]: {error.message}", file=self.stderr)
            print(f"hint: {error.hint}", file=self.stderr)


# --- commands ------------------------------------------------------------------------------


def _ca_init(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    paths = pki.init_ca(args.directory, name=args.name, validity_days=args.days)
    fingerprint = pki.certificate_fingerprint(paths.cert_path)
    out.result(
        "\n".join(
            [
                f"已创建数据空间 CA / Created the data space CA: {args.name}",
                f"  CA 证书 / CA certificate:  {paths.cert_path}",
                f"  CA 私钥 / CA private key:  {paths.key_path} "
                "(0600; 请离线保管 / keep it offline)",
                f"  SHA-256 指纹 / fingerprint: {fingerprint}",
                f"下一步 / Next: shuyu ca issue {paths.directory} NAME",
            ]
        ),
        {
            "ok": True,
            "name": args.name,
            "directory": str(paths.directory),
            "cert_path": str(paths.cert_path),
            "key_path": str(paths.key_path),
            "fingerprint_sha256": fingerprint,
        },
    )
    return EXIT_OK


def _ca_issue(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    identity = pki.issue_certificate(
        args.directory,
        args.name,
        out_dir=args.out,
        validity_days=args.days,
        dns_names=args.dns,
        ip_addresses=args.ip,
    )
    fingerprint = pki.certificate_fingerprint(identity.cert_path)
    out.result(
        "\n".join(
            [
                f"已签发身份证书 / Issued the identity certificate: {identity.name}",
                f"  证书 / certificate:         {identity.cert_path}",
                f"  私钥 / private key:         {identity.key_path} (0600)",
                f"  CA 证书 / CA certificate:   {identity.ca_path}",
                f"  SHA-256 指纹 / fingerprint: {fingerprint}",
            ]
        ),
        {
            "ok": True,
            "name": identity.name,
            "cert_path": str(identity.cert_path),
            "key_path": str(identity.key_path),
            "ca_path": str(identity.ca_path),
            "fingerprint_sha256": fingerprint,
        },
    )
    return EXIT_OK


def _settings(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    for info in iter_settings():
        section, key = info.name.split(".")
        current = getattr(getattr(settings, section), key)
        bounds = (
            f"[{info.minimum!r}, {info.maximum!r}]"
            if info.minimum is not None and info.maximum is not None
            else ""
        )
        rows.append(
            {
                "name": info.name,
                "type": info.type.__name__,
                "default": info.default,
                "current": current,
                "env": info.env,
                "minimum": info.minimum,
                "maximum": info.maximum,
                "help": info.help,
            }
        )
        lines.append(f"{info.name}  ({info.type.__name__}, default {info.default!r})")
        lines.append(f"    env {info.env}" + (f"; range {bounds}" if bounds else ""))
        if current != info.default:
            lines.append(f"    current value {current!r}")
        lines.append(f"    {info.help}")
    out.result("\n".join(lines), {"ok": True, "settings": rows})
    return EXIT_OK


def _errors(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    rows: list[dict[str, Any]] = [
        {"code": code, "status": cls.status, "class": cls.__name__, "hint": cls.default_hint}
        for code, cls in all_error_codes().items()
    ]
    width = max(len(row["code"]) for row in rows)
    text = "\n".join(
        f"{row['code']:<{width}}  {row['status']}  {row['class']}\n    {row['hint']}"
        for row in rows
    )
    out.result(text, {"ok": True, "errors": rows})
    return EXIT_OK


def _demo(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    # Imported here: the demo pulls in the whole engine, which no other command needs.
    demo = importlib.import_module("shuyu.demo")
    status = demo.main(settings)
    return status if isinstance(status, int) else EXIT_OK


# --- parsing -------------------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Add the options accepted before or after the command (``shuyu --json errors``).

    After the command their defaults are suppressed, so that a value given before the command
    is not reset; ``--set`` collects into its own list there and both lists are merged.
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--config", metavar="FILE", default=default(None), help="TOML settings file"
    )
    parser.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        dest="late_overrides" if suppress else "overrides",
        default=default([]),
        help="override one setting, e.g. --set mpc.peer_timeout_s=5 (repeatable)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print results and errors as JSON",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="print tracebacks of unexpected errors",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``shuyu`` command."""
    parser = argparse.ArgumentParser(
        prog="shuyu",
        description="Shuyu (数域): a trusted data space.",
        epilog="Settings: defaults < --config FILE < SHUYU_* environment < --set flags.",
    )
    parser.add_argument("--version", action="version", version=f"shuyu {__version__}")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ca = commands.add_parser(
        "ca", help="the data space's CA and party certificates", parents=[common]
    )
    ca_commands = ca.add_subparsers(dest="ca_command", metavar="ACTION", required=True)
    init = ca_commands.add_parser("init", help="create the data space CA in DIR", parents=[common])
    init.add_argument("directory", metavar="DIR", help="new or empty directory for the CA")
    init.add_argument("--name", default="shuyu-data-space", help="the CA's name")
    init.add_argument("--days", type=int, default=3650, help="validity in days (3650)")
    init.set_defaults(handler=_ca_init)

    issue = ca_commands.add_parser(
        "issue", help="issue a party certificate signed by the CA in DIR", parents=[common]
    )
    issue.add_argument("directory", metavar="DIR", help="the CA directory")
    issue.add_argument("name", metavar="NAME", help="the party name (also its DNS name)")
    issue.add_argument("--out", metavar="OUT", help="where to write the identity (default DIR)")
    issue.add_argument(
        "--dns",
        nargs="+",
        action="extend",
        default=[],
        metavar="HOST",
        help="extra DNS names of the party (repeatable)",
    )
    issue.add_argument(
        "--ip",
        nargs="+",
        action="extend",
        default=[],
        metavar="ADDRESS",
        help="extra IP addresses of the party (repeatable)",
    )
    issue.add_argument("--days", type=int, default=825, help="validity in days (825)")
    issue.set_defaults(handler=_ca_issue)

    commands.add_parser(
        "settings", help="list every setting, its default and variable", parents=[common]
    ).set_defaults(handler=_settings)
    commands.add_parser(
        "errors", help="list every error code and its fix", parents=[common]
    ).set_defaults(handler=_errors)
    commands.add_parser(
        "demo", help="run a local three-party data space demo", parents=[common]
    ).set_defaults(handler=_demo)
    return parser


def _parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            raise ConfigError(
                f"--set expects NAME=VALUE, got {pair!r}",
                hint="Write e.g. --set mpc.peer_timeout_s=5; `shuyu settings` lists the names.",
            )
        overrides[name.strip()] = value.strip()
    return overrides


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``shuyu`` command and return its exit status.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).
    """
    stdout, stderr = sys.stdout, sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        code = exc.code
        return code if isinstance(code, int) else EXIT_USER_ERROR
    out = Output(as_json=args.json, stdout=stdout, stderr=stderr)
    handler: Command = args.handler
    try:
        overrides = _parse_overrides([*args.overrides, *getattr(args, "late_overrides", [])])
        settings = load_settings(args.config, env=os.environ, overrides=overrides)
        return handler(args, settings, out)
    except ShuyuError as error:
        out.error(error)
        return EXIT_USER_ERROR if error.status < 500 else EXIT_FAILURE
    except KeyboardInterrupt:
        print("已中断 / interrupted", file=stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `shuyu errors | head`): stop quietly, and point stdout at
        # /dev/null so that the interpreter's final flush does not complain either.
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:
        if args.debug:
            traceback.print_exc(file=stderr)
        out.error(
            ShuyuError(
                _one_line(f"unexpected {type(exc).__name__}: {exc}"),
                hint=ShuyuError.default_hint
                + ("" if args.debug else " Rerun with --debug to see the traceback."),
            )
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
