"""Replicated secret shares: arithmetic over Z_2^64 and boolean (bit-packed), as separate types.

A value ``x`` is split into three random slots with ``x = x_0 + x_1 + x_2`` (arithmetic) or
``x = x_0 ^ x_1 ^ x_2`` (boolean); party ``p`` holds slots ``p`` and ``p+1`` (mod 3), so any two
parties can reconstruct and any single party sees only uniformly random values (Araki et al.
2016). In code, a party's pair of slots is ``(s0, s1)`` = (slot ``party``, slot ``party+1``).

* :class:`ArithShare` — one ring element per entry, with a fixed-point scale (``frac_bits``,
  0 for integers).
* :class:`BoolShare` — one ``uint64`` word per entry holding up to 64 bits of a bit vector
  (the result of A2B, for example).
* :class:`BitShare` — single bits packed 64 to a word, most significant bit first: entry ``i``
  is bit ``63 - i % 64`` of word ``i // 64`` (comparison results, masks). Bits past ``n`` in the
  last word are meaningless and are dropped when revealed.

Local operations (addition, XOR, public constants, slicing, concatenation) are methods here;
anything that communicates lives in a protocol module and is named by what it does. A share in a
Python ``if`` raises :class:`~shuyu.errors.SecretInCondition`; ``repr`` never shows a share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shuyu.errors import SecretInCondition, ShapeMismatch, UnsupportedOperation
from shuyu.mpc.ring import DTYPE, RingArray, public_ring

if TYPE_CHECKING:
    from shuyu.mpc.runtime import Runtime

ALL_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


def broadcast_public(constant: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A public constant broadcast to a share's shape, or :class:`ShapeMismatch`."""
    try:
        return np.broadcast_to(constant, shape)
    except ValueError:
        raise ShapeMismatch(
            f"{what}: a public constant of shape {constant.shape} does not fit shares of "
            f"shape {shape}"
        ) from None


def _check_same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ShapeMismatch(f"{what}: operand shapes {a.shape} and {b.shape} differ")


class _Share:
    __slots__ = ("rt", "s0", "s1")

    def __init__(self, rt: Runtime, s0: RingArray, s1: RingArray) -> None:
        self.rt = rt
        self.s0 = s0
        self.s1 = s1

    def __bool__(self) -> bool:
        raise SecretInCondition(f"a {type(self).__name__} was used as a Python condition")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.s0.shape}, party={self.rt.party})"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.s0.shape)

    def _public_slots(self, constant: RingArray) -> tuple[RingArray, RingArray]:
        """``constant`` placed in slot 0 (held by parties 0 and 2) as (s0, s1) deltas."""
        zero = np.zeros_like(constant)
        if self.rt.party == 0:
            return constant, zero
        if self.rt.party == 2:
            return zero, constant
        return zero, zero


