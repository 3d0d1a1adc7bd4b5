"""The ``shuyu`` commands of the platform: the hub server and the user commands over its API.

``shuyu hub serve`` runs the hub; ``shuyu login`` keeps a session (the hub's URL and a token,
in a 0600 file); ``shuyu datasets``, ``publish``, ``request``, ``grants``, ``approve`` (and
``refuse``, ``suspend``, ``resume``, ``revoke``), ``submit``, ``jobs``, ``result`` and
``metering`` call the API through :mod:`shuyu.client` (``docs/platform.md``).
"""

from __future__ import annotations

import argparse
import gc
import getpass
import json
import os
import ssl
import threading
from pathlib import Path
from typing import Any

from shuyu.client import HubClient
from shuyu.config import Settings
from shuyu.errors import InvalidInput, Unauthenticated

EXIT_OK = 0
DEFAULT_SESSION = "~/.shuyu/session.json"


def _session_path(args: argparse.Namespace) -> Path:
    return Path(os.path.expanduser(args.session))


def _client(args: argparse.Namespace) -> HubClient:
    path = _session_path(args)
    if not path.exists():
        raise Unauthenticated("no session", hint="Log in first: shuyu login --hub URL --user NAME")
    session = json.loads(path.read_text(encoding="utf-8"))
    return HubClient(session["url"], token=session["token"], verify=session.get("ca") or True)


def _password(variable: str, prompt: str) -> str:
    password = os.environ.get(variable)
    if password:
        return password
    return getpass.getpass(prompt)


# --- commands ---------------------------------------------------------------------------------


