"""CSV input and output of ``shuyu psi``: key normalisation, record offsets, stable errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

from shuyu.errors import (
    InvalidCsv,
    MixedKeyTypes,
    OutputUnwritable,
    UnknownKeyColumn,
    UnreadableInput,
)
from shuyu.psi import KeyOptions, run_pair_in_process, scan_csv, write_rows, write_values
from shuyu.psi.io import encode_cell


def write(tmp_path, text: str | bytes, name: str = "in.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def all_messages(table) -> dict[int, bytes]:
    """Row -> message of each row with a key."""
    rows = np.flatnonzero(table.row_key >= 0)
    return dict(zip(rows.tolist(), table.fetch(rows), strict=True))


def test_normalisation_rules():
    text = KeyOptions()
    assert encode_cell("  abc\t", text) == b"sabc"
    assert encode_cell("Caf\u00e9", text) == encode_cell("Cafe\u0301", text)
    assert encode_cell("ABC", text) != encode_cell("abc", text)
    assert encode_cell("", text) is None
    assert encode_cell("\u3000", text) is None  # ideographic space only: NULL
    assert encode_cell(" x ", KeyOptions(strip=False)) == b"s x "
    assert encode_cell("NULL", KeyOptions(null_values=frozenset({"NULL"}))) is None
    assert encode_cell("Straße", KeyOptions(casefold=True)) == encode_cell(
        "STRASSE", KeyOptions(casefold=True)
    )
    number = KeyOptions(key_type="int")
    assert encode_cell("007", number) == encode_cell("+7", number) == encode_cell(" 7 ", number)
    assert encode_cell("-0", number) == encode_cell("0", number) == b"i0"
    assert encode_cell("9223372036854775807", number) == b"i9223372036854775807"
    assert encode_cell("-9223372036854775808", number) == b"i-9223372036854775808"
    for bad in ("9223372036854775808", "1.0", "1e3", "1,000", "0x10", "\uff11"):
        with pytest.raises(MixedKeyTypes):
            encode_cell(bad, number)
    # a string key never equals the integer with the same digits
    assert encode_cell("7", text) != encode_cell("7", number)


def test_scan_finds_every_record_and_skips_bom_blank_lines_and_nulls(tmp_path):
    path = write(
        tmp_path,
        '\ufeffid,phone,note\r\n1,138,"a\r\nmultiline"\r\n\r\n2,,x\r\n3, 139 ,y\r\n4,138,last',
    )
    table = scan_csv(path, "phone", KeyOptions())
    assert table.rows == 4
    assert table.keys == 2
    assert table.header == b"id,phone,note\r\n"
    assert table.row_key[1] == -1  # empty phone is NULL
    assert table.row_key[0] == table.row_key[3]  # duplicates share a key
    assert sorted(set(all_messages(table).values())) == [b"s138", b"s139"]


def test_write_rows_copies_records_byte_for_byte_in_the_given_order(tmp_path):
    source = 'id,phone\r\n1,"13,8"\r\n2,139\n\n3,"multi\nline"'
    path = write(tmp_path, source)
    table = scan_csv(path, "phone", KeyOptions())
    out = tmp_path / "out.csv"
    write_rows(table, np.asarray([2, 0]), out)
    assert out.read_bytes() == b'id,phone\r\n3,"multi\nline"\n1,"13,8"\r\n'
    write_rows(table, np.zeros(0, dtype=np.int64), out)
    assert out.read_bytes() == b"id,phone\r\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_write_values_writes_the_normalised_keys(tmp_path):
    out = tmp_path / "values.csv"
    write_values("phone", [b"s138", b's1,"x"', b"i42"], out)
    assert out.read_text(encoding="utf-8") == 'phone\n138\n"1,""x"""\n42\n'


def test_csv_tables_join_like_value_lists(tmp_path):
    path_a = write(tmp_path, "k\n a\nb\n\nA\n", "a.csv")
    table = scan_csv(path_a, "k", KeyOptions())
    # the same keys given to the Python API (stripped by hand) give the same messages
    by_row = all_messages(table)
    assert [by_row[row] for row in sorted(by_row)] == [b"sa", b"sb", b"sA"]
    a, _ = run_pair_in_process(["a", "b", "A"], ["b"])
    assert a.rows.tolist() == [1]


# --- bad input: stable codes, line numbers, never a key ------------------------------------


def test_unknown_or_duplicated_column(tmp_path):
    path = write(tmp_path, "id,phone\n1,2\n")
    with pytest.raises(UnknownKeyColumn, match="'mobile' is not in the header") as caught:
        scan_csv(path, "mobile", KeyOptions())
    assert "'phone'" in caught.value.message  # the columns are listed
    with pytest.raises(UnknownKeyColumn, match="twice"):
        scan_csv(write(tmp_path, "k,k\n1,2\n", "dup.csv"), "k", KeyOptions())


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"k,v\n1,2\n\xff\xfe,3\n", 3),
        (b"k,v\n1,2\n3\n", 3),
        (b'k,v\n1,2\n"3"x,4\n', 3),
        (b"k,v\n1,\x002\n", 2),
        (b"", None),
    ],
    ids=["not-utf8", "field-count", "bad-quoting", "nul-byte", "empty"],
)
def test_invalid_csv_names_the_line(tmp_path, content, line):
    path = write(tmp_path, content)
    with pytest.raises(InvalidCsv) as caught:
        scan_csv(path, "k", KeyOptions())
    if line is not None:
        assert f"line {line}" in caught.value.message
    assert caught.value.code == "psi.invalid_csv"


def test_binary_file_is_invalid_csv(tmp_path):
    path = write(tmp_path, bytes(range(256)) * 4)
    with pytest.raises(InvalidCsv):
        scan_csv(path, "k", KeyOptions())


def test_mixed_types_in_an_int_column_name_the_line_not_the_value(tmp_path):
    path = write(tmp_path, "k\n1\n2\nsecret-value\n")
    with pytest.raises(MixedKeyTypes) as caught:
        scan_csv(path, "k", KeyOptions(key_type="int"))
    assert "line 4" in caught.value.message
    assert "secret-value" not in caught.value.message


def test_missing_file_and_a_file_changed_mid_run(tmp_path):
    with pytest.raises(UnreadableInput):
        scan_csv(tmp_path / "absent.csv", "k", KeyOptions())
    path = write(tmp_path, "k\n1\n2\n")
    table = scan_csv(path, "k", KeyOptions())
    path.write_text("k\n1\n2\n3\n", encoding="utf-8")
    with pytest.raises(UnreadableInput, match="changed"):
        table.messages(0, 2)


def test_output_in_a_missing_directory_fails_cleanly(tmp_path):
    with pytest.raises(OutputUnwritable):
        write_values("k", [b"s1"], tmp_path / "absent" / "out.csv")


def test_a_failure_while_writing_leaves_nothing(tmp_path):
    path = write(tmp_path, "k\n1\n")
    table = scan_csv(path, "k", KeyOptions())
    out = tmp_path / "out.csv"
    with pytest.raises(IndexError):
        write_rows(table, np.asarray([5]), out)  # an out-of-range row fails mid-write
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]
    assert os.listdir(tmp_path) == ["in.csv"]
