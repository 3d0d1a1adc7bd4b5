"""Join keys: validation, normalisation and a canonical 128-bit encoding.

Normalisation (what makes two keys equal):

* **Integers** (numpy integer or boolean dtypes, or Python ``int``): equal as ``int64``.
* **Strings**: Unicode NFC, then UTF-8; case-sensitive, no trimming — ``"Ab"``, ``"ab"`` and
  ``"ab "`` are three different keys. (Callers that want case-insensitive or trimmed matching
  normalise before joining, so the rule is visible in their SQL.)
* **NULL** (``None``, or NaN in a float column) never matches anything, not even another NULL,
  as in SQL.
* A key may be **composite** (several columns); it is NULL if any component is.
* Floats are refused as join keys (``psi.invalid_key_type``): equality of binary floats is not a
  safe join condition; scale them to integers first.

Encoding: every non-NULL key becomes a 16-byte block, injective for keys of the same type
signature: a single integer column is ``(1, value)`` as two ``uint64`` words (vectorised); any
other key is ``BLAKE2b-128`` (personalised ``shuyu-join-key``) of a length-prefixed, type-tagged
byte string of its components. Blocks are never sent: they are the input of the keyed PRF of
:mod:`shuyu.psi.tags`.
"""

from __future__ import annotations

import hashlib
import math
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shuyu.errors import InvalidKeyType, MixedKeyTypes

INT = "int"
STR = "str"


@dataclass(frozen=True)
class EncodedKeys:
    """Blocks of the non-NULL keys and where the NULLs are.

    Attributes:
        blocks: ``(n, 2)`` ``uint64`` words; rows of NULL keys hold zeros and must not be used.
        null: ``(n,)`` booleans, true where the key is NULL.
        signature: the type of each key column (``"int"`` or ``"str"``), public metadata.
    """

    blocks: np.ndarray
    null: np.ndarray
    signature: tuple[str, ...]


def _column_type(values: np.ndarray, index: int) -> tuple[str, np.ndarray, np.ndarray]:
    """(type, values as int64 or object, null mask) of one key column."""
    n = values.shape[0]
    if values.dtype.kind in "biu":
        if values.dtype.kind == "u" and values.size and int(values.max()) >= 1 << 63:
            raise InvalidKeyType(f"key column {index} holds unsigned values of 2**63 or more")
        return INT, values.astype(np.int64), np.zeros(n, dtype=bool)
    if values.dtype.kind == "f":
        raise InvalidKeyType(f"key column {index} holds floating-point values")
    if values.dtype.kind == "U":
        return STR, values.astype(object), np.zeros(n, dtype=bool)
    if values.dtype.kind != "O":
        raise InvalidKeyType(f"key column {index} has unsupported type {values.dtype}")
    null = np.fromiter(
        (v is None or (isinstance(v, float) and math.isnan(v)) for v in values), dtype=bool, count=n
    )
    kinds = set()
    for value in values[~null]:
        if isinstance(value, bool | np.bool_ | int | np.integer):
            kinds.add(INT)
        elif isinstance(value, str):
            kinds.add(STR)
        elif isinstance(value, float | np.floating):
            raise InvalidKeyType(f"key column {index} holds floating-point values")
        else:
            raise InvalidKeyType(f"key column {index} holds a value of type {type(value).__name__}")
    if len(kinds) > 1:
        raise MixedKeyTypes(f"key column {index} mixes integers and strings")
    kind = kinds.pop() if kinds else INT
    if kind == INT:
        ints = np.zeros(n, dtype=np.int64)
        try:
            ints[~null] = np.array([int(v) for v in values[~null]], dtype=np.int64)
        except OverflowError:
            raise InvalidKeyType(f"key column {index} holds integers beyond 64 bits") from None
        return INT, ints, null
    return STR, values, null


def encode_keys(columns: Sequence[Any]) -> EncodedKeys:
    """Validate, normalise and encode one or more key columns (all of the same length).

    Raises:
        InvalidKeyType: floats, bytes or other unsupported values, or no column at all.
        MixedKeyTypes: integers and strings in one column.
    """
    if not columns:
        raise InvalidKeyType("a join needs at least one key column")
    arrays = [np.asarray(c) if not isinstance(c, np.ndarray) else c for c in columns]
    lengths = {a.shape[0] if a.ndim else -1 for a in arrays}
    if len(lengths) != 1 or -1 in lengths or any(a.ndim != 1 for a in arrays):
        raise InvalidKeyType("key columns must be one-dimensional and of equal length")
    n = arrays[0].shape[0]
    typed = [_column_type(a, k) for k, a in enumerate(arrays)]
    signature = tuple(t for t, _, _ in typed)
    null = np.zeros(n, dtype=bool)
    for _, _, column_null in typed:
        null |= column_null
    blocks = np.zeros((n, 2), dtype=np.uint64)
    if signature == (INT,):
        blocks[:, 0] = 1
        blocks[:, 1] = typed[0][1].view(np.uint64)
        blocks[null] = 0
        return EncodedKeys(blocks, null, signature)
    for row in np.flatnonzero(~null):
        digest = hashlib.blake2b(
            _canonical(typed, int(row)), digest_size=16, person=b"shuyu-join-key"
        ).digest()
        blocks[row] = np.frombuffer(digest, dtype="<u8")
    return EncodedKeys(blocks, null, signature)


def _canonical(typed: list[tuple[str, np.ndarray, np.ndarray]], row: int) -> bytes:
    parts = []
    for kind, values, _ in typed:
        if kind == INT:
            parts.append(b"i" + struct.pack("<q", int(values[row])))
        else:
            text = unicodedata.normalize("NFC", str(values[row])).encode("utf-8")
            parts.append(b"s" + struct.pack("<I", len(text)) + text)
    return b"".join(parts)
