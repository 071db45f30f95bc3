"""Rate sources behind the RateSource port: the fixed table (local) and the ECB reference rates.

The ECB adapter is tested against a saved publication (21 October 2025, in the feed's exact
layout); nothing here reaches the network.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from shared.adapters.fx_rates import fixed_table_source, reference_rate_source
from shared.adapters.fx_rates.ecb import (
    EcbReferenceRates,
    due_publication,
    fetch_ecb_daily,
    is_target_business_day,
    parse_ecb_daily,
    publication_record,
)
from shared.adapters.fx_rates.fixed_table import (
    DEFAULT_TABLE,
    FixedTableRates,
    InvalidRateTable,
    parse_rate_table,
)
from shared.domain.errors import DomainError, UnknownCurrency
from shared.domain.fx import (
    InvalidRate,
    Rate,
    RateUnavailable,
    StaleRate,
    UnsupportedCurrencyPair,
)
from shared.usecases.ports import RateSource

SAMPLE = (Path(__file__).parent / "data" / "ecb_eurofxref_daily_2025-10-21.xml").read_bytes()
PUBLISHED = datetime(2025, 10, 21, 14, 0, tzinfo=UTC)  # 16:00 in Frankfurt (CEST)
EVENING = PUBLISHED + timedelta(hours=4)


def ecb_document(day: str = "2025-10-21", **rates: str) -> bytes:
    """The saved publication, moved to ``day`` and with some rates replaced."""
    text = SAMPLE.decode().replace("time='2025-10-21'", f"time='{day}'")
    for currency, value in rates.items():
        start = text.index(f"currency='{currency}' rate='") + len(f"currency='{currency}' rate='")
        text = text[:start] + value + text[text.index("'", start) :]
    return text.encode()


def ecb(document: bytes = SAMPLE, now: datetime = EVENING) -> EcbReferenceRates:
    return EcbReferenceRates(lambda: document, clock=lambda: now)


def table(**changes: object) -> str:
    doc = json.loads(DEFAULT_TABLE.read_text("utf-8"))
    doc.update(changes)
    return json.dumps(doc)


# --- The port: the same contract for every source ------------------------------------------------


@pytest.fixture(params=["fixed_table", "ecb"])
def source(request: pytest.FixtureRequest) -> RateSource:
    if request.param == "fixed_table":
        return fixed_table_source(max_age=timedelta(days=1))
    return ecb()


def test_a_source_gives_exact_rates_with_their_origin(source: RateSource):
    eur_sek = source.rate("EUR", "SEK", EVENING)
    assert (eur_sek.base, eur_sek.quote, eur_sek.value) == ("EUR", "SEK", Decimal("10.9345"))
    assert eur_sek.source == source.name and eur_sek.as_of == PUBLISHED
    sek_eur = source.rate("SEK", "EUR", EVENING)
    assert sek_eur.value == Decimal("0.0914536558599") and "inverted" in sek_eur.source
    sek_pln = source.rate("SEK", "PLN", EVENING)
    assert sek_pln.value == Decimal("0.387699483287") and "cross via EUR" in sek_pln.source


def test_a_source_refuses_what_it_cannot_answer(source: RateSource):
    with pytest.raises(UnsupportedCurrencyPair):
        source.rate("EUR", "EUR", EVENING)
    with pytest.raises(UnsupportedCurrencyPair):
        source.rate("EUR", "XOF", EVENING)  # an ISO currency neither publishes
    with pytest.raises(UnknownCurrency):
        source.rate("EUR", "ZZZ", EVENING)
    with pytest.raises(StaleRate):
        source.rate("EUR", "SEK", EVENING + timedelta(days=3))


def test_the_factories_give_rate_sources():
    assert isinstance(reference_rate_source(), EcbReferenceRates)
    assert isinstance(fixed_table_source(max_age=timedelta(days=1)), FixedTableRates)


# --- The fixed table -----------------------------------------------------------------------------


def test_the_local_table_has_every_currency_we_pay_in():
    from shared.domain.countries import load_country_rules

    rates = FixedTableRates.from_file(max_age=timedelta(days=1))
    registry = load_country_rules()
    for country in registry.countries():
        currency = registry.get(country).currency
        if currency != "EUR":
            assert rates.rate("EUR", currency, EVENING).value > 0
    assert rates.rate("GBP", "HUF", EVENING).value == Decimal("448.985941461")


def test_a_table_rate_is_refused_when_older_than_allowed_or_from_the_future():
    rates = FixedTableRates(parse_rate_table(table()), max_age=timedelta(hours=6))
    assert rates.rate("EUR", "SEK", PUBLISHED + timedelta(hours=6)).value == Decimal("10.9345")
    with pytest.raises(StaleRate, match=r"at most 6\.0 hours"):
        rates.rate("EUR", "SEK", PUBLISHED + timedelta(hours=7))
    with pytest.raises(StaleRate, match="after"):
        rates.rate("EUR", "SEK", PUBLISHED - timedelta(seconds=1))


def test_an_entry_may_carry_its_own_time():
    doc = {
        "as_of": "2025-10-21T14:00:00Z",
        "rates": [
            {"base": "EUR", "quote": "SEK", "rate": "10.9345"},
            {"base": "EUR", "quote": "PLN", "rate": "4.2393", "as_of": "2025-10-20T14:00:00Z"},
        ],
    }
    rates = FixedTableRates(parse_rate_table(json.dumps(doc)), max_age=timedelta(days=2))
    assert rates.rate("SEK", "PLN", EVENING).as_of == datetime(2025, 10, 20, 14, tzinfo=UTC)  # the older leg


@pytest.mark.parametrize(
    ("rates", "error", "field", "reason"),
    [
        ([{"base": "EUR", "quote": "SEK", "rate": "0"}], InvalidRate, "rates[0].rate", "greater than zero"),
        (
            [{"base": "EUR", "quote": "SEK", "rate": "-10.9"}],
            InvalidRate,
            "rates[0].rate",
            "greater than zero",
        ),
        ([{"base": "EUR", "quote": "SEK", "rate": 10.9345}], InvalidRate, "rates[0].rate", "float"),
        ([{"base": "EUR", "quote": "SEK", "rate": "ten"}], InvalidRate, "rates[0].rate", "plain decimal"),
        ([{"base": "EUR", "quote": "SEK"}], InvalidRate, "rates[0].rate", "NoneType"),
        ([{"base": "EUR", "quote": "ZZZ", "rate": "1"}], InvalidRateTable, "rates[0].quote", "ZZZ"),
        (
            [{"base": "EUR", "quote": "EUR", "rate": "1"}],
            InvalidRateTable,
            "rates[0].quote",
            "not a conversion",
        ),
        (
            [
                {"base": "EUR", "quote": "SEK", "rate": "10.9"},
                {"base": "SEK", "quote": "EUR", "rate": "0.09"},
            ],
            InvalidRateTable,
            "rates[1]",
            "twice",
        ),
        (
            [{"base": "EUR", "quote": "SEK", "rate": "1", "as_of": "2025-10-21"}],
            InvalidRateTable,
            "rates[0].as_of",
            "offset",
        ),
        (
            [{"base": "EUR", "quote": "SEK", "rate": "1", "fee": "1"}],
            InvalidRateTable,
            "rates[0].fee",
            "unknown",
        ),
        ([], InvalidRateTable, "rates", "non-empty"),
        (["EUR/SEK 10.9"], InvalidRateTable, "rates[0]", "object"),
    ],
)
def test_a_bad_table_is_refused_with_the_field_path(rates, error, field, reason):
    with pytest.raises(error) as err:
        parse_rate_table(table(rates=rates))
    assert err.value.field == field
    assert reason in err.value.message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"as_of": "2025-10-21T14:00:00Z", "as_of": "2025-10-22T14:00:00Z", "rates": []}', "as_of"),
        ("[]", "$"),
        ("not json", "$"),
        ('{"rates": [{"base": "EUR", "quote": "SEK", "rate": "1"}]}', "as_of"),
        ('{"as_of": "2025-10-21T14:00:00Z", "source": "", "rates": []}', "source"),
        ('{"as_of": "2025-10-21T14:00:00Z", "rates": [], "extra": 1}', "extra"),
    ],
)
def test_a_malformed_table_is_refused(text, field):
    with pytest.raises(InvalidRateTable) as err:
        parse_rate_table(text)
    assert err.value.field == field


def test_a_bad_table_file_names_itself(tmp_path):
    path = tmp_path / "rates.json"
    path.write_text(table(rates=[{"base": "EUR", "quote": "SEK", "rate": "0"}]), "utf-8")
    with pytest.raises(InvalidRate, match=r"^rates\.json: ") as err:
        FixedTableRates.from_file(path, max_age=timedelta(days=1))
    assert err.value.field == "rates[0].rate"


# --- The ECB reference rates ---------------------------------------------------------------------


def test_the_saved_publication():
    publication = parse_ecb_daily(SAMPLE)
    assert publication.day == date(2025, 10, 21)
    assert publication.as_of == PUBLISHED
    assert len(publication.rates) == 29
    assert publication.rates["HUF"] == Decimal("389.63")
    assert publication.rates["GBP"] == Decimal("0.86780")  # trailing zero kept: exact as published
    assert set(publication.refused) == {"BGN"}  # withdrawn from ISO 4217 when Bulgaria took the euro
    record = publication_record(publication)
    assert record["day"] == "2025-10-21" and record["rates"]["SEK"] == "10.9345"


@pytest.mark.parametrize(
    ("at", "due"),
    [
        (datetime(2025, 10, 21, 15, 59, tzinfo=UTC), date(2025, 10, 20)),  # 17:59 in Frankfurt: not yet due
        (datetime(2025, 10, 21, 16, 0, tzinfo=UTC), date(2025, 10, 21)),  # 18:00: due
        (datetime(2025, 10, 25, 12, 0, tzinfo=UTC), date(2025, 10, 24)),  # Saturday: Friday's
        (datetime(2025, 10, 27, 15, 0, tzinfo=UTC), date(2025, 10, 24)),  # Monday 16:00 CET: still Friday's
        (datetime(2025, 10, 27, 17, 0, tzinfo=UTC), date(2025, 10, 27)),  # Monday 18:00 CET (winter time)
        (datetime(2026, 4, 6, 20, 0, tzinfo=UTC), date(2026, 4, 2)),  # Easter Monday: Thursday's
        (datetime(2026, 1, 1, 20, 0, tzinfo=UTC), date(2025, 12, 31)),  # New Year's Day is closed
        (datetime(2026, 12, 28, 20, 0, tzinfo=UTC), date(2026, 12, 28)),
    ],
)
def test_the_publication_due(at, due):
    assert due_publication(at) == due


def test_target_closing_days():
    for closed in (
        date(2026, 1, 1),
        date(2026, 4, 3),
        date(2026, 4, 6),
        date(2026, 5, 1),
        date(2026, 12, 25),
    ):
        assert not is_target_business_day(closed)
    assert is_target_business_day(date(2026, 12, 24)) and not is_target_business_day(date(2026, 10, 24))


def test_fridays_rates_hold_over_the_weekend():
    friday = ecb_document("2025-10-24")
    monday = datetime(2025, 10, 27, 16, 30, tzinfo=UTC)  # 17:30 in Frankfurt
    assert ecb(friday, monday).rate("EUR", "SEK", monday).as_of == datetime(2025, 10, 24, 14, tzinfo=UTC)
    with pytest.raises(StaleRate, match="those of 2025-10-27 were due"):
        ecb(friday, monday + timedelta(hours=1)).rate("EUR", "SEK", monday + timedelta(hours=1))


def test_the_daily_feed_cannot_answer_for_a_time_before_its_publication():
    with pytest.raises(RateUnavailable, match="only has the latest day"):
        ecb(SAMPLE, EVENING).rate("EUR", "SEK", PUBLISHED - timedelta(hours=1, minutes=1))


@pytest.mark.parametrize("bad", ["0", "-10.9345", "0.0000", "NaN", "1e3", ""])
def test_a_bad_rate_is_refused_for_its_currency_only(bad):
    rates = ecb(ecb_document(SEK=bad))
    with pytest.raises(InvalidRate) as err:
        rates.rate("EUR", "SEK", EVENING)
    assert err.value.code == "invalid_rate"
    with pytest.raises(InvalidRate):
        rates.rate("SEK", "PLN", EVENING)  # a cross rate needs it too
    assert rates.rate("EUR", "PLN", EVENING).value == Decimal("4.2393")


def test_a_currency_given_twice_is_refused():
    doubled = SAMPLE.replace(
        b"<Cube currency='SEK' rate='10.9345'/>",
        b"<Cube currency='SEK' rate='10.9345'/><Cube currency='SEK' rate='11'/>",
    )
    with pytest.raises(InvalidRate, match="twice"):
        ecb(doubled).rate("EUR", "SEK", EVENING)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"><x>&lol2;</x></gesmes:Envelope>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE e [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01">&secret;</gesmes:Envelope>"""


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (BILLION_LAUGHS, "refused XML construct"),
        (EXTERNAL_ENTITY, "refused XML construct"),
        (b"<html><body>Service unavailable</body></html>", "unexpected root element"),
        (b"", "not well-formed"),
        (b'{"rates": {}}', "not well-formed"),
        (
            SAMPLE.replace(b"</Cube>\n\t</Cube>", b"</Cube><Cube time='2025-10-20'/>\n\t</Cube>"),
            "2 dated Cube",
        ),
        (SAMPLE.replace(b"time='2025-10-21'", b"time='yesterday'"), "not a date"),
        (SAMPLE + b" " * 300_000, "too large"),
    ],
)
def test_anything_but_the_ecb_document_is_refused(document, reason):
    with pytest.raises(RateUnavailable) as err:
        parse_ecb_daily(document)
    assert reason in err.value.message
    with pytest.raises(RateUnavailable):
        ecb(document).rate("EUR", "SEK", EVENING)


