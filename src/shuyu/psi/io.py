"""Key columns for ECDH-PSI: normalisation, CSV input in one streaming pass, CSV output.

**Normalisation** (what makes two keys equal; both parties must use the same options, which the
protocol checks before any key is touched):

* ``str`` keys (the default): the text is put in Unicode NFC and encoded as UTF-8. Case matters
  unless ``casefold`` is set (then NFC, ``str.casefold``, NFC again).
* ``int`` keys: an optional sign and ASCII digits, in the 64-bit signed range; ``007``, ``+7``
  and ``7`` are the same key. Any other text in an ``int`` column is
  ``psi.mixed_key_types``.
* A ``str`` key never equals an ``int`` key (the encoded message carries the type).
* **NULL** never matches anything, not even another NULL: an empty cell (after stripping), a
  cell equal to one of ``null_values``, or ``None``/NaN given to the Python API.
* **Whitespace**: CSV cells are stripped of leading and trailing whitespace (``str.strip``:
  spaces, tabs, CR/LF, no-break and ideographic spaces) unless ``strip`` is off. Keys given to
  the Python API are not stripped, as in the delegated join (:mod:`shuyu.psi.keys`).

**CSV input** (:func:`scan_csv`): one pass over the file in 1 MiB chunks. A header line is
required; every other non-blank record must have as many fields as the header. The file must
be UTF-8 (a leading byte-order mark is skipped). For each record the scan keeps only its byte
range in the file and a 128-bit keyed BLAKE2b digest of its key (numpy arrays, 32 bytes per
row); keys themselves are re-read from the file, batch by batch, when the protocol needs them
(:meth:`KeyTable.messages`). Keys are deduplicated by digest; the order in which the protocol
sends them is the order of their digests under a key drawn for this run, i.e. a uniformly
random permutation that reveals nothing about positions in the file.

**CSV output** (:func:`write_rows`, :func:`write_values`): the matching records are copied
byte for byte from the input (with its header line), or the normalised key values are written
under the key column's name. Output goes to a temporary file in the target directory that is
renamed into place only when complete, so a failed run never leaves a partial ``--output``.

Errors never quote a key (only line numbers and column names).
"""

from __future__ import annotations

import array
import contextlib
import csv
import hashlib
import io
import math
import mmap
import os
import re
import secrets
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shuyu.errors import (
    InvalidCsv,
    InvalidKeyType,
    MixedKeyTypes,
    OutputUnwritable,
    UnknownKeyColumn,
    UnreadableInput,
)

__all__ = [
    "INT",
    "STR",
    "KeyOptions",
    "KeyTable",
    "encode_cell",
    "encode_values",
    "scan_csv",
    "write_rows",
    "write_values",
]

