"""DAC7: the yearly report of sellers' activity to the tax authority (Council Directive (EU)
2021/514, Annex V; the OECD model rules for digital platforms). No I/O.

What is reported, per reportable seller and reportable period (a calendar year):

- identity: for an individual, first and last name, primary address, TIN(s) and the issuing
  country (or, without a TIN, the place of birth), VAT number if any, date of birth; for an
  entity, legal name, primary address, TIN(s) and issuing country, VAT number, business
  registration number, permanent establishments in the Union; for both, the financial account
  identifier (the IBAN the consideration is paid to) and the account holder's name;
- per quarter, for the relevant activity here (the sale of goods): the number of activities, the
  consideration (what was paid or credited to the seller, net of the fees and taxes the
  marketplace withheld or charged) and those fees (our commissions, net of what was given back
  on refunds) and taxes (none withheld here: zero).

How the figures come from the ledger (decisions, not the directive's words):

- an activity is an order line paid in the period; its quarter is the quarter in which it was
  paid, in the platform operator's timezone;
- its consideration is gross - commission - (refunds - commission returned), counting the refunds
  booked up to the end of the period (so the report is reproducible), never below zero; a line
  whose consideration is zero (fully refunded) is not counted as an activity;
- its fees are commission - commission returned.

Who is excluded, and says so in the report (Annex V, Section I A(3)(b)):

- a Governmental Entity;
- an Entity whose stock is regularly traded on an established securities market, or a Related
  Entity of one;
- a seller with fewer than 30 sales of goods **and** total consideration of at most EUR 2,000 in
  the period (the de minimis exclusion);
- (the 2,000-rentals exclusion for immovable property does not apply to a goods marketplace).

Only sellers resident in a Member State (or renting property in one) are reportable; others are
listed as not reportable. Sellers with missing identity fields stay in the report with the gaps
listed: the operator must collect them before filing (Annex V, Section III), and the XML export
refuses to write a file with gaps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, StringConstraints, field_validator, model_validator
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumValidationError

from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.countries import CountryCode
from shared.domain.errors import DomainError
from shared.domain.ledger import DatedEntry
from shared.domain.money import Money
from shared.domain.tax_ids import ValidatedTaxId
from shared.domain.validation import StrictModel

if TYPE_CHECKING:
    from shared.domain.sellers import Seller

EU_MEMBER_STATES = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
)
DE_MINIMIS_SALES = 30  # fewer than this many sales of goods ...
DE_MINIMIS_CONSIDERATION = Money(200_000, "EUR")  # ... and at most this consideration: excluded
QUARTERS = (1, 2, 3, 4)


class SellerKind(StrEnum):
    INDIVIDUAL = "individual"
    ENTITY = "entity"


class Exclusion(StrEnum):
    NOT_EU_RESIDENT = "not_eu_resident"  # not a reportable seller at all
    GOVERNMENTAL_ENTITY = "governmental_entity"
    LISTED_ENTITY = "listed_entity"
    DE_MINIMIS = "de_minimis"  # < 30 sales of goods and <= EUR 2,000
    NO_CONSIDERATION = "no_consideration"  # no relevant activity for consideration in the period


class Dac7Error(DomainError):
    pass


@dataclass(frozen=True, slots=True)
class Address:
    country: str
    city: str
    street: str | None = None
    building: str | None = None
    post_code: str | None = None


@dataclass(frozen=True, slots=True)
class BirthPlace:
    city: str
    country: str


@dataclass(frozen=True)
class SellerIdentity:
    """What the directive asks about a seller, as the marketplace holds it."""

    seller_id: str
    kind: SellerKind
    residence_country: str
    address: Address | None
    tins: tuple[ValidatedTaxId, ...] = ()
    vat_number: str | None = None
    financial_account: ValidatedBankAccount | None = None
    # individuals
    first_name: str | None = None
    last_name: str | None = None
    birth_date: date | None = None
    birth_place: BirthPlace | None = None
    # entities
    legal_name: str | None = None
    business_registration_number: str | None = None
    permanent_establishments: tuple[str, ...] = ()
    governmental_entity: bool = False
    listed_entity: bool = False

    @property
    def display_name(self) -> str:
        if self.kind is SellerKind.ENTITY:
            return self.legal_name or self.seller_id
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.seller_id


def identity_gaps(identity: SellerIdentity) -> list[str]:
    """The fields the directive requires that the marketplace does not have yet."""
    gaps = []
    if identity.address is None:
        gaps.append("address")
    if identity.financial_account is None:
        gaps.append("financial_account")
    if identity.kind is SellerKind.INDIVIDUAL:
        if not identity.first_name:
            gaps.append("first_name")
        if not identity.last_name:
            gaps.append("last_name")
        if identity.birth_date is None:
            gaps.append("birth_date")
        if not identity.tins and identity.birth_place is None:
            gaps.append("tin_or_birth_place")  # without a TIN, the place of birth is required
    else:
        if not identity.legal_name:
            gaps.append("legal_name")
        if not identity.tins and not identity.business_registration_number:
            gaps.append("tin_or_business_registration_number")
    return gaps


# --- What the marketplace collects at onboarding (the sellers API's ``dac7``) ----------------------


@dataclass(frozen=True)
class Dac7Details:
    """The seller's identity fields for DAC7 beyond what every seller has (its TIN is the seller's
    ``tax_id``, its financial account the seller's bank account)."""

    kind: SellerKind
    address: Address
    residence_country: str
    first_name: str | None = None
    last_name: str | None = None
    birth_date: date | None = None
    birth_place: BirthPlace | None = None
    legal_name: str | None = None
    business_registration_number: str | None = None
    vat_number: str | None = None
    permanent_establishments: tuple[str, ...] = ()
    governmental_entity: bool = False
    listed_entity: bool = False


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# The oldest birth date accepted: anything earlier is a typing error, not a seller.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def checked_vat_number(value: str | None) -> str | None:
    """An EU VAT number in its compact form, checked by python-stdnum (prefix and check digits)."""
    if value is None:
        return None
    try:
        return str(eu_vat.validate(value))
    except StdnumValidationError:
        raise ValueError("not a valid EU VAT number (country prefix and check digits)") from None


