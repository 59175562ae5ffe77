"""``kequn adapt berka``: the PKDD'99 Czech bank data set, in the contract's shape.

What a mapping cannot express is done here, in DuckDB: gender and birth date
from ``birth_number`` (women have 50 added to the month), the owner of each
account from ``disp``, signed amounts from ``type``, a balance per account from
its latest transaction, the outstanding amount of each loan, a product shelf
from the account frequencies, loan durations and card types, and tags from
standing orders. Everything else — Berka's YYMMDD dates, its Czech code words,
the currency — is translated at ingest by ``berka_mapping.toml``.

Amounts stay in Czech koruna (CZK), recorded as such; the playbook converts
them to CNY at a stated rate. Berka has no staff and no consents: those files
are written with their header only.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path

import duckdb

from kequn.contract import TABLES
from kequn.core.errors import InputError
from kequn.ingest.sql import literal

AS_OF = date(1998, 12, 31)  # the last date in the data set
MAPPING_FILE = "mapping.toml"
#: why `kequn adapt berka --into` publishes the real data beyond the default limits
BERKA_ACCEPTED = (
    "the public Berka data set's own defects (12.7% of its transactions are unusable; see the README)"
)
REPORT_FILE = "adapt_report.json"
SOURCES = (
    "account.asc",
    "client.asc",
    "disp.asc",
    "district.asc",
    "loan.asc",
    "card.asc",
    "order.asc",
    "trans_partial_first_49102_rows.asc",
    "mostlyai_transaction_sample.csv",
)
UNUSED = {
    "mostlyai_account.csv": "the same 4,500 accounts as account.asc, in another format",
    "mostlyai_client.csv": "the same 5,369 clients as client.asc, in another format",
}
REGIONS = (
    "Prague",
    "central Bohemia",
    "south Bohemia",
    "west Bohemia",
    "north Bohemia",
    "east Bohemia",
    "south Moravia",
    "north Moravia",
)


@dataclass
class SourceUse:
    file: str
    rows: int
    becomes: str
    note: str = ""


@dataclass
class AdaptReport:
    source: str
    out: str
    as_of: str
    currency: str = "CZK"
    sources: list[SourceUse] = field(default_factory=list)


def _read(con: duckdb.DuckDBPyConnection, name: str, path: Path, delim: str = ";") -> int:
    with open(path, encoding="ascii", newline="") as fh:
        header = [h.strip().strip('"') for h in fh.readline().strip().split(delim)]
    cols = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in header) + "}"
    con.execute(f"""
        CREATE TABLE {name} AS SELECT * FROM read_csv({literal(str(path))}, delim = {literal(delim)},
            quote = '"', header = true, auto_detect = false, columns = {cols})""")
    return con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # type: ignore[index]


def _write(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({query}) TO {literal(str(path))} (HEADER, DELIMITER ',')")
    return con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]  # type: ignore[index]


def adapt_berka(src: Path, out: Path) -> AdaptReport:
    src, out = Path(src), Path(out)
    for name in SOURCES:
        if not (src / name).is_file():
            raise InputError(src / name, "missing from the Berka folder")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    report = AdaptReport(source=str(src.resolve()), out=str(out.resolve()), as_of=AS_OF.isoformat())
    con = duckdb.connect()
    try:
        counts = {
            "account": _read(con, "account", src / "account.asc"),
            "client": _read(con, "client", src / "client.asc"),
            "disp": _read(con, "disp", src / "disp.asc"),
            "district": _read(con, "district", src / "district.asc"),
            "loan": _read(con, "loan", src / "loan.asc"),
            "card": _read(con, "card", src / "card.asc"),
            "orders": _read(con, "orders", src / "order.asc"),
            "trans_a": _read(con, "trans_a", src / "trans_partial_first_49102_rows.asc"),
            "trans_b": _read(con, "trans_b", src / "mostlyai_transaction_sample.csv", ","),
        }
        con.execute("""
            CREATE VIEW owner AS SELECT account_id, client_id FROM disp WHERE type = 'OWNER';
            CREATE VIEW trans AS
                SELECT trans_id, account_id, "date", "type", operation, amount, balance,
                       k_symbol, bank, 1 AS src FROM trans_a
                UNION ALL
                SELECT transaction_id, account_id,
                       strftime(CAST("date" AS DATE), '%y%m%d'), "type", operation, amount,
                       balance, k_symbol, bank, 2 FROM trans_b;
        """)
        region_rows = " UNION ALL ".join(
            f"SELECT 'R{i + 1}', {literal(r)}, 'HQ', 'branch', {literal(r)}" for i, r in enumerate(REGIONS)
        )
        n = _write(
            con,
            f"""
            SELECT 'HQ' AS branch_id, 'Berka bank (PKDD''99), head office' AS name,
                   NULL AS parent_id, 'head_office' AS level, 'Prague' AS city
            UNION ALL {region_rows}
            UNION ALL
            SELECT d.A1, d.A2, 'R' || (list_position({list(REGIONS)}, d.A3)), 'outlet', d.A2
            FROM district d""",
            out / "branches.csv",
        )
        report.sources.append(
            SourceUse(
                "district.asc",
                counts["district"],
                "branches",
                f"{n} branches: the 77 districts as outlets under their 8 regions and a head office",
            )
        )
        _write(
            con,
            "SELECT * FROM (VALUES (NULL, NULL, NULL, NULL)) t(manager_id, name, "
            "branch_id, role) WHERE false",
            out / "managers.csv",
        )
        _write(
            con,
            "SELECT * FROM (VALUES (NULL, NULL, NULL, NULL)) t(customer_id, purpose, "
            "granted, ts) WHERE false",
            out / "consents.csv",
        )

        con.execute("""
            CREATE TABLE tags AS
            SELECT client_id, string_agg(DISTINCT tag, ';' ORDER BY tag) AS tags FROM (
                SELECT d.client_id, 'disponent' AS tag FROM disp d WHERE d.type = 'DISPONENT'
                UNION ALL
                SELECT o.client_id, 'standing_order:' || trim(r.k_symbol)
                FROM orders r JOIN owner o USING (account_id) WHERE trim(r.k_symbol) <> ''
                UNION ALL
                SELECT o.client_id, 'loan_status:' || l.status
                FROM loan l JOIN owner o USING (account_id))
            GROUP BY client_id""")
        _write(
            con,
            """
            WITH parts AS (
                SELECT client_id, district_id, CAST(substr(birth_number, 3, 2) AS INTEGER) AS mm,
                       birth_number FROM client)
            SELECT c.client_id, NULL AS name, NULL AS id_number, NULL AS phone,
                   CASE WHEN mm > 50 THEN 'F' ELSE 'M' END AS gender,
                   strftime(make_date(1900 + CAST(substr(birth_number, 1, 2) AS INTEGER),
                                      CASE WHEN mm > 50 THEN mm - 50 ELSE mm END,
                                      CAST(substr(birth_number, 5, 2) AS INTEGER)), '%Y-%m-%d')
                       AS birth_date,
                   c.district_id,
                   (SELECT min(a."date") FROM disp d JOIN account a USING (account_id)
                    WHERE d.client_id = c.client_id) AS open_date,
                   t.tags
            FROM parts c LEFT JOIN tags t USING (client_id)
            ORDER BY CAST(c.client_id AS INTEGER)""",
            out / "customers.csv",
        )
        report.sources.append(
            SourceUse(
                "client.asc",
                counts["client"],
                "customers",
                "gender and birth date from birth_number; opened on the first account's date",
            )
        )
        report.sources.append(
            SourceUse(
                "disp.asc",
                counts["disp"],
                "(links)",
                "OWNER rows give each account its customer; DISPONENT rows become the tag 'disponent'",
            )
        )
        report.sources.append(
            SourceUse(
                "order.asc",
                counts["orders"],
                "(customer tags)",
                "standing orders become tags such as 'standing_order:SIPO' on the account owner",
            )
        )

        _write(
            con,
            """
            SELECT * FROM (VALUES
              ('ACC-MONTHLY', 'Current account, monthly statement', 'demand_deposit', 'R1',
               'cash', 'T0', NULL),
              ('ACC-WEEKLY', 'Current account, weekly statement', 'demand_deposit', 'R1', 'cash',
               'T0', NULL),
              ('ACC-PER-TXN', 'Current account, statement after each transaction',
               'demand_deposit', 'R1', 'cash', 'T0', NULL),
              ('LOAN-12', 'Loan, 12 months', 'loan', 'R1', 'liability', 'T0', 365),
              ('LOAN-24', 'Loan, 24 months', 'loan', 'R1', 'liability', 'T0', 730),
              ('LOAN-36', 'Loan, 36 months', 'loan', 'R1', 'liability', 'T0', 1095),
              ('LOAN-48', 'Loan, 48 months', 'loan', 'R1', 'liability', 'T0', 1461),
              ('LOAN-60', 'Loan, 60 months', 'loan', 'R1', 'liability', 'T0', 1826),
              ('CARD-junior', 'Junior card', 'credit_card', 'R1', 'liability', 'T0', NULL),
              ('CARD-classic', 'Classic card', 'credit_card', 'R1', 'liability', 'T0', NULL),
              ('CARD-gold', 'Gold card', 'credit_card', 'R1', 'liability', 'T0', NULL))
            t(product_id, name, type, risk_level, asset_class, liquidity, term_days)""",
            out / "products.csv",
        )

        _write(
            con,
            """
            WITH last AS (
                SELECT account_id, arg_max(balance, (CAST("date" AS INTEGER), src,
                                                     CAST(trans_id AS BIGINT))) AS balance
                FROM trans GROUP BY account_id)
            SELECT 'A' || a.account_id AS account_id, o.client_id AS customer_id,
                   CASE a.frequency WHEN 'POPLATEK MESICNE' THEN 'ACC-MONTHLY'
                        WHEN 'POPLATEK TYDNE' THEN 'ACC-WEEKLY'
                        WHEN 'POPLATEK PO OBRATU' THEN 'ACC-PER-TXN'
                        ELSE a.frequency END AS product_id,
                   l.balance, a."date" AS open_date, NULL AS maturity_date
            FROM account a LEFT JOIN owner o USING (account_id) LEFT JOIN last l USING (account_id)
            ORDER BY CAST(a.account_id AS INTEGER)""",
            out / "holdings" / "accounts.csv",
        )
        report.sources.append(
            SourceUse(
                "account.asc",
                counts["account"],
                "holdings/accounts.csv",
                "a current account per row; balance from its latest transaction in either transaction file",
            )
        )
        _write(
            con,
            f"""
            WITH l AS (
                SELECT *, strptime("date", '%y%m%d')::DATE AS d,
                       CAST(duration AS INTEGER) AS months FROM loan)
            SELECT 'L' || l.loan_id AS account_id, o.client_id AS customer_id,
                   'LOAN-' || l.duration AS product_id,
                   greatest(0, CAST(l.amount AS DECIMAL(18,2)) - CAST(l.payments AS DECIMAL(18,2))
                       * least(l.months, date_diff('month', l.d, DATE '{AS_OF}')))
                       AS balance,
                   l."date" AS open_date,
                   strftime(l.d + to_months(l.months), '%y%m%d') AS maturity_date
            FROM l LEFT JOIN owner o USING (account_id)
            ORDER BY CAST(l.loan_id AS INTEGER)""",
            out / "holdings" / "loans.csv",
        )
        report.sources.append(
            SourceUse(
                "loan.asc",
                counts["loan"],
                "holdings/loans.csv",
                f"outstanding = amount - monthly payment x months elapsed to {AS_OF}",
            )
        )
        _write(
            con,
            """
            SELECT 'K' || c.card_id AS account_id, d.client_id AS customer_id,
                   'CARD-' || c.type AS product_id, 0 AS balance,
                   substr(c.issued, 1, 6) AS open_date, NULL AS maturity_date
            FROM card c LEFT JOIN disp d USING (disp_id)
            ORDER BY CAST(c.card_id AS INTEGER)""",
            out / "holdings" / "cards.csv",
        )
        report.sources.append(
            SourceUse(
                "card.asc",
                counts["card"],
                "holdings/cards.csv",
                "a card per row, held by the disposition's client",
            )
        )

        for src_id, name, label in (
            (1, "part-1-trans_partial.csv", "trans_partial_first_49102_rows.asc"),
            (2, "part-2-mostlyai_sample.csv", "mostlyai_transaction_sample.csv"),
        ):
            _write(
                con,
                f"""
                SELECT t.trans_id, o.client_id AS customer_id, 'A' || t.account_id AS account_id,
                       t."date",
                       CASE WHEN t."type" = 'PRIJEM' THEN 1 ELSE -1 END
                           * CAST(t.amount AS DECIMAL(18,2)) AS amount,
                       coalesce(NULLIF(trim(t.k_symbol), ''), NULLIF(trim(t.operation), ''))
                           AS code,
                       CASE WHEN t.operation IN ('VKLAD', 'VYBER', 'VYBER KARTOU')
                            THEN t.operation END AS operation,
                       NULLIF(trim(t.bank), '') AS bank
                FROM trans t LEFT JOIN owner o USING (account_id)
                WHERE t.src = {src_id}""",
                out / "transactions" / name,
            )
            report.sources.append(
                SourceUse(
                    label,
                    counts["trans_a" if src_id == 1 else "trans_b"],
                    f"transactions/{name}",
                    "signed by type (PRIJEM credit; VYDAJ, VYBER debit); type from k_symbol, else operation",
                )
            )
        for name, why in UNUSED.items():
            if (src / name).is_file():
                with open(src / name, encoding="ascii") as fh:
                    rows = sum(1 for _ in fh) - 1
                report.sources.append(SourceUse(name, rows, "(not used)", why))
    finally:
        con.close()
    mapping = resources.files("kequn.adapters").joinpath("berka_mapping.toml").read_text(encoding="utf-8")
    (out / MAPPING_FILE).write_text(mapping, encoding="utf-8")
    (out / "extract.json").write_text(
        json.dumps(
            {
                "bank": "Berka / PKDD'99",
                "as_of": AS_OF.isoformat(),
                "generator": "kequn adapt berka",
                "currency": "CZK",
                "contract_tables": list(TABLES),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    (out / REPORT_FILE).write_text(
        json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return report
