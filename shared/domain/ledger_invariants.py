"""The ledger's invariants, checked on the journal and the balances as recorded: read back from a
store, where nothing enforces them any more (a ``JournalEntry`` cannot even be built unbalanced).

- every entry's postings sum to zero per currency;
- every stored seller balance equals the sum of its postings;
- money is conserved per currency: what customers paid = paid out + commission + refunds +
  what sellers still hold + the platform's FX accounts in that currency (issue 17: a conversion
  takes money in through ``platform:fx:A`` and gives it out through ``platform:fx:B``; rounding
  and gain/loss have their own accounts);
- every posting goes to a platform account or a seller's bucket.

Amounts are integers in minor units; a balance is keyed by (account, currency).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.domain.fx import parse_fx_account
from shared.domain.ledger import PlatformAccount, parse_seller_account

Balances = Mapping[tuple[str, str], int]  # (account, currency) -> amount


@dataclass(frozen=True)
class RecordedPosting:
    account: str
    currency: str
    amount: int


@dataclass(frozen=True)
class RecordedEntry:
    """A journal entry as it was read back."""

    entry_id: str
    postings: tuple[RecordedPosting, ...]


def sums_by_currency(entry: RecordedEntry) -> dict[str, int]:
    """What the entry's postings add up to in each of its currencies: all zero when it balances."""
    sums: dict[str, int] = defaultdict(int)
    for posting in entry.postings:
        sums[posting.currency] += posting.amount
    return dict(sums)


def is_balanced(entry: RecordedEntry) -> bool:
    return not any(sums_by_currency(entry).values())


def posted_by_account(entries: Iterable[RecordedEntry]) -> dict[tuple[str, str], int]:
    """Sum of postings per (account, currency): what every balance must equal."""
    posted: dict[tuple[str, str], int] = defaultdict(int)
    for entry in entries:
        for posting in entry.postings:
            posted[(posting.account, posting.currency)] += posting.amount
    return dict(posted)


def journal_totals(posted: Balances) -> dict[str, int]:
    """Sum of every posting per currency: zero for a journal of balanced entries."""
    totals: dict[str, int] = defaultdict(int)
    for (_, currency), amount in posted.items():
        totals[currency] += amount
    return dict(totals)


@dataclass(frozen=True)
class BalanceMismatch:
    account: str
    currency: str
    stored: int
    posted: int


def balance_mismatches(posted: Balances, stored: Balances) -> list[BalanceMismatch]:
    """Seller balances whose stored amount is not the sum of their postings, in account order.
    ``stored`` holds the sellers' buckets as kept; a bucket missing on either side is zero."""
    seller_keys = {key for key in posted if parse_seller_account(key[0])} | set(stored)
    found = []
    for account, currency in sorted(seller_keys):
        kept, sum_of_postings = stored.get((account, currency), 0), posted.get((account, currency), 0)
        if kept != sum_of_postings:
            found.append(BalanceMismatch(account, currency, kept, sum_of_postings))
    return found


@dataclass(frozen=True)
class MoneyFlow:
    """Where one currency's money went. ``collected`` is what customers paid."""

    currency: str
    collected: int
    paid_out: int
    commission: int
    refunds: int
    balances: int  # what sellers still hold, pending + available + in flight
    rail_fees: int = 0  # what the rails charged, moved from commission once reconciled
    # The FX accounts in this currency (platform:fx, fx_rounding, fx_gain_loss): the platform's
    # position from conversions; positive, it took in more than it gave out in this currency.
    fx: int = 0

    @property
    def accounted_for(self) -> int:
        return self.paid_out + self.commission + self.refunds + self.balances + self.rail_fees + self.fx

    @property
    def conserved(self) -> bool:
        return self.collected == self.accounted_for


def money_flows(posted: Balances, stored: Balances) -> dict[str, MoneyFlow]:
    """Per currency of the journal or the balances: the platform accounts' totals from the
    postings, the sellers' share from the stored balances."""
    currencies = sorted({ccy for _, ccy in posted} | {ccy for _, ccy in stored})
    return {
        ccy: MoneyFlow(
            currency=ccy,
            collected=-posted.get((PlatformAccount.CUSTOMER_FUNDS.value, ccy), 0),
            paid_out=posted.get((PlatformAccount.PAYOUTS.value, ccy), 0),
            commission=posted.get((PlatformAccount.COMMISSION.value, ccy), 0),
            refunds=posted.get((PlatformAccount.REFUNDS.value, ccy), 0),
            rail_fees=posted.get((PlatformAccount.RAIL_FEES.value, ccy), 0),
            balances=sum(amount for (_, c), amount in stored.items() if c == ccy),
            fx=sum(amount for (a, c), amount in posted.items() if c == ccy and parse_fx_account(a)),
        )
        for ccy in currencies
    }


def unknown_accounts(posted: Balances) -> list[str]:
    """Accounts that are neither a platform account (an FX account per currency included) nor a
    seller's bucket, sorted."""
    platform = {a.value for a in PlatformAccount}
    return sorted(
        {
            a
            for a, _ in posted
            if a not in platform and not parse_seller_account(a) and not parse_fx_account(a)
        }
    )
