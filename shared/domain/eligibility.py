"""Who is paid in a payout run, and why not: the eligibility rules, with no I/O.

A seller is paid the whole of its ``available`` balance when, in order:
the run date is a payout day of its schedule on a business day of its country (and that date
has begun in its timezone); its KYC is verified; its payouts are not on hold; its bank account
is valid and not inside the country's cooling-off period after a change; its balance is not
negative; and ``available`` is at least the country's minimum payout. A payout never exceeds the
country's ``max_transaction_amount`` (what the rails accept in one transfer): a run pays up to it
and leaves the rest for the next run; an on-demand request over it is refused.
Every seller who is not paid gets exactly one :class:`SkipReason`, so ops can answer
"why wasn't I paid?".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from shared.domain.countries import CountryRules
from shared.domain.money import Money, amount_text
from shared.domain.schedule import is_business_day, is_payout_due, local_date
from shared.domain.sellers import BankAccountStatus, KycStatus, Seller


class SkipReason(StrEnum):
    NOT_A_PAYOUT_DAY = "not_a_payout_day"
    NOT_YET_IN_TIMEZONE = "not_yet_in_timezone"
    KYC_PENDING = "kyc_pending"
    KYC_REJECTED = "kyc_rejected"
    ON_HOLD = "on_hold"
    BANK_ACCOUNT_INVALID = "bank_account_invalid"
    BANK_ACCOUNT_COOLING_OFF = "bank_account_cooling_off"
    NEGATIVE_BALANCE = "negative_balance"
    NO_AVAILABLE_BALANCE = "no_available_balance"
    BELOW_MINIMUM = "below_minimum"
    INSUFFICIENT_AVAILABLE_BALANCE = "insufficient_available_balance"  # on demand: asked for too much
    AMOUNT_OVER_LIMIT = "amount_over_limit"  # on demand: over the country's max_transaction_amount
    # Foreign exchange (shared/domain/payout_currency.py):
    PAYOUT_CURRENCY_UNSUPPORTED = "payout_currency_unsupported"  # no rail of the country can pay it
    FX_RATE_UNAVAILABLE = "fx_rate_unavailable"  # no usable rate: unsupported pair, missing, stale, invalid
    # Rails (shared/domain/rail_routing.py):
    NO_RAIL = "no_rail"  # no rail of the country's route can pay this seller now (detail says why)


# Why part of a balance waits for the next run (RunItem.left_reason).
LEFT_OVER_MAX_TRANSACTION_AMOUNT = "max_transaction_amount"


@dataclass(frozen=True)
class Decision:
    amount: Money | None  # what to pay, or None
    skip: SkipReason | None = None
    detail: str | None = None
    left_for_next_run: Money | None = None  # available but over the limit of one payout

    @property
    def pays(self) -> bool:
        return self.amount is not None


def skip(reason: SkipReason, detail: str) -> Decision:
    return Decision(None, reason, detail)


def decide_payout(
    seller: Seller, rules: CountryRules, available: Money, run_date: date, now: datetime
) -> Decision:
    """The scheduled-run decision for one seller."""
    if local_date(rules, now) < run_date:
        return skip(SkipReason.NOT_YET_IN_TIMEZONE, f"{run_date} has not begun in {rules.timezone}")
    if not is_business_day(rules, run_date) or not _payout_due(seller, rules, run_date):
        return skip(SkipReason.NOT_A_PAYOUT_DAY, f"{run_date} is not a payout day of this seller's schedule")
    blocked = payout_blocker(seller, rules, now)
    if blocked is not None:
        return blocked
    return amount_decision(available, rules)


def _payout_due(seller: Seller, rules: CountryRules, run_date: date) -> bool:
    try:
        return is_payout_due(seller.payout_schedule, rules, run_date)
    except OverflowError:  # days before the first representable date (0001-01-01): never due
        return False


def payout_blocker(seller: Seller, rules: CountryRules, now: datetime) -> Decision | None:
    """Rules that stop any payout, scheduled or on demand."""
    if seller.kyc_status is KycStatus.PENDING:
        return skip(SkipReason.KYC_PENDING, "KYC is not verified yet")
    if seller.kyc_status is KycStatus.REJECTED:
        return skip(SkipReason.KYC_REJECTED, "KYC was rejected")
    if seller.payout_hold.held:
        return skip(SkipReason.ON_HOLD, seller.payout_hold.reason or "payouts on hold")
    if seller.bank_account_status is BankAccountStatus.INVALID:
        return skip(
            SkipReason.BANK_ACCOUNT_INVALID,
            f"the bank refused the account: {seller.bank_account_invalid_reason}; update the bank account",
        )
    until = seller.cooling_off_until(rules)
    if now < until:
        return skip(
            SkipReason.BANK_ACCOUNT_COOLING_OFF,
            f"bank account changed on {seller.bank_account_changed_at.date()}; "
            f"payouts resume on {until.date()}",
        )
    return None


def amount_decision(available: Money, rules: CountryRules) -> Decision:
    if available.is_negative():
        return skip(
            SkipReason.NEGATIVE_BALANCE, f"available balance is {amount_text(available)}; refunds are owed"
        )
    if available.is_zero():
        return skip(SkipReason.NO_AVAILABLE_BALANCE, "nothing available to pay")
    if available.amount < rules.minimum_payout:
        return skip(
            SkipReason.BELOW_MINIMUM,
            f"available {amount_text(available)} is below the minimum "
            f"{amount_text(rules.minimum_payout_money)}",
        )
    limit = rules.max_transaction_money
    if available > limit:
        return Decision(
            limit,
            detail=f"paid the limit of one payout, {amount_text(limit)}; "
            f"{amount_text(available - limit)} left for the next run",
            left_for_next_run=available - limit,
        )
    return Decision(available)


def requested_amount_decision(amount: Money, available: Money, rules: CountryRules) -> Decision:
    """An on-demand payout of ``amount``: within the limit of one payout, not more than available,
    not less than the minimum."""
    if amount > rules.max_transaction_money:
        return skip(
            SkipReason.AMOUNT_OVER_LIMIT,
            f"amount {amount_text(amount)} exceeds the limit of one payout in {rules.country}, "
            f"{amount_text(rules.max_transaction_money)}",
        )
    if amount > available:
        return skip(
            SkipReason.INSUFFICIENT_AVAILABLE_BALANCE,
            f"amount {amount_text(amount)} exceeds the available {amount_text(available)}",
        )
    if amount.amount < rules.minimum_payout:
        return skip(
            SkipReason.BELOW_MINIMUM,
            f"amount {amount_text(amount)} is below the minimum {amount_text(rules.minimum_payout_money)}",
        )
    return Decision(amount)
