"""Every stored document shape, and the collection it lives in: domain objects in, documents out.

Collections
- ``sellers/{seller_id}``: profile, bank account (full numbers, never leave this adapter
  except towards a provider), KYC, schedule, hold, run bucket.
- ``sellers/{seller_id}/bank_account_changes/{id}``: when and to what (masked) an account changed.
- ``sellers/{seller_id}/balance_shards/{CCY}-{n}``: the seller's balance buckets, split over
  a few shards so a flood of events for one seller does not queue on one document.
- ``journal/{entry_id}``: append-only journal entries; the id is derived from the cause.
- ``order_lines/{order_line_id}``: the state of each order line (and events parked on it).
- ``order_events/{event_id}``: every event received, its fingerprint and outcome.
- ``dead_letters/{source}-{message_id}``: messages that can never be applied, kept for ops.
- ``payouts/{payout_id}``: a payout, its status and its history of transitions.
- ``payout_runs/{run_id}``, with ``pages/{page_id}`` (one per shard task), ``items/{seller_id}``
  (the payout or the skip reason of every seller the run looked at) and ``counters/{n}`` (the
  run's progress, summed over a few shards written with server-side increments).
- ``outbox/{event_id}``: status events, written with the change, relayed after.
- ``provider_events/{provider}-{event_id}``: webhooks already applied.
- ``idempotency_keys/{hash}``: first outcomes of on-demand payout requests (TTL on expires_at).
- ``reconciliation_breaks/{break_id}``, ``reconciliation_reports/{report_id}``: see the
  reconciliation section at the end.
- ``payout_contents/{payout_id}``: what a payout settles (issue 18), written with the payout;
  ``payout_contents/{payout_id}/chunks/{n}`` hold the rest when it is too big for one document.
- ``settlements/{seller_id}~{CCY}``: the seller's settlement checkpoint (open movements, last
  journal entry folded in), with ``chunks/{n}`` likewise.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.dac7 import Address, BirthPlace, Dac7Details, SellerKind
from shared.domain.eligibility import SkipReason
from shared.domain.events import EventSource, OutboxEvent
from shared.domain.fx import Conversion, Rate
from shared.domain.ledger import (
    Bucket,
    DatedEntry,
    EntryDetail,
    JournalEntry,
    PlatformAccount,
    Posting,
    seller_account,
)
from shared.domain.money import Money
from shared.domain.order_events import OrderLine, Outcome, ReleaseState
from shared.domain.payout_contents import (
    PayoutContents,
    SettlementState,
    contents_from_storage,
    contents_to_storage,
    state_from_storage,
    state_to_storage,
    with_left_summarised,
)
from shared.domain.payouts import FailureCode, Payout, PayoutStatus, Transition
from shared.domain.rail_routing import RailAttempt
from shared.domain.reconciliation import Break, BreakAction, BreakState, Correction, LedgerFee, MovementClass
from shared.domain.run_funding import FundingLine, FundingState, RunFunding
from shared.domain.runs import PageStatus, PayoutRun, RunItem, RunPage, RunStatus, RunTally, run_bucket
from shared.domain.schedule import PayoutSchedule
from shared.domain.sellers import BankAccountStatus, KycStatus, PayoutHold, RailAccounts, Seller
from shared.domain.tax_ids import ValidatedTaxId
from shared.usecases.ledger_audit import LedgerReport, check_ledger
from shared.usecases.ports import (
    Balance,
    DeadLetter,
    IdempotencyRecord,
    ProviderEventRecord,
    ReceivedOrderEvent,
    ReconciliationRun,
    Refusal,
    ReportLine,
    StoredEntry,
)

Doc = dict[str, Any]

SELLERS = "sellers"
JOURNAL = "journal"
ORDER_LINES = "order_lines"
ORDER_EVENTS = "order_events"
DEAD_LETTERS = "dead_letters"
RAIL_CONTROLS = "rail_controls"  # rail_controls/{rail}: ops' drain switch
RAIL_HEALTH = "rail_health"  # rail_health/{rail}-{instance}: each instance's breaker snapshot
BALANCE_SHARDS = "balance_shards"
BANK_ACCOUNT_CHANGES = "bank_account_changes"
PAYOUTS = "payouts"
PAYOUT_RUNS = "payout_runs"
RUN_PAGES = "pages"
RUN_PAGES_DONE = "pages_done"  # a marker per page counted done (created once)
RUN_ITEMS = "items"
RUN_COUNTERS = "counters"
OUTBOX = "outbox"
PROVIDER_EVENTS = "provider_events"
IDEMPOTENCY_KEYS = "idempotency_keys"
PAYOUT_CONTENTS = "payout_contents"
SETTLEMENTS = "settlements"
CHUNKS = "chunks"

# Counter shards per run: a progress read is 1 + RUN_COUNTER_SHARDS documents (one get_all); the
# writes of a run (every item, page and payout transition: about 3 per payout, ~100/s at the
# benchmark's pace) spread over them, each a blind increment, so a shard document takes a few
# writes a second and concurrent transactions rarely meet on one (16 shards showed 5x the
# transaction retries of the code without counters on the emulator; 32 keep them near it).
RUN_COUNTER_SHARDS = 32


def valid_document_id(doc_id: str) -> bool:
    """What Firestore can hold as a document id (not empty, no ``/``, not ``.``/``..``/``__x__``)."""
    return (
        0 < len(doc_id.encode()) <= 1500
        and "/" not in doc_id
        and doc_id not in (".", "..")
        and not (doc_id.startswith("__") and doc_id.endswith("__"))
    )


def shard_of(key: str, shards: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % shards


def provider_event_id(provider: str, event_id: str) -> str:
    """The dedupe document of a provider event; an event id Firestore could not hold is hashed."""
    doc_id = f"{provider}-{event_id}"
    if valid_document_id(doc_id):
        return doc_id
    return f"{provider}-h-{hashlib.sha256(event_id.encode()).hexdigest()[:40]}"


def dead_letter_id(source: str, message_id: str) -> str:
    doc_id = f"{source}-{message_id}"
    if valid_document_id(doc_id):
        return doc_id
    return f"{source}-h-{hashlib.sha256(message_id.encode()).hexdigest()[:40]}"


# --- sellers and balances ---------------------------------------------------------------------


def seller_to_doc(seller: Seller) -> Doc:
    account = seller.bank_account
    return {
        "seller_id": seller.seller_id,
        "run_bucket": run_bucket(seller.seller_id),
        "country": seller.country,
        "currency": seller.currency,
        "payout_currency": seller.payout_currency,
        "tax_id": seller.tax_id.to_storage() if seller.tax_id else None,
        "language": seller.language,
        "display_name": seller.display_name,
        "bank_account": account.to_storage(),
        "bank_account_masked": account.masked,
        "bank_account_fingerprint": account.fingerprint,
        "bank_account_changed_at": seller.bank_account_changed_at,
        "bank_account_status": seller.bank_account_status.value,
        "bank_account_invalid_reason": seller.bank_account_invalid_reason,
        "kyc_status": seller.kyc_status.value,
        "payout_schedule": seller.payout_schedule.model_dump(mode="json"),
        "payout_hold": seller.payout_hold.model_dump(mode="json"),
        "created_at": seller.created_at,
        "updated_at": seller.updated_at,
        "rail_accounts": {k: v for k, v in vars(seller.rail_accounts).items() if v},
        "dac7": dac7_to_doc(seller.dac7) if seller.dac7 else None,
    }


def dac7_to_doc(details: Dac7Details) -> Doc:
    """Plain values only: the birth date as an ISO date (Firestore has no date type)."""
    doc = asdict(details)
    doc["kind"] = details.kind.value
    doc["birth_date"] = details.birth_date.isoformat() if details.birth_date else None
    doc["permanent_establishments"] = list(details.permanent_establishments)
    return doc


def dac7_from_doc(doc: Mapping[str, Any]) -> Dac7Details:
    place = doc.get("birth_place")
    return Dac7Details(
        kind=SellerKind(doc["kind"]),
        address=Address(**doc["address"]),
        residence_country=doc["residence_country"],
        first_name=doc.get("first_name"),
        last_name=doc.get("last_name"),
        birth_date=date.fromisoformat(doc["birth_date"]) if doc.get("birth_date") else None,
        birth_place=BirthPlace(**place) if place else None,
        legal_name=doc.get("legal_name"),
        business_registration_number=doc.get("business_registration_number"),
        vat_number=doc.get("vat_number"),
        permanent_establishments=tuple(doc.get("permanent_establishments") or ()),
        governmental_entity=bool(doc.get("governmental_entity")),
        listed_entity=bool(doc.get("listed_entity")),
    )


def seller_from_doc(data: Mapping[str, Any]) -> Seller:
    return Seller(
        seller_id=data["seller_id"],
        country=data["country"],
        currency=data["currency"],
        payout_currency=str(data.get("payout_currency") or data["currency"]),
        tax_id=ValidatedTaxId.from_storage(data["tax_id"]) if data.get("tax_id") else None,
        language=data.get("language"),
        dac7=dac7_from_doc(data["dac7"]) if data.get("dac7") else None,
        display_name=data["display_name"],
        bank_account=ValidatedBankAccount.from_storage(data["bank_account"]),
        bank_account_changed_at=data["bank_account_changed_at"],
        bank_account_status=BankAccountStatus(data.get("bank_account_status", "valid")),
        bank_account_invalid_reason=data.get("bank_account_invalid_reason"),
        kyc_status=KycStatus(data["kyc_status"]),
        payout_schedule=PayoutSchedule.model_validate(data["payout_schedule"], strict=False),
        payout_hold=PayoutHold.model_validate(data["payout_hold"], strict=False),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        rail_accounts=RailAccounts(**data.get("rail_accounts", {})),
    )


def bank_account_change(seller: Seller) -> tuple[str, Doc]:
    """A record of a change of bank account, for the cooling-off rule and for ops."""
    change_id = hashlib.sha256(
        f"{seller.seller_id}|{seller.bank_account.fingerprint}|{seller.bank_account_changed_at}".encode()
    ).hexdigest()[:32]
    return change_id, {
        "changed_at": seller.bank_account_changed_at,
        "masked": seller.bank_account.masked,
        "scheme": seller.bank_account.scheme,
        "fingerprint": seller.bank_account.fingerprint,
    }


def balances_from_shards(shards: Iterable[Mapping[str, Any]]) -> list[Balance]:
    totals: dict[str, dict[str, int]] = {}
    for data in shards:
        bucket_totals = totals.setdefault(str(data["currency"]), {b.value: 0 for b in Bucket})
        for bucket in Bucket:
            bucket_totals[bucket.value] += int(data.get(bucket.value, 0))
    return [Balance(currency=ccy, **values) for ccy, values in sorted(totals.items())]


# --- the ledger -------------------------------------------------------------------------------


def journal_to_doc(entry: JournalEntry, at: datetime) -> Doc:
    return {
        "entry_id": entry.entry_id,
        "kind": entry.kind,
        "cause": entry.cause,
        "seller_id": entry.seller_id,
        "created_at": at,
        "postings": [
            {"account": p.account, "amount": p.amount.amount, "currency": p.amount.currency}
            for p in entry.postings
        ],
        "order_line_id": entry.order_line_id,
        "details": [
            {"kind": x.kind, "amount": x.amount.amount, "currency": x.amount.currency, "ref": x.ref}
            for x in entry.details
        ],
    }


def journal_from_doc(data: Mapping[str, Any]) -> DatedEntry:
    """An entry as written; entries written before details existed have none."""
    return DatedEntry(
        JournalEntry(
            entry_id=str(data["entry_id"]),
            kind=str(data["kind"]),
            cause=str(data["cause"]),
            postings=tuple(
                Posting(str(p["account"]), Money(int(p["amount"]), str(p["currency"])))
                for p in data["postings"]
            ),
            seller_id=data.get("seller_id"),
            order_line_id=data.get("order_line_id"),
            details=tuple(
                EntryDetail(str(x["kind"]), Money(int(x["amount"]), str(x["currency"])), x.get("ref"))
                for x in data.get("details") or ()
            ),
        ),
        data["created_at"],
    )


def stored_entry_from_doc(data: Mapping[str, Any]) -> StoredEntry:
    return StoredEntry(
        entry_id=str(data["entry_id"]),
        postings=tuple((str(p["account"]), int(p["amount"]), str(p["currency"])) for p in data["postings"]),
    )


def stored_balances_from_shards(shards: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """(seller account, currency) -> amount, summed over the balance shards."""
    stored: dict[tuple[str, str], int] = {}
    for data in shards:
        for bucket in Bucket:
            key = (seller_account(str(data["seller_id"]), bucket), str(data["currency"]))
            stored[key] = stored.get(key, 0) + int(data.get(bucket.value, 0))
    return stored


def ledger_report(entries: Iterable[Mapping[str, Any]], shards: Iterable[Mapping[str, Any]]) -> LedgerReport:
    """The ledger checks of ``shared.usecases.ledger_audit`` on documents as stored."""
    return check_ledger((stored_entry_from_doc(e) for e in entries), stored_balances_from_shards(shards))


def order_line_to_doc(line: OrderLine) -> Doc:
    return {
        "order_line_id": line.order_line_id,
        "seller_id": line.seller_id,
        "currency": line.currency,
        "paid": line.paid,
        "gross": line.gross,
        "commission": line.commission,
        "refunded": line.refunded,
        "commission_returned": line.commission_returned,
        "refunds": dict(line.refunds),
        "delivered_at": line.delivered_at,
        "release_at": line.release_at,
        "release_state": line.release_state.value,
        "parked": list(line.parked),
    }


def order_line_from_doc(data: Mapping[str, Any]) -> OrderLine:
    return OrderLine(
        order_line_id=data["order_line_id"],
        seller_id=data["seller_id"],
        currency=data.get("currency"),
        paid=bool(data.get("paid")),
        gross=int(data.get("gross", 0)),
        commission=int(data.get("commission", 0)),
        refunded=int(data.get("refunded", 0)),
        commission_returned=int(data.get("commission_returned", 0)),
        refunds={str(k): int(v) for k, v in (data.get("refunds") or {}).items()},
        delivered_at=data.get("delivered_at"),
        release_at=data.get("release_at"),
        release_state=ReleaseState(data.get("release_state", ReleaseState.AWAITING_DELIVERY.value)),
        parked=tuple(data.get("parked") or ()),
    )


def order_event_to_doc(event: ReceivedOrderEvent) -> Doc:
    return {
        "event_id": event.event_id,
        "type": event.type,
        "seller_id": event.seller_id,
        "order_line_id": event.order_line_id,
        "fingerprint": event.fingerprint,
        "outcome": event.outcome.value,
        "reason": event.reason,
        "source": event.source,
        "received_at": event.received_at,
        "entry_ids": list(event.entry_ids),
    }


def order_event_from_doc(data: Mapping[str, Any]) -> ReceivedOrderEvent:
    return ReceivedOrderEvent(
        event_id=str(data["event_id"]),
        type=str(data.get("type", "")),
        seller_id=str(data.get("seller_id", "")),
        order_line_id=str(data.get("order_line_id", "")),
        fingerprint=str(data.get("fingerprint", "")),
        outcome=Outcome(data["outcome"]),
        reason=data.get("reason"),
        source=str(data.get("source", "")),
        received_at=data["received_at"],
        entry_ids=tuple(data.get("entry_ids") or ()),
    )


def order_event_resolution(
    outcome: Outcome, reason: str | None, entry_ids: Iterable[str], at: datetime
) -> Doc:
    """Merged into a parked event's document once it is applied."""
    return {"outcome": outcome.value, "reason": reason, "resolved_at": at, "entry_ids": list(entry_ids)}


