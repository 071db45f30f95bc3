"""The composition root: the one place that builds the adapters and hands them to the use cases.

Everything is created lazily on first use and reused across invocations of the process, and each
function builds only what it uses (the Pub/Sub, Cloud Tasks and provider clients are imported
when first needed), so a cold start pays for its own dependencies only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from shared.domain.countries import CountryRegistry, load_country_rules
from shared.settings import get_settings
from shared.usecases.ports import (
    BankFileQueue,
    BankFiles,
    BankFileStore,
    ConsoleReads,
    DocumentStore,
    FundingBalances,
    PayoutPolicy,
    ProviderDirectory,
    RailControls,
    RateSource,
)

if TYPE_CHECKING:
    from shared.adapters.firestore import FirestoreStore
    from shared.usecases.bank_transfers import BankFileWriter, BankReportIntake
    from shared.usecases.dac7 import Dac7Reporting
    from shared.usecases.payouts import PayoutService
    from shared.usecases.rail_ops import HealthPublisher
    from shared.usecases.rail_selection import RailSelector
    from shared.usecases.reconciliation import ReconciliationService


@lru_cache(maxsize=1)
def store() -> FirestoreStore:
    from shared.adapters.firestore import FirestoreStore

    return FirestoreStore(get_settings())


@lru_cache(maxsize=1)
def country_rules() -> CountryRegistry:
    return load_country_rules(get_settings().country_rules_path)


@lru_cache(maxsize=1)
def console_reads() -> ConsoleReads:
    from shared.adapters.firestore.console import FirestoreConsoleReads

    return FirestoreConsoleReads(store())


@lru_cache(maxsize=1)
def providers() -> ProviderDirectory:
    from shared.adapters.providers import ConfiguredProviders

    return ConfiguredProviders(get_settings())


def payout_policy() -> PayoutPolicy:
    settings = get_settings()
    return PayoutPolicy(
        stuck_after_seconds=settings.stuck_after_seconds,
        sender_claim_seconds=settings.sender_claim_seconds,
        return_check_after_seconds=settings.return_check_after_seconds,
        return_watch_days=settings.return_watch_days,
        run_buckets=settings.run_buckets,
        run_page_size=settings.run_page_size,
        remittance_advice=settings.remittance_advice,
        bank_answer_business_days=settings.bank_answer_business_days,
    )


@lru_cache(maxsize=1)
def payout_service() -> PayoutService:
    from shared.adapters.tasks import CloudTaskQueue
    from shared.monitoring import ObservedPublisher
    from shared.usecases.payouts import PayoutService

    settings = get_settings()
    # The publisher also writes the metric line of every status change it publishes.
    return PayoutService(
        store(),
        country_rules(),
        CloudTaskQueue(settings),
        ObservedPublisher(settings),
        providers(),
        payout_policy(),
        rails=rail_selector(),
        funding=funding_balances(),
        rates=rate_source(),  # issue 17: converting other currencies at payout creation
    )


def funding_balances() -> FundingBalances:
    from shared.adapters.funding_balances import RailFundingBalances

    return RailFundingBalances(get_settings(), bank_files=bank_file_store())


# --- rails (shared/usecases/rail_selection.py) -----------------------------------------------


@lru_cache(maxsize=1)
def rail_controls() -> RailControls:
    from shared.adapters.firestore.rail_controls import FirestoreRailControls

    return FirestoreRailControls(store())


def bank_file_queue() -> BankFileQueue | None:
    """The batch rails' hook (shared/usecases/bank_transfers.py): payouts on sepa_file are queued
    for the bank-file writer."""
    from shared.usecases.bank_transfers import BankFileQueueing

    return BankFileQueueing(bank_file_store(), get_settings().sepa_debtor_iban, store().payouts.flag_stuck)


# --- the SEPA bank-file rail (shared/usecases/bank_transfers.py) ----------------------------------


@lru_cache(maxsize=1)
def bank_file_store() -> BankFileStore:
    from shared.adapters.firestore.bank_files import FirestoreBankFiles

    return FirestoreBankFiles(store())


@lru_cache(maxsize=1)
def bank_files() -> BankFiles:
    from shared.adapters.bank_files.bank_connection import BucketBankFiles
    from shared.adapters.bank_files.sepa_credit_transfer import SepaDebtor
    from shared.adapters.cloud_storage import CloudStorage

    settings = get_settings()
    debtor = SepaDebtor.from_settings(settings)
    return BucketBankFiles(CloudStorage(settings), settings.bank_outbound_bucket, debtor)


def bank_file_writer() -> BankFileWriter:
    from shared.usecases.bank_transfers import BankFileWriter

    return BankFileWriter(
        bank_file_store(),
        bank_files(),
        payout_service(),
        max_per_file=get_settings().sepa_max_transactions_per_file,
    )


def bank_report_intake() -> BankReportIntake:
    from shared.usecases.bank_transfers import BankReportIntake

    return BankReportIntake(store(), bank_file_store(), bank_files(), payout_service())


@lru_cache(maxsize=1)
def rail_selector() -> RailSelector:
    from shared.domain.rail_capabilities import load_rail_capabilities
    from shared.usecases.rail_selection import RailSelector

    return RailSelector(
        load_rail_capabilities(),
        rail_controls(),
        bank_file_queue(),
        after_send=rail_health_publisher().maybe_publish,
    )


@lru_cache(maxsize=1)
def rail_health_publisher() -> HealthPublisher:
    import os
    import socket
    import uuid

    from shared.adapters.providers.breaker import rails_health
    from shared.usecases.rail_ops import HealthPublisher

    # One id per process: Cloud Run's revision and the host, and a random part for restarts.
    instance = f"{os.environ.get('K_REVISION', 'local')}-{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
    return HealthPublisher(rail_controls(), rails_health, instance)


@lru_cache(maxsize=1)
def reconciliation_service() -> ReconciliationService:
    from shared.adapters.rail_records.sources import ConfiguredRailRecords
    from shared.usecases.reconciliation import ReconciliationService

    # A break's event is relayed at once by the payout service's relay (the sweeper relays
    # whatever that misses).
    return ReconciliationService(store(), ConfiguredRailRecords(get_settings()), relay=payout_service().relay)


@lru_cache(maxsize=1)
def documents() -> DocumentStore:
    """The documents bucket (remittance advice)."""
    from shared.adapters.cloud_storage import CloudStorage
    from shared.adapters.documents.document_store import BucketDocuments

    settings = get_settings()
    return BucketDocuments(CloudStorage(settings), settings.documents_bucket)


@lru_cache(maxsize=1)
def rate_source() -> RateSource:
    """Exchange rates: the ECB's reference rates, or the fixed table locally (FX_RATE_SOURCE)."""
    from datetime import timedelta

    from shared.adapters.fx_rates import fixed_table_source, reference_rate_source

    settings = get_settings()
    if settings.fx_rate_source == "ecb":
        return reference_rate_source()
    return fixed_table_source(max_age=timedelta(hours=settings.fx_rate_max_age_hours))


@lru_cache(maxsize=1)
def dac7_reporting() -> Dac7Reporting:
    """The yearly DAC7 report, from the platform operator configured in DAC7_PLATFORM_OPERATOR
    (none configured: every request is refused with dac7_not_configured)."""
    from shared.domain.dac7 import PlatformOperatorIn
    from shared.domain.validation import parse_payload
    from shared.usecases.dac7 import Dac7Reporting

    configured = get_settings().dac7_platform_operator
    operator = parse_payload(PlatformOperatorIn, configured).to_domain() if configured else None
    return Dac7Reporting(store(), operator, rate_source())


@lru_cache(maxsize=1)
def tax_reports() -> DocumentStore:
    """The tax-reports bucket (DAC7 files: finance only)."""
    from shared.adapters.cloud_storage import CloudStorage
    from shared.adapters.documents.document_store import BucketDocuments

    settings = get_settings()
    return BucketDocuments(CloudStorage(settings), settings.tax_reports_bucket)