class AddressIn(StrictModel):
    country: CountryCode
    city: Text
    street: Text | None = None
    building: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)] | None = (
        None
    )
    post_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 -]{2,12}$")] | None = None

    def to_domain(self) -> Address:
        return Address(self.country, self.city, self.street, self.building, self.post_code)


class BirthPlaceIn(StrictModel):
    city: Text
    country: CountryCode


class Dac7DetailsIn(StrictModel):
    """``dac7`` at onboarding: who the seller is, as DAC7 (Annex V, Section III B) asks.

    An individual gives first and last name and date of birth; an entity its legal name. The
    residence country defaults to the address's. A VAT number is checked with python-stdnum
    (``stdnum.eu.vat``: the country prefix and its check digits). What the directive needs and
    this does not insist on (a TIN, or else the place of birth or a business registration number)
    is listed by ``GET /sellers/{id}`` as ``dac7_missing`` until it is given."""

    kind: SellerKind
    address: AddressIn
    residence_country: CountryCode | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    birth_date: date | None = Field(default=None, strict=False)  # ISO 8601 date in JSON
    birth_place: BirthPlaceIn | None = None
    legal_name: Text | None = None
    business_registration_number: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ./-]{2,40}$")] | None
    ) = None
    vat_number: Annotated[str, StringConstraints(max_length=20)] | None = None
    permanent_establishments: list[CountryCode] = Field(default_factory=list, max_length=30)
    governmental_entity: bool = False
    listed_entity: bool = False

    @field_validator("vat_number")
    @classmethod
    def _vat_checks(cls, value: str | None) -> str | None:
        return checked_vat_number(value)

    @field_validator("birth_date")
    @classmethod
    def _plausible_birth(cls, value: date | None) -> date | None:
        if value is not None and not EARLIEST_BIRTH_DATE <= value < datetime.now(UTC).date():
            raise ValueError(f"must be between {EARLIEST_BIRTH_DATE.isoformat()} and today")
        return value

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> Dac7DetailsIn:
        if self.kind is SellerKind.INDIVIDUAL:
            missing = [f for f in ("first_name", "last_name", "birth_date") if getattr(self, f) is None]
            wrong = [f for f in ("legal_name", "business_registration_number") if getattr(self, f)]
            wrong += ["permanent_establishments"] if self.permanent_establishments else []
            wrong += [f for f in ("governmental_entity", "listed_entity") if getattr(self, f)]
        else:
            missing = [] if self.legal_name else ["legal_name"]
            wrong = [f for f in ("first_name", "last_name", "birth_date", "birth_place") if getattr(self, f)]
        if missing:
            raise ValueError(f"an {self.kind.value} needs {', '.join(missing)}")
        if wrong:
            raise ValueError(f"{', '.join(wrong)} do(es) not apply to an {self.kind.value}")
        return self

    def to_domain(self) -> Dac7Details:
        b = self.birth_place
        return Dac7Details(
            kind=self.kind,
            address=self.address.to_domain(),
            residence_country=self.residence_country or self.address.country,
            first_name=self.first_name,
            last_name=self.last_name,
            birth_date=self.birth_date,
            birth_place=BirthPlace(b.city, b.country) if b else None,
            legal_name=self.legal_name,
            business_registration_number=self.business_registration_number,
            vat_number=self.vat_number,
            permanent_establishments=tuple(dict.fromkeys(self.permanent_establishments)),
            governmental_entity=self.governmental_entity,
            listed_entity=self.listed_entity,
        )