def dead_letter_to_doc(letter: DeadLetter) -> Doc:
    return {
        "source": letter.source,
        "message_id": letter.message_id,
        "code": letter.code,
        "reason": letter.reason,
        "details": [{"field": f, "reason": r} for f, r in letter.details],
        "payload_excerpt": letter.payload_excerpt,
        "received_at": letter.received_at,
    }


# --- payouts ----------------------------------------------------------------------------------


def payout_to_doc(payout: Payout) -> Doc:
    return {
        "payout_id": payout.payout_id,
        "seller_id": payout.seller_id,
        "amount": payout.amount.amount,
        "currency": payout.amount.currency,
        "status": payout.status.value,
        "created_at": payout.created_at,
        "updated_at": payout.updated_at,
        "origin": payout.origin,
        "run_id": payout.run_id,
        "provider": payout.provider,
        "provider_ref": payout.provider_ref,
        "failure_code": payout.failure_code.value if payout.failure_code else None,
        "failure_message": payout.failure_message,
        "transfer_started_at": payout.transfer_started_at,
        "sequence": payout.sequence,
        "history": [t.as_dict() for t in payout.history],
        "return_check_from": payout.return_check_from,
        "return_checks": payout.return_checks,
        "trace_context": payout.trace_context,
        "rail_attempts": [a.as_dict() for a in payout.rail_attempts],
        "sender_claim": payout.sender_claim,
        "sender_claim_until": payout.sender_claim_until,
        "rail_sequence": payout.rail_sequence,
        "conversions": [c.as_record() for c in payout.conversions],
    }


