"""The bank's answers (issue 16 §2): each file the bank drops in the inbound bucket (pain.002,
camt.054, camt.053) arrives as a CloudEvent ``google.cloud.storage.object.v1.finalized``, delivered
by an Eventarc trigger (locally local_stack/eventarc.py) with an ID token of the trigger's service
account. The use case (shared/usecases/bank_transfers.py) reads it and moves its payouts.

Answers: 2xx when the file was read, or can never be (an event that is not an object of the
inbound bucket, a file that does not parse: recorded as a dead letter and acknowledged, so
Eventarc does not retry it for ever); an error (Eventarc retries) only when something we depend
on failed (Firestore, Cloud Storage).
"""

from __future__ import annotations

import logging

import functions_framework
from cloudevents.http.event import CloudEvent

from shared import log
from shared.adapters.cloud_storage import FinalizedObject
from shared.entrypoints import deps
from shared.entrypoints.pubsub_trigger import start_trigger
from shared.usecases.bank_transfers import INBOUND_SOURCE
from shared.usecases.dead_letters import record_poison

logger = logging.getLogger(__name__)

FINALIZED = "google.cloud.storage.object.v1.finalized"


@functions_framework.cloud_event
def bank_files_inbound(cloud_event: CloudEvent) -> None:
    settings = start_trigger()  # the trigger's ID token, and a strict JSON body
    event_id = str(cloud_event["id"])
    with log.bind(event_id=event_id):
        if cloud_event["type"] != FINALIZED:
            logger.warning("event of type %s ignored", cloud_event["type"])
            return
        data = cloud_event.data if isinstance(cloud_event.data, dict) else {}
        try:
            obj = FinalizedObject.from_event_data(data)
        except ValueError as exc:
            record_poison(
                deps.store(), source=INBOUND_SOURCE, message_id=event_id, code="bad_event", reason=str(exc)
            )
            return
        if obj.bucket != settings.bank_inbound_bucket:
            reason = f"an object of bucket {obj.bucket}, not the inbound bank-file bucket"
            record_poison(
                deps.store(), source=INBOUND_SOURCE, message_id=event_id, code="bad_event", reason=reason
            )
            return
        with log.bind(bank_file=obj.name):
            result = deps.bank_report_intake().receive(obj.bucket, obj.name, event_id)
        logger.info("bank file %s: %s %s", obj.name, result.outcome, result.counts)
