"""Process-wide dependencies, created lazily on first use and reused across invocations."""

from __future__ import annotations

from functools import lru_cache

from shared.adapters.firestore_store import FirestoreStore
from shared.domain.countries import CountryRegistry, load_country_rules
from shared.settings import get_settings
from shared.usecases.payouts import PayoutService


@lru_cache(maxsize=1)
def store() -> FirestoreStore:
    return FirestoreStore(get_settings())


@lru_cache(maxsize=1)
def country_rules() -> CountryRegistry:
    return load_country_rules(get_settings().country_rules_path)


@lru_cache(maxsize=1)
def payout_service() -> PayoutService:
    from shared.adapters.tasks import TaskQueue
    from shared.monitoring import ObservedPublisher

    settings = get_settings()
    # The publisher also writes the metric line of every status change it publishes.
    return PayoutService(store(), country_rules(), TaskQueue(settings), ObservedPublisher(settings))
