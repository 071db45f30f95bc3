"""DAC7: who is reported, with what figures, and the DPI XML file checked against its schema."""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import SecretStr

from shared.adapters.documents.dpi_xml import (
    DPI,
    SCHEMA_DIR,
    STF,
    DpiFileInvalid,
    build_dpi_xml,
    dpi_file_name,
    validate_dpi_xml,
)
from shared.domain.bank_accounts import IbanAccount, validate_bank_account
from shared.domain.countries import load_country_rules
from shared.domain.dac7 import (
    DE_MINIMIS_SALES,
    EU_MEMBER_STATES,
    Address,
    BirthPlace,
    Dac7Error,
    Exclusion,
    PlatformOperator,
    Sale,
    SellerIdentity,
    SellerKind,
    build_report,
    identity_gaps,
    quarter_figures,
    quarter_of,
    report_summary,
    sales_from_journal,
)
from shared.domain.money import Money
from shared.domain.tax_ids import TIN_SCHEMES, TaxIdHolder, validate_tax_id
from tests.unit.seller_book import SELLER, Book

RULES = load_country_rules()
OPERATOR = PlatformOperator(
    name="Example Marketplace SAS",
    business_name="Example Marketplace",
    residence_country="FR",
    tin="404833048",
    vat_number="FR32404833048",
    address=Address("FR", "Paris", "1 rue de la Paix", post_code="75002"),
)
YEAR = 2026


def iban(country: str, number: str, holder: str):
    account = IbanAccount(scheme="iban", holder_name=holder, iban=SecretStr(number))
    return validate_bank_account(account, RULES.get(country))


def individual(seller_id: str = "s-fr", **changes) -> SellerIdentity:
    base = {
        "seller_id": seller_id,
        "kind": SellerKind.INDIVIDUAL,
        "residence_country": "FR",
        "address": Address("FR", "Lyon", "12 rue Mercière", post_code="69002"),
        "tins": (validate_tax_id("FR", "3023217600053", TaxIdHolder.INDIVIDUAL),),
        "financial_account": iban("FR", "FR7630006000011234567890189", "Camille Martin"),
        "first_name": "Camille",
        "last_name": "Martin",
        "birth_date": date(1985, 7, 30),
        "birth_place": BirthPlace("Lyon", "FR"),
    }
    return SellerIdentity(**{**base, **changes})


def entity(seller_id: str = "s-de", **changes) -> SellerIdentity:
    base = {
        "seller_id": seller_id,
        "kind": SellerKind.ENTITY,
        "residence_country": "DE",
        "address": Address("DE", "Berlin", "Unter den Linden 1", post_code="10117"),
        "tins": (validate_tax_id("DE", "181/815/08155", TaxIdHolder.ENTITY),),
        "financial_account": iban("DE", "DE89370400440532013000", "Refurb GmbH"),
        "legal_name": "Refurb GmbH",
        "business_registration_number": "HRB 12345",
        "vat_number": "DE136695976",
        "permanent_establishments": ("FR",),
    }
    return SellerIdentity(**{**base, **changes})


def sales(
    seller_id: str, n: int, gross: int, *, at: datetime | None = None, currency: str = "EUR", step=None
):
    start = at or datetime(YEAR, 2, 1, 12, tzinfo=UTC)
    return [
        Sale(
            seller_id,
            f"{seller_id}-ol-{i}",
            start + (step or timedelta(days=1)) * i,
            currency,
            gross,
            gross // 10,
        )
        for i in range(n)
    ]


# --- Who is reported ------------------------------------------------------------------------------


def test_fewer_than_30_sales_and_at_most_2000_euros_is_excluded_and_said_so():
    # 29 sales of €76.62 less €7.66 of commission: €1,999.84 of consideration.
    report = build_report(YEAR, OPERATOR, {"s-fr": individual()}, sales("s-fr", 29, 7662))
    assert report.reportable == ()
    [excluded] = report.excluded
    assert excluded.reason is Exclusion.DE_MINIMIS
    assert (excluded.activities, excluded.consideration) == (29, Money(199984, "EUR"))
    assert "fewer than 30 sales of goods" in excluded.explanation


@pytest.mark.parametrize(
    ("count", "gross", "reported"),
    [
        (29, 7663, True),  # 29 sales of €76.63 less €7.66: €2,000.13, over the amount
        (30, 100, True),  # 30 sales of €0.90: enough sales
        (29, 7662, False),
        (DE_MINIMIS_SALES - 1, 1, False),
    ],
)
def test_either_30_sales_or_more_than_2000_euros_makes_a_seller_reportable(count, gross, reported):
    report = build_report(YEAR, OPERATOR, {"s-fr": individual()}, sales("s-fr", count, gross))
    assert bool(report.reportable) is reported


