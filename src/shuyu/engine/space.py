"""A local data space: the space file, its parties' sources, and the catalogue built from them.

:func:`load_space` reads a YAML space file (``docs/spaces.md``), checks every key, opens each
party's sources, reads their schemas and row estimates, and returns a :class:`Space`: the
:class:`~shuyu.sql.catalog.Catalog` the planner binds against, and for each ``(party, table)``
the opened :class:`~shuyu.engine.sources.Source` and the table's name inside it.

Sources are per party and never shared between parties: a party's CSV and Parquet files are
views of one in-memory DuckDB (so joins between them run there), each database file and each
database URL is opened once per party. :meth:`Space.run_local` runs a single-party sub-plan
inside its source (pushdown).

Validation errors are :class:`~shuyu.errors.SpaceError` naming the key path
(``parties.bank.tables.loans.source``, ``policies[2].allow``); a source that cannot be opened
keeps its own code (``source.unavailable`` or ``source.invalid``) with the key path in front.
URLs appear in messages with their passwords hidden. Loading reads schemas and counts rows
(``estimate_rows``); it reads no other data.

What the catalogue reveals: every party's table names, column names and types, and approximate
row counts, to whoever sees the catalogue (``--tables``, ``EXPLAIN``). Source locations are kept
as written, with URL passwords hidden.

Example:
    >>> spec = read_space_text("parties: {bank: {tables: {loans: {source: loans.csv}}}}")
    >>> spec.tables[("bank", "loans")].source, spec.settings["group_min_size"]
    ('loans.csv', 5)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from shuyu.engine.data import TableData
from shuyu.engine.pushdown import local_sql
from shuyu.engine.sources import DuckDBSource, Source, file_path, open_source, source_kind
from shuyu.engine.sources.database import redact_url
from shuyu.errors import InvalidInput, InvalidName, ShuyuError, SourceError, SpaceError
from shuyu.pki import validate_name
from shuyu.sql import plan
from shuyu.sql.catalog import Catalog, Grant, PolicyRule, Table, parse_grants

__all__ = [
    "SPACE_SETTINGS",
    "Space",
    "SpaceSetting",
    "SpaceSpec",
    "TableSpec",
    "format_tables",
    "load_space",
    "read_space_file",
    "read_space_text",
]

_HINT = "Fix the space file at the key named in the message (docs/spaces.md)."
_TOP_LEVEL = ("parties", "policies", "settings")
_PARTY_KEYS = ("tables",)
_TABLE_KEYS = ("source", "table")
_POLICY_KEYS = ("column", "to", "allow", "group_min_size")
_TABLE_NAME = re.compile(r"[a-z_\u4e00-\u9fff][a-z0-9_\u4e00-\u9fff]*")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ANY_PARTY = "*"


@dataclass(frozen=True)
class SpaceSetting:
    """A per-space setting of the ``settings:`` section."""

    name: str
    default: int
    help: str
    minimum: int = 1


SPACE_SETTINGS: dict[str, SpaceSetting] = {
    setting.name: setting
    for setting in (
        SpaceSetting(
            "group_min_size",
            5,
            "Minimum rows in a group of a result another party's columns were grouped into; "
            "smaller groups are dropped and counted (a policy rule can raise it per column).",
        ),
    )
}


@dataclass(frozen=True)
class TableSpec:
    """One table of the space file: where it lives, before anything is opened."""

    party: str
    name: str
    source: str  # as written (after ${VAR} substitution); URLs may hold passwords
    table: str | None  # the name inside a database source (default: ``name``)
    where: str  # the key path, for messages

    @property
    def label(self) -> str:
        """The source as messages show it (the password of a URL hidden)."""
        return redact_url(self.source) if "://" in self.source else self.source


@dataclass(frozen=True)
class PolicySpec:
    party: str
    table: str
    column: str
    to: tuple[str, ...]
    allow: frozenset[Grant]
    group_min_size: int | None
    where: str


@dataclass(frozen=True)
class SpaceSpec:
    """A validated space file (structure and names; columns are checked once sources open)."""

    parties: tuple[str, ...]
    tables: dict[tuple[str, str], TableSpec]
    policies: tuple[PolicySpec, ...]
    settings: dict[str, int]
    base_dir: Path | None = None
    name: str = "space file"  # the file, for messages


# --- reading and validating the file -------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (YAML keeps the last)."""


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, column: int) -> None:
        super().__init__(key, line, column)
        self.key, self.line, self.column = key, line, column


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            mark = key_node.start_mark
            raise _DuplicateKey(key, mark.line + 1, mark.column + 1)
        seen.add(key)
    return dict(loader.construct_mapping(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def read_space_file(path: str | Path, env: Mapping[str, str] | None = None) -> SpaceSpec:
    """Read and validate a space file; nothing is opened.

    Raises:
        SpaceError: the file is missing, not YAML, or breaks the format (the key is named).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(f"space file {path} does not exist", hint=_HINT) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpaceError(f"cannot read space file {path}: {error}", hint=_HINT) from None
    spec = read_space_text(text, env=env, name=str(path))
    return SpaceSpec(spec.parties, spec.tables, spec.policies, spec.settings, path.resolve().parent)


def read_space_text(
    text: str, *, env: Mapping[str, str] | None = None, name: str = "space file"
) -> SpaceSpec:
    """Validate a space file's text (see :func:`read_space_file`)."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpaceError(
            f"{name} is not valid YAML{where}: {error.problem or error}", hint=_HINT
        ) from None
    except yaml.YAMLError as error:
        raise SpaceError(f"{name} is not valid YAML: {error}", hint=_HINT) from None
    except _DuplicateKey as error:
        raise SpaceError(
            f"{name}: the key {error.key!r} appears twice in one mapping "
            f"(line {error.line}, column {error.column})",
            hint="Give each key once; merge the two entries.",
        ) from None
    return _Validator(name, env or {}).space(data)


class _Validator:
    def __init__(self, name: str, env: Mapping[str, str]) -> None:
        self.name = name
        self.env = env

    def fail(self, where: str, message: str, hint: str = _HINT) -> SpaceError:
        at = f" at {where}" if where else ""
        return SpaceError(f"{self.name}{at}: {message}", hint=hint)

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                suggestion = f"; did you mean {close[0]!r}?" if close else ""
                raise self.fail(
                    _join(where, str(key)),
                    f"unknown key {key!r}{suggestion}",
                    hint=f"Keys allowed here: {', '.join(allowed)} (docs/spaces.md).",
                )
        return value

    def space(self, data: Any) -> SpaceSpec:
        if data is None:
            raise self.fail("", "the file is empty; it needs at least a 'parties' section")
        top = self.mapping(data, "", _TOP_LEVEL)
        if "parties" not in top:
            raise self.fail("", "no 'parties' section")
        parties_data = top["parties"]
        if not isinstance(parties_data, dict) or not parties_data:
            raise self.fail("parties", "expected a mapping of party names to their tables")
        parties: list[str] = []
        tables: dict[tuple[str, str], TableSpec] = {}
        for party, body in parties_data.items():
            where = f"parties.{party}"
            party_name = self.party_name(party, where)
            parties.append(party_name)
            if body is None:
                continue  # a party without tables (an analyst)
            party_body = self.mapping(body, where, _PARTY_KEYS)
            party_tables = party_body.get("tables") or {}
            if not isinstance(party_tables, dict):
                raise self.fail(f"{where}.tables", "expected a mapping of table names to sources")
            for table, table_body in party_tables.items():
                spec = self.table(party_name, table, table_body, f"{where}.tables.{table}")
                tables[(party_name, spec.name)] = spec
        policies = self.policies(top.get("policies"), parties, tables)
        settings = self.settings(top.get("settings"))
        return SpaceSpec(tuple(parties), tables, policies, settings, None, self.name)

    def party_name(self, party: Any, where: str) -> str:
        try:
            return validate_name(party)
        except InvalidName as error:
            raise self.fail(where, f"invalid party name {party!r}", hint=error.hint) from None

    def table(self, party: str, table: Any, body: Any, where: str) -> TableSpec:
        if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
            raise self.fail(
                where,
                f"invalid table name {table!r}",
                hint="Name tables with lower-case letters, digits and '_' (or Chinese "
                "characters), starting with a letter or '_'; SQL names them party.table.",
            )
        if isinstance(body, str):
            body = {"source": body}
        fields = self.mapping(body, where, _TABLE_KEYS)
        source = fields.get("source")
        if not isinstance(source, str) or not source.strip():
            raise self.fail(f"{where}.source", "expected a file path or a database URL")
        source = self.substitute(source.strip(), f"{where}.source")
        inner = fields.get("table")
        if inner is not None and (not isinstance(inner, str) or not inner.strip()):
            raise self.fail(f"{where}.table", "expected the table's name inside the source")
        try:
            kind = source_kind(source)
        except SourceError as error:
            raise self.fail(f"{where}.source", error.message, hint=error.hint) from None
        if kind == "file" and inner is not None:
            raise self.fail(
                f"{where}.table",
                "a CSV or Parquet file is one table; 'table' names a table inside a database",
                hint="Remove the 'table' key for file sources.",
            )
        return TableSpec(party, table, source, inner.strip() if inner else None, where)

    def substitute(self, text: str, where: str) -> str:
        """``${NAME}`` → the environment variable (keeps passwords out of space files)."""

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.env:
                raise self.fail(
                    where,
                    f"the environment variable {name} is not set",
                    hint=f"Set {name} before loading the space, or write the value in the file.",
                )
            return self.env[name]

        return _VARIABLE.sub(value, text)

    def policies(
        self, data: Any, parties: list[str], tables: Mapping[tuple[str, str], TableSpec]
    ) -> tuple[PolicySpec, ...]:
        if data is None:
            return ()
        if not isinstance(data, list):
            raise self.fail("policies", f"expected a list of rules, got {_kind(data)}")
        specs = []
        for index, entry in enumerate(data):
            where = f"policies[{index}]"
            rule = self.mapping(entry, where, _POLICY_KEYS)
            for required in ("column", "to", "allow"):
                if required not in rule:
                    raise self.fail(where, f"missing {required!r}")
            column = rule["column"]
            parts = column.split(".", 2) if isinstance(column, str) else []
            if len(parts) != 3 or not all(part.strip() for part in parts):
                raise self.fail(f"{where}.column", f"expected party.table.column, got {column!r}")
            party, table, name = (part.strip() for part in parts)
            if party not in parties:
                raise self.fail(
                    f"{where}.column", f"unknown party {party!r}{_suggest(party, parties)}"
                )
            if (party, table) not in tables:
                known = [t for p, t in tables if p == party]
                raise self.fail(
                    f"{where}.column",
                    f"party {party} has no table {table!r}{_suggest(table, known)}",
                )
            receivers = rule["to"] if isinstance(rule["to"], list) else [rule["to"]]
            if not receivers:
                raise self.fail(f"{where}.to", "expected a party name or '*'")
            for receiver in receivers:
                if receiver != ANY_PARTY and receiver not in parties:
                    raise self.fail(
                        f"{where}.to",
                        f"unknown party {receiver!r}{_suggest(str(receiver), parties)}",
                        hint="Name a party of the space, or '*' for every party.",
                    )
            allow = rule["allow"] if isinstance(rule["allow"], list) else [rule["allow"]]
            if not allow or not all(isinstance(grant, str) for grant in allow):
                raise self.fail(f"{where}.allow", "expected a list of grant names")
            try:
                grants = parse_grants(allow)
            except InvalidInput as error:
                raise self.fail(f"{where}.allow", error.message, hint=error.hint) from None
            size = rule.get("group_min_size")
            if size is not None:
                size = self.positive(size, f"{where}.group_min_size")
            specs.append(
                PolicySpec(party, table, name.lower(), tuple(receivers), grants, size, where)
            )
        return tuple(specs)

    def settings(self, data: Any) -> dict[str, int]:
        values = {name: setting.default for name, setting in SPACE_SETTINGS.items()}
        if data is None:
            return values
        given = self.mapping(data, "settings", tuple(SPACE_SETTINGS))
        for name, value in given.items():
            values[name] = self.positive(value, f"settings.{name}", SPACE_SETTINGS[name].minimum)
        return values

    def positive(self, value: Any, where: str, minimum: int = 1) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(where, f"expected an integer of at least {minimum}, got {value!r}")
        return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else type(value).__name__


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (known: {', '.join(sorted(known))})" if known else ""


# --- opening the sources and building the catalogue ------------------------------------------


@dataclass
class Space:
    """A loaded data space: its catalogue and, per table, the opened source."""

    catalog: Catalog
    sources: dict[tuple[str, str], Source]
    source_tables: dict[tuple[str, str], str]
    path: Path | None = None
    _owned: list[Source] = field(default_factory=list, repr=False)

    def source(self, party: str, table: str) -> Source:
        """The source holding ``party.table``."""
        try:
            return self.sources[(party, table)]
        except KeyError:
            raise SpaceError(f"the space has no table {party}.{table}", hint=_HINT) from None

    def tables(self) -> list[Table]:
        """Every table of the space, sorted by party then name."""
        return sorted(self.catalog.iter_tables(), key=lambda table: (table.party, table.name))

    def pushdown_source(self, node: plan.Node) -> Source | None:
        """The one source that can run ``node`` whole, or ``None``.

        That is the case when every table the node scans belongs to one party and lives in one
        source (a party's CSV/Parquet files share one DuckDB).
        """
        scans = [step for step in plan.walk(node) if isinstance(step, plan.Scan)]
        if not scans or len({scan.party for scan in scans}) != 1:
            return None
        found = {id(self.source(scan.party, scan.table)) for scan in scans}
        if len(found) != 1:
            return None
        return self.source(scans[0].party, scans[0].table)

    def local_sql(self, node: plan.Node) -> tuple[Source, str]:
        """The source that runs ``node`` and the SQL it runs (see :func:`pushdown.local_sql`).

        Raises:
            SpaceError: the node reads tables of several parties or several sources.
            UnsupportedSql: the node uses something the source's SQL cannot express.
        """
        source = self.pushdown_source(node)
        if source is None:
            raise SpaceError(
                "this part of the plan reads tables of more than one source, so it cannot run "
                "inside one",
                hint="Push down each party's part separately.",
            )
        keys = {(scan.party, scan.table) for scan in plan.walk(node) if isinstance(scan, plan.Scan)}
        names = {key: self.source_tables[key] for key in keys}
        renames = {key: source.column_names(self.source_tables[key]) for key in keys}
        sql = local_sql(
            node, source.dialect, names, column_names=renames, collation=source.collation
        )
        return source, sql

    def run_local(self, node: plan.Node) -> TableData:
        """Run a single-source sub-plan inside its source; columns are named as ``node.fields``."""
        source, sql = self.local_sql(node)
        return source.run(
            sql,
            types=[item.type for item in node.fields],
            names=[item.name for item in node.fields],
        )

    def close(self) -> None:
        """Close every source (connections, DuckDB instances)."""
        for source in self._owned:
            source.close()
        self._owned.clear()

    def __enter__(self) -> Space:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def load_space(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    connect_timeout_s: float = 10.0,
) -> Space:
    """Read a space file, open its sources and build its catalogue.

    Args:
        path: the YAML space file; relative source paths start from its directory.
        env: environment variables for ``${NAME}`` in sources (the caller passes
            ``os.environ``; nothing is read implicitly).
        connect_timeout_s: how long to wait for each database server.

    Raises:
        SpaceError: the file breaks the format, or a policy names an unknown column.
        SourceUnavailable: a file is missing or a database cannot be reached.
        SourceError: a table or column is missing in its source, or has an unreadable type.
    """
    spec = read_space_file(path, env)
    space = open_space(spec, connect_timeout_s=connect_timeout_s)
    space.path = Path(path)
    return space


def open_space(spec: SpaceSpec, *, connect_timeout_s: float = 10.0) -> Space:
    """Open the sources of a validated space and build its catalogue (see :func:`load_space`)."""
    opened: dict[tuple[str, str], Source] = {}  # (party, source identity) -> source
    files: dict[str, DuckDBSource] = {}  # party -> the DuckDB over its CSV/Parquet files
    owned: list[Source] = []
    sources: dict[tuple[str, str], Source] = {}
    source_tables: dict[tuple[str, str], str] = {}
    catalog = Catalog(settings=dict(spec.settings))
    try:
        for key, table in spec.tables.items():
            source, inner = _open_table(
                table,
                base_dir=spec.base_dir,
                opened=opened,
                files=files,
                owned=owned,
                timeout_s=connect_timeout_s,
            )
            sources[key] = source
            source_tables[key] = inner
            columns = _located(table.where, partial(source.schema, inner))
            rows = _located(table.where, partial(source.estimate_rows, inner))
            described = table.label if inner == table.name else f"{table.label} ({inner})"
            catalog.add(Table(table.party, table.name, columns, described, rows))
        catalog.extra_parties = tuple(
            party for party in spec.parties if party not in {p for p, _ in spec.tables}
        )
        catalog.rules.extend(_rules(spec, catalog))
    except BaseException:
        for source in owned:
            source.close()
        raise
    return Space(catalog, sources, source_tables, None, owned)


def _open_table(
    table: TableSpec,
    *,
    base_dir: Path | None,
    opened: dict[tuple[str, str], Source],
    files: dict[str, DuckDBSource],
    owned: list[Source],
    timeout_s: float,
) -> tuple[Source, str]:
    kind = source_kind(table.source)
    if kind == "file":
        duck = files.get(table.party)
        if duck is None:
            duck = files[table.party] = _located(table.where, DuckDBSource)
            owned.append(duck)
        path = file_path(table.source, base_dir)
        _located(table.where, lambda: duck.add_file(path, table.name))
        return duck, table.name
    if kind == "url":
        identity = (table.party, table.source)
    else:
        identity = (table.party, str(file_path(table.source, base_dir).resolve()))
    source = opened.get(identity)
    if source is None:
        source = _located(
            table.where,
            lambda: open_source(table.source, base_dir=base_dir, connect_timeout_s=timeout_s),
        )
        opened[identity] = source
        owned.append(source)
    return source, table.table or table.name


def _located(where: str, action: Callable[[], Any]) -> Any:
    """Run ``action``; a Shuyu error it raises gets the key path in front of its message."""
    try:
        return action()
    except ShuyuError as error:
        raise type(error)(f"{where}: {error.message}", hint=error.hint) from None


def _rules(spec: SpaceSpec, catalog: Catalog) -> Iterator[PolicyRule]:
    for policy in spec.policies:
        table = catalog.table(policy.party, policy.table)
        if table is not None and table.column(policy.column) is None:
            names = [column.name for column in table.columns]
            raise SpaceError(
                f"{spec.name} at {policy.where}.column: table {policy.party}.{policy.table} "
                f"has no column {policy.column!r}{_suggest(policy.column, names)}",
                hint=_HINT,
            )
        for receiver in policy.to:
            yield PolicyRule(
                policy.party,
                policy.table,
                policy.column,
                receiver,
                policy.allow,
                policy.group_min_size,
            )


def format_tables(catalog: Catalog) -> str:
    """The tables of a catalogue as text, one per line, columns indented below (``--tables``).

    Example:
        >>> from shuyu.sql.catalog import Column, INT
        >>> catalog = Catalog()
        >>> catalog.add(Table("bank", "loans", (Column("id", INT),), "loans.csv", 3))
        >>> print(format_tables(catalog))
        bank.loans  (about 3 rows, from loans.csv)
          id  INT
    """
    lines = []
    for table in sorted(catalog.iter_tables(), key=lambda t: (t.party, t.name)):
        rows = "unknown rows" if table.rows is None else f"about {table.rows} rows"
        lines.append(f"{table.party}.{table.name}  ({rows}, from {table.source})")
        width = max(len(column.name) for column in table.columns)
        lines += [f"  {column.name.ljust(width)}  {column.type}" for column in table.columns]
    return "\n".join(lines)
