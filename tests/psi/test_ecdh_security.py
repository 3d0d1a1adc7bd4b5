"""What each party of ECDH-PSI puts on the wire: no key, only curve points and their sizes.

Both parties run in one process over :class:`MemoryChannel`, which records every frame each
side sends; these are the plaintext frames that TLS then encrypts.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np

from shuyu.psi import PsiOptions, ecdh_psi, encode_values, table_from_messages
from shuyu.psi.channel import HEADER, Kind, MemoryChannel
from shuyu.psi.ecdh import _sort_order, _words

from .test_ecdh_hash_to_curve import ORDER, A, is_square, ladder

PHONES_A = [f"1380013{i:04d}" for i in range(0, 300)]
PHONES_B = [f"1380013{i:04d}" for i in range(200, 500)]


def run(keys_a, keys_b, options_a=None, options_b=None):
    tables = [table_from_messages(*encode_values(keys)) for keys in (keys_a, keys_b)]
    end_a, end_b = MemoryChannel.pair()

    async def both():
        return await asyncio.gather(
            ecdh_psi(end_a, tables[0], options_a or PsiOptions(batch_size=64)),
            ecdh_psi(end_b, tables[1], options_b or PsiOptions(batch_size=64)),
        )

    results = asyncio.run(both())
    return results, end_a.sent, end_b.sent


def wire_bytes(frames) -> bytes:
    return b"".join(
        HEADER.pack(b"SYP1", f.kind, f.sequence, len(f.payload)) + f.payload for f in frames
    )


def test_no_key_appears_in_what_either_side_sends():
    keys_b_ints = [13800130000 + i for i in range(200, 500)]
    (result_a, _), sent_a, sent_b = run(PHONES_A, PHONES_B)
    (result_c, _), sent_c, sent_d = run([13800130000 + i for i in range(300)], keys_b_ints)
    assert result_a.size == result_c.size == 100
    for frames, keys in ((sent_a, PHONES_A), (sent_b, PHONES_B)):
        wire = wire_bytes(frames)
        for key in keys:
            assert key.encode() not in wire
            assert b"s" + key.encode() not in wire
    for frames, numbers in ((sent_c, range(300)), (sent_d, range(200, 500))):
        wire = wire_bytes(frames)
        for offset in numbers:
            value = 13800130000 + offset
            for encoded in (
                str(value).encode(),
                value.to_bytes(8, "little"),
                value.to_bytes(8, "big"),
            ):
                assert encoded not in wire


def test_each_side_sends_only_points_and_metadata_of_the_announced_sizes():
    (result_a, _result_b), sent_a, _ = run(PHONES_A, PHONES_B)
    kinds = [frame.kind for frame in sent_a]
    assert kinds[0] == Kind.HELLO and kinds[-1] == Kind.CONFIRM
    hello = json.loads(sent_a[0].payload)
    assert set(hello) == {
        "protocol", "suite", "key_type", "casefold", "keys", "learn", "reveal_to_peer",
        "final_bytes",
    }  # fmt: skip
    assert hello["keys"] == 300
    blinded = b"".join(f.payload for f in sent_a if f.kind == Kind.BLINDED)
    finals = b"".join(f.payload for f in sent_a if f.kind == Kind.FINAL)
    assert len(blinded) == 32 * result_a.own_keys
    assert len(finals) == 16 * result_a.peer_keys
    confirm = json.loads(sent_a[-1].payload)
    assert set(confirm) == {"size", "sha256"} and confirm["size"] == 100


def test_blinded_values_are_prime_order_curve_points():
    # A point on the twist, or with a small-order component, would leak a bit of the hash.
    _, sent_a, _ = run(PHONES_A[:20], PHONES_B[:20])
    blinded = b"".join(f.payload for f in sent_a if f.kind == Kind.BLINDED)
    for offset in range(0, len(blinded), 32):
        u = int.from_bytes(blinded[offset : offset + 32], "little")
        assert is_square(u**3 + A * u * u + u)  # on the curve, not the twist
        assert ladder(ORDER, u) == 0  # in the prime-order subgroup


def test_fresh_scalars_make_runs_unlinkable():
    _, first, _ = run(PHONES_A, PHONES_B)
    _, second, _ = run(PHONES_A, PHONES_B)

    def values(frames):
        blob = b"".join(f.payload for f in frames if f.kind == Kind.BLINDED)
        return {blob[i : i + 32] for i in range(0, len(blob), 32)}

    assert not values(first) & values(second)


def test_the_sending_order_is_a_fresh_random_permutation_of_the_keys():
    keys = list(range(1000))
    orders = [table_from_messages(*encode_values(keys)).first_row for _ in range(2)]
    for order in orders:
        assert sorted(order.tolist()) == keys
        assert order.tolist() != keys
    assert orders[0].tolist() != orders[1].tolist()


def test_a_size_only_learner_receives_its_values_sorted_so_it_cannot_link_them():
    (result_a, result_b), _, sent_b = run(
        PHONES_A, PHONES_B, PsiOptions(learn="size", batch_size=64), PsiOptions(batch_size=64)
    )
    assert result_a.size == result_b.size == 100 and result_a.rows is None
    finals = b"".join(f.payload for f in sent_b if f.kind == Kind.FINAL)
    values = np.frombuffer(finals, dtype=np.uint8).reshape(-1, 16)
    order = _sort_order(_words(values))
    assert order.tolist() == list(range(values.shape[0]))
