"""The node's worker: enrol once, then pull jobs, check them, run them, report.

For each job the node

1. plans the job's document itself (``shuyu.engine.jobs``): the same plan as its peers', and the
   compute parties must be the ones the hub named;
2. checks it against **its own copy** of the grants on its data (``grants.json``, refreshed from
   the hub; a grant once seen revoked, refused or expired stays so, whatever the hub says later):
   every rule of the document about its columns must come from a grant it holds as approved for
   that receiver, and every column of its tables the plan reads must be covered;
3. runs it with its peers over mutually authenticated TLS (its certificate from the data space's
   CA; each peer must present the certificate of the party the hub named), opening only its own
   sources, and reports success (with bytes and seconds, and the result if it is the receiver)
   or the error's code and message.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from shuyu import pki
from shuyu.config import Settings
from shuyu.engine.data import Result, format_value
from shuyu.engine.jobs import OPERATION_GRANTS, plan_document
from shuyu.engine.query import local_runner
from shuyu.engine.secure.executor import SecureExecutor
from shuyu.engine.space import Space, load_space
from shuyu.errors import (
    HubUnavailable,
    PolicyDenied,
    ProtocolError,
    ShuyuError,
    error_from_body,
)
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.transport.tls import PartyAddress, TlsTransport
from shuyu.node.config import NodeConfig, load_config, write_config
from shuyu.sql import plan

log = logging.getLogger("shuyu.node")
FINAL = ("revoked", "refused", "expired")


class HubLink:
    """The node's calls to the hub (authenticated by its node key)."""

    def __init__(
        self,
        url: str,
        key: str | None = None,
        *,
        timeout_s: float = 30.0,
        verify: str | bool = True,
        certificate: tuple[str, str] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"X-Node-Key": key} if key else {}
        checks: ssl.SSLContext | bool = (
            verify if isinstance(verify, bool) else ssl.create_default_context(cafile=verify)
        )
        if certificate is not None:  # mutual TLS: the CA to check the hub, our certificate
            checks = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
            checks.minimum_version = ssl.TLSVersion.TLSv1_3
            checks.load_cert_chain(*certificate)
        self.http = httpx.Client(
            base_url=self.url, timeout=timeout_s, headers=headers, verify=checks
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self.http.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise HubUnavailable(
                f"cannot reach the hub at {self.url}: {type(error).__name__}"
            ) from None
        if response.status_code >= 400:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            raise error_from_body(response.status_code, answer)
        return response.json()

    def close(self) -> None:
        self.http.close()


# --- enrolment ------------------------------------------------------------------------------


def join(
    *,
    hub: str,
    token: str,
    name: str,
    home: str,
    mpc: tuple[str, int],
    space: str | None,
    ca: str | None = None,
) -> NodeConfig:
    """``shuyu node join``: a key pair made here, a certificate for it from the hub's CA
    (``ca``: the data space's CA certificate, to check the hub's before sending anything)."""
    key_pem, request_pem = pki.make_request(name)
    link = HubLink(hub, verify=ca or True)
    try:
        answer = link.call(
            "POST",
            "/api/nodes/enroll",
            {
                "token": token,
                "name": name,
                "request": request_pem.decode(),
                "mpc_host": mpc[0],
                "mpc_port": mpc[1],
            },
        )
    finally:
        link.close()
    config = NodeConfig(
        home=_path(home),
        name=name,
        kind=answer["kind"],
        hub=hub,
        mpc_host=mpc[0],
        mpc_port=mpc[1],
        space=_path(space) if space else None,
        node_url=answer.get("node_url"),
    )
    write_config(config)
    pki.write_identity(
        config.identity_dir, name, key_pem, answer["certificate"].encode(), answer["ca"].encode()
    )
    descriptor = os.open(config.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(answer["node_key"])
    return config


def _path(text: str) -> Path:
    return Path(text).resolve()


# --- the node's copy of its grants ------------------------------------------------------------


def sync_grants(config: NodeConfig, link: HubLink) -> dict[str, dict[str, Any]]:
    """Merge the hub's view into the node's copy; final states never go back."""
    mine: dict[str, dict[str, Any]] = {}
    if config.grants_path.exists():
        mine = json.loads(config.grants_path.read_text(encoding="utf-8"))
    for grant in link.call("GET", "/api/node/grants"):
        key = str(grant["id"])
        if key in mine and mine[key]["state"] in FINAL:
            continue
        mine[key] = grant
    temporary = config.grants_path.with_suffix(".tmp")
    temporary.write_text(json.dumps(mine, ensure_ascii=False), encoding="utf-8")
    temporary.replace(config.grants_path)
    return mine


def check_job(
    config: NodeConfig, document: dict[str, Any], grants: dict[str, dict[str, Any]]
) -> None:
    """Refuse a job the node's own copy of its grants does not allow (policy.denied)."""
    issuer = document["issuer"]
    if issuer == config.name:
        return  # a party's own query over its own data needs no grant from itself
    covered: dict[str, set[str]] = {}
    for rule in document["rules"]:
        if rule["party"] != config.name:
            continue
        grant = grants.get(str(rule.get("grant")))
        allowed = (
            grant is not None
            and grant["state"] == "approved"
            and grant["receiver"] == rule["to"] == issuer
            and grant["table"] == rule["table"]
            and rule["column"] in grant["columns"]
            and set(rule["allow"]) <= {OPERATION_GRANTS[op].value for op in grant["operations"]}
        )
        if not allowed:
            raise PolicyDenied(
                f"node {config.name} holds no approved grant for {issuer} on "
                f"{rule['table']}.{rule['column']} as the job claims",
                hint="The data's owner must approve (or re-approve) the grant.",
            )
        covered.setdefault(rule["table"], set()).add(rule["column"])
    planned = plan_document(document)
    for node in plan.walk(planned.query.root):
        if isinstance(node, plan.Scan) and node.party == config.name:
            read = {origin.column for item in node.fields for origin in item.origins}
            missing = read - covered.get(node.table, set())
            if missing:
                raise PolicyDenied(
                    f"the job reads {config.name}.{node.table} columns "
                    f"{', '.join(sorted(missing))} without a grant to {issuer}"
                )


# --- running jobs ----------------------------------------------------------------------------


def run_job(
    config: NodeConfig, settings: Settings, space: Space | None, item: dict[str, Any]
) -> tuple[Result | None, dict[str, Any]]:
    document = item["document"]
    planned = plan_document(document)
    if list(planned.parties) != list(item["parties"]):
        raise ProtocolError("the hub's compute parties differ from the plan's")
    me = planned.parties.index(config.name)
    addresses = {
        index: PartyAddress(name, *item["addresses"][name])
        for index, name in enumerate(planned.parties)
    }
    identity = pki.load_identity(config.identity_dir, config.name)
    listener = socket.create_server((config.mpc_host, config.mpc_port), reuse_port=False)
    start = time.perf_counter()
    transport = TlsTransport.connect(me, identity, addresses, settings.mpc, listener)
    try:
        runtime = Runtime(me, transport, settings.mpc)
        local = local_runner(space) if space is not None else None
        executor = SecureExecutor(runtime, planned.query, planned.options, local)
        result = executor.run()
        spent = {
            "seconds": time.perf_counter() - start,
            "bytes": runtime.snapshot().bytes_sent,
            "rows_used": executor.rows_used,
        }
    finally:
        transport.close()
        listener.close()
    return result, spent


def result_document(result: Result) -> dict[str, Any]:
    """A result as JSON: values as the CSV output writes them, NULL as null."""

    def cell(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        return format_value(value) if not isinstance(value, Decimal) else str(value)

    return {
        "names": list(result.names),
        "types": [str(t) for t in result.types],
        "rows": [[cell(v) for v in row] for row in result.rows],
        "dropped": result.dropped,
    }


def _node_link(config: NodeConfig) -> HubLink:
    """The hub's node port, over mutual TLS with the node's certificate when the hub has one."""
    if config.node_url and config.node_url.startswith("https://"):
        identity = pki.load_identity(config.identity_dir, config.name)
        return HubLink(
            config.node_url,
            config.node_key(),
            verify=str(identity.ca_path),
            certificate=(str(identity.cert_path), str(identity.key_path)),
        )
    return HubLink(config.node_url or config.hub, config.node_key())


def serve(home: str, settings: Settings, *, once: bool = False, poll_s: float = 0.5) -> int:
    """Pull and run jobs until interrupted (``once``: until no work is left)."""
    config = load_config(home)
    space = load_space(config.space) if config.space is not None else None
    link = _node_link(config)
    try:
        while True:
            grants = sync_grants(config, link)
            items = link.call("GET", "/api/node/work")
            for item in items:
                _run_and_report(
                    config, settings=settings, space=space, link=link, grants=grants, item=item
                )
            if once and not items:
                return 0
            if not items:
                time.sleep(poll_s)
    finally:
        link.close()
        if space is not None:
            space.close()


def _run_and_report(
    config: NodeConfig,
    *,
    settings: Settings,
    space: Space | None,
    link: HubLink,
    grants: dict[str, dict[str, Any]],
    item: dict[str, Any],
) -> None:
    job = item["job"]
    report: dict[str, Any]
    try:
        check_job(config, item["document"], grants)
        result, spent = run_job(config, settings, space, item)
        report = {"ok": True, **spent}
        if result is not None:
            report["result"] = result_document(result)
    except ShuyuError as error:
        log.warning("job %s failed: %s", job, error)
        report = {"ok": False, "code": error.code, "error": error.message}
    report["attempt"] = item.get("attempt", 1)
    link.call("POST", f"/api/node/jobs/{job}/report", report)
