"""Remittance advice: what a seller receives with each paid payout, as data. No I/O.

The advice lists the payout's contents (every sale, commission, refund and adjustment it pays, see
:mod:`shared.domain.payout_contents`) in the seller's language. It is built here from domain values
and rendered to PDF by ``shared.adapters.documents.remittance_pdf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from babel import Locale, UnknownLocaleError
from babel.languages import get_official_languages

from shared.domain.errors import DomainError
from shared.domain.money import Money
from shared.domain.payout_contents import ContentLine, ContentsOutOfStep, LeftReason, PayoutContents
from shared.domain.payouts import Payout, PayoutStatus, paid_at
from shared.domain.sellers import Seller

SUPPORTED_LANGUAGES = ("en", "fr", "de", "es", "it", "ja")
COUNTRY_LANGUAGES = {"FR": "fr", "BE": "fr", "DE": "de", "ES": "es", "IT": "it", "JP": "ja"}


class PayoutNotPaid(DomainError):
    """Answered 409 (``shared/entrypoints/http.py:DOMAIN_ERROR_STATUS``)."""

    def __init__(self, payout_id: str, status: PayoutStatus) -> None:
        super().__init__(
            "payout_not_paid", f"payout {payout_id} is {status.value}: remittance advice is for paid payouts"
        )


def advice_language(requested: str | None, country: str) -> str:
    """The seller's language if we have it (``fr``, ``fr-BE``, ``ja_JP``...), else its country's,
    else English."""
    if requested:
        language = requested.replace("-", "_").split("_")[0].lower()
        if language in SUPPORTED_LANGUAGES:
            return language
    return COUNTRY_LANGUAGES.get(country, "en")


def advice_locale(language: str, country: str) -> str:
    """The locale numbers, dates and currencies are written in: the language as spoken in the
    seller's country when it is one of the country's languages (``fr_BE``, ``de_DE``), else the
    language's own conventions (English for a seller in France: ``en``, not ``en_FR``)."""
    if language not in get_official_languages(country, de_facto=True):
        return language
    try:
        return str(Locale.parse(f"{language}_{country}"))
    except (UnknownLocaleError, ValueError):
        return language


@dataclass(frozen=True)
class RemittanceAdvice:
    payout_id: str
    seller_id: str
    seller_name: str
    bank_account: str  # masked: FR••••0189
    amount: Money
    created_at: datetime
    paid_at: datetime
    timezone: str  # dates are the seller's local dates
    language: str  # of the labels: one of SUPPORTED_LANGUAGES
    locale: str  # of numbers, dates and currencies (babel)
    marketplace_name: str
    lines: tuple[ContentLine, ...]
    left_for_later: Money  # what stays in the balance after this payout (not part of it)
    left_reason: LeftReason | None = None
    provider_ref: str | None = None

    def total(self) -> Money:
        return Money(sum(line.amount.amount for line in self.lines), self.amount.currency)


def remittance_advice(
    payout: Payout,
    contents: PayoutContents,
    seller: Seller,
    *,
    timezone: str,
    marketplace_name: str,
    language: str | None = None,
) -> RemittanceAdvice:
    """The advice for a paid payout; its lines must sum to the payout amount."""
    if payout.status is not PayoutStatus.PAID:
        raise PayoutNotPaid(payout.payout_id, payout.status)
    if contents.payout_id != payout.payout_id or seller.seller_id != payout.seller_id:
        raise ContentsOutOfStep(f"contents or seller given for payout {payout.payout_id} are not its own")
    if contents.total() != payout.amount:
        raise ContentsOutOfStep(
            f"payout {payout.payout_id}: contents sum to {contents.total()}, not {payout.amount}"
        )
    chosen = advice_language(language, seller.country)
    paid = paid_at(payout)
    assert paid is not None  # a paid payout has its paid transition
    left = sum(g.open for g in contents.left_for_later)
    return RemittanceAdvice(
        payout_id=payout.payout_id,
        seller_id=seller.seller_id,
        seller_name=seller.display_name,
        bank_account=seller.bank_account.masked,
        amount=payout.amount,
        created_at=payout.created_at,
        paid_at=paid,
        timezone=timezone,
        language=chosen,
        locale=advice_locale(chosen, seller.country),
        marketplace_name=marketplace_name,
        lines=tuple(contents.lines()),
        left_for_later=Money(left, payout.amount.currency),
        left_reason=contents.left_reason,
        provider_ref=payout.provider_ref,
    )
