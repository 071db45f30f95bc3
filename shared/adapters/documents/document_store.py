"""The documents bucket (remittance advice) behind the :class:`~shared.usecases.ports.DocumentStore`
port, over the Cloud Storage adapter (``shared/adapters/cloud_storage.py``): created if absent,
never overwritten."""

from __future__ import annotations

import logging

from shared.adapters.cloud_storage import ObjectConflict, ObjectStore

logger = logging.getLogger(__name__)


class BucketDocuments:
    def __init__(self, objects: ObjectStore, bucket: str) -> None:
        self.objects, self.bucket = objects, bucket

    def put_once(self, name: str, data: bytes, content_type: str) -> str:
        try:
            self.objects.put_if_absent(self.bucket, name, data, content_type)
        except ObjectConflict:
            # A first attempt wrote it (a PDF rendered again differs in its timestamps): keep it.
            logger.info("gs://%s/%s exists already; kept", self.bucket, name)
        return f"gs://{self.bucket}/{name}"

    def get(self, name: str) -> bytes | None:
        return self.objects.get(self.bucket, name)
