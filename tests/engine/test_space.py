"""Space files: the format, every validation error, catalogue building, and local runs."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from sqlalchemy.engine import make_url

from shuyu.engine.space import format_tables, load_space, read_space_text
from shuyu.errors import SourceError, SourceUnavailable, SpaceError
from shuyu.sql.catalog import INT, STRING, Grant, PolicyRule, decimal

from . import plans as p
from .databases import PG_ENV, postgres_schema, server_url, write_sqlite

PASSWORD = "Pw-s3cret-7f3a"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "bank_customers.csv").write_text(
        "id,phone,income,city\n1,13800000001,1200.50,Beijing\n2,13800000002,800.00,Shanghai\n"
        "3,13800000003,99.99,Beijing\n",
        encoding="utf-8",
    )
    (data / "bank_cards.csv").write_text("Card,Owner\nc1,1\nc2,1\nc3,3\n", encoding="utf-8")
    connection = duckdb.connect()
    connection.execute(
        "COPY (SELECT * FROM (VALUES (1, 'gold'), (2, 'basic'), (4, 'gold')) AS t(id, plan)) "
        "TO ? (FORMAT parquet)",
        [str(data / "telco.parquet")],
    )
    connection.close()
    write_sqlite(data / "shop.sqlite")
    return tmp_path


def write_space(directory: Path, text: str) -> Path:
    path = directory / "space.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


SPACE = """\
    parties:
      bank:
        tables:
          customers: {source: data/bank_customers.csv}
          cards: data/bank_cards.csv
          items: {source: data/shop.sqlite}
          labels: {source: data/shop.sqlite, table: tags}
      telco:
        tables:
          subscribers: {source: data/telco.parquet}
      analyst:
    policies:
      - {column: bank.customers.phone, to: "*", allow: [PLAINTEXT_AFTER_JOIN]}
      - column: bank.customers.income
        to: [telco, analyst]
        allow: [plaintext_after_aggregate, PLAINTEXT_AFTER_COMPARE]
        group_min_size: 10
    settings:
      group_min_size: 3
