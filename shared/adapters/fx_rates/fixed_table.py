"""A rate source over a fixed table of rates in a JSON file: for the local stack and the tests.

The file (``data/local_rates.json`` by default)::

    {"source": "fixed_table", "as_of": "2025-10-21T14:00:00Z",
     "rates": [{"base": "EUR", "quote": "SEK", "rate": "10.9345"}, ...]}

Rates are decimal *strings* (a JSON number is read as a float by most tools and may lose
digits). An entry may carry its own ``as_of``. The whole file is checked when it is loaded: a zero,
negative or malformed rate, an unknown currency, a pair given twice (in either direction) or a
naive time refuses the table, with the field path (``rates[3].rate``). Lookups give the direct
rate, its inverse, or a cross rate through another currency of the table (``fx.rate_from_table``),
and refuse a rate older than ``max_age`` or dated after the time asked for.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shared import strict_json
from shared.domain.errors import DomainError, UnknownCurrency
from shared.domain.fx import (
    InvalidRate,
    Rate,
    check_fresh,
    parse_rate_value,
    rate_from_table,
)
from shared.domain.money import currency_exponent

DEFAULT_TABLE = Path(__file__).parent / "data" / "local_rates.json"


class InvalidRateTable(DomainError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__("invalid_rate_table", message, field)


def _time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidRateTable("a time must be an ISO 8601 string", field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRateTable(f"{value[:40]!r} is not an ISO 8601 time", field) from None
    if parsed.utcoffset() is None:
        raise InvalidRateTable("a time must carry its offset (e.g. Z)", field)
    return parsed


def _currency(value: Any, field: str) -> str:
    try:
        currency_exponent(value)
    except UnknownCurrency as exc:
        raise InvalidRateTable(exc.message, field) from None
    return str(value)


def parse_rate_table(text: str | bytes) -> list[Rate]:
    """The rates of a table document; raises InvalidRateTable or InvalidRate with the field path."""
    try:
        doc = strict_json.loads(text)
    except strict_json.JsonRejected as exc:
        raise InvalidRateTable(exc.reason, exc.path) from None
    if not isinstance(doc, dict):
        raise InvalidRateTable("a rate table is a JSON object", "$")
    unknown = set(doc) - {"_about", "source", "as_of", "rates"}
    if unknown:
        raise InvalidRateTable("unknown field", sorted(unknown)[0])
    source = doc.get("source", "fixed_table")
    if not isinstance(source, str) or not source.strip():
        raise InvalidRateTable("source must be a non-empty string", "source")
    default_as_of = _time(doc.get("as_of"), "as_of")
    entries = doc.get("rates")
    if not isinstance(entries, list) or not entries:
        raise InvalidRateTable("rates must be a non-empty list", "rates")
    rates: list[Rate] = []
    seen: set[frozenset[str]] = set()
    for i, entry in enumerate(entries):
        path = f"rates[{i}]"
        if not isinstance(entry, dict):
            raise InvalidRateTable("a rate is an object", path)
        extra = set(entry) - {"base", "quote", "rate", "as_of"}
        if extra:
            raise InvalidRateTable("unknown field", f"{path}.{sorted(extra)[0]}")
        base, quote = (
            _currency(entry.get("base"), f"{path}.base"),
            _currency(entry.get("quote"), f"{path}.quote"),
        )
        if base == quote:
            raise InvalidRateTable(f"{base}/{quote} is not a conversion", f"{path}.quote")
        if frozenset((base, quote)) in seen:
            raise InvalidRateTable(f"{base}/{quote} is given twice (in one direction or the other)", path)
        seen.add(frozenset((base, quote)))
        value = parse_rate_value(entry.get("rate"), f"{path}.rate")  # InvalidRate: zero, negative...
        as_of = _time(entry["as_of"], f"{path}.as_of") if "as_of" in entry else default_as_of
        rates.append(Rate(base, quote, value, source, as_of))
    return rates


class FixedTableRates:
    """``RateSource`` over a fixed table. ``max_age`` is how old a rate may be when it is used:
    a table is never refreshed, so a deployment that keeps one must say how long it trusts it."""

    name = "fixed_table"

    def __init__(self, rates: list[Rate], *, max_age: timedelta) -> None:
        self._rates = tuple(rates)
        self._max_age = max_age

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_TABLE, *, max_age: timedelta) -> FixedTableRates:
        try:
            return cls(parse_rate_table(Path(path).read_bytes()), max_age=max_age)
        except (InvalidRateTable, InvalidRate) as exc:
            raise type(exc)(f"{Path(path).name}: {exc.message}", exc.field) from None

    def rate(self, base: str, quote: str, at: datetime) -> Rate:
        return check_fresh(rate_from_table(self._rates, base, quote), at, self._max_age)
