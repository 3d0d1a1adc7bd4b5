"""One typed settings object, loaded once at the edge and passed down.

Settings are declared as frozen dataclass sections whose fields carry a help text; that
declaration *is* the registry: it drives validation, the CLI (`shuyu settings`) and
`docs/configuration.md` (a test fails when a setting is undocumented).

Precedence, lowest to highest: built-in defaults, a TOML file, environment variables
(``SHUYU_<SECTION>_<NAME>``, e.g. ``SHUYU_MPC_PEER_TIMEOUT_S``), explicit overrides (CLI flags).
Nothing reads the environment at import time: :func:`load_settings` receives the environment
mapping from its caller.

Example:
    >>> s = load_settings(env={"SHUYU_MPC_FRAC_BITS": "20"}, overrides={"mpc.peer_timeout_s": 5})
    >>> s.mpc.frac_bits, s.mpc.peer_timeout_s
    (20, 5.0)
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shuyu.errors import ConfigError, ConfigFileError, UnknownSetting


def _setting(
    default: Any, help: str, *, minimum: float | None = None, maximum: float | None = None
) -> Any:
    return field(default=default, metadata={"help": help, "min": minimum, "max": maximum})


@dataclass(frozen=True)
class MpcSettings:
    """The secure computation engine."""

    frac_bits: int = _setting(
        16,
        "Fractional bits of the fixed-point encoding of reals (range is documented in "
        "docs/mpc.md).",
        minimum=0,
        maximum=40,
    )
    peer_timeout_s: float = _setting(
        60.0,
        "Seconds a party waits for a peer's message before failing with mpc.peer_unavailable.",
        minimum=0.05,
        maximum=86400,
    )
    connect_timeout_s: float = _setting(
        20.0,
        "Seconds a party keeps trying to connect to its peers at start.",
        minimum=0.05,
        maximum=3600,
    )
    max_frame_bytes: int = _setting(
        4 << 30,
        "Largest frame a party accepts from a peer; larger frames are a protocol error.",
        minimum=1 << 16,
        maximum=1 << 40,
    )


@dataclass(frozen=True)
class EcdhPsiSettings:
    """Two-party ECDH-PSI (`shuyu psi`)."""

    batch_size: int = _setting(
        4096,
        "Keys per message and per worker task; memory in flight is a few batches per worker.",
        minimum=1,
        maximum=1 << 20,
    )
    workers: int = _setting(
        0,
        "Worker processes for the curve arithmetic; 0 means one per CPU core.",
        minimum=0,
        maximum=1024,
    )
    connect_timeout_s: float = _setting(
        60.0,
        "Seconds the connecting side keeps retrying, and the listening side waits, for the peer.",
        minimum=0.05,
        maximum=86400,
    )
    peer_timeout_s: float = _setting(
        120.0,
        "Seconds a side waits for the peer's next message before failing with "
        "psi.peer_unavailable.",
        minimum=0.05,
        maximum=86400,
    )


@dataclass(frozen=True)
class SourceSettings:
    """Data sources of a space (`shuyu query --space`)."""

    connect_timeout_s: float = _setting(
        10.0,
        "Seconds to wait for a database server of a space to accept a connection before "
        "failing with source.unavailable.",
        minimum=1,
        maximum=600,
    )


@dataclass(frozen=True)
class HubSettings:
    """The operator's hub (`shuyu hub`)."""

    home: str = _setting(
        ".shuyu/hub",
        "Directory of the hub's state: its SQLite database (unless database_url is set) and "
        "its token signing key.",
    )
    database_url: str = _setting(
        "",
        "SQLAlchemy URL of the hub's database; empty means SQLite in the home directory.",
    )
    token_ttl_s: float = _setting(
        900.0,
        "Seconds a login token stays valid.",
        minimum=10,
        maximum=86400,
    )
    ca_dir: str = _setting(
        "",
        "Directory of the data space's CA (shuyu ca init) with which the hub signs the "
        "certificates of enrolling nodes; empty disables enrolment.",
    )


@dataclass(frozen=True)
class LogSettings:
    """Logging."""

    level: str = _setting("INFO", "Log level: DEBUG, INFO, WARNING or ERROR.")


@dataclass(frozen=True)
class Settings:
    """All of Shuyu's settings. Build with :func:`load_settings`."""

    mpc: MpcSettings = field(default_factory=MpcSettings)
    log: LogSettings = field(default_factory=LogSettings)
    ecdh_psi: EcdhPsiSettings = field(default_factory=EcdhPsiSettings)
    sources: SourceSettings = field(default_factory=SourceSettings)
    hub: HubSettings = field(default_factory=HubSettings)

    def replace(self, **overrides: Any) -> Settings:
        """A copy with dotted-name overrides, validated like any other source."""
        return _apply(self, overrides, source="override")