def seller_identity(seller: Seller) -> SellerIdentity:
    """The seller as DAC7 sees it: its details, its TIN, the account it is paid to. A seller
    without details is taken as an individual resident in its country with every field missing
    (``identity_gaps`` lists them), so a report shows it rather than skipping it."""
    details = seller.dac7
    tins = (seller.tax_id,) if seller.tax_id else ()
    if details is None:
        return SellerIdentity(
            seller.seller_id,
            SellerKind.INDIVIDUAL,
            seller.country,
            None,
            tins,
            financial_account=seller.bank_account,
        )
    # Every field of the details is a field of the identity, by the same name.
    given = {f.name: getattr(details, f.name) for f in fields(details)}
    return SellerIdentity(seller.seller_id, tins=tins, financial_account=seller.bank_account, **given)


def dac7_missing(seller: Seller) -> list[str]:
    """What the seller still has to give before it can be reported (empty: nothing)."""
    if seller.dac7 is None:
        return ["dac7"]
    return identity_gaps(seller_identity(seller))


# --- Sales from the journal ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sale:
    """One relevant activity: an order line sold, with the refunds booked on it in the period."""

    seller_id: str
    order_line_id: str
    sold_at: datetime
    currency: str
    gross: int
    commission: int
    refunded: int = 0
    commission_returned: int = 0

    @property
    def consideration(self) -> int:
        return max(0, self.gross - self.commission - (self.refunded - self.commission_returned))

    @property
    def fees(self) -> int:
        return self.commission - self.commission_returned


def period_bounds(year: int, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)


def quarter_of(at: datetime, timezone: str) -> int:
    return (at.astimezone(ZoneInfo(timezone)).month - 1) // 3 + 1


