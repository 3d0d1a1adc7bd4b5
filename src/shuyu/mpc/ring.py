"""The ring Z_2^64 as numpy ``uint64``, and the encodings of integers and reals into it.

Arithmetic on ``uint64`` arrays wraps modulo 2^64, which *is* the ring: no reduction step is
ever needed. Signed integers are stored in two's complement (``int64`` viewed as ``uint64``).

Ranges (what is exact, and what is checked at input):

* Integers: any ``int64`` can be shared; addition and multiplication are exact modulo 2^64
  (like numpy's ``int64``). Comparisons are exact when the difference of the operands fits in
  ``int64`` (for example whenever both lie in [-2^62, 2^62)); ``less_than(..., full_range=True)``
  is exact for every pair of ``int64``.
* Fixed point with ``f`` fractional bits: a real ``x`` is encoded as ``round(x * 2^f)``; inputs
  must satisfy ``|x| < 2^(62-f)`` (checked: :class:`~shuyu.errors.FixedPointOverflow`).
  A product of two fixed-point values is exact up to one unit in the last place when
  ``|x * y| < 2^(62-2f)`` (2^30 for f = 16); see ``docs/mpc.md``.

Example:
    >>> codec = FixedPoint(16)
    >>> codec.decode(codec.encode([1.5, -2.25])).tolist()
    [1.5, -2.25]
    >>> decode_int(encode_int([-1, 5])).tolist()
    [-1, 5]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shuyu.errors import FixedPointOverflow, InvalidDtype, InvalidInput

RING_BITS = 64
DTYPE = np.uint64
RingArray = npt.NDArray[np.uint64]

#: Integers whose pairwise differences never overflow: the safe range for comparisons.
SAFE_INT_BITS = 62


def as_array(values: Any) -> np.ndarray:
    """``values`` as a numpy array; ragged or unreadable input is an :class:`InvalidDtype`."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        raise InvalidDtype(
            "cannot read the input as a rectangular array (ragged rows or mixed types)"
        ) from None
    if array.dtype == object:
        raise InvalidDtype("the input mixes types or holds Python objects; give a numeric array")
    return array


def encode_int(values: Any) -> RingArray:
    """Two's complement of integers (or booleans) as ring elements.

    Raises:
        InvalidDtype: floats, strings or objects (use :class:`FixedPoint` for reals).
        InvalidInput: unsigned values at or above 2^63, which have no ``int64`` meaning.
    """
    array = as_array(values)
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(DTYPE)
    if kind == "i":
        return array.astype(np.int64).view(DTYPE)
    if kind == "u":
        if array.dtype.itemsize == 8 and array.size and int(array.max()) >= 1 << 63:
            raise InvalidInput(
                "an unsigned input is 2**63 or larger and does not fit a signed 64-bit integer",
                hint="Give values below 2**63, or reinterpret them as int64 on purpose first.",
            )
        return array.astype(DTYPE)
    raise InvalidDtype(
        f"integer sharing needs integers or booleans, got dtype {array.dtype}",
        hint="Share reals with fixed_point=True, or convert the column to integers.",
    )


def decode_int(ring: RingArray) -> npt.NDArray[np.int64]:
    """Ring elements back to signed ``int64``."""
    return np.asarray(ring, dtype=DTYPE).view(np.int64)


class FixedPoint:
    """Fixed-point encoding with ``frac_bits`` fractional bits.

    Args:
        frac_bits: number of fractional bits ``f`` (0..40).
    """

    def __init__(self, frac_bits: int) -> None:
        if not 0 <= frac_bits <= 40:
            raise InvalidInput(
                f"fractional bits must be in [0, 40], got {frac_bits}",
                hint="Set mpc.frac_bits between 0 and 40 (16 is the default).",
            )
        self.frac_bits = frac_bits
        self.scale = float(1 << frac_bits)
        self.bound = float(1 << (SAFE_INT_BITS - frac_bits))

    def encode(self, values: Any) -> RingArray:
        """Encode reals; raises if any value is not finite or outside ``±2^(62-f)``."""
        array = as_array(values)
        if array.dtype.kind not in "biuf":
            raise InvalidDtype(f"fixed-point sharing needs numbers, got dtype {array.dtype}")
        real = array.astype(np.float64)
        if real.size:
            if not np.all(np.isfinite(real)):
                raise InvalidInput(
                    "the input holds NaN or infinity, which have no fixed-point encoding",
                    hint="Replace missing values before sharing (e.g. 0 plus a validity column).",
                )
            if float(np.max(np.abs(real))) >= self.bound:
                # the message must not carry the value: it is the owner's secret
                raise FixedPointOverflow(
                    "the input holds values outside the fixed-point range "
                    f"|x| < 2**{SAFE_INT_BITS - self.frac_bits} (frac_bits={self.frac_bits})"
                )
        return np.rint(real * self.scale).astype(np.int64).view(DTYPE)

    def decode(self, ring: RingArray) -> npt.NDArray[np.float64]:
        """Ring elements back to reals."""
        return np.asarray(ring, dtype=DTYPE).view(np.int64).astype(np.float64) / self.scale


def public_ring(value: Any, frac_bits: int = 0) -> RingArray:
    """A public constant (scalar or array) as ring elements at the given scale."""
    if frac_bits:
        return FixedPoint(frac_bits).encode(value)
    array = as_array(value)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(np.floor(array) == array):
            raise InvalidInput(
                "a public constant for an integer share must be a whole number",
                hint="Use a fixed-point share to combine with real constants.",
            )
        array = array.astype(np.int64)
    return encode_int(array)
