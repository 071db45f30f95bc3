"""The yearly DAC7 report from the ledger (issue 18), on the fakes: who is reportable, who is
excluded and why, what is still missing, and the DPI file written once to the tax-reports bucket,
valid against the schema, carrying the numbers the summary never shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.cloud_storage import InMemoryObjectStore
from shared.adapters.documents.document_store import BucketDocuments
from shared.adapters.documents.dpi_xml import build_dpi_xml, dpi_file_name, validate_dpi_xml
from shared.adapters.fx_rates import fixed_table_source
from shared.domain.dac7 import Address, Dac7Error, Exclusion, PlatformOperator, report_summary
from shared.usecases.dac7 import Dac7NotConfigured, Dac7Reporting
from tests.unit.usecases.conftest import make_world

YEAR = 2026
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
SOLD = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # Q1, and 40 days later still Q1
OPERATOR = PlatformOperator(
    "Seller Payouts Marketplace SAS",
    "Seller Payouts Marketplace",
    "FR",
    "732829320",
    Address("FR", "Paris", "10 rue de la Paix", post_code="75002"),
)
CAMILLE = {
    "kind": "individual",
    "address": {"country": "FR", "city": "Lyon", "street": "12 rue Mercière", "post_code": "69002"},
    "first_name": "Camille",
    "last_name": "Martin",
    "birth_date": "1985-07-30",
}
REFURB_GMBH = {
    "kind": "entity",
    "address": {"country": "DE", "city": "Berlin", "street": "Unter den Linden 1", "post_code": "10117"},
    "legal_name": "Refurb GmbH",
    "business_registration_number": "HRB 12345",
    "vat_number": "DE136695976",
}


def render(report, declaration, timestamp, test):
    data = build_dpi_xml(report, declaration=declaration, timestamp=timestamp, test=test)
    return dpi_file_name(report, declaration=declaration, timestamp=timestamp), data


def sell(world, seller_id, n, gross, currency="EUR", at=SOLD):
    for i in range(n):
        money = {
            "gross": {"amount": gross, "currency": currency},
            "commission": {"amount": gross // 10, "currency": currency},
        }
        world.event(seller_id, "paid", money, f"{seller_id}-ol-{i}", at=at + timedelta(days=i))


@pytest.fixture
def world():
    w = make_world()
    w.seller("s-camille", "FR", 1, dac7=CAMILLE, tax_id={"country": "FR", "number": "3023217600053"})
    sell(w, "s-camille", 31, 2599)  # 31 sales: reportable, whatever the amount
    w.seller("s-refurb", "DE", 2, dac7=REFURB_GMBH, tax_id={"country": "DE", "number": "181/815/08155"})
    sell(w, "s-refurb", 2, 150_000)  # 2 sales, EUR 2,700 after commission: reportable on amount
    w.seller("s-occasional", "FR", 3, dac7=CAMILLE | {"first_name": "Lou"})
    sell(w, "s-occasional", 2, 5000)  # de minimis
    w.seller("s-uk", "GB", 4)
    sell(w, "s-uk", 40, 1000, "GBP")  # not resident in a Member State
    w.seller(
        "s-pl",
        "PL",
        5,
        dac7=CAMILLE | {"address": {"country": "PL", "city": "Kraków"}},
        tax_id={"country": "PL", "number": "44051401359"},
    )
    sell(w, "s-pl", 3, 400_000, "PLN")  # PLN 10,800 ≈ EUR 2,548: reportable, through the rate
    w.seller("s-quiet", "FR", 6)  # sold nothing this year: not in the report at all
    return w


def reporting(world, operator=OPERATOR, rates=True):
    source = fixed_table_source(max_age=timedelta(days=3650)) if rates else None
    return Dac7Reporting(world.store, operator, source, page_size=2)


def test_every_seller_who_sold_is_reportable_or_excluded_with_its_reason(world):
    report = reporting(world).report(YEAR, NOW)
    assert sorted(s.identity.seller_id for s in report.reportable) == ["s-camille", "s-pl", "s-refurb"]
    assert {e.seller_id: e.reason for e in report.excluded} == {
        "s-occasional": Exclusion.DE_MINIMIS,
        "s-uk": Exclusion.NOT_EU_RESIDENT,
    }
    camille = next(s for s in report.reportable if s.identity.seller_id == "s-camille")
    assert camille.figures.activities == (31, 0, 0, 0)
    assert camille.figures.consideration[0] == 31 * (2599 - 259)
    assert camille.figures.fees[0] == 31 * 259
    assert camille.gaps == ()
    refurb = next(s for s in report.reportable if s.identity.seller_id == "s-refurb")
    assert refurb.identity.legal_name == "Refurb GmbH" and refurb.identity.tins[0].country == "DE"


def test_a_sale_refunded_in_full_is_no_activity(world):
    world.event(
        "s-camille",
        "refunded",
        {"refund_id": "r-1", "amount": {"amount": 2599, "currency": "EUR"}},
        "s-camille-ol-0",
        at=SOLD + timedelta(days=40),
    )
    camille = next(
        s for s in reporting(world).report(YEAR, NOW).reportable if s.identity.seller_id == "s-camille"
    )
    assert camille.figures.activities == (30, 0, 0, 0)


def test_the_summary_masks_tins_and_accounts_and_the_file_carries_them(world):
    svc = reporting(world)
    files = BucketDocuments(InMemoryObjectStore(), "payouts-local-tax-reports")
    report, written = svc.write_file(YEAR, declaration=1, test=True, now=NOW, render=render, files=files)
    summary = str(report_summary(report))
    assert "3023217600053" not in summary and "FR" in summary
    assert written.name.startswith("dac7/2026/test/DPIDAC7_2026_732829320_001_")
    assert written.uri == f"gs://payouts-local-tax-reports/{written.name}"
    data = files.get(written.name)
    assert data is not None and len(data) == written.size
    validate_dpi_xml(data)
    text = data.decode()
    assert "3023217600053" in text and "Refurb GmbH" in text and "s-uk" not in text
    assert "<dpi:DocTypeIndic>OECD11</dpi:DocTypeIndic>" in text.replace("stf:", "dpi:")


def test_a_seller_missing_identity_fields_blocks_the_file_and_is_named(world):
    world.seller("s-anon", "FR", 7, dac7=None)
    sell(world, "s-anon", 30, 1000)
    report = reporting(world).report(YEAR, NOW)
    assert "s-anon" in report.gaps and "address" in report.gaps["s-anon"]
    files = BucketDocuments(InMemoryObjectStore(), "b")
    with pytest.raises(Dac7Error) as refused:
        reporting(world).write_file(YEAR, declaration=1, test=True, now=NOW, render=render, files=files)
    assert refused.value.code == "dac7_identity_gaps" and "s-anon" in refused.value.message
    assert list(files.objects.list("b")) == []


def test_a_filing_waits_for_the_year_to_end_and_years_are_bounded(world):
    files = BucketDocuments(InMemoryObjectStore(), "b")
    svc = reporting(world)
    for year, test, code in [
        (2026, False, "dac7_year_not_closed"),
        (2022, True, "dac7_year_out_of_range"),
        (2027, True, "dac7_year_out_of_range"),
    ]:
        with pytest.raises(Dac7Error) as refused:
            svc.write_file(year, declaration=1, test=test, now=NOW, render=render, files=files)
        assert (refused.value.code, refused.value.field) == (code, "year")
    _, written = svc.write_file(
        2026, declaration=1, test=False, now=NOW + timedelta(days=40), render=render, files=files
    )
    assert written.name.startswith("dac7/2026/DPIDAC7_")


def test_without_an_operator_or_a_rate_it_says_so(world):
    with pytest.raises(Dac7NotConfigured):
        reporting(world, operator=None).report(YEAR, NOW)
    with pytest.raises(Dac7Error) as refused:
        reporting(world, rates=False).report(YEAR, NOW)
    assert refused.value.code == "dac7_needs_exchange_rate"