def payout_from_doc(data: Mapping[str, Any]) -> Payout:
    return Payout(
        payout_id=data["payout_id"],
        seller_id=data["seller_id"],
        amount=Money(int(data["amount"]), str(data["currency"])),
        status=PayoutStatus(data["status"]),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        origin=data["origin"],
        run_id=data.get("run_id"),
        provider=data.get("provider"),
        provider_ref=data.get("provider_ref"),
        failure_code=FailureCode(data["failure_code"]) if data.get("failure_code") else None,
        failure_message=data.get("failure_message"),
        transfer_started_at=data.get("transfer_started_at"),
        sequence=int(data.get("sequence", 0)),
        history=tuple(
            Transition(
                at=t["at"],
                from_status=PayoutStatus(t["from"]) if t.get("from") else None,
                to_status=PayoutStatus(t["to"]),
                cause=t["cause"],
                actor=t["actor"],
            )
            for t in data.get("history", [])
        ),
        return_check_from=data.get("return_check_from"),
        return_checks=int(data.get("return_checks", 0)),
        trace_context=data.get("trace_context"),
        rail_attempts=tuple(
            RailAttempt(at=a["at"], rail=a["rail"], outcome=a["outcome"], detail=a.get("detail", ""))
            for a in data.get("rail_attempts", [])
        ),
        sender_claim=data.get("sender_claim"),
        sender_claim_until=data.get("sender_claim_until"),
        rail_sequence=data.get("rail_sequence"),
        conversions=tuple(Conversion.from_record(c) for c in data.get("conversions") or ()),
    )


