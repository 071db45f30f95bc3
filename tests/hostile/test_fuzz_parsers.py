"""Hostile input to the parsers at the edge: each may accept or refuse, but only in its own way.

- ``parse_order_event``: a valid event or ``InvalidPayload`` (strict JSON, then the model);
- ``shared.entrypoints.signing.parse`` / ``verify``: a result or ``SignatureError``;
- ``message_from_cloud_event``: a ``PubSubMessage`` or ``EnvelopeError``;
- ``SandboxProvider.parse_webhook`` (validly signed bodies): a ``ProviderEvent`` or ``WebhookRejected``.

Anything else escapes to ``shared.entrypoints.http.serve`` as a 503 "retry later": the sender retries a request
that can never succeed. Known escapes are pinned by ``xfail(strict=True)`` tests with their repro, so
that a fix turns them into failures to be un-marked; the other tests fuzz around them.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.adapters.providers.base import ProviderEvent, WebhookRejected
from shared.adapters.providers.sandbox import SIGNATURE_HEADER, SandboxProvider
from shared.domain.order_events import (
    OrderLineDelivered,
    OrderLinePaid,
    OrderLineRefunded,
    OrderLineReturnWindowClosed,
    parse_order_event,
)
from shared.domain.validation import InvalidPayload
from shared.entrypoints import signing
from shared.entrypoints.pubsub_envelope import EnvelopeError, PubSubMessage, message_from_cloud_event
from shared.settings import Settings

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# --- strategies ------------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)

VALID_EVENTS: list[dict[str, Any]] = [
    {
        "event_id": "evt_1",
        "type": "order_line.paid",
        "occurred_at": "2026-11-20T10:00:00Z",
        "seller_id": "s_1",
        "order_line_id": "ol_1",
        "data": {
            "gross": {"amount": 30000, "currency": "EUR"},
            "commission": {"amount": 3000, "currency": "EUR"},
        },
    },
    {
        "event_id": "evt_2",
        "type": "order_line.delivered",
        "occurred_at": "2026-11-21T10:00:00+01:00",
        "seller_id": "s_1",
        "order_line_id": "ol_1",
        "data": {"delivered_at": "2026-11-21T09:00:00Z"},
    },
    {
        "event_id": "evt_3",
        "type": "order_line.return_window_closed",
        "occurred_at": "2026-11-30T10:00:00Z",
        "seller_id": "s_1",
        "order_line_id": "ol_1",
        "data": {"closed_at": "2026-11-30T10:00:00Z"},
    },
    {
        "event_id": "evt_4",
        "type": "order_line.refunded",
        "occurred_at": "2026-12-01T10:00:00Z",
        "seller_id": "s_1",
        "order_line_id": "ol_1",
        "data": {
            "refund_id": "r_1",
            "amount": {"amount": 1000, "currency": "EUR"},
            "commission_returned": {"amount": 100, "currency": "EUR"},
        },
    },
]
EVENT_TYPES = (OrderLinePaid, OrderLineDelivered, OrderLineReturnWindowClosed, OrderLineRefunded)

# Values that are often near a boundary of the models: wrong types, edge numbers, odd strings.
EDGE_VALUES = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        1,
        2**63 - 1,
        2**63,
        -(2**63) - 1,
        10**40,
        1.0,
        0.5,
        -0.0,
        "",
        " ",
        "1",
        "EUR",
        "eur",
        "XXX",
        "XAU",
        "JPY",
        "2026-11-20T10:00:00",
        "2026-11-20",
        "not a date",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+14:00",
        "a" * 65,
        "evt 1",
        "évt",
        "\x00",
        "\ud7ff",
        [],
        {},
        {"amount": 1},
        {"amount": 1, "currency": "EUR", "x": 1},
        "order_line.paid",
        "order_line.refunded",
        "order_line.unknown",
    ]
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        copy = dict(doc)
        if delete and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _set(copy[head], rest, value, delete)
        return copy
    copy_list = list(doc)
    copy_list[head] = _set(copy_list[head], rest, value, delete)
    return copy_list


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with a few fields replaced, removed or added."""
    doc: Any = draw(st.sampled_from(VALID_EVENTS))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "add" and isinstance(doc, dict):
            doc = {**doc, draw(st.text(max_size=10)): draw(JSON)}
        elif action == "delete" and path:
            doc = _set(doc, path, None, delete=True)
        else:
            doc = _set(doc, path, draw(EDGE_VALUES | JSON), delete=False)
    return doc


