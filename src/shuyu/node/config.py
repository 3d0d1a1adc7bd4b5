"""A node's home directory: ``node.yaml``, ``identity/`` (its key and certificate), ``node.key``
(its API key at the hub, 0600) and ``grants.json`` (its copy of the grants on its data).

``node.yaml``::

    name: bank                 # the party's name (its certificate's name)
    kind: domain               # or assist (compute only, no data)
    hub: https://127.0.0.1:8700
    node_url: https://127.0.0.1:8701   # the hub's mutual-TLS port for nodes (from enrolment)
    mpc: 127.0.0.1:7101        # where the node listens for its peers during a job
    space: bank-space.yaml     # a space file with this party's tables (domain nodes)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from shuyu.errors import ConfigError


@dataclass(frozen=True)
class NodeConfig:
    home: Path
    name: str
    kind: str
    hub: str
    mpc_host: str
    mpc_port: int
    space: Path | None
    node_url: str | None = None  # the hub's mutual-TLS port for nodes (None: the hub's URL)

    @property
    def identity_dir(self) -> Path:
        return self.home / "identity"

    @property
    def key_path(self) -> Path:
        return self.home / "node.key"

    @property
    def grants_path(self) -> Path:
        return self.home / "grants.json"

    def node_key(self) -> str:
        return self.key_path.read_text(encoding="utf-8").strip()


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"an address must be HOST:PORT, got {text!r}")
    return host, int(port)


def load_config(home: str | Path) -> NodeConfig:
    home = Path(home)
    path = home / "node.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist", hint="Enrol the node first: shuyu node join ..."
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping")
    try:
        host, port = parse_address(str(data["mpc"]))
        space = data.get("space")
        return NodeConfig(
            home=home,
            name=str(data["name"]),
            kind=str(data.get("kind", "domain")),
            hub=str(data["hub"]),
            mpc_host=host,
            mpc_port=port,
            space=(home / space) if space else None,
            node_url=data.get("node_url"),
        )
    except KeyError as error:
        raise ConfigError(f"{path} lacks the key {error.args[0]!r}") from None


def write_config(config: NodeConfig) -> None:
    config.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    document = {
        "name": config.name,
        "kind": config.kind,
        "hub": config.hub,
        "mpc": f"{config.mpc_host}:{config.mpc_port}",
    }
    if config.space is not None:
        document["space"] = os.path.relpath(config.space, config.home)
    if config.node_url:
        document["node_url"] = config.node_url
    (config.home / "node.yaml").write_text(
        yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
