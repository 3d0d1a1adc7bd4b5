"""Every SQL fixture through the secure executor: three real party processes over TLS.

The fixtures' expected results (``tests/fixtures/sql``) are also checked against DuckDB and the
reference executor (``test_fixtures.py``); here each query is planned for its issuer (policy
checked), and the three compute parties — each opening only its own party's sources — run it.
Queries are grouped by their compute parties so that one process trio runs many of them, each
in its own session.

Two runs: with the join modes the policy chooses (the fixture space grants PLAINTEXT, so joins
reveal their matches to the owners), and with every join forced into private mode.

``GAPS`` lists the fixtures the secure engine does not run yet, with the reason; they must fail
with ``sql.unsupported`` (so that both a regression and a new capability show up here).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import pytest

from shuyu.config import MpcSettings
from shuyu.engine.query import plan_query
from shuyu.engine.space import load_space
from shuyu.mpc.runner import run_parties

from .fixture_files import FIXTURES, all_cases, differences, expected_rows
from .secure_programs import run_many

pytestmark = pytest.mark.e2e

SPACE = FIXTURES / "space" / "space.yaml"

GAPS: dict[str, str] = {}
# after a private join the joined rows are secret shares, and joins on them sort-based
PRIVATE_GAPS = GAPS | {}


def run_all(private: bool) -> dict[str, Any]:
    cases = [case for case in all_cases() if case.error is None]
    planned = []
    with load_space(SPACE) as space:
        for case in cases:
            plan = plan_query(space, case.party, case.sql)
            options = plan.options
            if private:
                forced = dict.fromkeys(options.join_modes, "private")
                options = dataclasses.replace(options, join_modes=forced)
            planned.append((case, plan.query, plan.parties, options))
    sessions = collections.defaultdict(list)
    for item in planned:
        sessions[item[2]].append(item)
    outcomes: dict[str, Any] = {}
    for items in sessions.values():
        results = run_parties(
            run_many,
            str(SPACE),
            [(query, parties, options) for _, query, parties, options in items],
            settings=MpcSettings(peer_timeout_s=30, connect_timeout_s=30),
        )
        for index, (case, _, _, options) in enumerate(items):
            outcomes[case.id] = (case, results[options.parties[options.issuer]][index])
    return outcomes


@pytest.mark.timeout(600)
@pytest.mark.parametrize("private", [False, True], ids=["policy-modes", "private-joins"])
def test_fixtures_through_the_secure_executor(private):
    outcomes = run_all(private)
    unsupported = set()
    wrong = []
    for case_id, (case, outcome) in outcomes.items():
        if isinstance(outcome, str):
            assert outcome == "sql.unsupported", f"{case_id}: failed with {outcome}"
            unsupported.add(case_id)
            continue
        expected = expected_rows(case, outcome.rows)
        problem = differences(outcome.rows, expected, ordered=case.ordered, tolerance=1e-6)
        if problem is not None:
            wrong.append(f"{case_id}: {problem}")
    assert not wrong, "\n".join(wrong)
    gaps = set(PRIVATE_GAPS if private else GAPS)
    assert unsupported == gaps, (
        f"newly unsupported: {sorted(unsupported - gaps)}; "
        f"now supported (update GAPS): {sorted(gaps - unsupported)}"
    )
    assert len(outcomes) - len(unsupported) >= 150