# --- parse_order_event ------------------------------------------------------------------------------


def _parse_event_or_refuse(raw: bytes | str) -> None:
    try:
        event = parse_order_event(raw)
    except InvalidPayload:
        return
    assert isinstance(event, EVENT_TYPES)
    # What was accepted is an event whose own JSON parses to the same event.
    assert parse_order_event(event.model_dump_json()) == event


@pytest.mark.parametrize("doc", VALID_EVENTS, ids=lambda d: d["type"])
def test_the_seed_events_are_valid(doc: dict[str, Any]) -> None:
    assert isinstance(parse_order_event(json.dumps(doc)), EVENT_TYPES)


@FUZZ
@given(st.binary(max_size=400))
@example(b"")
@example(b"\xff\xfe")
@example(b"[" * 5000)
@example(b'{"event_id": "\\ud800"}')
@example(b"NaN")
def test_order_event_arbitrary_bytes(raw: bytes) -> None:
    _parse_event_or_refuse(raw)


@FUZZ
@given(JSON)
def test_order_event_arbitrary_json(value: Any) -> None:
    _parse_event_or_refuse(json.dumps(value))


@FUZZ
@given(mutated_events())
def test_order_event_mutated_valid_events(doc: Any) -> None:
    _parse_event_or_refuse(json.dumps(doc))


@FUZZ
@given(st.sampled_from(VALID_EVENTS), st.integers(min_value=0), st.binary(min_size=1, max_size=3))
def test_order_event_byte_flips(doc: dict[str, Any], where: int, junk: bytes) -> None:
    raw = json.dumps(doc).encode()
    i = where % len(raw)
    _parse_event_or_refuse(raw[:i] + junk + raw[i + 1 :])


# --- shared.entrypoints.signing ---------------------------------------------------------------------------------

SECRETS = ["whsec_current", "whsec_previous"]
NOW = 1_800_000_000
# HTTP header values arrive latin-1 decoded: every code point up to U+00FF can occur.
LATIN1_TEXT = st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=80)
# ... except the superscript digits ¹ ² ³, which str.isdigit() accepts and int() refuses (see below).
LATIN1_NO_SUPERSCRIPTS = st.text(
    alphabet=st.characters(max_codepoint=0xFF, exclude_characters="\u00b2\u00b3\u00b9"), max_size=80
)


@st.composite
def signature_like(draw: st.DrawFn, text: st.SearchStrategy[str]) -> str:
    """Header values that look like ``t=…,v1=…`` with hostile pieces."""
    parts = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["t", "v1", "v0", "", " t", "T"]) | text,
                st.sampled_from(["=", "", "=="]),
                st.sampled_from([str(NOW), "", "-1", "0" * 13, "1e9", "00"]) | text,
            ),
            max_size=5,
        )
    )
    return ",".join(k + sep + v for k, sep, v in parts)


def _verify_or_refuse(header: str | None, body: bytes) -> None:
    try:
        assert signing.verify(header, body, SECRETS, now=NOW) == NOW
    except signing.SignatureError as exc:
        assert exc.reason in {"missing", "malformed", "stale", "future", "mismatch", "no_secret"}