class ArithShare(_Share):
    """An arithmetic replicated sharing over Z_2^64 (``frac_bits`` > 0 for fixed point)."""

    __slots__ = ("frac_bits",)

    def __init__(self, rt: Runtime, s0: RingArray, s1: RingArray, frac_bits: int = 0) -> None:
        super().__init__(rt, s0, s1)
        self.frac_bits = frac_bits

    def __repr__(self) -> str:
        return f"ArithShare(shape={self.shape}, frac_bits={self.frac_bits}, party={self.rt.party})"

    def __len__(self) -> int:
        return int(self.s0.shape[0]) if self.s0.ndim else 1

    @property
    def size(self) -> int:
        return int(self.s0.size)

    def _like(self, s0: RingArray, s1: RingArray, frac_bits: int | None = None) -> ArithShare:
        return ArithShare(self.rt, s0, s1, self.frac_bits if frac_bits is None else frac_bits)

    def _aligned(self, other: ArithShare) -> tuple[ArithShare, ArithShare]:
        """Bring an integer operand to the other's fixed-point scale (local, exact)."""
        if self.frac_bits == other.frac_bits:
            return self, other
        if self.frac_bits == 0:
            return self.rescale(other.frac_bits), other
        if other.frac_bits == 0:
            return self, other.rescale(self.frac_bits)
        raise UnsupportedOperation(
            f"cannot combine fixed-point shares with {self.frac_bits} and {other.frac_bits} "
            "fractional bits",
            hint="Share all reals with the same mpc.frac_bits.",
        )

    def rescale(self, frac_bits: int) -> ArithShare:
        """Raise the scale of an integer share to ``frac_bits`` (multiplies by 2^f locally)."""
        if frac_bits < self.frac_bits:
            raise UnsupportedOperation("lowering the scale needs truncation (arithmetic.truncate)")
        factor = np.uint64(1 << (frac_bits - self.frac_bits))
        return ArithShare(self.rt, self.s0 * factor, self.s1 * factor, frac_bits)

    # -- local arithmetic ---------------------------------------------------------------

    def __add__(self, other: ArithShare | Any) -> ArithShare:
        if isinstance(other, ArithShare):
            a, b = self._aligned(other)
            _check_same_shape(a.s0, b.s0, "add")
            return a._like(a.s0 + b.s0, a.s1 + b.s1)
        return self.add_public(other)

    __radd__ = __add__

    def __neg__(self) -> ArithShare:
        return self._like(-self.s0, -self.s1)

    def __sub__(self, other: ArithShare | Any) -> ArithShare:
        if isinstance(other, ArithShare):
            a, b = self._aligned(other)
            _check_same_shape(a.s0, b.s0, "sub")
            return a._like(a.s0 - b.s0, a.s1 - b.s1)
        return self.add_public(-np.asarray(other))

    def __rsub__(self, other: Any) -> ArithShare:
        return (-self).add_public(other)

    def add_public(self, constant: Any) -> ArithShare:
        """``x + c`` for a public constant (scalar or array) at this share's scale."""
        c = broadcast_public(public_ring(constant, self.frac_bits), self.s0.shape, "add")
        d0, d1 = self._public_slots(np.ascontiguousarray(c))
        return self._like(self.s0 + d0, self.s1 + d1)

    def mul_public_int(self, constant: Any) -> ArithShare:
        """``x * c`` for a public integer constant (local; scale unchanged)."""
        c = broadcast_public(public_ring(constant), self.s0.shape, "mul")
        return self._like(self.s0 * c, self.s1 * c)

    def __mul__(self, other: ArithShare | Any) -> ArithShare:
        from shuyu.mpc import arithmetic

        if isinstance(other, ArithShare):
            return arithmetic.mul(self, other)
        array = np.asarray(other)
        if array.dtype.kind in "biu":
            return self.mul_public_int(array)
        return arithmetic.mul_public_real(self, array)

    __rmul__ = __mul__

    def __matmul__(self, other: ArithShare) -> ArithShare:
        from shuyu.mpc import arithmetic

        return arithmetic.matmul(self, other)

    def sum(self, axis: int | None = None) -> ArithShare:
        """Sum of entries (local)."""
        s0 = np.asarray(self.s0.sum(axis=axis, dtype=DTYPE))
        s1 = np.asarray(self.s1.sum(axis=axis, dtype=DTYPE))
        return self._like(s0.reshape(s0.shape), s1.reshape(s1.shape))

    def cumsum(self) -> ArithShare:
        """Prefix sums along the first axis (local)."""
        return self._like(
            np.cumsum(self.s0, axis=0, dtype=DTYPE), np.cumsum(self.s1, axis=0, dtype=DTYPE)
        )

    # -- local reshaping ----------------------------------------------------------------

    def __getitem__(self, index: Any) -> ArithShare:
        return self._like(
            np.ascontiguousarray(self.s0[index]), np.ascontiguousarray(self.s1[index])
        )

    def reshape(self, *shape: int) -> ArithShare:
        return self._like(self.s0.reshape(*shape), self.s1.reshape(*shape))

    @staticmethod
    def concatenate(parts: Sequence[ArithShare], axis: int = 0) -> ArithShare:
        if not parts:
            raise UnsupportedOperation("nothing to concatenate")
        scales = {p.frac_bits for p in parts}
        if len(scales) != 1:
            raise UnsupportedOperation("cannot concatenate shares of different scales")
        first = parts[0]
        return ArithShare(
            first.rt,
            np.concatenate([p.s0 for p in parts], axis=axis),
            np.concatenate([p.s1 for p in parts], axis=axis),
            first.frac_bits,
        )


class BoolShare(_Share):
    """A boolean replicated sharing: one ``uint64`` word (a vector of up to 64 bits) per entry."""

    __slots__ = ()

    def __len__(self) -> int:
        return int(self.s0.shape[0])

    def _like(self, s0: RingArray, s1: RingArray) -> BoolShare:
        return BoolShare(self.rt, s0, s1)

    def __xor__(self, other: BoolShare | Any) -> BoolShare:
        if isinstance(other, BoolShare):
            _check_same_shape(self.s0, other.s0, "xor")
            return self._like(self.s0 ^ other.s0, self.s1 ^ other.s1)
        c = broadcast_public(np.asarray(other, dtype=DTYPE), self.s0.shape, "xor")
        d0, d1 = self._public_slots(np.ascontiguousarray(c))
        return self._like(self.s0 ^ d0, self.s1 ^ d1)

    __rxor__ = __xor__

    def __invert__(self) -> BoolShare:
        return self ^ ALL_ONES

    def __and__(self, other: BoolShare | Any) -> BoolShare:
        if isinstance(other, BoolShare):
            from shuyu.mpc import boolean

            return boolean.and_(self, other)
        c = np.asarray(other, dtype=DTYPE)
        return self._like(self.s0 & c, self.s1 & c)

    def __or__(self, other: BoolShare) -> BoolShare:
        from shuyu.mpc import boolean

        return boolean.or_(self, other)

    def __lshift__(self, bits: int) -> BoolShare:
        b = np.uint64(bits)
        return self._like(self.s0 << b, self.s1 << b)

    def __rshift__(self, bits: int) -> BoolShare:
        b = np.uint64(bits)
        return self._like(self.s0 >> b, self.s1 >> b)

    def __getitem__(self, index: Any) -> BoolShare:
        return self._like(
            np.ascontiguousarray(self.s0[index]), np.ascontiguousarray(self.s1[index])
        )

    def bit(self, position: int) -> BitShare:
        """Bit ``position`` of every entry, packed (local)."""
        b = np.uint64(position)
        one = np.uint64(1)
        return BitShare(
            self.rt, pack_bits((self.s0 >> b) & one), pack_bits((self.s1 >> b) & one), len(self)
        )