def test_exactly_2000_euros_is_still_excluded():
    # the directive: "did not exceed EUR 2 000"
    exact = [Sale("s-fr", f"ol-{i}", datetime(YEAR, 3, 1, tzinfo=UTC), "EUR", 10000, 0) for i in range(20)]
    report = build_report(YEAR, OPERATOR, {"s-fr": individual()}, exact)
    assert report.excluded[0].reason is Exclusion.DE_MINIMIS


def test_governmental_listed_and_non_eu_sellers_are_excluded_with_their_reason():
    identities = {
        "s-gov": entity("s-gov", governmental_entity=True),
        "s-listed": entity("s-listed", listed_entity=True),
        "s-us": individual("s-us", residence_country="US"),
        "s-idle": individual("s-idle"),
    }
    many = [s for sid in ("s-gov", "s-listed", "s-us") for s in sales(sid, 40, 10000)]
    report = build_report(YEAR, OPERATOR, identities, many)
    assert {e.seller_id: e.reason for e in report.excluded} == {
        "s-gov": Exclusion.GOVERNMENTAL_ENTITY,
        "s-listed": Exclusion.LISTED_ENTITY,
        "s-us": Exclusion.NOT_EU_RESIDENT,
        "s-idle": Exclusion.NO_CONSIDERATION,
    }


def test_a_sale_is_counted_in_the_quarter_of_the_operators_timezone():
    # 23:30 UTC on 31 March is already 1 April in Paris.
    assert quarter_of(datetime(YEAR, 3, 31, 23, 30, tzinfo=UTC), "Europe/Paris") == 2
    assert quarter_of(datetime(YEAR, 3, 31, 21, 30, tzinfo=UTC), "Europe/Paris") == 1


def test_figures_per_quarter_net_of_commission_and_refunds():
    lines = sales("s-fr", 40, 10000, at=datetime(YEAR, 1, 10, tzinfo=UTC), step=timedelta(days=8))
    lines[0] = Sale(
        "s-fr", "refunded", lines[0].sold_at, "EUR", 10000, 1000, refunded=10000, commission_returned=1000
    )
    lines[1] = Sale(
        "s-fr", "half", lines[1].sold_at, "EUR", 10000, 1000, refunded=5000, commission_returned=500
    )
    report = build_report(YEAR, OPERATOR, {"s-fr": individual()}, lines)
    figures = report.reportable[0].figures
    assert figures.total_activities == 39  # the fully refunded sale paid the seller nothing
    # one sale every 8 days from 10 January: 11 in Q1 (the first fully refunded), 11, 11, 7
    assert figures.activities == (10, 11, 11, 7)
    assert figures.consideration[0] == 9 * 9000 + 4500  # Q1: 9 whole sales, one half refunded
    assert figures.fees[0] == 11 * 1000 - 1000 - 500  # commission less what refunds gave back
    assert figures.taxes == (0, 0, 0, 0)


