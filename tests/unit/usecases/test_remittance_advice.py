"""Remittance advice after a payout is paid (issue 18), on the fakes: the paid event's follow-up
enqueues the task before the event is published; the task renders outside any transaction,
stores the PDF once and announces it with a ``payout.remittance_ready`` event carrying its URI;
every step can run again."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import timedelta

import pytest

from shared.adapters.cloud_storage import InMemoryObjectStore
from shared.adapters.documents.document_store import BucketDocuments
from shared.domain.payouts import PayoutStatus
from shared.usecases import remittance
from tests.unit.usecases.conftest import NOW, ONBOARDED

BUCKET = "test-documents"


@pytest.fixture
def world(world):
    world.svc.policy = replace(world.svc.policy, remittance_advice=True)
    return world


@pytest.fixture
def documents():
    return BucketDocuments(InMemoryObjectStore(), BUCKET)


def fake_pdf(advice):
    return f"%PDF-1.7 {advice.payout_id} {advice.language} {len(advice.lines)}".encode()


def paid(world, amount=27000):
    world.seller("s-1")
    money = {"gross": {"amount": 30000, "currency": "EUR"}, "commission": {"amount": 3000, "currency": "EUR"}}
    world.event("s-1", "paid", money, "phone", at=ONBOARDED)
    world.event("s-1", "return_window_closed", {"closed_at": ONBOARDED.isoformat()}, "phone", at=ONBOARDED)
    payout = world.pay_on_demand("s-1", amount)
    for status, minutes in ((PayoutStatus.PROCESSING, 1), (PayoutStatus.PAID, 2)):
        world.svc.apply_state(
            payout.payout_id,
            status,
            cause="test",
            actor="test",
            provider_ref="tr_1",
            now=NOW + timedelta(minutes=minutes),
        )
    return payout


def issue(world, documents, payout_id, render=fake_pdf):
    return remittance.issue_remittance(
        world.store,
        world.registry,
        documents,
        render,
        world.svc.relay,
        payout_id,
        marketplace_name="Test Market",
        now=NOW,
    )


def test_a_paid_payout_enqueues_its_remittance_advice_before_the_paid_event_is_published(world):
    payout = paid(world)
    assert world.tasks.to("remittance-worker") == [{"payout_id": payout.payout_id}]
    assert "payout.paid" in world.publisher.types()


def test_the_advice_is_stored_once_and_announced_with_its_uri(world, documents):
    payout = paid(world)
    assert issue(world, documents, payout.payout_id) == "issued"
    name = f"remittance/s-1/{payout.payout_id}.pdf"
    assert documents.get(name) == f"%PDF-1.7 {payout.payout_id} fr 2".encode()  # French: a seller in France
    ready = [e for _, e in world.publisher.events if e.type == "payout.remittance_ready"]
    assert len(ready) == 1
    assert ready[0].data["remittance_advice"]["uri"] == f"gs://{BUCKET}/{name}"
    assert ready[0].data["payout_id"] == payout.payout_id
    # Its own subject: never taken for the payout's status events, de-duplicated on (subject, sequence).
    assert (ready[0].subject, ready[0].sequence) == (name, 1)
    paid_event = next(e for _, e in world.publisher.events if e.type == "payout.paid")
    assert (paid_event.subject, paid_event.sequence) != (ready[0].subject, ready[0].sequence)
    # The task again (a retry, or a duplicate task): nothing new.
    assert issue(world, documents, payout.payout_id, render=lambda a: b"%PDF other bytes") == "already_issued"
    assert documents.get(name) == f"%PDF-1.7 {payout.payout_id} fr 2".encode()
    assert [e.type for _, e in world.publisher.events].count("payout.remittance_ready") == 1


def test_a_retry_after_the_object_was_written_keeps_the_first_pdf(world, documents):
    payout = paid(world)
    name = f"remittance/s-1/{payout.payout_id}.pdf"
    documents.put_once(name, b"%PDF first attempt", "application/pdf")  # the attempt died after writing
    assert issue(world, documents, payout.payout_id) == "issued"
    assert documents.get(name) == b"%PDF first attempt"


def test_a_payout_not_paid_gets_no_advice(world, documents):
    world.seller("s-1")
    world.fund("s-1", 5000)
    payout = world.pay_on_demand("s-1", 3000)
    assert issue(world, documents, payout.payout_id) == "not_paid_pending"
    assert issue(world, documents, "po_unknown") == "unknown_payout"
    assert "payout.remittance_ready" not in world.publisher.types()


def test_an_enqueue_failure_leaves_the_paid_event_for_the_sweeper_which_tries_both_again(world):
    world.tasks.fail = True
    payout = paid(world)
    assert "payout.paid" not in world.publisher.types()
    world.tasks.fail = False
    world.svc.relay_unpublished()
    assert world.tasks.to("remittance-worker") == [{"payout_id": payout.payout_id}]
    assert "payout.paid" in world.publisher.types()


def test_the_real_advice_shows_the_order_lines_and_the_total(world, documents, tmp_path):
    from shared.adapters.documents.remittance_pdf import render_pdf

    payout = paid(world)
    assert issue(world, documents, payout.payout_id, render=render_pdf) == "issued"
    pdf = tmp_path / "advice.pdf"
    pdf.write_bytes(documents.get(f"remittance/s-1/{payout.payout_id}.pdf"))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert payout.payout_id in text and "phone" in text
    assert "300,00" in text and "270,00" in text  # French numbers: the sale and the total


def test_the_advice_is_in_the_seller_s_language_when_it_gave_one(world, documents):
    world.seller("s-en", language="en")
    money = {"gross": {"amount": 30000, "currency": "EUR"}, "commission": {"amount": 3000, "currency": "EUR"}}
    world.event("s-en", "paid", money, "lamp", at=ONBOARDED)
    world.event("s-en", "return_window_closed", {"closed_at": ONBOARDED.isoformat()}, "lamp", at=ONBOARDED)
    payout = world.pay_on_demand("s-en", 27000)
    for status, minutes in ((PayoutStatus.PROCESSING, 1), (PayoutStatus.PAID, 2)):
        world.svc.apply_state(
            payout.payout_id,
            status,
            cause="test",
            actor="test",
            provider_ref="tr_1",
            now=NOW + timedelta(minutes=minutes),
        )
    assert issue(world, documents, payout.payout_id) == "issued"
    ready = next(e for _, e in world.publisher.events if e.type == "payout.remittance_ready")
    assert ready.data["remittance_advice"]["language"] == "en"