def outbox_to_doc(event: OutboxEvent) -> Doc:
    doc: Doc = {
        "event_id": event.event_id,
        "type": event.type,
        "source": event.source.value,
        "sequence": event.sequence,
        "data": dict(event.data),
        "created_at": event.created_at,
        "published": event.published,
    }
    if event.source is EventSource.PAYOUTS:
        doc["payout_id"] = event.subject
    else:
        doc["subject"] = event.subject
    return doc


def outbox_from_doc(data: Mapping[str, Any]) -> OutboxEvent:
    source = data.get("source") or (EventSource.PAYOUTS if data.get("payout_id") else EventSource.PAYOUT_RUNS)
    return OutboxEvent(
        event_id=str(data["event_id"]),
        type=str(data["type"]),
        source=EventSource(source),
        subject=str(data.get("payout_id") or data.get("subject")),
        sequence=int(data["sequence"]),
        data=dict(data.get("data") or {}),
        created_at=data["created_at"],
        published=bool(data.get("published")),
    )


def provider_event_to_doc(record: ProviderEventRecord) -> Doc:
    return {
        "provider": record.provider,
        "event_id": record.event_id,
        "payout_id": record.payout_id,
        "status": record.status,
        "result": record.result,
        "received_at": record.received_at,
    }


def idempotency_to_doc(record: IdempotencyRecord) -> Doc:
    refusal = record.refusal
    return {
        "fingerprint": record.fingerprint,
        "payout_id": record.payout.payout_id if record.payout else None,
        "payout": payout_to_doc(record.payout) if record.payout else None,
        "refusal": {"code": refusal.code, "message": refusal.message, "field": refusal.field}
        if refusal
        else None,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
    }


