"""The SEPA bank-file rail, wired into payouts (issue 16 §2).

**Out.** The transfer worker hands a payout whose rail is a batch rail (``sepa_file``) to
:meth:`BankFileQueueing.queue_for_file`, under its claim. The payout is kept once by its id in the
queue, with what the file needs (the seller's account and the text, as they are now); a second
delivery of the task queues nothing twice. The payout stays ``pending`` (with
``transfer_started_at`` set, so it cannot be canceled) until its file is written.

:class:`BankFileWriter` (run by the sweeper's tick) closes batches. For each rail, currency and
debtor it takes the open payouts in payout-id order, at most ``max_per_file`` at a time, and
*forms a batch* in one unit of work: its id is the file's MsgId (derived from currency, execution
date and payout ids), its payouts are marked as in it, and a payout already in a batch is never
put in another (the batch is never re-split). Only then is the file written, from what was
stored, to the outbound bucket under a name derived from the batch, create-if-absent; only once it
is there are the batch's payouts moved to ``processing``, the file's name in their history. Each
step repeats safely: a crash after forming writes the same bytes under the same name later; a
crash after writing finds the file there (identical: success) and moves the payouts; moving a
payout that already moved changes nothing. No outside call happens inside a unit of work.

**In.** :class:`BankReportIntake` reads each file the bank drops in the inbound bucket (pain.002,
camt.054, camt.053) and moves payouts through the payout use case's ``apply_state`` (postings,
run counters, outbox events), each update once by its ``dedupe_key`` (a provider event of the
``bank`` source): the same file twice changes nothing. A file that cannot be read is a dead letter,
acknowledged.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared import log
from shared.domain.bank_files import (
    BankFileError,
    BankReport,
    PayoutUpdate,
    batch_message_id,
    outbound_object_name,
    payout_updates,
    steps_towards,
)
from shared.domain.payouts import FailureCode, Payout, PayoutStatus
from shared.domain.sellers import Seller
from shared.usecases.ports import (
    BankFileBatch,
    BankFileBatchState,
    BankFileConflict,
    BankFiles,
    BankFileStore,
    DeadLetter,
    QueuedBankTransfer,
    Storage,
)

if TYPE_CHECKING:
    from shared.usecases.payouts import PayoutService

logger = logging.getLogger(__name__)

WRITER = "bank-file-writer"
BANK = "bank"  # the actor of the bank's answers, and the source of their de-duplication keys
INBOUND_SOURCE = "bank-files-inbound"


def remittance_text(payout: Payout) -> str:
    """What the seller reads on their bank statement: the payout's id (SEPA text is cleaned by
    the writer)."""
    return f"Payout {payout.payout_id}"


class BankFileQueueing:
    """``BankFileQueue`` (shared/usecases/ports.py): the transfer worker's hook for batch rails."""

    def __init__(
        self,
        files: BankFileStore,
        debtor_iban: str,
        flag_stuck: Callable[[str, str, datetime], None] | None = None,
    ) -> None:
        self.files = files
        self.debtor_iban = debtor_iban
        self.flag_stuck = flag_stuck  # PayoutQueries.flag_stuck: a payout no file can carry, for ops

    def queue_for_file(self, payout: Payout, seller: Seller, rail: str, now: datetime) -> str:
        with log.bind(payout_id=payout.payout_id, seller_id=payout.seller_id):
            account = seller.bank_account
            if account.scheme != "iban" or account.iban is None:
                # The route only offers sepa_file to IBAN accounts; a seller whose account
                # changed since is for ops, never a file the bank refuses.
                logger.error("payout for a bank file has no IBAN account; not queued, flagged for ops")
                if self.flag_stuck is not None:
                    self.flag_stuck(payout.payout_id, "sepa_file needs an IBAN account", now)
                return "no_iban"
            item = QueuedBankTransfer(
                payout_id=payout.payout_id,
                seller_id=payout.seller_id,
                rail=rail,
                amount=payout.amount,
                creditor=account,
                remittance=remittance_text(payout),
                debtor_iban=self.debtor_iban,
                queued_at=now,
            )
            created = self.files.queue(item)
            logger.info("payout %s for the next %s file", "queued" if created else "already queued", rail)
            return "queued_for_file" if created else "already_queued_for_file"