@FUZZ
@given(LATIN1_NO_SUPERSCRIPTS | signature_like(LATIN1_NO_SUPERSCRIPTS), st.binary(max_size=100))
@example("", b"")
@example(",,,", b"{}")
@example(f"t={NOW}", b"{}")
@example(f"v1=ab,t={NOW},t=", b"{}")
@example("t=" + "9" * 12 + ",v1=00", b"{}")
def test_signature_verify_hostile_headers(header: str, body: bytes) -> None:
    _verify_or_refuse(header, body)


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(SECRETS), st.integers(-400, 400))
def test_signature_verify_valid_and_shifted(body: bytes, secret: str, skew: int) -> None:
    header = signing.sign(secret, NOW + skew, body)
    if abs(skew) <= signing.DEFAULT_TOLERANCE_SECONDS:
        assert signing.verify(header, body, SECRETS, now=NOW) == NOW + skew
        with pytest.raises(signing.SignatureError):
            signing.verify(header, body + b" ", SECRETS, now=NOW)
    else:
        _verify_or_refuse(header, body)


@FUZZ
@given(st.text(max_size=80) | signature_like(st.text(max_size=20)))
@example("t=\u00b2,v1=00")
def test_signature_parse_any_text_only_signature_error(header: str) -> None:
    """``parse`` must refuse any text with ``SignatureError``.

    Known escape: ``value.isdigit()`` (shared/entrypoints/signing.py, ``parse``) is true for Unicode digits that
    ``int()`` refuses (superscripts, circled digits...), so ``int(value)`` raises ``ValueError``.
    """
    try:
        timestamp, signatures = signing.parse(header)
    except signing.SignatureError:
        return
    assert timestamp >= 0 and signatures


# Fixed: parse() accepted Unicode digits such as '\u00b2' that int() refuses (a 503 instead of 401).


@FUZZ
@given(LATIN1_NO_SUPERSCRIPTS | signature_like(LATIN1_NO_SUPERSCRIPTS))
def test_signature_parse_latin1_without_superscripts(header: str) -> None:
    try:
        timestamp, signatures = signing.parse(header)
    except signing.SignatureError:
        return
    assert timestamp >= 0 and signatures