@dataclass(frozen=True)
class SettingInfo:
    """One setting as the registry declares it (drives the CLI and the docs)."""

    name: str
    type: type
    default: Any
    help: str
    env: str
    minimum: float | None = None
    maximum: float | None = None


def iter_settings() -> Iterator[SettingInfo]:
    """Every setting with its type, default, help and environment variable."""
    for section in dataclasses.fields(Settings):
        for f in dataclasses.fields(_SECTIONS[section.name]):
            name = f"{section.name}.{f.name}"
            yield SettingInfo(
                name=name,
                type=_FIELD_TYPES[name],
                default=f.default,
                help=f.metadata["help"],
                env=_env_name(name),
                minimum=f.metadata["min"],
                maximum=f.metadata["max"],
            )


_SECTIONS: dict[str, type] = {
    "mpc": MpcSettings,
    "log": LogSettings,
    "ecdh_psi": EcdhPsiSettings,
    "sources": SourceSettings,
    "hub": HubSettings,
}
_FIELD_TYPES: dict[str, type] = {
    f"{section}.{f.name}": {"int": int, "float": float, "str": str, "bool": bool}[str(f.type)]
    for section, cls in _SECTIONS.items()
    for f in dataclasses.fields(cls)
}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _env_name(name: str) -> str:
    return "SHUYU_" + name.replace(".", "_").upper()


def _coerce(name: str, raw: Any, source: str) -> Any:
    kind = _FIELD_TYPES[name]
    try:
        if kind is bool:
            if isinstance(raw, bool):
                value: Any = raw
            elif str(raw).lower() in ("1", "true", "yes", "on"):
                value = True
            elif str(raw).lower() in ("0", "false", "no", "off"):
                value = False
            else:
                raise ValueError(raw)
        elif kind is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            value = int(raw)
        elif kind is float:
            if isinstance(raw, bool):
                raise ValueError(raw)
            value = float(raw)
        else:
            value = str(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"setting {name} from {source} must be {kind.__name__}, got {raw!r}",
            hint=f"Give {name} a value of type {kind.__name__}.",
        ) from None
    section, key = name.split(".")
    meta = {f.name: f.metadata for f in dataclasses.fields(_SECTIONS[section])}[key]
    low, high = meta["min"], meta["max"]
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(
            f"setting {name} from {source} is {value!r}, outside [{low}, {high}]",
            hint=f"Choose {name} between {low} and {high}.",
        )
    if name == "log.level" and value.upper() not in _LOG_LEVELS:
        raise ConfigError(
            f"setting log.level from {source} is {value!r}",
            hint="Use one of " + ", ".join(_LOG_LEVELS) + ".",
        )
    return value.upper() if name == "log.level" else value


def _apply(settings: Settings, values: Mapping[str, Any], source: str) -> Settings:
    sections: dict[str, dict[str, Any]] = {}
    for name, raw in values.items():
        if name not in _FIELD_TYPES:
            raise UnknownSetting(f"unknown setting {name!r} in {source}")
        section, key = name.split(".")
        sections.setdefault(section, {})[key] = _coerce(name, raw, source)
    changes = {
        section: dataclasses.replace(getattr(settings, section), **kv)
        for section, kv in sections.items()
    }
    return dataclasses.replace(settings, **changes)


def _flatten_toml(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, body in data.items():
        if not isinstance(body, Mapping):
            raise UnknownSetting(
                f"top-level key {section!r} in {path} is not a section",
                hint="Write settings inside sections, e.g. [mpc] frac_bits = 16.",
            )
        for key, value in body.items():
            flat[f"{section}.{key}"] = value
    return flat


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults, then the TOML file, then ``env``, then ``overrides``.

    Args:
        path: optional TOML file with ``[section]`` tables.
        env: the environment to read ``SHUYU_*`` variables from (the caller passes
            ``os.environ``; nothing is read implicitly).
        overrides: dotted names to values, e.g. from CLI flags.

    Raises:
        ConfigFileError: the file is missing or not valid TOML.
        UnknownSetting: a name that is not a setting.
        ConfigError: a value of the wrong type or out of range.
    """
    settings = Settings()
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigFileError(f"cannot read settings file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"settings file {path} is not valid TOML: {exc}") from None
        settings = _apply(settings, _flatten_toml(data, path), source=str(path))
    if env is not None:
        from_env = {info.name: env[info.env] for info in iter_settings() if info.env in env}
        settings = _apply(settings, from_env, source="environment")
    if overrides:
        settings = _apply(settings, dict(overrides), source="flags")
    return settings
