import csv
import hashlib
import json
from pathlib import Path

import pytest

from kequn import warehouse
from kequn.contract.idcard import problem
from kequn.synth.people import BAND_LINES

from .conftest import AS_OF, make_bank


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.csv"))}


def test_same_seed_same_bank_other_seed_other_bank(tmp_path: Path, bank_dir: Path) -> None:
    again = make_bank(tmp_path, "again")
    other = make_bank(tmp_path, "other", seed=8)
    assert _digests(again) == _digests(bank_dir)
    assert _digests(other)["customers.csv"] != _digests(bank_dir)["customers.csv"]


def test_extract_metadata_records_the_run(bank_dir: Path) -> None:
    meta = json.loads((bank_dir / "extract.json").read_text(encoding="utf-8"))
    assert meta["as_of"] == AS_OF.isoformat()
    assert meta["seed"] == 7
    assert meta["rows"]["customers"] == 2000
    with open(bank_dir / "customers.csv", encoding="utf-8") as fh:
        assert sum(1 for _ in fh) - 1 == meta["rows"]["customers"]


def test_customers_look_like_a_shanxi_bank(bank_dir: Path) -> None:
    with open(bank_dir / "customers.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len({r["customer_id"] for r in rows}) == len(rows)
    ids = [r["id_number"] for r in rows]
    assert all(problem(i) is None for i in ids)
    shanxi = sum(i.startswith("14") for i in ids) / len(ids)
    assert 0.7 < shanxi < 0.95, shanxi  # most are local; new citizens come from elsewhere
    assert all(r["birth_date"].replace("-", "") == r["id_number"][6:14] for r in rows)
    assert all(("M" if int(r["id_number"][16]) % 2 else "F") == r["gender"] for r in rows)
    unowned = sum(not r["owner_manager_id"] for r in rows) / len(rows)
    assert 0.2 < unowned < 0.6
    expired = [
        r
        for r in rows
        if r["risk_assessed_on"]
        and (AS_OF - __import__("datetime").date.fromisoformat(r["risk_assessed_on"])).days > 365
    ]
    assert 0.1 < len(expired) / len(rows) < 0.4
    assert {r["risk_level"] for r in rows} >= {"C1", "C2", "C3", "C4", "C5", ""}


def test_aum_is_heavy_tailed_like_a_real_bank(bank_store: Path) -> None:
    con = warehouse.reader(bank_store, "all")
    shares = con.execute(f"""
        WITH aum AS (
            SELECT c.customer_id, coalesce(sum(h.balance) FILTER (
                WHERE p.asset_class <> 'liability'), 0) AS aum
            FROM customers c LEFT JOIN holdings h USING (customer_id)
            LEFT JOIN products p USING (product_id) GROUP BY 1)
        SELECT avg((aum < {BAND_LINES[0]})::INT), avg((aum >= {BAND_LINES[3]})::INT),
               max(aum) / median(aum)
        FROM aum""").fetchone()
    assert shares is not None
    mass, private, spread = shares
    assert 0.6 < mass < 0.85  # most customers hold under 5万
    assert 0 < private < 0.02  # a few per thousand are private-banking customers
    assert spread > 500


def test_transactions_cover_the_behaviours_triggers_need(bank_store: Path) -> None:
    con = warehouse.reader(bank_store, "all")
    kinds = dict(con.execute("SELECT type, count(*) FROM transactions GROUP BY 1").fetchall())
    for kind in (
        "salary",
        "pension",
        "card_spend",
        "bill_payment",
        "transfer_out",
        "cash_withdrawal",
        "interest",
        "card_repayment",
    ):
        assert kinds.get(kind, 0) > 0, kind
    same_name_out = con.execute(
        "SELECT count(*) FROM transactions WHERE type = 'transfer_out' "
        "AND same_name AND counterparty_bank IS NOT NULL"
    ).fetchone()
    assert same_name_out and same_name_out[0] > 0
    green = con.execute(
        "SELECT count(DISTINCT merchant_category) FROM transactions WHERE "
        "merchant_category IN ('4131','4111','4112','4789','5552','4784')"
    ).fetchone()
    assert green and green[0] == 6
    months = con.execute("SELECT min(ts)::DATE, max(ts)::DATE FROM transactions").fetchone()
    assert months and months[1] <= AS_OF and (AS_OF - months[0]).days >= 85


def test_gbk_output_is_gbk(tmp_path: Path) -> None:
    folder = make_bank(tmp_path, "gbk", customers=200, encoding="gbk")
    raw = (folder / "customers.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "晋阳" in (folder / "branches.csv").read_bytes().decode("gbk")


def test_refuses_to_overwrite_a_folder_that_is_not_an_extract(tmp_path: Path) -> None:
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        make_bank(tmp_path, "precious", customers=10)
    assert (tmp_path / "precious" / "notes.txt").exists()


def test_nights_made_from_memory_are_the_nights_made_from_their_files(tmp_path: Path, bank_dir: Path) -> None:
    """The month's generator keeps each night's tables for the next; the files it
    writes must be those made by reading every previous night back from disk."""
    from kequn.synth.nightly import next_night

    from_disk, from_memory = tmp_path / "disk", tmp_path / "memory"
    last = None
    for n in range(1, 4):
        next_night(bank_dir if n == 1 else from_disk / str(n - 1), from_disk / str(n))
        last = next_night(
            bank_dir if n == 1 else from_memory / str(n - 1), from_memory / str(n), after=last, keep=n < 3
        )
        assert (last.tables is not None) == (n < 3)
        assert _digests(from_memory / str(n)) == _digests(from_disk / str(n)), f"night {n}"
        made = json.loads((from_disk / str(n) / "extract.json").read_text(encoding="utf-8"))
        assert made == json.loads((from_memory / str(n) / "extract.json").read_text(encoding="utf-8"))
    assert made["night"] == 3 and made["dirty"]