def sales_from_journal(entries: Iterable[DatedEntry], year: int, timezone: str) -> list[Sale]:
    """Each order line paid in ``year`` with its refunds booked before the year ended, from the
    entries' details (``order_line.paid``: sale and commission; ``order_line.refunded``: refund
    and commission returned). Entries of other years are ignored."""
    start, end = period_bounds(year, timezone)
    sold: dict[str, Sale] = {}
    refunds: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for dated in entries:
        entry = dated.entry
        if entry.order_line_id is None or entry.seller_id is None or dated.at >= end:
            continue
        parts = {d.kind: d.amount for d in entry.details}
        if entry.kind == "order_line.paid" and start <= dated.at and "sale" in parts:
            gross = parts["sale"]
            commission = -parts["commission"].amount if "commission" in parts else 0
            sold[entry.order_line_id] = Sale(
                entry.seller_id, entry.order_line_id, dated.at, gross.currency, gross.amount, commission
            )
        elif entry.kind == "order_line.refunded" and "refund" in parts:
            returned = parts["commission_returned"].amount if "commission_returned" in parts else 0
            refunds[entry.order_line_id].append((-parts["refund"].amount, returned))
    out = []
    for line_id, sale in sold.items():
        refunded = sum(r for r, _ in refunds.get(line_id, []))
        returned = sum(c for _, c in refunds.get(line_id, []))
        out.append(replace(sale, refunded=refunded, commission_returned=returned))
    return sorted(out, key=lambda s: (s.seller_id, s.sold_at, s.order_line_id))


# --- The report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuarterFigures:
    """Per quarter (index 0 is Q1), in minor units of ``currency``."""

    currency: str
    activities: tuple[int, int, int, int]
    consideration: tuple[int, int, int, int]
    fees: tuple[int, int, int, int]
    taxes: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def total_activities(self) -> int:
        return sum(self.activities)

    @property
    def total_consideration(self) -> Money:
        return Money(sum(self.consideration), self.currency)

    @property
    def total_fees(self) -> Money:
        return Money(sum(self.fees), self.currency)


@dataclass(frozen=True)
class ReportableSeller:
    identity: SellerIdentity
    figures: QuarterFigures
    gaps: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExcludedSeller:
    seller_id: str
    reason: Exclusion
    activities: int
    consideration: Money | None  # None when the seller sold nothing

    @property
    def explanation(self) -> str:
        return {
            Exclusion.NOT_EU_RESIDENT: "not resident in a Member State: not a reportable seller",
            Exclusion.GOVERNMENTAL_ENTITY: "a Governmental Entity (excluded seller)",
            Exclusion.LISTED_ENTITY: "an Entity whose stock is regularly traded on an established securities "
            "market, or a Related Entity of one (excluded seller)",
            Exclusion.DE_MINIMIS: f"fewer than {DE_MINIMIS_SALES} sales of goods and consideration of "
            f"at most {DE_MINIMIS_CONSIDERATION} (excluded seller)",
            Exclusion.NO_CONSIDERATION: "no relevant activity for consideration in the period",
        }[self.reason]


@dataclass(frozen=True)
class PlatformOperator:
    """The reporting platform operator (the marketplace)."""

    name: str
    business_name: str
    residence_country: str  # the Member State it reports to
    tin: str  # in France, the SIREN
    address: Address
    vat_number: str | None = None
    nexus: str = "RPONEX1"  # resident for tax purposes in that Member State
    timezone: str = "Europe/Paris"


class PlatformOperatorIn(StrictModel):
    """The platform operator as configured (``DAC7_PLATFORM_OPERATOR``, a JSON object): its TIN
    is checked for its country as an entity's (in France, the SIREN)."""

    name: Text
    business_name: Text
    residence_country: CountryCode
    tin: Annotated[str, StringConstraints(min_length=2, max_length=40)]
    address: AddressIn
    vat_number: Annotated[str, StringConstraints(max_length=20)] | None = None
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "Europe/Paris"

    @field_validator("vat_number")
    @classmethod
    def _vat_checks(cls, value: str | None) -> str | None:
        return checked_vat_number(value)

    @model_validator(mode="after")
    def _tin_and_zone(self) -> PlatformOperatorIn:
        from shared.domain.tax_ids import TaxIdHolder, validate_tax_id

        validate_tax_id(self.residence_country, self.tin, TaxIdHolder.ENTITY)
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            raise ValueError(f"{self.timezone!r} is not a known timezone") from None
        return self

    def to_domain(self) -> PlatformOperator:
        from shared.domain.tax_ids import TaxIdHolder, validate_tax_id

        tin = validate_tax_id(self.residence_country, self.tin, TaxIdHolder.ENTITY)
        return PlatformOperator(
            name=self.name,
            business_name=self.business_name,
            residence_country=self.residence_country,
            tin=tin.number.get_secret_value(),
            address=self.address.to_domain(),
            vat_number=self.vat_number,
            timezone=self.timezone,
        )


