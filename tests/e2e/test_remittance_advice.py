"""Remittance advice through the running stack (issue 18): a paid payout's PDF lands in the
documents bucket (the storage emulator) and a ``payout.remittance_ready`` event names it."""

from __future__ import annotations

import subprocess

import pytest

from shared.adapters.cloud_storage import CloudStorage
from shared.adapters.firestore.documents import OUTBOX
from shared.settings import Settings
from tests.e2e.conftest import eventually
from tests.security.helpers import fund, onboard, pay, settled

pytestmark = pytest.mark.e2e


def test_a_paid_payout_gets_its_remittance_advice_in_the_bucket_named_by_an_event(
    client, stack, stack_store, uid, tmp_path
):
    seller = f"s-rem-{uid}"
    onboard(client, seller, "DE", 77)
    fund(client, seller, gross=30000)
    created = pay(client, seller, 27000)
    assert created.status_code == 201, created.text
    payout_id = created.json()["payout_id"]
    settled(client, payout_id, "paid")

    ready = eventually(
        lambda: (doc := stack_store.get(OUTBOX, f"{payout_id}-remittance")) and doc.get("published") and doc,
        timeout=90,
    )
    assert ready["type"] == "payout.remittance_ready"
    advice = ready["data"]["remittance_advice"]
    bucket = stack.env["DOCUMENTS_BUCKET"]
    name = f"remittance/{seller}/{payout_id}.pdf"
    assert advice["uri"] == f"gs://{bucket}/{name}" and advice["language"] == "de"
    store = CloudStorage(
        Settings(GOOGLE_CLOUD_PROJECT=stack.project, STORAGE_EMULATOR_HOST=stack.env["STORAGE_EMULATOR_HOST"])
    )
    pdf = store.get(bucket, name)
    assert pdf is not None and pdf.startswith(b"%PDF")
    path = tmp_path / "advice.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert payout_id in text and "270,00" in text  # German: the total as it is written there
