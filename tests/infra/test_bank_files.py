"""The SEPA bank-file rail in Terraform agrees with the code: the Eventarc trigger feeds the inbound
bucket's finalized objects to bank-files-inbound as the trigger's own identity, which alone may
invoke it, and each function touches only the bucket it needs."""

from __future__ import annotations

import json

from local_stack.eventarc import FINALIZED, TRIGGER_IDENTITY
from local_stack.local_env import ALLOWED_CALLERS
from local_stack.stack import STORAGE_TRIGGERS
from shared import topology
from tests.infra import tfmodel

infra = tfmodel.load()


def test_the_inbound_bucket_triggers_bank_files_inbound_as_the_trigger_identity():
    trigger = infra.resource("google_eventarc_trigger", "bank_files_inbound")
    criteria = {c["attribute"]: c["value"] for c in trigger["matching_criteria"]}
    assert criteria == {"type": FINALIZED, "bucket": '${google_storage_bucket.bank_files["inbound"].name}'}
    service = trigger["destination"][0]["cloud_run_service"][0]
    assert service["service"] == '${google_cloudfunctions2_function.function["bank-files-inbound"].name}'
    assert trigger["service_account"] == "${google_service_account.eventarc_trigger.email}"
    assert STORAGE_TRIGGERS == {"bank-files-inbound": "inbound"}  # the same wiring locally


def test_only_the_trigger_identity_invokes_bank_files_inbound():
    spec = topology.function("bank-files-inbound")
    assert spec.trigger == "eventarc" and not spec.public
    f = infra.functions["bank-files-inbound"]
    assert f["callers"] == [TRIGGER_IDENTITY] and f["verifies_oidc"]
    assert ALLOWED_CALLERS["bank-files-inbound"] == (TRIGGER_IDENTITY,)
    assert infra.locals["caller_members"][TRIGGER_IDENTITY] == [
        "serviceAccount:${google_service_account.eventarc_trigger.email}"
    ]


def test_bucket_grants_are_least_privilege():
    writer = infra.resource("google_storage_bucket_iam_member", "sweeper_writes_outbound")
    assert writer["for_each"] == '${toset(["roles/storage.objectCreator", "roles/storage.objectViewer"])}'
    assert writer["bucket"] == '${google_storage_bucket.bank_files["outbound"].name}'
    assert writer["member"] == 'serviceAccount:${google_service_account.function["payout-sweeper"].email}'
    reader = infra.resource("google_storage_bucket_iam_member", "inbound_reader")
    assert reader["role"] == "roles/storage.objectViewer"
    readers = [
        "bank-files-inbound",
        "reconciliation",
        "reconciliation-api",
        "run-shard-worker",
        "payout-sweeper",
    ]
    assert reader["for_each"] == "${toset(" + json.dumps(readers, separators=(", ", ":")) + ")}"
    assert reader["bucket"] == '${google_storage_bucket.bank_files["inbound"].name}'
    for rtype, resources in infra.resources.items():
        for name, body in resources.items():
            if rtype == "google_storage_bucket_iam_member" and "bank_files" in str(body.get("bucket")):
                assert "admin" not in str(body.get("role")) and "objectAdmin" not in str(body), name
