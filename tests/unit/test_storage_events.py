"""The shapes around Cloud Storage: the finalize CloudEvent the local Eventarc sends, the object it
names, the platform's SEPA account from the settings."""

from __future__ import annotations

import json

import pytest

from local_stack.eventarc import FINALIZED, cloud_event
from shared.adapters.bank_files.sepa_credit_transfer import SepaDebtor
from shared.adapters.cloud_storage import FinalizedObject
from shared.settings import Settings

OBJECT = {
    "kind": "storage#object",
    "bucket": "payouts-local-bank-inbound",
    "name": "camt.054/2026-11-24/BANKN0000000006.xml",
    "generation": "1796166346587920633",
    "metageneration": "1",
    "size": "1432",
    "contentType": "application/xml",
    "timeCreated": "2026-11-24T10:00:00.000000Z",
    "updated": "2026-11-24T10:00:00.000000Z",
}


def test_the_finalize_event_is_eventarcs_binary_mode_cloud_event():
    headers, body = cloud_event(OBJECT)
    assert headers["ce-type"] == FINALIZED and headers["ce-specversion"] == "1.0"
    assert headers["ce-source"] == "//storage.googleapis.com/projects/_/buckets/payouts-local-bank-inbound"
    assert headers["ce-subject"] == "objects/camt.054/2026-11-24/BANKN0000000006.xml"
    assert headers["ce-id"].isdigit() and headers["ce-time"] == OBJECT["updated"]
    assert json.loads(body) == OBJECT
    assert cloud_event(OBJECT)[0]["ce-id"] == headers["ce-id"]  # a redelivery keeps its id
    assert cloud_event({**OBJECT, "generation": "2"})[0]["ce-id"] != headers["ce-id"]


def test_the_object_of_an_event():
    found = FinalizedObject.from_event_data(OBJECT)
    assert (found.bucket, found.name, found.generation, found.size) == (
        OBJECT["bucket"], OBJECT["name"], 1796166346587920633, 1432,
    )  # fmt: skip
    for broken in ({}, {**OBJECT, "bucket": ""}, {**OBJECT, "generation": "x"}, {**OBJECT, "name": 5}):
        with pytest.raises(ValueError):
            FinalizedObject.from_event_data(broken)


def test_the_default_platform_account_is_a_valid_sepa_debtor():
    debtor = SepaDebtor.from_settings(Settings())
    assert debtor.iban == "DE89370400440532013000" and debtor.bic == "COBADEFFXXX"
