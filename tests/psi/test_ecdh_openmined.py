"""Shuyu's ECDH-PSI and OpenMined's PSI library (P-256, C++) find the same intersection.

``openmined.psi`` is a dev dependency (``make setup`` installs it; it is imported, not skipped,
so a missing install fails here). It works on strings, so both libraries get the same string
keys; its ``RAW`` data structure has no false positives.
"""

from __future__ import annotations

import random

import private_set_intersection.python as openmined
import pytest

from shuyu.psi import run_pair_in_process


def openmined_intersection(client_items: list[str], server_items: list[str]) -> set[int]:
    """Indices of the client's items that the server also has, by OpenMined's protocol."""
    client = openmined.client.CreateWithNewKey(True)
    server = openmined.server.CreateWithNewKey(True)
    setup = server.CreateSetupMessage(
        1e-9, len(client_items), server_items, openmined.DataStructure.RAW
    )
    response = server.ProcessRequest(client.CreateRequest(client_items))
    return set(client.GetIntersection(setup, response))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_intersection_as_openmined_psi(seed):
    rng = random.Random(seed)
    universe = [f"+86-138{rng.randrange(10**8):08d}" for _ in range(400)]
    client_items = rng.sample(universe, 150)
    server_items = rng.sample(universe, 200)
    expected = openmined_intersection(client_items, server_items)
    result, peer = run_pair_in_process(client_items, server_items)
    assert set(result.rows.tolist()) == expected
    assert result.size == peer.size == len(expected)


def test_same_answer_on_the_edges():
    for client_items, server_items in (
        (["a", "b"], ["c"]),  # no match
        (["a", "b"], ["b", "a"]),  # all match
        (["x"], ["x"]),
    ):
        expected = openmined_intersection(client_items, server_items)
        result, _ = run_pair_in_process(client_items, server_items)
        assert set(result.rows.tolist()) == expected