class BitShare(_Share):
    """A boolean replicated sharing of ``n`` single bits, packed 64 per word (MSB first)."""

    __slots__ = ("n",)

    def __init__(self, rt: Runtime, s0: RingArray, s1: RingArray, n: int) -> None:
        super().__init__(rt, s0, s1)
        self.n = n

    def __repr__(self) -> str:
        return f"BitShare(n={self.n}, party={self.rt.party})"

    def __len__(self) -> int:
        return self.n

    def _like(self, s0: RingArray, s1: RingArray) -> BitShare:
        return BitShare(self.rt, s0, s1, self.n)

    def _check(self, other: BitShare, what: str) -> None:
        if other.n != self.n:
            raise ShapeMismatch(f"{what}: bit vectors of lengths {self.n} and {other.n}")

    def __xor__(self, other: BitShare | bool | int) -> BitShare:
        if isinstance(other, BitShare):
            self._check(other, "xor")
            return self._like(self.s0 ^ other.s0, self.s1 ^ other.s1)
        if other not in (0, 1, True, False):
            raise UnsupportedOperation("a bit vector can be XORed with 0/1 or a BitShare only")
        c = np.full(self.s0.shape, ALL_ONES if other else 0, dtype=DTYPE)
        d0, d1 = self._public_slots(c)
        return self._like(self.s0 ^ d0, self.s1 ^ d1)

    __rxor__ = __xor__

    def __invert__(self) -> BitShare:
        return self ^ 1

    def __and__(self, other: BitShare) -> BitShare:
        from shuyu.mpc import boolean

        return boolean.and_bits(self, other)

    def __or__(self, other: BitShare) -> BitShare:
        from shuyu.mpc import boolean

        return boolean.or_bits(self, other)

    @staticmethod
    def concatenate(parts: Sequence[BitShare]) -> BitShare:
        """Concatenate bit vectors (local; unpacks and repacks when lengths are not x64)."""
        if not parts:
            raise UnsupportedOperation("nothing to concatenate")
        rt = parts[0].rt
        if all(p.n % 64 == 0 for p in parts[:-1]):
            return BitShare(
                rt,
                np.concatenate([p.s0 for p in parts]),
                np.concatenate([p.s1 for p in parts]),
                sum(p.n for p in parts),
            )
        s0 = np.concatenate([unpack_bits(p.s0, p.n) for p in parts])
        s1 = np.concatenate([unpack_bits(p.s1, p.n) for p in parts])
        return BitShare(rt, pack_bits(s0), pack_bits(s1), int(s0.size))

    def slice(self, start: int, stop: int) -> BitShare:
        """Entries ``start:stop`` (local)."""
        if start % 64 == 0:
            lo, hi = start // 64, (stop + 63) // 64
            return BitShare(self.rt, self.s0[lo:hi].copy(), self.s1[lo:hi].copy(), stop - start)
        s0 = unpack_bits(self.s0, self.n)[start:stop]
        s1 = unpack_bits(self.s1, self.n)[start:stop]
        return BitShare(self.rt, pack_bits(s0), pack_bits(s1), stop - start)


def pack_bits(bits: np.ndarray) -> RingArray:
    """Pack 0/1 values (any integer dtype) into words, MSB first; pads with zeros."""
    packed = np.packbits(np.asarray(bits, dtype=np.uint8))
    pad = (-packed.size) % 8
    if pad:
        packed = np.concatenate([packed, np.zeros(pad, dtype=np.uint8)])
    return packed.view(">u8").astype(DTYPE)


def unpack_bits(words: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` bits of MSB-first packed words, as ``uint8`` 0/1 values."""
    return np.unpackbits(np.asarray(words, dtype=DTYPE).astype(">u8").view(np.uint8), count=n)


#: A column of a table in shares: arithmetic values or bit-vector words, one per row.
Column = ArithShare | BoolShare
