"""The space's catalogue: parties, their tables, typed columns — and the column policy.

Pure data (no I/O): the engine builds a :class:`Catalog` from the space file and the sources'
schemas, and hands it to the planner. Names are lower-case identifiers; SQL refers to a table as
``party.table`` and to a column as ``party.table.column`` (or through an alias).

Types (:class:`DataType`):

* ``INT`` — 64-bit integers, exact.
* ``DECIMAL(scale)`` — exact decimals, stored as integers scaled by ``10^scale``.
* ``FLOAT`` — binary floating point; fixed point inside secure computation.
* ``STRING`` — text; inside secure computation only equality and ``IN`` (hashed codes).
* ``DATE`` — days since 1970-01-01; ``TIMESTAMP`` — microseconds since the epoch.
* ``BOOL``.

Grants (:class:`Grant`), per (column, receiving party), are a *set* (``docs/policy.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum

from shuyu.errors import InvalidInput


class TypeKind(Enum):
    INT = "INT"
    DECIMAL = "DECIMAL"
    FLOAT = "FLOAT"
    STRING = "STRING"
    DATE = "DATE"
    TIMESTAMP = "TIMESTAMP"
    BOOL = "BOOL"
    NULL = "NULL"  # the type of a bare NULL literal


@dataclass(frozen=True)
class DataType:
    """A column or expression type."""

    kind: TypeKind
    scale: int = 0  # DECIMAL only: digits after the point
    nullable: bool = True

    def __str__(self) -> str:
        text = f"DECIMAL(*,{self.scale})" if self.kind is TypeKind.DECIMAL else self.kind.value
        return text if self.nullable else text + " NOT NULL"

    @property
    def is_numeric(self) -> bool:
        return self.kind in (TypeKind.INT, TypeKind.DECIMAL, TypeKind.FLOAT, TypeKind.BOOL)


INT = DataType(TypeKind.INT)
FLOAT = DataType(TypeKind.FLOAT)
STRING = DataType(TypeKind.STRING)
DATE = DataType(TypeKind.DATE)
TIMESTAMP = DataType(TypeKind.TIMESTAMP)
BOOL = DataType(TypeKind.BOOL)
NULL = DataType(TypeKind.NULL)


def decimal(scale: int) -> DataType:
    return DataType(TypeKind.DECIMAL, scale)


class Grant(Enum):
    """What a receiving party may learn of a column (SCQL 1.x's CCL, as a set per receiver)."""

    PLAINTEXT = "PLAINTEXT"
    PLAINTEXT_AFTER_JOIN = "PLAINTEXT_AFTER_JOIN"
    PLAINTEXT_AFTER_GROUP_BY = "PLAINTEXT_AFTER_GROUP_BY"
    PLAINTEXT_AFTER_COMPARE = "PLAINTEXT_AFTER_COMPARE"
    PLAINTEXT_AFTER_AGGREGATE = "PLAINTEXT_AFTER_AGGREGATE"
    PLAINTEXT_AS_JOIN_PAYLOAD = "PLAINTEXT_AS_JOIN_PAYLOAD"
    REVEAL_RANK = "REVEAL_RANK"
    ENCRYPTED_ONLY = "ENCRYPTED_ONLY"


@dataclass(frozen=True)
class Column:
    name: str
    type: DataType


@dataclass(frozen=True)
class Table:
    """A table of one party; ``source`` is opaque to the planner (the engine resolves it)."""

    party: str
    name: str
    columns: tuple[Column, ...]
    source: str = ""
    rows: int | None = None  # an estimate, for EXPLAIN's costs

    def column(self, name: str) -> Column | None:
        for column in self.columns:
            if column.name == name:
                return column
        return None


@dataclass(frozen=True)
class PolicyRule:
    """``allow`` grants on ``party.table.column`` to receiver ``to`` (a party or ``*``).

    ``group_min_size``, when set, raises the minimum group size (k) of every grouping that reads
    the column, for that receiver (``docs/policy.md``, "Minimum group size").
    """

    party: str
    table: str
    column: str
    to: str
    allow: frozenset[Grant]
    group_min_size: int | None = None


@dataclass
class Catalog:
    """Parties, tables and the column policy of a space."""

    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    rules: list[PolicyRule] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)
    extra_parties: tuple[str, ...] = ()  # parties of the space without tables (e.g. analysts)

    @property
    def parties(self) -> list[str]:
        return sorted({party for party, _ in self.tables} | set(self.extra_parties))

    def add(self, table: Table) -> None:
        self.tables[(table.party, table.name)] = table

    def table(self, party: str, name: str) -> Table | None:
        return self.tables.get((party, name))

    def iter_tables(self) -> Iterator[Table]:
        return iter(self.tables.values())

    def grants(self, party: str, table: str, column: str, receiver: str) -> frozenset[Grant]:
        """The grants ``receiver`` holds on a column (the owner holds ``PLAINTEXT``)."""
        if receiver == party:
            return frozenset({Grant.PLAINTEXT})
        found: set[Grant] = set()
        for rule in self.rules:
            if (rule.party, rule.table, rule.column) == (party, table, column) and (
                rule.to in (receiver, "*")
            ):
                found |= rule.allow
        return frozenset(found) if found else frozenset({Grant.ENCRYPTED_ONLY})


def parse_grants(names: Iterable[str]) -> frozenset[Grant]:
    """Grant names (case-insensitive) to :class:`Grant` values; unknown names are an error."""
    grants = set()
    for name in names:
        try:
            grants.add(Grant[str(name).strip().upper()])
        except KeyError:
            known = ", ".join(g.value for g in Grant)
            raise InvalidInput(f"unknown grant {name!r}", hint=f"Use one of: {known}.") from None
    return frozenset(grants)


def settings_value(settings: Mapping[str, object], name: str, default: int) -> int:
    value = settings.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"space setting {name} must be a positive integer, got {value!r}")
    return value
