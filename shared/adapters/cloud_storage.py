"""Cloud Storage behind a small interface: put an object if absent, get it, list by prefix.

Bank files are written once and never changed: ``put_if_absent`` creates with the precondition
``ifGenerationMatch=0``, so of two writers of one name exactly one creates it and the other is
told it exists; if what exists is byte-identical (the same batch written again) that is success,
otherwise :class:`ObjectConflict` (never overwrite a file the bank may already have read).

Locally the client talks to the emulator (``STORAGE_EMULATOR_HOST``, see
local_stack/storage_emulator.py), anonymously; in production to Cloud Storage with the function's
service account. :class:`InMemoryObjectStore` is the fake for unit tests; the contract tests run
it and the real adapter against the same cases (tests/integration/test_cloud_storage.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.settings import Settings


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    name: str
    generation: int
    size: int


@dataclass(frozen=True)
class PutOutcome:
    created: bool  # False: an identical object was already there (the same write, repeated)
    generation: int


class ObjectConflict(Exception):
    """The name is taken by an object with other content."""

    def __init__(self, bucket: str, name: str) -> None:
        super().__init__(f"gs://{bucket}/{name} exists with other content")
        self.bucket, self.name = bucket, name


class ObjectStore(Protocol):
    def put_if_absent(self, bucket: str, name: str, data: bytes, content_type: str) -> PutOutcome: ...

    def get(self, bucket: str, name: str) -> bytes | None: ...

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]: ...


@dataclass(frozen=True)
class FinalizedObject:
    """The object of a ``google.cloud.storage.object.v1.finalized`` CloudEvent (its ``data`` is
    the object resource: bucket, name, generation as a string, size as a string, …)."""

    bucket: str
    name: str
    generation: int
    size: int

    @classmethod
    def from_event_data(cls, data: Mapping[str, Any]) -> FinalizedObject:
        """Raises ValueError for data that is not an object resource."""
        try:
            bucket, name = data["bucket"], data["name"]
            generation, size = int(str(data["generation"])), int(str(data.get("size") or 0))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a Cloud Storage object resource: {exc}") from None
        if not isinstance(bucket, str) or not isinstance(name, str) or not bucket or not name:
            raise ValueError("bucket and name must be non-empty strings")
        return cls(bucket, name, generation, size)


class CloudStorage:
    """The adapter over google-cloud-storage. The client is created on first use (it is not
    fork-safe) and shared by the threads of one instance."""

    def __init__(self, settings: Settings, client: Any = None) -> None:
        self._settings, self._client = settings, client
        self._lock = threading.Lock()

    def _storage(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import storage  # type: ignore[attr-defined]

                host = self._settings.storage_emulator_host
                if host:
                    from google.auth.credentials import AnonymousCredentials

                    self._client = storage.Client(
                        project=self._settings.project,
                        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                        client_options={"api_endpoint": host},
                    )
                else:
                    self._client = storage.Client(project=self._settings.project)
            return self._client

    def put_if_absent(self, bucket: str, name: str, data: bytes, content_type: str) -> PutOutcome:
        from google.api_core.exceptions import PreconditionFailed

        blob = self._storage().bucket(bucket).blob(name)
        try:
            blob.upload_from_string(data, content_type=content_type, if_generation_match=0)
        except PreconditionFailed:
            existing = self._storage().bucket(bucket).get_blob(name)
            if existing is None:  # deleted in between: a lifecycle rule, or ops
                raise ObjectConflict(bucket, name) from None
            generation = int(existing.generation)  # read first: a download may reset it
            if existing.download_as_bytes() != data:
                raise ObjectConflict(bucket, name) from None
            return PutOutcome(created=False, generation=generation)
        return PutOutcome(created=True, generation=int(blob.generation))

    def get(self, bucket: str, name: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            data: bytes = self._storage().bucket(bucket).blob(name).download_as_bytes()
        except NotFound:
            return None
        return data

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        for blob in self._storage().list_blobs(bucket, prefix=prefix or None):
            yield ObjectInfo(bucket, blob.name, int(blob.generation), int(blob.size or 0))


class InMemoryObjectStore:
    """The fake: the same behaviour in a dict, for unit tests and the bank stand-in's tests."""

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], tuple[bytes, int]] = {}
        self._lock = threading.Lock()
        self._generation = int(datetime.now(UTC).timestamp() * 1_000_000)

    def put_if_absent(self, bucket: str, name: str, data: bytes, content_type: str) -> PutOutcome:
        with self._lock:
            existing = self._objects.get((bucket, name))
            if existing is not None:
                if existing[0] != bytes(data):
                    raise ObjectConflict(bucket, name)
                return PutOutcome(created=False, generation=existing[1])
            self._generation += 1
            self._objects[(bucket, name)] = (bytes(data), self._generation)
            return PutOutcome(created=True, generation=self._generation)

    def get(self, bucket: str, name: str) -> bytes | None:
        with self._lock:
            found = self._objects.get((bucket, name))
            return found[0] if found else None

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            found = sorted(
                (k, v) for k, v in self._objects.items() if k[0] == bucket and k[1].startswith(prefix)
            )
        for (b, name), (data, generation) in found:
            yield ObjectInfo(b, name, generation, len(data))