def idempotency_from_doc(key_id: str, data: Mapping[str, Any]) -> IdempotencyRecord:
    refusal = data.get("refusal")
    return IdempotencyRecord(
        key_id=key_id,
        fingerprint=str(data["fingerprint"]),
        payout=payout_from_doc(data["payout"]) if data.get("payout") else None,
        refusal=Refusal(str(refusal["code"]), str(refusal["message"]), str(refusal["field"]))
        if refusal
        else None,
        created_at=data["created_at"],
        expires_at=data["expires_at"],
    )


# --- runs -------------------------------------------------------------------------------------


def _as_date(value: Any) -> date:
    return (
        value
        if isinstance(value, date) and not isinstance(value, datetime)
        else date.fromisoformat(str(value))
    )


def run_to_doc(run: PayoutRun) -> Doc:
    doc: Doc = {
        "run_id": run.run_id,
        "run_date": run.run_date.isoformat(),
        "dry_run": run.dry_run,
        "status": run.status.value,
        "buckets": run.buckets,
        "created_at": run.created_at,
        "requested_by": run.requested_by,
    }
    if run.fanned_out_at is not None:
        doc["fanned_out_at"] = run.fanned_out_at
    if run.completed_at is not None:
        doc["completed_at"] = run.completed_at
    if run.funding is not None:
        doc["funding"] = run_funding_to_doc(run.funding)
    if run.fx_rates or run.fx_unavailable:
        doc["fx_rates"] = [rate.as_record() for rate in run.fx_rates]
        doc["fx_unavailable"] = [{"pair": pair, "reason": why} for pair, why in run.fx_unavailable]
    return doc