@dataclass
class WriterReport:
    formed: list[str] = field(default_factory=list)  # batch ids
    written: list[str] = field(default_factory=list)  # object names created
    moved: int = 0  # payouts moved to processing
    failed: list[str] = field(default_factory=list)  # batch ids left for the next tick

    def counts(self) -> dict[str, int]:
        return {
            "files_formed": len(self.formed),
            "files_written": len(self.written),
            "payouts_in_files": self.moved,
            "files_failed": len(self.failed),
        }


def _batch_maker(
    key: tuple[str, str, str], now: datetime
) -> Callable[[list[QueuedBankTransfer]], BankFileBatch | None]:
    """The batch of the items still open when it is formed (``BankFileStore.form_batch``)."""
    rail, currency, debtor = key

    def make(open_items: list[QueuedBankTransfer]) -> BankFileBatch | None:
        if not open_items:
            return None
        payout_ids = tuple(sorted(i.payout_id for i in open_items))
        day = now.astimezone(UTC).date()  # the execution date: the day the file is cut
        batch_id = batch_message_id(currency, day, payout_ids)
        return BankFileBatch(
            batch_id=batch_id,
            rail=rail,
            currency=currency,
            execution_date=day,
            debtor_iban=debtor,
            created_at=now,
            payout_ids=payout_ids,
            object_name=outbound_object_name(day, batch_id),
        )

    return make


class BankFileWriter:
    """Closes the open batches and writes their files (the sweeper's tick calls :meth:`run`)."""

    def __init__(
        self,
        files: BankFileStore,
        bank: BankFiles,
        payouts: PayoutService,
        *,
        max_per_file: int,
        scan_limit: int = 20_000,
    ) -> None:
        self.files, self.bank, self.payouts = files, bank, payouts
        self.max_per_file = max_per_file
        self.scan_limit = scan_limit

    def run(self, now: datetime | None = None) -> WriterReport:
        now = now or datetime.now(UTC)
        report = WriterReport()
        self.form_batches(now, report)
        for batch in self.files.unsent_batches(limit=100):
            try:
                self.send(batch, now, report)
            except (BankFileError, BankFileConflict) as exc:
                # Never leaves: a file that does not validate, or a name another file holds.
                logger.error("bank file %s not written: %s", batch.batch_id, exc)
                report.failed.append(batch.batch_id)
        logger.info("bank files: %s", report.counts())
        return report

    def form_batches(self, now: datetime, report: WriterReport) -> None:
        """Form batches of the open payouts: per rail, currency and debtor, in payout-id order,
        at most ``max_per_file`` each. Stored before any file is written."""
        groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for item in self.files.open_items(self.scan_limit):
            groups[item.batch_key].append(item.payout_id)
        for key, ids in sorted(groups.items()):
            for start in range(0, len(ids), self.max_per_file):
                batch = self.files.form_batch(ids[start : start + self.max_per_file], _batch_maker(key, now))
                if batch is not None:
                    size = len(batch.payout_ids)
                    logger.info("bank file batch %s formed: %d payouts", batch.batch_id, size)
                    report.formed.append(batch.batch_id)

    def send(self, batch: BankFileBatch, now: datetime, report: WriterReport) -> None:
        """Write the batch's file (if not yet), then move its payouts to processing."""
        if batch.state is BankFileBatchState.FORMED:
            transfers = self.files.items(batch.payout_ids)
            if len(transfers) != len(batch.payout_ids):
                raise BankFileError(f"batch {batch.batch_id} names payouts that were never queued")
            if self.bank.write(batch, transfers):
                report.written.append(batch.object_name)
            batch = replace(batch, state=BankFileBatchState.WRITTEN, written_at=now)
            self.files.put_batch(batch)  # a crash before this writes the same file again: no-op
        for payout_id in batch.payout_ids:
            with log.bind(payout_id=payout_id):
                result = self.payouts.apply_state(
                    payout_id,
                    PayoutStatus.PROCESSING,
                    cause=f"in bank file {batch.object_name}",
                    actor=WRITER,
                    provider_ref=batch.batch_id,
                    now=now,
                )
            if result == "applied":
                report.moved += 1
        self.files.put_batch(replace(batch, state=BankFileBatchState.SENT, sent_at=now))


# --- the bank's answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeResult:
    outcome: str  # applied, missing, dead_letter
    kind: str | None = None
    file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


