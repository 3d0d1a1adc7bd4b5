"""Documentation stays complete: every error code and every setting is documented.

Adding an error code or a setting without documenting it fails here, and so does documenting
one that does not exist, or a status, type, default or variable that disagrees with the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shuyu.config import iter_settings
from shuyu.errors import all_error_codes

DOCS = Path(__file__).resolve().parent.parent / "docs"
CODE_LIKE = re.compile(r"`([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)`")


def table_rows(path: Path) -> list[list[str]]:
    """The cells of every Markdown table row in ``path`` (header and separator rows included)."""
    rows = []
    for raw_line in path.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if line.startswith("|") and line.endswith("|"):
            rows.append([cell.strip() for cell in line[1:-1].split("|")])
    return rows


def keyed_rows(path: Path) -> dict[str, list[str]]:
    """Rows whose first cell is a single code-looking name in backticks, keyed by that name."""
    rows: dict[str, list[str]] = {}
    for cells in table_rows(path):
        match = CODE_LIKE.fullmatch(cells[0])
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is listed twice in {path.name}"
            rows[match.group(1)] = cells
    return rows


ERROR_ROWS = keyed_rows(DOCS / "errors.md")
SETTING_ROWS = keyed_rows(DOCS / "configuration.md")


def test_the_tables_were_found():
    # Guards the parsers: an empty parse would make every "documented" check vacuous.
    assert len(ERROR_ROWS) > 10
    assert len(SETTING_ROWS) >= 5


@pytest.mark.parametrize(("code", "cls"), sorted(all_error_codes().items()))
def test_every_error_code_is_documented(code, cls):
    assert code in ERROR_ROWS, f"error code {code} is missing from docs/errors.md"
    cells = ERROR_ROWS[code]
    assert cells[1] == str(cls.status), f"docs/errors.md gives {code} status {cells[1]}"
    assert all(cell for cell in cells), f"docs/errors.md has an empty cell for {code}"


def test_every_documented_error_code_exists():
    unknown = sorted(set(ERROR_ROWS) - set(all_error_codes()))
    assert not unknown, f"docs/errors.md documents codes that do not exist: {unknown}"


def test_errors_doc_has_a_chinese_gloss_for_every_code():
    for code, cells in ERROR_ROWS.items():
        assert any(re.search(r"[\u4e00-\u9fff]", cell) for cell in cells), code


@pytest.mark.parametrize("info", list(iter_settings()), ids=lambda info: info.name)
def test_every_setting_is_documented(info):
    assert info.name in SETTING_ROWS, f"setting {info.name} is missing from docs/configuration.md"
    _, kind, default, env, *_ = SETTING_ROWS[info.name]
    assert kind == info.type.__name__, f"{info.name}: documented type {kind}"
    assert default == f"`{info.default}`", f"{info.name}: documented default {default}"
    assert env == f"`{info.env}`", f"{info.name}: documented variable {env}"


def test_every_documented_setting_exists():
    unknown = sorted(set(SETTING_ROWS) - {info.name for info in iter_settings()})
    assert not unknown, f"docs/configuration.md documents settings that do not exist: {unknown}"


def test_configuration_doc_explains_precedence():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    order = [
        text.index(word)
        for word in ("**Defaults**", "**A TOML file**", "**Environment", "**Flags**")
    ]
    assert order == sorted(order)


def test_identity_doc_names_every_file_and_context_rule():
    text = (DOCS / "identity.md").read_text(encoding="utf-8")
    for needle in (
        "ca.pem",
        "ca-key.pem",
        "NAME.pem",
        "NAME-key.pem",
        "0600",
        "0700",
        "TLS 1.3",
        "num_tickets = 0",
        "CERT_REQUIRED",
        "check_hostname",
    ):
        assert needle in text, needle
