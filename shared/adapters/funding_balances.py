"""What the platform holds at each rail (the ``FundingBalances`` port), read from the rail's own
balance endpoint through its provider adapter:

- sandbox: ``GET /v1/balance?currency=`` (``SandboxProvider.platform_balance``);
- adyen: the platform balance account's ``available`` balance, Configuration API
  ``GET /balanceAccounts/{id}`` (official SDK, checked against BalancePlatformService-v2);
- stripe: the platform's ``available`` balance, ``GET /v1/balance`` (official SDK);
- sepa_file: the platform's account at the bank as its last camt.053 statement closed (``CLBD``,
  read from the inbound bucket with the ISO 20022 bindings), less what the pain.001 files written
  since told the bank to pay (``BankFileStore.written_since``); no statement in the last
  ``STATEMENT_LOOKBACK_DAYS``: unreported (the line says so, and never holds a run).

A rail that does not answer raises ``FundingUnreadable``: the run's check is made at the next sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from shared.adapters.cloud_storage import ObjectStore
from shared.adapters.providers.base import ProviderUnavailable
from shared.domain.bank_files import BankFileError, BankReport
from shared.settings import Settings
from shared.usecases.ports import BankFileStore, FundingUnreadable

Reader = Callable[[str], int | None]
STATEMENT_LOOKBACK_DAYS = 7
logger = logging.getLogger(__name__)


def _sandbox(settings: Settings) -> Reader:
    from shared.adapters.providers.sandbox import SandboxProvider

    return SandboxProvider(settings).platform_balance


def _adyen(settings: Settings) -> Reader:
    from shared.adapters.providers.adyen import AdyenProvider

    return AdyenProvider(settings).platform_balance


def _stripe(settings: Settings) -> Reader:
    from shared.adapters.providers.stripe_connect import StripeConnectProvider

    return StripeConnectProvider(settings).platform_balance


_READERS: dict[str, Callable[[Settings], Reader]] = {"sandbox": _sandbox, "adyen": _adyen, "stripe": _stripe}
BANK_RAIL = "sepa_file"


class BankStatementFunding:
    """The bank rail's funds: the last statement's closing balance less what was sent since."""

    def __init__(
        self,
        settings: Settings,
        files: BankFileStore,
        objects: ObjectStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        from shared.adapters.cloud_storage import CloudStorage

        self._objects: ObjectStore = objects or CloudStorage(settings)
        self._bucket = settings.bank_inbound_bucket
        self._account = settings.sepa_debtor_iban
        self._files = files
        self._clock = clock

    def __call__(self, currency: str) -> int | None:
        try:
            statement = self.last_statement(currency)
            if statement is None or statement.closing_balance is None:
                return None
            return statement.closing_balance.amount - self.sent_since(statement.created_at, currency)
        except Exception as exc:  # the bucket or the store did not answer: checked again later
            logger.exception("the bank rail's funds could not be read")
            raise ProviderUnavailable(f"bank funds unreadable: {type(exc).__name__}") from exc

    def last_statement(self, currency: str) -> BankReport | None:
        """The newest camt.053 of our account whose closing balance is in ``currency``, from the
        newest day that has one (within the lookback)."""
        from shared.adapters.bank_files.bank_reports import read_bank_file

        today = self._clock().date()
        for back in range(STATEMENT_LOOKBACK_DAYS + 1):
            day = today - timedelta(days=back)
            found: list[BankReport] = []
            for obj in self._objects.list(self._bucket, f"camt.053/{day.isoformat()}/"):
                content = self._objects.get(self._bucket, obj.name)
                if content is None:
                    continue
                try:
                    report = read_bank_file(content, account_iban=self._account)
                except BankFileError as exc:  # a dead letter of bank-files-inbound already
                    logger.warning(
                        "statement %s unreadable for funding (%s); left out", obj.name, exc.message
                    )
                    continue
                closing = report.closing_balance
                if closing is not None and closing.currency == currency:
                    found.append(report)
            if found:
                return max(found, key=lambda r: r.created_at)
        return None

    def sent_since(self, since: datetime, currency: str) -> int:
        """What the pain.001 files written at or after ``since`` pay, in ``currency``."""
        total = 0
        for batch in self._files.written_since(since, limit=1000):
            if batch.rail != BANK_RAIL or batch.currency != currency:
                continue
            total += sum(item.amount.amount for item in self._files.items(batch.payout_ids))
        return total


class RailFundingBalances:
    def __init__(self, settings: Settings, bank_files: BankFileStore | None = None) -> None:
        self._settings = settings
        self._readers: dict[str, Reader] = {}
        if bank_files is not None:  # the bank rail needs our own record of the files it was sent
            self._readers[BANK_RAIL] = BankStatementFunding(settings, bank_files)

    def available(self, rail: str, currency: str) -> int | None:
        if rail not in self._readers:
            if rail not in _READERS:
                return None
            self._readers[rail] = _READERS[rail](self._settings)
        try:
            return self._readers[rail](currency)
        except ProviderUnavailable as exc:
            raise FundingUnreadable(f"{rail}: {exc}") from exc
