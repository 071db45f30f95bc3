"""Where each rail's records come from, for reconciliation (the ``RailRecordSources`` port of
``shared/usecases/ports.py``): one small reader per rail, each bounded by the window it is asked
about and paged by the rail's own cursor, normalised by this package's pure functions.

- sandbox: ``GET /v1/transfers?created_gte&created_lt&limit=100&starting_after`` (transfers
  created in the window; a return shows as the transfer's status).
- adyen: ``GET /transactions?balanceAccountId&createdSince&createdUntil&limit=100&cursor``
  through the Adyen adapter (``AdyenProvider.booked_transactions``: the official SDK, every answer
  checked against TransferService-v4); top-ups are funding, not payout movements.
- stripe: the platform's transfers, their bank payouts and the balance's fees, by ``created``,
  through the Stripe adapter (``StripeRecords``): one movement per payout.
- sepa_file: the bank's camt.053 statements in the inbound bucket (``camt.053/<date>/…``, read
  with the ISO 20022 bindings), for the window's days and the day after (an end-of-day statement
  may come the next morning); a statement delivered twice is read once (its MsgId), an entry on
  two statements once (its reference), and only entries booked in the window are records.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import requests

from shared.adapters.cloud_storage import ObjectStore
from shared.adapters.rail_records.adyen import RAIL as ADYEN
from shared.adapters.rail_records.adyen import adyen_transaction
from shared.adapters.rail_records.bank_statement import RAIL as SEPA_FILE
from shared.adapters.rail_records.bank_statement import statement_records
from shared.adapters.rail_records.sandbox import RAIL as SANDBOX
from shared.adapters.rail_records.sandbox import sandbox_transfer
from shared.adapters.rail_records.stripe import RAIL as STRIPE
from shared.adapters.rail_records.stripe import stripe_balance_transaction, stripe_payout_movement
from shared.domain.reconciliation import RailRecord, RailRecordKind, Window
from shared.settings import Settings
from shared.usecases.ports import RailRecordSource, UnknownRail

PAGE = 100
logger = logging.getLogger(__name__)


class RailRecordsUnavailable(Exception):
    """The rail did not answer as documented; the run is retried (the job's next delivery)."""


def _unix(moment: datetime) -> int:
    """The first whole second at or after ``moment`` (a window's bounds are whole seconds)."""
    seconds = int(moment.timestamp())
    return seconds if seconds == moment.timestamp() else seconds + 1


class SandboxRecords:
    """The sandbox provider's transfers created in the window, oldest first."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self._url = settings.sandbox_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {settings.sandbox_api_key.get_secret_value()}"}
        self._timeout = (2.0, settings.provider_timeout_seconds)
        self._http = session or requests.Session()

    def records(self, window: Window) -> Iterator[RailRecord]:
        params: dict[str, str | int] = {
            "limit": PAGE,
            "created_gte": _unix(window.start),
            "created_lt": _unix(window.end),
        }
        while True:
            try:
                resp = self._http.get(
                    f"{self._url}/v1/transfers", params=params, headers=self._headers, timeout=self._timeout
                )
            except requests.RequestException as exc:
                raise RailRecordsUnavailable("sandbox unreachable") from exc
            if resp.status_code != 200:
                raise RailRecordsUnavailable(f"sandbox answered {resp.status_code}")
            try:
                body = resp.json()
                page = [sandbox_transfer(t) for t in body["data"]]
                more = bool(body["has_more"])
            except (ValueError, KeyError, TypeError) as exc:
                raise RailRecordsUnavailable("sandbox listing outside its contract") from exc
            yield from page
            if not more or not page:
                return
            params["starting_after"] = page[-1].record_id


class AdyenRecords:
    """The booked (and pending) transactions of the platform's Adyen balance account."""

    def __init__(self, settings: Settings) -> None:
        from shared.adapters.providers.adyen import AdyenProvider

        self._adyen = AdyenProvider(settings)

    def records(self, window: Window) -> Iterator[RailRecord]:
        from shared.adapters.providers.base import ProviderUnavailable

        try:
            for item in self._adyen.booked_transactions(window.start, window.end):
                try:
                    record = adyen_transaction(item)
                except ValueError as exc:
                    raise RailRecordsUnavailable(f"adyen transaction outside its contract: {exc}") from exc
                if record is not None:
                    yield record
        except ProviderUnavailable as exc:
            raise RailRecordsUnavailable(str(exc)) from exc


class StripeRecords:
    """The platform's Stripe records of the window, through the Stripe adapter (the official SDK,
    every object checked against Stripe's fixtures), newest first as Stripe lists them:

    1. ``GET /v1/transfers?created[gte]&created[lt]&limit=100&starting_after``: the platform's
       transfers to connected accounts (one per payout, ``transfer_group`` = our payout id);
    2. per connected account those transfers went to, ``GET /v1/payouts?created[gte]&limit=100``
       with ``Stripe-Account`` from its first transfer of the window less a minute (a bank payout
       made later by a lookup is still found): the bank payouts, matched by ``metadata.payout_id``;
    3. ``GET /v1/balance_transactions?created[gte]&created[lt]&limit=100``: only its fees are
       records (its ``transfer`` and ``transfer_refund`` rows are the transfers' own money).

    Each payout is one movement: its transfer with its bank payout's status
    (``rail_records/stripe.py:stripe_payout_movement``)."""

    def __init__(self, settings: Settings, provider: StripeListing | None = None, page: int = PAGE) -> None:
        from shared.adapters.providers.stripe_connect import RECOVERY_REASON, StripeConnectProvider

        self._stripe: StripeListing = provider or StripeConnectProvider(settings)
        self._recovery = RECOVERY_REASON
        self._page = page

    def records(self, window: Window) -> Iterator[RailRecord]:
        from shared.adapters.providers.base import ProviderUnavailable

        start, end = _unix(window.start), _unix(window.end)
        try:
            transfers = list(self._stripe.platform_transfers(start, end, limit=self._page))[::-1]
            since: dict[str, int] = {}
            for transfer in transfers:
                if (transfer.get("metadata") or {}).get("bank_payout") == "account_schedule":
                    continue  # the transfer is the payout: no bank payout of ours to look for
                account, created = str(transfer["destination"]), int(transfer["created"])
                since[account] = min(since.get(account, created), created)
            bank_payouts: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
            for account, first in sorted(since.items()):
                for payout in self._stripe.bank_payouts(account, first - 60, limit=self._page):
                    reference = (payout.get("metadata") or {}).get("payout_id")
                    if reference:
                        bank_payouts[str(reference)].append(payout)
            movements = []
            for transfer in transfers:
                record = stripe_payout_movement(
                    transfer, bank_payouts[_stripe_reference(transfer)], recovery_reason=self._recovery
                )
                movements.append(record)
            fees = [
                record
                for txn in self._stripe.balance_transactions(start, end, limit=self._page)
                for record in stripe_balance_transaction(txn)
                if record.kind is RailRecordKind.FEE
            ]
        except ProviderUnavailable as exc:
            raise RailRecordsUnavailable(str(exc)) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise RailRecordsUnavailable(f"stripe records outside their contract: {exc}") from exc
        yield from movements
        yield from fees[::-1]


def _stripe_reference(transfer: Mapping[str, Any]) -> str:
    metadata = transfer.get("metadata") or {}
    return str(metadata.get("payout_id") or transfer.get("transfer_group") or "")


class StripeListing(Protocol):
    """What :class:`StripeRecords` needs of the Stripe adapter (``StripeConnectProvider``)."""

    def platform_transfers(self, start: int, end: int, *, limit: int = ...) -> Iterator[dict[str, Any]]: ...

    def bank_payouts(self, account: str, since: int, *, limit: int = ...) -> Iterator[dict[str, Any]]: ...

    def balance_transactions(self, start: int, end: int, *, limit: int = ...) -> Iterator[dict[str, Any]]: ...


class BankStatementRecords:
    """The SEPA bank-file rail's records: the booked entries of the bank's camt.053 statements."""

    def __init__(self, settings: Settings, objects: ObjectStore | None = None) -> None:
        from shared.adapters.cloud_storage import CloudStorage

        self._objects: ObjectStore = objects or CloudStorage(settings)
        self._bucket = settings.bank_inbound_bucket
        self._account = settings.sepa_debtor_iban

    def records(self, window: Window) -> Iterator[RailRecord]:
        from shared.adapters.bank_files.bank_reports import read_bank_file
        from shared.domain.bank_files import BankFileError

        files: set[str] = set()
        entries: set[str] = set()
        day, last = window.start.date(), (window.end - timedelta(microseconds=1)).date() + timedelta(days=1)
        while day <= last:
            try:
                names = [o.name for o in self._objects.list(self._bucket, f"camt.053/{day.isoformat()}/")]
            except Exception as exc:  # the bucket did not answer: the run is retried
                raise RailRecordsUnavailable(f"bank statements unreadable: {type(exc).__name__}") from exc
            for name in names:
                content = self._objects.get(self._bucket, name)
                if content is None:
                    continue
                try:
                    report = read_bank_file(content, account_iban=self._account)
                except BankFileError as exc:  # a dead letter of bank-files-inbound already
                    logger.error("statement %s cannot be read (%s); left out", name, exc.message)
                    continue
                if report.file_id in files:
                    continue  # the same statement delivered twice
                files.add(report.file_id)
                for record in statement_records(report):
                    if record.record_id not in entries and window.start <= record.booked_at < window.end:
                        entries.add(record.record_id)
                        yield record
            day += timedelta(days=1)


class ConfiguredRailRecords:
    """The record sources of this deployment by rail name (``RECONCILED_RAILS``)."""

    def __init__(
        self, settings: Settings, factories: dict[str, Callable[[Settings], RailRecordSource]] | None = None
    ) -> None:
        self._settings = settings
        self._factories = dict(factories if factories is not None else _FACTORIES)
        self._rails = tuple(r for r in settings.reconciled_rails if r in self._factories)
        self._instances: dict[str, RailRecordSource] = {}

    def rails(self) -> tuple[str, ...]:
        return self._rails

    def get(self, rail: str) -> RailRecordSource:
        if rail not in self._rails:
            raise UnknownRail(rail)
        if rail not in self._instances:
            self._instances[rail] = self._factories[rail](self._settings)
        return self._instances[rail]


_FACTORIES: dict[str, Callable[[Settings], RailRecordSource]] = {
    SANDBOX: SandboxRecords,
    ADYEN: AdyenRecords,
    SEPA_FILE: BankStatementRecords,
    STRIPE: StripeRecords,
}
