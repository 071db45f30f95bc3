"""The contracts of the outside systems' ports, on the fakes the unit tests use and on the real
adapters against the local stack: the payment provider (the sandbox stand-in), Cloud Tasks (the
emulator) and Pub/Sub (the emulator)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.domain.bank_accounts import validate_bank_account
from shared.domain.countries import load_country_rules
from shared.domain.events import payout_event
from shared.domain.money import Money
from shared.domain.payouts import FailureCode, PayoutStatus, new_payout
from shared.domain.sellers import SellerIn
from shared.topology import QUEUE_TRANSFERS, TOPIC_PAYOUT_EVENTS
from shared.usecases.ports import TransferRejected, TransferRequest, WebhookRejected
from stand_ins.sample_sellers import seller_body
from tests.fakes.outside import FakeProvider, FakePublisher, FakeTaskQueue

RULES = load_country_rules()
REAL = pytest.mark.integration


def destination(outcome="paid"):
    body = SellerIn.model_validate_json(json.dumps(seller_body("FR", 3, outcome)))
    return validate_bank_account(body.bank_account, RULES.get("FR"))


@pytest.fixture
def stack_client(stack):
    from local_stack.client import StackClient

    return StackClient.from_stack(stack, identity="ops")


# --- the payment provider ------------------------------------------------------------------------


@pytest.fixture(params=["fake", pytest.param("sandbox", marks=REAL)])
def provider(request):
    """(provider, refuse): ``refuse(code)`` gives a destination the provider refuses with that code."""
    if request.param == "fake":
        fake = FakeProvider()

        def refuse_fake(code):
            fake.next_create(TransferRejected(code))
            return destination()

        return fake, refuse_fake
    from local_stack import local_env
    from shared.adapters.providers.sandbox import SandboxProvider
    from shared.settings import Settings

    client = request.getfixturevalue("stack_client")
    client.sandbox("POST", "/v1/_config", {})
    key = str(local_env.local_secrets(client.state_dir)["provider_api_key"])
    settings = Settings(
        SANDBOX_URL=client.sandbox_url, SANDBOX_API_KEY=key, SANDBOX_WEBHOOK_SECRETS="whsec_contract"
    )
    return SandboxProvider(settings), lambda code: destination(code.value)


def test_a_transfer_is_created_once_per_reference_and_found_by_it(provider):
    adapter, _ = provider
    reference = f"po_contract_{uuid.uuid4().hex[:12]}"
    request = TransferRequest(reference, Money(1234, "EUR"), destination())
    created = adapter.create_transfer(request)
    assert (created.reference, created.amount, created.status) == (
        reference,
        Money(1234, "EUR"),
        PayoutStatus.PROCESSING,
    )
    again = adapter.create_transfer(request)
    assert again.provider_ref == created.provider_ref
    found = adapter.fetch_transfer(reference)
    assert (
        found is not None
        and found.provider_ref == created.provider_ref
        and found.amount == Money(1234, "EUR")
    )
    assert adapter.fetch_transfer(f"po_never_{uuid.uuid4().hex[:12]}") is None


def test_a_refused_destination_raises_its_failure_code(provider):
    adapter, refuse = provider
    request = TransferRequest(
        f"po_contract_{uuid.uuid4().hex[:12]}", Money(1000, "EUR"), refuse(FailureCode.INVALID_ACCOUNT_NUMBER)
    )
    with pytest.raises(TransferRejected) as refused:
        adapter.create_transfer(request)
    assert refused.value.code is FailureCode.INVALID_ACCOUNT_NUMBER


def test_a_webhook_without_a_good_signature_is_refused(provider):
    adapter, _ = provider
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook({}, b'{"id": "evt_1"}', now=int(datetime.now(UTC).timestamp()))


# --- Cloud Tasks ----------------------------------------------------------------------------------


@pytest.fixture(params=["fake", pytest.param("cloud_tasks", marks=REAL)])
def tasks(request, monkeypatch):
    if request.param == "fake":
        return FakeTaskQueue()
    from shared.adapters.tasks import CloudTaskQueue
    from shared.settings import Settings

    stack = request.getfixturevalue("stack")
    # The task's target is the local function, never a production URL.
    monkeypatch.setenv("FUNCTION_URL_TRANSFER_WORKER", stack.url("transfer-worker"))
    return CloudTaskQueue(Settings())


def test_a_task_is_named_by_its_dedupe_key(tasks):
    key = f"contract-{uuid.uuid4().hex}"
    payload = {"payout_id": f"po_contract_{uuid.uuid4().hex[:12]}"}  # unknown: the worker drops it
    first = tasks.enqueue(QUEUE_TRANSFERS, "transfer-worker", payload, dedupe_key=key)
    second = tasks.enqueue(QUEUE_TRANSFERS, "transfer-worker", payload, dedupe_key=key, delay_seconds=1)
    assert first == second and first.endswith(hashlib.sha256(key.encode()).hexdigest()[:32])
    assert f"/queues/{QUEUE_TRANSFERS}/tasks/" in first


# --- Pub/Sub ------------------------------------------------------------------------------------------


@pytest.fixture(params=["fake", pytest.param("pubsub", marks=REAL)])
def publisher(request):
    """(publisher, received): ``received()`` gives what a subscriber got: (data, attributes)."""
    if request.param == "fake":
        fake = FakePublisher()

        def received_fake():
            _, event = fake.events[-1]
            return dict(event.data), {"ce-id": event.event_id, "ce-subject": event.subject}

        return fake, received_fake
    from google.cloud import pubsub_v1

    from shared.adapters.pubsub import Publisher
    from shared.settings import Settings

    stack = request.getfixturevalue("stack")
    subscriber = pubsub_v1.SubscriberClient()
    subscription = subscriber.subscription_path(stack.project, f"contract-{uuid.uuid4().hex[:10]}")
    subscriber.create_subscription(
        request={"name": subscription, "topic": f"projects/{stack.project}/topics/{TOPIC_PAYOUT_EVENTS}"}
    )

    def received_real():
        for _ in range(20):
            response = subscriber.pull(request={"subscription": subscription, "max_messages": 1}, timeout=5)
            if response.received_messages:
                message = response.received_messages[0].message
                return json.loads(message.data), dict(message.attributes)
        raise AssertionError("nothing received")

    request.addfinalizer(lambda: subscriber.delete_subscription(request={"subscription": subscription}))
    return Publisher(Settings()), received_real


def test_an_event_is_published_as_a_cloud_event_with_its_id_and_subject(publisher):
    adapter, received = publisher
    payout, _ = new_payout(
        f"po_contract_{uuid.uuid4().hex[:12]}",
        "s-1",
        Money(1000, "EUR"),
        at=datetime.now(UTC),
        origin="on_demand",
        cause="t",
        actor="t",
        provider="sandbox",
    )
    event = payout_event(payout, datetime.now(UTC))
    assert adapter.publish_event(TOPIC_PAYOUT_EVENTS, event)
    data, attributes = received()
    assert data["payout_id"] == payout.payout_id and data["status"] == "pending"
    assert attributes["ce-id"] == event.event_id and attributes["ce-subject"] == payout.payout_id


# --- what the platform holds at a rail (FundingBalances) ----------------------------------------


def _stand_in_call(client, rail: str):
    """POST to a rail stand-in's control routes (as the fault harness does)."""
    import requests

    from local_stack import local_env

    secrets = local_env.local_secrets(client.state_dir)
    env = client.env if hasattr(client, "env") else {}
    if rail == "sandbox":
        return lambda path, body: client.sandbox("POST", "/v1" + path, body)
    if rail == "adyen":
        url, headers = env["ADYEN_STAND_IN_URL"], {"x-api-key": str(secrets["adyen_api_key"])}
    else:
        url, headers = (
            env["STRIPE_API_URL"] + "/v1",
            {"Authorization": f"Bearer {secrets['stripe_secret_key']}"},
        )
    return lambda path, body: requests.post(url + path, json=body, headers=headers, timeout=30)


