"""Correlated randomness for three parties, from pairwise keys expanded by AES-CTR.

Every random value a party must not predict comes from AES-128 in counter mode (``cryptography``,
i.e. OpenSSL with AES-NI) keyed with 128-bit keys drawn from ``os.urandom``. numpy's generators
are never used for anything secret.

Keys (party ``p`` holds slots ``p`` and ``p+1`` of every replicated sharing):

* ``K[j]`` for slot ``j`` is shared by the two parties holding that slot, ``j-1`` and ``j``;
  party ``p`` knows ``K[p]`` (with ``p-1``) and ``K[p+1]`` (with ``p+1``).
* ``K_all`` is known to all three parties (public-coin randomness that hides nothing from a party
  but is unpredictable to outsiders).
* ``K_own`` is known to its party only.

Each draw is a fresh AES-CTR stream whose 16-byte initial counter block is
``step (8 bytes) ‖ label (4 bytes) ‖ 0 (4 bytes)``: the runtime's step counter advances
identically at all parties, so two parties sharing a key derive identical values without any
stream having to stay in lock-step, and a party that does not need a value simply does not draw
it. One draw may be up to 2^32 blocks (64 GiB).

Zero-sharing without communication (Araki et al. 2016): ``alpha_p = F(K[p]) - F(K[p+1])``
(or XOR for booleans) sums to zero over the three parties, and ``alpha_p`` looks uniform to
party ``p-1``, who lacks ``K[p+1]``.

Reference: T. Araki, J. Furukawa, Y. Lindell, A. Nof, K. Ohara, "High-Throughput Semi-Honest
Secure Three-Party Computation with an Honest Majority", CCS 2016, section 2.2.
"""

from __future__ import annotations

import os
import struct
from enum import IntEnum

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shuyu.mpc.ring import DTYPE, RingArray

KEY_BYTES = 16


class Label(IntEnum):
    """Purposes of draws within one step (keeps streams of one step independent)."""

    ZERO = 1
    MASK = 2
    MASK2 = 3
    MASK3 = 4
    PERM = 5
    PERM_MASK = 6
    SHARE = 7
    TRIPLE = 8
    TRUNC = 9
    TRUNC_MASK0 = 10
    TRUNC_MASK1 = 11
    BITS = 12
    EXTRA = 13
    SHUFFLE = 32  # 32..35: the masks of one shuffle factor (arithmetic, boolean)


class AesCtrPrg:
    """A keyed pseudo-random generator: AES-128-CTR keystream."""

    __slots__ = ("_algorithm",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("AES-CTR PRG keys are 16 bytes")
        self._algorithm = algorithms.AES(key)

    def words(self, step: int, label: int, count: int) -> RingArray:
        """``count`` pseudo-random ``uint64`` words for (``step``, ``label``)."""
        nonce = struct.pack(">QII", step & 0xFFFF_FFFF_FFFF_FFFF, int(label), 0)
        encryptor = Cipher(self._algorithm, modes.CTR(nonce)).encryptor()
        nbytes = 8 * count
        out = np.empty(count + 2, dtype=DTYPE)  # update_into wants 15 spare bytes
        encryptor.update_into(_zeros(nbytes), out.data.cast("B"))
        return out[:count]


_ZERO_CACHE: list[memoryview] = [memoryview(bytes(0))]


def _zeros(nbytes: int) -> memoryview:
    """A read-only view of ``nbytes`` zero bytes (one cached buffer, grown on demand)."""
    if len(_ZERO_CACHE[0]) < nbytes:
        _ZERO_CACHE[0] = memoryview(bytes(max(nbytes, 2 * len(_ZERO_CACHE[0]))))
    return _ZERO_CACHE[0][:nbytes]


def fresh_key() -> bytes:
    """A new 128-bit key from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


class Randomness:
    """The correlated-randomness provider of one party (the only source of protocol randomness).

    Args:
        party: this party's id (0, 1, 2).
        key_own_slot: ``K[party]``, shared with party ``party-1``.
        key_next_slot: ``K[party+1]``, shared with party ``party+1``.
        key_all: the key known to all three parties.
        key_own: a key known to this party only.
    """

    def __init__(
        self, party: int, key_own_slot: bytes, key_next_slot: bytes, key_all: bytes, key_own: bytes
    ) -> None:
        self.party = party
        self._slot = {party: AesCtrPrg(key_own_slot), (party + 1) % 3: AesCtrPrg(key_next_slot)}
        self._all = AesCtrPrg(key_all)
        self._own = AesCtrPrg(key_own)

    def knows_slot(self, slot: int) -> bool:
        return slot % 3 in self._slot

    def slot(self, slot: int, step: int, label: int, count: int) -> RingArray:
        """Words from ``K[slot]`` (known to parties ``slot-1`` and ``slot``)."""
        try:
            prg = self._slot[slot % 3]
        except KeyError:
            raise RuntimeError(
                f"party {self.party} does not hold the key of slot {slot % 3}"
            ) from None
        return prg.words(step, label, count)

    def common(self, step: int, label: int, count: int) -> RingArray:
        """Words known to all three parties."""
        return self._all.words(step, label, count)

    def private(self, step: int, label: int, count: int) -> RingArray:
        """Words known to this party only."""
        return self._own.words(step, label, count)

    def zero_arith(self, step: int, count: int, label: int = Label.ZERO) -> RingArray:
        """This party's term of a 3-out-of-3 arithmetic sharing of zero."""
        p = self.party
        return self.slot(p, step, label, count) - self.slot(p + 1, step, label, count)

    def zero_bool(self, step: int, count: int, label: int = Label.ZERO) -> RingArray:
        """This party's term of a 3-out-of-3 XOR sharing of zero."""
        p = self.party
        return self.slot(p, step, label, count) ^ self.slot(p + 1, step, label, count)

    def permutation(self, slot: int, step: int, count: int) -> np.ndarray:
        """A uniformly random permutation of ``range(count)`` from ``K[slot]``.

        Sorting 64-bit pseudo-random keys (introsort): a collision (probability below
        count^2 / 2^65) only makes the permutation's distribution negligibly non-uniform.
        """
        keys = self.slot(slot, step, Label.PERM, count)
        return np.argsort(keys)
