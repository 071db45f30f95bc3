"""Messages that can never be applied: logged with their id and reason, kept for ops, and
acknowledged so Pub/Sub does not retry them forever."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared.log import redact
from shared.usecases.ports import DeadLetter, Storage

logger = logging.getLogger(__name__)

_EXCERPT_BYTES = 2048


def record_poison(
    store: Storage,
    *,
    source: str,
    message_id: str,
    code: str,
    reason: str,
    details: Iterable[Mapping[str, Any]] | None = None,
    payload: bytes = b"",
) -> None:
    pairs = tuple((str(d.get("field", "$")), str(d.get("reason", ""))) for d in details or ())
    logger.error(
        "poison message %s from %s acknowledged without effect: %s: %s",
        message_id,
        source,
        code,
        reason,
        extra={
            "fields": {
                "message_id": message_id,
                "poison_code": code,
                "details": [{"field": f, "reason": r} for f, r in pairs],
            }
        },
    )
    store.dead_letters.add(
        DeadLetter(
            source=source,
            message_id=message_id,
            code=code,
            reason=reason,
            details=pairs,
            payload_excerpt=redact(payload[:_EXCERPT_BYTES].decode("utf-8", errors="replace")),
            received_at=datetime.now(UTC),
        )
    )
