"""The SEPA bank-file rail wired into payouts (shared/usecases/bank_transfers.py), on fakes: the
in-memory store, an in-memory bucket, the real pain.001 writer and bank-file reader, and the bank
stand-in (stand_ins/bank.py) answering in process."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from shared.adapters.bank_files.bank_connection import BucketBankFiles
from shared.adapters.bank_files.sepa_credit_transfer import SepaDebtor, validate_pain001
from shared.adapters.cloud_storage import InMemoryObjectStore
from shared.domain.countries import CountryRegistry
from shared.domain.payouts import FailureCode, PayoutStatus
from shared.domain.rail_capabilities import load_rail_capabilities
from shared.usecases.bank_transfers import BankFileQueueing, BankFileWriter, BankReportIntake
from shared.usecases.payouts import PayoutService, RetryLater
from shared.usecases.ports import BankFileBatchState, PayoutPolicy
from shared.usecases.rail_selection import RailSelector
from stand_ins.bank import Bank, BankConfig
from tests.fakes.bank_files import FakeBankFileStore
from tests.fakes.outside import FakeProvider, FakeProviders, FakePublisher, FakeTaskQueue
from tests.fakes.storage import FakeStore
from tests.unit.usecases.conftest import NOW, RULES, World

OUT, IN = "bank-outbound", "bank-inbound"
DEBTOR = SepaDebtor("Seller Payouts Platform", "DE89370400440532013000", "COBADEFFXXX")


class SepaWorld(World):
    files: FakeBankFileStore
    objects: InMemoryObjectStore
    writer: BankFileWriter
    intake: BankReportIntake
    bank: Bank
    clock: list[float]

    def send(self, payout_id: str, at=NOW) -> str:
        return self.svc.send_transfer(payout_id, at)

    def answers(self) -> list[str]:
        """Let the bank read what we wrote, and feed each file it wrote back to the intake (as
        the Eventarc trigger does), in order."""
        seen = set(self.bank.state["files"])
        self.bank.process_outbound()
        self.clock[0] += 3600
        self.bank.release_returns()
        fresh = [n for n in self.bank.state["files"] if n not in seen]
        for name in fresh:
            self.intake.receive(IN, name, event_id=name, now=NOW)
        return fresh

    def status(self, payout_id: str) -> PayoutStatus:
        payout = self.store.payouts.get(payout_id)
        assert payout is not None
        return payout.status


def sepa_world(max_per_file: int = 5000, bank: BankConfig | None = None) -> SepaWorld:
    fr = RULES.get("FR").model_copy(update={"rails": ("sepa_file", "sandbox")})
    registry = CountryRegistry([fr, *(RULES.get(c) for c in RULES.countries() if c != "FR")])
    store, tasks, publisher, provider = FakeStore(), FakeTaskQueue(), FakePublisher(), FakeProvider()
    files = FakeBankFileStore()
    selector = RailSelector(
        load_rail_capabilities(), None, BankFileQueueing(files, DEBTOR.iban), cache_seconds=0
    )
    svc = PayoutService(
        store, registry, tasks, publisher, FakeProviders(provider), PayoutPolicy(), rails=selector
    )
    w = SepaWorld(store, registry, tasks, publisher, provider, svc)
    w.files, w.objects = files, InMemoryObjectStore()
    connection = BucketBankFiles(w.objects, OUT, DEBTOR)
    w.writer = BankFileWriter(files, connection, svc, max_per_file=max_per_file)
    w.intake = BankReportIntake(store, files, connection, svc)
    w.clock = [NOW.timestamp()]
    w.bank = Bank(w.objects, OUT, IN, DEBTOR.iban, bank or BankConfig(), clock=lambda: w.clock[0])
    return w


def pay(w: SepaWorld, seller_id: str, amount: int = 3000, outcome: str = "paid") -> str:
    w.seller(seller_id, outcome=outcome)
    w.fund(seller_id, amount)
    return w.pay_on_demand(seller_id, amount, key=f"key-{seller_id}-0001").payout_id


def outbound(w: SepaWorld) -> list[str]:
    return [o.name for o in w.objects.list(OUT)]


def test_a_payout_on_sepa_file_is_queued_once_and_stays_pending_until_its_file_is_written():
    w = sepa_world()
    pid = pay(w, "s-1")
    assert w.send(pid) == "queued_for_file"
    payout = w.store.payouts.get(pid)
    assert payout.status is PayoutStatus.PENDING and payout.provider == "sepa_file"
    assert payout.transfer_started_at is not None  # a cancel is refused from now on
    with pytest.raises(RetryLater):  # a second delivery while the first holds the claim
        w.send(pid)
    later = NOW + timedelta(seconds=PayoutPolicy().sender_claim_seconds + 1)
    assert w.send(pid, later) == "already_queued_for_file"  # a resend after the lease: nothing twice
    assert [i.payout_id for i in w.files.open_items(10)] == [pid]
    assert outbound(w) == []  # no file before the writer's tick


def test_the_writer_writes_one_valid_file_then_moves_its_payouts_to_processing_with_the_file_name():
    w = sepa_world()
    ids = sorted(pay(w, f"s-{n}", 1000 + n) for n in range(3))
    for pid in ids:
        w.send(pid)
    report = w.writer.run(NOW)
    assert report.counts() == {
        "files_formed": 1,
        "files_written": 1,
        "payouts_in_files": 3,
        "files_failed": 0,
    }
    [name] = outbound(w)
    assert name.startswith(f"pain.001/{NOW.date().isoformat()}/SP{NOW:%Y%m%d}-")
    content = w.objects.get(OUT, name)
    validate_pain001(content)  # the XSD sepaxml ships
    for pid in ids:
        assert pid.replace("_", "/").encode() in content  # the payout id as end-to-end id
        payout = w.store.payouts.get(pid)
        assert payout.status is PayoutStatus.PROCESSING
        assert payout.history[-1].cause == f"in bank file {name}"
    again = w.writer.run(NOW + timedelta(minutes=5))  # the next tick: nothing new
    assert again.counts() == {"files_formed": 0, "files_written": 0, "payouts_in_files": 0, "files_failed": 0}
    assert outbound(w) == [name]


def test_a_crash_between_writing_the_file_and_moving_the_payouts_repeats_safely():
    w = sepa_world()
    pid = pay(w, "s-1")
    w.send(pid)
    put_batch = w.files.put_batch
    w.files.put_batch = lambda batch: (_ for _ in ()).throw(RuntimeError("killed"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        w.writer.run(NOW)
    assert len(outbound(w)) == 1 and w.status(pid) is PayoutStatus.PENDING  # file there, not moved
    w.files.put_batch = put_batch  # type: ignore[method-assign]
    report = w.writer.run(NOW + timedelta(minutes=5))
    assert report.counts()["files_written"] == 0  # the same bytes were already there
    assert report.counts()["payouts_in_files"] == 1
    assert len(outbound(w)) == 1 and w.status(pid) is PayoutStatus.PROCESSING
    [batch] = w.files.batches.values()
    assert batch.state is BankFileBatchState.SENT


def test_batches_are_cut_per_max_size_in_payout_id_order_and_never_re_split():
    w = sepa_world(max_per_file=2)
    ids = sorted(pay(w, f"s-{n}", 1000 + n) for n in range(3))
    for pid in ids:
        w.send(pid)
    w.writer.run(NOW)
    first = {b.batch_id: b.payout_ids for b in w.files.batches.values()}
    assert sorted(first.values()) == [tuple(ids[:2]), (ids[2],)]
    late = pay(w, "s-late", 1999)
    w.send(late)
    w.writer.run(NOW + timedelta(minutes=5))
    now = {b.batch_id: b.payout_ids for b in w.files.batches.values()}
    assert {k: now[k] for k in first} == first  # stored batches keep their payouts
    assert [v for k, v in now.items() if k not in first] == [(late,)]
    assert len(outbound(w)) == 3


def test_two_writers_racing_never_put_a_payout_in_two_batches():
    w = sepa_world()
    pid = pay(w, "s-1")
    w.send(pid)
    open_ids = [i.payout_id for i in w.files.open_items(10)]
    w.writer.run(NOW)
    # A second writer that listed the open payouts before the first formed its batch:
    from shared.usecases.bank_transfers import _batch_maker

    assert w.files.form_batch(open_ids, _batch_maker(("sepa_file", "EUR", DEBTOR.iban), NOW)) is None
    assert len(w.files.batches) == 1


def test_a_file_that_does_not_validate_never_leaves_and_its_payouts_wait():
    w = sepa_world()
    pid = pay(w, "s-1")
    w.send(pid)
    item = w.files.queued[pid]
    w.files.queued[pid] = replace(item, amount=replace(item.amount, currency="USD"))  # not SEPA
    report = w.writer.run(NOW)
    assert report.counts()["files_failed"] == 1 and outbound(w) == []
    assert w.status(pid) is PayoutStatus.PENDING


def test_the_banks_answers_settle_payouts_accept_reject_return_with_mapped_codes_and_postings():
    w = sepa_world(bank=BankConfig(return_delay_ms=1000))
    paid = pay(w, "s-paid", 2500)
    closed = pay(w, "s-closed", 2600, outcome="account_closed")
    returned = pay(w, "s-returned", 2700, outcome="returned")
    for pid in (paid, closed, returned):
        w.send(pid)
    w.writer.run(NOW)
    names = w.answers()
    assert any(n.startswith("pain.002/") for n in names) and any(n.startswith("camt.054/") for n in names)
    assert w.status(paid) is PayoutStatus.PAID
    assert w.status(closed) is PayoutStatus.FAILED
    assert w.store.payouts.get(closed).failure_code is FailureCode.ACCOUNT_CLOSED
    assert w.status(returned) is PayoutStatus.RETURNED
    # The ledger: a paid payout's money left the seller; failed and returned came back.
    assert w.balance("s-paid")[1:] == (0, 0)
    assert w.balance("s-closed")[1:] == (2600, 0)
    assert w.balance("s-returned")[1:] == (2700, 0)
    assert w.store.t.sellers["s-closed"].bank_account_status.value == "invalid"  # AC04


def test_the_same_bank_file_twice_changes_nothing():
    w = sepa_world()
    pid = pay(w, "s-1")
    w.send(pid)
    w.writer.run(NOW)
    names = w.answers()
    before = (w.store.payouts.get(pid), len(w.store.t.journal), len(w.store.t.outbox))
    for name in names:
        again = w.intake.receive(IN, name, event_id=name + "-redelivered", now=NOW + timedelta(hours=1))
        assert set(again.counts) <= {"duplicate", "unchanged"}
    assert (w.store.payouts.get(pid), len(w.store.t.journal), len(w.store.t.outbox)) == before


def test_a_malformed_bank_file_is_a_dead_letter_and_acknowledged():
    w = sepa_world()
    w.objects.put_if_absent(
        IN, "camt.054/2026-11-24/broken.xml", b"<Document>not a bank file", "application/xml"
    )
    result = w.intake.receive(IN, "camt.054/2026-11-24/broken.xml", event_id="ev-1", now=NOW)
    assert result.outcome == "dead_letter"
    [letter] = w.store.t.dead_letters.values()
    assert letter.source == "bank-files-inbound" and letter.code == "bank_file_unreadable"
    assert w.intake.receive(IN, "camt.054/2026-11-24/gone.xml", event_id="ev-2", now=NOW).outcome == "missing"


def test_the_sweeper_requeues_a_queued_payout_and_leaves_one_at_the_bank_alone():
    w = sepa_world()
    at_bank = pay(w, "s-1")
    w.send(at_bank)
    w.writer.run(NOW)
    queued = pay(w, "s-2")
    w.send(queued)
    before = len(w.tasks.to("transfer-worker"))
    counts = w.svc.sweep(NOW + timedelta(hours=2))
    assert counts["at_bank"] == 1 and counts["requeued"] == 1 and counts["flagged"] == 0
    assert w.tasks.to("transfer-worker")[before:] == [{"payout_id": queued}]
    assert w.store.t.stuck == {}


def test_a_payout_the_bank_never_answers_is_flagged_stuck_after_its_business_days():
    w = sepa_world()  # BANK_ANSWER_BUSINESS_DAYS: 2 by default
    pid = pay(w, "s-1")
    w.send(pid)
    w.writer.run(NOW)  # in its file, processing; the bank never answers
    assert NOW.weekday() == 1  # sent on a Tuesday: flagged from Thursday on
    counts = w.svc.sweep(NOW + timedelta(days=1, hours=11))  # Wednesday night: one day
    assert (counts["at_bank"], counts["flagged"]) == (1, 0) and w.store.t.stuck == {}
    counts = w.svc.sweep(NOW + timedelta(days=2))
    assert counts["flagged"] == 1 and "at_bank" not in counts
    assert w.store.t.stuck[pid] == "no answer from the bank for 2 business days since its file was sent"
    assert w.status(pid) is PayoutStatus.PROCESSING  # flagged for ops, never guessed


def test_the_banks_business_days_skip_weekends_and_target_holidays():
    from datetime import date, datetime

    from shared.domain.bank_files import bank_business_days, bank_silent_too_long

    assert bank_business_days(date(2026, 11, 27), date(2026, 11, 30)) == 1  # Friday to Monday
    assert bank_business_days(date(2026, 4, 2), date(2026, 4, 7)) == 1  # Good Friday, Easter Monday
    assert bank_business_days(date(2026, 12, 24), date(2026, 12, 28)) == 1  # 25-26 December
    assert bank_business_days(date(2026, 12, 1), date(2026, 12, 1)) == 0
    sent = datetime(2026, 11, 27, 16, tzinfo=NOW.tzinfo)  # a Friday afternoon
    assert not bank_silent_too_long(sent, datetime(2026, 11, 30, 23, tzinfo=NOW.tzinfo), 2)
    assert bank_silent_too_long(sent, datetime(2026, 12, 1, 0, 1, tzinfo=NOW.tzinfo), 2)


# --- reconciliation of the bank-file rail: the bank's camt.053 as the rail's records -----------------


class BankSources:
    """RailRecordSources with the sepa_file rail only (the stack's list is RECONCILED_RAILS)."""

    def __init__(self, source) -> None:
        self.source = source

    def rails(self) -> tuple[str, ...]:
        return ("sepa_file",)

    def get(self, rail: str):
        from shared.usecases.ports import UnknownRail

        if rail != "sepa_file":
            raise UnknownRail(rail)
        return self.source


def test_the_banks_statement_reconciles_the_bank_file_rail_with_zero_breaks_and_a_duplicate_read_once():
    from shared.adapters.rail_records.sources import BankStatementRecords
    from shared.settings import Settings
    from shared.usecases.reconciliation import ReconciliationService, day_window

    w = sepa_world(bank=BankConfig(duplicate_file_rate=1.0))  # every bank file comes twice
    ids = [
        pay(w, "s-paid", 2500),
        pay(w, "s-closed", 2600, "account_closed"),
        pay(w, "s-ret", 2700, "returned"),
    ]
    for pid in ids:
        w.send(pid)
    w.writer.run(NOW)
    w.answers()
    statement = w.bank.write_statement(NOW.date())
    assert statement.startswith(f"camt.053/{NOW.date().isoformat()}/")
    settings = Settings(BANK_INBOUND_BUCKET=IN, SEPA_DEBTOR_IBAN=DEBTOR.iban)
    source = BankStatementRecords(settings, w.objects)
    recon = ReconciliationService(
        w.store, BankSources(source), relay=lambda events: len(events), clock=lambda: NOW
    )
    report = recon.reconcile_window("sepa_file", day_window(NOW.date()), actor="ops@example.com")
    assert report.breaks == 0, [(b.cls, b.subject) for b in w.store.t.breaks.values()]
    # the paid transfer, the returned one and its return; the rejected payout moved no money
    assert [(line.cls, line.count, line.total) for line in report.lines] == [
        ("matched", 3, 2500 + 2700 + 2700)
    ]
    assert report.rail_records == 3  # two debits and one return credit, each once


def test_a_file_the_bank_refuses_as_a_duplicate_changes_nothing_and_a_file_rejected_whole_fails_its_payouts():
    w = sepa_world()
    pid = pay(w, "s-1")
    w.send(pid)
    w.writer.run(NOW)
    w.answers()
    assert w.status(pid) is PayoutStatus.PAID
    [name] = outbound(w)
    # The connector sends the same file again: the bank refuses it whole (DU01), the first stands.
    w.objects.put_if_absent(
        OUT, name.replace(".xml", "-again.xml"), w.objects.get(OUT, name), "application/xml"
    )
    [refusal] = [n for n in w.answers() if n.startswith("pain.002/")]
    report = w.intake.bank.read(w.objects.get(IN, refusal))
    assert (report.group_status, report.group_reason) == ("RJCT", "DU01")
    assert w.status(pid) is PayoutStatus.PAID

    # A file the bank rejects whole for a reason of ours (FF01): every payout of it fails.
    other = pay(w, "s-2")
    w.send(other)
    w.writer.run(NOW)
    [batch] = [b for b in w.files.batches.values() if other in b.payout_ids]
    seen = set(w.bank.state["files"])
    w.bank._status_report(NOW.date(), batch.batch_id, [], group=("RJCT", "FF01"), payment_infos=[])
    [whole] = [n for n in w.bank.state["files"] if n not in seen]
    result = w.intake.receive(IN, whole, event_id="ev-whole", now=NOW)
    assert result.counts == {"applied": 1}
    assert w.intake.receive(IN, whole, event_id="ev-whole-again", now=NOW).counts == {"duplicate": 1}
    payout = w.store.payouts.get(other)
    assert payout.status is PayoutStatus.FAILED and payout.failure_code is FailureCode.TECHNICAL_REJECTION
    assert w.store.t.sellers["s-2"].bank_account_status.value == "valid"  # our file, not their account


def test_a_payout_whose_seller_has_no_iban_is_never_queued_and_is_flagged_for_ops():
    from shared.domain.bank_accounts import ValidatedBankAccount

    flagged: list[tuple[str, str]] = []
    queueing = BankFileQueueing(
        FakeBankFileStore(), DEBTOR.iban, lambda pid, why, at: flagged.append((pid, why))
    )
    w = sepa_world()
    pid = pay(w, "s-1")
    seller = w.store.t.sellers["s-1"]
    us = ValidatedBankAccount.from_storage(
        {
            "scheme": "us_aba",
            "holder_name": "Alex Martin",
            "routing_number": "011000015",
            "account_number": "123456789",
            "account_type": "checking",
        }
    )
    result = queueing.queue_for_file(
        w.store.payouts.get(pid), replace(seller, bank_account=us), "sepa_file", NOW
    )
    assert result == "no_iban" and flagged == [(pid, "sepa_file needs an IBAN account")]
    assert queueing.files.open_items(10) == []