class Feed:
    """A fake feed: serves documents in turn, or fails, and counts the fetches."""

    def __init__(self, *documents: bytes | Exception) -> None:
        self.documents, self.calls = list(documents), 0

    def __call__(self) -> bytes:
        self.calls += 1
        item = self.documents[min(self.calls, len(self.documents)) - 1]
        if isinstance(item, Exception):
            raise item
        return item


def test_the_feed_is_fetched_once_per_publication():
    feed, now = Feed(SAMPLE), [EVENING]
    rates = EcbReferenceRates(feed, clock=lambda: now[0])
    for _ in range(5):
        rates.rate("EUR", "SEK", EVENING)
        rates.rate("EUR", "PLN", EVENING)
    assert feed.calls == 1


def test_a_late_publication_is_asked_for_at_most_every_ten_minutes():
    now = [datetime(2025, 10, 22, 16, 5, tzinfo=UTC)]  # the 22nd's is due; the feed still serves the 21st
    feed = Feed(SAMPLE, SAMPLE, ecb_document("2025-10-22", SEK="10.95"))
    rates = EcbReferenceRates(feed, clock=lambda: now[0])
    for _ in range(3):
        with pytest.raises(StaleRate):
            rates.rate("EUR", "SEK", now[0])
    assert feed.calls == 1
    now[0] += timedelta(minutes=10)
    with pytest.raises(StaleRate):
        rates.rate("EUR", "SEK", now[0])
    now[0] += timedelta(minutes=10)
    assert rates.rate("EUR", "SEK", now[0]).value == Decimal("10.95")
    assert feed.calls == 3


