"""Reading Pub/Sub messages out of the CloudEvents that functions-framework delivers.

A gen2 Pub/Sub CloudEvent's data is ``{"message": {"data": base64, "attributes",
"messageId", "publishTime"}, "subscription"}``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any


class EnvelopeError(ValueError):
    pass


@dataclass(frozen=True)
class PubSubMessage:
    message_id: str
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    publish_time: str | None = None


def message_from_cloud_event(event_id: str | None, data: Any) -> PubSubMessage:
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise EnvelopeError("CloudEvent data has no Pub/Sub message")
    message = data["message"]
    message_id = message.get("messageId") or message.get("message_id") or event_id
    if not isinstance(message_id, str) or not message_id:
        raise EnvelopeError("Pub/Sub message has no messageId")
    raw = message.get("data", "")
    if not isinstance(raw, str):
        raise EnvelopeError("Pub/Sub message data is not base64 text")
    try:
        payload = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError("Pub/Sub message data is not valid base64") from exc
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise EnvelopeError("Pub/Sub message attributes are not a map")
    return PubSubMessage(
        message_id=message_id,
        data=payload,
        attributes={str(k): str(v) for k, v in attributes.items()},
        publish_time=message.get("publishTime"),
    )
