"""The European Central Bank's euro foreign exchange reference rates, as a rate source.

The ECB publishes one rate per currency against the euro ("1 EUR = x"), around 16:00 CET on
every TARGET business day, at ``ECB_DAILY_URL`` (a small XML document, about 30 currencies).
Other pairs are inverted or crossed through the euro, rounded once to 12 significant digits.

Production needs outbound HTTPS to www.ecb.europa.eu (the functions' default internet egress;
a VPC connector with all-traffic egress must allow it). Nothing here can reach it in tests: the
tests parse a saved publication (``tests/unit/data/ecb_eurofxref_daily_2025-10-21.xml``).

**Staleness.** A publication is due at 16:00 Frankfurt time on each TARGET business day
(weekdays minus TARGET closing days: ``holidays``' XECB calendar). The rates are stale when the
publication due ``grace`` ago (default 2 h) is not the one we hold. So Friday's rates are good
all weekend and until Monday 18:00, and Thursday's through Easter until Tuesday 18:00.

**What the ECB says about its use.** "The reference rates are published for information purposes
only. Using the rates for transaction purposes is strongly discouraged." They are mid-market
rates with no spread, fixed once a day: sound for showing a seller what its next payout is
expected to be, for a dry run and as a fallback reference, but the rate a payout converts at
should come from the rail that moves the money (its quote) wherever the rail offers one, so that
what the ledger records is what the rail does. When the ECB rate is used for a payout, the
difference to what the rail really does is booked as FX gain or loss (``fx.rail_conversion_entry``).

The XML comes from outside: it is parsed with ``defusedxml`` (no DTD, no entity expansion), and
checked to be the ECB's reference-rate document. A currency with a bad rate (zero, negative, not
a number) is refused on its own (InvalidRate for pairs that need it), not the whole publication.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as SafeElementTree
import holidays
import requests
from defusedxml import DefusedXmlException

from shared.domain.errors import DomainError, UnknownCurrency
from shared.domain.fx import (
    InvalidRate,
    Rate,
    RateUnavailable,
    StaleRate,
    UnsupportedCurrencyPair,
    parse_rate_value,
    rate_from_table,
)
from shared.domain.money import currency_exponent

ECB_DAILY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
_GESMES = "{http://www.gesmes.org/xml/2002-08-01}"
_EUROFXREF = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
FRANKFURT = ZoneInfo("Europe/Berlin")
PUBLISHED_AT = time(16, 0)  # "around 16:00 CET"
MAX_DOCUMENT_BYTES = 256 * 1024  # the daily document is about 1.5 KB
SOURCE = "ecb"


@dataclass(frozen=True)
class EcbPublication:
    """One day's reference rates: ``rates[c]`` is 1 EUR in currency ``c``; ``refused`` holds the
    currencies whose rate was not usable, with the reason."""

    day: date
    rates: dict[str, Decimal]
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def as_of(self) -> datetime:
        return datetime.combine(self.day, PUBLISHED_AT, FRANKFURT).astimezone(UTC)


def _not_the_feed(reason: str) -> RateUnavailable:
    return RateUnavailable(f"the ECB feed did not give its reference-rate document: {reason}")


def parse_ecb_daily(document: bytes | str) -> EcbPublication:
    """Parse ``eurofxref-daily.xml``; raises RateUnavailable when it is not that document."""
    if len(document) > MAX_DOCUMENT_BYTES:
        raise _not_the_feed(f"{len(document)} bytes is too large")
    try:
        root = SafeElementTree.fromstring(document, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise _not_the_feed(f"refused XML construct ({type(exc).__name__})") from None
    except SafeElementTree.ParseError as exc:
        raise _not_the_feed(f"not well-formed XML ({exc})") from None
    if root.tag != f"{_GESMES}Envelope":
        raise _not_the_feed(f"unexpected root element {root.tag[:80]!r}")
    days = root.findall(f"{_EUROFXREF}Cube/{_EUROFXREF}Cube[@time]")
    if len(days) != 1:
        raise _not_the_feed(f"{len(days)} dated Cube elements, expected one")
    (day_cube,) = days
    try:
        day = date.fromisoformat(day_cube.get("time", ""))
    except ValueError:
        raise _not_the_feed("the publication date is not a date") from None
    rates: dict[str, Decimal] = {}
    refused: dict[str, str] = {}
    for cube in day_cube.findall(f"{_EUROFXREF}Cube"):
        currency = cube.get("currency", "")
        try:
            currency_exponent(currency)
        except UnknownCurrency:  # e.g. BGN, withdrawn when Bulgaria joined the euro: nobody asks for it
            refused[currency[:3]] = f"{currency[:8]!r} is not an ISO 4217 currency with a minor unit"
            continue
        if currency in rates or currency in refused:
            rates.pop(currency, None)
            refused[currency] = f"the ECB document gives {currency} twice"
            continue
        try:
            rates[currency] = parse_rate_value(cube.get("rate"), f"Cube[@currency='{currency}']/@rate")
        except InvalidRate as exc:
            refused[currency] = exc.message
    if not rates and not refused:
        raise _not_the_feed("no rates in the publication")
    return EcbPublication(day, rates, refused)


@lru_cache(maxsize=1)
def _target_closing_days() -> holidays.HolidayBase:
    return holidays.financial_holidays("XECB")


def is_target_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _target_closing_days()


def due_publication(at: datetime, grace: timedelta = timedelta(hours=2)) -> date:
    """The day of the latest publication that should be out at ``at`` (``grace`` after 16:00
    Frankfurt time on a TARGET business day)."""
    day = at.astimezone(FRANKFURT).date()
    for _ in range(31):
        published = datetime.combine(day, PUBLISHED_AT, FRANKFURT)
        if is_target_business_day(day) and published + grace <= at:
            return day
        day -= timedelta(days=1)
    raise RuntimeError("no TARGET business day in 31 days: the calendar is broken")  # pragma: no cover


def fetch_ecb_daily(url: str = ECB_DAILY_URL, timeout: float = 10.0) -> bytes:
    """GET the daily document (needs egress to the ECB); raises RateUnavailable."""
    try:
        with requests.get(url, timeout=(3.0, timeout), stream=True) as response:
            response.raise_for_status()
            body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise RateUnavailable(f"the ECB feed could not be fetched ({type(exc).__name__})") from None
    if not isinstance(body, bytes):  # pragma: no cover - urllib3 always gives bytes
        raise RateUnavailable("the ECB feed gave no body")
    return body


class EcbReferenceRates:
    """``RateSource`` over the ECB daily reference rates.

    The document is fetched when no publication is held or the one held is older than the one
    due, at most once per ``refetch_after`` (so a late ECB does not mean a request per payout);
    concurrent callers share one fetch. If a fetch fails, the publication held is still used while
    it is not stale.
    """

    name = SOURCE

    def __init__(
        self,
        fetch: Callable[[], bytes] = fetch_ecb_daily,
        *,
        grace: timedelta = timedelta(hours=2),
        refetch_after: timedelta = timedelta(minutes=10),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._fetch, self._grace, self._refetch_after, self._clock = fetch, grace, refetch_after, clock
        self._lock = threading.Lock()
        self._held: EcbPublication | None = None
        self._fetched_at: datetime | None = None
        self._fetch_error: DomainError | None = None

    def publication(self, at: datetime) -> EcbPublication:
        """The publication to use at ``at`` (fetched if needed); raises StaleRate, RateUnavailable."""
        due = due_publication(at, self._grace)
        with self._lock:
            now = self._clock()
            fresh_enough = self._held is not None and self._held.day >= due
            may_fetch = self._fetched_at is None or now - self._fetched_at >= self._refetch_after
            if not fresh_enough and may_fetch:
                self._fetched_at = now
                try:
                    fetched = parse_ecb_daily(self._fetch())
                    if self._held is None or fetched.day >= self._held.day:  # never go back a day
                        self._held = fetched
                    self._fetch_error = None
                except DomainError as exc:
                    self._fetch_error = exc
            held, error = self._held, self._fetch_error
        if held is None:
            raise error or RateUnavailable("no ECB publication has been fetched yet")
        if held.day < due:
            raise StaleRate(
                f"the ECB reference rates held are those of {held.day}; those of {due} were due by "
                f"{(datetime.combine(due, PUBLISHED_AT, FRANKFURT) + self._grace).isoformat()}"
                + (f" ({error.message})" if error else "")
            )
        if held.as_of > at:
            raise RateUnavailable(
                f"the ECB daily feed holds the rates of {held.day}; it has none for {at.isoformat()} "
                "(the daily document only has the latest day)"
            )
        return held

    def rate(self, base: str, quote: str, at: datetime) -> Rate:
        for currency in (base, quote):
            currency_exponent(currency)
        if base == quote:
            raise UnsupportedCurrencyPair(f"{base}/{quote} is not a conversion")
        publication = self.publication(at)
        for currency in (base, quote):
            if currency in publication.refused:
                raise InvalidRate(f"ECB {publication.day}: {publication.refused[currency]}")
            if currency != "EUR" and currency not in publication.rates:
                raise UnsupportedCurrencyPair(f"the ECB publishes no reference rate for {currency}")
        legs = [
            Rate("EUR", currency, value, SOURCE, publication.as_of)
            for currency, value in publication.rates.items()
            if currency in (base, quote)
        ]
        return rate_from_table(legs, base, quote)


def publication_record(publication: EcbPublication) -> dict[str, Any]:
    """For logs and dry runs: the day and the rates as text."""
    return {
        "day": publication.day.isoformat(),
        "rates": {c: str(v) for c, v in sorted(publication.rates.items())},
        "refused": dict(publication.refused),
    }