def test_an_unreachable_feed():
    feed = Feed(RateUnavailable("the ECB feed could not be fetched (ConnectTimeout)"))
    with pytest.raises(RateUnavailable, match="ConnectTimeout"):
        EcbReferenceRates(feed, clock=lambda: EVENING).rate("EUR", "SEK", EVENING)


def test_the_rates_held_survive_a_failed_fetch_while_fresh_and_never_go_back_a_day():
    now = [EVENING]
    feed = Feed(SAMPLE, RateUnavailable("down"), ecb_document("2025-10-20"))
    rates = EcbReferenceRates(feed, clock=lambda: now[0], refetch_after=timedelta(0))
    assert rates.rate("EUR", "SEK", now[0]).value == Decimal("10.9345")
    now[0] = datetime(2025, 10, 22, 17, 0, tzinfo=UTC)  # the 22nd's is due; fetch fails
    with pytest.raises(StaleRate, match=r"those of 2025-10-21.*\(down\)"):
        rates.rate("EUR", "SEK", now[0])
    with pytest.raises(StaleRate):  # the feed now serves an older day: ignored
        rates.rate("EUR", "SEK", now[0])
    assert rates.publication(EVENING).day == date(2025, 10, 21)


def test_fetching_needs_the_network(monkeypatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise requests.ConnectionError("no egress in tests")

    monkeypatch.setattr(requests, "get", refuse)
    with pytest.raises(RateUnavailable, match="could not be fetched"):
        fetch_ecb_daily()


def test_errors_are_domain_errors():
    for error in (InvalidRate, RateUnavailable, StaleRate, UnsupportedCurrencyPair, InvalidRateTable):
        assert issubclass(error, DomainError)
    assert isinstance(Rate("EUR", "SEK", Decimal("1"), "x", PUBLISHED), Rate)
