"""A job as the hub hands it to the compute parties: the SQL, the issuer, and the catalogue it
was planned against (the hall's schemas, the column policy from the grants), as plain JSON.

Every party rebuilds the catalogue from the same document and plans the query again; the plan
is deterministic, so all three run the same plan, and no plan (nor any code) travels between
processes.
"""

from __future__ import annotations

from typing import Any

from shuyu.engine.query import Planned, plan_for_catalog
from shuyu.engine.sources.base import type_from_name
from shuyu.errors import InvalidInput
from shuyu.sql.catalog import Catalog, Column, Grant, PolicyRule, Table, parse_grants

#: the column grants each operation of an authorisation gives its receiver (docs/platform.md)
OPERATION_GRANTS = {
    "join": Grant.PLAINTEXT_AFTER_JOIN,
    "compare": Grant.PLAINTEXT_AFTER_COMPARE,
    "group_by": Grant.PLAINTEXT_AFTER_GROUP_BY,
    "aggregate": Grant.PLAINTEXT_AFTER_AGGREGATE,
    "payload": Grant.PLAINTEXT_AS_JOIN_PAYLOAD,
    "plaintext": Grant.PLAINTEXT,
}


def column_type_of(text: str) -> Any:
    """A published column type (``INT``, ``DECIMAL(2)``, ``DECIMAL(*,2)``...) as a catalogue
    type; an unknown name is an error."""
    normal = text.strip().upper().replace("(*,", "(38,")
    if normal.startswith("DECIMAL(") and "," not in normal:  # DECIMAL(s): the scale
        normal = normal.replace("DECIMAL(", "DECIMAL(38,")
    found = type_from_name(normal)
    if found is None:
        raise InvalidInput(
            f"unknown column type {text!r}",
            hint="Use INT, DECIMAL(s), FLOAT, STRING, DATE, TIMESTAMP or BOOL.",
        )
    return found


def catalog_from_document(document: dict[str, Any]) -> Catalog:
    """The catalogue a job document describes."""
    catalog = Catalog()
    for table in document["tables"]:
        columns = tuple(Column(c["name"], column_type_of(c["type"])) for c in table["columns"])
        catalog.add(Table(table["party"], table["name"], columns, "", table.get("rows")))
    for rule in document["rules"]:
        catalog.rules.append(
            PolicyRule(
                rule["party"],
                rule["table"],
                rule["column"],
                rule["to"],
                parse_grants(rule["allow"]),
                rule.get("group_min_size"),
            )
        )
    catalog.settings.update(document.get("settings", {}))
    catalog.extra_parties = tuple(document.get("extra_parties", ()))
    return catalog


def plan_document(document: dict[str, Any]) -> Planned:
    """Plan a job document's SQL for its issuer."""
    return plan_for_catalog(
        catalog_from_document(document), document["issuer"], document["sql"], document["dialect"]
    )
