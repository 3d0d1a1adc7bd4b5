"""Security properties of the delegated join, checked on what each party actually receives.

* The matcher receives no key value, and tags in an order unrelated to the owners' rows.
* No party sends any plaintext key (or, in private mode, payload) value on the wire.
* In private mode an owner's view does not depend on which of its rows matched.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy import stats

from shuyu.mpc import permute
from shuyu.mpc.local import run_in_threads
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.transport.base import Tag, Transport
from shuyu.mpc.transport.local import LocalNetwork
from shuyu.psi import delegated
from shuyu.psi.delegated import JoinInput, JoinSpec, delegated_join
from shuyu.psi.keys import encode_keys
from shuyu.psi.tags import agree_key, tag_blocks


class Recording(Transport):
    """Wraps a transport and keeps every payload this party sends and receives."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.party = inner.party
        self.stats = inner.stats
        self.sent: list[tuple[int, Tag, list[np.ndarray]]] = []
        self.received: list[tuple[int, Tag, list[np.ndarray]]] = []

    def send(self, to, tag, arrays):
        self.sent.append((to, tag, [np.array(a, copy=True) for a in arrays]))
        self.inner.send(to, tag, arrays)

    def recv(self, frm, tag):
        arrays = self.inner.recv(frm, tag)
        self.received.append((frm, tag, arrays))
        return arrays

    def close(self):
        self.inner.close()


