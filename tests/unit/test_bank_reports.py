"""The bank's answers, as the bank stand-in writes them (pyiso20022 bindings) and the platform
reads them: status reports, notifications, statements, and the stand-in's fault knobs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.adapters.bank_files.bank_reports import message_kind, read_bank_file
from shared.adapters.bank_files.sepa_credit_transfer import (
    CreditTransfer,
    CreditTransferBatch,
    SepaDebtor,
    write_pain001,
)
from shared.adapters.cloud_storage import InMemoryObjectStore
from shared.adapters.rail_records.bank_statement import statement_records
from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.bank_files import (
    BankFileError,
    BankMessageKind,
    BankOutcome,
    EntryDirection,
    payout_updates,
)
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, run_payout_id
from shared.domain.reconciliation import RailRecordKind
from stand_ins.bank import Bank, BankConfig
from stand_ins.sample_sellers import iban_for

DEBTOR = SepaDebtor("Seller Payouts Platform", "DE89370400440532013000", "COBADEFFXXX")
DAY = date(2026, 11, 24)
FATES = ["paid", "account_closed", "no_account", "invalid_account_number", "account_frozen", "declined",
         "insufficient_platform_funds", "returned", "paid"]  # fmt: skip


def transfers(fates=FATES, amount=1000):
    out = []
    for n, fate in enumerate(fates):
        iban = iban_for("DE", n, fate)
        creditor = ValidatedBankAccount.from_storage(
            {"scheme": "iban", "holder_name": f"Shop {n}", "iban": iban}
        )
        out.append(
            CreditTransfer(run_payout_id("run-1", f"s{n}"), Money(amount + n, "EUR"), creditor, "Payout")
        )
    return tuple(out)


class World:
    def __init__(self, **config):
        self.store = InMemoryObjectStore()
        self.now = 1_000_000.0
        self.bank = Bank(self.store, "out", "in", DEBTOR.iban, BankConfig(**config), clock=lambda: self.now)

    def send(self, batch_transfers, day=DAY):
        written = write_pain001(
            CreditTransferBatch(day, datetime(2026, 11, 23, tzinfo=UTC), DEBTOR, batch_transfers)
        )
        self.store.put_if_absent("out", written.object_name, written.content, "application/xml")
        self.bank.process_outbound()
        return written

    def later(self, seconds=5.0):
        self.now += seconds
        self.bank.release_returns()

    def reports(self, prefix=""):
        return {o.name: read_bank_file(self.store.get("in", o.name)) for o in self.store.list("in", prefix)}


def by_payout(report):
    return {tx.payout_id: tx for tx in report.transactions}


def test_the_status_report_accepts_and_rejects_per_transaction_with_reason_codes():
    world = World()
    sent = transfers()
    written = world.send(sent)
    [report] = world.reports("pain.002/").values()
    assert report.kind is BankMessageKind.STATUS_REPORT and report.original_message_id == written.message_id
    assert report.group_status == "PART"
    codes = {t.payout_id: (t.outcome, t.reason_code) for t in report.transactions}
    ids = [t.payout_id for t in sent]
    assert codes[ids[0]] == (BankOutcome.ACCEPTED, None)
    assert [codes[i][1] for i in ids[1:7]] == ["AC04", "AC01", "AC03", "AC06", "AG01", "AM04"]
    failures = {u.payout_id: u.failure_code for u in payout_updates(report).updates}
    assert [failures[i] for i in ids[1:7]] == [
        FailureCode.ACCOUNT_CLOSED, FailureCode.NO_ACCOUNT, FailureCode.INVALID_ACCOUNT_NUMBER,
        FailureCode.ACCOUNT_FROZEN, FailureCode.DECLINED, FailureCode.INSUFFICIENT_PLATFORM_FUNDS,
    ]  # fmt: skip
    assert by_payout(report)[ids[0]].amount == Money(1000, "EUR")


def test_bookings_and_returns_come_as_camt054_and_the_statement_adds_up():
    world = World(fee_per_file=35, opening_balance=1_000_000)
    sent = transfers()
    world.send(sent)
    world.later()
    notices = world.reports("camt.054/")
    assert len(notices) == 2  # the batch booking, then the return
    booked, returned = sorted(notices.values(), key=lambda r: r.file_id)
    assert {t.outcome for t in booked.transactions} == {BankOutcome.BOOKED}
    assert set(by_payout(booked)) == {sent[0].payout_id, sent[7].payout_id, sent[8].payout_id}
    assert [(t.payout_id, t.outcome, t.reason_code) for t in returned.transactions] == [
        (sent[7].payout_id, BankOutcome.RETURNED, "AC04")
    ]
    statement_name = world.bank.write_statement(DAY)
    statement = read_bank_file(world.store.get("in", statement_name))
    assert statement.kind is BankMessageKind.STATEMENT and statement.account_iban == DEBTOR.iban
    booked_total = sum(t.amount.amount for t in (sent[0], sent[7], sent[8]))
    assert statement.opening_balance == Money(1_000_000, "EUR")
    assert statement.closing_balance == Money(1_000_000 - booked_total + sent[7].amount.amount - 35, "EUR")
    assert statement.closing_balance_on == DAY
    charges = [e for e in statement.entries if e.is_charge]
    assert [(c.amount, c.direction) for c in charges] == [(Money(35, "EUR"), EntryDirection.DEBIT)]
    # The next statement starts where this one closed.
    world.send(transfers(["paid"], amount=500), day=date(2026, 11, 25))
    second = read_bank_file(world.store.get("in", world.bank.write_statement(date(2026, 11, 25))))
    assert second.opening_balance == statement.closing_balance
    assert second.closing_balance == statement.closing_balance - Money(500 + 35, "EUR")


def test_a_short_funding_account_rejects_what_it_cannot_pay_with_am04():
    world = World(opening_balance=2_500)
    sent = transfers(["paid", "paid", "paid"], amount=1000)
    world.send(sent)
    [report] = world.reports("pain.002/").values()
    assert [(t.outcome, t.reason_code) for t in report.transactions] == [
        (BankOutcome.ACCEPTED, None),
        (BankOutcome.ACCEPTED, None),
        (BankOutcome.REJECTED, "AM04"),
    ]  # fmt: skip  (in payout-id order, as the file lists them)


def test_a_pain001_sent_twice_is_refused_as_a_duplicate_and_fails_nothing():
    world = World()
    written = world.send(transfers(["paid"]))
    world.store.put_if_absent("out", written.object_name.replace(".xml", "-again.xml"), written.content, "x")
    world.bank.process_outbound()
    reports = sorted(world.reports("pain.002/").values(), key=lambda r: r.file_id)
    assert reports[1].group_status == "RJCT" and reports[1].group_reason == "DU01"
    effects = payout_updates(reports[1])
    assert effects.duplicate_file_refused and effects.file_rejection is None and not effects.updates


def test_an_unreadable_pain001_is_refused_as_a_whole_with_ff01():
    world = World()
    world.store.put_if_absent("out", "pain.001/2026-11-24/broken.xml", b"<Document/>", "application/xml")
    world.bank.process_outbound()
    [report] = world.reports("pain.002/").values()
    assert (report.group_status, report.group_reason) == ("RJCT", "FF01")
    assert payout_updates(report).file_rejection is FailureCode.TECHNICAL_REJECTION


def test_duplicated_files_carry_the_same_file_identity():
    world = World(duplicate_file_rate=1.0)
    world.send(transfers(["paid"]))
    reports = world.reports()
    assert len(reports) == 4  # pain.002 and camt.054, each twice
    names = sorted(reports)
    assert reports[names[0]].file_id == reports[names[1]].file_id
    assert reports[names[0]].content_sha256 == reports[names[1]].content_sha256


def test_the_bank_resends_its_files_on_demand_once_each_with_the_same_identity():
    world = World()
    world.send(transfers(["paid"]))
    world.bank.write_statement(DAY)
    first = set(world.reports())
    resent = world.bank.resend()
    assert sorted(resent) == sorted(n.removesuffix(".xml") + "-resent.xml" for n in first)
    reports = world.reports()
    for name in first:
        again = reports[name.removesuffix(".xml") + "-resent.xml"]
        assert (again.file_id, again.content_sha256) == (reports[name].file_id, reports[name].content_sha256)
    assert world.bank.resend() == []  # each file is re-sent once
    assert world.bank.resend("camt.053/") == []


def test_a_missing_notification_leaves_the_statement_to_tell():
    world = World(drop_notification_rate=1.0)
    sent = transfers(["paid", "returned"])
    world.send(sent)
    world.later()
    assert world.reports("camt.054/") == {}
    statement = read_bank_file(world.store.get("in", world.bank.write_statement(DAY)))
    assert [(t.payout_id, t.outcome) for t in statement.transactions] == [
        (sent[0].payout_id, BankOutcome.BOOKED),
        (sent[1].payout_id, BankOutcome.BOOKED),
        (sent[1].payout_id, BankOutcome.RETURNED),
    ]


def test_statement_entries_become_rail_records_with_an_unexplained_debit_as_other():
    world = World(fee_per_file=20, unexplained_debit=777)
    sent = transfers(["paid", "returned"])
    world.send(sent)
    world.later()
    statement = read_bank_file(world.store.get("in", world.bank.write_statement(DAY)))
    records = statement_records(statement)
    kinds = sorted((r.kind.value, r.reference or "", r.amount.amount) for r in records)
    assert kinds == sorted(
        [
            (RailRecordKind.TRANSFER.value, sent[0].payout_id, sent[0].amount.amount),
            (RailRecordKind.TRANSFER.value, sent[1].payout_id, sent[1].amount.amount),
            (RailRecordKind.RETURN.value, sent[1].payout_id, sent[1].amount.amount),
            (RailRecordKind.FEE.value, "", 20),
            (RailRecordKind.OTHER.value, "", 777),
        ]
    )
    assert len({r.record_id for r in records}) == len(records)


def test_files_that_are_not_bank_files_are_refused_before_parsing():
    with pytest.raises(BankFileError):
        read_bank_file(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')
    with pytest.raises(BankFileError):
        read_bank_file(b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'/>")
    with pytest.raises(BankFileError):
        read_bank_file(b"not xml")
    with pytest.raises(BankFileError):  # the right namespace, the wrong content
        read_bank_file(b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'><Nope/></Document>")
    with pytest.raises(BankFileError):
        message_kind(b"<x/>")


CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


@pytest.mark.parametrize(
    "body",
    [
        "<BkToCstmrStmt/>",  # no group header, no statement
        "<BkToCstmrStmt><GrpHdr><MsgId>M</MsgId><CreDtTm>2026-11-24T00:00:00Z</CreDtTm></GrpHdr>"
        "<Stmt><Id>S</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>"
        "<Ntry><Amt Ccy='EUR'>abc</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BkTxCd/></Ntry></Stmt>"
        "</BkToCstmrStmt>",
        "<BkToCstmrStmt><GrpHdr><MsgId>M</MsgId><CreDtTm>2026-11-24T00:00:00Z</CreDtTm></GrpHdr>"
        "<Stmt><Id>S</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>"
        "<Ntry><Amt Ccy='EUR'>1.234</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BkTxCd/></Ntry></Stmt>"
        "</BkToCstmrStmt>",
        "<BkToCstmrStmt><GrpHdr><MsgId>M</MsgId><CreDtTm>2026-11-24T00:00:00Z</CreDtTm></GrpHdr>"
        "<Stmt><Id>S</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>"
        "<Ntry><Amt Ccy='EUR'>1.00</Amt><CdtDbtInd>SIDEWAYS</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BkTxCd/></Ntry></Stmt>"
        "</BkToCstmrStmt>",
    ],
)
def test_a_statement_that_lacks_or_breaks_what_it_must_have_is_refused_not_a_crash(body):
    with pytest.raises(BankFileError):
        read_bank_file(f"<Document xmlns='{CAMT053}'>{body}</Document>".encode())


def test_a_transfer_to_an_invalid_iban_is_rejected_ac01_by_the_bank():
    world = World()
    bad = transfers(["paid"])[0]
    creditor = ValidatedBankAccount.from_storage({"scheme": "iban", "holder_name": "Shop", "iban": "DE00123"})
    world.send((CreditTransfer(bad.payout_id, bad.amount, creditor, "Payout"),))
    [report] = world.reports("pain.002/").values()
    assert [(t.outcome, t.reason_code) for t in report.transactions] == [(BankOutcome.REJECTED, "AC01")]
