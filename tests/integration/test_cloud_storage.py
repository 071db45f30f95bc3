"""Cloud Storage, locally: the adapter's contract (run against the in-memory fake and the emulator
wrapper alike), the wrapper's preconditions, Eventarc finalize events with the trigger's OIDC
token, and the bank stand-in answering through the stack's buckets."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from cloudevents.http import from_http

from local_stack import local_env
from local_stack.eventarc import FINALIZED, TRIGGER_IDENTITY
from shared.adapters.bank_files.bank_reports import read_bank_file
from shared.adapters.bank_files.sepa_credit_transfer import (
    CreditTransfer,
    CreditTransferBatch,
    SepaDebtor,
    write_pain001,
)
from shared.adapters.cloud_storage import CloudStorage, FinalizedObject, InMemoryObjectStore, ObjectConflict
from shared.domain.bank_accounts import ValidatedBankAccount
from shared.domain.bank_files import BankFileError, BankMessageKind
from shared.domain.money import Money
from shared.entrypoints.auth import authenticate
from shared.settings import Settings
from stand_ins.bank import Bank, BankConfig
from stand_ins.sample_sellers import iban_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "storage-test"
DEBTOR = SepaDebtor("Seller Payouts Platform", "DE89370400440532013000", "COBADEFFXXX")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """The target function: records each POST (headers, body) and answers ``status`` (a list
    consumed in order, then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.got: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.got.put(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 15.0) -> tuple[dict[str, str], bytes]:
        return self.got.get(timeout=timeout)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory, receiver) -> Iterator[dict[str, str]]:
    """The wrapper on its own port, buckets out/in, finalize events of ``in`` to the receiver."""
    state = tmp_path_factory.mktemp("storage-state")
    local_env.ensure_material(state)
    port = free_port()
    argv = [sys.executable, "-m", "local_stack.storage_emulator", "--port", str(port), "--state-dir", str(state),
            "--project", PROJECT, "--bucket", "out", "--bucket", "in", "--trigger", f"in={receiver.url}"]  # fmt: skip
    log = (state / "emulator.log").open("w")
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    host = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(host + "/", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (state / "emulator.log").read_text()
        time.sleep(0.1)
    try:
        yield {"host": host, "state": str(state)}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(params=["in-memory fake", "emulator"])
def store(request):
    if request.param == "in-memory fake":
        return InMemoryObjectStore()
    host = request.getfixturevalue("emulator")["host"]
    return CloudStorage(Settings(GOOGLE_CLOUD_PROJECT=PROJECT, STORAGE_EMULATOR_HOST=host))


# --- the contract ---------------------------------------------------------------------------------


def test_put_if_absent_creates_once_and_accepts_the_same_bytes_again(store):
    name = f"contract/{uuid.uuid4().hex}.xml"  # not under pain.001/: the bank test's bank reads those
    first = store.put_if_absent("out", name, b"<a/>", "application/xml")
    again = store.put_if_absent("out", name, b"<a/>", "application/xml")
    assert first.created and not again.created and again.generation == first.generation
    with pytest.raises(ObjectConflict):
        store.put_if_absent("out", name, b"<b/>", "application/xml")
    assert store.get("out", name) == b"<a/>"


def test_get_and_list_by_prefix(store):
    prefix = f"t-{uuid.uuid4().hex}/"
    for n in (2, 1, 3):
        store.put_if_absent("out", f"{prefix}f{n}", b"x" * n, "text/plain")
    store.put_if_absent("out", f"other-{prefix}f9", b"y", "text/plain")
    listed = list(store.list("out", prefix))
    assert [(o.name, o.size) for o in listed] == [(f"{prefix}f{n}", n) for n in (1, 2, 3)]
    assert all(o.bucket == "out" and o.generation > 0 for o in listed)
    assert store.get("out", f"{prefix}missing") is None


def test_concurrent_writers_of_one_name_create_it_once(store):
    name = f"race/{uuid.uuid4().hex}"
    results: list[bool] = []

    def write() -> None:
        results.append(store.put_if_absent("out", name, b"same", "text/plain").created)

    threads = [threading.Thread(target=write) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]


# --- the wrapper and Eventarc --------------------------------------------------------------------


def test_the_emulator_answers_412_to_a_failed_precondition(emulator):
    url = f"{emulator['host']}/upload/storage/v1/b/out/o?uploadType=media&name=p.txt"
    assert requests.post(url + "&ifGenerationMatch=0", data=b"1", timeout=5).status_code == 200
    refused = requests.post(url + "&ifGenerationMatch=0", data=b"2", timeout=5)
    assert refused.status_code == 412 and refused.json()["error"]["errors"][0]["reason"] == "conditionNotMet"
    generation = requests.get(f"{emulator['host']}/storage/v1/b/out/o/p.txt", timeout=5).json()["generation"]
    assert requests.post(url + f"&ifGenerationMatch={generation}", data=b"3", timeout=5).status_code == 200


def test_a_finalized_inbound_object_reaches_the_function_as_eventarc_delivers_it(emulator, receiver):
    store = CloudStorage(Settings(GOOGLE_CLOUD_PROJECT=PROJECT, STORAGE_EMULATOR_HOST=emulator["host"]))
    store.put_if_absent("out", "not-watched.xml", b"<x/>", "application/xml")
    name = f"camt.054/{uuid.uuid4().hex}.xml"
    put = store.put_if_absent("in", name, b"<n/>", "application/xml")
    headers, body = receiver.next()
    event = from_http(headers, body)  # the CloudEvents SDK functions-framework uses
    assert event["type"] == FINALIZED and event["specversion"] == "1.0"
    assert event["source"] == "//storage.googleapis.com/projects/_/buckets/in"
    assert event["subject"] == f"objects/{name}" and headers["ce-bucket"] == "in"
    obj = FinalizedObject.from_event_data(json.loads(body))
    assert (obj.bucket, obj.name, obj.generation, obj.size) == ("in", name, put.generation, 4)
    settings = Settings(
        OIDC_ISSUER=local_env.LOCAL_ISSUER,
        OIDC_JWKS_FILE=str(Path(emulator["state"]) / "oidc" / "jwks.json"),
        OIDC_AUDIENCE=receiver.url,
        OIDC_ALLOWED_EMAILS=local_env.identity(TRIGGER_IDENTITY, PROJECT),
    )
    caller = authenticate(headers["authorization"], settings)
    assert caller.email == local_env.identity(TRIGGER_IDENTITY, PROJECT)
    assert receiver.got.empty()  # the outbound bucket has no trigger


def test_an_event_the_function_refuses_is_delivered_again_with_the_same_id(emulator, receiver):
    receiver.statuses[:] = [503, 500]
    store = CloudStorage(Settings(GOOGLE_CLOUD_PROJECT=PROJECT, STORAGE_EMULATOR_HOST=emulator["host"]))
    store.put_if_absent("in", f"pain.002/{uuid.uuid4().hex}.xml", b"<s/>", "application/xml")
    ids = [receiver.next()[0]["ce-id"] for _ in range(3)]
    assert len(set(ids)) == 1


# --- the bank, through the stack's buckets ------------------------------------------------------------


def test_the_stacks_bank_answers_a_pain001_in_the_inbound_bucket(stack):
    settings = Settings(
        GOOGLE_CLOUD_PROJECT=stack.project, STORAGE_EMULATOR_HOST=stack.env["STORAGE_EMULATOR_HOST"]
    )
    store = CloudStorage(settings)
    creditor = ValidatedBankAccount.from_storage(
        {"scheme": "iban", "holder_name": "Shop", "iban": iban_for("FR", 7)}
    )
    payout_id = f"po_{uuid.uuid4().hex[:24]}"
    batch = CreditTransferBatch(
        date(2026, 11, 24),
        datetime.now(UTC),
        DEBTOR,
        (CreditTransfer(payout_id, Money(4200, "EUR"), creditor, "Payout"),),
    )
    written = write_pain001(batch)
    assert store.put_if_absent(
        stack.env["BANK_OUTBOUND_BUCKET"], written.object_name, written.content, "application/xml"
    ).created
    requests.post(stack.env["BANK_URL"] + "/v1/_process", timeout=30).raise_for_status()
    inbound = stack.env["BANK_INBOUND_BUCKET"]
    reports = [read_bank_file(store.get(inbound, o.name) or b"") for o in store.list(inbound, "pain.002/")]
    mine = [r for r in reports if r.original_message_id == written.message_id]
    assert mine and mine[0].kind is BankMessageKind.STATUS_REPORT
    assert [(t.payout_id, t.outcome.value) for t in mine[0].transactions] == [(payout_id, "accepted")]


def test_the_bank_stand_in_over_the_emulator_raises_an_event_per_answer(emulator, receiver):
    store = CloudStorage(Settings(GOOGLE_CLOUD_PROJECT=PROJECT, STORAGE_EMULATOR_HOST=emulator["host"]))
    bank = Bank(store, "out", "in", DEBTOR.iban, BankConfig())
    creditor = ValidatedBankAccount.from_storage(
        {"scheme": "iban", "holder_name": "Shop", "iban": iban_for("DE", 3)}
    )
    batch = CreditTransferBatch(
        date(2026, 11, 24),
        datetime.now(UTC),
        DEBTOR,
        (CreditTransfer("po_evt", Money(100, "EUR"), creditor, "x"),),
    )
    written = write_pain001(batch)
    store.put_if_absent("out", written.object_name, written.content, "application/xml")
    bank.process_outbound()
    ours: dict[BankMessageKind, str] = {}
    while len(ours) < 2:  # events of other tests' files may come too: keep those about ours
        obj = FinalizedObject.from_event_data(json.loads(receiver.next()[1]))
        try:
            report = read_bank_file(store.get(obj.bucket, obj.name) or b"")
        except BankFileError:  # the placeholder objects of the tests above
            continue
        if report.original_message_id == written.message_id or any(
            t.payout_id == "po_evt" for t in report.transactions
        ):
            ours[report.kind] = obj.name
    assert ours[BankMessageKind.STATUS_REPORT].startswith("pain.002/")
    assert ours[BankMessageKind.NOTIFICATION].startswith("camt.054/")