# --- message_from_cloud_event -----------------------------------------------------------------------


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    """Pub/Sub push envelopes, mostly well-shaped, with hostile values in every slot."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    message: dict[str, Any] = {}
    for key, values in (
        ("messageId", st.text(max_size=10) | JSON),
        ("message_id", st.text(max_size=10) | JSON),
        (
            "data",
            st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=20) | JSON,
        ),
        ("attributes", st.dictionaries(st.text(max_size=5), JSON, max_size=3) | JSON),
        ("publishTime", st.text(max_size=10) | JSON),
    ):
        if draw(st.booleans()):
            message[key] = draw(values)
    envelope: dict[str, Any] = {"message": message}
    if draw(st.booleans()):
        envelope["subscription"] = draw(JSON)
    return envelope


@FUZZ
@given(st.one_of(st.none(), st.text(max_size=10)), envelopes())
@example(None, {"message": {"messageId": "1", "data": "é"}})
@example(None, {"message": {"messageId": "1", "data": "YQ"}})
@example("ce-1", {"message": {"data": ""}})
@example(None, {"message": {"messageId": "1", "attributes": []}})
def test_envelope_only_envelope_error(event_id: str | None, data: Any) -> None:
    try:
        message = message_from_cloud_event(event_id, data)
    except EnvelopeError:
        return
    assert isinstance(message, PubSubMessage)
    assert isinstance(message.message_id, str) and message.message_id
    assert isinstance(message.data, bytes)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in message.attributes.items())


# --- SandboxProvider.parse_webhook -------------------------------------------------------------------

WEBHOOK_SECRET = "whsec_sandbox_fuzz"


@pytest.fixture(scope="module")
def provider() -> SandboxProvider:
    return SandboxProvider(
        Settings(sandbox_webhook_secrets=(WEBHOOK_SECRET,), sandbox_url="http://127.0.0.1:1")
    )


def _signed(body: bytes, now: int) -> dict[str, str]:
    return {SIGNATURE_HEADER: signing.sign(WEBHOOK_SECRET, now, body)}


VALID_WEBHOOK: dict[str, Any] = {
    "id": "evt_sb_1",
    "type": "transfer.paid",
    "created": 1_800_000_000,
    "data": {
        "transfer": {
            "id": "tr_1",
            "reference": "po_1",
            "amount": 1234,
            "currency": "EUR",
            "failure_code": None,
        }
    },
}


def _webhook_or_refuse(provider: SandboxProvider, body: bytes) -> None:
    now = int(time.time())
    try:
        event = provider.parse_webhook(_signed(body, now), body, now)
    except WebhookRejected:
        return
    assert isinstance(event, ProviderEvent)


def test_webhook_seed_is_valid(provider: SandboxProvider) -> None:
    body = json.dumps(VALID_WEBHOOK).encode()
    now = int(time.time())
    assert provider.parse_webhook(_signed(body, now), body, now).transfer.amount.amount == 1234


# Values that the sandbox parser is known to let escape with (see the xfail test below): they are
# left out of the broad fuzzing so that it keeps watching everything else.
_KNOWN_ESCAPES_FREE_INTS = st.integers(min_value=-(2**40), max_value=2**40)
SAFE_SCALARS = (
    st.none()
    | st.booleans()
    | _KNOWN_ESCAPES_FREE_INTS
    | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
    | st.text(max_size=20)
)
SAFE_JSON = st.recursive(
    SAFE_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
WEBHOOK_EDGE = st.sampled_from(
    [None, True, 0, -1, "", "x", "EUR", "XXX", "paid", "transfer.failed", "transfer.bogus", [], {}, 1.5]
)


@st.composite
def mutated_webhooks(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> Any:
    doc: Any = VALID_WEBHOOK
    if draw(st.booleans()):
        doc = {
            **doc,
            "type": draw(st.sampled_from(["transfer.failed", "transfer.returned", "transfer.processing"])),
        }
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        if draw(st.booleans()) and path:
            doc = _set(doc, path, None, delete=True)
        else:
            doc = _set(doc, path, draw(WEBHOOK_EDGE | values), delete=False)
    return doc


@FUZZ
@given(st.binary(max_size=300) | SAFE_JSON.map(lambda v: json.dumps(v).encode()))
@example(b"")
@example(b"null")
@example(b"\xff")
@example(b'{"id": 1, "type": "transfer.paid", "created": "x", "data": {"transfer": []}}')
def test_webhook_arbitrary_signed_bodies(provider: SandboxProvider, body: bytes) -> None:
    _webhook_or_refuse(provider, body)


@FUZZ
@given(mutated_webhooks(SAFE_JSON))
def test_webhook_mutated_signed_bodies(provider: SandboxProvider, doc: Any) -> None:
    _webhook_or_refuse(provider, json.dumps(doc).encode())


def _repro(**changes: Any) -> bytes:
    transfer = {**VALID_WEBHOOK["data"]["transfer"], **changes.pop("transfer", {})}
    return json.dumps({**VALID_WEBHOOK, **changes, "data": {"transfer": transfer}}).encode()


# Fixed: these escaped parse_webhook as OverflowError/OSError/RecursionError (a 503 the provider
# would retry forever); they are now refused.
@pytest.mark.parametrize(
    "body",
    [
        _repro(created=10**17),
        b'{"id": "e", "type": "transfer.paid", "created": 1e400, "data": {"transfer": '
        b'{"id": "t", "reference": "r", "amount": 1, "currency": "EUR"}}}',
        b'{"id": "e", "type": "transfer.paid", "created": 1, "data": {"transfer": '
        b'{"id": "t", "reference": "r", "amount": 1e400, "currency": "EUR"}}}',
        b"[" * 2000,
    ],
    ids=["created-1e17", "created-inf", "amount-inf", "deep-nesting"],
)
def test_webhook_known_escapes(provider: SandboxProvider, body: bytes) -> None:
    _webhook_or_refuse(provider, body)


@FUZZ
@given(mutated_webhooks(JSON | st.integers() | st.sampled_from([10**17, -(10**17), 1e308])))
@example(json.loads(_repro(created=10**17)))
def test_webhook_mutated_unbounded_numbers(provider: SandboxProvider, doc: Any) -> None:
    _webhook_or_refuse(provider, json.dumps(doc).encode())
