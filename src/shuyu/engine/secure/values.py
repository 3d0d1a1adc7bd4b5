"""Columns as secret shares: how each SQL type is encoded in the ring, shared and opened.

Encodings (one ring element per row, plus NULL flags):

=============  ====================================================================
type           ring value
=============  ====================================================================
INT            the integer (exact)
DECIMAL(s)     the decimal scaled by ``10^s`` (exact; scales are aligned by exact
               multiplication by powers of ten)
FLOAT          fixed point with ``mpc.frac_bits`` fractional bits
DATE           days since 1970-01-01; TIMESTAMP: microseconds
BOOL           0 or 1
STRING         a 62-bit BLAKE2b code of the NFC UTF-8 text (equality and ``IN``);
               the text itself travels as UTF-8 in 8-byte words, to be opened
=============  ====================================================================

NULLs: a column whose owner reports that it has no NULL carries no flags (``null is None``);
otherwise 0/1 flags are shared with it, the value under a NULL being 0. Whether a column holds
any NULL, and the longest string of a text column (in 8-byte words), are the only metadata a
column's owner discloses when it shares it; both are documented in ``docs/sql.md``.
"""

from __future__ import annotations

import datetime
import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from shuyu.engine.data import ColumnData
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.ring import FixedPoint
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ArithShare, BitShare, pack_bits, unpack_bits
from shuyu.mpc.sharing import reveal_slots, share, share_bits
from shuyu.sql.catalog import DataType, TypeKind

CODE_BITS = 62
_EPOCH_DATE = datetime.date(1970, 1, 1)
_EPOCH = datetime.datetime(1970, 1, 1)


@dataclass
class Secret:
    """A column (or an expression's value) as secret shares."""

    type: DataType
    value: ArithShare
    null: BitShare | None = None
    text: list[ArithShare] | None = None

    def __len__(self) -> int:
        return len(self.value)

    def take(self, index: Any) -> Secret:
        """Rows selected by a public index (local)."""
        return Secret(
            self.type,
            self.value[index],
            None if self.null is None else take_bits(self.null, index),
            None if self.text is None else [w[index] for w in self.text],
        )


def take_bits(bits: BitShare, index: Any) -> BitShare:
    """Bits selected by a public index (local: unpack, select, repack)."""
    s0 = unpack_bits(bits.s0, bits.n)[index]
    s1 = unpack_bits(bits.s1, bits.n)[index]
    return BitShare(bits.rt, pack_bits(s0), pack_bits(s1), int(np.asarray(s0).size))


def string_code(text: str) -> int:
    digest = hashlib.blake2b(
        unicodedata.normalize("NFC", text).encode("utf-8"), digest_size=8, person=b"shuyu-str-code"
    ).digest()
    return int.from_bytes(digest, "little") >> (64 - CODE_BITS)


def ring_values(column: ColumnData, frac_bits: int) -> np.ndarray:
    """The owner's ring encoding of a column (NULLs as 0), as ``int64`` or fixed-point input."""
    kind = column.type.kind
    values = column.values
    if kind is TypeKind.FLOAT:
        clean = np.where(column.nulls, 0.0, values.astype(np.float64))
        return FixedPoint(frac_bits).encode(clean).view(np.int64)
    if kind is TypeKind.STRING:
        codes = np.array(
            [
                0 if null else string_code(str(v))
                for v, null in zip(values, column.nulls, strict=True)
            ],
            dtype=np.int64,
        )
        return codes
    if kind is TypeKind.BOOL:
        return np.where(column.nulls, 0, values.astype(np.int64))
    return np.where(column.nulls, 0, values.astype(np.int64))