def run_recorded(spec, inputs):
    """Run the join in threads with recording transports; return the three recorders."""
    network = LocalNetwork(timeout_s=30)
    recorders = [Recording(network.transport(p)) for p in range(3)]
    errors = []

    def main(party):
        try:
            rt = Runtime(party, recorders[party])
            delegated_join(rt, spec, inputs.get(party))
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)
        finally:
            recorders[party].close()

    threads = [threading.Thread(target=main, args=(p,)) for p in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return recorders


def all_bytes(messages):
    return b"".join(np.ascontiguousarray(a).tobytes() for _, _, arrays in messages for a in arrays)


def distinctive(rng, n):
    """Keys that cannot appear in random bytes by chance (high bits set, all distinct)."""
    return (rng.permutation(1 << 20)[:n].astype(np.int64) << 24) | 0x5A5A_0000_0000_5A5A


@pytest.mark.parametrize("mode", ["reveal", "private"])
def test_no_plaintext_key_or_payload_on_the_wire(mode):
    rng = np.random.default_rng(11)
    keys_a = distinctive(rng, 300)
    keys_b = np.concatenate([keys_a[:150], distinctive(np.random.default_rng(12), 150)])
    pay_a = distinctive(np.random.default_rng(13), 300)
    pay_b = distinctive(np.random.default_rng(14), 300)
    spec = JoinSpec(0, 1, 2, how="full", mode=mode)
    recorders = run_recorded(
        spec, {0: JoinInput([keys_a], [pay_a]), 1: JoinInput([keys_b], [pay_b])}
    )
    secrets = [*keys_a, *keys_b] + ([*pay_a, *pay_b] if mode == "private" else [])
    for recorder in recorders:
        wire = all_bytes(recorder.sent)
        assert len(wire) > 1000
        leaked = [int(v) for v in secrets if np.int64(v).tobytes() in wire]
        assert not leaked, f"party {recorder.party} sent plaintext values {leaked[:3]}"


def test_the_matcher_sees_tags_in_an_order_unrelated_to_the_rows(monkeypatch):
    keys = {}
    real_agree = delegated.agree_key

    def capture(rt, owner_a, owner_b, job):
        key = real_agree(rt, owner_a, owner_b, job)
        if key is not None:
            keys[rt.party] = key
        return key

    monkeypatch.setattr(delegated, "agree_key", capture)
    n = 400
    # sorted, so any trace of the row order in the tags' order shows; distinctive, so a key's
    # bytes cannot appear by chance
    keys_a = np.sort(distinctive(np.random.default_rng(21), n))
    keys_b = np.sort(distinctive(np.random.default_rng(22), n))
    recorders = run_recorded(JoinSpec(0, 1, 2), {0: JoinInput([keys_a]), 1: JoinInput([keys_b])})
    assert keys[0] == keys[1] and 2 not in keys
    matcher_view = recorders[2].received
    received = all_bytes(matcher_view)
    for value in [*keys_a, *keys_b]:
        assert np.int64(value).tobytes() not in received
    tags_from_a = next(
        arrays[0] for frm, _, arrays in matcher_view if frm == 0 and arrays[0].shape == (n, 2)
    )
    expected = tag_blocks(keys[0], encode_keys([keys_a]).blocks)
    lookup = {tuple(t): row for row, t in enumerate(expected.tolist())}
    rows = np.array([lookup[tuple(t)] for t in tags_from_a.tolist()])
    assert sorted(rows.tolist()) == list(range(n))  # every row's tag, once
    rho, _ = stats.spearmanr(rows, np.arange(n))
    assert abs(rho) < 0.25, rho  # in no order tied to the rows


def opened_permutations(spec, inputs, owner, monkeypatch):
    """The permutation vectors ``owner`` opens during one private join."""
    seen = []
    real = permute.reveal_slots

    def spy(rt, s0, s1, to, xor):
        opened = real(rt, s0, s1, to, xor)
        if rt.party == owner and opened is not None:
            seen.append(opened.view(np.int64).copy())
        return opened

    monkeypatch.setattr(permute, "reveal_slots", spy)
    run_recorded(spec, inputs)
    return seen


def test_private_mode_view_does_not_depend_on_which_rows_matched(monkeypatch):
    """Owner A's view: same message shapes, and opened permutations distributed alike,
    whether B holds A's first four keys or its last four (same sizes, same join size)."""
    keys_a = np.arange(8, dtype=np.int64)
    scenarios = {"first": np.array([0, 1, 2, 3, 20, 21]), "last": np.array([4, 5, 6, 7, 22, 23])}
    spec = JoinSpec(0, 1, 2, how="inner", mode="private")
    shapes = {}
    first_positions = {}
    for name, keys_b in scenarios.items():
        inputs = {0: JoinInput([keys_a], [keys_a]), 1: JoinInput([keys_b], [keys_b])}
        recorders = run_recorded(spec, inputs)
        shapes[name] = [
            (frm, [a.shape for a in arrays]) for frm, _, arrays in recorders[0].received
        ]
        positions = []
        for _ in range(200):
            perms = opened_permutations(spec, inputs, 0, monkeypatch)
            assert perms and all(sorted(p.tolist()) == list(range(p.size)) for p in perms)
            positions.append(int(np.flatnonzero(perms[0] == 0)[0]))
        first_positions[name] = np.bincount(positions, minlength=perms[0].size)
    assert shapes["first"] == shapes["last"]
    table = np.vstack([first_positions["first"], first_positions["last"]])
    table = table[:, table.sum(axis=0) > 0]
    _, p_value, _, _ = stats.chi2_contingency(table)
    assert p_value > 1e-6, (table, p_value)
    # and each is uniform on its own: the opened permutation is a fresh random one
    for counts in first_positions.values():
        assert stats.chisquare(counts).pvalue > 1e-6


def test_every_job_gets_a_fresh_key_known_to_the_owners_only():
    def program(rt, job):
        return agree_key(rt, 2, 0, job), agree_key(rt, 2, 0, job)

    first = run_in_threads(program, b"job-1")
    second = run_in_threads(program, b"job-1")
    for keys in (first, second):
        (a1, a2), (_, _), (c1, c2) = keys[2], keys[1], keys[0]
        assert keys[1] == (None, None)  # the third party gets nothing
        assert a1 == c1 and a2 == c2 and len(a1) == 16  # the owners agree
        assert a1 != a2  # two agreements, two keys
    assert first[2][0] != second[2][0]  # same job id, fresh randomness
