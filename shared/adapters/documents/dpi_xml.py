"""The DAC7 report as a DPI XML file (the OECD DPI format, in the French DGFiP variant), checked
against the schema before it is handed out.

The French tax authority's variant of the OECD DPI schema is the only DPI schema a package on
PyPI, npm or Debian ships (`dpi_schemas/SOURCE.md`). It differs from the OECD standard on a few
points that this builder follows: namespaces ``urn:oecd:ties:dpi`` and ``urn:oecd:ties:dpistf``
(no ``:v1``), ``TaxesQ1..4`` instead of ``TaxQ1..4``, France as the only transmitting and
receiving country, the platform operator's SIREN in ``MessageRefId`` (``OP_<year>_<SIREN>_…``).
A French platform operator reports every reportable seller of the Union in this one file.

Amounts are whole units of the currency (the schema's ``MonAmnt_Type`` is an integer), rounded
half up from the exact minor units, which the report keeps (``report_summary``). Financial account
numbers and TINs appear in full here, as the authority needs them, and nowhere else.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # builds the document only: nothing is parsed with it
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import xmlschema

from shared.domain.dac7 import (
    Address,
    Dac7Error,
    Dac7Report,
    PlatformOperator,
    QuarterFigures,
    ReportableSeller,
    SellerKind,
    whole_units,
)
from shared.domain.money import Money

SCHEMA_DIR = Path(__file__).parent / "dpi_schemas"
SCHEMA_FILE = SCHEMA_DIR / "DPIXML_v1.1-fr1.xsd"
DPI = "urn:oecd:ties:dpi"
STF = "urn:oecd:ties:dpistf"

NEW_DATA, NEW_TEST_DATA = "OECD1", "OECD11"  # DocTypeIndic of a first filing, in production / test
NEW_MESSAGE, NO_DATA_MESSAGE = "DPI401", "DPI403"
ACCOUNT_NUMBER_TYPE = {"iban": "OECD601"}  # OECD code lists: IBAN; anything else is OBAN
OTHER_BANK_ACCOUNT_NUMBER = "OECD602"
BUSINESS_REGISTRATION_NUMBER = "BRN"


class DpiFileInvalid(Dac7Error):
    def __init__(self, message: str) -> None:
        super().__init__("dpi_file_invalid", message)


@cache
def dpi_schema() -> xmlschema.XMLSchema10:
    return xmlschema.XMLSchema10(str(SCHEMA_FILE))


def validate_dpi_xml(document: bytes) -> None:
    """Raise DpiFileInvalid with every schema violation found (none means the file is valid)."""
    errors = list(dpi_schema().iter_errors(document.decode("utf-8")))
    if errors:
        reasons = "; ".join(f"{e.path}: {e.reason}" for e in errors[:10])
        raise DpiFileInvalid(f"{len(errors)} schema violation(s): {reasons}")


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _el(parent: ET.Element, name: str, text: str | None = None, ns: str = DPI, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, _q(ns, name), attrs)
    if text is not None:
        element.text = text
    return element


def _address(parent: ET.Element, address: Address) -> None:
    node = _el(parent, "Address", legalAddressType="OECD301")  # residential or business
    _el(node, "CountryCode", address.country)
    fix = _el(node, "AddressFix")
    if address.street:
        _el(fix, "Street", address.street)
    if address.building:
        _el(fix, "BuildingIdentifier", address.building)
    if address.post_code:
        _el(fix, "PostCode", address.post_code)
    _el(fix, "City", address.city)


def _doc_spec(parent: ET.Element, doc_ref_id: str, test: bool) -> None:
    spec = _el(parent, "DocSpec")
    _el(spec, "DocTypeIndic", NEW_TEST_DATA if test else NEW_DATA, ns=STF)
    _el(spec, "DocRefId", doc_ref_id, ns=STF)


def _amounts(parent: ET.Element, name: str, prefix: str, values: tuple[int, ...], currency: str) -> None:
    node = _el(parent, name)
    for quarter, minor in enumerate(values, start=1):
        _el(node, f"{prefix}{quarter}", f"{whole_units(Money(minor, currency)):f}", currCode=currency)


def _activities(parent: ET.Element, figures: QuarterFigures) -> None:
    sale = _el(_el(parent, "RelevantActivities"), "SaleOfGoods")
    _amounts(sale, "Consideration", "ConsQ", figures.consideration, figures.currency)
    count = _el(sale, "NumberOfActivities")
    for quarter, n in enumerate(figures.activities, start=1):
        _el(count, f"NumbQ{quarter}", str(n))
    _amounts(sale, "Fees", "FeesQ", figures.fees, figures.currency)
    _amounts(sale, "Taxes", "TaxesQ", figures.taxes, figures.currency)


def _tins(parent: ET.Element, seller: ReportableSeller) -> None:
    if not seller.identity.tins:
        _el(parent, "TIN", "NOTIN", unknown="true")
    for tin in seller.identity.tins:
        _el(parent, "TIN", tin.number.get_secret_value(), issuedBy=tin.country)


def _financial_account(parent: ET.Element, seller: ReportableSeller) -> None:
    account = seller.identity.financial_account
    if account is None:
        return
    number = account.iban or account.account_number
    assert number is not None
    node = _el(parent, "FinancialIdentifier")
    kind = ACCOUNT_NUMBER_TYPE.get(account.scheme, OTHER_BANK_ACCOUNT_NUMBER)
    _el(node, "Identifier", number.get_secret_value(), AccountNumberType=kind)
    _el(node, "AccountHolderName", account.holder_name)


def _seller(body: ET.Element, seller: ReportableSeller, ref_prefix: str, test: bool) -> None:
    identity = seller.identity
    assert identity.address is not None  # gaps are refused before this
    node = _el(body, "ReportableSeller")
    identity_node = _el(node, "Identity")
    if identity.kind is SellerKind.INDIVIDUAL:
        standard = _el(_el(identity_node, "IndividualSeller"), "Standard")
        party = _el(standard, "IndSellerID")
        _el(party, "ResCountryCode", identity.residence_country)
        _tins(party, seller)
        if identity.vat_number:
            _el(party, "VAT", identity.vat_number)
        name = _el(party, "Name", nameType="OECD202")  # the individual's own name
        _el(name, "FirstName", identity.first_name)
        _el(name, "LastName", identity.last_name)
        _address(party, identity.address)
        birth = _el(party, "BirthInfo")
        assert identity.birth_date is not None
        _el(birth, "BirthDate", identity.birth_date.isoformat())
        if identity.birth_place is not None:
            place = _el(birth, "BirthPlace")
            _el(place, "City", identity.birth_place.city)
            _el(_el(place, "CountryInfo"), "CountryCode", identity.birth_place.country)
        _financial_account(standard, seller)
    else:
        standard = _el(_el(identity_node, "EntitySeller"), "Standard")
        party = _el(standard, "EntSellerID")
        _el(party, "ResCountryCode", identity.residence_country)
        _tins(party, seller)
        if identity.business_registration_number:
            _el(
                party,
                "IN",
                identity.business_registration_number,
                issuedBy=identity.residence_country,
                INType=BUSINESS_REGISTRATION_NUMBER,
            )
        if identity.vat_number:
            _el(party, "VAT", identity.vat_number)
        _el(party, "Name", identity.legal_name)
        _address(party, identity.address)
        _financial_account(standard, seller)
        establishments = [c for c in identity.permanent_establishments if c != identity.residence_country]
        if establishments:
            pe = _el(standard, "PermanentEstablishments")
            for country in establishments:
                _el(pe, "PermanentEstablishment", country)
    _activities(node, seller.figures)
    _doc_spec(node, f"{ref_prefix}_{identity.seller_id}_v1", test)


def _operator(body: ET.Element, operator: PlatformOperator, ref_prefix: str, test: bool) -> None:
    node = _el(body, "PlatformOperator")
    _el(node, "ResCountryCode", operator.residence_country)
    _el(node, "TIN", operator.tin, issuedBy=operator.residence_country)
    if operator.vat_number:
        _el(node, "VAT", operator.vat_number)
    _el(node, "Name", operator.name)
    _el(node, "PlatformBusinessName", operator.business_name)
    _address(node, operator.address)
    _el(node, "Nexus", operator.nexus)
    _el(node, "AssumedReporting", "false")
    _doc_spec(node, f"{ref_prefix}_v1", test)


def _local(timestamp: datetime, operator: PlatformOperator) -> datetime:
    return timestamp.astimezone(ZoneInfo(operator.timezone))


def dpi_file_name(report: Dac7Report, *, declaration: int, timestamp: datetime) -> str:
    """DGFiP's naming rule: ``DPIDAC7_<year>_<SIREN>_<declaration, 3 digits>_<timestamp>.xml``,
    the timestamp being the file's own ``Timestamp``."""
    stamp = _local(timestamp, report.operator).strftime("%Y%m%d%H%M%S")
    return f"DPIDAC7_{report.year}_{report.operator.tin}_{declaration:03d}_{stamp}.xml"