def text_words(column: ColumnData, width: int) -> np.ndarray:
    """``(width, n)`` ``int64`` words holding each string's UTF-8 bytes (zero padded)."""
    n = len(column)
    out = np.zeros((width, n), dtype=np.int64)
    if width == 0:
        return out
    buffer = np.zeros((n, 8 * width), dtype=np.uint8)
    for row, (value, null) in enumerate(zip(column.values, column.nulls, strict=True)):
        if not null:
            raw = unicodedata.normalize("NFC", str(value)).encode("utf-8")
            buffer[row, : len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    words = buffer.view("<u8").reshape(n, width)
    out[:, :] = words.T.view(np.int64)
    return out


def text_width(column: ColumnData) -> int:
    """Words of 8 bytes needed for the longest string of a column."""
    longest = 0
    for value, null in zip(column.values, column.nulls, strict=True):
        if not null:
            longest = max(longest, len(unicodedata.normalize("NFC", str(value)).encode("utf-8")))
    return (longest + 7) // 8


def share_columns(
    rt: Runtime, owner: int, columns: Sequence[ColumnData | None], types: Sequence[DataType], n: int
) -> list[Secret]:
    """Secret-share columns held in plaintext by ``owner`` (others pass ``None``s).

    One round for the metadata (which columns hold NULLs, text widths), then one round per kind
    of share (values, NULL flags, text), each for all columns at once.
    """
    count = len(types)
    meta = None
    if rt.party == owner:
        meta = np.zeros((2, count), dtype=np.int64)
        for index, column in enumerate(columns):
            assert column is not None
            meta[0, index] = int(column.nulls.any())
            meta[1, index] = text_width(column) if column.type.kind is TypeKind.STRING else 0
    step = rt.round()
    if rt.party == owner:
        assert meta is not None
        for peer in (0, 1, 2):
            if peer != owner:
                rt.send(peer, step, meta)
    else:
        (meta,) = rt.recv(owner, step, 1)
    assert meta is not None
    has_nulls = [bool(v) for v in meta[0]]
    widths = [int(v) for v in meta[1]]
    values_plain = nulls_plain = text_plain = None
    if rt.party == owner:
        values_plain = (
            np.stack([ring_values(c, rt.frac_bits) for c in columns if c is not None])
            if count
            else np.zeros((0, n), dtype=np.int64)
        )
        flagged = [
            c.nulls for c, has in zip(columns, has_nulls, strict=True) if has and c is not None
        ]
        nulls_plain = np.concatenate(flagged) if flagged else np.zeros(0, dtype=bool)
        words = [
            text_words(c, w) for c, w in zip(columns, widths, strict=True) if w and c is not None
        ]
        text_plain = np.concatenate(words) if words else np.zeros((0, n), dtype=np.int64)
    values = share(rt, values_plain, owner, shape=(count, n))
    flag_count = sum(has_nulls)
    nulls = share_bits(rt, nulls_plain, owner, n=flag_count * n) if flag_count else None
    word_count = sum(widths)
    text = share(rt, text_plain, owner, shape=(word_count, n)) if word_count else None
    out: list[Secret] = []
    flag_row = word_row = 0
    for index, data_type in enumerate(types):
        frac = rt.frac_bits if data_type.kind is TypeKind.FLOAT else 0
        value = ArithShare(rt, values.s0[index], values.s1[index], frac)
        null = None
        if has_nulls[index]:
            assert nulls is not None
            null = nulls.slice(flag_row * n, (flag_row + 1) * n)
            flag_row += 1
        text_shares: list[ArithShare] | None = None
        if data_type.kind is TypeKind.STRING:
            text_shares = []
            if widths[index]:
                assert text is not None
                text_shares = [
                    ArithShare(rt, text.s0[word_row + k], text.s1[word_row + k])
                    for k in range(widths[index])
                ]
            word_row += widths[index]
        out.append(Secret(data_type, value, null, text_shares))
    return out


def open_secret(secret: Secret, to: Sequence[int]) -> ColumnData | None:
    """Open a secret column to the parties ``to``; returns its plaintext there, ``None`` else."""
    rt = secret.value.rt
    n = len(secret)
    parts = [secret.value]
    if secret.null is not None:
        parts.append(bit_inject(secret.null))
    if secret.text:
        parts.extend(secret.text)
    stacked_s0 = np.stack([p.s0 for p in parts]) if n else np.zeros((len(parts), 0), np.uint64)
    stacked_s1 = np.stack([p.s1 for p in parts]) if n else np.zeros((len(parts), 0), np.uint64)
    opened = reveal_slots(rt, stacked_s0, stacked_s1, tuple(to), xor=False)
    if opened is None:
        return None
    raw = opened.view(np.int64)
    value = raw[0]
    nulls = raw[1].astype(bool) if secret.null is not None else np.zeros(n, dtype=bool)
    words = raw[2 if secret.null is not None else 1 :]
    return decode(secret.type, value, nulls, words, secret.value.frac_bits)


def decode(
    data_type: DataType, value: np.ndarray, nulls: np.ndarray, words: np.ndarray, frac_bits: int
) -> ColumnData:
    """Opened ring values back to a :class:`ColumnData` of ``data_type``."""
    kind = data_type.kind
    if kind is TypeKind.FLOAT:
        values = (
            value.astype(np.float64) / float(1 << frac_bits)
            if frac_bits
            else (value.astype(np.float64))
        )
    elif kind is TypeKind.BOOL:
        values = value != 0
    elif kind is TypeKind.STRING:
        values = np.empty(value.shape[0], dtype=object)
        if words.size:
            raw = np.ascontiguousarray(words.T).view(np.uint8).reshape(value.shape[0], -1)
            for row in range(value.shape[0]):
                values[row] = bytes(raw[row]).rstrip(b"\0").decode("utf-8", "replace")
        else:
            values[:] = ""
    else:
        values = value.astype(np.int64)
    values = np.where(nulls, _placeholder(kind), values) if kind is not TypeKind.STRING else values
    if kind is TypeKind.STRING:
        values = np.where(nulls, "", values).astype(object)
    return ColumnData(data_type, np.asarray(values, dtype=_dtype(kind)), nulls.astype(bool))


def _placeholder(kind: TypeKind) -> Any:
    return {TypeKind.FLOAT: 0.0, TypeKind.BOOL: False}.get(kind, 0)


def _dtype(kind: TypeKind) -> Any:
    return {TypeKind.FLOAT: np.float64, TypeKind.BOOL: np.bool_, TypeKind.STRING: object}.get(
        kind, np.int64
    )


def python_value(value: Any, data_type: DataType) -> Any:
    """A stored value as the Python value results use (for constants and checks)."""
    kind = data_type.kind
    if kind is TypeKind.DECIMAL:
        return Decimal(int(value)).scaleb(-data_type.scale)
    if kind is TypeKind.DATE:
        return _EPOCH_DATE + datetime.timedelta(days=int(value))
    if kind is TypeKind.TIMESTAMP:
        return _EPOCH + datetime.timedelta(microseconds=int(value))
    return value