class BankReportIntake:
    """Reads one inbound bank file and brings its payouts in line with it."""

    def __init__(
        self,
        store: Storage,
        files: BankFileStore,
        bank: BankFiles,
        payouts: PayoutService,
        rails: frozenset[str] = frozenset({"sepa_file"}),
    ) -> None:
        self.store, self.files, self.bank, self.payouts = store, files, bank, payouts
        self.rails = rails

    def receive(self, bucket: str, name: str, event_id: str, now: datetime | None = None) -> IntakeResult:
        now = now or datetime.now(UTC)
        content = self.bank.fetch(bucket, name)
        if content is None:
            # Gone (or never there): nothing to read, and retrying would not bring it back.
            logger.error("inbound bank file gs://%s/%s not found; acknowledged", bucket, name)
            return IntakeResult("missing")
        try:
            report = self.bank.read(content)
        except BankFileError as exc:
            self._dead_letter(name, event_id, exc.message, content, now)
            return IntakeResult("dead_letter")
        counts: dict[str, int] = defaultdict(int)
        with log.bind(bank_file_id=report.file_id):
            effects = payout_updates(report)
            for update in effects.updates:
                counts[self._apply(update, now)] += 1
            rejected = effects.file_rejection
            if rejected is not None and report.original_message_id:
                counts.update(self._reject_file(report.original_message_id, rejected, report, now))
            for tx in effects.needs_review:
                logger.warning(
                    "bank %s %s: %s for payout %s left for review",
                    report.kind.value,
                    report.file_id,
                    tx.reason_code,
                    tx.payout_id,
                )
                counts["needs_review"] += 1
            if effects.duplicate_file_refused:
                logger.warning(
                    "the bank refused file %s as a duplicate; the first stands", report.original_message_id
                )
            logger.info("bank %s %s read: %s", report.kind.value, report.file_id, dict(counts))
        return IntakeResult("applied", report.kind.value, report.file_id, dict(counts))

    def _apply(self, update: PayoutUpdate, now: datetime) -> str:
        from shared.usecases.payouts import PayoutNotFound

        payout_id, outcome = update.payout_id, update.outcome
        payout = self.store.payouts.get(payout_id)
        if payout is None or payout.provider not in self.rails:
            return "not_ours"  # left to reconciliation (a movement no payout of this rail explains)
        steps = steps_towards(payout.status, outcome)
        if steps is None:
            # A contradiction (booked after we failed it): never applied; reconciliation's
            # status break from the statement.
            logger.error("bank says %s for a %s payout; not applied", outcome.value, payout.status.value)
            return "contradiction"
        if not steps:
            return "unchanged"
        target = steps[-1]
        with log.bind(payout_id=payout_id, seller_id=payout.seller_id):
            try:
                return self.payouts.apply_state(
                    payout_id,
                    target,
                    cause=update.cause,
                    actor=BANK,
                    failure_code=update.failure_code,
                    amount=update.amount,
                    dedupe=(BANK, update.dedupe_key),
                    now=now,
                )
            except PayoutNotFound:
                return "not_ours"

    def _reject_file(
        self, message_id: str, failure: FailureCode, report: BankReport, now: datetime
    ) -> dict[str, int]:
        batch = self.files.get_batch(message_id)
        counts: dict[str, int] = defaultdict(int)
        if batch is None:
            logger.error("the bank rejected file %s, which we never wrote", message_id)
            counts["unknown_file"] += 1
            return counts
        for payout_id in batch.payout_ids:
            key = hashlib.sha256(f"{report.file_id}|{message_id}|{payout_id}|rejected".encode()).hexdigest()
            with log.bind(payout_id=payout_id):
                counts[
                    self.payouts.apply_state(
                        payout_id,
                        PayoutStatus.FAILED,
                        cause=f"bank pain.002 {report.file_id}: "
                        f"file {message_id} rejected {report.group_reason}",
                        actor=BANK,
                        failure_code=failure,
                        dedupe=(BANK, "bank_" + key[:32]),
                        now=now,
                    )
                ] += 1
        return counts

    def _dead_letter(self, name: str, event_id: str, reason: str, content: bytes, now: datetime) -> None:
        # The excerpt is the start of an XML header at most: never an account number.
        logger.error("inbound bank file %s cannot be read: %s; dead letter", name, reason)
        self.store.dead_letters.add(
            DeadLetter(
                source=INBOUND_SOURCE,
                message_id=event_id,
                code="bank_file_unreadable",
                reason=reason,
                details=(("object", name),),
                payload_excerpt=f"{len(content)} bytes",
                received_at=now,
            )
        )
