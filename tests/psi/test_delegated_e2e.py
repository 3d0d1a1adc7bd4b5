"""The delegated join between three real party processes over mutually authenticated TLS."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from tests.psi.join_programs import join_program, join_then_vanish, tables

from shuyu.config import MpcSettings
from shuyu.errors import PeerUnavailable
from shuyu.mpc.runner import run_parties
from shuyu.psi.delegated import JoinSpec

pytestmark = pytest.mark.e2e


def expected_rows(n, seed, how):
    keys_a, pay_a, keys_b, pay_b = tables(n, seed)
    rows = Counter()
    index_b = {}
    for j, k in enumerate(keys_b.tolist()):
        index_b.setdefault(k, []).append(j)
    for i, k in enumerate(keys_a.tolist()):
        for j in index_b.get(k, []):
            rows[(int(pay_a[i]), int(pay_b[j]), 1, 1)] += 1
        if how == "left" and k not in index_b:
            rows[(int(pay_a[i]), 0, 1, 0)] += 1
    return rows


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("mode", "how"), [("reveal", "inner"), ("private", "left")])
def test_delegated_join_over_tls(mode, how):
    spec = JoinSpec(owner_a=1, owner_b=2, matcher=0, how=how, mode=mode)
    results = run_parties(join_program, spec, 3000, 7, settings=MpcSettings(peer_timeout_s=60))
    _, a, b, va, vb = results[0]
    got = Counter(
        zip(a.tolist(), b.tolist(), va.astype(int).tolist(), vb.astype(int).tolist(), strict=True)
    )
    assert got == expected_rows(3000, 7, how)
    assert all(np.array_equal(results[p][1], a) for p in (1, 2))


@pytest.mark.timeout(120)
def test_a_party_that_dies_mid_join_fails_the_others_cleanly():
    spec = JoinSpec(owner_a=0, owner_b=1, matcher=2, mode="private")
    settings = MpcSettings(peer_timeout_s=20, connect_timeout_s=20)
    with pytest.raises(PeerUnavailable) as caught:
        run_parties(join_then_vanish, spec, 500, 3, 1, settings=settings)
    assert caught.value.code == "mpc.peer_unavailable"
    assert "Traceback" not in caught.value.message
