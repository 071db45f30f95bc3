"""Serialise work on one key inside a process.

Firestore transactions on one document already exclude each other, but contending ones wait
and retry (the emulator locks pessimistically and waits 2 s per conflict). Concurrent requests
about the same payout or order line, which one instance receives together (a provider's
duplicate webhooks, an order's events sent at once), queue here instead. Correctness never
depends on this lock: it only keeps contention off the datastore.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