def run_funding_to_doc(funding: RunFunding) -> Doc:
    return {
        "state": funding.state.value,
        "checked_at": funding.checked_at,
        "awaiting_since": funding.awaiting_since,
        "pages_done": funding.pages_done,
        "checks": funding.checks,
        "released_through": funding.released_through,
        "lines": [
            {
                "rail": line.rail,
                "currency": line.currency,
                "needed": line.needed,
                "payouts": line.payouts,
                "available": line.available,
            }
            for line in funding.lines
        ],
    }


def run_funding_from_doc(data: Mapping[str, Any]) -> RunFunding:
    return RunFunding(
        state=FundingState(data["state"]),
        checked_at=data["checked_at"],
        awaiting_since=data.get("awaiting_since"),
        pages_done=int(data.get("pages_done", 0)),
        checks=int(data.get("checks", 1)),
        released_through=data.get("released_through"),
        lines=tuple(
            FundingLine(
                rail=str(x["rail"]),
                currency=str(x["currency"]),
                needed=int(x["needed"]),
                payouts=int(x["payouts"]),
                available=None if x.get("available") is None else int(x["available"]),
            )
            for x in data.get("lines", [])
        ),
    )


def run_from_doc(data: Mapping[str, Any]) -> PayoutRun:
    return PayoutRun(
        run_id=str(data["run_id"]),
        run_date=_as_date(data["run_date"]),
        dry_run=bool(data["dry_run"]),
        status=RunStatus(data["status"]),
        buckets=int(data["buckets"]),
        created_at=data["created_at"],
        requested_by=str(data.get("requested_by", "")),
        fanned_out_at=data.get("fanned_out_at"),
        completed_at=data.get("completed_at"),
        funding=run_funding_from_doc(data["funding"]) if data.get("funding") else None,
        fx_rates=tuple(Rate.from_record(r) for r in data.get("fx_rates") or ()),
        fx_unavailable=tuple((str(u["pair"]), str(u["reason"])) for u in data.get("fx_unavailable") or ()),
    )


def page_to_doc(page: RunPage) -> Doc:
    doc: Doc = {
        "page_id": page.page_id,
        "bucket": page.bucket,
        "page": page.page,
        "start_after": page.start_after,
        "status": page.status.value,
        "created_at": page.created_at,
        "due_at": page.due_at,
    }
    if page.done_at is not None or page.sellers or page.deferred:
        doc.update(
            {
                "done_at": page.done_at,
                "sellers": page.sellers,
                "paid": page.paid,
                "skipped": page.skipped,
                "deferred": page.deferred,
            }
        )
    return doc


def page_from_doc(run_id: str, data: Mapping[str, Any]) -> RunPage:
    return RunPage(
        run_id=run_id,
        page_id=str(data["page_id"]),
        bucket=int(data["bucket"]),
        page=int(data["page"]),
        start_after=data.get("start_after"),
        status=PageStatus(data["status"]),
        created_at=data["created_at"],
        due_at=data.get("due_at") or data["created_at"],
        done_at=data.get("done_at"),
        sellers=int(data.get("sellers", 0)),
        paid=int(data.get("paid", 0)),
        skipped=int(data.get("skipped", 0)),
        deferred=int(data.get("deferred", 0)),
    )


def item_to_doc(item: RunItem) -> Doc:
    """Paid: ``payout_id`` and ``amount``; skipped: ``skip_reason``; a dry run: ``would_pay``."""
    doc: Doc = {
        "seller_id": item.seller_id,
        "country": item.country,
        "currency": item.currency,
        "decided_at": item.decided_at,
        "skip_reason": item.skip_reason.value if item.skip_reason else None,
        "detail": item.detail,
    }
    if item.payout_id is not None or item.amount is not None:
        doc.update({"payout_id": item.payout_id, "amount": item.amount})
    else:
        doc["would_pay"] = item.would_pay
    if item.left_for_next_run is not None:
        doc.update({"left_for_next_run": item.left_for_next_run, "left_reason": item.left_reason})
    if item.conversions:
        doc["conversions"] = [c.as_record() for c in item.conversions]
    return doc