@dataclass(frozen=True)
class Dac7Report:
    year: int
    operator: PlatformOperator
    reportable: tuple[ReportableSeller, ...]
    excluded: tuple[ExcludedSeller, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def gaps(self) -> dict[str, tuple[str, ...]]:
        return {s.identity.seller_id: s.gaps for s in self.reportable if s.gaps}


def quarter_figures(sales: Iterable[Sale], currency: str, timezone: str) -> QuarterFigures:
    activities, consideration, fees = [0] * 4, [0] * 4, [0] * 4
    for sale in sales:
        if sale.currency != currency:
            raise Dac7Error(
                "dac7_mixed_currencies", f"sale {sale.order_line_id} is in {sale.currency}, not {currency}"
            )
        q = quarter_of(sale.sold_at, timezone) - 1
        fees[q] += sale.fees
        if sale.consideration > 0:
            activities[q] += 1
            consideration[q] += sale.consideration
    return QuarterFigures(currency, _four(activities), _four(consideration), _four(fees))


def seller_figures(
    seller_id: str, sales: Sequence[Sale], timezone: str, to_eur: EurConverter | None
) -> QuarterFigures | None:
    """A seller's quarters in the one currency it sold in; a seller that sold in several (its
    storefronts' currencies, issue 17) in EUR: each currency's quarter totals converted with
    ``to_eur`` (the rate the threshold uses), then added. Without a converter, an error."""
    currencies = sorted({sale.currency for sale in sales})
    if not currencies:
        return None
    if len(currencies) == 1:
        return quarter_figures(sales, currencies[0], timezone)
    if to_eur is None:
        raise Dac7Error(
            "dac7_mixed_currencies",
            f"seller {seller_id} sold in {currencies}: reporting it in EUR needs a rate",
        )
    parts = [quarter_figures([s for s in sales if s.currency == c], c, timezone) for c in currencies]

    def eur(amount: int, currency: str) -> int:
        return amount if currency == "EUR" else to_eur(Money(amount, currency)).amount

    return QuarterFigures(
        "EUR",
        _four([sum(p.activities[q] for p in parts) for q in range(4)]),
        _four([sum(eur(p.consideration[q], p.currency) for p in parts) for q in range(4)]),
        _four([sum(eur(p.fees[q], p.currency) for p in parts) for q in range(4)]),
    )


def _four(values: list[int]) -> tuple[int, int, int, int]:
    return (values[0], values[1], values[2], values[3])


EurConverter = Callable[[Money], Money]


def build_report(
    year: int,
    operator: PlatformOperator,
    identities: Mapping[str, SellerIdentity],
    sales: Iterable[Sale],
    to_eur: EurConverter | None = None,
) -> Dac7Report:
    """Every seller in ``identities`` ends up reportable or excluded, with its reason.
    ``to_eur`` converts a non-euro total for the EUR 2,000 threshold (the FX issue provides
    rates); a non-euro seller without it is an error rather than a guess."""
    by_seller: dict[str, list[Sale]] = defaultdict(list)
    for sale in sales:
        by_seller[sale.seller_id].append(sale)
    reportable: list[ReportableSeller] = []
    excluded: list[ExcludedSeller] = []
    warnings: list[str] = []
    for seller_id in sorted(identities):
        identity = identities[seller_id]
        seller_sales = by_seller.pop(seller_id, [])
        figures = seller_figures(seller_id, seller_sales, operator.timezone, to_eur)
        count = figures.total_activities if figures else 0
        total = figures.total_consideration if figures else None
        reason = _exclusion(identity, figures, to_eur)
        if reason is not None:
            excluded.append(ExcludedSeller(seller_id, reason, count, total))
            continue
        assert figures is not None
        for q in QUARTERS:
            if (
                figures.activities[q - 1]
                and _whole_units(Money(figures.consideration[q - 1], figures.currency)) == 0
            ):
                warnings.append(
                    f"seller {seller_id}: Q{q} has {figures.activities[q - 1]} sale(s) but its consideration "
                    "rounds to 0 whole units in the file"
                )
        reportable.append(ReportableSeller(identity, figures, tuple(identity_gaps(identity))))
    for seller_id in sorted(by_seller):
        warnings.append(f"seller {seller_id} has sales but no identity record: it is not in the report")
    return Dac7Report(year, operator, tuple(reportable), tuple(excluded), tuple(warnings))


def _exclusion(
    identity: SellerIdentity, figures: QuarterFigures | None, to_eur: EurConverter | None
) -> Exclusion | None:
    if identity.residence_country not in EU_MEMBER_STATES:
        return Exclusion.NOT_EU_RESIDENT
    if identity.governmental_entity:
        return Exclusion.GOVERNMENTAL_ENTITY
    if identity.listed_entity:
        return Exclusion.LISTED_ENTITY
    if figures is None or figures.total_activities == 0:
        return Exclusion.NO_CONSIDERATION
    total = figures.total_consideration
    if total.currency != "EUR":
        if to_eur is None:
            raise Dac7Error(
                "dac7_needs_exchange_rate",
                f"seller {identity.seller_id} sold in {total.currency}: the EUR 2,000 threshold needs a rate",
            )
        total = to_eur(total)
    if figures.total_activities < DE_MINIMIS_SALES and total <= DE_MINIMIS_CONSIDERATION:
        return Exclusion.DE_MINIMIS
    return None


def _whole_units(money: Money) -> int:
    return int(whole_units(money))


def whole_units(money: Money) -> Decimal:
    """The DPI schema carries whole units of currency (``MonAmnt_Type`` is an integer): the exact
    amount rounded half up. The report keeps the exact amounts beside it."""
    return money.to_decimal().quantize(Decimal(1), rounding=ROUND_HALF_UP)


def report_summary(report: Dac7Report) -> dict[str, object]:
    """The report as plain data for people (ops CLI, demo): exact amounts as decimal strings,
    financial accounts and TINs masked, every exclusion with its reason."""

    def money(amount: int, currency: str) -> str:
        return f"{Money(amount, currency).to_decimal():f}"

    return {
        "year": report.year,
        "operator": report.operator.name,
        "reportable": [
            {
                "seller_id": s.identity.seller_id,
                "kind": s.identity.kind.value,
                "name": s.identity.display_name,
                "residence_country": s.identity.residence_country,
                "tins": [t.masked for t in s.identity.tins],
                "financial_account": s.identity.financial_account.masked
                if s.identity.financial_account
                else None,
                "currency": s.figures.currency,
                "activities": list(s.figures.activities),
                "consideration": [money(v, s.figures.currency) for v in s.figures.consideration],
                "fees": [money(v, s.figures.currency) for v in s.figures.fees],
                "taxes": [money(v, s.figures.currency) for v in s.figures.taxes],
                "gaps": list(s.gaps),
            }
            for s in report.reportable
        ],
        "excluded": [
            {
                "seller_id": e.seller_id,
                "reason": e.reason.value,
                "explanation": e.explanation,
                "activities": e.activities,
                "consideration": f"{e.consideration.to_decimal():f}" if e.consideration else None,
                "currency": e.consideration.currency if e.consideration else None,
            }
            for e in report.excluded
        ],
        "warnings": list(report.warnings),
    }
