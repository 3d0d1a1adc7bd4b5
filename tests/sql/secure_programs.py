"""The party program of the secure fixture runs (importable in spawned party processes)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from shuyu.engine.query import Planned, local_runner
from shuyu.engine.secure.executor import SecureExecutor
from shuyu.engine.space import open_space, read_space_file
from shuyu.errors import ShuyuError
from shuyu.mpc.runtime import Runtime


def run_many(rt: Runtime, space_path: str, plans: list[Any]) -> list[Any]:
    """Run every planned query in turn, each in its own session (fresh keys, fresh tags).

    ``plans`` holds ``(query, parties, options)`` per query, or ``None`` for a query the planner
    refused (skipped by all parties alike). Returns per query the result or the error code.
    """
    outcomes: list[Any] = []
    spec = read_space_file(space_path, os.environ)
    spaces = {}
    try:
        for index, planned in enumerate(plans):
            if planned is None:
                outcomes.append(None)
                continue
            query, parties, options = planned
            me = parties[rt.party]
            if me not in spaces:  # each party opens only its own sources, once
                mine = {key: table for key, table in spec.tables.items() if key[0] == me}
                spaces[me] = (
                    open_space(dataclasses.replace(spec, tables=mine, policies=()))
                    if mine
                    else None
                )
            space = spaces[me]
            try:
                session = Runtime(rt.party, rt.transport, rt.settings, session=index + 1)
                local = local_runner(space) if space is not None else None
                outcomes.append(SecureExecutor(session, query, options, local).run())
            except ShuyuError as error:
                outcomes.append(error.code)
    finally:
        for space in spaces.values():
            if space is not None:
                space.close()
    return outcomes


__all__ = ["Planned", "run_many"]
