"""Getting values into and out of shares: share from one party, reveal to chosen parties.

Share (owner ``o``), one round, ``8n`` bytes sent by the owner to party ``o+1``:

1. slot ``o`` is drawn from ``K[o]`` (known to ``o`` and ``o-1``), slot ``o+2`` from ``K_all``;
2. the owner computes slot ``o+1 = x - slot_o - slot_{o+2}`` and sends it to party ``o+1``.

Party ``o+1`` then holds (slot ``o+1``, slot ``o+2``), where slot ``o+1`` is masked by slot ``o``
that it cannot compute; party ``o+2`` holds two pseudo-random slots independent of ``x``.
Reveals: nothing but the shape, which every party must know (pass ``shape`` to all parties, or
let the owner announce it in one extra round).

Reveal to a set ``R`` of parties, one round: each receiver ``j`` lacks only slot ``j+2``, which
party ``j+1`` holds and sends (``8n`` bytes per receiver). Reveals ``x`` to ``R``, nothing to the
others.

Reference: Araki et al., CCS 2016; ABY3 (Mohassel and Rindal, CCS 2018), section 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, overload

import numpy as np

from shuyu.errors import InvalidDtype, InvalidInput, InvalidParty, ShapeMismatch
from shuyu.mpc.randomness import Label
from shuyu.mpc.ring import DTYPE, FixedPoint, RingArray, as_array, decode_int, encode_int
from shuyu.mpc.runtime import PARTIES, Runtime
from shuyu.mpc.shares import ArithShare, BitShare, BoolShare, pack_bits, unpack_bits

ALL = PARTIES


def _check_owner(owner: int) -> None:
    if owner not in PARTIES:
        raise InvalidParty(f"the owner must be party 0, 1 or 2, got {owner!r}")


def _agree_shape(
    rt: Runtime, owner: int, ring: RingArray | None, shape: tuple[int, ...] | None
) -> tuple[int, ...]:
    """Every party learns the shape: from ``shape`` if given, else announced by the owner."""
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if rt.party == owner and ring is not None and ring.shape != shape:
            raise ShapeMismatch(f"the owner's data has shape {ring.shape}, declared {shape}")
        return shape
    step = rt.round()
    if rt.party == owner:
        assert ring is not None
        announced = np.asarray(ring.shape, dtype=np.int64)
        for peer in PARTIES:
            if peer != owner:
                rt.send(peer, step, announced)
        return tuple(int(d) for d in ring.shape)
    (announced,) = rt.recv(owner, step, 1)
    return tuple(int(d) for d in announced)


def share_ring(
    rt: Runtime, ring: RingArray | None, owner: int, shape: tuple[int, ...], xor: bool
) -> tuple[RingArray, RingArray]:
    """Share raw ring words held by ``owner`` into slot pairs (the protocol of this module)."""
    step = rt.round()
    size = int(np.prod(shape, dtype=np.int64))
    p = rt.party
    slot_owner = owner
    slot_after = (owner + 2) % 3
    if p == owner:
        assert ring is not None
        r_owner = rt.randomness.slot(slot_owner, step, Label.SHARE, size).reshape(shape)
        r_after = rt.randomness.common(step, Label.SHARE, size).reshape(shape)
        mid = ring ^ r_owner ^ r_after if xor else ring - r_owner - r_after
        rt.send(rt.next, step, mid)
        return r_owner, mid
    if p == (owner + 1) % 3:
        (mid,) = rt.recv(owner, step, 1)
        if mid.shape != shape or mid.dtype != DTYPE:
            raise InvalidInput(f"party {owner} sent a share of shape {mid.shape}, expected {shape}")
        return mid, rt.randomness.common(step, Label.SHARE, size).reshape(shape)
    # the third party: (slot o+2, slot o), both pseudo-random
    assert p == slot_after
    return (
        rt.randomness.common(step, Label.SHARE, size).reshape(shape),
        rt.randomness.slot(slot_owner, step, Label.SHARE, size).reshape(shape),
    )


def share(
    rt: Runtime,
    values: Any,
    owner: int,
    *,
    fixed_point: bool = False,
    shape: Iterable[int] | None = None,
) -> ArithShare:
    """Secret-share ``values`` held by party ``owner`` (others pass ``None``).

    Args:
        values: the owner's integers (or reals with ``fixed_point=True``).
        owner: the party that holds the values.
        fixed_point: encode reals with ``rt.frac_bits`` fractional bits.
        shape: the public shape; if omitted the owner announces it (one extra round).

    Raises:
        InvalidDtype, InvalidInput, FixedPointOverflow: bad owner input (raised at the owner
            before anything is sent; the other parties then time out with PeerUnavailable).
    """
    _check_owner(owner)
    ring: RingArray | None = None
    if rt.party == owner:
        if values is None:
            raise InvalidInput("the owner must pass the values it shares")
        ring = FixedPoint(rt.frac_bits).encode(values) if fixed_point else encode_int(values)
    agreed = _agree_shape(rt, owner, ring, tuple(shape) if shape is not None else None)
    s0, s1 = share_ring(rt, ring, owner, agreed, xor=False)
    return ArithShare(rt, s0, s1, rt.frac_bits if fixed_point else 0)


def share_bool(
    rt: Runtime, words: Any, owner: int, *, shape: Iterable[int] | None = None
) -> BoolShare:
    """Secret-share ``uint64`` bit-vector words (one per entry) held by ``owner``."""
    _check_owner(owner)
    ring = None
    if rt.party == owner:
        ring = as_array(words)
        if ring.dtype.kind not in "biu":
            raise InvalidDtype(f"boolean sharing needs integer words, got dtype {ring.dtype}")
        ring = ring.astype(DTYPE)
    agreed = _agree_shape(rt, owner, ring, tuple(shape) if shape is not None else None)
    s0, s1 = share_ring(rt, ring, owner, agreed, xor=True)
    return BoolShare(rt, s0, s1)


def share_bits(rt: Runtime, bits: Any, owner: int, *, n: int | None = None) -> BitShare:
    """Secret-share a vector of booleans held by ``owner`` (packed 64 per word)."""
    _check_owner(owner)
    packed = None
    array = None
    if rt.party == owner:
        array = as_array(bits)
        if array.dtype.kind not in "biu":
            raise InvalidDtype(
                f"bit sharing needs booleans or 0/1 integers, got dtype {array.dtype}"
            )
        if array.ndim != 1:
            raise ShapeMismatch(
                f"bit sharing needs a one-dimensional array, got shape {array.shape}"
            )
        if array.size and (array.min() < 0 or array.max() > 1):
            raise InvalidInput("bit sharing needs values 0 or 1")
        packed = pack_bits(array)
    (n,) = _agree_shape(rt, owner, array, (n,) if n is not None else None)
    s0, s1 = share_ring(rt, packed, owner, ((n + 63) // 64,), xor=True)
    return BitShare(rt, s0, s1, n)


def reveal_slots(
    rt: Runtime, s0: RingArray, s1: RingArray, to: Iterable[int], xor: bool
) -> RingArray | None:
    receivers = sorted(set(to))
    for party in receivers:
        if party not in PARTIES:
            raise InvalidParty(f"cannot reveal to party {party!r}; parties are 0, 1 and 2")
    step = rt.round()
    if rt.prev in receivers:
        rt.send(rt.prev, step, s1)
    if rt.party not in receivers:
        return None
    (missing,) = rt.recv_like(rt.next, step, [s0])
    opened: RingArray = (s0 ^ s1 ^ missing) if xor else (s0 + s1 + missing)
    return opened


@overload
def reveal(x: ArithShare, to: Iterable[int] = ...) -> np.ndarray | None: ...
@overload
def reveal(x: BoolShare, to: Iterable[int] = ...) -> np.ndarray | None: ...
@overload
def reveal(x: BitShare, to: Iterable[int] = ...) -> np.ndarray | None: ...


def reveal(x: ArithShare | BoolShare | BitShare, to: Iterable[int] = ALL) -> np.ndarray | None:
    """Open ``x`` to the parties in ``to``; the others get ``None``.

    Returns ``int64`` for integer shares, ``float64`` for fixed point, ``uint64`` words for
    :class:`BoolShare` and a ``bool`` array for :class:`BitShare`.
    """
    rt = x.rt
    if isinstance(x, ArithShare):
        ring = reveal_slots(rt, x.s0, x.s1, to, xor=False)
        if ring is None:
            return None
        return FixedPoint(x.frac_bits).decode(ring) if x.frac_bits else decode_int(ring)
    if isinstance(x, BitShare):
        words = reveal_slots(rt, x.s0, x.s1, to, xor=True)
        return None if words is None else unpack_bits(words, x.n).astype(bool)
    return reveal_slots(rt, x.s0, x.s1, to, xor=True)


def reveal_ring(x: ArithShare, to: Iterable[int] = ALL) -> RingArray | None:
    """Open ``x`` as raw ring elements (``uint64``), for protocols that reveal masked values."""
    return reveal_slots(x.rt, x.s0, x.s1, to, xor=False)