def item_from_doc(run_id: str, data: Mapping[str, Any]) -> RunItem:
    return RunItem(
        run_id=run_id,
        seller_id=str(data["seller_id"]),
        country=str(data.get("country", "")),
        currency=str(data.get("currency", "")),
        decided_at=data["decided_at"],
        payout_id=data.get("payout_id"),
        amount=data.get("amount"),
        skip_reason=SkipReason(data["skip_reason"]) if data.get("skip_reason") else None,
        detail=data.get("detail"),
        would_pay=data.get("would_pay"),
        left_for_next_run=data.get("left_for_next_run"),
        left_reason=data.get("left_reason"),
        conversions=tuple(Conversion.from_record(c) for c in data.get("conversions") or ()),
    )


def tally_to_fields(tally: RunTally) -> Doc:
    """Nested maps of counter values (a merge of these adds to each leaf)."""
    fields: Doc = {}
    for key, n in tally:
        node = fields
        for part in key[:-1]:
            node = node.setdefault(part, {})
        node[key[-1]] = n
    return fields


def tally_from_doc(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> RunTally:
    entries: list[tuple[tuple[str, ...], int]] = []
    for name, value in data.items():
        if isinstance(value, Mapping):
            entries.extend(tally_from_doc(value, (*prefix, str(name))))
        elif isinstance(value, int) and not isinstance(value, bool):
            entries.append(((*prefix, str(name)), value))
    return RunTally.of(entries)


# --- reconciliation (shared/usecases/reconciliation.py) ------------------------------------------
# ``reconciliation_breaks/{break_id}``: each break, both sides' data, its state and ops' actions.
# ``reconciliation_reports/{rail}-{window}``: the report of a rail over a window (a day).

RECONCILIATION_BREAKS = "reconciliation_breaks"
RECONCILIATION_REPORTS = "reconciliation_reports"


def _entry_to_doc(entry: JournalEntry) -> Doc:
    return {
        "entry_id": entry.entry_id,
        "kind": entry.kind,
        "cause": entry.cause,
        "postings": [
            {"account": p.account, "amount": p.amount.amount, "currency": p.amount.currency}
            for p in entry.postings
        ],
    }


def _entry_from_doc(data: Mapping[str, Any]) -> JournalEntry:
    return JournalEntry(
        entry_id=str(data["entry_id"]),
        kind=str(data["kind"]),
        cause=str(data["cause"]),
        postings=tuple(
            Posting(str(p["account"]), Money(int(p["amount"]), str(p["currency"]))) for p in data["postings"]
        ),
    )


def break_to_doc(brk: Break) -> Doc:
    correction = brk.correction
    return {
        "break_id": brk.break_id,
        "rail": brk.rail,
        "cls": brk.cls.value,
        "currency": brk.currency,
        "amount": brk.amount,
        "ledger": dict(brk.ledger) if brk.ledger is not None else None,
        "rail_records": [dict(r) for r in brk.rail_records],
        "note": brk.note,
        "detected_at": brk.detected_at,
        "state": brk.state.value,
        "history": [{"action": a.action, "actor": a.actor, "at": a.at, "note": a.note} for a in brk.history],
        "correction": None
        if correction is None
        else {
            "entry": _entry_to_doc(correction.entry),
            "reason": correction.reason,
            "proposed_by": correction.proposed_by,
            "proposed_at": correction.proposed_at,
        },
        "corrections_proposed": brk.corrections_proposed,
    }


def break_from_doc(data: Mapping[str, Any]) -> Break:
    c = data.get("correction")
    return Break(
        break_id=str(data["break_id"]),
        rail=str(data["rail"]),
        cls=MovementClass(data["cls"]),
        currency=str(data["currency"]),
        amount=int(data["amount"]),
        ledger=data.get("ledger"),
        rail_records=tuple(data.get("rail_records") or ()),
        note=str(data.get("note", "")),
        detected_at=data["detected_at"],
        state=BreakState(data["state"]),
        history=tuple(
            BreakAction(str(a["action"]), str(a["actor"]), a["at"], str(a.get("note", "")))
            for a in data.get("history") or ()
        ),
        correction=None
        if not c
        else Correction(
            _entry_from_doc(c["entry"]), str(c["reason"]), str(c["proposed_by"]), c["proposed_at"]
        ),
        corrections_proposed=int(data.get("corrections_proposed", 0)),
    )


def reconciliation_run_to_doc(run: ReconciliationRun) -> Doc:
    return {
        "report_id": run.report_id,
        "rail": run.rail,
        "window_start": run.window_start,
        "window_end": run.window_end,
        "lines": [
            {"cls": line.cls, "currency": line.currency, "count": line.count, "total": line.total}
            for line in run.lines
        ],
        "breaks": run.breaks,
        "new_breaks": run.new_breaks,
        "fees_posted": run.fees_posted,
        "ledger_payouts": run.ledger_payouts,
        "rail_records": run.rail_records,
        "ran_at": run.ran_at,
        "ran_by": run.ran_by,
    }


def reconciliation_run_from_doc(data: Mapping[str, Any]) -> ReconciliationRun:
    return ReconciliationRun(
        report_id=str(data["report_id"]),
        rail=str(data["rail"]),
        window_start=data["window_start"],
        window_end=data["window_end"],
        lines=tuple(
            ReportLine(str(x["cls"]), str(x["currency"]), int(x["count"]), int(x["total"]))
            for x in data.get("lines") or ()
        ),
        breaks=int(data["breaks"]),
        new_breaks=int(data["new_breaks"]),
        fees_posted=int(data["fees_posted"]),
        ledger_payouts=int(data["ledger_payouts"]),
        rail_records=int(data["rail_records"]),
        ran_at=data["ran_at"],
        ran_by=str(data["ran_by"]),
    )


def posted_fee_from_doc(rail: str, record_id: str, data: Mapping[str, Any]) -> LedgerFee:
    fee = next(p for p in data["postings"] if p["account"] == PlatformAccount.RAIL_FEES.value)
    return LedgerFee(rail, record_id, Money(int(fee["amount"]), str(fee["currency"])))


# --- what payouts pay for (issue 18) ----------------------------------------------------------

# A document holds at most 1 MiB. A payout's contents and a seller's checkpoint are lists that
# can grow with the seller's activity (thousands of order lines released between two payouts),
# so a list is split into chunks of at most this many bytes of JSON: the head document keeps the
# first chunk and the chunk count, ``chunks/{1..n-1}`` the rest. Most payouts need one document.
CHUNK_BYTES = 512 * 1024


def chunked(items: list[Doc], limit: int = CHUNK_BYTES) -> list[list[Doc]]:
    """Split ``items`` in order into lists whose JSON is at most ``limit`` bytes (at least one
    item each, and always at least one list)."""
    out: list[list[Doc]] = [[]]
    size = 0
    for item in items:
        n = len(json.dumps(item, default=str)) + 1
        if out[-1] and size + n > limit:
            out.append([])
            size = 0
        out[-1].append(item)
        size += n
    return out


def settlement_id(seller_id: str, currency: str) -> str:
    return f"{seller_id}~{currency}"


def contents_docs(contents: PayoutContents) -> tuple[Doc, list[Doc]]:
    """The head document and the chunk documents of a payout's contents. The groups left open
    after it are the checkpoint's business: only their total is kept here."""
    data = contents_to_storage(with_left_summarised(contents))
    chunks = chunked(data.pop("pieces"))
    head = {**data, "pieces": chunks[0], "chunks": len(chunks)}
    return head, [{"pieces": c} for c in chunks[1:]]


def contents_from_docs(head: Mapping[str, Any], rest: Iterable[Mapping[str, Any]]) -> PayoutContents:
    pieces = list(head["pieces"]) + [p for chunk in rest for p in chunk["pieces"]]
    return contents_from_storage({**head, "pieces": pieces})


def settlement_docs(state: SettlementState) -> tuple[Doc, list[Doc]]:
    data = state_to_storage(state)
    chunks = chunked(data.pop("open_groups"))
    head = {**data, "open_groups": chunks[0], "chunks": len(chunks)}
    return head, [{"open_groups": c} for c in chunks[1:]]


def settlement_from_docs(head: Mapping[str, Any], rest: Iterable[Mapping[str, Any]]) -> SettlementState:
    groups = list(head["open_groups"]) + [g for chunk in rest for g in chunk["open_groups"]]
    return state_from_storage({**head, "open_groups": groups})