"""


def test_a_space_loads_into_a_catalogue(data_dir):
    with load_space(write_space(data_dir, SPACE)) as space:
        catalog = space.catalog
        assert catalog.parties == ["analyst", "bank", "telco"]
        assert catalog.extra_parties == ("analyst",)
        assert sorted(catalog.tables) == [
            ("bank", "cards"),
            ("bank", "customers"),
            ("bank", "items"),
            ("bank", "labels"),
            ("telco", "subscribers"),
        ]
        customers = catalog.table("bank", "customers")
        assert customers is not None and customers.rows == 3
        assert [(c.name, c.type) for c in customers.columns] == [
            ("id", INT),
            ("phone", INT),
            ("income", decimal(2)),
            ("city", STRING),
        ]
        assert catalog.settings == {"group_min_size": 3}
        income = frozenset({Grant.PLAINTEXT_AFTER_AGGREGATE, Grant.PLAINTEXT_AFTER_COMPARE})
        assert catalog.rules == [
            PolicyRule("bank", "customers", "phone", "*", frozenset({Grant.PLAINTEXT_AFTER_JOIN})),
            PolicyRule("bank", "customers", "income", "telco", income, 10),
            PolicyRule("bank", "customers", "income", "analyst", income, 10),
        ]
        assert catalog.grants("bank", "customers", "income", "analyst") == income
        assert catalog.grants("bank", "customers", "city", "telco") == {Grant.ENCRYPTED_ONLY}
        # One DuckDB for the bank's files, one SQLite file opened once for two tables.
        assert space.source("bank", "customers") is space.source("bank", "cards")
        assert space.source("bank", "items") is space.source("bank", "labels")
        assert space.source_tables[("bank", "labels")] == "tags"
        assert space.source("telco", "subscribers") is not space.source("bank", "customers")
        listing = format_tables(catalog)
        assert "bank.customers  (about 3 rows, from " in listing
        assert "  income  DECIMAL(*,2)" in listing
        assert "bank.labels  (about 6 rows, from " in listing and "(tags)" in listing


def test_same_party_sub_plans_run_inside_their_source(data_dir):
    with load_space(write_space(data_dir, SPACE)) as space:
        customers = p.scan("bank", "customers", "c", [("id", INT), ("income", decimal(2))])
        cards = p.scan("bank", "cards", "k", [("card", STRING), ("owner", INT)])
        joined = p.join(
            customers, cards, "inner", [(p.col(customers, "c.id"), p.col(cards, "k.owner"))]
        )
        total = p.aggregate(
            joined,
            [("id", p.col(joined, "c.id"))],
            [("cards", p.agg("COUNT")), ("income", p.agg("SUM", p.col(joined, "c.income")))],
        )
        assert space.pushdown_source(total) is space.source("bank", "customers")
        result = space.run_local(total)
        assert list(result.columns) == ["id", "cards", "income"]
        rows = sorted(zip(*(c.to_python() for c in result.columns.values()), strict=True))
        assert rows == [(1, 2, Decimal("2401.00")), (3, 1, Decimal("99.99"))]
        source, sql = space.local_sql(total)
        assert source.dialect == "duckdb" and '"customers"' in sql
        telco = p.scan("telco", "subscribers", "s", [("id", INT)])
        items = p.scan("bank", "items", "i", [("id", INT)])
        cross_party = p.join(
            customers, telco, "inner", [(p.col(customers, "c.id"), p.col(telco, "s.id"))]
        )
        two_sources = p.join(
            customers, items, "inner", [(p.col(customers, "c.id"), p.col(items, "i.id"))]
        )
        assert space.pushdown_source(cross_party) is None
        assert space.pushdown_source(two_sources) is None
        with pytest.raises(SpaceError, match="more than one source"):
            space.run_local(cross_party)


def test_database_urls_take_passwords_from_the_environment(tmp_path):
    with postgres_schema() as (url, schema):
        secret_url = make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)
        path = write_space(
            tmp_path,
            f"""\
            parties:
              shop:
                tables:
                  items: {{source: "${{SHOP_DB}}", table: {schema}.items}}
            policies:
              - {{column: shop.items.unit-price, to: "*", allow: [PLAINTEXT]}}
            """,
        )
        with load_space(path, env={"SHOP_DB": secret_url}) as space:
            table = space.catalog.table("shop", "items")
            assert table is not None and table.rows == 8
            assert PASSWORD not in table.source and "***" in table.source
            scan = p.scan("shop", "items", "i", [("unit-price", decimal(2)), ("客户", STRING)])
            top = p.limit(p.sort(scan, (p.col(scan, "i.unit-price"), True)), 1)
            result = space.run_local(top)
            assert result.columns["i.unit-price"].to_python() == [Decimal("10.00")]
        with pytest.raises(SpaceError, match=r"items\.source.*SHOP_DB is not set"):
            load_space(path, env={})


def test_an_unreachable_database_names_the_table_and_hides_the_password(tmp_path):
    path = write_space(
        tmp_path,
        f"""\
        parties:
          bank:
            tables:
              loans: {{source: "postgresql://analyst:{PASSWORD}@127.0.0.1:1/bank", table: loans}}
        """,
    )
    with pytest.raises(SourceUnavailable) as raised:
        load_space(path, connect_timeout_s=2)
    assert raised.value.message.startswith("parties.bank.tables.loans: cannot connect to ")
    assert "analyst:***@127.0.0.1:1/bank" in raised.value.message
    assert PASSWORD not in str(raised.value) and PASSWORD not in raised.value.hint


def test_missing_files_and_tables_name_the_key(data_dir):
    missing = write_space(data_dir, "parties: {bank: {tables: {loans: {source: data/loans.csv}}}}")
    with pytest.raises(
        SourceUnavailable, match=r"^.*parties\.bank\.tables\.loans: data file .*loans\.csv"
    ):
        load_space(missing)
    no_table = write_space(
        data_dir, "parties: {bank: {tables: {loans: {source: data/shop.sqlite, table: loans}}}}"
    )
    with pytest.raises(SourceError, match=r"parties\.bank\.tables\.loans: no table loans"):
        load_space(no_table)
    with pytest.raises(SpaceError, match="does not exist"):
        load_space(data_dir / "nowhere.yaml")


def test_policy_naming_an_unknown_column_suggests_one(data_dir):
    text = SPACE.replace("bank.customers.income", "bank.customers.incme", 1)
    with pytest.raises(SpaceError) as raised:
        load_space(write_space(data_dir, text))
    assert "policies[1].column" in raised.value.message
    assert "no column 'incme'; did you mean 'income'?" in raised.value.message


ONE = "parties: {bank: {tables: {t: a.csv}}}\n"
TWO = "parties: {bank: {tables: {t: a.csv}}, telco: }\n"
LOANS = "parties: {bank: {tables: {loans: %s}}}"
INVALID = {
    "not YAML": ("parties: {bank: [unclosed", "not valid YAML at line 1"),
    "empty": ("", "the file is empty"),
    "no parties": ("settings: {group_min_size: 5}", "no 'parties' section"),
    "unknown top-level key": (
        "partys: {}",
        "at partys: unknown key 'partys'; did you mean 'parties'?",
    ),
    "parties not a mapping": ("parties: [bank]", "at parties: expected a mapping"),
    "bad party name": ("parties: {Bank_A: {tables: {}}}", "at parties.Bank_A: invalid party name"),
    "unknown party key": (
        "parties: {bank: {table: {}}}",
        "at parties.bank.table: unknown key 'table'; did you mean 'tables'?",
    ),
    "bad table name": (
        "parties: {bank: {tables: {Loans: a.csv}}}",
        "at parties.bank.tables.Loans: invalid table name",
    ),
    "unknown table key": (
        LOANS % "{sorce: a.csv}",
        "at parties.bank.tables.loans.sorce: unknown key 'sorce'; did you mean 'source'?",
    ),
    "no source": (
        LOANS % "{table: x}",
        "at parties.bank.tables.loans.source: expected a file path",
    ),
    "unknown kind of source": (
        LOANS % "{source: loans.xlsx}",
        "at parties.bank.tables.loans.source: cannot tell what kind of source",
    ),
    "table key for a file": (
        LOANS % "{source: a.csv, table: x}",
        "at parties.bank.tables.loans.table: a CSV or Parquet file is one table",
    ),
    "duplicate key": (
        "parties:\n  bank: {}\n  bank: {}\n",
        "the key 'bank' appears twice in one mapping (line 3, column 3)",
    ),
    "policies not a list": (ONE + "policies: {column: x}", "at policies: expected a list"),
    "policy without allow": (
        ONE + "policies: [{column: bank.t.c, to: '*'}]",
        "at policies[0]: missing 'allow'",
    ),
    "policy column not dotted": (
        ONE + "policies: [{column: bank.t, to: '*', allow: [PLAINTEXT]}]",
        "at policies[0].column: expected party.table.column",
    ),
    "policy unknown party": (
        ONE + "policies: [{column: bnak.t.c, to: '*', allow: [PLAINTEXT]}]",
        "at policies[0].column: unknown party 'bnak'; did you mean 'bank'?",
    ),
    "policy unknown table": (
        ONE + "policies: [{column: bank.u.c, to: '*', allow: [PLAINTEXT]}]",
        "at policies[0].column: party bank has no table 'u' (known: t)",
    ),
    "policy unknown receiver": (
        TWO + "policies: [{column: bank.t.c, to: telcom, allow: [PLAINTEXT]}]",
        "at policies[0].to: unknown party 'telcom'; did you mean 'telco'?",
    ),
    "policy unknown grant": (
        ONE + "policies: [{column: bank.t.c, to: '*', allow: [PLAINTEXT_AFTER_LUNCH]}]",
        "at policies[0].allow: unknown grant 'PLAINTEXT_AFTER_LUNCH'",
    ),
    "policy unknown key": (
        ONE + "policies: [{column: bank.t.c, to: '*', allow: [PLAINTEXT], k: 5}]",
        "at policies[0].k: unknown key 'k'",
    ),
    "policy bad group size": (
        ONE + "policies: [{column: bank.t.c, to: '*', allow: [PLAINTEXT], group_min_size: 0}]",
        "at policies[0].group_min_size: expected an integer of at least 1, got 0",
    ),
    "setting too small": (
        ONE + "settings: {group_min_size: 0}",
        "at settings.group_min_size: expected an integer of at least 1, got 0",
    ),
    "setting not a number": (
        ONE + "settings: {group_min_size: five}",
        "at settings.group_min_size: expected an integer of at least 1, got 'five'",
    ),
    "setting a boolean": (ONE + "settings: {group_min_size: true}", "got True"),
    "unknown setting": (
        ONE + "settings: {group_size: 5}",
        "at settings.group_size: unknown key 'group_size'; did you mean 'group_min_size'?",
    ),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_space_files_name_the_key(case):
    text, expected = INVALID[case]
    with pytest.raises(SpaceError) as raised:
        read_space_text(text, name="space.yaml")
    assert raised.value.code == "space.invalid"
    assert raised.value.message.startswith("space"), raised.value.message
    assert expected in raised.value.message, raised.value.message
    assert raised.value.hint


def test_defaults_and_shorthands():
    spec = read_space_text(
        "parties:\n  bank:\n    tables:\n      loans: loans.parquet\n  analyst:\n"
    )
    assert spec.parties == ("bank", "analyst")
    assert spec.tables[("bank", "loans")].source == "loans.parquet"
    assert spec.settings == {"group_min_size": 5}
    assert spec.policies == ()


def test_server_tests_skip_naming_the_variable(monkeypatch):
    # Guards the reason the server tests give when the variable is missing.
    monkeypatch.delenv(PG_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{PG_ENV} is not set"):
        server_url(PG_ENV)
