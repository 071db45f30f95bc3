"""The bank rail's funds for a run's funding check (shared/adapters/funding_balances.py,
BankStatementFunding), on the bank stand-in's own files in the in-memory bucket: nothing before
the first statement; the last camt.053's closing balance; less what the pain.001 files written
after it pay; and, once the next statement books them, that statement's closing balance alone."""

from __future__ import annotations

from datetime import timedelta

from shared.adapters.funding_balances import BankStatementFunding
from shared.settings import Settings
from stand_ins.bank import BankConfig
from tests.unit.usecases.conftest import NOW
from tests.unit.usecases.test_bank_transfers import DEBTOR, IN, pay, sepa_world

OPENING = 5_000_000


def test_the_bank_rail_has_its_last_statement_less_what_was_sent_since():
    w = sepa_world(bank=BankConfig(opening_balance=OPENING))
    funds = BankStatementFunding(
        Settings(BANK_INBOUND_BUCKET=IN, SEPA_DEBTOR_IBAN=DEBTOR.iban), w.files, w.objects, clock=lambda: NOW
    )
    assert funds("EUR") is None  # no statement yet: unreported, never a reason to hold a run
    w.bank.write_statement(NOW.date())
    assert funds("EUR") == OPENING and funds("GBP") is None
    ids = [pay(w, f"s-{n}", 1000 + n) for n in range(3)]
    for pid in ids:
        w.send(pid)
    w.writer.run(NOW + timedelta(minutes=1))  # a file the last statement does not know
    sent = sum(w.store.payouts.get(pid).amount.amount for pid in ids)
    assert funds("EUR") == OPENING - sent
    w.answers()  # the bank books it, an hour later
    w.bank.write_statement(NOW.date())
    assert funds("EUR") == OPENING - sent  # now on the statement, not subtracted twice
    assert funds.sent_since(NOW + timedelta(hours=2), "EUR") == 0