@pytest.fixture(
    params=[
        "fake",
        pytest.param("sandbox", marks=REAL),
        pytest.param("adyen", marks=REAL),
        pytest.param("stripe", marks=REAL),
    ]
)
def funding(request):
    """(funding balances, the rail, set(currency, amount), break the rail)."""
    from tests.fakes.outside import FakeFundingBalances

    if request.param == "fake":
        fake = FakeFundingBalances()
        return fake, "sandbox", lambda c, a: fake.fund("sandbox", c, a), lambda: fake.down.add("sandbox")
    from local_stack import local_env
    from shared.adapters.funding_balances import RailFundingBalances
    from shared.settings import Settings

    rail = request.param
    stack = request.getfixturevalue("stack")
    client = request.getfixturevalue("stack_client")
    client.env = stack.env
    post = _stand_in_call(client, rail)
    secrets = local_env.local_secrets(client.state_dir)
    settings = Settings(
        SANDBOX_URL=client.sandbox_url,
        SANDBOX_API_KEY=str(secrets["provider_api_key"]),
        ADYEN_API_KEY=str(secrets["adyen_api_key"]),
        ADYEN_BALANCE_ACCOUNT_ID=local_env.ADYEN_BALANCE_ACCOUNT,
        ADYEN_BALANCE_PLATFORM_URL=stack.env["ADYEN_BALANCE_PLATFORM_URL"],
        STRIPE_SECRET_KEY=str(secrets["stripe_secret_key"]),
        STRIPE_API_URL=stack.env["STRIPE_API_URL"],
    )
    funded: list[str] = []

    def fund(currency, amount):
        funded.append(currency)
        assert post("/_funding", {"currency": currency, "balance": amount}).status_code == 200

    request.addfinalizer(  # well funded again for every other test
        lambda: [post("/_funding", {"currency": c, "balance": 10**13}) for c in funded]
    )
    real = RailFundingBalances(settings)
    closed = "http://127.0.0.1:9"
    broken = RailFundingBalances(
        settings.model_copy(
            update={"sandbox_url": closed, "adyen_balance_platform_url": closed, "stripe_api_url": closed}
        )
    )

    def break_it():
        real._readers, real._settings = broken._readers, broken._settings

    return real, rail, fund, break_it


def test_a_rail_says_what_the_platform_holds_there_in_each_currency(funding):
    balances, rail, fund, _ = funding
    fund("JPY", 123_456)  # a currency no other test pays in
    assert balances.available(rail, "JPY") == 123_456
    fund("JPY", 0)
    assert balances.available(rail, "JPY") == 0


def test_a_rail_that_reports_no_balance_says_none_and_one_that_does_not_answer_raises(funding):
    from shared.usecases.ports import FundingUnreadable

    balances, rail, fund, break_it = funding
    fund("JPY", 1)
    assert balances.available("sepa_file", "EUR") is None
    break_it()
    with pytest.raises(FundingUnreadable):
        balances.available(rail, "JPY")