def hub_serve(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    import uvicorn  # noqa: PLC0415 - the server is only needed by this command

    from shuyu.hub.api import create_app  # noqa: PLC0415

    admin = None
    if args.admin:
        admin = (args.admin, _password("SHUYU_HUB_ADMIN_PASSWORD", "admin password: "))
    app = create_app(settings.hub, admin=admin)
    # everything created so far lives as long as the server: keep the collector off it (shorter
    # pauses under load)
    gc.collect()
    gc.freeze()
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidInput(f"--listen expects HOST:PORT, got {args.listen!r}")
    if not settings.hub.ca_dir:  # development: plain HTTP on one port
        print(
            f"运营平台 / hub: http://{host}:{port} (API docs at /docs)", file=out.stderr, flush=True
        )
        uvicorn.run(app, host=host, port=int(port), log_level="warning")
        return EXIT_OK
    # HTTPS with a certificate from the data space's CA; nodes on a second port, mutual TLS
    identity = _hub_identity(settings, host)
    node_host, _, node_port = (args.node_listen or f"{host}:{int(port) + 1}").rpartition(":")
    app.state.node_port = int(node_port)
    app.state.node_url = f"https://{node_host}:{node_port}"
    certificate, key = str(identity.cert_path), str(identity.key_path)
    nodes = uvicorn.Server(
        uvicorn.Config(
            app,
            host=node_host,
            port=int(node_port),
            log_level="warning",
            ssl_certfile=certificate,
            ssl_keyfile=key,
            ssl_ca_certs=str(identity.ca_path),
            ssl_cert_reqs=ssl.CERT_REQUIRED,
        )
    )
    thread = threading.Thread(target=nodes.run, name="node-listener", daemon=True)
    thread.start()  # not the main thread: only the users' server below handles signals
    print(
        f"运营平台 / hub: https://{host}:{port} (CA {identity.ca_path}); "
        f"nodes: {app.state.node_url} (mutual TLS)",
        file=out.stderr,
        flush=True,
    )
    try:
        users = uvicorn.Config(
            app,
            host=host,
            port=int(port),
            log_level="warning",
            ssl_certfile=certificate,
            ssl_keyfile=key,
        )
        uvicorn.Server(users).run()
    finally:
        nodes.should_exit = True
        thread.join(timeout=10)
    return EXIT_OK


def _hub_identity(settings: Settings, host: str) -> Any:
    """The hub's own certificate, issued by the data space's CA on first start."""
    from shuyu import pki  # noqa: PLC0415

    directory = Path(settings.hub.home) / "identity"
    if not (directory / "hub.pem").exists():
        addresses = [host] if host.replace(".", "").isdigit() else []
        pki.issue_certificate(settings.hub.ca_dir, "hub", out_dir=directory, ip_addresses=addresses)
    return pki.load_identity(directory, "hub")


def node_join(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    from shuyu.node.config import parse_address  # noqa: PLC0415 - node commands only
    from shuyu.node.worker import join  # noqa: PLC0415

    config = join(
        hub=args.hub,
        token=args.token,
        name=args.name,
        home=args.home,
        mpc=parse_address(args.mpc),
        space=args.space,
        ca=args.ca,
    )
    out.result(
        f"节点已加入 / node enrolled: {config.name} ({config.kind}) in {config.home}",
        {"ok": True, "name": config.name, "kind": config.kind, "home": str(config.home)},
    )
    return EXIT_OK


def node_serve(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    from shuyu.node.worker import serve  # noqa: PLC0415 - node commands only

    return serve(args.home, settings, once=args.once)


def login(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    client = HubClient(args.hub, verify=args.ca or True)
    answer = client.login(args.user, _password("SHUYU_PASSWORD", f"{args.user} 的密码 password: "))
    path = _session_path(args)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"url": client.url, "token": answer["token"], "ca": args.ca}, handle)
    user = answer["user"]
    out.result(
        f"已登录 / logged in: {user['name']} ({user['role']}, {user['party'] or '-'})",
        {"ok": True, "user": user},
    )
    return EXIT_OK


def datasets(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    with _client(args) as client:
        found = client.datasets(
            q=args.q, owner=args.owner, topic=args.topic, grade=args.grade, column=args.column
        )
    lines = [
        f"{d['id']:>4}  {d['party']}.{d['name']}  [{d['topic'] or '-'}]  "
        f"{', '.join(c['name'] + ':' + c['type'] for c in d['columns'])}"
        for d in found
    ]
    out.result("\n".join(lines) or "(无 / none)", found)
    return EXIT_OK


def publish(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    body = json.loads(Path(args.file).read_text(encoding="utf-8"))
    with _client(args) as client:
        dataset = client.publish(body)
    out.result(
        f"已发布 / published: #{dataset['id']} {dataset['party']}.{dataset['name']}", dataset
    )
    return EXIT_OK


def request(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    with _client(args) as client:
        grant = client.request(
            dataset_id=args.dataset,
            purpose=args.purpose,
            columns=_list(args.columns),
            operations=_list(args.operations),
            days=args.days,
            quota=args.quota,
        )
    out.result(f"已申请 / requested: grant #{grant['id']} ({grant['state']})", grant)
    return EXIT_OK


def grants(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    with _client(args) as client:
        found = client.grants()
    lines = [
        f"{g['id']:>4}  dataset #{g['dataset_id']}  {g['state']:<9}  "
        f"{g['queries_used']}/{g['query_quota']}  {','.join(g['columns'])}  "
        f"{','.join(g['operations'])}  until {g['valid_until'][:16]}"
        for g in found
    ]
    out.result("\n".join(lines) or "(无 / none)", found)
    return EXIT_OK


def decide(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    with _client(args) as client:
        grant = client.decide(
            args.grant,
            args.action,
            reason=args.reason,
            columns=_list(args.columns) if getattr(args, "columns", None) else None,
            operations=_list(args.operations) if getattr(args, "operations", None) else None,
            query_quota=getattr(args, "quota", None),
        )
    out.result(f"grant #{grant['id']}: {grant['state']}", grant)
    return EXIT_OK


def submit(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    with _client(args) as client:
        submitted = client.submit(args.sql)
    job = submitted["job"]
    out.result(f"已提交 / submitted: job #{job['id']} ({job['state']})", submitted)
    return EXIT_OK


def jobs(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    with _client(args) as client:
        found = client.jobs()
    lines = [
        f"{j['id']:>4}  {j['state']:<9}  {j['receiver']}  {' '.join(j['sql'].split())[:60]}"
        for j in found
    ]
    out.result("\n".join(lines) or "(无 / none)", found)
    return EXIT_OK


def result(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    with _client(args) as client:
        answer = client.result(args.job)
    header = ",".join(answer.get("names", []))
    rows = [
        ",".join("NULL" if v is None else str(v) for v in row) for row in answer.get("rows", [])
    ]
    out.result("\n".join([header, *rows]), answer)
    return EXIT_OK


def metering(args: argparse.Namespace, settings: Settings, out: Any) -> int:
    with _client(args) as client:
        found = client.metering()
    lines = [
        f"grant #{m['grant_id']}: {m['queries_used']}/{m['query_quota']} queries, "
        f"{m['rows']} rows, {m['bytes']} bytes, {m['seconds']} s"
        for m in found
    ]
    out.result("\n".join(lines) or "(无 / none)", found)
    return EXIT_OK


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# --- the parsers -------------------------------------------------------------------------------


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register the platform's commands on the ``shuyu`` parser."""
    session = argparse.ArgumentParser(add_help=False)
    session.add_argument(
        "--session", default=DEFAULT_SESSION, help=f"the session file (default {DEFAULT_SESSION})"
    )

    hub = commands.add_parser("hub", help="the operator's hub (运营平台)", parents=[common])
    hub_commands = hub.add_subparsers(dest="hub_command", metavar="ACTION", required=True)
    serve = hub_commands.add_parser("serve", help="run the hub's API", parents=[common])
    serve.add_argument("--listen", default="127.0.0.1:8700", help="HOST:PORT (127.0.0.1:8700)")
    serve.add_argument(
        "--node-listen",
        help="HOST:PORT of the nodes' mutual-TLS port when hub.ca_dir is set (default: the "
        "users' port + 1)",
    )
    serve.add_argument(
        "--admin",
        help="create this admin user if the hub has no user (password from "
        "SHUYU_HUB_ADMIN_PASSWORD, else asked)",
    )
    serve.set_defaults(handler=hub_serve)

    node = commands.add_parser("node", help="a domain's node (数据方节点)", parents=[common])
    node_commands = node.add_subparsers(dest="node_command", metavar="ACTION", required=True)
    join = node_commands.add_parser("join", help="enrol with a hub", parents=[common])
    join.add_argument("--hub", required=True, help="the hub's URL")
    join.add_argument("--token", required=True, help="the operator's one-time enrolment token")
    join.add_argument("--name", required=True, help="the node's party name")
    join.add_argument("--home", required=True, help="the node's state directory")
    join.add_argument("--mpc", required=True, help="HOST:PORT the node listens on for its peers")
    join.add_argument("--space", help="a space file with this party's tables")
    join.add_argument("--ca", help="the data space's CA certificate, to check the hub's (https)")
    join.set_defaults(handler=node_join)
    run = node_commands.add_parser("serve", help="pull and run jobs", parents=[common])
    run.add_argument("--home", required=True, help="the node's state directory")
    run.add_argument("--once", action="store_true", help="stop when no work is left")
    run.set_defaults(handler=node_serve)

    def command(name: str, handler: Any, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, help=help, parents=[common, session]
        )
        parser.set_defaults(handler=handler)
        return parser

    parser = command("login", login, "log in to a hub (password from SHUYU_PASSWORD, else asked)")
    parser.add_argument("--hub", required=True, help="the hub's URL")
    parser.add_argument("--user", required=True, help="user name")
    parser.add_argument("--ca", help="the data space's CA certificate, to check the hub's (https)")

    parser = command("datasets", datasets, "search the resource hall (数据资源大厅)")
    for option in ("q", "owner", "topic", "grade", "column"):
        parser.add_argument(f"--{option}")

    parser = command("publish", publish, "publish a dataset described in a JSON file (owner)")
    parser.add_argument("file")

    parser = command("request", request, "request access to a dataset (consumer)")
    parser.add_argument("--dataset", type=int, required=True)
    parser.add_argument("--purpose", required=True)
    parser.add_argument("--columns", required=True, help="comma-separated")
    parser.add_argument(
        "--operations", required=True, help="join,compare,group_by,aggregate,payload,plaintext"
    )
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--quota", type=int, default=10)

    command("grants", grants, "authorisations in and out")

    for action in ("approve", "refuse", "suspend", "resume", "revoke"):
        parser = command(action, decide, f"{action} a grant (the dataset's owner)")
        parser.add_argument("grant", type=int)
        parser.add_argument("--reason", default="")
        parser.set_defaults(action=action)
        if action == "approve":
            parser.add_argument("--columns", help="narrow to these columns")
            parser.add_argument("--operations", help="narrow to these operations")
            parser.add_argument("--quota", type=int, help="lower the query quota")

    parser = command("submit", submit, "submit a SQL job (consumer)")
    parser.add_argument("sql")
    command("jobs", jobs, "your jobs")
    parser = command("result", result, "a job's result (its receiver)")
    parser.add_argument("job", type=int)
    command("metering", metering, "use per grant (可计量)")
