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
from shared.usecases.ports import ConsoleReads, DocumentStore, PayoutPolicy, ProviderDirectory

if TYPE_CHECKING:
    from shared.adapters.firestore import FirestoreStore
    from shared.usecases.payouts import PayoutService


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
        return_check_after_seconds=settings.return_check_after_seconds,
        return_watch_days=settings.return_watch_days,
        run_buckets=settings.run_buckets,
        run_page_size=settings.run_page_size,
        remittance_advice=settings.remittance_advice,
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
    )


@lru_cache(maxsize=1)
def documents() -> DocumentStore:
    """The documents bucket (remittance advice)."""
    from shared.adapters.cloud_storage import CloudStorage
    from shared.adapters.documents.document_store import BucketDocuments

    settings = get_settings()
    return BucketDocuments(CloudStorage(settings), settings.documents_bucket)