INT = "int"
STR = "str"
_INT_TEXT = re.compile(r"([+-]?)0*([0-9]+)")
_INT64 = 1 << 63
_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_DIGEST_BYTES = 16

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called now and then while a long step runs."""


@dataclass(frozen=True)
class KeyOptions:
    """How cell text becomes a key; both parties must agree on all of it.

    Attributes:
        key_type: ``"str"`` or ``"int"``.
        casefold: compare strings case-insensitively (Unicode ``casefold``).
        strip: remove leading and trailing whitespace from CSV cells.
        null_values: cell texts (after stripping) that mean NULL, besides the empty cell.
    """

    key_type: str = STR
    casefold: bool = False
    strip: bool = True
    null_values: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.key_type not in (STR, INT):
            raise InvalidKeyType(
                f"键类型必须是 str 或 int / key type must be 'str' or 'int', got {self.key_type!r}"
            )

    def describe(self) -> dict[str, Any]:
        """What the peer must agree with (sent in the protocol's hello)."""
        return {"key_type": self.key_type, "casefold": self.casefold}


def _encode_str(text: str, casefold: bool) -> bytes:
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if casefold:
        text = unicodedata.normalize("NFC", text.casefold())
    return b"s" + text.encode("utf-8")


def _encode_int_text(text: str) -> bytes | None:
    match = _INT_TEXT.fullmatch(text)
    if match is None:
        return None
    sign, digits = match.groups()
    if len(digits) > 19 or not -_INT64 <= int(sign + digits) < _INT64:
        return None
    if digits == "0":
        sign = ""
    return b"i" + (("-" if sign == "-" else "") + digits).encode("ascii")


def encode_cell(text: str, options: KeyOptions) -> bytes | None:
    """The message hashed to the curve for one CSV cell, or None for NULL.

    Raises:
        MixedKeyTypes: an ``int`` column holds text that is not a 64-bit integer.

    Example:
        >>> encode_cell(" 007 ", KeyOptions(key_type="int"))
        b'i7'
        >>> encode_cell("Cafe\\u0301", KeyOptions()) == encode_cell("Caf\\u00e9", KeyOptions())
        True
        >>> encode_cell("  ", KeyOptions()) is None
        True
    """
    if options.strip:
        text = text.strip()
    if not text or text in options.null_values:
        return None
    if options.key_type == STR:
        return _encode_str(text, options.casefold)
    encoded = _encode_int_text(text)
    if encoded is None:
        raise MixedKeyTypes(
            "整数键列中有非整数值 / the int key column holds a value that is not a 64-bit integer"
        )
    return encoded


def encode_values(
    values: Sequence[Any], *, casefold: bool = False
) -> tuple[list[bytes | None], str]:
    """Messages for keys given as Python values, and their key type (``"int"`` or ``"str"``).

    Integers (``int``, ``bool``, numpy integers) in the 64-bit signed range and strings are
    accepted; ``None`` and NaN are NULL. Strings are not stripped. An empty or all-NULL
    sequence has type ``"str"``.

    Raises:
        InvalidKeyType: a float, bytes or any other type, or an integer beyond 64 bits.
        MixedKeyTypes: integers and strings together.

    Example:
        >>> encode_values([3, None, 3])
        ([b'i3', None, b'i3'], 'int')
    """
    messages: list[bytes | None] = []
    kinds: set[str] = set()
    for value in values:
        if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
            messages.append(None)
        elif isinstance(value, bool | int | np.integer):
            number = int(value)
            if not -_INT64 <= number < _INT64:
                raise InvalidKeyType("整数键超出 64 位 / an integer key does not fit in 64 bits")
            kinds.add(INT)
            messages.append(b"i" + str(number).encode("ascii"))
        elif isinstance(value, str):
            kinds.add(STR)
            messages.append(_encode_str(value, casefold))
        else:
            raise InvalidKeyType(
                f"不支持的键类型 / unsupported key type {type(value).__name__}; "
                "give integers or strings"
            )
    if len(kinds) > 1:
        raise MixedKeyTypes("键中混有整数和字符串 / the keys mix integers and strings")
    return messages, (kinds.pop() if kinds else STR)


# --- the key table the protocol works on ----------------------------------------------------


@dataclass
class KeyTable:
    """One party's keys, deduplicated, in the order the protocol sends them.

    Attributes:
        rows: number of data rows (records), NULL keys included.
        key_type: ``"int"`` or ``"str"``.
        row_key: ``(rows,)`` int64: the key index of each row, -1 for a NULL key.
        first_row: ``(keys,)`` int64: for each distinct key, in sending order, its first row.
        fetch: returns the messages of the given rows (re-read from the file for CSV input).
    """

    rows: int
    key_type: str
    row_key: np.ndarray
    first_row: np.ndarray
    fetch: Callable[[np.ndarray], list[bytes]] = field(repr=False)

    @property
    def keys(self) -> int:
        """Number of distinct non-NULL keys (what the peer learns as this side's set size)."""
        return int(self.first_row.shape[0])

    def messages(self, start: int, stop: int) -> list[bytes]:
        """Messages of the keys ``start..stop`` in sending order."""
        return self.fetch(self.first_row[start:stop])


def _dedupe(digests: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row_key, first_row) from ``(rows, 2)`` uint64 keyed digests and the NULL mask.

    Keys are numbered in the order of their digests (a random order, the digest key being
    secret), and each key's first row is its smallest row index. Sorting on the first 64 bits
    only keeps the peak memory near 40 bytes per row; in the rare case (about n^2 / 2^65) of
    two different digests sharing their first 64 bits, a full 128-bit sort is used instead.
    """
    rows = digests.shape[0]
    row_key = np.full(rows, -1, dtype=np.int64)
    candidates = np.flatnonzero(~null)
    if candidates.size == 0:
        return row_key, np.zeros(0, dtype=np.int64)
    order = np.argsort(digests[candidates, 0], kind="stable")
    candidates = candidates[order]
    del order
    hi = digests[candidates, 0]
    lo = digests[candidates, 1]
    same_hi = hi[1:] == hi[:-1]
    if np.any(same_hi & (lo[1:] != lo[:-1])):  # pragma: no cover - 64-bit collision
        order = np.lexsort((candidates, lo, hi))
        candidates, hi, lo = candidates[order], hi[order], lo[order]
        same_hi = hi[1:] == hi[:-1]
    starts = np.ones(candidates.size, dtype=bool)
    starts[1:] = ~(same_hi & (lo[1:] == lo[:-1]))
    del hi, lo, same_hi
    row_key[candidates] = np.cumsum(starts) - 1
    return row_key, candidates[starts]


def table_from_messages(messages: Sequence[bytes | None], key_type: str) -> KeyTable:
    """A :class:`KeyTable` over messages held in memory (the Python API's input)."""
    digest_key = secrets.token_bytes(32)
    rows = len(messages)
    null = np.fromiter((m is None for m in messages), dtype=bool, count=rows)
    blob = b"".join(
        bytes(_DIGEST_BYTES)
        if m is None
        else hashlib.blake2b(m, digest_size=_DIGEST_BYTES, key=digest_key).digest()
        for m in messages
    )
    digests = np.frombuffer(blob, dtype="<u8").reshape(rows, 2)
    row_key, first_row = _dedupe(digests, null)

    def fetch(selected: np.ndarray) -> list[bytes]:
        return [messages[int(row)] or b"" for row in selected]

    return KeyTable(rows, key_type, row_key, first_row, fetch)


# --- CSV ------------------------------------------------------------------------------------


@dataclass
class CsvTable(KeyTable):
    """A :class:`KeyTable` read from a CSV file, with what is needed to write matching rows.

    Attributes:
        path: the input file.
        header: the header line, exactly as in the file (bytes, with its line ending).
        column: the key column's name.
        start: ``(rows + 1,)`` int64: the byte offset of each record, then the file size. A
            record ends where the next begins (blank lines between are trimmed on output).
        stamp: (size, mtime) of the file when it was scanned, to detect a change mid-run.
    """

    path: Path = Path()
    header: bytes = b""
    column: str = ""
    start: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    stamp: tuple[int, int] = (0, 0)


class _Lines:
    """UTF-8 lines of a binary file, with the byte offset where each line starts.

    Lines end at ``\\n`` only (``\\r\\n`` keeps its ``\\r``, which the csv module handles).
    ``starts`` grows as lines are read: ``starts(k)`` is the offset of line ``k`` (0-based).
    """

    def __init__(self, handle: io.BufferedReader, offset: int, path: Path) -> None:
        self.handle = handle
        self.offset = offset
        self.path = path
        self._starts: list[np.ndarray] = [np.asarray([offset], dtype=np.int64)]
        self.count = 0  # lines yielded so far

    def starts(self) -> np.ndarray:
        return np.concatenate(self._starts)

    def __iter__(self) -> Iterator[str]:
        pending = b""
        base = self.offset
        while True:
            chunk = self.handle.read(_CHUNK)
            data = pending + chunk
            if not data:
                return
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            if cut == 0:
                pending = data
                continue
            body, pending = data[:cut], data[cut:]
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                number = self.count + body.count(b"\n", 0, exc.start) + 1
                raise InvalidCsv(
                    f"{self.path} 第 {number} 行不是有效的 UTF-8 / line {number} of {self.path} "
                    "is not valid UTF-8"
                ) from None
            nul = body.find(b"\x00")
            if nul >= 0:  # binary data, or UTF-16 (which Excel calls "Unicode text")
                number = self.count + body.count(b"\n", 0, nul) + 1
                raise InvalidCsv(
                    f"{self.path} 第 {number} 行含有 NUL 字节 / line {number} of {self.path} "
                    "contains a NUL byte (binary or UTF-16 data, not UTF-8 CSV)"
                )
            newlines = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10)
            self._starts.append(newlines.astype(np.int64) + (base + 1))
            base += len(body)
            lines = text.split("\n")
            if text.endswith("\n"):
                lines.pop()
                last = None
            else:
                last = lines.pop()
            for line in lines:
                self.count += 1
                yield line + "\n"
            if last is not None:
                self.count += 1
                yield last
            if not chunk:
                return


def scan_csv(
    path: str | os.PathLike[str],
    column: str,
    options: KeyOptions,
    *,
    delimiter: str = ",",
    progress: Progress | None = None,
) -> CsvTable:
    """Read a CSV file once: validate it, locate every record, digest and deduplicate its keys.

    Raises:
        UnreadableInput: the file cannot be opened or read.
        InvalidCsv: not UTF-8, no header, malformed quoting, a NUL byte, or a record with a
            different number of fields than the header.
        UnknownKeyColumn: ``column`` is not in the header (or is there twice).
        MixedKeyTypes: an ``int`` key column holds a non-integer.
    """
    path = Path(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise UnreadableInput(
            f"无法读取输入文件 / cannot read input file {path}: {exc.strerror}"
        ) from None
    try:
        stat = os.fstat(handle.fileno())
        total = max(stat.st_size, 1)
        offset = len(_BOM) if handle.read(len(_BOM)) == _BOM else 0
        handle.seek(offset)
        lines = _Lines(handle, offset, path)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        try:
            header_fields = next(reader)
        except StopIteration:
            raise InvalidCsv(f"输入文件为空 / {path} is empty: a header line is required") from None
        names = [name.strip() for name in header_fields]
        if names.count(column) != 1:
            shown = ", ".join(repr(n) for n in names[:20]) + (" ..." if len(names) > 20 else "")
            what = "appears twice in" if names.count(column) > 1 else "is not in"
            raise UnknownKeyColumn(
                f"键列 {column!r} 不在表头中或重复 / key column {column!r} {what} the header "
                f"of {path} (columns: {shown})"
            )
        index = names.index(column)
        width = len(names)
        header_end = reader.line_num
        digest_key = secrets.token_bytes(32)
        blake2b = hashlib.blake2b
        # compact per-row state only: no Python object per row survives the loop
        first_lines = array.array("q")
        digests = bytearray()
        null_rows = array.array("q")
        zero = bytes(_DIGEST_BYTES)
        previous = header_end
        try:
            for fields in reader:
                first_line, previous = previous, reader.line_num
                if not fields:
                    continue  # a blank line is no record
                if len(fields) != width:
                    raise InvalidCsv(
                        f"{path} 第 {first_line + 1} 行有 {len(fields)} 个字段，表头有 {width} "
                        f"个 / line {first_line + 1} of {path} has {len(fields)} fields, the "
                        f"header has {width}"
                    )
                try:
                    message = encode_cell(fields[index], options)
                except MixedKeyTypes:
                    raise MixedKeyTypes(
                        f"{path} 第 {first_line + 1} 行的键不是 64 位整数 / the key on line "
                        f"{first_line + 1} of {path} is not a 64-bit integer (--key-type int)",
                        hint="Use --key-type str, or fix that line (messages never show keys).",
                    ) from None
                if message is None:
                    null_rows.append(len(first_lines))
                    digests += zero
                else:
                    digests += blake2b(message, digest_size=_DIGEST_BYTES, key=digest_key).digest()
                first_lines.append(first_line)
                if progress is not None and not len(first_lines) & 0xFFFF:
                    progress("read", handle.tell(), total)
        except csv.Error as exc:
            line = max(reader.line_num, 1)
            raise InvalidCsv(
                f"{path} 第 {line} 行不是有效的 CSV / line {line} of {path} is not valid CSV: {exc}"
            ) from None
        except OSError as exc:
            raise UnreadableInput(
                f"读取输入文件失败 / reading {path} failed: {exc.strerror}"
            ) from None
        # offset of every line, plus the end of the file (for a last line without a newline)
        starts = np.append(lines.starts(), stat.st_size)
        record_start = np.append(starts[np.frombuffer(first_lines, dtype=np.int64)], stat.st_size)
        del first_lines
        handle.seek(offset)
        header = handle.read(int(starts[header_end] - offset))
        del starts
        rows = record_start.shape[0] - 1
        digest_array = np.frombuffer(digests, dtype="<u8").reshape(rows, 2)
        del digests
        null = np.zeros(rows, dtype=bool)
        null[np.frombuffer(null_rows, dtype=np.int64)] = True
        row_key, first_row = _dedupe(digest_array, null)
        del digest_array
        if progress is not None:
            progress("read", total, total)
    finally:
        handle.close()
    table = CsvTable(
        rows=rows,
        key_type=options.key_type,
        row_key=row_key,
        first_row=first_row,
        fetch=_no_fetch,
        path=path,
        header=header,
        column=column,
        start=record_start,
        stamp=(stat.st_size, stat.st_mtime_ns),
    )
    table.fetch = _CsvFetcher(table, index, options, delimiter)
    return table


def _no_fetch(rows: np.ndarray) -> list[bytes]:  # pragma: no cover - replaced at once
    return []


class _CsvFetcher:
    """Re-reads the keys of chosen records from the file (memory-mapped)."""

    def __init__(self, table: CsvTable, index: int, options: KeyOptions, delimiter: str) -> None:
        self.table = table
        self.index = index
        self.options = options
        self.delimiter = delimiter

    def __call__(self, rows: np.ndarray) -> list[bytes]:
        table = self.table
        if rows.size == 0:
            return []
        try:
            with open(table.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if (stat.st_size, stat.st_mtime_ns) != table.stamp:
                    raise UnreadableInput(
                        f"输入文件在运行中被修改 / {table.path} changed while the join was running",
                        hint="Keep the input file unchanged until the join finishes, then rerun.",
                    )
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                    blob = b"".join(
                        _trim(view[s:e])
                        for s, e in zip(
                            table.start[rows].tolist(), table.start[rows + 1].tolist(), strict=True
                        )
                    )
        except OSError as exc:
            raise UnreadableInput(
                f"读取输入文件失败 / reading {table.path} failed: {exc.strerror}"
            ) from None
        reader = csv.reader(io.StringIO(blob.decode("utf-8")), delimiter=self.delimiter)
        messages = []
        for fields in reader:
            message = encode_cell(fields[self.index], self.options)
            if message is None:  # pragma: no cover - rows of NULL keys are never fetched
                raise UnreadableInput(f"{table.path} changed while the join was running")
            messages.append(message)
        if len(messages) != rows.size:  # pragma: no cover - guarded by the stamp check
            raise UnreadableInput(f"{table.path} changed while the join was running")
        return messages


def _trim(record: bytes) -> bytes:
    """A record's bytes without trailing blank lines, ending in exactly one newline."""
    body = record.rstrip(b"\r\n")
    tail = record[len(body) :]
    ending = b"\r\n" if tail.startswith(b"\r\n") else b"\n"
    return body + ending


# --- output ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _atomic_output(path: Path) -> Iterator[io.BufferedWriter]:
    """A file that appears at ``path`` only if the block completes."""
    directory = path.resolve().parent
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".partial", dir=directory
        )
    except OSError as exc:
        raise OutputUnwritable(
            f"无法写入输出文件 / cannot write output {path}: {exc.strerror}"
        ) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise OutputUnwritable(
            f"无法写入输出文件 / cannot write output {path}: {exc.strerror}"
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_rows(table: CsvTable, rows: np.ndarray, output: str | os.PathLike[str]) -> None:
    """Write the header and the given records of ``table``, in the given order, to ``output``."""
    output = Path(output)
    try:
        source = open(table.path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UnreadableInput(
            f"无法读取输入文件 / cannot read {table.path}: {exc.strerror}"
        ) from None
    with source, _atomic_output(output) as sink:
        stat = os.fstat(source.fileno())
        if (stat.st_size, stat.st_mtime_ns) != table.stamp:
            raise UnreadableInput(
                f"输入文件在运行中被修改 / {table.path} changed while the join was running",
                hint="Keep the input file unchanged until the join finishes, then rerun.",
            )
        sink.write(_trim(table.header) if table.header else b"")
        if rows.size == 0 or stat.st_size == 0:
            return
        with mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ) as view:
            for block in range(0, rows.shape[0], 65536):
                chosen = rows[block : block + 65536]
                starts, ends = table.start[chosen].tolist(), table.start[chosen + 1].tolist()
                sink.write(b"".join(_trim(view[s:e]) for s, e in zip(starts, ends, strict=True)))


def write_values(column: str, messages: Sequence[bytes], output: str | os.PathLike[str]) -> None:
    """Write the normalised key values (one column named ``column``) to ``output``."""
    with _atomic_output(Path(output)) as sink:
        text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([column])
        for block in range(0, len(messages), 65536):
            writer.writerows([m[1:].decode("utf-8")] for m in messages[block : block + 65536])
        text.flush()
        text.detach()
