"""The BankFileStore port (payouts queued for bank files, the batches formed from them): the same
checks on the fake and on Firestore."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.money import Money
from shared.usecases.ports import BankFileBatch, BankFileBatchState, QueuedBankTransfer
from tests.fakes.bank_files import FakeBankFileStore

AT = datetime(2026, 12, 1, 12, 0, 0, 123000, tzinfo=UTC)
CREDITOR = ValidatedBankAccount.from_storage(
    {
        "scheme": "iban",
        "holder_name": "Müller & Söhne GmbH",
        "iban": "FR1420041010050500013M02606",
        "bic": None,
    }
)


@pytest.fixture(params=["fake", pytest.param("firestore", marks=pytest.mark.integration)])
def files(request):
    if request.param == "fake":
        return FakeBankFileStore()
    from shared.adapters.firestore import FirestoreStore
    from shared.adapters.firestore.bank_files import FirestoreBankFiles
    from shared.settings import Settings

    return FirestoreBankFiles(
        FirestoreStore(Settings(), project=request.getfixturevalue("firestore_project"))
    )


def item(payout_id: str, amount: int = 1500, rail: str = "sepa_file") -> QueuedBankTransfer:
    return QueuedBankTransfer(
        payout_id=payout_id,
        seller_id=f"seller-{payout_id}",
        rail=rail,
        amount=Money(amount, "EUR"),
        creditor=CREDITOR,
        remittance=f"Payout {payout_id}",
        debtor_iban="DE89370400440532013000",
        queued_at=AT,
    )


def batch_of(
    items: list[QueuedBankTransfer], batch_id: str = "SP20261201-aaaaaaaaaaaaaaaaaaaa"
) -> BankFileBatch | None:
    if not items:
        return None
    return BankFileBatch(
        batch_id=batch_id,
        rail="sepa_file",
        currency="EUR",
        execution_date=date(2026, 12, 1),
        debtor_iban="DE89370400440532013000",
        created_at=AT,
        payout_ids=tuple(i.payout_id for i in items),
        object_name=f"pain.001/2026-12-01/{batch_id}.xml",
    )


def test_a_payout_is_queued_once_by_its_id_and_kept_as_queued(files):
    assert files.queue(item("po_b")) is True
    assert files.queue(replace(item("po_b"), amount=Money(9, "EUR"))) is False  # nothing written
    assert files.queue(item("po_a")) is True
    assert files.open_items(10) == [item("po_a"), item("po_b")]  # payout-id order, account intact
    assert files.open_items(1) == [item("po_a")]
    assert files.items(["po_b", "po_x"]) == [item("po_b")]


def test_a_batch_takes_exactly_the_open_items_it_names_and_they_leave_the_queue(files):
    for pid in ("po_a", "po_b", "po_c"):
        files.queue(item(pid))
    batch = files.form_batch(["po_a", "po_b"], batch_of)
    assert batch is not None and batch.payout_ids == ("po_a", "po_b")
    assert [i.payout_id for i in files.open_items(10)] == ["po_c"]
    assert [i.batch_id for i in files.items(["po_a", "po_b"])] == [batch.batch_id] * 2
    assert files.get_batch(batch.batch_id) == batch
    assert files.get_batch("SP20261201-bbbbbbbbbbbbbbbbbbbb") is None


def test_a_payout_already_in_a_batch_never_goes_into_another(files):
    files.queue(item("po_a"))
    first = files.form_batch(["po_a"], batch_of)
    assert first is not None
    seen: list[list[str]] = []

    def make(open_items):
        seen.append([i.payout_id for i in open_items])
        return batch_of(open_items, "SP20261201-cccccccccccccccccccc")

    assert files.form_batch(["po_a"], make) is None
    assert seen == [[]]
    assert files.get_batch("SP20261201-cccccccccccccccccccc") is None


def test_unsent_batches_are_listed_oldest_first_until_sent_and_their_payouts_never_change(files):
    files.queue(item("po_a"))
    files.queue(item("po_b"))
    one = files.form_batch(["po_a"], batch_of)
    two = files.form_batch(
        ["po_b"],
        lambda items: replace(
            batch_of(items, "SP20261201-dddddddddddddddddddd"), created_at=AT + timedelta(seconds=1)
        ),
    )
    assert [b.batch_id for b in files.unsent_batches(10)] == [one.batch_id, two.batch_id]
    written = replace(one, state=BankFileBatchState.WRITTEN, written_at=AT, payout_ids=("po_zzz",))
    files.put_batch(written)
    assert files.get_batch(one.batch_id) == replace(one, state=BankFileBatchState.WRITTEN, written_at=AT)
    files.put_batch(replace(one, state=BankFileBatchState.SENT, written_at=AT, sent_at=AT))
    assert [b.batch_id for b in files.unsent_batches(10)] == [two.batch_id]


def test_a_batch_of_more_than_500_payouts_forms_in_one_unit_of_work(files):
    """Forming writes the batch and each of its items in one transaction (the emulator, as
    Firestore since it lifted the 500-writes cap, takes it); SEPA_MAX_TRANSACTIONS_PER_FILE
    bounds it."""
    ids = [f"po_{n:04d}" for n in range(600)]
    for pid in ids:
        files.queue(item(pid))
    batch = files.form_batch(ids, batch_of)
    assert batch is not None and len(batch.payout_ids) == 600
    assert files.open_items(1000) == []


def test_batches_written_since_a_time_are_listed_oldest_written_first(files):
    for pid in ("po_a", "po_b", "po_c"):
        files.queue(item(pid))
    ids = ("aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccccc")
    batches = [
        files.form_batch([pid], lambda i, n=n: batch_of(i, f"SP20261201-{n}"))
        for pid, n in zip(("po_a", "po_b", "po_c"), ids, strict=True)
    ]
    for n, batch in enumerate(batches[:2]):  # the third is formed, not written
        files.put_batch(
            replace(batch, state=BankFileBatchState.WRITTEN, written_at=AT + timedelta(minutes=n))
        )
    assert [b.batch_id for b in files.written_since(AT, 10)] == [batches[0].batch_id, batches[1].batch_id]
    assert [b.batch_id for b in files.written_since(AT + timedelta(seconds=1), 10)] == [batches[1].batch_id]
    assert files.written_since(AT + timedelta(hours=1), 10) == []