def test_a_non_euro_seller_needs_a_rate_for_the_threshold():
    with pytest.raises(Dac7Error, match="needs a rate"):
        build_report(YEAR, OPERATOR, {"s-fr": individual()}, sales("s-fr", 5, 100000, currency="GBP"))
    report = build_report(
        YEAR,
        OPERATOR,
        {"s-fr": individual()},
        sales("s-fr", 5, 100000, currency="GBP"),
        to_eur=lambda m: Money(m.amount * 117 // 100, "EUR"),
    )
    assert report.reportable[0].figures.currency == "GBP"


def test_missing_identity_fields_are_listed_and_block_the_file():
    identity = individual(birth_date=None, tins=(), birth_place=None)
    assert identity_gaps(identity) == ["birth_date", "tin_or_birth_place"]
    report = build_report(YEAR, OPERATOR, {"s-fr": identity}, sales("s-fr", 40, 10000))
    assert report.gaps == {"s-fr": ("birth_date", "tin_or_birth_place")}
    with pytest.raises(Dac7Error, match="collect the missing fields"):
        build_dpi_xml(report, declaration=1, timestamp=datetime(YEAR + 1, 1, 15, 9, tzinfo=UTC))


def test_every_member_state_has_tin_schemes():
    assert set(EU_MEMBER_STATES) <= set(TIN_SCHEMES)


def test_sales_come_from_the_journal_with_refunds_booked_in_the_year():
    book = Book()
    book.clock = datetime(YEAR, 12, 30, 9, tzinfo=UTC)
    book.sell("phone", 30000, 3000)
    book.refund("phone", 5000, "rf-1")  # in the year
    book.clock = datetime(YEAR + 1, 1, 2, 9, tzinfo=UTC)
    book.refund("phone", 5000, "rf-2")  # next year: not in this report
    [sale] = sales_from_journal(book.entries, YEAR, "Europe/Paris")
    assert (sale.seller_id, sale.order_line_id, sale.gross, sale.commission) == (SELLER, "phone", 30000, 3000)
    assert (sale.refunded, sale.commission_returned) == (5000, 500)
    assert sale.consideration == 30000 - 3000 - 4500
    assert sales_from_journal(book.entries, YEAR + 1, "Europe/Paris") == []


def test_the_summary_masks_accounts_and_tins_and_keeps_exact_amounts():
    report = build_report(YEAR, OPERATOR, {"s-fr": individual()}, sales("s-fr", 40, 1001))
    summary = report_summary(report)
    text = repr(summary)
    assert "FR7630006000011234567890189" not in text and "3023217600053" not in text
    seller = summary["reportable"][0]  # type: ignore[index]
    assert seller["financial_account"] == "FR••••0189"
    assert seller["consideration"][0] == "360.40"  # 40 sales in Q1 of €10.01 less €1.00, exact


# --- The DPI file ---------------------------------------------------------------------------------


def full_report():
    identities = {
        "s-fr": individual(),
        "s-de": entity(),
        "s-small": individual("s-small"),
        "s-us": entity("s-us"),
    }
    all_sales = sales("s-fr", 45, 2599) + sales("s-de", 3, 150000) + sales("s-small", 2, 5000)
    all_sales += sales("s-us", 50, 5000)
    return build_report(
        YEAR, OPERATOR, {**identities, "s-us": entity("s-us", residence_country="US")}, all_sales
    )


def test_the_dpi_file_validates_against_the_schema_and_holds_the_figures():
    report = full_report()
    assert [s.identity.seller_id for s in report.reportable] == ["s-de", "s-fr"]
    document = build_dpi_xml(report, declaration=1, timestamp=datetime(YEAR + 1, 1, 15, 9, tzinfo=UTC))
    validate_dpi_xml(document)  # again, explicitly

    root = ET.fromstring(document)  # noqa: S314  (our own output, just built)
    ns = {"dpi": DPI, "stf": STF}
    assert root.find("dpi:MessageSpec/dpi:MessageRefId", ns).text == "OP_2026_404833048_d1"
    assert root.find("dpi:MessageSpec/dpi:MessageTypeIndic", ns).text == "DPI401"
    sellers = root.findall("dpi:DPIBody/dpi:ReportableSeller", ns)
    assert len(sellers) == 2
    fr = next(s for s in sellers if s.find(".//dpi:IndSellerID", ns) is not None)
    assert fr.find(".//dpi:TIN", ns).text == "3023217600053"
    assert fr.find(".//dpi:TIN", ns).get("issuedBy") == "FR"
    assert fr.find(".//dpi:FinancialIdentifier/dpi:Identifier", ns).text == "FR7630006000011234567890189"
    assert fr.find(".//dpi:BirthInfo/dpi:BirthDate", ns).text == "1985-07-30"
    cons = [e.text for e in fr.find(".//dpi:SaleOfGoods/dpi:Consideration", ns)]
    # 45 sales of €25.99 less €2.59 (€23.40), one a day from 1 February: 28, then 17 in Q1.
    assert cons == ["1053", "0", "0", "0"]  # €1,053.00 in Q1, whole units
    numbers = [e.text for e in fr.find(".//dpi:SaleOfGoods/dpi:NumberOfActivities", ns)]
    assert numbers == ["45", "0", "0", "0"]
    de = next(s for s in sellers if s.find(".//dpi:EntSellerID", ns) is not None)
    assert de.find(".//dpi:IN", ns).get("INType") == "BRN"
    assert [e.text for e in de.find(".//dpi:PermanentEstablishments", ns)] == ["FR"]
    assert de.find(".//dpi:Fees/dpi:FeesQ1", ns).text == "450"
    assert de.find(".//dpi:Fees/dpi:FeesQ1", ns).get("currCode") == "EUR"


def test_amounts_in_the_file_are_whole_units_rounded_half_up():
    at = datetime(YEAR + 1, 1, 15, 9, tzinfo=UTC)
    # 30 sales of €0.10 less €0.01 of commission: €2.70 of consideration, written 3.
    report = build_report(YEAR, OPERATOR, {"s-fr": individual()}, sales("s-fr", 30, 10))
    assert b'<dpi:ConsQ1 currCode="EUR">3</dpi:ConsQ1>' in build_dpi_xml(report, declaration=2, timestamp=at)
    # 30 sales of €0.05, no commission: €1.50, written 2 (half up).
    half = build_report(YEAR, OPERATOR, {"s-fr": individual()}, sales("s-fr", 30, 5))
    assert b'<dpi:ConsQ1 currCode="EUR">2</dpi:ConsQ1>' in build_dpi_xml(half, declaration=3, timestamp=at)


def test_the_file_is_named_and_stamped_as_dgfip_asks():
    at = datetime(YEAR + 1, 1, 15, 9, tzinfo=UTC)
    report = full_report()
    assert (
        dpi_file_name(report, declaration=1, timestamp=at) == "DPIDAC7_2026_404833048_001_20270115100000.xml"
    )
    assert b"<dpi:Timestamp>2027-01-15T10:00:00</dpi:Timestamp>" in build_dpi_xml(
        report, declaration=1, timestamp=at
    )


def test_a_year_with_no_reportable_seller_is_a_no_data_file():
    report = build_report(YEAR, OPERATOR, {"s-small": individual("s-small")}, sales("s-small", 2, 5000))
    document = build_dpi_xml(
        report, declaration=1, timestamp=datetime(YEAR + 1, 1, 15, tzinfo=UTC), test=True
    )
    assert b"DPI403" in document and b"ReportableSeller" not in document
    assert b"OECD11" in document  # test data


def test_a_file_that_breaks_the_schema_is_refused():
    document = build_dpi_xml(full_report(), declaration=1, timestamp=datetime(YEAR + 1, 1, 15, tzinfo=UTC))
    broken = re.sub(rb"(<dpi:ConsQ1 currCode=\"EUR\">)\d+", rb"\g<1>-5", document, count=1)
    with pytest.raises(DpiFileInvalid, match="schema violation"):
        validate_dpi_xml(broken)
    not_eu = document.replace(
        b"<dpi:ResCountryCode>DE</dpi:ResCountryCode>", b"<dpi:ResCountryCode>US</dpi:ResCountryCode>"
    )
    with pytest.raises(DpiFileInvalid):
        validate_dpi_xml(not_eu)


RECORD = {  # from dac7-2025.0.0.dist-info/RECORD (see dpi_schemas/SOURCE.md)
    "DPIXML_v1.1-fr1.xsd": "i7KV24W6iCzbMeTyBM9D8TMRXU77CBLMzI7qJC1PNx0",
    "isodpitypes_v1.0-fr1.xsd": "TfcaC5uNhQ7k4YPYZSwIdXaXCDbCw6oBv2xoW2j-doE",
    "oecddpitypes_v1.0-fr1.xsd": "okuN17JctDzTVDVTjtVet6CdiQQv9wFzfm5ax0NQ0OA",
}


def test_the_schemas_are_the_ones_the_dac7_package_ships():
    for name, digest in RECORD.items():
        actual = base64.urlsafe_b64encode(hashlib.sha256((SCHEMA_DIR / name).read_bytes()).digest()).rstrip(
            b"="
        )
        assert actual.decode() == digest, name


def test_the_sample_report_of_the_tools_validates():
    from tools.sample_documents import sample_dac7_report

    report = sample_dac7_report(YEAR)
    assert [s.identity.seller_id for s in report.reportable] == ["s-camille", "s-refurb-gmbh"]
    assert [(e.seller_id, e.reason) for e in report.excluded] == [("s-occasional", Exclusion.DE_MINIMIS)]
    build_dpi_xml(report, declaration=1, timestamp=datetime(YEAR + 1, 1, 15, tzinfo=UTC), test=True)


def test_a_seller_selling_in_several_currencies_is_reported_in_eur_converted_per_quarter():
    """Issue 17: a seller may sell on several storefronts; its quarters are added up in EUR."""
    mixed = sales("s-fr", 3, 100000) + sales(
        "s-fr", 2, 86780, currency="GBP", at=datetime(YEAR, 5, 1, tzinfo=UTC)
    )
    with pytest.raises(Dac7Error, match="needs a rate"):
        build_report(YEAR, OPERATOR, {"s-fr": individual()}, mixed)

    def to_eur(m: Money) -> Money:
        return Money(m.amount * 10000 // 8678, "EUR")

    report = build_report(YEAR, OPERATOR, {"s-fr": individual()}, mixed, to_eur=to_eur)
    assert not report.excluded
    figures = report.reportable[0].figures
    gbp = quarter_figures(mixed[3:], "GBP", OPERATOR.timezone)
    eur = quarter_figures(mixed[:3], "EUR", OPERATOR.timezone)
    assert figures.currency == "EUR" and figures.activities == (3, 2, 0, 0)
    assert figures.consideration == (
        eur.consideration[0],
        to_eur(Money(gbp.consideration[1], "GBP")).amount,
        0,
        0,
    )
    assert figures.fees == (eur.fees[0], 20000, 0, 0)
