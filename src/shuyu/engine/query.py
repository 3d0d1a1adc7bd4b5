"""Running a query of a local data space: plan once, then three party processes execute it.

``run_query(space_path, issuer, sql)``:

1. the coordinator (the caller) loads the space's catalogue, parses, binds, pushes filters down
   (``shuyu.sql.optimize``) and checks the column policy for the issuer — a refused query never
   starts a party;
2. the compute parties are the parties whose tables the query reads, then the issuer, then
   ``assist`` parties until there are three (more than three is not supported yet);
3. three processes, connected by mutually authenticated TLS with certificates from a fresh
   data-space CA (``shuyu.mpc.runner``), each open **only their own party's sources**, run the
   secure executor on the same plan, and the issuer's process returns the result.

``EXPLAIN`` stops after step 2 and returns the plan, where each part runs and what the policy
lets each party learn.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from shuyu.config import MpcSettings
from shuyu.engine import explain
from shuyu.engine.data import ColumnData, Result, TableData
from shuyu.engine.reference import execute
from shuyu.engine.secure.executor import ExecutionOptions, LocalRunner, SecureExecutor
from shuyu.engine.space import Space, load_space, open_space, read_space_file
from shuyu.errors import UnsupportedSql
from shuyu.mpc.runner import run_parties
from shuyu.mpc.runtime import Runtime
from shuyu.sql import plan
from shuyu.sql.bind import bind
from shuyu.sql.catalog import Catalog
from shuyu.sql.optimize import optimize
from shuyu.sql.parse import parse
from shuyu.sql.policy import PolicyReport, check_policy

ASSIST = ("assist", "assist-2")


@dataclass(frozen=True)
class Planned:
    """A checked query, ready to run."""

    query: plan.Query
    report: PolicyReport
    parties: tuple[str, str, str]  # compute party 0, 1, 2
    options: ExecutionOptions
    catalog: Catalog

    def explain(self, profile: Result | None = None) -> str:
        """The plan as the parties run it, with estimated costs (and, given the result of a
        profiled run, the measured ones), then what each party may learn."""
        operators = explain.steps(
            self.query.root,
            self.catalog,
            self.options.parties,
            self.options.issuer,
            self.options.join_modes,
        )
        measured = None
        if profile is not None:
            measured = {position: tuple(rest) for position, *rest in profile.profile}
        lines = [
            f"-- compute parties: {', '.join(f'{p} (#{i})' for i, p in enumerate(self.parties))}",
            f"-- result revealed to: {self.options.issuer}",
            "-- estimates: rows, bytes sent by all parties, rounds (docs/sql.md#explain)",
            explain.render(operators, measured),  # type: ignore[arg-type]
            "-- logical plan and what each party may learn:",
            self.report.explain(),
        ]
        return "\n".join(lines)


def plan_query(space: Space, issuer: str, sql: str, dialect: str = "mysql") -> Planned:
    """Parse, bind, optimise and policy-check ``sql`` for ``issuer`` (no party runs)."""
    return plan_for_catalog(space.catalog, issuer, sql, dialect)


def plan_for_catalog(catalog: Catalog, issuer: str, sql: str, dialect: str = "mysql") -> Planned:
    """:func:`plan_query` over a catalogue alone (types, row counts and the column policy):
    the hub plans jobs this way, and each node plans them again from the same inputs."""
    query = optimize(bind(parse(sql, dialect), catalog, sql))
    report = check_policy(query, catalog, issuer)
    owners = sorted({n.party for n in plan.walk(query.root) if isinstance(n, plan.Scan)})
    compute = list(owners)
    if issuer not in compute:
        compute.append(issuer)
    for helper in ASSIST:
        if len(compute) < 3:
            compute.append(helper)
    if len(compute) > 3:
        raise UnsupportedSql(
            f"a query over the tables of {len(owners)} parties with issuer {issuer} needs "
            f"{len(compute)} compute parties; three are supported",
            hint="Query at most three parties' tables at a time (the issuer counts as one).",
        )
    ids = {party: index for index, party in enumerate(compute)}
    nodes = list(plan.walk(query.root))
    join_modes = {}
    group_min_sizes = {}
    for index, node in enumerate(nodes):
        policy = report.of(node)
        if isinstance(node, plan.Join) and policy.join is not None:
            join_modes[index] = policy.join.mode
        if policy.group is not None:
            group_min_sizes[index] = policy.group.group_min_size
    options = ExecutionOptions(ids, issuer, join_modes=join_modes, group_min_sizes=group_min_sizes)
    return Planned(query, report, (compute[0], compute[1], compute[2]), options, catalog)


def local_runner(space: Space) -> LocalRunner:
    """Run one party's sub-plans inside its database; where the database's SQL cannot express
    a sub-plan (``sql.unsupported`` from the pushdown), read the tables it scans and run it with
    the reference executor, in the owner's own process."""

    def run(node: plan.Node) -> TableData:
        try:
            return space.run_local(node)
        except UnsupportedSql:
            pass
        tables: dict[tuple[str, str], TableData] = {}
        for scan in (n for n in plan.walk(node) if isinstance(n, plan.Scan)):
            read = space.run_local(scan)
            prefix = len(scan.alias) + 1
            columns = {f.name[prefix:]: read.columns[f.name] for f in scan.fields}
            previous = tables.get((scan.party, scan.table))
            if previous is not None:
                columns = {**previous.columns, **columns}
            tables[(scan.party, scan.table)] = TableData(read.rows, columns)
        result = execute(plan.Query(node, tuple(f.name for f in node.fields), ""), tables)
        values = list(zip(*result.rows, strict=True)) if result.rows else [()] * len(node.fields)
        columns = {
            item.name: ColumnData.from_python(item.type, list(values[index]) if result.rows else [])
            for index, item in enumerate(node.fields)
        }
        return TableData(len(result.rows), columns)

    return run


def _party_program(
    rt: Runtime,
    space_path: str,
    query: plan.Query,
    parties: tuple[str, str, str],
    options: ExecutionOptions,
) -> Result | None:
    """One compute party: open its own sources only, run the plan."""
    me = parties[rt.party]
    spec = read_space_file(space_path, os.environ)
    mine = {key: table for key, table in spec.tables.items() if key[0] == me}
    space = open_space(dataclasses.replace(spec, tables=mine, policies=()))
    try:
        local = local_runner(space) if mine else None
        return SecureExecutor(rt, query, options, local).run()
    finally:
        space.close()


def run_query(
    space_path: str | Path,
    issuer: str,
    sql: str,
    *,
    dialect: str = "mysql",
    settings: MpcSettings | None = None,
    profile: bool = False,
) -> Result:
    """Plan and run ``sql`` for ``issuer`` over three local party processes (``profile``:
    gather every operator's costs for EXPLAIN ANALYZE, in ``Result.profile``)."""
    space = load_space(space_path, env=os.environ)
    try:
        planned = plan_query(space, issuer, sql, dialect)
    finally:
        space.close()
    return run_planned(space_path, planned, settings=settings, profile=profile)


def run_planned(
    space_path: str | Path,
    planned: Planned,
    *,
    settings: MpcSettings | None = None,
    profile: bool = False,
) -> Result:
    """Run a planned query over three local party processes."""
    options = dataclasses.replace(planned.options, profile=profile)
    results = run_parties(
        _party_program,
        str(space_path),
        planned.query,
        planned.parties,
        options,
        settings=settings,
    )
    result = results[options.parties[options.issuer]]
    assert isinstance(result, Result)
    return result
