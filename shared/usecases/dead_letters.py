"""Messages that can never be applied: logged with their id and reason, kept for ops, and
acknowledged so Pub/Sub does not retry them forever."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from shared.adapters.firestore_store import FirestoreStore
from shared.log import redact

logger = logging.getLogger(__name__)

_EXCERPT_BYTES = 2048


def record_poison(
    store: FirestoreStore,
    *,
    source: str,
    message_id: str,
    code: str,
    reason: str,
    details: list[dict[str, Any]] | None = None,
    payload: bytes = b"",
) -> None:
    logger.error(
        "poison message %s from %s acknowledged without effect: %s: %s",
        message_id,
        source,
        code,
        reason,
        extra={"fields": {"message_id": message_id, "poison_code": code, "details": details or []}},
    )
    store.add_dead_letter(
        f"{source}-{message_id}",
        {
            "source": source,
            "message_id": message_id,
            "code": code,
            "reason": reason,
            "details": details or [],
            "payload_excerpt": redact(payload[:_EXCERPT_BYTES].decode("utf-8", errors="replace")),
            "received_at": datetime.now(UTC),
        },
    )