def build_dpi_xml(report: Dac7Report, *, declaration: int, timestamp: datetime, test: bool = False) -> bytes:
    """The report as a DPI file, validated. ``declaration`` numbers the operator's files of a year
    (1, 2, ...); ``test`` marks a file for the authority's test environment. Raises Dac7Error if
    a seller still has identity gaps, DpiFileInvalid if the result breaks the schema."""
    if report.gaps:
        listed = ", ".join(f"{sid} ({', '.join(g)})" for sid, g in sorted(report.gaps.items()))
        raise Dac7Error("dac7_identity_gaps", f"collect the missing fields before filing: {listed}")
    operator = report.operator
    ref_prefix = f"OP_{report.year}_{operator.tin}" + (f"_t{declaration}" if test else "")
    ET.register_namespace("dpi", DPI)
    ET.register_namespace("stf", STF)
    root = ET.Element(_q(DPI, "DPI_OECD"), {"version": "1.0"})
    spec = _el(root, "MessageSpec")
    _el(spec, "TransmittingCountry", operator.residence_country)
    _el(spec, "ReceivingCountry", operator.residence_country)
    _el(spec, "MessageType", "DPI")
    _el(spec, "MessageRefId", f"{ref_prefix}_d{declaration}")
    _el(spec, "MessageTypeIndic", NEW_MESSAGE if report.reportable else NO_DATA_MESSAGE)
    _el(spec, "ReportingPeriod", f"{report.year}-12-31")
    _el(spec, "Timestamp", _local(timestamp, operator).strftime("%Y-%m-%dT%H:%M:%S"))
    body = _el(root, "DPIBody")
    _operator(body, operator, ref_prefix, test)
    for seller in report.reportable:
        _seller(body, seller, ref_prefix, test)
    ET.indent(root)
    document = bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))
    validate_dpi_xml(document)
    return document
