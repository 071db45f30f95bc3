"""The bank-file rail's rules: end-to-end ids, message ids, the reason-code table, and how a
payout follows what the bank says."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.bank_files import (
    REASON_CODES,
    BankFileError,
    BankMessageKind,
    BankOutcome,
    BankReport,
    TransactionOutcome,
    batch_message_id,
    end_to_end_id,
    is_sepa_identifier,
    outbound_object_name,
    payment_information_id,
    payout_id_from_end_to_end,
    payout_updates,
    reason,
    sepa_text,
    steps_towards,
)
from shared.domain.payouts import (
    FailureCode,
    PayoutStatus,
    can_transition,
    on_demand_payout_id,
    run_payout_id,
)
from stand_ins.bank import MAGIC_ACCOUNTS
from stand_ins.sample_sellers import OUTCOMES

# Payout ids are Firestore document ids: letters, digits, "-" and single inner underscores here.
_PART = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=8
)
PAYOUT_IDS = st.lists(_PART, min_size=1, max_size=4).map("_".join).filter(lambda s: len(s) <= 35)


def test_real_payout_ids_travel_as_end_to_end_ids_and_come_back():
    for payout_id in (
        run_payout_id("run-2026-11-23", "seller-1"),
        on_demand_payout_id("ops@x", "key-12345678"),
    ):
        e2e = end_to_end_id(payout_id)
        assert e2e == payout_id.replace("_", "/") and len(e2e) == 27
        assert is_sepa_identifier(e2e)
        assert payout_id_from_end_to_end(e2e) == payout_id


@settings(deadline=None)  # behaviour, not timing: the machine may be busy
@given(PAYOUT_IDS)
def test_the_end_to_end_mapping_is_reversible(payout_id):
    e2e = end_to_end_id(payout_id)
    assert is_sepa_identifier(e2e)
    assert payout_id_from_end_to_end(e2e) == payout_id


@pytest.mark.parametrize(
    "payout_id",
    ["po_" + "a" * 33, "po/abc", "po__abc", "_po", "po_", "po_é", "po&1", "", " po"],
)
def test_ids_that_cannot_be_end_to_end_ids_are_refused(payout_id):
    with pytest.raises(BankFileError):
        end_to_end_id(payout_id)


def test_sepa_text_keeps_the_sepa_character_set_only():
    assert sepa_text("Refurb & Shop_1 (Paris)", 70) == "Refurb Shop 1 (Paris)"
    assert sepa_text("  a   b ", 70) == "a b"
    assert sepa_text("&&&", 70) == "NOTPROVIDED"
    assert len(sepa_text("x" * 200, 140)) == 140


def test_the_message_id_is_derived_from_the_batch_in_any_order():
    ids = ["po_b", "po_a", "po_c"]
    first = batch_message_id("EUR", date(2026, 11, 24), ids)
    assert first == batch_message_id("EUR", date(2026, 11, 24), reversed(ids))
    assert first.startswith("SP20261124-") and len(first) == 31 and is_sepa_identifier(first)
    assert first != batch_message_id("EUR", date(2026, 11, 25), ids)
    assert first != batch_message_id("EUR", date(2026, 11, 24), ids[:2])
    assert is_sepa_identifier(payment_information_id(first))
    assert outbound_object_name(date(2026, 11, 24), first) == f"pain.001/2026-11-24/{first}.xml"
    with pytest.raises(BankFileError):
        batch_message_id("EUR", date(2026, 11, 24), ["po_a", "po_a"])


def test_every_reason_code_maps_to_a_failure_code_or_to_review():
    for code, row in REASON_CODES.items():
        assert row.code == code and len(code) == 4 and row.note
        assert row.failure is None or isinstance(row.failure, FailureCode)
    # Duplicates never fail a payout: the first instruction (or file) may still pay it.
    assert {c for c, r in REASON_CODES.items() if r.failure is None} == {"AM05", "DUPL", "DU01"}
    assert reason("XX99").failure is FailureCode.DECLINED
    assert reason(None).failure is FailureCode.DECLINED


def test_the_bank_stand_in_refuses_each_magic_account_with_the_sandbox_outcome():
    """Same test sellers, same fates on both rails (stand_ins/sample_sellers.py)."""
    for outcome, suffix in OUTCOMES.items():
        if suffix is None:
            continue
        action, code = MAGIC_ACCOUNTS[suffix]
        if outcome == "returned":
            assert action == "return"
        else:
            assert action == "reject" and reason(code).failure == FailureCode(outcome)


@settings(deadline=None)
@given(st.sampled_from(PayoutStatus), st.sampled_from(BankOutcome))
def test_steps_towards_an_outcome_are_legal_transitions(current, outcome):
    steps = steps_towards(current, outcome)
    if steps is None:
        return
    status = current
    for step in steps:
        assert can_transition(status, step), (current, outcome, steps)
        status = step
    assert steps_towards(status, outcome) == ()  # applying it again changes nothing


def test_what_contradicts_the_ledger_is_not_applied():
    assert steps_towards(PayoutStatus.FAILED, BankOutcome.BOOKED) is None
    assert steps_towards(PayoutStatus.CANCELED, BankOutcome.BOOKED) is None
    assert steps_towards(PayoutStatus.PAID, BankOutcome.REJECTED) is None
    assert steps_towards(PayoutStatus.PROCESSING, BankOutcome.RETURNED) == (
        PayoutStatus.PAID,
        PayoutStatus.RETURNED,
    )


def _report(kind, transactions=(), **extra):
    return BankReport(
        kind, "MSG1", datetime(2026, 11, 24, tzinfo=UTC), "0" * 64, tuple(transactions), **extra
    )


def test_payout_updates_say_what_each_transaction_means_and_are_keyed_by_file():
    report = _report(
        BankMessageKind.STATUS_REPORT,
        [
            TransactionOutcome("po/1", BankOutcome.ACCEPTED),
            TransactionOutcome("po/2", BankOutcome.REJECTED, "AC04"),
            TransactionOutcome("po/3", BankOutcome.REJECTED, "AM05"),
        ],
    )
    effects = payout_updates(report)
    assert [(u.payout_id, u.outcome, u.failure_code) for u in effects.updates] == [
        ("po_1", BankOutcome.ACCEPTED, None),
        ("po_2", BankOutcome.REJECTED, FailureCode.ACCOUNT_CLOSED),
    ]
    assert [t.end_to_end_id for t in effects.needs_review] == ["po/3"]
    assert effects.file_rejection is None and not effects.duplicate_file_refused
    again = payout_updates(report)
    assert [u.dedupe_key for u in again.updates] == [u.dedupe_key for u in effects.updates]
    assert "AC04" in effects.updates[1].cause


def test_a_whole_file_rejection_fails_its_payouts_unless_it_is_a_duplicate():
    bad = payout_updates(_report(BankMessageKind.STATUS_REPORT, group_status="RJCT", group_reason="FF01"))
    assert bad.file_rejection is FailureCode.TECHNICAL_REJECTION and not bad.duplicate_file_refused
    dup = payout_updates(_report(BankMessageKind.STATUS_REPORT, group_status="RJCT", group_reason="DU01"))
    assert dup.file_rejection is None and dup.duplicate_file_refused
